/*
 * libFuzzer: the Amazon Transcribe result parser of transcribe-aws
 * (plugins/transcribe-aws/transcript.c), on any document its
 * TranscriptFileUri could hold.
 *
 * Input: a byte for the preview length (0..254 code points, 255: the default
 * 700), then the JSON document.
 * Properties, besides no crash, leak or UB:
 *  - a refusal has a message, and nothing to free;
 *  - an accepted document gives the text exactly as results.transcripts[0]
 *    says (jansson as an independent reader), a preview of valid UTF-8 no
 *    longer than the preview length, made of the document's own words (no
 *    more bytes than the text and the items hold), and a speech time that is
 *    -1 (none) or a number an item gave as its end_time.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/transcribe-aws/transcript.h"
#include "fuzz.h"

/* Code points of valid UTF-8, or (size_t)-1 when it is not valid. */
static size_t utf8_chars(const unsigned char *s)
{
	size_t n = 0;
	for (size_t i = 0; s[i];) {
		unsigned c = s[i];
		size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
			   : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
		if (!len)
			return (size_t)-1;
		for (size_t k = 1; k < len; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return (size_t)-1;
		i += len;
		n++;
	}
	return n;
}

/* Bytes of every alternatives[0].content under `items` arrays, plus one per
 * word for the joining space; and whether `t` is an end_time given there. */
struct scan {
	size_t bytes;
	double want;
	bool seen;
};

static bool time_equals(json_t *v, double t)
{
	if (json_is_number(v))
		return json_number_value(v) == t;
	const char *s = json_string_value(v);
	if (!s || !*s)
		return false;
	char *end;
	double d = strtod(s, &end);
	return *end == '\0' && d == t;
}

static void scan_items(json_t *items, struct scan *sc)
{
	size_t i;
	json_t *item;
	json_array_foreach(items, i, item) {
		const char *c = json_string_value(
			json_object_get(json_array_get(json_object_get(item, "alternatives"), 0), "content"));
		if (c)
			sc->bytes += strlen(c) + 1;
		if (time_equals(json_object_get(item, "end_time"), sc->want))
			sc->seen = true;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t preview_chars = data[0] == 255 ? 700 : data[0];
	const char *json = (const char *)data + 1;
	size_t len = size - 1;

	struct tx_transcript t;
	char err[300];
	memset(err, 0, sizeof err);
	int rc = tx_transcript_parse(json, len, preview_chars, &t, err, sizeof err);
	if (rc != 0) {
		CHECK(rc == -1, "return code %d", rc);
		CHECK(err[0], "refusal without a message");
		CHECK(!t.text && !t.preview, "refusal left strings to free");
		return 0;
	}

	json_t *doc = json_loadb(json, len, 0, NULL);
	CHECK(doc, "accepted a document jansson refuses");
	json_t *results = json_object_get(doc, "results");
	const char *text = json_string_value(
		json_object_get(json_array_get(json_object_get(results, "transcripts"), 0), "transcript"));
	CHECK(text && t.text && strcmp(text, t.text) == 0, "text is not results.transcripts[0]");

	CHECK(t.preview, "no preview");
	size_t chars = utf8_chars((const unsigned char *)t.preview);
	CHECK(chars != (size_t)-1, "preview is not valid UTF-8");
	CHECK(chars <= preview_chars, "preview of %zu characters, asked for %zu", chars,
	      preview_chars);

	struct scan sc = {strlen(text) + 1, t.speech_seconds, false};
	json_t *channels = json_object_get(json_object_get(results, "channel_labels"), "channels");
	size_t i;
	json_t *ch;
	json_array_foreach(channels, i, ch)
		scan_items(json_object_get(ch, "items"), &sc);
	scan_items(json_object_get(results, "items"), &sc);
	CHECK(strlen(t.preview) <= sc.bytes, "preview of %zu bytes from %zu bytes of words",
	      strlen(t.preview), sc.bytes);
	CHECK(t.speech_seconds == -1 || sc.seen, "speech time %g is no item's end_time",
	      t.speech_seconds);
	CHECK(!isnan(t.speech_seconds), "speech time is NaN");

	json_decref(doc);
	tx_transcript_clear(&t);
	return 0;
}
