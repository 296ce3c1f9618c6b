/* Address classification; see recipients.h. */
#include "recipients.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
