/*
 * Unit tests for vm_wav_decode_channel() (engine/audio/wav.c): one channel of a
 * multi-channel WAV instead of the mixdown, as transcribe-whisper's
 * `channel = caller` uses it on Amazon Connect's stereo recordings.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "audio/wav.h"

static unsigned char buf[1 << 16];
static char err[256];

static void le16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void le32(unsigned char *p, uint32_t v)
{
	le16(p, v & 0xffff);
	le16(p + 2, v >> 16);
}

/* A canonical 44-byte-header WAV of `frames` frames of `ch` channels. */
static size_t wav(unsigned tag, unsigned ch, unsigned rate, unsigned bits, const void *pcm,
                  size_t frames)
{
	unsigned block = ch * bits / 8;
	size_t data = frames * block;
	assert_true(44 + data <= sizeof buf);
	memcpy(buf, "RIFF", 4);
	le32(buf + 4, (uint32_t)(36 + data));
	memcpy(buf + 8, "WAVEfmt ", 8);
	le32(buf + 16, 16);
	le16(buf + 20, tag);
	le16(buf + 22, ch);
	le32(buf + 24, rate);
	le32(buf + 28, rate * block);
	le16(buf + 32, block);
	le16(buf + 34, bits);
	memcpy(buf + 36, "data", 4);
	le32(buf + 40, (uint32_t)data);
	memcpy(buf + 44, pcm, data);
	return 44 + data;
}

/* Frames (L, R): the caller on the left, the other side on the right. */
static const int16_t stereo[] = {1000, -7, -2000, 300, 32767, 0, -32768, 5, 42, 42};

static void left_and_right_alone(void **st)
{
	(void)st;
	size_t n = wav(1, 2, 8000, 16, stereo, 5);
	vm_wav w;
	assert_int_equal(vm_wav_decode_channel(buf, n, 0, 0, &w, err, sizeof err), VM_WAV_OK);
	assert_int_equal(w.nsamples, 5);
	assert_int_equal(w.rate, 8000);
	assert_int_equal(w.src_channels, 2);
	assert_int_equal(w.src_rate, 8000);
	assert_int_equal(w.src_bits, 16);
	assert_int_equal(w.src_format, 1);
	const int16_t left[] = {1000, -2000, 32767, -32768, 42};
	assert_memory_equal(w.samples, left, sizeof left);
	assert_true(fabs(w.duration - 5 / 8000.0) < 1e-12);
	vm_wav_free(&w);

	assert_int_equal(vm_wav_decode_channel(buf, n, 0, 1, &w, err, sizeof err), VM_WAV_OK);
	const int16_t right[] = {-7, 300, 0, 5, 42};
	assert_memory_equal(w.samples, right, sizeof right);
	vm_wav_free(&w);
}

static void minus_one_is_the_mixdown(void **st)
{
	(void)st;
	size_t n = wav(1, 2, 8000, 16, stereo, 5);
	vm_wav a, b;
	assert_int_equal(vm_wav_decode_channel(buf, n, 16000, -1, &a, err, sizeof err), VM_WAV_OK);
	assert_int_equal(vm_wav_decode_rate(buf, n, 16000, &b, err, sizeof err), VM_WAV_OK);
	assert_int_equal(a.nsamples, b.nsamples);
	assert_memory_equal(a.samples, b.samples, a.nsamples * sizeof *a.samples);
	vm_wav_free(&a);
	vm_wav_free(&b);
}

/* Resampled, one channel equals the same channel written as a mono file
 * and decoded at that rate: the same resampler runs on the same samples. */
static void resampled_channel_matches_mono(void **st)
{
	(void)st;
	int16_t frames[2 * 400], mono[400];
	for (int i = 0; i < 400; i++) {
		mono[i] = (int16_t)lrint(8000 * sin(2 * M_PI * 440 * i / 8000.0));
		frames[2 * i] = (int16_t)(i % 7 * 1000); /* the other side: noise-like */
		frames[2 * i + 1] = mono[i];
	}
	size_t n = wav(1, 2, 8000, 16, frames, 400);
	vm_wav a, b;
	assert_int_equal(vm_wav_decode_channel(buf, n, 16000, 1, &a, err, sizeof err), VM_WAV_OK);
	assert_int_equal(a.rate, 16000);
	assert_int_equal(a.nsamples, 800);
	n = wav(1, 1, 8000, 16, mono, 400);
	assert_int_equal(vm_wav_decode_rate(buf, n, 16000, &b, err, sizeof err), VM_WAV_OK);
	assert_int_equal(b.nsamples, 800);
	assert_memory_equal(a.samples, b.samples, 800 * sizeof *a.samples);
	vm_wav_free(&a);
	vm_wav_free(&b);
}

