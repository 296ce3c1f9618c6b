/* Address list parsing; see address.h. */
#include "address.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"

#define ADDR_MAX 254 /* RFC 5321 path limit, minus the angle brackets */
#define NAME_MAX_BYTES 512

static bool is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

int addr_check(const char *addr, const char **why)
{
	size_t len = strlen(addr);
	for (const unsigned char *p = (const unsigned char *)addr; *p; p++) {
		if (*p < 0x20 || *p == 0x7F) {
			*why = "control character";
			return -1;
		}
		if (*p == ' ') {
			*why = "space in address";
			return -1;
		}
		if (*p >= 0x80) {
			*why = "non-ASCII address (not supported)";
			return -1;
		}
	}
	const char *at = strrchr(addr, '@');
	if (!at) {
		*why = "no '@'";
		return -1;
	}
	if (len > ADDR_MAX) {
		*why = "too long";
		return -1;
	}
	size_t local = (size_t)(at - addr);
	if (local == 0 || local > 64) {
		*why = local ? "local part too long" : "empty local part";
		return -1;
	}
	for (size_t i = 0; i < local; i++) {
		unsigned char c = (unsigned char)addr[i];
		if (c == '.') {
			if (i == 0 || i + 1 == local || addr[i + 1] == '.') {
				*why = "misplaced '.' in local part";
				return -1;
			}
		} else if (!is_atext(c)) {
			*why = "character not allowed in local part";
			return -1;
		}
	}
	const char *dom = at + 1;
	if (!*dom) {
		*why = "empty domain";
		return -1;
	}
	if (dom[0] == '[') { /* address literal: [192.0.2.1] or [IPv6:…] */
		size_t dl = strlen(dom);
		if (dl < 3 || dom[dl - 1] != ']' || strcspn(dom + 1, "[]\\") != dl - 2) {
			*why = "bad address literal";
			return -1;
		}
		return 0;
	}
	for (const char *p = dom; *p; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '.';
		if (!ok) {
			*why = "character not allowed in domain";
			return -1;
		}
		if (c == '.' && (p == dom || p[1] == '.' || p[1] == '\0')) {
			*why = "misplaced '.' in domain";
			return -1;
		}
	}
	return 0;
}

int addr_push(mail_addrs *out, const char *name, const char *addr)
{
	mail_addr *v = realloc(out->v, (out->n + 1) * sizeof *v);
	if (!v)
		return -1;
	out->v = v;
	char *n = name ? strdup(name) : NULL;
	char *a = strdup(addr);
	if (!a || (name && !n)) {
		free(n);
		free(a);
		return -1;
	}
	v[out->n].name = n;
	v[out->n].addr = a;
	out->n++;
	return 0;
}

void addr_list_free(mail_addrs *list)
{
	for (size_t i = 0; i < list->n; i++) {
		free(list->v[i].name);
		free(list->v[i].addr);
	}
	free(list->v);
	list->v = NULL;
	list->n = 0;
}

static void trim(const char **b, const char **e)
{
	while (*b < *e && (**b == ' ' || **b == '\t'))
		(*b)++;
	while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

/* The display name between b and e: a quoted-string is unquoted, anything
 * else is taken as written (trimmed).  NULL name when empty. */
static int take_name(const char *b, const char *e, char **name)
{
	*name = NULL;
	trim(&b, &e);
	if (b == e)
		return 0;
	mbuf raw = MBUF_INIT;
	if (e - b >= 2 && *b == '"' && e[-1] == '"') {
		for (const char *p = b + 1; p < e - 1; p++) {
			if (*p == '\\' && p + 1 < e - 1)
				p++;
			mbuf_putc(&raw, *p);
		}
	} else {
		mbuf_add(&raw, b, (size_t)(e - b));
	}
	if (raw.len > NAME_MAX_BYTES)
		raw.len = NAME_MAX_BYTES; /* text_clean repairs a cut sequence */
	char *clean = raw.oom ? NULL : text_clean(raw.data ? raw.data : "", raw.len, CLEAN_HEADER);
	mbuf_free(&raw);
	if (!clean)
		return -1;
	if (!*clean)
		free(clean);
	else
		*name = clean;
	return 0;
}

static int fail(char *err, size_t errsize, const char *what, const char *b, const char *e,
		const char *why)
{
	char *raw = strndup(b, (size_t)(e - b));
	char shown[128];
	text_for_log(raw ? raw : "", shown, sizeof shown);
	free(raw);
	snprintf(err, errsize, "invalid %s address '%s': %s", what, shown, why);
	return -1;
}

/* One list element [b, e): "addr", "Name <addr>", "\"Name\" <addr>". */
static int parse_one(const char *b, const char *e, mail_addrs *out, const char *what, char *err,
		     size_t errsize)
{
	trim(&b, &e);
	if (b == e)
		return 0;
	for (const char *p = b; p < e; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7F)
			return fail(err, errsize, what, b, e, "control character");
	const char *lt = NULL;
	bool quoted = false;
	for (const char *p = b; p < e; p++) {
		if (*p == '\\' && quoted && p + 1 < e)
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (*p == '<' && !quoted) {
			lt = p;
			break;
		}
	}
	if (quoted)
		return fail(err, errsize, what, b, e, "unterminated quoted name");
	const char *ab = b, *ae = e;
	char *name = NULL;
	if (lt) {
		const char *gt = memchr(lt, '>', (size_t)(e - lt));
		if (!gt)
			return fail(err, errsize, what, b, e, "missing '>'");
		const char *rest = gt + 1, *end = e;
		trim(&rest, &end);
		if (rest != end)
			return fail(err, errsize, what, b, e, "text after '>'");
		ab = lt + 1, ae = gt;
		trim(&ab, &ae);
		if (take_name(b, lt, &name) < 0)
			return fail(err, errsize, what, b, e, "out of memory");
	}
	char *addr = strndup(ab, (size_t)(ae - ab));
	if (!addr) {
		free(name);
		return fail(err, errsize, what, b, e, "out of memory");
	}
	const char *why = NULL;
	int rc = addr_check(addr, &why);
	if (rc == 0 && addr_push(out, name, addr) < 0)
		why = "out of memory", rc = -1;
	free(addr);
	free(name);
	return rc < 0 ? fail(err, errsize, what, b, e, why) : 0;
}

int addr_parse_list(const char *list, mail_addrs *out, const char *what, char *err,
		    size_t errsize)
{
	size_t had = out->n;
	const char *start = list;
	bool quoted = false, angle = false;
	for (const char *p = list;; p++) {
		if (*p == '\\' && quoted && p[1]) {
			p++;
			continue;
		}
		if (*p == '"' && !angle)
			quoted = !quoted;
		else if (*p == '<' && !quoted)
			angle = true;
		else if (*p == '>' && !quoted)
			angle = false;
		if (*p == '\0' || (*p == ',' && !quoted && !angle)) {
			if (parse_one(start, p, out, what, err, errsize) < 0) {
				while (out->n > had) {
					out->n--;
					free(out->v[out->n].name);
					free(out->v[out->n].addr);
				}
				return -1;
			}
			if (*p == '\0')
				break;
			start = p + 1;
		}
	}
	return 0;
}
