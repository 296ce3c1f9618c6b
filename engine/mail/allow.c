/* The recipient allow-list of the mail notifiers; see allow.h. */
#include "allow.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DOMAIN_MAX 253

void mail_domains_free(mail_domains *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i]);
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

/* Append a lower-cased copy of s[0..len). */
static int push(mail_domains *d, const char *s, size_t len)
{
	char **nv = realloc(d->v, (d->n + 1) * sizeof *nv);
	if (!nv)
		return -1;
	d->v = nv;
	char *c = malloc(len + 1);
	if (!c)
		return -1;
	for (size_t i = 0; i < len; i++)
		c[i] = (char)tolower((unsigned char)s[i]);
	c[len] = '\0';
	d->v[d->n++] = c;
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

int mail_domains_parse(const char *text, mail_domains *out, char *err, size_t errsize)
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
			mail_domains_free(out);
			return -1;
		}
		if (push(out, s, (size_t)(e - s)) != 0) {
			snprintf(err, errsize, "out of memory");
			mail_domains_free(out);
			return -1;
		}
	}
	return 0;
}

bool mail_domain_allowed(const mail_domains *d, const char *addr)
{
	if (d->n == 0)
		return true;
	const char *at = strrchr(addr, '@');
	if (!at || !at[1])
		return false;
	const char *dom = at + 1;
	size_t dlen = strlen(dom);
	for (size_t i = 0; i < d->n; i++) {
		const char *want = d->v[i];
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

void mail_domains_join(const mail_domains *d, char *out, size_t size)
{
	size_t o = 0;
	if (size == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < d->n && o + 1 < size; i++) {
		int n = snprintf(out + o, size - o, "%s%s", i ? ", " : "", d->v[i]);
		if (n < 0)
			break;
		o += (size_t)n < size - o ? (size_t)n : size - o - 1;
	}
}
