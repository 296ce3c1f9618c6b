/* Reading a received RFC 5322 / MIME message (see read.h). */
#include "read.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "encode.h"
#include "mbuf.h"

/* The line starting at p (before end): its length without the line end, and
 * where the next line starts. */
static size_t line_at(const char *p, const char *end, const char **next)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *e = nl ? nl : end;
	*next = nl ? nl + 1 : end;
	if (e > p && e[-1] == '\r')
		e--;
	return (size_t)(e - p);
}

static char *dup_trim(const char *p, size_t n)
{
	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
		n--;
	return strndup(p, n);
}

int mr_read_headers(const char *text, size_t len, mr_headers *out, const char **body,
		    size_t *body_len, char *err, size_t errsize)
{
	memset(out, 0, sizeof *out);
	const char *p = text, *end = text + len, *next = end;
	mbuf value = MBUF_INIT;
	char *name = NULL;
	size_t cap = 0;
	if (len >= 5 && memcmp(p, "From ", 5) == 0)
		line_at(p, end, &p); /* an mbox separator, not a header */
	for (;;) {
		size_t n = p < end ? line_at(p, end, &next) : 0;
		bool cont = p < end && n && (p[0] == ' ' || p[0] == '\t');
		if (cont && name) {
			mbuf_add(&value, p, n); /* unfolding keeps the white space */
			p = next;
			continue;
		}
		if (name) { /* the header before this line is complete */
			if (out->n == cap) {
				cap = cap ? cap * 2 : 16;
				mr_header *v = realloc(out->v, cap * sizeof *v);
				if (!v)
					goto oom;
				out->v = v;
			}
			char *raw = mbuf_take(&value, NULL);
			out->v[out->n].name = name;
			out->v[out->n].value = raw ? dup_trim(raw, strlen(raw)) : NULL;
			free(raw);
			name = NULL;
			if (!out->v[out->n++].value)
				goto oom;
			if (out->n > MR_MAX_HEADERS) {
				snprintf(err, errsize, "more than %d header lines", MR_MAX_HEADERS);
				goto fail;
			}
		}
		if (p >= end || n == 0) { /* the empty line: the body follows */
			if (p < end)
				p = next;
			break;
		}
		const char *colon = memchr(p, ':', n);
		size_t nl = colon ? (size_t)(colon - p) : 0;
		while (nl && (p[nl - 1] == ' ' || p[nl - 1] == '\t'))
			nl--;
		bool ok = nl > 0;
		for (size_t i = 0; i < nl && ok; i++)
			ok = p[i] > 32 && p[i] < 127;
		if (!ok) {
			if (out->n == 0) {
				snprintf(err, errsize, "does not start with mail headers (no \"Name: value\" line)");
				goto fail;
			}
			/* A stray line inside the headers: written by a broken template, skipped. */
			p = next;
			continue;
		}
		if (!(name = strndup(p, nl)))
			goto oom;
		mbuf_add(&value, colon + 1, n - (size_t)(colon + 1 - p));
		p = next;
	}
	if (out->n == 0) {
		snprintf(err, errsize, "no mail headers");
		goto fail;
	}
	*body = p;
	*body_len = (size_t)(end - p);
	return 0;
oom:
	snprintf(err, errsize, "out of memory reading the headers");
fail:
	free(name);
	mbuf_free(&value);
	mr_headers_free(out);
	return -1;
}

void mr_headers_free(mr_headers *h)
{
	for (size_t i = 0; h && i < h->n; i++) {
		free(h->v[i].name);
		free(h->v[i].value);
	}
	if (h) {
		free(h->v);
		h->v = NULL;
		h->n = 0;
	}
}

const char *mr_get(const mr_headers *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcasecmp(h->v[i].name, name) == 0)
			return h->v[i].value;
	return NULL;
}

void mr_media_type(const char *ct, char *buf, size_t size)
{
	size_t n = 0;
	if (ct) {
		while (*ct == ' ' || *ct == '\t')
			ct++;
		while (ct[n] && ct[n] != ';' && ct[n] != ' ' && ct[n] != '\t' && n + 1 < size)
			n++;
	}
	if (!ct || n == 0 || !memchr(ct, '/', n) || n + 1 >= size) {
		snprintf(buf, size, "text/plain");
		return;
	}
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)ct[i]);
	buf[n] = '\0';
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* RFC 2231 `charset'lang'pct-encoded` -> the bytes (charset not converted:
 * file names are what we read it for, and they are checked afterwards). */
