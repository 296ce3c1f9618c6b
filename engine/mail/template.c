/* Template parsing and rendering; see template.h. */
#include "template.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "encode.h"
#include "mbuf.h"

#define NEST_MAX 16

enum node_kind { N_TEXT, N_VAR, N_SECTION, N_INVERTED, N_END };

struct node {
	enum node_kind kind;
	size_t off, len; /* N_TEXT: the text in src */
	size_t var;      /* N_VAR, N_SECTION, N_INVERTED, N_END */
	size_t end;      /* sections: index of their N_END */
	bool url;        /* N_VAR (HTML): starts the value of a URL attribute */
};

struct tpl {
	char *src; /* the cleaned source; owned */
	enum tpl_mode mode;
	struct node *nodes;
	size_t n, cap;
};

static int push(tpl *t, struct node nd)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		struct node *v = realloc(t->nodes, cap * sizeof *v);
		if (!v)
			return -1;
		t->nodes = v;
		t->cap = cap;
	}
	t->nodes[t->n++] = nd;
	return 0;
}

static size_t line_of(const char *src, size_t off)
{
	size_t line = 1;
	for (size_t i = 0; i < off; i++)
		line += src[i] == '\n';
	return line;
}

/*
 * A section tag at [b, e) alone on its line: drop the indentation before it
 * (the tail of the previous text node) and return the offset after the line
 * end; otherwise return e.
 */
static size_t standalone(tpl *t, size_t b, size_t e)
{
	const char *s = t->src;
	size_t i = b;
	while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t'))
		i--;
	if (i > 0 && s[i - 1] != '\n')
		return e;
	size_t j = e;
	while (s[j] == ' ' || s[j] == '\t')
		j++;
	if (s[j] == '\r' && s[j + 1] == '\n')
		j += 2;
	else if (s[j] == '\n')
		j++;
	else if (s[j] != '\0')
		return e;
	if (b > i && t->n && t->nodes[t->n - 1].kind == N_TEXT)
		t->nodes[t->n - 1].len -= b - i;
	return j;
}

static void set_err(char *err, size_t errsize, const tpl *t, size_t off, const char *fmt,
		    const char *what)
{
	char shown[80];
	text_for_log(what, shown, sizeof shown);
	char msg[160];
	snprintf(msg, sizeof msg, fmt, shown);
	snprintf(err, errsize, "line %zu: %s", line_of(t->src, off), msg);
}

/* ------------------------------------------------- HTML attribute context */

/* Attributes whose value a mail client follows or loads as a URL. */
static const char *const url_attrs[] = {
	"href", "src", "action", "formaction", "background", "cite", "poster", "longdesc",
	"usemap", "xlink:href", "data", "codebase", "manifest", "icon", "srcset", "ping",
	"lowsrc", "dynsrc",
};

static bool is_url_attr(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof url_attrs / sizeof *url_attrs; i++)
		if (strlen(url_attrs[i]) == n && strncasecmp(url_attrs[i], name, n) == 0)
			return true;
	return false;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' ||
	       c == '_' || c == '-';
}

/*
 * Where the parser is in an HTML template's markup, fed with the template's
 * own text (never with values, nor with section and comment tags): inside a
 * tag or not, inside a quoted attribute value, which attribute, and whether
 * anything but spaces came in that value yet.
 */
struct html_ctx {
	bool in_tag, name_char, value_fresh;
	bool in_comment; /* <!-- … -->: quotes there are prose */
	int dashes;
	char quote;
	char attr[16];
	size_t attr_len; /* longer names are truncated: no URL attribute is */
};

