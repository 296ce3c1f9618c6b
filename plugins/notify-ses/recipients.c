/* Recipient allow-list and address classification; see recipients.h. */
#include "recipients.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DOMAIN_MAX 253

void ses_list_free(struct ses_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Append a lower-cased copy of s[0..len). */
static int push(struct ses_list *l, const char *s, size_t len)
{
	char **nv = realloc(l->v, (l->n + 1) * sizeof *nv);
	if (!nv)
		return -1;
	l->v = nv;
	char *c = malloc(len + 1);
	if (!c)
		return -1;
	for (size_t i = 0; i < len; i++)
		c[i] = (char)tolower((unsigned char)s[i]);
	c[len] = '\0';
	l->v[l->n++] = c;
	return 0;
}

/* RFC 1035 host name: labels of letters, digits and '-', 1-63 bytes each. */
static const char *domain_problem(const char *d, size_t len)
{
	if (len == 0)
		return "empty domain";
	if (len > DOMAIN_MAX)
		return "longer than 253 characters";
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)d[i];
		if (c == '.') {
			if (label == 0)
				return "empty label";
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-')
			return c == '@' ? "write the domain only, without a local part"
					: "only letters, digits, '-' and '.' may appear";
		if (++label > 63)
			return "label longer than 63 characters";
	}
	return label == 0 ? "ends with '.'" : NULL;
}

int ses_domains_parse(const char *text, struct ses_list *out, char *err, size_t errsize)
{
	out->v = NULL;
	out->n = 0;
	const char *p = text ? text : "";
	while (*p) {
		size_t len = strcspn(p, ",");
		const char *s = p, *e = p + len;
		p = *e ? e + 1 : e;
		while (s < e && isspace((unsigned char)*s))
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		if (s == e)
			continue;
		const char *dom = s;
		if (e - s > 2 && s[0] == '*' && s[1] == '.')
			dom = s + 2;
		const char *why = domain_problem(dom, (size_t)(e - dom));
		if (why) {
			snprintf(err, errsize, "'%.*s': %s", (int)(e - s > 80 ? 80 : e - s), s, why);
			ses_list_free(out);
			return -1;
		}
		if (push(out, s, (size_t)(e - s)) != 0) {
			snprintf(err, errsize, "out of memory");
			ses_list_free(out);
			return -1;
		}
	}
	return 0;
}

bool ses_domain_allowed(const struct ses_list *domains, const char *addr)
{
	if (domains->n == 0)
		return true;
	const char *at = strrchr(addr, '@');
	if (!at || !at[1])
		return false;
	const char *dom = at + 1;
	size_t dlen = strlen(dom);
	for (size_t i = 0; i < domains->n; i++) {
		const char *want = domains->v[i];
		if (want[0] == '*') {
			/* "*.example.com": any name that ends in ".example.com". */
			size_t wlen = strlen(want + 1);
			if (dlen > wlen && strcasecmp(dom + dlen - wlen, want + 1) == 0)
				return true;
		} else if (strcasecmp(dom, want) == 0) {
			return true;
		}
	}
	return false;
}

void ses_list_join(const struct ses_list *l, char *out, size_t size)
{
	size_t o = 0;
	if (size == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < l->n && o + 1 < size; i++) {
		int n = snprintf(out + o, size - o, "%s%s", i ? ", " : "", l->v[i]);
		if (n < 0)
			break;
		o += (size_t)n < size - o ? (size_t)n : size - o - 1;
	}
}

/* The bare address of one list item: inside <…> if there is one, else the
 * trimmed item.  Quotes and comments were vetted by the mail module. */
static int push_item(struct ses_list *l, const char *s, const char *e)
{
	const char *lt = NULL, *gt = NULL;
	bool quoted = false;
	for (const char *p = s; p < e; p++) {
		if (*p == '\\' && p + 1 < e) {
			p++;
			continue;
		}
		if (*p == '"')
			quoted = !quoted;
		else if (!quoted && *p == '<')
			lt = p;
		else if (!quoted && *p == '>' && lt)
			gt = p;
	}
	if (lt && gt && gt > lt) {
		s = lt + 1;
		e = gt;
	}
	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	return s == e ? 0 : push(l, s, (size_t)(e - s));
}

int ses_bare_addrs(const char *text, struct ses_list *out)
{
	out->v = NULL;
	out->n = 0;
	if (!text)
		return 0;
	/* Split at commas outside quotes, <…> and (comments). */
	const char *start = text;
	bool quoted = false;
	int angle = 0, paren = 0;
	for (const char *p = text;; p++) {
		if (*p == '\0' || (*p == ',' && !quoted && !angle && !paren)) {
			if (push_item(out, start, p) != 0) {
				ses_list_free(out);
				return -1;
			}
			if (*p == '\0')
				return 0;
			start = p + 1;
			continue;
		}
		if (*p == '\\' && p[1]) {
			p++;
		} else if (*p == '"') {
			quoted = !quoted;
		} else if (!quoted) {
			angle += *p == '<' ? 1 : *p == '>' && angle ? -1 : 0;
			paren += *p == '(' ? 1 : *p == ')' && paren ? -1 : 0;
		}
	}
}

bool ses_list_has(const struct ses_list *l, const char *addr)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcasecmp(l->v[i], addr) == 0)
			return true;
	return false;
}
