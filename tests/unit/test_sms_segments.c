/*
 * Unit tests of notify-sms's segment counter and body fitting
 * (plugins/notify-sms/segments.c) and its E.164 checks (phone.c), against
 * 3GPP TS 23.038/23.040's limits: GSM-7 160 septets, 153 per segment of a
 * longer text, extension characters two septets never split; UCS-2 70 code
 * units, 67 per segment, surrogate pairs never split; and the reader of SNS
 * Publish answers (sns_xml.c).  Unit tests link the
 * engine only, so the plugin files are compiled in here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/notify-sms/phone.c"
#include "../../plugins/notify-sms/segments.c"
#include "../../plugins/notify-sms/sns_xml.c"

#define EMOJI "\xF0\x9F\x98\x80" /* U+1F600: two UTF-16 code units */
#define L_STROKE "\xC5\x82"      /* U+0142 ł: not in GSM-7 */

static char *rep(const char *s, size_t n)
{
	size_t l = strlen(s);
	char *b = malloc(l * n + 1);
	for (size_t i = 0; i < n; i++)
		memcpy(b + i * l, s, l);
	b[l * n] = '\0';
	return b;
}

static struct sms_count count(const char *s)
{
	struct sms_count c;
	assert_int_equal(sms_count(s, &c), 0);
	return c;
}

/* count(parts joined) */
static size_t segs3(const char *a, size_t na, const char *b, size_t nb, const char *c, size_t nc)
{
	char *x = rep(a, na), *y = rep(b, nb), *z = rep(c, nc);
	char *all = malloc(strlen(x) + strlen(y) + strlen(z) + 1);
	sprintf(all, "%s%s%s", x, y, z);
	size_t r = count(all).segments;
	free(x), free(y), free(z), free(all);
	return r;
}

static void test_gsm7_limits(void **s)
{
	(void)s;
	assert_int_equal(count("").segments, 0);
	assert_int_equal(segs3("a", 160, "", 0, "", 0), 1);
	assert_int_equal(segs3("a", 161, "", 0, "", 0), 2);
	assert_int_equal(segs3("a", 306, "", 0, "", 0), 2);
	assert_int_equal(segs3("a", 307, "", 0, "", 0), 3);
	/* GSM-7 has é, ü, £, Δ …: still 160 of them. */
	assert_int_equal(segs3("\xC3\xA9", 160, "", 0, "", 0), 1);
	struct sms_count c = count("Caf\xC3\xA9 \xC2\xA3" "5 \xCE\x94 @_$");
	assert_int_equal(c.encoding, SMS_GSM7);
	assert_int_equal(c.units, c.chars);
	/* Extension characters take two septets. */
	c = count("{}[]~^|\\\xE2\x82\xAC");
	assert_int_equal(c.encoding, SMS_GSM7);
	assert_int_equal(c.units, 18);
	assert_int_equal(segs3("{", 80, "", 0, "", 0), 1);
	assert_int_equal(segs3("{", 81, "", 0, "", 0), 2);
	/* 306 septets would be two segments, but the escape pair at 153 is not
	 * split: 152 + (2 + 151) + 1: three. */
	assert_int_equal(segs3("a", 152, "{", 1, "a", 152), 3);
	assert_int_equal(segs3("a", 153, "{", 1, "a", 151), 2);
}

static void test_ucs2_limits(void **s)
{
	(void)s;
	/* One character outside GSM-7 makes the whole text UCS-2. */
	assert_int_equal(count("`").encoding, SMS_UCS2);
	assert_int_equal(count("tab\there").encoding, SMS_UCS2);
	assert_int_equal(count("\xE2\x80\xA6").encoding, SMS_UCS2); /* … */
	assert_int_equal(segs3(L_STROKE, 70, "", 0, "", 0), 1);
	assert_int_equal(segs3(L_STROKE, 71, "", 0, "", 0), 2);
	assert_int_equal(segs3(L_STROKE, 134, "", 0, "", 0), 2);
	assert_int_equal(segs3(L_STROKE, 135, "", 0, "", 0), 3);
	assert_int_equal(segs3("a", 69, L_STROKE, 1, "", 0), 1);
	/* Surrogate pairs: two units each, never split. */
	struct sms_count c = count(EMOJI EMOJI "a");
	assert_int_equal(c.encoding, SMS_UCS2);
	assert_int_equal(c.units, 5);
	assert_int_equal(c.chars, 3);
	assert_int_equal(segs3(EMOJI, 35, "", 0, "", 0), 1);
	assert_int_equal(segs3(EMOJI, 36, "", 0, "", 0), 2);
	assert_int_equal(segs3(L_STROKE, 66, EMOJI, 1, L_STROKE, 66), 3);
	assert_int_equal(segs3(L_STROKE, 67, EMOJI, 1, L_STROKE, 65), 2);
}

