/* The message structure check of the mail fuzz target; see mail_check.h. */
#include "mail_check.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINE_MAX_RFC 998 /* RFC 5322 2.1.1 */
#define BODY_LINE_MAX 76 /* what mime.h promises for QP and base64 lines */
#define EW_MAX 75        /* RFC 2047 2 */
#define MAX_FIELDS 32

struct line {
	const char *s;
	size_t n; /* without the CRLF */
};

struct field {
	char name[64];
	char *value; /* unfolded (CRLFs removed), malloc()ed */
};

struct header {
	struct field f[MAX_FIELDS];
	size_t n;
};

struct check {
	const struct mail_expect *e;
	char *why;
	size_t whysz;
	struct line *lines;
	size_t nlines;
	bool saw_attachment;
};

static int bad(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct check *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->why, c->whysz, fmt, ap);
	va_end(ap);
	return -1;
}

/* ------------------------------------------------------------- buffers */

struct buf {
	char *d;
	size_t n, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *d = realloc(b->d, cap);
		if (!d)
			abort();
		b->d = d;
		b->cap = cap;
	}
	memcpy(b->d + b->n, p, n);
	b->n += n;
	b->d[b->n] = '\0';
}

/* -------------------------------------------------------------- decoders */

static bool valid_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i], cp, min;
		size_t len;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xC2 && c <= 0xDF) {
			len = 2, cp = c & 0x1F, min = 0x80;
		} else if (c >= 0xE0 && c <= 0xEF) {
			len = 3, cp = c & 0x0F, min = 0x800;
		} else if (c >= 0xF0 && c <= 0xF4) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (i + len > n)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += len;
	}
	return true;
}

static int b64val(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* Append the base64 `s` (n a multiple of 4, padding only at its end) to out. */
static bool b64_decode(const char *s, size_t n, bool last, struct buf *out)
{
	if (n % 4)
		return false;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			char ch = s[i + k];
			if (ch == '=' && k >= 2 && (k == 3 || s[i + 3] == '=')) {
				pad++;
				v[k] = 0;
				continue;
			}
			if (pad || (v[k] = b64val((unsigned char)ch)) < 0)
				return false;
		}
		if (pad && (!last || i + 4 != n))
			return false;
		unsigned char b[3] = {(unsigned char)(v[0] << 2 | v[1] >> 4),
				      (unsigned char)(v[1] << 4 | v[2] >> 2), (unsigned char)(v[2] << 6 | v[3])};
		put(out, b, (size_t)(3 - pad));
	}
	return true;
}

static int hexdigit(char ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* ------------------------------------------------------------ the header */

static bool is_wsp(char ch) { return ch == ' ' || ch == '\t'; }

/* Lines [*i, …) up to the blank line into h; *i is left after it. */
static int parse_header(struct check *c, size_t *i, struct header *h, const char *where)
{
	for (; *i < c->nlines; (*i)++) {
		const struct line *l = &c->lines[*i];
		if (l->n == 0) {
			(*i)++;
			return 0;
		}
		if (is_wsp(l->s[0])) {
			if (!h->n)
				return bad(c, "%s: line %zu: a continuation line before any field", where, *i + 1);
			size_t k = 0;
			while (k < l->n && is_wsp(l->s[k]))
				k++;
			if (k == l->n)
				return bad(c, "%s: line %zu: a whitespace-only folded line", where, *i + 1);
			struct field *f = &h->f[h->n - 1];
			struct buf b = {f->value, strlen(f->value), strlen(f->value) + 1};
			put(&b, l->s, l->n);
			f->value = b.d;
			continue;
		}
		const char *colon = memchr(l->s, ':', l->n);
		if (!colon || colon == l->s)
			return bad(c, "%s: line %zu is no header field: %.60s", where, *i + 1, l->s);
		size_t nl = (size_t)(colon - l->s);
		for (size_t k = 0; k < nl; k++)
			if (l->s[k] <= ' ' || l->s[k] > '~')
				return bad(c, "%s: line %zu: bad field name", where, *i + 1);
		if (h->n == MAX_FIELDS || nl >= sizeof h->f[0].name)
			return bad(c, "%s: too many or too long fields", where);
		struct field *f = &h->f[h->n++];
		memcpy(f->name, l->s, nl);
		f->name[nl] = '\0';
		f->value = strndup(colon + 1, l->n - nl - 1);
		if (!f->value)
			abort();
	}
	return bad(c, "%s: no blank line after the header", where);
}

static void header_free(struct header *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->f[i].value);
	h->n = 0;
}