static char *ext_value(const char *v, size_t n)
{
	const char *q1 = memchr(v, '\'', n), *q2 = q1 ? memchr(q1 + 1, '\'', n - (size_t)(q1 + 1 - v)) : NULL;
	if (q2) {
		n -= (size_t)(q2 + 1 - v);
		v = q2 + 1;
	}
	char *out = malloc(n + 1), *o = out;
	for (size_t i = 0; out && i < n; i++) {
		int h, l;
		if (v[i] == '%' && i + 2 < n + 1 && (h = hexval(v[i + 1])) >= 0 && (l = hexval(v[i + 2])) >= 0) {
			*o++ = (char)(h * 16 + l);
			i += 2;
		} else {
			*o++ = v[i];
		}
	}
	if (out)
		*o = '\0';
	return out;
}

char *mr_param(const char *value, const char *name)
{
	if (!value)
		return NULL;
	size_t nlen = strlen(name);
	bool quoted = false;
	for (const char *p = value; *p; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (*p == '\\' && quoted && p[1])
			p++;
		if (quoted || *p != ';')
			continue;
		const char *k = p + 1;
		while (*k == ' ' || *k == '\t')
			k++;
		if (strncasecmp(k, name, nlen) != 0)
			continue;
		const char *a = k + nlen;
		bool ext = *a == '*';
		if (ext)
			a++;
		while (*a == ' ' || *a == '\t')
			a++;
		if (*a != '=')
			continue;
		a++;
		while (*a == ' ' || *a == '\t')
			a++;
		if (*a == '"') {
			mbuf b = MBUF_INIT;
			for (a++; *a && *a != '"'; a++) {
				if (*a == '\\' && a[1])
					a++;
				mbuf_putc(&b, *a);
			}
			return mbuf_take(&b, NULL);
		}
		size_t n = strcspn(a, "; \t");
		return ext ? ext_value(a, n) : strndup(a, n);
	}
	return NULL;
}

/*
 * Asterisk labels encoded words with its `charset` setting (ISO-8859-1 unless
 * set) whatever the bytes are: a UTF-8 voicemail.conf gives
 * "=?ISO-8859-1?Q?J=C3=BCrgen?=" (app_voicemail.c, ast_str_encode_mime()).
 * Bytes that form valid UTF-8 with at least one multi-byte sequence are
 * almost never meant as Latin-1 ("JÃ¼rgen"): read them as UTF-8.
 */
static bool latin1_is_utf8(const char *charset, const char *s, size_t n)
{
	if (strcasecmp(charset, "iso-8859-1") != 0 && strcasecmp(charset, "latin1") != 0 &&
	    strcasecmp(charset, "iso-8859-15") != 0 && strcasecmp(charset, "windows-1252") != 0)
		return false;
	bool multi = false;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
		if (!k || i + k > n || (k == 2 && c < 0xC2))
			return false;
		for (size_t j = 1; j < k; j++)
			if (((unsigned char)s[i + j] & 0xC0) != 0x80)
				return false;
		multi |= k > 1;
		i += k;
	}
	return multi;
}

/* Convert `in` from `charset` to UTF-8 into b (unknown charsets: the bytes as
 * they are; text_clean() repairs them later). */
static void to_utf8(mbuf *b, const char *charset, const char *in, size_t n)
{
	if (strcasecmp(charset, "utf-8") == 0 || strcasecmp(charset, "us-ascii") == 0 ||
	    strcasecmp(charset, "utf8") == 0) {
		mbuf_add(b, in, n);
		return;
	}
	iconv_t cd = iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1) {
		mbuf_add(b, in, n);
		return;
	}
	char out[512];
	char *ip = (char *)in;
	size_t il = n;
	while (il > 0) {
		char *op = out;
		size_t ol = sizeof out;
		size_t r = iconv(cd, &ip, &il, &op, &ol);
		mbuf_add(b, out, sizeof out - ol);
		if (r == (size_t)-1 && errno != E2BIG) {
			mbuf_puts(b, "\xef\xbf\xbd"); /* U+FFFD for a byte the charset does not have */
			ip++;
			il--;
		}
	}
	iconv(cd, NULL, NULL, NULL, NULL);
	iconv_close(cd);
}

/*
 * Where the scan for encoded words stands: the next "?=" and the next blank
 * at or after some point, each found once and reused while the scan is still
 * before it.  Without this every "=?" searched to the end of the value for
 * its "?=" (quadratic: a 4 MB header of "=?a?B?x" took a minute); with it
 * each byte is looked at a bounded number of times.
 */
struct ew_scan {
	const char *close; /* the next "?=" (NULL: none after `from`) */
	const char *blank; /* the next ' ' or '\t' (NULL: none) */
	const char *close_from, *blank_from; /* where those searches started */
};

