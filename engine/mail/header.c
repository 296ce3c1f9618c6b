/* Header folding and encoded-words; see header.h. */
#include "header.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"

#define LINE_MAX_SOFT 76   /* where we fold */
#define EW_MAX 75          /* RFC 2047: an encoded-word is at most 75 characters */
#define EW_OVERHEAD 12     /* "=?UTF-8?B?" + "?=" */
#define WORD_MAX_PLAIN 70  /* longer ASCII words are encoded so lines fold */

typedef struct hdr {
	mbuf *b;
	size_t col;   /* characters on the current line */
	size_t start; /* col right after "Name:" */
} hdr;

static void hdr_begin(hdr *h, mbuf *b, const char *name)
{
	h->b = b;
	mbuf_puts(b, name);
	mbuf_putc(b, ':');
	h->col = h->start = strlen(name) + 1;
}

/* Put a token, preceded by one space or by a fold when it would not fit. */
static void hdr_token(hdr *h, const char *s, size_t n)
{
	if (h->col > h->start && h->col + 1 + n > LINE_MAX_SOFT) {
		mbuf_add(h->b, "\r\n", 2);
		h->col = 0;
	}
	mbuf_putc(h->b, ' ');
	mbuf_add(h->b, s, n);
	h->col += 1 + n;
}

/* Glue text to the previous token (no space, no fold): the ',' of a list. */
static void hdr_glue(hdr *h, const char *s)
{
	mbuf_puts(h->b, s);
	h->col += strlen(s);
}

static void hdr_end(hdr *h)
{
	mbuf_add(h->b, "\r\n", 2);
}

/* The whole of `s` as encoded-words, each one a token. */
static void hdr_encoded(hdr *h, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t room = h->col + 1 < LINE_MAX_SOFT ? LINE_MAX_SOFT - h->col - 1 : 0;
		if (room > EW_MAX)
			room = EW_MAX;
		size_t max_bytes = room > EW_OVERHEAD ? (room - EW_OVERHEAD) / 4 * 3 : 0;
		size_t take = 0;
		while (i + take < n) {
			size_t c = utf8_seq_len((unsigned char)s[i + take]);
			if (take + c > max_bytes)
				break;
			take += c;
		}
		/*
		 * Prefer a split with no space on either side: RFC 2047 decoders
		 * join adjacent words exactly, but some (Python's address parser)
		 * double a space that begins or ends an encoded-word in a phrase.
		 */
		if (i + take < n) {
			size_t k = take;
			while (k > 0 && (s[i + k - 1] == ' ' || s[i + k] == ' ' ||
					 ((unsigned char)s[i + k] & 0xC0) == 0x80))
				k--;
			if (k > 0)
				take = k;
		}
		if (take == 0 && h->col > 0) {
			/* Not even one character fits here: go on on a fresh line. */
			mbuf_add(h->b, "\r\n", 2);
			h->col = h->start = 0;
			continue;
		}
		if (take == 0) /* a fresh line holds 45 bytes: unreachable */
			take = utf8_seq_len((unsigned char)s[i]);
		if (i + take > n)
			take = n - i;
		mbuf tmp = MBUF_INIT;
		mbuf_puts(&tmp, "=?UTF-8?B?");
		b64_encode(&tmp, s + i, take, 0);
		mbuf_puts(&tmp, "?=");
		if (tmp.oom)
			h->b->oom = true;
		else
			hdr_token(h, tmp.data, tmp.len);
		mbuf_free(&tmp);
		i += take;
	}
}

void hdr_simple(mbuf *out, const char *name, const char *value)
{
	mbuf_puts(out, name);
	mbuf_puts(out, ": ");
	mbuf_puts(out, value);
	mbuf_add(out, "\r\n", 2);
}

/* Printable ASCII, no "=?", no word too long to fold. */
static bool plain_ok(const char *s)
{
	size_t word = 0;
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c >= 0x7F)
			return false;
		if (c == '=' && p[1] == '?')
			return false;
		word = c == ' ' ? 0 : word + 1;
		if (word > WORD_MAX_PLAIN)
			return false;
	}
	return true;
}