static const char *get(const struct header *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcasecmp(h->f[i].name, name) == 0)
			return h->f[i].value;
	return NULL;
}

/* Fields only from `allowed` (exact spelling), each once; `required` present. */
static int fields_ok(struct check *c, const struct header *h, const char *const *allowed,
		     const char *const *required, const char *where)
{
	for (size_t i = 0; i < h->n; i++) {
		size_t k = 0;
		while (allowed[k] && strcmp(allowed[k], h->f[i].name) != 0)
			k++;
		if (!allowed[k])
			return bad(c, "%s: unexpected header field '%s'", where, h->f[i].name);
		for (size_t j = 0; j < i; j++)
			if (strcasecmp(h->f[j].name, h->f[i].name) == 0)
				return bad(c, "%s: '%s' twice", where, h->f[i].name);
	}
	for (size_t k = 0; required[k]; k++)
		if (!get(h, required[k]))
			return bad(c, "%s: no '%s' field", where, required[k]);
	return 0;
}

/*
 * Decode an unstructured value (RFC 2047 6.2): encoded-words are decoded,
 * whitespace between two of them dropped, other text kept as it is;
 * leading and trailing whitespace go.  Every "=?" must start a well-formed
 * UTF-8 B encoded-word of at most 75 characters standing as a word; in an
 * address field (`addresses`) a word with an '@' is an address or a quoted
 * string, where "=?" is just text.
 */
static int decode_words(struct check *c, const char *v, const char *name, bool addresses,
			struct buf *out)
{
	const char *p = v;
	bool prev_ew = false, first = true;
	while (*p) {
		const char *ws = p;
		while (is_wsp(*p))
			p++;
		size_t wsn = (size_t)(p - ws);
		if (!*p)
			break;
		const char *w = p;
		while (*p && !is_wsp(*p))
			p++;
		size_t wn = (size_t)(p - w);
		const char *ew = NULL;
		for (size_t k = 0; k + 1 < wn && !(addresses && memchr(w, '@', wn)); k++)
			if (w[k] == '=' && w[k + 1] == '?') {
				ew = w + k;
				break;
			}
		bool is_ew = false;
		if (ew) {
			/* In an address field an encoded-word may only be a display-name word. */
			if (ew != w)
				return bad(c, "%s: '=?' inside a word: %.80s", name, w);
			static const char pre[] = "=?UTF-8?B?";
			if (wn > EW_MAX)
				return bad(c, "%s: an encoded-word of %zu characters", name, wn);
			if (wn < sizeof pre + 1 || strncmp(w, pre, sizeof pre - 1) != 0 ||
			    w[wn - 2] != '?' || w[wn - 1] != '=')
				return bad(c, "%s: malformed encoded-word %.80s", name, w);
			struct buf d = {0};
			const char *t = w + sizeof pre - 1;
			size_t tn = wn - (sizeof pre - 1) - 2;
			if (!b64_decode(t, tn, true, &d) || !valid_utf8((unsigned char *)d.d, d.n)) {
				free(d.d);
				return bad(c, "%s: encoded-word %.80s is not base64 of UTF-8", name, w);
			}
			if (!first && !prev_ew)
				put(out, ws, wsn);
			if (d.n)
				put(out, d.d, d.n);
			free(d.d);
			is_ew = true;
		} else {
			if (!first)
				put(out, ws, wsn);
			put(out, w, wn);
		}
		prev_ew = is_ew;
		first = false;
	}
	if (!out->d)
		put(out, "", 0);
	return 0;
}

