/*
 * Unit tests of locate-kvs's Matroska reader and Connect audio extraction
 * (plugins/locate-kvs/mkv.c, kvs_audio.c) on the committed GetMedia streams
 * of tests/fuzz/corpus/mkv/ (made by tests/fuzz/make_seeds.py with
 * tests/fakes/connect_mkv.py: Connect's layout, two contacts back to back,
 * the caller's track a 440 Hz tone, the agent's 660 Hz), fed whole and in
 * chunks that do not line up with elements.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../plugins/locate-kvs/kvs_audio.c"
#include "../../plugins/locate-kvs/mkv.c"
#include "core/util.h"
#include "testenv.h"

#define FIRST "91343852333181432392682062607743920146264440559"
#define THIRD "91343852333181432392682062607743920146264456397"

struct got {
	int feed, finish;
	enum kvs_stop stopped;
	uint64_t frames;
	int channels;
	int16_t *pcm;
	struct kvs_stats st;
	char err[300];
};

static void run(const char *seed, const char *contact, const char *stop, bool both, size_t chunk, struct got *g)
{
	char path[512], *data = NULL;
	size_t len = 0;
	snprintf(path, sizeof path, "tests/fuzz/corpus/mkv/%s", seed);
	assert_int_equal(read_file(path, 1 << 20, &data, &len), 0);
	struct kvs_audio_opts o = {contact, stop, both, 1 << 20, 8000 * 60};
	struct kvs_audio *a = kvs_audio_new(&o);
	assert_non_null(a);
	memset(g, 0, sizeof *g);
	size_t off = 2; /* the fuzz target's two option bytes */
	while (off < len && g->feed == 0) {
		size_t k = len - off < chunk ? len - off : chunk;
		g->feed = kvs_audio_feed(a, (const uint8_t *)data + off, k);
		off += k;
	}
	g->finish = g->feed == 0 ? kvs_audio_finish(a) : 0;
	g->stopped = kvs_audio_stopped(a);
	g->st = *kvs_audio_stats(a);
	snprintf(g->err, sizeof g->err, "%s", kvs_audio_error(a));
	const uint8_t *p = kvs_audio_pcm(a, &g->frames, &g->channels);
	size_t n = (size_t)g->frames * (size_t)g->channels;
	g->pcm = calloc(n + 1, sizeof *g->pcm);
	for (size_t i = 0; i < n; i++)
		g->pcm[i] = (int16_t)(uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
	kvs_audio_free(a);
	free(data);
}

/* The tone connect_mkv.tone_pcm() wrote. */
static int16_t tone(uint64_t i, double freq)
{
	return (int16_t)lround(8000 * sin(2 * M_PI * freq * (double)(i % 8000) / 8000));
}

static void want_tone(const struct got *g, int ch, double freq)
{
	for (uint64_t i = 0; i < g->frames; i += 97)
		if (abs(g->pcm[i * (uint64_t)g->channels + (uint64_t)ch] - tone(i, freq)) > 1)
			fail_msg("sample %llu of channel %d: %d, expected %d", (unsigned long long)i, ch,
				 g->pcm[i * (uint64_t)g->channels + (uint64_t)ch], tone(i, freq));
}

static const size_t chunks[] = {1 << 20, 1, 7, 333, 4096};

static void test_caller_until_the_next_contact(void **s)
{
	(void)s;
	for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
		struct got g;
		run("two-contacts-caller", "c-1", NULL, false, chunks[c], &g);
		assert_int_equal(g.feed, 1);
		assert_int_equal(g.stopped, KVS_OTHER_CONTACT);
		assert_string_equal(g.st.other_contact, "c-2");
		assert_int_equal(g.channels, 1);
		assert_int_equal(g.frames, 18000); /* 2.25 s: three fragments, all of c-1 */
		assert_int_equal(g.st.kept, 3);
		assert_int_equal(g.st.dropped, 1); /* c-2's first fragment, held until its ContactId */
		assert_string_equal(g.st.first_fragment, FIRST);
		want_tone(&g, 0, 440);
		free(g.pcm);
	}
}

static void test_both_tracks_to_the_stop_fragment(void **s)
{
	(void)s;
	for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
		struct got g;
		run("two-contacts-both-stop", "c-1", THIRD, true, chunks[c], &g);
		assert_int_equal(g.feed, 1);
		assert_int_equal(g.stopped, KVS_STOP_FRAGMENT);
		assert_int_equal(g.channels, 2);
		assert_int_equal(g.frames, 18000);
		assert_int_equal(g.st.dropped, 0); /* stopped at the stop fragment's tag: nothing of c-2 read */
		assert_string_equal(g.st.last_fragment, THIRD);
		want_tone(&g, 0, 440);
		want_tone(&g, 1, 660);
		free(g.pcm);
	}
}

static void test_wrong_start_fragment(void **s)
{
	(void)s;
	struct got g;
	run("second-contact", "c-2", NULL, false, 4096, &g);
	assert_int_equal(g.stopped, KVS_OTHER_CONTACT);
	assert_string_equal(g.st.other_contact, "c-1");
	assert_int_equal(g.frames, 0);
	free(g.pcm);
}

static void test_cut_mid_cluster_keeps_whole_fragments(void **s)
{
	(void)s;
	struct got g;
	run("cut-mid-cluster", "c-1", NULL, false, 4096, &g);
	assert_int_equal(g.feed, 0);
	assert_int_equal(g.finish, -1);
	assert_contains(g.err, "the stream ended inside element");
	assert_int_equal(g.frames, 8000); /* the first fragment; the cut one was never confirmed */
	assert_int_equal(g.st.dropped, 1);
	free(g.pcm);
	/* With the stop number, the cut fragment is known to be the contact's: kept as far as it goes. */
	run("cut-mid-cluster", "c-1", THIRD, false, 4096, &g);
	assert_int_equal(g.finish, -1);
	assert_true(g.frames > 8000 && g.frames < 16000);
	want_tone(&g, 0, 440);
	free(g.pcm);
}

static void test_odd_streams(void **s)
{
	(void)s;
	struct got g;
	run("no-audio", "c-1", NULL, false, 4096, &g);
	assert_int_equal(g.finish, 0);
	assert_int_equal(g.frames, 0);
	free(g.pcm);
	run("no-track-names", "c-1", NULL, false, 4096, &g);
	assert_int_equal(g.frames, 4000); /* Connect's numbering: 1 is the caller */
	want_tone(&g, 0, 440);
	free(g.pcm);
	run("other-mime", "c-1", NULL, false, 4096, &g);
	assert_int_equal(g.feed, -1);
	assert_contains(g.err, "rate=16000");
	free(g.pcm);
	run("no-contact-tag", "c-1", NULL, false, 4096, &g);
	assert_int_equal(g.frames, 0);
	assert_int_equal(g.st.dropped, 1);
	free(g.pcm);
}

static void test_fragment_numbers_compare_as_numbers(void **s)
{
	(void)s;
	assert_true(kvs_fragment_cmp("9", "10") < 0);
	assert_true(kvs_fragment_cmp(THIRD, FIRST) > 0);
	assert_int_equal(kvs_fragment_cmp("007", "7"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caller_until_the_next_contact),
		cmocka_unit_test(test_both_tracks_to_the_stop_fragment),
		cmocka_unit_test(test_wrong_start_fragment),
		cmocka_unit_test(test_cut_mid_cluster_keeps_whole_fragments),
		cmocka_unit_test(test_odd_streams),
		cmocka_unit_test(test_fragment_numbers_compare_as_numbers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
