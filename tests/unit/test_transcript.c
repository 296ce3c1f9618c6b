/*
 * Unit tests of transcribe-aws's result parser (plugins/transcribe-aws/
 * transcript.c): text, preview and speech time from Amazon Transcribe's
 * transcript JSON.  Unit tests link the engine only, so the plugin file is
 * compiled in here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/transcribe-aws/transcript.c"

static void parse_ok(const char *json, size_t preview_chars, struct tx_transcript *t)
{
	char err[200] = "";
	if (tx_transcript_parse(json, strlen(json), preview_chars, t, err, sizeof err) != 0)
		fail_msg("refused: %s", err);
}

/* A silent voicemail: Transcribe answers an empty transcript and no items
 * (the fuzzer's first find: the empty word list went to qsort() as NULL). */
static void test_silence(void **s)
{
	(void)s;
	struct tx_transcript t;
	parse_ok("{\"jobName\": \"vmpipe-x\", \"status\": \"COMPLETED\", \"results\": "
		 "{\"transcripts\": [{\"transcript\": \"\"}], \"items\": []}}",
		 700, &t);
	assert_string_equal(t.text, "");
	assert_string_equal(t.preview, "");
	assert_true(t.speech_seconds == -1);
	tx_transcript_clear(&t);

	/* No items array at all, and an empty channel list. */
	parse_ok("{\"results\": {\"transcripts\": [{\"transcript\": \"\"}], "
		 "\"channel_labels\": {\"channels\": []}}}",
		 700, &t);
	assert_string_equal(t.preview, "");
	tx_transcript_clear(&t);
}

static void test_words_and_punctuation(void **s)
{
	(void)s;
	struct tx_transcript t;
	parse_ok("{\"results\": {\"transcripts\": [{\"transcript\": \"Hi Jane, call me.\"}], \"items\": ["
		 "{\"start_time\": \"0.10\", \"end_time\": \"0.30\", \"type\": \"pronunciation\", "
		 "\"alternatives\": [{\"content\": \"Hi\"}]},"
		 "{\"start_time\": \"0.30\", \"end_time\": \"0.60\", \"type\": \"pronunciation\", "
		 "\"alternatives\": [{\"content\": \"Jane\"}]},"
		 "{\"type\": \"punctuation\", \"alternatives\": [{\"content\": \",\"}]},"
		 "{\"start_time\": \"0.70\", \"end_time\": \"0.90\", \"type\": \"pronunciation\", "
		 "\"alternatives\": [{\"content\": \"call\"}]},"
		 "{\"start_time\": 0.9, \"end_time\": 1.25, \"type\": \"pronunciation\", "
		 "\"alternatives\": [{\"content\": \"me\"}]},"
		 "{\"type\": \"punctuation\", \"alternatives\": [{\"content\": \".\"}]}]}}",
		 700, &t);
	assert_string_equal(t.text, "Hi Jane, call me.");
	assert_string_equal(t.preview, "Hi Jane, call me.");
	assert_true(t.speech_seconds == 1.25);
	tx_transcript_clear(&t);
}

/* Two channels: the words interleave by start time. */
static void test_channels(void **s)
{
	(void)s;
	struct tx_transcript t;
	parse_ok("{\"results\": {\"transcripts\": [{\"transcript\": \"x\"}], \"channel_labels\": "
		 "{\"channels\": ["
		 "{\"items\": [{\"start_time\": \"0.1\", \"end_time\": \"0.2\", \"type\": \"pronunciation\", "
		 "\"alternatives\": [{\"content\": \"one\"}]},"
		 "{\"start_time\": \"0.5\", \"end_time\": \"0.6\", \"type\": \"pronunciation\", "
		 "\"alternatives\": [{\"content\": \"three\"}]}]},"
		 "{\"items\": [{\"start_time\": \"0.3\", \"end_time\": \"0.4\", \"type\": \"pronunciation\", "
		 "\"alternatives\": [{\"content\": \"two\"}]},"
		 "{\"type\": \"punctuation\", \"alternatives\": [{\"content\": \"!\"}]}]}]}}}",
		 700, &t);
	assert_string_equal(t.preview, "one two! three");
	assert_true(t.speech_seconds == 0.6);
	tx_transcript_clear(&t);
}

/* The preview is cut by characters, never inside one. */
static void test_preview_cut(void **s)
{
	(void)s;
	struct tx_transcript t;
	parse_ok("{\"results\": {\"transcripts\": [{\"transcript\": \"Jos\\u00e9 \\u00e9t\\u00e9\"}]}}",
		 4, &t);
	assert_string_equal(t.text, "Jos\xc3\xa9 \xc3\xa9t\xc3\xa9");
	assert_string_equal(t.preview, "Jos\xc3\xa9");
	tx_transcript_clear(&t);
}

static void test_refusals(void **s)
{
	(void)s;
	struct tx_transcript t;
	char err[200] = "";
	assert_int_equal(tx_transcript_parse("{\"results\": {}}", 15, 700, &t, err, sizeof err), -1);
	assert_string_equal(err, "no results.transcripts[0].transcript");
	assert_null(t.text);
	assert_int_equal(tx_transcript_parse("{\"results\"", 10, 700, &t, err, sizeof err), -1);
	assert_true(err[0] != '\0');
	assert_null(t.preview);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_silence),
		cmocka_unit_test(test_words_and_punctuation),
		cmocka_unit_test(test_channels),
		cmocka_unit_test(test_preview_cut),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
