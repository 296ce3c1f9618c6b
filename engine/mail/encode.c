/* UTF-8 clean-up, base64 and quoted-printable; see encode.h. */
#include "encode.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/*
 * Decode one UTF-8 sequence; return its length, or 0 when it is invalid
 * (bad lead or continuation byte, overlong form, surrogate, > U+10FFFF, cut
 * short).  Rejecting overlong forms matters: an overlong "\xC0\x8A" would
 * otherwise smuggle a LF past the control-character filter.
 */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t v, min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xC2 && c <= 0xDF) {
		n = 2, v = c & 0x1F, min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3, v = c & 0x0F, min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return n;
}

size_t utf8_seq_len(unsigned char c)
{
	if (c < 0xC0)
		return 1;
	if (c < 0xE0)
		return 2;
	if (c < 0xF0)
		return 3;
	return 4;
}

bool is_plain_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x7F || (c < 0x20 && c != '\t' && c != '\r' && c != '\n'))
			return false;
	}
	return true;
}

void text_clean_to(mbuf *out, const char *in, size_t len, enum text_clean_mode mode)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0;
	while (i < len) {
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);
		if (n == 0) {
			mbuf_add(out, "\xEF\xBF\xBD", 3);
			i++;
			continue;
		}
		bool control = cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
		if (cp == 0 || (control && mode == CLEAN_HEADER && cp != '\t')) {
			/* dropped */
		} else if (cp == '\t' && mode == CLEAN_HEADER) {
			mbuf_putc(out, ' ');
		} else if (control && mode == CLEAN_BODY && cp != '\t' && cp != '\r' && cp != '\n') {
			/* dropped */
		} else {
			mbuf_add(out, s + i, n);
		}
		i += n;
	}
}

char *text_clean(const char *in, size_t len, enum text_clean_mode mode)
{
	mbuf b = MBUF_INIT;
	text_clean_to(&b, in, len, mode);
	return mbuf_take(&b, NULL);
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void b64_encode(mbuf *out, const void *data, size_t len, size_t line)
{
	const unsigned char *p = data;
	size_t col = 0;
	char q[4];
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		q[0] = B64[(v >> 18) & 63];
		q[1] = B64[(v >> 12) & 63];
		q[2] = i + 1 < len ? B64[(v >> 6) & 63] : '=';
		q[3] = i + 2 < len ? B64[v & 63] : '=';
		mbuf_add(out, q, 4);
		col += 4;
		if (line && col >= line) {
			mbuf_add(out, "\r\n", 2);
			col = 0;
		}
	}
	if (line && col)
		mbuf_add(out, "\r\n", 2);
}

#define QP_MAX 76 /* characters per encoded line, the soft-break '=' included */

/* Encode one line (no line end in it). */
static void qp_line(mbuf *out, const unsigned char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;
	for (size_t i = 0; i < len; i++) {
		bool last = i + 1 == len;
		for (int pass = 0; pass < 2; pass++) {
			unsigned char c = s[i];
			bool enc = c == '=' || c > 126 || (c < 32 && c != '\t') ||
				   ((c == ' ' || c == '\t') && last) ||
				   (col == 0 && c == '.') ||
				   (col == 0 && c == 'F' && len - i >= 5 && !memcmp(s + i, "From ", 5));
			size_t w = enc ? 3 : 1;
			/* Room for the soft-break '=' unless this is the line's last character. */
			size_t limit = last ? QP_MAX : QP_MAX - 1;
			if (col + w > limit && pass == 0) {
				mbuf_add(out, "=\r\n", 3);
				col = 0;
				continue; /* re-decide: line-start rules may now apply */
			}
			if (enc) {
				char e[3] = {'=', hex[c >> 4], hex[c & 15]};
				mbuf_add(out, e, 3);
			} else {
				mbuf_putc(out, (char)c);
			}
			col += w;
			break;
		}
	}
	mbuf_add(out, "\r\n", 2);
}

void qp_encode(mbuf *out, const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '\r' && s[i] != '\n')
			continue;
		qp_line(out, s + start, i - start);
		if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
			i++;
		start = i + 1;
	}
	if (start < len)
		qp_line(out, s + start, len - start);
}

void text_for_log(const char *in, char *out, size_t size)
{
	if (!size)
		return;
	size_t o = 0;
	const char *more = "...";
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		char tmp[5];
		size_t n;
		if (*p == '\r')
			n = (size_t)snprintf(tmp, sizeof tmp, "\\r");
		else if (*p == '\n')
			n = (size_t)snprintf(tmp, sizeof tmp, "\\n");
		else if (*p < 0x20 || *p >= 0x7F || *p == '\\')
			n = (size_t)snprintf(tmp, sizeof tmp, "\\x%02X", *p);
		else
			tmp[0] = (char)*p, n = 1;
		if (o + n + strlen(more) + 1 > size) {
			size_t m = strlen(more) + 1 <= size - o ? strlen(more) : size - o - 1;
			memcpy(out + o, more, m);
			o += m;
			break;
		}
		memcpy(out + o, tmp, n);
		o += n;
	}
	out[o] = '\0';
}