void hdr_unstructured(mbuf *out, const char *name, const char *value)
{
	while (*value == ' ')
		value++;
	size_t n = strlen(value);
	while (n && value[n - 1] == ' ')
		n--;
	hdr h;
	hdr_begin(&h, out, name);
	char *v = strndup(value, n);
	if (!v) {
		out->oom = true;
		return;
	}
	if (!plain_ok(v)) {
		hdr_encoded(&h, v, n);
	} else if (n) {
		/* Segments are "spaces + word"; a fold goes before the spaces, so
		 * unfolding (deleting the CRLF) gives back the text exactly. */
		size_t i = 0;
		mbuf_putc(out, ' ');
		h.col++;
		while (i < n) {
			size_t j = i;
			while (j < n && v[j] == ' ')
				j++;
			while (j < n && v[j] != ' ')
				j++;
			if (i > 0 && h.col + (j - i) > LINE_MAX_SOFT) {
				mbuf_add(out, "\r\n", 2);
				h.col = 0;
			}
			mbuf_add(out, v + i, j - i);
			h.col += j - i;
			i = j;
		}
	}
	free(v);
	hdr_end(&h);
}

static bool is_atext_or_space(unsigned char c)
{
	return c == ' ' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static bool atext_word(const char *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (w[i] == ' ' || !is_atext_or_space((unsigned char)w[i]))
			return false;
	return true;
}

/* Printable ASCII (a quoted-string can carry it) without "=?". */
static bool ascii_word(const char *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)w[i];
		if (c < 0x20 || c >= 0x7F || (c == '=' && i + 1 < n && w[i + 1] == '?'))
			return false;
	}
	return n <= WORD_MAX_PLAIN;
}

static void hdr_quoted(hdr *h, const char *s, size_t n)
{
	mbuf q = MBUF_INIT;
	mbuf_putc(&q, '"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			mbuf_putc(&q, '\\');
		mbuf_putc(&q, s[i]);
	}
	mbuf_putc(&q, '"');
	if (q.oom)
		h->b->oom = true;
	else
		hdr_token(h, q.data, q.len);
	mbuf_free(&q);
}

/*
 * A display name, word by word: runs of ASCII words as atoms or one
 * quoted-string, runs of other words as encoded-words.  Encoded-words are
 * kept apart by plain words where the name allows it: RFC 2047 drops the
 * space between two adjacent encoded-words, but some parsers (Python's
 * address parser) keep it, so adjacent ones appear only for a run of
 * non-ASCII text too long for one.  Spaces between words collapse to one,
 * as phrase syntax implies.
 */
static void hdr_phrase(hdr *h, const char *name)
{
	const char *p = name;
	while (*p) {
		p += strspn(p, " ");
		if (!*p)
			break;
		/* A run of words of one kind: [p, e). */
		bool enc = !ascii_word(p, strcspn(p, " "));
		const char *e = p, *q = p;
		bool atoms = true;
		while (*q) {
			size_t w = strcspn(q, " ");
			if (!ascii_word(q, w) != enc)
				break;
			atoms = atoms && atext_word(q, w);
			e = q + w;
			q = e + strspn(e, " ");
		}
		size_t n = (size_t)(e - p);
		if (enc) {
			hdr_encoded(h, p, n);
		} else if (atoms || n > WORD_MAX_PLAIN) {
			for (const char *r = p; r < e;) {
				size_t w = strcspn(r, " ");
				if (atext_word(r, w))
					hdr_token(h, r, w);
				else
					hdr_quoted(h, r, w);
				r += w;
				r += strspn(r, " ");
			}
		} else {
			hdr_quoted(h, p, n);
		}
		p = e;
	}
}

void hdr_addresses(mbuf *out, const char *name, const mail_addrs *list)
{
	hdr h;
	hdr_begin(&h, out, name);
	for (size_t i = 0; i < list->n; i++) {
		const mail_addr *a = &list->v[i];
		if (i)
			hdr_glue(&h, ",");
		if (a->name && *a->name) {
			hdr_phrase(&h, a->name);
			mbuf t = MBUF_INIT;
			mbuf_printf(&t, "<%s>", a->addr);
			if (t.oom)
				out->oom = true;
			else
				hdr_token(&h, t.data, t.len);
			mbuf_free(&t);
		} else {
			hdr_token(&h, a->addr, strlen(a->addr));
		}
	}
	hdr_end(&h);
}