static void mulaw_channel(void **st)
{
	(void)st;
	const unsigned char ulaw[] = {0xff, 0x00, 0x80, 0xff}; /* (L, R) x 2 */
	size_t n = wav(7, 2, 8000, 8, ulaw, 2);
	vm_wav w;
	assert_int_equal(vm_wav_decode_channel(buf, n, 0, 1, &w, err, sizeof err), VM_WAV_OK);
	assert_int_equal(w.nsamples, 2);
	assert_int_equal(w.samples[0], wav_ulaw(0x00));
	assert_int_equal(w.samples[1], wav_ulaw(0xff));
	assert_int_equal(w.src_format, 7);
	vm_wav_free(&w);
}

static void mono_file_whatever_channel(void **st)
{
	(void)st;
	const int16_t s[] = {5, -5, 9};
	size_t n = wav(1, 1, 16000, 16, s, 3);
	vm_wav w;
	assert_int_equal(vm_wav_decode_channel(buf, n, 16000, 1, &w, err, sizeof err), VM_WAV_OK);
	assert_int_equal(w.nsamples, 3);
	assert_memory_equal(w.samples, s, sizeof s);
	vm_wav_free(&w);
}

/* The caps of every decode: a header claiming more than VM_WAV_MAX_SECONDS
 * (a streaming writer's 0xFFFFFFFF data size over a file that is there) is
 * refused before anything is allocated, one channel as the mixdown. */
static void one_channel_has_the_caps(void **st)
{
	(void)st;
	size_t n = wav(1, 2, 4000, 16, stereo, 5);
	/* 4 kHz stereo: 16,000 bytes a second, so 0x7FFFFFFF bytes are 37 hours. */
	le32(buf + 40, 0x7FFFFFFFu);
	vm_wav w;
	int rc = vm_wav_decode_channel(buf, n, VM_WAV_RATE, 0, &w, err, sizeof err);
	assert_int_equal(rc, VM_WAV_OK); /* cut short: what is there is decoded */
	assert_int_equal(w.nsamples, 5 * 4);
	vm_wav_free(&w);

	/* A file that is really that long: a header and a length, no decode. */
	size_t big = (size_t)4000 * 4 * 3700 + 44; /* 3700 s > 3600 */
	unsigned char *d = calloc(1, big);
	assert_non_null(d);
	memcpy(d, buf, 44);
	le32(d + 40, (uint32_t)(big - 44));
	for (int ch = -1; ch < 2; ch++) {
		memset(err, 0, sizeof err);
		rc = vm_wav_decode_channel(d, big, VM_WAV_RATE, ch, &w, err, sizeof err);
		assert_int_equal(rc, VM_WAV_TOO_LONG);
		assert_non_null(strstr(err, "at most"));
		assert_null(w.samples);
	}
	free(d);
}

static void missing_channel_and_bad_files(void **st)
{
	(void)st;
	size_t n = wav(1, 2, 8000, 16, stereo, 5);
	vm_wav w;
	assert_int_equal(vm_wav_decode_channel(buf, n, 0, 2, &w, err, sizeof err),
	                 VM_WAV_UNSUPPORTED);
	assert_string_equal(err, "channel 3 asked of a 2-channel file");
	assert_null(w.samples);

	assert_int_equal(vm_wav_decode_channel((const unsigned char *)"ID3\x04xxxxxxxxxxxx", 16, 0, 0,
	                                       &w, err, sizeof err), VM_WAV_NOT_WAV);
	assert_non_null(strstr(err, "ID3"));
	assert_int_equal(vm_wav_decode_channel(NULL, 0, 0, 0, &w, err, sizeof err), VM_WAV_NOT_WAV);

	/* A data chunk cut short: decoded as far as it goes. */
	n = wav(1, 2, 8000, 16, stereo, 5);
	le32(buf + 40, 400);
	assert_int_equal(vm_wav_decode_channel(buf, n, 0, 0, &w, err, sizeof err), VM_WAV_OK);
	assert_true(w.truncated);
	assert_int_equal(w.nsamples, 5);
	assert_true(fabs(w.claimed_duration - 100 / 8000.0) < 1e-12);
	vm_wav_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(left_and_right_alone),
		cmocka_unit_test(minus_one_is_the_mixdown),
		cmocka_unit_test(resampled_channel_matches_mono),
		cmocka_unit_test(mulaw_channel),
		cmocka_unit_test(mono_file_whatever_channel),
		cmocka_unit_test(missing_channel_and_bad_files),
		cmocka_unit_test(one_channel_has_the_caps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