static void test_invalid_utf8(void **s)
{
	(void)s;
	struct sms_count c;
	assert_int_equal(sms_count("a\xC3", &c), -1);
	assert_int_equal(sms_count("\xED\xA0\x80", &c), -1); /* a lone surrogate */
	assert_int_equal(sms_count("\xC0\xAF", &c), -1);     /* overlong */
}

static bool valid_utf8(const char *s)
{
	struct sms_count c;
	return sms_count(s, &c) == 0;
}

static void test_fit_cuts_at_a_word_with_dots_in_gsm7(void **s)
{
	(void)s;
	char *text = rep("word ", 100); /* 500 characters */
	bool cut;
	char *b = sms_fit("Voicemail from +15555550123 (42s):", text, "https://x.example/l/abc",
			  "\n", 2, &cut);
	assert_non_null(b);
	assert_true(cut);
	struct sms_count c = count(b);
	assert_int_equal(c.encoding, SMS_GSM7);
	assert_true(c.segments <= 2);
	assert_true(c.units > 153 * 2 - 8); /* it used the room */
	assert_non_null(strstr(b, "word...\nhttps://x.example/l/abc"));
	assert_null(strstr(b, "wor..."));
	assert_int_equal(strncmp(b, "Voicemail from +15555550123 (42s):\nword word", 44), 0);
	free(b);
	free(text);
}

static void test_fit_uses_the_ellipsis_in_ucs2(void **s)
{
	(void)s;
	char *text = rep("dzi" L_STROKE "o ", 60); /* 360 characters, UCS-2 */
	bool cut;
	char *b = sms_fit("Poczta:", text, NULL, "\n", 3, &cut);
	assert_true(cut);
	assert_true(valid_utf8(b));
	struct sms_count c = count(b);
	assert_int_equal(c.encoding, SMS_UCS2);
	assert_true(c.segments <= 3 && c.units > 67 * 3 - 7);
	size_t n = strlen(b);
	assert_string_equal(b + n - 3, "\xE2\x80\xA6");
	assert_string_equal(b + n - 3 - strlen("dzi" L_STROKE "o"), "dzi" L_STROKE "o\xE2\x80\xA6");
	free(b);
	free(text);
}

static void test_fit_keeps_gsm7_when_the_cut_drops_the_ucs2_part(void **s)
{
	(void)s;
	/* The only non-GSM character is at the end: once cut, "..." keeps GSM-7. */
	char *text = rep("abc ", 100);
	char *t2 = malloc(strlen(text) + 8);
	sprintf(t2, "%s" EMOJI, text);
	bool cut;
	char *b = sms_fit("", t2, NULL, " ", 1, &cut);
	assert_true(cut);
	assert_int_equal(count(b).encoding, SMS_GSM7);
	assert_int_equal(count(b).segments, 1);
	assert_string_equal(b + strlen(b) - 6, "abc...");
	free(b), free(t2), free(text);
}

static void test_fit_whole_and_refusals(void **s)
{
	(void)s;
	bool cut = true;
	char *b = sms_fit("Voicemail from +1555:", "Call me back.", "https://x/y", "\n", 1, &cut);
	assert_string_equal(b, "Voicemail from +1555:\nCall me back.\nhttps://x/y");
	assert_false(cut);
	free(b);
	b = sms_fit("Head", "", "tail", "\n", 1, &cut);
	assert_string_equal(b, "Head\ntail");
	free(b);
	/* One long word: cut between characters, never inside one. */
	char *word = rep(L_STROKE, 200);
	b = sms_fit("", word, NULL, " ", 1, &cut);
	assert_true(cut && valid_utf8(b));
	assert_int_equal(count(b).units, 70);
	free(b);
	free(word);
	/* Head and tail alone too long: nothing fits. */
	char *tail = rep("x", 400);
	assert_null(sms_fit("Head", "text", tail, "\n", 2, &cut));
	free(tail);
}

