/*
 * libFuzzer: the template renderer (engine/mail/template.c).
 *
 * Input: a mode byte (modulo 4: 0 text, 1 HTML, 2 header, 3 the built-in text
 * and HTML templates), then the template source (not with mode 3), then the
 * values of the mail variables in the order of enum mail_var (id, caller,
 * dialed, recipient_name, …), each part separated by a NUL byte.
 *
 * Properties, besides no crash, leak or UB:
 *  - HTML: no value adds a '<', '>', '"' or '\'' to the page: the output has
 *    exactly as many of each as the same render with those characters of
 *    the values made 'x' (and never more than the template), so whatever
 *    the caller id or transcript says stays text;
 *  - header: no CR, LF or any other control character in the result;
 *  - every mode: the result is valid UTF-8 without NUL, its length is what
 *    tpl_render() says and is bounded by the template and the values, and
 *    rendering again gives the same bytes;
 *  - a template that does not parse gets a message saying where ("line N: …").
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/default_templates.h"
#include "mail/encode.h"
#include "mail/template.h"
#include "mail/vars.h"
#include "fuzz.h"

/* Strict UTF-8 (no overlong forms, surrogates or NUL): what a mail reader
 * that checks charset=utf-8 accepts.  Independent of encode.c on purpose. */
static bool valid_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		size_t len;
		unsigned cp, min;
		if (c == 0)
			return false;
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

static size_t count(const char *s, size_t n, char c)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += s[i] == c;
	return k;
}

/* Any control character (C0, DEL, C1 as UTF-8 U+0080..U+009F)? */
static bool has_control(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] == 0x7F)
			return true;
		if (s[i] == 0xC2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9F)
			return true;
	}
	return false;
}

static void check_render(const tpl *t, enum tpl_mode mode, const char *src, size_t srclen,
			 const char *const *values, size_t nvalues)
{
	size_t len = (size_t)-1;
	char *out = tpl_render(t, values, &len);
	CHECK(out != NULL, "render failed (out of memory?)");
	CHECK(len == strlen(out), "length %zu, strlen %zu", len, strlen(out));
	CHECK(valid_utf8((const unsigned char *)out, len), "output is not valid UTF-8");

	/* The source may grow when invalid bytes become U+FFFD (3 bytes); each
	 * variable tag ("{{x}}", 5 bytes at least) inserts at most one value,
	 * escaped (6 bytes for one at most). */
	size_t maxval = 0;
	for (size_t i = 0; i < nvalues; i++)
		if (values[i] && strlen(values[i]) > maxval)
			maxval = strlen(values[i]);
	size_t bound = 3 * srclen + (srclen / 5 + 1) * 6 * maxval;
	CHECK(len <= bound, "%zu bytes out of a %zu-byte template and values of %zu", len, srclen,
	      maxval);

	if (mode == TPL_HTML) {
		/* The same render with every special character of the values made
		 * an 'x' (same sections: no value turns empty) has exactly as many
		 * of each: they all come from the template. */
		static const char special[] = "<>\"'";
		char *vx[VAR_COUNT] = {0};
		for (size_t i = 0; i < nvalues; i++) {
			vx[i] = strdup(values[i] ? values[i] : "");
			CHECK(vx[i], "out of memory");
			for (char *q = vx[i]; *q; q++)
				if (strchr(special, *q))
					*q = 'x';
		}
		size_t lx;
		char *outx = tpl_render(t, (const char *const *)vx, &lx);
		CHECK(outx, "out of memory");
		for (const char *c = special; *c; c++) {
			CHECK(count(out, len, *c) == count(outx, lx, *c),
			      "%zu '%c' in the output, %zu from the template: a value added markup",
			      count(out, len, *c), *c, count(outx, lx, *c));
			CHECK(count(out, len, *c) <= count(src, srclen, *c),
			      "%zu '%c' in the output, %zu in the template", count(out, len, *c), *c,
			      count(src, srclen, *c));
		}
		free(outx);
		for (size_t i = 0; i < nvalues; i++)
			free(vx[i]);
	}
	if (mode == TPL_HEADER)
		CHECK(!has_control((const unsigned char *)out, len),
		      "a control character in a header value");

	size_t len2;
	char *again = tpl_render(t, values, &len2);
	CHECK(again && len2 == len && memcmp(again, out, len) == 0, "two renders differ");
	free(again);
	free(out);
}

/* Split [p, end) at NUL bytes into at most `max` parts; returns how many. */
static size_t split(const char *p, const char *end, const char **part, size_t *plen, size_t max)
{
	size_t n = 0;
	while (n < max) {
		const char *z = memchr(p, '\0', (size_t)(end - p));
		part[n] = p;
		plen[n] = (size_t)((z ? z : end) - p);
		n++;
		if (!z)
			break;
		p = z + 1;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned mode_byte = data[0];
	const char *p = (const char *)data + 1, *end = (const char *)data + size;

	/* part[0] the template, part[1 + i] the value of variable i. */
	const char *part[1 + VAR_COUNT];
	size_t plen[1 + VAR_COUNT];
	bool builtin = mode_byte % 4 == 3;
	size_t nparts = builtin ? split(p, end, part + 1, plen + 1, VAR_COUNT) + 1
				: split(p, end, part, plen, 1 + VAR_COUNT);
	/* The renderer takes any valid UTF-8 (controls, CR, LF included: its
	 * header mode must drop them itself).  The built-in templates get values
	 * cleaned as vars.c cleans them: body text for the transcript, one-line
	 * fields for the others. */
	char *values[VAR_COUNT] = {0};
	for (size_t i = 0; i < VAR_COUNT; i++) {
		size_t k = i + 1;
		bool body = i == VAR_TRANSCRIPT || i == VAR_TRANSCRIPT_PREVIEW;
		enum text_clean_mode cm = !builtin ? CLEAN_UTF8 : body ? CLEAN_BODY : CLEAN_HEADER;
		values[i] = k < nparts ? text_clean(part[k], plen[k], cm) : strdup("");
		CHECK(values[i], "out of memory");
	}

	if (builtin) {
		/* The shipped templates with the job's values, in both body modes. */
		static const struct {
			const char *src;
			enum tpl_mode mode;
		} shipped[] = {{default_template_text, TPL_TEXT}, {default_template_html, TPL_HTML}};
		for (size_t i = 0; i < 2; i++) {
			char err[256];
			tpl *t = tpl_parse(shipped[i].src, strlen(shipped[i].src), shipped[i].mode,
					   mail_var_names, VAR_COUNT, err, sizeof err);
			CHECK(t, "a built-in template does not parse: %s", err);
			check_render(t, shipped[i].mode, shipped[i].src, strlen(shipped[i].src),
				     (const char *const *)values, VAR_COUNT);
			tpl_free(t);
		}
	} else {
		enum tpl_mode mode = mode_byte % 4 == 0 ? TPL_TEXT : mode_byte % 4 == 1 ? TPL_HTML : TPL_HEADER;
		char err[256];
		memset(err, 0, sizeof err);
		tpl *t = tpl_parse(part[0], plen[0], mode, mail_var_names, VAR_COUNT, err, sizeof err);
		if (!t) {
			CHECK(strncmp(err, "line ", 5) == 0 || strstr(err, "section") ||
				      strstr(err, "out of memory"),
			      "refusal without a place: \"%s\"", err);
		} else {
			check_render(t, mode, part[0], plen[0], (const char *const *)values, VAR_COUNT);
			tpl_free(t);
		}
	}
	for (size_t i = 0; i < VAR_COUNT; i++)
		free(values[i]);
	return 0;
}