static int check_top_header(struct check *c, const struct header *h)
{
	static const char *const allowed[] = {"Date", "From", "To", "Cc", "Reply-To", "Subject",
					      "Message-ID", "In-Reply-To", "References", "MIME-Version", "Auto-Submitted",
					      "X-Mailer", "Content-Type", NULL};
	static const char *const required[] = {"Date", "From", "Subject", "Message-ID",
					       "MIME-Version", "Content-Type", NULL};
	if (fields_ok(c, h, allowed, required, "message header") < 0)
		return -1;

	/* Words of every field are well-formed; the Subject is the one expected. */
	for (size_t i = 0; i < h->n; i++) {
		struct buf d = {0};
		const char *n = h->f[i].name;
		bool addresses = strcmp(n, "From") == 0 || strcmp(n, "To") == 0 ||
				 strcmp(n, "Cc") == 0 || strcmp(n, "Reply-To") == 0;
		int rc = decode_words(c, h->f[i].value, n, addresses, &d);
		if (rc == 0 && strcmp(h->f[i].name, "Subject") == 0 && c->e->subject &&
		    strcmp(d.d, c->e->subject) != 0)
			rc = bad(c, "Subject decodes to \"%.200s\", expected \"%.200s\"", d.d, c->e->subject);
		free(d.d);
		if (rc < 0)
			return rc;
	}

	char day[4], mon[4], zone[6];
	int dd, yy, hh, mi, ss;
	if (sscanf(get(h, "Date"), " %3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %5s", day, &dd, mon,
		   &yy, &hh, &mi, &ss, zone) != 8)
		return bad(c, "Date '%s' is not RFC 5322", get(h, "Date"));
	const char *mid = get(h, "Message-ID");
	size_t ml = strlen(mid);
	if (ml < 5 || mid[0] != ' ' || mid[1] != '<' || mid[ml - 1] != '>' || !strchr(mid, '@') ||
	    strchr(mid + 1, ' '))
		return bad(c, "Message-ID '%s'", mid);
	if (strcmp(get(h, "MIME-Version"), " 1.0") != 0)
		return bad(c, "MIME-Version '%s'", get(h, "MIME-Version"));

	/* Envelope recipients are in To or Cc; the Bcc is in no field. */
	struct buf shown = {0};
	put(&shown, "", 0);
	const char *to = get(h, "To"), *cc = get(h, "Cc");
	if (to)
		put(&shown, to, strlen(to));
	if (cc)
		put(&shown, cc, strlen(cc));
	int rc = 0;
	for (char *const *r = c->e->rcpt; r && *r && rc == 0; r++)
		if (!(c->e->bcc && strcasecmp(*r, c->e->bcc) == 0) && !strstr(shown.d, *r))
			rc = bad(c, "recipient %s is in neither To nor Cc", *r);
	free(shown.d);
	if (rc == 0 && c->e->bcc && !c->e->bcc_text_in_job)
		for (size_t i = 0; i < h->n && rc == 0; i++)
			if (strcasestr(h->f[i].value, c->e->bcc))
				rc = bad(c, "the Bcc %s shows in %s", c->e->bcc, h->f[i].name);
	return rc;
}

/* ' multipart/SUB; boundary="B"' -> SUB and B (B: 1-70 RFC 2046 bchars). */
static int content_multipart(struct check *c, const char *ct, char *sub, char *boundary)
{
	int n = 0;
	if (sscanf(ct, " multipart/%15[a-z]; boundary=\"%70[0-9A-Za-z'()+_,./:=? -]\"%n", sub,
		   boundary, &n) != 2 || ct[n] != '\0')
		return bad(c, "Content-Type '%s' is not a multipart with a boundary", ct);
	size_t bl = strlen(boundary);
	if (boundary[bl - 1] == ' ')
		return bad(c, "boundary ends with a space");
	return 0;
}

/* ----------------------------------------------------------- the bodies */

/*
 * The skeleton of the tag at s[0] == '<': the tag up to its '>' with every
 * quoted attribute value emptied ("<a href=\"x\" id='y'>" -> "<a href=\"\" id=''>").
 * Appended to `out`; returns the length of the tag in s, 0 when no '>' ends it.
 */
static size_t skeleton(const char *s, size_t n, struct buf *out)
{
	size_t i = 0;
	while (i < n && s[i] != '>') {
		char q = s[i];
		put(out, &s[i++], 1);
		if (q != '"' && q != '\'')
			continue;
		while (i < n && s[i] != q)
			i++;
		if (i == n)
			return 0;
		put(out, &s[i++], 1);
	}
	if (i == n)
		return 0;
	put(out, ">", 1);
	return i + 1;
}