static void test_e164(void **s)
{
	(void)s;
	assert_true(sms_e164("+15555550123"));
	assert_true(sms_e164("+447700900123"));
	assert_true(sms_e164("+12"));
	assert_true(sms_e164("+123456789012345"));
	assert_false(sms_e164("+1234567890123456")); /* 16 digits */
	assert_false(sms_e164("15555550123"));
	assert_false(sms_e164("+05555550123"));
	assert_false(sms_e164("+1 555 555 0123"));
	assert_false(sms_e164("+1"));
	assert_false(sms_e164("+1555-555"));
	assert_false(sms_e164(""));
	char m[40];
	sms_mask("+15555550123", m, sizeof m);
	assert_string_equal(m, "+15\xE2\x80\xA6" "23");
	sms_mask("nonsense-number", m, sizeof m);
	assert_string_equal(m, "(15 characters)");

	char out[SMS_RECIPIENTS_MAX][17], why[200];
	assert_int_equal(sms_recipients(" +15555550123, +447700900123 ,+15555550123", out, why,
					sizeof why), 2);
	assert_string_equal(out[1], "+447700900123");
	assert_int_equal(sms_recipients("", out, why, sizeof why), 0);
	assert_int_equal(sms_recipients("+15555550123, 555-0100", out, why, sizeof why), -1);
	assert_string_equal(why, "'(8 characters)' is not an E.164 phone number (+ and 2-15 "
				 "digits, no spaces)");
	assert_int_equal(sms_recipients("+1555555012345678901", out, why, sizeof why), -1);
	assert_non_null(strstr(why, "(too long)"));
	char many[400] = "";
	for (int i = 0; i < 11; i++)
		sprintf(many + strlen(many), "+1555555010%d,", i);
	assert_int_equal(sms_recipients(many, out, why, sizeof why), -1);
	assert_string_equal(why, "more than 10 SMS recipients");
}

static void test_prefixes(void **s)
{
	(void)s;
	assert_true(sms_prefix_allowed("+15555550123", NULL));
	assert_true(sms_prefix_allowed("+15555550123", ""));
	assert_true(sms_prefix_allowed("+15555550123", "+44, +1"));
	assert_false(sms_prefix_allowed("+447700900123", "+1"));
	assert_true(sms_prefix_allowed("+12125550123", " +1212 ,"));
	assert_false(sms_prefix_allowed("+13125550123", "+1212"));
	char why[100];
	assert_int_equal(sms_prefixes_check("+1, +44, +1212", why, sizeof why), 0);
	assert_int_equal(sms_prefixes_check("+1, 44", why, sizeof why), -1);
	assert_string_equal(why, "'44' is not an E.164 prefix (+ and 1-15 digits)");
	assert_int_equal(sms_prefixes_check("+0", why, sizeof why), -1);
	assert_int_equal(sms_prefixes_check("+1 2", why, sizeof why), -1);
}

static char *sns_id(const char *xml)
{
	return sms_sns_message_id((const unsigned char *)xml, strlen(xml));
}

static void test_sns_answer(void **s)
{
	(void)s;
	char *id = sns_id("<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">"
			  "<PublishResult><MessageId>94f20ce6-13c5</MessageId></PublishResult>"
			  "</PublishResponse>");
	assert_string_equal(id, "94f20ce6-13c5");
	free(id);
	id = sns_id("<r><MessageId>a&amp;b<x>no</x>c</MessageId><MessageId>2</MessageId></r>");
	assert_string_equal(id, "a&bc");
	free(id);
	assert_null(sns_id("<r><MessageId></MessageId><MessageId>2</MessageId></r>"));
	assert_null(sns_id("<PublishResponse><PublishResult><MessageId>94f2"));
	assert_null(sns_id("<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gsm7_limits),
		cmocka_unit_test(test_ucs2_limits),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_fit_cuts_at_a_word_with_dots_in_gsm7),
		cmocka_unit_test(test_fit_uses_the_ellipsis_in_ucs2),
		cmocka_unit_test(test_fit_keeps_gsm7_when_the_cut_drops_the_ucs2_part),
		cmocka_unit_test(test_fit_whole_and_refusals),
		cmocka_unit_test(test_e164),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_sns_answer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