static const char *next_close(struct ew_scan *s, const char *from)
{
	if (!s->close_from || from < s->close_from || (s->close && from > s->close)) {
		s->close = strstr(from, "?=");
		s->close_from = from;
	} else if (!s->close) {
		return NULL; /* none after an earlier point, so none after this one */
	}
	return s->close;
}

static const char *next_blank(struct ew_scan *s, const char *from)
{
	if (!s->blank_from || from < s->blank_from || (s->blank && from > s->blank)) {
		s->blank = from + strcspn(from, " \t");
		if (!*s->blank)
			s->blank = NULL;
		s->blank_from = from;
	}
	return s->blank;
}

/* One encoded word at p: "=?charset?E?text?=".  Appends its text to b
 * (when b is not NULL) and returns its length, or 0 when p does not start one. */
static size_t encoded_word(const char *p, mbuf *b, struct ew_scan *scan)
{
	if (p[0] != '=' || p[1] != '?')
		return 0;
	const char *cs = p + 2, *q1 = strchr(cs, '?');
	if (!q1 || q1 == cs || !q1[1] || q1[2] != '?' || q1 - cs >= 64)
		return 0;
	char enc = (char)toupper((unsigned char)q1[1]);
	const char *txt = q1 + 3, *close = next_close(scan, txt);
	if (!close || (enc != 'B' && enc != 'Q'))
		return 0;
	const char *blank = next_blank(scan, txt);
	if (blank && blank < close)
		return 0;
	if (!b)
		return (size_t)(close + 2 - p);
	char charset[64];
	size_t cl = (size_t)(q1 - cs);
	memcpy(charset, cs, cl);
	charset[cl] = '\0';
	charset[strcspn(charset, "*")] = '\0'; /* RFC 2231 language suffix */
	size_t tn = (size_t)(close - txt), dn = 0;
	char *dec = NULL;
	if (enc == 'B') {
		dec = (char *)mr_base64(txt, tn, &dn);
		if (!dec)
			return 0;
	} else {
		dec = malloc(tn + 1);
		if (!dec)
			return 0;
		for (size_t i = 0; i < tn; i++) {
			int h, l;
			if (txt[i] == '_')
				dec[dn++] = ' ';
			else if (txt[i] == '=' && i + 2 < tn + 1 && (h = hexval(txt[i + 1])) >= 0 &&
				 (l = hexval(txt[i + 2])) >= 0) {
				dec[dn++] = (char)(h * 16 + l);
				i += 2;
			} else
				dec[dn++] = txt[i];
		}
	}
	to_utf8(b, latin1_is_utf8(charset, dec, dn) ? "UTF-8" : charset, dec, dn);
	free(dec);
	return (size_t)(close + 2 - p);
}

char *mr_decode_words(const char *value)
{
	mbuf b = MBUF_INIT;
	struct ew_scan scan = {0};
	bool after_word = false;
	for (const char *p = value ? value : ""; *p;) {
		size_t k = encoded_word(p, &b, &scan);
		if (k) {
			p += k;
			after_word = true;
			continue;
		}
		if (after_word && (*p == ' ' || *p == '\t')) {
			/* White space between two encoded words is not part of the text. */
			const char *q = p + strspn(p, " \t");
			if (encoded_word(q, NULL, &scan)) {
				p = q;
				continue;
			}
		}
		after_word = false;
		/* Plain text up to the next '=' (where a word may start) in one piece. */
		size_t run = 1 + strcspn(p + 1, "=");
		mbuf_add(&b, p, run);
		p += run;
	}
	size_t n;
	char *raw = mbuf_take(&b, &n);
	if (!raw)
		return NULL;
	char *clean = text_clean(raw, n, CLEAN_HEADER);
	free(raw);
	return clean;
}

unsigned char *mr_base64(const char *s, size_t len, size_t *outlen)
{
	static signed char map[256];
	static bool ready;
	if (!ready) { /* idempotent: threads racing here write the same values */
		memset(map, -1, sizeof map);
		const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		for (int i = 0; i < 64; i++)
			map[(unsigned char)a[i]] = (signed char)i;
		ready = true;
	}
	unsigned char *out = malloc(len / 4 * 3 + 4);
	if (!out)
		return NULL;
	size_t n = 0;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '=')
			break;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (map[c] < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6 | (unsigned)map[c]) & 0xFFFFFF;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	*outlen = n;
	return out;
}

/* ------------------------------------------------------------ multipart */