/*
 * Every tag of the HTML must have the skeleton of a tag of its template, and
 * every '<' and '>' must belong to a tag: a value that got in unescaped adds
 * a tag (<script>, <img …>), an attribute (" onmouseover="), or a stray '<'
 * or '>' -- each shows.  Text between tags is not compared.
 */
static int html_tags_ok(struct check *c, const char *html, size_t n, const char *tpl)
{
	struct buf known = {0}; /* the template's skeletons, each ending in "\n" */
	put(&known, "\n", 1);
	for (const char *p = strchr(tpl, '<'); p; p = strchr(p + 1, '<')) {
		struct buf sk = {0};
		size_t len = skeleton(p, strlen(p), &sk);
		if (len) {
			put(&sk, "\n", 1);
			put(&known, sk.d, sk.n);
		}
		free(sk.d);
	}
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (html[i] == '>') {
			rc = bad(c, "the HTML has a '>' outside any tag at byte %zu: markup from a value", i);
		} else if (html[i] == '<') {
			struct buf sk = {0};
			put(&sk, "\n", 1);
			size_t len = skeleton(html + i, n - i, &sk);
			put(&sk, "\n", 1);
			if (!len)
				rc = bad(c, "the HTML has a '<' that no '>' closes at byte %zu: markup from a value", i);
			else if (!strstr(known.d, sk.d))
				rc = bad(c, "the HTML has a tag its template does not: %.*s: markup from a value",
					 (int)(sk.n - 2 > 200 ? 200 : sk.n - 2), sk.d + 1);
			else
				i += len - 1;
			free(sk.d);
		}
	}
	free(known.d);
	return rc;
}

/* Decode body lines [b, e) per `cte` into out, checking the encoding. */
static int decode_body(struct check *c, size_t b, size_t e, const char *cte, struct buf *out)
{
	bool qp = strcmp(cte, " quoted-printable") == 0;
	if (!qp && strcmp(cte, " base64") != 0)
		return bad(c, "Content-Transfer-Encoding '%s'", cte);
	put(out, "", 0);
	for (size_t i = b; i < e; i++) {
		const struct line *l = &c->lines[i];
		if (l->n > BODY_LINE_MAX)
			return bad(c, "body line %zu has %zu characters", i + 1, l->n);
		if (!qp) {
			if (!b64_decode(l->s, l->n, i + 1 == e, out))
				return bad(c, "line %zu is not base64: %.80s", i + 1, l->s);
			continue;
		}
		if (l->n && is_wsp(l->s[l->n - 1]))
			return bad(c, "line %zu: quoted-printable line ends with whitespace", i + 1);
		bool soft = false;
		for (size_t k = 0; k < l->n; k++) {
			char ch = l->s[k];
			if (ch == '=') {
				if (k + 1 == l->n) {
					soft = true;
					break;
				}
				int hi = k + 2 < l->n ? hexdigit(l->s[k + 1]) : -1;
				int lo = k + 2 < l->n ? hexdigit(l->s[k + 2]) : -1;
				if (hi < 0 || lo < 0)
					return bad(c, "line %zu: bad quoted-printable escape at %zu", i + 1, k);
				unsigned char byte = (unsigned char)(hi << 4 | lo);
				put(out, &byte, 1);
				k += 2;
				continue;
			}
			/* A run of literal characters in one go. */
			size_t r = k;
			while (r < l->n && l->s[r] != '=' && ((l->s[r] >= ' ' && l->s[r] <= '~') || l->s[r] == '\t'))
				r++;
			if (r == k)
				return bad(c, "line %zu: a raw 0x%02x in quoted-printable", i + 1,
					   (unsigned char)ch);
			put(out, l->s + k, r - k);
			k = r - 1;
		}
		if (!soft)
			put(out, "\r\n", 2);
	}
	return 0;
}

