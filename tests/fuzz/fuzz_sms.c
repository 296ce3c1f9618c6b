/*
 * libFuzzer: notify-sms's segment counter and body fitter
 * (plugins/notify-sms/segments.c) on any transcript, caller id and link a job
 * can carry (all outside input: the speech engine's text, the event's
 * attributes).
 *
 * Input: a byte for max_segments (1 + byte % 10), then head, text and tail
 * separated by NUL bytes (missing parts are empty).
 * Properties, besides no crash, leak or UB:
 *  - sms_count() refuses exactly the parts that are not valid UTF-8 (an
 *    independent validator decides); for the others: no segments iff empty,
 *    one iff within 160 septets / 70 units, else at least units/153 (67) and
 *    no more than units/152 (66) + 1 (a split pair costs at most one unit a
 *    segment); units >= characters;
 *  - sms_fit() on valid parts: NULL only when head and tail alone (no text)
 *    need more than max_segments; otherwise valid UTF-8 within
 *    max_segments, starting with head and ending with tail, holding the whole
 *    text when it says it did not cut, else a prefix of it then "..." or "…".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/notify-sms/segments.h"
#include "fuzz.h"

static bool utf8_ok(const unsigned char *s)
{
	for (size_t i = 0; s[i];) {
		unsigned c = s[i];
		size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
			   : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
		if (!len)
			return false;
		for (size_t k = 1; k < len; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
		if (len == 3 && ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] >= 0xA0)))
			return false; /* overlong, surrogate */
		if (len == 4 && ((c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] >= 0x90)))
			return false; /* overlong, beyond U+10FFFF */
		i += len;
	}
	return true;
}

static void check_count(const char *s)
{
	struct sms_count c;
	int rc = sms_count(s, &c);
	CHECK((rc == 0) == utf8_ok((const unsigned char *)s), "rc %d for %zu bytes", rc, strlen(s));
	if (rc)
		return;
	bool gsm = c.encoding == SMS_GSM7;
	size_t single = gsm ? 160 : 70, per = gsm ? 153 : 67;
	CHECK((c.segments == 0) == (*s == '\0'), "segments %zu", c.segments);
	CHECK(c.units >= c.chars && c.units <= 2 * c.chars, "units %zu chars %zu", c.units, c.chars);
	if (c.units && c.units <= single)
		CHECK(c.segments == 1, "%zu units in %zu segments", c.units, c.segments);
	if (c.units > single) {
		CHECK(c.segments >= (c.units + per - 1) / per, "%zu units, %zu segments", c.units,
		      c.segments);
		CHECK(c.segments <= c.units / (per - 1) + 1, "%zu units, %zu segments", c.units,
		      c.segments);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t max = 1 + data[0] % 10;
	char *buf = malloc(size + 2);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = buf[size] = '\0';
	const char *head = buf, *text = "", *tail = "";
	char *nul = memchr(buf, '\0', size - 1);
	if (nul && (size_t)(nul - buf) < size - 1) {
		text = nul + 1;
		char *nul2 = memchr(text, '\0', (size_t)(buf + size - 1 - text));
		if (nul2 && nul2 < buf + size - 1)
			tail = nul2 + 1;
	}
	check_count(head);
	check_count(text);
	check_count(tail);
	if (utf8_ok((const unsigned char *)head) && utf8_ok((const unsigned char *)text) &&
	    utf8_ok((const unsigned char *)tail)) {
		bool cut;
		char *b = sms_fit(head, text, tail, "\n", max, &cut);
		if (!b) {
			size_t hl = strlen(head), tl = strlen(tail);
			char *bare = malloc(hl + tl + 2);
			CHECK(bare != NULL, "out of memory");
			memcpy(bare, head, hl);
			size_t o = hl;
			if (hl && tl)
				bare[o++] = '\n';
			memcpy(bare + o, tail, tl + 1);
			struct sms_count c;
			CHECK(sms_count(bare, &c) == 0 && c.segments > max,
			      "refused though head and tail take %zu of %zu segments", c.segments, max);
			free(bare);
		} else {
			struct sms_count c;
			CHECK(sms_count(b, &c) == 0, "the body is not valid UTF-8");
			CHECK(c.segments <= max, "%zu segments of %zu", c.segments, max);
			size_t hl = strlen(head), tl = strlen(tail), bl = strlen(b);
			CHECK(strncmp(b, head, hl) == 0, "does not start with the head");
			CHECK(bl >= tl && strcmp(b + bl - tl, tail) == 0, "does not end with the tail");
			/* head [\n] MIDDLE [\n] tail: the middle alone. */
			const char *mid = b + hl;
			size_t ml = bl - hl - tl;
			if (ml && hl && *mid == '\n')
				mid++, ml--;
			if (ml && tl && mid[ml - 1] == '\n')
				ml--;
			if (!cut) {
				CHECK(ml == strlen(text) && strncmp(mid, text, ml) == 0, "the text changed");
			} else if (ml) {
				/* A prefix of the text, then "..." or "…". */
				CHECK(ml >= 3 && (strncmp(mid + ml - 3, "...", 3) == 0 ||
						  strncmp(mid + ml - 3, "\xE2\x80\xA6", 3) == 0),
				      "a cut text not ended by an ellipsis");
				CHECK(ml - 3 < strlen(text) && strncmp(mid, text, ml - 3) == 0,
				      "the kept text is not a prefix of the transcript");
			}
			free(b);
		}
	}
	free(buf);
	return 0;
}
