/*
 * libFuzzer: the WAV reader (vm_wav_decode, vm_wav_decode_rate) on any bytes.
 *
 * Input: one byte that picks the rate asked for, then the file.
 * Properties, besides no crash, leak or UB:
 *  - a refusal is one of the documented codes, with a message, and leaves
 *    nothing in `out`;
 *  - a success describes a format the reader supports, and what it returns
 *    is bounded by what the file holds: no more frames than the bytes can
 *    carry, no more samples than those frames resampled to the rate asked
 *    for, and a duration that matches.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmpipe/vmpipe.h>

#include "fuzz.h"

/* What speech engines ask for; 0 keeps the file's rate; VM_WAV_RATE goes
 * through vm_wav_decode() itself. */
static const unsigned rates[] = {VM_WAV_RATE, 0, 8000, 16000, 11025, 22050, 44100, 48000};

static bool zeroed(const vm_wav *w)
{
	static const vm_wav zero;
	return memcmp(w, &zero, sizeof zero) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned pick = data[0] % (sizeof rates / sizeof rates[0]);
	unsigned rate = rates[pick];
	data++, size--;

	vm_wav w;
	char err[200];
	memset(err, 0, sizeof err);
	int rc = pick == 0 ? vm_wav_decode(data, size, &w, err, sizeof err)
			   : vm_wav_decode_rate(data, size, rate, &w, err, sizeof err);
	if (rc != VM_WAV_OK) {
		CHECK(rc == VM_WAV_NOT_WAV || rc == VM_WAV_UNSUPPORTED || rc == VM_WAV_CORRUPT ||
			      rc == VM_WAV_NOMEM,
		      "return code %d", rc);
		CHECK(err[0] != '\0' && memchr(err, '\0', sizeof err), "refusal %d without a message", rc);
		CHECK(zeroed(&w), "refusal %d left something in out", rc);
		return 0;
	}

	unsigned want = rate ? rate : w.src_rate;
	CHECK(w.rate == want, "rate %u, asked for %u", w.rate, want);
	CHECK(w.src_channels >= 1 && w.src_channels <= 8, "%u channels", w.src_channels);
	/* GSM 6.10 (0x0031) has no bits per sample; PCM, float and G.711 do. */
	CHECK(w.src_format == 0x31 ? w.src_bits == 0 :
	      (w.src_bits == 8 || w.src_bits == 16 || w.src_bits == 24 || w.src_bits == 32),
	      "%u bits", w.src_bits);
	CHECK(w.src_format == 1 || w.src_format == 3 || w.src_format == 6 || w.src_format == 7 ||
	      w.src_format == 0x31, "format %u", w.src_format);
	CHECK(w.src_rate > 0, "source rate 0");
	CHECK(w.samples != NULL, "no sample buffer");

	/* Frames the bytes can hold at most, and what they become at `rate`. */
	/* GSM 6.10: 320 samples in a 65-byte WAV49 block (raw .gsm: 160 in 33,
	 * fewer per byte), the densest a file can be. */
	uint64_t block = (uint64_t)w.src_channels * (w.src_bits / 8);
	uint64_t frames_max = w.src_format == 0x31 ? size / 65 * 320 + 320 : size / block;
	long double frames = (long double)w.duration * w.src_rate;
	CHECK(w.duration >= 0 && frames <= frames_max + 0.5L,
	      "duration %.3fs is %.0Lf frames; %zu bytes hold at most %llu", w.duration, frames,
	      size, (unsigned long long)frames_max);
	uint64_t samples_max = frames_max * w.rate / w.src_rate + 1;
	CHECK(w.nsamples <= samples_max, "%zu samples from %zu bytes (at most %llu)", w.nsamples,
	      size, (unsigned long long)samples_max);
	long double secs = (long double)w.nsamples / w.rate;
	CHECK(secs <= w.duration + 1.0L / w.rate + 1e-9L && secs >= w.duration - 1.0L / w.rate - 1e-6L,
	      "%zu samples at %u Hz for %.6f s of audio", w.nsamples, w.rate, w.duration);
	if (w.truncated)
		CHECK(w.claimed_duration >= w.duration, "truncated, yet it claims %.3f < %.3f s",
		      w.claimed_duration, w.duration);
	else
		CHECK(w.claimed_duration == w.duration, "claims %.3f s, has %.3f s", w.claimed_duration,
		      w.duration);

	/* Every sample is readable (ASan checks the buffer's size). */
	volatile int64_t sum = 0;
	for (size_t i = 0; i < w.nsamples; i++)
		sum += w.samples[i];
	(void)sum;
	vm_wav_free(&w);
	CHECK(zeroed(&w), "vm_wav_free left the struct set");
	return 0;
}