static void html_feed(struct html_ctx *h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (h->in_comment) {
			if (c == '>' && h->dashes >= 2)
				h->in_comment = false;
			h->dashes = c == '-' ? h->dashes + 1 : 0;
		} else if (!h->in_tag) {
			if (c == '<' && n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
				*h = (struct html_ctx){.in_comment = true};
				i += 3;
			} else if (c == '<') {
				*h = (struct html_ctx){.in_tag = true};
			}
		} else if (h->quote) {
			if (c == h->quote)
				h->quote = 0;
			else if (!is_space(c))
				h->value_fresh = false;
		} else if (c == '>') {
			h->in_tag = false;
		} else if (c == '"' || c == '\'') {
			h->quote = c;
			h->value_fresh = true;
			h->name_char = false;
		} else if (is_name_char(c)) {
			if (!h->name_char)
				h->attr_len = 0;
			if (h->attr_len < sizeof h->attr)
				h->attr[h->attr_len] = c;
			h->attr_len++;
			h->name_char = true;
		} else {
			h->name_char = false;
		}
	}
}

enum var_place { IN_TEXT, IN_VALUE, IN_URL_START, IN_TAG };

/*
 * Where a variable lands: in text, in a quoted attribute value (IN_URL_START:
 * as the first thing of a URL attribute's value, so it decides the scheme),
 * or elsewhere inside a tag, where no escaping makes a value safe
 * (`<a {{x}}>`, `href={{x}}`).
 */
static enum var_place html_place(struct html_ctx *h)
{
	if (!h->in_tag)
		return IN_TEXT;
	if (!h->quote)
		return IN_TAG;
	bool start = h->value_fresh && h->attr_len <= sizeof h->attr &&
		     is_url_attr(h->attr, h->attr_len);
	h->value_fresh = false; /* what follows the value is not its start */
	return start ? IN_URL_START : IN_VALUE;
}

/*
 * A URL a mail may link to: https:// or http://, or file:/ (the local
 * pipelines' recordings).  Anything else (javascript:, data:, vbscript:, a
 * scheme a mail client hands to some program) is dropped from the attribute.
 */
static bool safe_url(const char *v)
{
	return strncasecmp(v, "https://", 8) == 0 || strncasecmp(v, "http://", 7) == 0 ||
	       strncasecmp(v, "file:/", 6) == 0;
}

static bool parse_tags(tpl *t, const char *const *names, size_t nnames, char *err,
		       size_t errsize)
{
	const char *s = t->src;
	size_t stack[NEST_MAX], depth = 0;
	size_t pos = 0;
	struct html_ctx html = {0};
	for (;;) {
		const char *open = strstr(s + pos, "{{");
		size_t tb = open ? (size_t)(open - s) : strlen(s);
		if (tb > pos && push(t, (struct node){N_TEXT, pos, tb - pos, 0, 0, false}) < 0)
			goto oom;
		html_feed(&html, s + pos, tb > pos ? tb - pos : 0);
		if (!open)
			break;
		const char *close = strstr(open + 2, "}}");
		if (!close) {
			set_err(err, errsize, t, tb, "unterminated '{{'%s", "");
			return false;
		}
		size_t te = (size_t)(close - s) + 2;
		const char *p = open + 2, *q = close;
		char sigil = 0;
		if (*p == '#' || *p == '^' || *p == '/' || *p == '!')
			sigil = *p++;
		if (sigil == '!') {
			pos = standalone(t, tb, te);
			continue;
		}
		while (p < q && (*p == ' ' || *p == '\t'))
			p++;
		while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
			q--;
		char name[64];
		size_t nl = (size_t)(q - p);
		if (nl == 0 || nl >= sizeof name) {
			char *raw = strndup(open, te - tb);
			set_err(err, errsize, t, tb, "bad tag '%s'", raw ? raw : "");
			free(raw);
			return false;
		}
		memcpy(name, p, nl);
		name[nl] = '\0';
		size_t var = 0;
		while (var < nnames && strcmp(names[var], name) != 0)
			var++;
		if (var == nnames) {
			set_err(err, errsize, t, tb, "unknown variable '%s'", name);
			return false;
		}
		if (!sigil) {
			enum var_place place = t->mode == TPL_HTML ? html_place(&html) : IN_TEXT;
			if (place == IN_TAG) {
				set_err(err, errsize, t, tb,
					"{{%s}} inside a tag must be in a quoted attribute value", name);
				return false;
			}
			if (push(t, (struct node){N_VAR, 0, 0, var, 0, place == IN_URL_START}) < 0)
				goto oom;
			pos = te;
			continue;
		}
		pos = standalone(t, tb, te);
		if (sigil == '/') {
			if (!depth || t->nodes[stack[depth - 1]].var != var) {
				set_err(err, errsize, t, tb, "'{{/%s}}' closes no open section", name);
				return false;
			}
			t->nodes[stack[--depth]].end = t->n;
			if (push(t, (struct node){N_END, 0, 0, var, 0, false}) < 0)
				goto oom;
			continue;
		}
		if (depth == NEST_MAX) {
			set_err(err, errsize, t, tb, "sections nested too deeply at '%s'", name);
			return false;
		}
		stack[depth++] = t->n;
		enum node_kind k = sigil == '#' ? N_SECTION : N_INVERTED;
		if (push(t, (struct node){k, 0, 0, var, 0, false}) < 0)
			goto oom;
	}
	if (depth) {
		const struct node *o = &t->nodes[stack[depth - 1]];
		snprintf(err, errsize, "section '%s' is not closed", names[o->var]);
		return false;
	}
	return true;
oom:
	snprintf(err, errsize, "out of memory");
	return false;
}