/* Decoded text: UTF-8, CRLF line ends only, no control but TAB. */
static int text_ok(struct check *c, const struct buf *t, const char *what)
{
	if (!valid_utf8((const unsigned char *)t->d, t->n))
		return bad(c, "%s is not valid UTF-8", what);
	for (size_t i = 0; i < t->n; i++) {
		unsigned char ch = (unsigned char)t->d[i];
		if (ch == '\r' && (i + 1 == t->n || t->d[i + 1] != '\n'))
			return bad(c, "%s: a bare CR at byte %zu", what, i);
		if (ch == '\n' && (i == 0 || t->d[i - 1] != '\r'))
			return bad(c, "%s: a bare LF at byte %zu", what, i);
		if ((ch < 0x20 && ch != '\t' && ch != '\r' && ch != '\n') || ch == 0x7F)
			return bad(c, "%s: control character 0x%02x at byte %zu", what, ch, i);
	}
	return 0;
}

static int check_multipart(struct check *c, size_t b, size_t e, const char *ct, int depth);

/* One part, lines [b, e).  `want`: "text/plain", "text/html",
 * "multipart/alternative" or "attachment". */
static int check_part(struct check *c, size_t b, size_t e, const char *want, int depth)
{
	static const char *const allowed[] = {"Content-Type", "Content-Transfer-Encoding",
					      "Content-Disposition", NULL};
	static const char *const required[] = {"Content-Type", NULL};
	struct header h = {0};
	size_t i = b;
	int rc = parse_header(c, &i, &h, want);
	if (rc == 0 && i > e)
		rc = bad(c, "%s: the part ends inside its header", want);
	if (rc == 0)
		rc = fields_ok(c, &h, allowed, required, want);
	const char *ct = rc == 0 ? get(&h, "Content-Type") : NULL;
	const char *cte = rc == 0 ? get(&h, "Content-Transfer-Encoding") : NULL;
	if (rc == 0 && strcmp(want, "multipart/alternative") == 0) {
		rc = check_multipart(c, i, e, ct, depth + 1);
	} else if (rc == 0 && strncmp(want, "text/", 5) == 0) {
		char expect_ct[64];
		snprintf(expect_ct, sizeof expect_ct, " %s; charset=utf-8", want);
		struct buf t = {0};
		if (strcmp(ct, expect_ct) != 0)
			rc = bad(c, "part '%s' where '%s' belongs", ct, want);
		else if (!cte)
			rc = bad(c, "%s without a Content-Transfer-Encoding", want);
		else if ((rc = decode_body(c, i, e, cte, &t)) == 0)
			rc = text_ok(c, &t, want);
		if (rc == 0 && strcmp(want, "text/html") == 0 && c->e->html_template)
			rc = html_tags_ok(c, t.d, t.n, c->e->html_template);
		free(t.d);
	} else if (rc == 0) { /* the attachment */
		const char *cd = get(&h, "Content-Disposition");
		char type[128], fname[128], fname2[128];
		int n = 0, n2 = 0;
		struct buf t = {0};
		if (sscanf(ct, " %100[!#$&^_.+0-9A-Za-z-]/%100[!#$&^_.+0-9A-Za-z-]; name=\"%100[^\"\\]\"%n", type,
			   type, fname, &n) != 3 || ct[n])
			rc = bad(c, "attachment Content-Type '%s'", ct);
		else if (!cd || sscanf(cd, " attachment; filename=\"%100[^\"\\]\"%n", fname2, &n2) != 1 ||
			 cd[n2] || strcmp(fname, fname2) != 0)
			rc = bad(c, "attachment Content-Disposition '%s'", cd ? cd : "(none)");
		else if (!cte || strcmp(cte, " base64") != 0)
			rc = bad(c, "attachment not base64");
		else if ((rc = decode_body(c, i, e, cte, &t)) == 0 &&
			 (long)t.n != c->e->attachment_len)
			rc = bad(c, "attachment of %zu bytes, expected %ld", t.n, c->e->attachment_len);
		c->saw_attachment = true;
		free(t.d);
	}
	header_free(&h);
	return rc;
}

