/* SMS segment counting and fitting; see segments.h. */
#include "segments.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The GSM 03.38 default alphabet above ASCII, and the ASCII it lacks. */
static const unsigned gsm_extra[] = {
	0x00A3, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, 0x00F2, 0x00C7, 0x00D8, 0x00F8, 0x00C5,
	0x00E5, 0x0394, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8, 0x03A3, 0x0398, 0x039E,
	0x00C6, 0x00E6, 0x00DF, 0x00C9, 0x00A4, 0x00A1, 0x00C4, 0x00D6, 0x00D1, 0x00DC, 0x00A7,
	0x00BF, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0,
};

bool sms_gsm7(unsigned c, int *septets)
{
	*septets = 1;
	if (c == '\n' || c == '\r')
		return true;
	if (c == '\f' || c == '^' || c == '{' || c == '}' || c == '\\' || c == '[' || c == '~' ||
	    c == ']' || c == '|' || c == 0x20AC) {
		*septets = 2;
		return true;
	}
	if (c >= 0x20 && c < 0x7F)
		return c != '`'; /* the only printable ASCII character GSM-7 lacks */
	for (size_t i = 0; i < sizeof gsm_extra / sizeof gsm_extra[0]; i++)
		if (gsm_extra[i] == c)
			return true;
	return false;
}

/* Decode one UTF-8 character at s; its length, or 0 when invalid. */
static size_t utf8_next(const unsigned char *s, unsigned *cp)
{
	unsigned c = s[0];
	size_t n;
	unsigned min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xC2 && c <= 0xDF) {
		n = 2, min = 0x80, c &= 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3, min = 0x800, c &= 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4, min = 0x10000, c &= 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}

int sms_count(const char *s, struct sms_count *out)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	bool gsm = true;
	size_t chars = 0;
	unsigned cp;
	int sep;
	for (size_t i = 0, n; p[i]; i += n) {
		if (!(n = utf8_next(p + i, &cp)))
			return -1;
		chars++;
		if (gsm && !sms_gsm7(cp, &sep))
			gsm = false;
	}
	/* Second pass: units, and segments with nothing split across a boundary. */
	size_t units = 0, segs = 1, in_seg = 0;
	size_t per = gsm ? 153 : 67;
	for (size_t i = 0, n; p[i]; i += n) {
		n = utf8_next(p + i, &cp);
		size_t w = gsm ? (sms_gsm7(cp, &sep), (size_t)sep) : (cp > 0xFFFF ? 2 : 1);
		units += w;
		if (in_seg + w > per) {
			segs++;
			in_seg = 0;
		}
		in_seg += w;
	}
	out->encoding = gsm ? SMS_GSM7 : SMS_UCS2;
	out->units = units;
	out->chars = chars;
	if (units == 0)
		out->segments = 0;
	else if (units <= (gsm ? 160u : 70u))
		out->segments = 1;
	else
		out->segments = segs;
	return 0;
}

/* ----------------------------------------------------------------- fitting */

struct parts {
	const char *head, *text, *tail, *sep;
	size_t max;
};

/* head SEP text[0..n) ELLIPSIS SEP tail, malloc()ed. */
static char *compose(const struct parts *p, size_t n, const char *ellipsis)
{
	size_t hl = strlen(p->head), tl = strlen(p->tail), sl = strlen(p->sep), el = strlen(ellipsis);
	char *b = malloc(hl + sl + n + el + sl + tl + 1);
	if (!b)
		return NULL;
	size_t o = 0;
	memcpy(b + o, p->head, hl), o += hl;
	if (n + el && hl)
		memcpy(b + o, p->sep, sl), o += sl;
	memcpy(b + o, p->text, n), o += n;
	memcpy(b + o, ellipsis, el), o += el;
	if (tl && (o > 0))
		memcpy(b + o, p->sep, sl), o += sl;
	memcpy(b + o, p->tail, tl), o += tl;
	b[o] = '\0';
	return b;
}

/* The body with text cut to n bytes (n < strlen(text): with an ellipsis), if
 * it fits; NULL otherwise (or out of memory: *oom). */
static char *try_len(const struct parts *p, size_t n, bool *oom)
{
	bool cut = n > 0 && n < strlen(p->text);
	char *plain = compose(p, n, "");
	struct sms_count c;
	if (!plain) {
		*oom = true;
		return NULL;
	}
	if (!cut) {
		if (sms_count(plain, &c) == 0 && c.segments <= p->max)
			return plain;
		free(plain);
		return NULL;
	}
	bool gsm = sms_count(plain, &c) == 0 && c.encoding == SMS_GSM7;
	free(plain);
	char *b = compose(p, n, gsm ? "..." : "\xE2\x80\xA6");
	if (!b) {
		*oom = true;
		return NULL;
	}
	if (sms_count(b, &c) == 0 && c.segments <= p->max)
		return b;
	free(b);
	return NULL;
}

char *sms_fit(const char *head, const char *text, const char *tail, const char *sep,
	      size_t max_segments, bool *cut)
{
	struct parts p = {head ? head : "", text ? text : "", tail ? tail : "", sep ? sep : "",
			  max_segments};
	bool oom = false;
	*cut = false;
	size_t len = strlen(p.text);
	char *whole = try_len(&p, len, &oom);
	if (whole || oom) {
		errno = oom ? ENOMEM : 0;
		return whole;
	}
	*cut = true;
	/* No more than max_segments * 160 characters of it can fit in any case:
	 * the search starts there, so a long transcript costs no more than a
	 * short one. */
	size_t chars = 0, lim = 0;
	while (lim < len && chars <= max_segments * 160) {
		lim++;
		while (lim < len && ((unsigned char)p.text[lim] & 0xC0) == 0x80)
			lim++;
		chars++;
	}
	len = lim;
	/* Word ends (a space follows), from the longest; the body only grows
	 * with the text kept, so the first that fits is the longest that fits. */
	size_t n = len;
	while (n > 0) {
		while (n > 0 && p.text[n - 1] != ' ')
			n--;
		while (n > 0 && p.text[n - 1] == ' ')
			n--;
		if (n == 0)
			break;
		char *b = try_len(&p, n, &oom);
		if (b || oom)
			return b;
	}
	/* Not even the first word: cut it between two characters. */
	size_t first = strcspn(p.text, " ");
	if (first > len)
		first = len;
	for (n = first; n > 0; n--) {
		if (((unsigned char)p.text[n] & 0xC0) == 0x80)
			continue; /* inside a character */
		char *b = try_len(&p, n, &oom);
		if (b || oom)
			return b;
	}
	char *b = try_len(&p, 0, &oom);
	if (!b && oom)
		errno = ENOMEM;
	return b;
}