tpl *tpl_parse(const char *src, size_t len, enum tpl_mode mode, const char *const *names,
	       size_t nnames, char *err, size_t errsize)
{
	tpl *t = calloc(1, sizeof *t);
	if (!t || !(t->src = text_clean(src, len, CLEAN_BODY))) {
		snprintf(err, errsize, "out of memory");
		free(t);
		return NULL;
	}
	t->mode = mode;
	if (!parse_tags(t, names, nnames, err, errsize)) {
		tpl_free(t);
		return NULL;
	}
	return t;
}

static void html_escape(mbuf *out, const char *v)
{
	for (const char *p = v; *p; p++) {
		switch (*p) {
		case '&': mbuf_puts(out, "&amp;"); break;
		case '<': mbuf_puts(out, "&lt;"); break;
		case '>': mbuf_puts(out, "&gt;"); break;
		case '"': mbuf_puts(out, "&quot;"); break;
		case '\'': mbuf_puts(out, "&#39;"); break;
		default: mbuf_putc(out, *p);
		}
	}
}

char *tpl_render(const tpl *t, const char *const *values, size_t *len)
{
	mbuf out = MBUF_INIT;
	for (size_t i = 0; i < t->n; i++) {
		const struct node *nd = &t->nodes[i];
		const char *v = nd->kind == N_TEXT ? NULL : values[nd->var];
		bool empty = !v || !*v;
		switch (nd->kind) {
		case N_TEXT:
			mbuf_add(&out, t->src + nd->off, nd->len);
			break;
		case N_VAR:
			if (empty || (nd->url && !safe_url(v)))
				break;
			if (t->mode == TPL_HTML)
				html_escape(&out, v);
			else
				mbuf_puts(&out, v);
			break;
		case N_SECTION:
		case N_INVERTED:
			if (empty == (nd->kind == N_SECTION))
				i = nd->end; /* skip to the N_END */
			break;
		case N_END:
			break;
		}
	}
	if (t->mode == TPL_HEADER && !out.oom) {
		char *clean = text_clean(out.data ? out.data : "", out.len, CLEAN_HEADER);
		mbuf_free(&out);
		if (clean && len)
			*len = strlen(clean);
		return clean;
	}
	return mbuf_take(&out, len);
}

void tpl_free(tpl *t)
{
	if (!t)
		return;
	free(t->src);
	free(t->nodes);
	free(t);
}