/* A multipart body, lines [b, e), of Content-Type `ct`. */
static int check_multipart(struct check *c, size_t b, size_t e, const char *ct, int depth)
{
	char sub[16], boundary[72];
	if (depth > 2)
		return bad(c, "multipart nested %d deep", depth);
	if (content_multipart(c, ct, sub, boundary) < 0)
		return -1;
	size_t bl = strlen(boundary);
	/* Delimiters: "--B" opens a part, "--B--" closes; no other line starts with "--B". */
	size_t delim[8], nd = 0, close = 0;
	for (size_t i = b; i < e; i++) {
		const struct line *l = &c->lines[i];
		if (l->n < bl + 2 || l->s[0] != '-' || l->s[1] != '-' || memcmp(l->s + 2, boundary, bl) != 0)
			continue;
		if (close)
			return bad(c, "line %zu: boundary after the closing one", i + 1);
		if (l->n == bl + 2) {
			if (nd == sizeof delim / sizeof *delim)
				return bad(c, "too many parts");
			delim[nd++] = i;
		} else if (l->n == bl + 4 && l->s[bl + 2] == '-' && l->s[bl + 3] == '-') {
			close = i;
		} else {
			return bad(c, "line %zu starts with the boundary: %.80s", i + 1, l->s);
		}
	}
	if (!close || nd == 0)
		return bad(c, "multipart/%s: no parts or no closing boundary", sub);
	if (close + 1 != e)
		return bad(c, "multipart/%s: %zu lines after the closing boundary", sub, e - close - 1);

	static const char *const alt[] = {"text/plain", "text/html"};
	static const char *const mixed[] = {"multipart/alternative", "attachment"};
	const char *const *want;
	if (strcmp(sub, "alternative") == 0)
		want = alt;
	else if (strcmp(sub, "mixed") == 0 && depth == 0)
		want = mixed;
	else
		return bad(c, "multipart/%s at depth %d", sub, depth);
	if (nd != 2)
		return bad(c, "multipart/%s of %zu parts, expected 2", sub, nd);
	for (size_t k = 0; k < nd; k++) {
		size_t end = k + 1 < nd ? delim[k + 1] : close;
		if (check_part(c, delim[k] + 1, end, want[k], depth) < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ the whole */

int mail_check(const char *msg, size_t len, const struct mail_expect *e, char *why, size_t whysz)
{
	struct check c = {e, why, whysz, NULL, 0, false};
	if (len < 2 || msg[len - 2] != '\r' || msg[len - 1] != '\n')
		return bad(&c, "the message does not end with CRLF");
	size_t cap = 64;
	c.lines = malloc(cap * sizeof *c.lines);
	if (!c.lines)
		abort();
	size_t start = 0;
	int rc = 0;
	for (size_t i = 0; i < len && rc == 0; i++) {
		unsigned char ch = (unsigned char)msg[i];
		if (ch == 0 || ch >= 0x80)
			rc = bad(&c, "line %zu: byte 0x%02x (the message is 7-bit)", c.nlines + 1, ch);
		else if (ch == '\r' && msg[i + 1] != '\n')
			rc = bad(&c, "line %zu: a bare CR", c.nlines + 1);
		else if (ch == '\n' && (i == 0 || msg[i - 1] != '\r'))
			rc = bad(&c, "line %zu: a bare LF", c.nlines + 1);
		else if (ch == '\n') {
			size_t n = i - 1 - start;
			if (n > LINE_MAX_RFC)
				rc = bad(&c, "line %zu has %zu octets (at most 998)", c.nlines + 1, n);
			else if (n >= 5 && memcmp(msg + start, "From ", 5) == 0)
				rc = bad(&c, "line %zu starts with \"From \"", c.nlines + 1);
			else if (n >= 1 && msg[start] == '.')
				rc = bad(&c, "line %zu starts with '.'", c.nlines + 1);
			if (c.nlines == cap) {
				struct line *v = realloc(c.lines, (cap *= 2) * sizeof *v);
				if (!v)
					abort();
				c.lines = v;
			}
			c.lines[c.nlines++] = (struct line){msg + start, n};
			start = i + 1;
		}
	}
	struct header h = {0};
	size_t body = 0;
	if (rc == 0)
		rc = parse_header(&c, &body, &h, "message header");
	if (rc == 0)
		rc = check_top_header(&c, &h);
	if (rc == 0)
		rc = check_multipart(&c, body, c.nlines, get(&h, "Content-Type"), 0);
	if (rc == 0 && c.saw_attachment != (e->attachment_len >= 0))
		rc = bad(&c, e->attachment_len >= 0 ? "no attachment" : "an attachment nobody asked for");
	header_free(&h);
	free(c.lines);
	return rc;
}