static int add_leaf(mr_parts *out, mr_headers *h, const char *body, size_t len, char *err,
		    size_t errsize)
{
	if (out->n >= MR_MAX_PARTS) {
		snprintf(err, errsize, "more than %d MIME parts", MR_MAX_PARTS);
		return -1;
	}
	mr_part *v = realloc(out->v, (out->n + 1) * sizeof *v);
	if (!v) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	out->v = v;
	v[out->n].headers = *h;
	v[out->n].body = body;
	v[out->n].len = len;
	out->n++;
	memset(h, 0, sizeof *h);
	return 0;
}

/* Is the line p[0..n) the delimiter "--B" (close: "--B--"), trailing blanks allowed? */
static int delimiter(const char *p, size_t n, const char *b, size_t bl)
{
	if (n < bl + 2 || p[0] != '-' || p[1] != '-' || memcmp(p + 2, b, bl) != 0)
		return 0;
	size_t i = bl + 2;
	int kind = 1;
	if (n >= i + 2 && p[i] == '-' && p[i + 1] == '-') {
		kind = 2;
		i += 2;
	}
	for (; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t')
			return 0;
	return kind;
}

static int walk(const char *text, size_t len, int depth, mr_parts *out, char *err, size_t errsize);

static int walk_multipart(const char *body, size_t len, const char *boundary, int depth,
			  mr_parts *out, char *err, size_t errsize)
{
	size_t bl = strlen(boundary);
	const char *p = body, *end = body + len, *next, *start = NULL;
	int found = 0;
	while (p < end) {
		const char *line = p;
		size_t n = line_at(p, end, &next);
		int kind = delimiter(line, n, boundary, bl);
		if (kind) {
			if (start) {
				/* The line end before the delimiter belongs to it. */
				const char *e = line;
				if (e > start && e[-1] == '\n')
					e--;
				if (e > start && e[-1] == '\r')
					e--;
				if (walk(start, (size_t)(e - start), depth + 1, out, err, errsize) != 0)
					return -1;
				found++;
			}
			start = kind == 1 ? next : NULL;
			if (kind == 2)
				return found ? 0 : (snprintf(err, errsize, "multipart message without parts"), -1);
		}
		p = next;
	}
	if (start) { /* no closing delimiter: the last part runs to the end */
		out->unterminated++;
		if (walk(start, (size_t)(end - start), depth + 1, out, err, errsize) != 0)
			return -1;
		found++;
	}
	if (!found) {
		snprintf(err, errsize, "multipart message without parts (boundary \"%.70s\" not found)",
			 boundary);
		return -1;
	}
	return 0;
}

static int walk(const char *text, size_t len, int depth, mr_parts *out, char *err, size_t errsize)
{
	mr_headers h;
	const char *body;
	size_t blen;
	if (len == 0 || text[0] == '\n' || (text[0] == '\r' && len > 1 && text[1] == '\n')) {
		/* A part without headers: text/plain by default. */
		memset(&h, 0, sizeof h);
		body = text + (len == 0 ? 0 : text[0] == '\n' ? 1 : 2);
		blen = len - (size_t)(body - text);
		return add_leaf(out, &h, body, blen, err, errsize);
	}
	if (mr_read_headers(text, len, &h, &body, &blen, err, errsize) != 0)
		return -1;
	char type[128];
	const char *ct = mr_get(&h, "Content-Type");
	mr_media_type(ct, type, sizeof type);
	if (strncmp(type, "multipart/", 10) != 0)
		return add_leaf(out, &h, body, blen, err, errsize) == 0 ? 0 : (mr_headers_free(&h), -1);
	if (depth >= MR_MAX_DEPTH) {
		snprintf(err, errsize, "multipart nested more than %d deep", MR_MAX_DEPTH);
		mr_headers_free(&h);
		return -1;
	}
	char *boundary = mr_param(ct, "boundary");
	int rc;
	if (!boundary || !*boundary || strlen(boundary) > 200) {
		snprintf(err, errsize, "%s without a usable boundary parameter", type);
		rc = -1;
	} else {
		rc = walk_multipart(body, blen, boundary, depth, out, err, errsize);
	}
	free(boundary);
	mr_headers_free(&h);
	return rc;
}

int mr_parts_read(const char *text, size_t len, mr_parts *out, char *err, size_t errsize)
{
	memset(out, 0, sizeof *out);
	if (walk(text, len, 0, out, err, errsize) != 0) {
		mr_parts_free(out);
		return -1;
	}
	return 0;
}

void mr_parts_free(mr_parts *p)
{
	for (size_t i = 0; p && i < p->n; i++)
		mr_headers_free(&p->v[i].headers);
	if (p) {
		free(p->v);
		p->v = NULL;
		p->n = 0;
	}
}
