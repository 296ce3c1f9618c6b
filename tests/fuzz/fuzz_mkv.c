/*
 * libFuzzer: locate-kvs's streaming Matroska reader and Connect audio
 * extraction (plugins/locate-kvs/mkv.c, kvs_audio.c), on any GetMedia answer.
 *
 * Input: one options byte (bit 0: both tracks; bit 1: a FragmentStopNumber,
 * the seeds' third fragment; bit 2: contact "c-2" instead of "c-1"), one
 * byte seeding the chunk sizes, then the stream.
 *
 * Properties, besides no crash, leak or UB:
 *  - the result does not depend on how the stream is cut: fed whole and fed
 *    in chunks of 1 to 256 bytes (sizes that do not line up with elements),
 *    the return codes, the reason to stop, the stats and the audio bytes are
 *    the same;
 *  - every frame kept has a sample of at least one track from the bytes fed
 *    (the other track of a fragment may be padded with silence), in the
 *    channels asked;
 *  - an error always says what it was.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/locate-kvs/kvs_audio.h"
#include "fuzz.h"

#define STOP "91343852333181432392682062607743920146264456397" /* FIRST_FRAGMENT + 2 * 7919 */

struct run {
	int feed, finish;
	enum kvs_stop stopped;
	struct kvs_stats st;
	uint8_t *pcm;
	uint64_t frames;
	int channels;
	size_t fed;
};

static void run(const struct kvs_audio_opts *o, const uint8_t *d, size_t n, unsigned seed, struct run *r)
{
	memset(r, 0, sizeof *r);
	struct kvs_audio *a = kvs_audio_new(o);
	CHECK(a != NULL, "out of memory");
	size_t off = 0;
	r->feed = 0;
	while (off < n && r->feed == 0) {
		size_t k = n - off;
		if (seed) {
			seed = seed * 1103515245u + 12345u;
			size_t c = 1 + (seed >> 16) % 256;
			k = c < k ? c : k;
		}
		r->feed = kvs_audio_feed(a, d + off, k);
		off += k;
	}
	r->fed = off;
	r->finish = r->feed == 0 ? kvs_audio_finish(a) : 0;
	if (r->feed < 0 || r->finish < 0)
		CHECK(*kvs_audio_error(a), "an error without a message");
	r->stopped = kvs_audio_stopped(a);
	r->st = *kvs_audio_stats(a);
	const uint8_t *p = kvs_audio_pcm(a, &r->frames, &r->channels);
	size_t bytes = (size_t)r->frames * 2 * (size_t)r->channels;
	/* Each frame has a sample of at least one track (the other may be padding). */
	CHECK((size_t)r->frames * 2 <= n, "%llu frames from %zu bytes", (unsigned long long)r->frames, n);
	CHECK(r->channels == (o->both ? 2 : 1), "%d channels", r->channels);
	r->pcm = bytes ? malloc(bytes) : NULL;
	if (bytes)
		memcpy(r->pcm, p, bytes);
	kvs_audio_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint8_t opt = data[0];
	unsigned seed = data[1] | 1u;
	struct kvs_audio_opts o = {.contact_id = opt & 4 ? "c-2" : "c-1",
				   .stop_fragment = opt & 2 ? STOP : NULL,
				   .both = opt & 1,
				   .max_stream_bytes = 1u << 20,
				   .max_frames = 8000 * 60};
	struct run whole, cut;
	run(&o, data + 2, size - 2, 0, &whole);
	run(&o, data + 2, size - 2, seed, &cut);
	CHECK(whole.feed == cut.feed && whole.finish == cut.finish, "whole: feed %d finish %d; cut: feed %d finish %d",
	      whole.feed, whole.finish, cut.feed, cut.finish);
	CHECK(whole.stopped == cut.stopped, "stopped %d vs %d", whole.stopped, cut.stopped);
	CHECK(whole.frames == cut.frames, "%llu frames whole, %llu cut", (unsigned long long)whole.frames,
	      (unsigned long long)cut.frames);
	CHECK(!whole.frames || memcmp(whole.pcm, cut.pcm, (size_t)whole.frames * 2 * (size_t)whole.channels) == 0,
	      "the audio differs");
	CHECK(memcmp(&whole.st, &cut.st, sizeof whole.st) == 0, "the stats differ");
	free(whole.pcm);
	free(cut.pcm);
	return 0;
}
