/*
 * Unit tests for engine/audio/wav.c: RIFF/WAVE parsing, G.711, mixdown, resampling.
 * Every file is built byte by byte here, so each test says exactly which
 * header quirk it exercises.
 */
#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "audio/wav.h"

/* ------------------------------------------------------------ builder */

typedef struct wavb {
	unsigned char d[1 << 18];
	size_t n;
} wavb;

static void put(wavb *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof b->d);
	memcpy(b->d + b->n, p, n);
	b->n += n;
}

static void put16(wavb *b, unsigned v)
{
	unsigned char p[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
	put(b, p, 2);
}

static void put32(wavb *b, uint32_t v)
{
	unsigned char p[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
	                      (unsigned char)(v >> 24)};
	put(b, p, 4);
}

static void riff(wavb *b)
{
	b->n = 0;
	put(b, "RIFF", 4);
	put32(b, 0); /* fixed by finish(); readers must not depend on it anyway */
	put(b, "WAVE", 4);
}

static void fmt(wavb *b, unsigned tag, unsigned ch, unsigned rate, unsigned bits)
{
	unsigned block = ch * bits / 8;
	put(b, "fmt ", 4);
	put32(b, 16);
	put16(b, tag);
	put16(b, ch);
	put32(b, rate);
	put32(b, rate * block);
	put16(b, block);
	put16(b, bits);
}

static void data_hdr(wavb *b, uint32_t size)
{
	put(b, "data", 4);
	put32(b, size);
}

static void finish(wavb *b)
{
	uint32_t size = (uint32_t)(b->n - 8);
	b->d[4] = (unsigned char)size;
	b->d[5] = (unsigned char)(size >> 8);
	b->d[6] = (unsigned char)(size >> 16);
	b->d[7] = (unsigned char)(size >> 24);
}

/* A mono 16-bit PCM file of `n` samples from `s`. */
static void pcm16(wavb *b, unsigned rate, unsigned ch, const int16_t *s, size_t n)
{
	riff(b);
	fmt(b, 1, ch, rate, 16);
	data_hdr(b, (uint32_t)(n * 2));
	for (size_t i = 0; i < n; i++)
		put16(b, (uint16_t)s[i]);
	finish(b);
}

static wavb B; /* one builder; tests run one at a time */
static char err[256];

/* -------------------------------------------------------------- tests */

static void good_16k_mono(void **st)
{
	(void)st;
	int16_t s[] = {0, 1000, -1000, 32767, -32768, 7};
	pcm16(&B, 16000, 1, s, 6);
	vm_wav w;
	assert_int_equal(vm_wav_decode(B.d, B.n, &w, err, sizeof err), VM_WAV_OK);
	assert_int_equal(w.rate, 16000);
	assert_int_equal(w.src_rate, 16000);
	assert_int_equal(w.src_channels, 1);
	assert_int_equal(w.src_bits, 16);
	assert_int_equal(w.src_format, 1);
	assert_false(w.truncated);
	assert_int_equal(w.nsamples, 6);
	assert_memory_equal(w.samples, s, sizeof s);
	assert_true(fabs(w.duration - 6 / 16000.0) < 1e-9);
	assert_true(fabs(w.claimed_duration - w.duration) < 1e-12);
	vm_wav_free(&w);
	assert_null(w.samples);
	vm_wav_free(&w); /* twice, and on NULL: harmless */
	vm_wav_free(NULL);
}

static void stereo_mixdown(void **st)
{
	(void)st;
	/* Frames: (L, R).  Connect puts the caller on one side, silence on the other. */
	int16_t s[] = {1000, -200, 0, 0, 32767, 32767, -32768, -32768, 3000, 0};
	pcm16(&B, 8000, 2, s, 10);
	vm_wav w;
	assert_int_equal(vm_wav_decode_rate(B.d, B.n, 0, &w, err, sizeof err), VM_WAV_OK);
	assert_int_equal(w.src_channels, 2);
	assert_int_equal(w.rate, 8000);
	assert_int_equal(w.nsamples, 5);
	int16_t want[] = {400, 0, 32767, -32768, 1500};
	assert_memory_equal(w.samples, want, sizeof want);
	assert_true(fabs(w.duration - 5 / 8000.0) < 1e-9);
	vm_wav_free(&w);
}

static void resample_8k_to_16k(void **st)
{
	(void)st;
	enum { N = 8000 };
	static int16_t s[N];
	for (int i = 0; i < N; i++)
		s[i] = (int16_t)lrint(10000 * sin(2 * M_PI * 440 * i / 8000.0));
	pcm16(&B, 8000, 1, s, N);
	vm_wav w;
	assert_int_equal(vm_wav_decode(B.d, B.n, &w, err, sizeof err), VM_WAV_OK);
	assert_int_equal(w.rate, 16000);
	assert_int_equal(w.src_rate, 8000);
	assert_int_equal(w.nsamples, 2 * N);
	assert_true(fabs(w.duration - 1.0) < 1e-9);
	/* Away from the edges the output is the same sine at twice the rate. */
	double maxerr = 0;
	for (size_t i = 200; i < w.nsamples - 200; i++) {
		double want = 10000 * sin(2 * M_PI * 440 * i / 16000.0);
		double e = fabs(w.samples[i] - want);
		if (e > maxerr)
			maxerr = e;
	}
	assert_true(maxerr < 20); /* < 0.2% of the amplitude */
	vm_wav_free(&w);
}

static void resample_lengths_and_aliasing(void **st)
{
	(void)st;
	size_t m;
	int16_t in[441] = {0};
	int16_t *out = wav_resample(in, 441, 44100, 16000, &m);
	assert_non_null(out);
	assert_int_equal(m, 160);
	free(out);
	out = wav_resample(in, 441, 11025, 16000, &m); /* 640 phases: table capped */
	assert_non_null(out);
	assert_int_equal(m, 640);
	free(out);
	out = wav_resample(in, 0, 8000, 16000, &m);
	assert_non_null(out);
	assert_int_equal(m, 0);
	free(out);
	assert_null(wav_resample(in, 441, 0, 16000, &m));

	/* 9 kHz at 48 kHz is above 16 kHz's Nyquist: it must be filtered out, not fold to 7 kHz. */
	enum { N = 4800 };
	static int16_t tone[N];
	for (int i = 0; i < N; i++)
		tone[i] = (int16_t)lrint(10000 * sin(2 * M_PI * 9000 * i / 48000.0));
	out = wav_resample(tone, N, 48000, 16000, &m);
	assert_non_null(out);
	assert_int_equal(m, 1600);
	double energy = 0;
	for (size_t i = 100; i < m - 100; i++)
		energy += (double)out[i] * out[i];
	assert_true(sqrt(energy / (double)(m - 200)) < 30); /* input RMS is ~7071 */
	free(out);
}

static void g711(void **st)
{
	(void)st;
	assert_int_equal(wav_ulaw(0xFF), 0);
	assert_int_equal(wav_ulaw(0x7F), 0);
	assert_int_equal(wav_ulaw(0x80), 32124);
	assert_int_equal(wav_ulaw(0x00), -32124);
	assert_int_equal(wav_alaw(0xD5), 8);
	assert_int_equal(wav_alaw(0x55), -8);
	assert_int_equal(wav_alaw(0xAA), 32256);
	assert_int_equal(wav_alaw(0x2A), -32256);

	/* A mu-law file with a fact chunk and an 18-byte fmt, as sox writes it. */
	riff(&B);
	put(&B, "fmt ", 4);
	put32(&B, 18);
	put16(&B, 7);
	put16(&B, 1);
	put32(&B, 8000);
	put32(&B, 8000);
	put16(&B, 1);
	put16(&B, 8);
	put16(&B, 0);
	put(&B, "fact", 4);
	put32(&B, 4);
	put32(&B, 3);
	data_hdr(&B, 3);
	put(&B, "\x80\xff\x00", 3);
	put(&B, "\0", 1); /* pad byte of an odd data chunk */
	finish(&B);
	vm_wav w;
	assert_int_equal(vm_wav_decode_rate(B.d, B.n, 0, &w, err, sizeof err), VM_WAV_OK);
	assert_int_equal(w.src_format, 7);
	assert_int_equal(w.nsamples, 3);
	assert_int_equal(w.samples[0], 32124);
	assert_int_equal(w.samples[1], 0);
	assert_int_equal(w.samples[2], -32124);
	vm_wav_free(&w);
}

static void pcm8_24_float(void **st)
{
	(void)st;
	vm_wav w;
	riff(&B);
	fmt(&B, 1, 1, 8000, 8);
	data_hdr(&B, 3);
	put(&B, "\x80\xff\x00", 3);
	finish(&B);
	assert_int_equal(vm_wav_decode_rate(B.d, B.n, 0, &w, err, sizeof err), VM_WAV_OK);
	assert_int_equal(w.samples[0], 0);
	assert_int_equal(w.samples[1], 32512);
	assert_int_equal(w.samples[2], -32768);
	vm_wav_free(&w);

	riff(&B);
	fmt(&B, 1, 1, 16000, 24);
	data_hdr(&B, 6);
	put(&B, "\x00\x10\x00\x00\x00\x80", 6); /* 0x001000 -> 16, 0x800000 -> -32768 */
	finish(&B);
	assert_int_equal(vm_wav_decode(B.d, B.n, &w, err, sizeof err), VM_WAV_OK);
	assert_int_equal(w.samples[0], 16);
	assert_int_equal(w.samples[1], -32768);
	vm_wav_free(&w);

	riff(&B);
	fmt(&B, 3, 1, 16000, 32);
	data_hdr(&B, 8);
	float f[2] = {0.5f, -2.0f};
	put(&B, f, sizeof f); /* the tests run little-endian, like WAV */
	finish(&B);
	assert_int_equal(vm_wav_decode(B.d, B.n, &w, err, sizeof err), VM_WAV_OK);
	assert_int_equal(w.samples[0], 16384);
	assert_int_equal(w.samples[1], -32768); /* clipped */
	vm_wav_free(&w);
}

static void truncated_data(void **st)
{
	(void)st;
	int16_t s[1000];
	for (int i = 0; i < 1000; i++)
		s[i] = (int16_t)i;
	pcm16(&B, 16000, 1, s, 1000);
	B.n -= 1001; /* cut 500.5 samples: the half sample is dropped */
	vm_wav w;
	assert_int_equal(vm_wav_decode(B.d, B.n, &w, err, sizeof err), VM_WAV_OK);
	assert_true(w.truncated);
	assert_int_equal(w.nsamples, 499);
	assert_int_equal(w.samples[498], 498);
	assert_true(fabs(w.duration - 499 / 16000.0) < 1e-9);
	assert_true(fabs(w.claimed_duration - 1000 / 16000.0) < 1e-9);
	vm_wav_free(&w);

	/* A streaming writer's 0xFFFFFFFF: unknown length, not truncation. */
	pcm16(&B, 16000, 1, s, 10);
	B.d[40] = B.d[41] = B.d[42] = B.d[43] = 0xFF;
	assert_int_equal(vm_wav_decode(B.d, B.n, &w, err, sizeof err), VM_WAV_OK);
	assert_false(w.truncated);
	assert_int_equal(w.nsamples, 10);
	vm_wav_free(&w);

	/* Cut inside the header: nothing sane to decode. */
	pcm16(&B, 16000, 1, s, 10);
	assert_int_equal(vm_wav_decode(B.d, 30, &w, err, sizeof err), VM_WAV_CORRUPT);
	assert_non_null(strstr(err, "fmt "));
	assert_null(w.samples);
	assert_int_equal(vm_wav_decode(B.d, 36, &w, err, sizeof err), VM_WAV_CORRUPT);
	assert_non_null(strstr(err, "no data chunk"));
}

static void not_a_wav(void **st)
{
	(void)st;
	vm_wav w;
	const unsigned char mp3[] = "ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
	assert_int_equal(vm_wav_decode(mp3, sizeof mp3, &w, err, sizeof err), VM_WAV_NOT_WAV);
	assert_non_null(strstr(err, "ID3\\x04"));
	assert_int_equal(vm_wav_decode((const unsigned char *)"RIFF", 4, &w, err, sizeof err),
	                 VM_WAV_NOT_WAV);
	assert_non_null(strstr(err, "4 bytes"));
	assert_int_equal(vm_wav_decode(NULL, 0, &w, err, sizeof err), VM_WAV_NOT_WAV);
	const unsigned char avi[] = "RIFF\x10\x00\x00\x00" "AVI LIST";
	assert_int_equal(vm_wav_decode(avi, sizeof avi - 1, &w, err, sizeof err), VM_WAV_NOT_WAV);
	assert_non_null(strstr(err, "AVI "));
	const unsigned char rf64[] = "RF64\xff\xff\xff\xff" "WAVEds64";
	assert_int_equal(vm_wav_decode(rf64, sizeof rf64 - 1, &w, err, sizeof err),
	                 VM_WAV_UNSUPPORTED);
	/* err may be NULL. */
	assert_int_equal(vm_wav_decode(mp3, sizeof mp3, &w, NULL, 0), VM_WAV_NOT_WAV);
}

static void list_chunk_before_data(void **st)
{
	(void)st;
	riff(&B);
	put(&B, "JUNK", 4);
	put32(&B, 3); /* odd: padded to 4 */
	put(&B, "abc\0", 4);
	fmt(&B, 1, 1, 16000, 16);
	put(&B, "LIST", 4);
	put32(&B, 9);
	put(&B, "INFOISFT\x01\0", 10);
	data_hdr(&B, 4);
	put16(&B, 123);
	put16(&B, (uint16_t)-321);
	put(&B, "LIST", 4); /* trailing chunks are ignored */
	put32(&B, 100);
	finish(&B);
	vm_wav w;
	assert_int_equal(vm_wav_decode(B.d, B.n, &w, err, sizeof err), VM_WAV_OK);
	assert_int_equal(w.nsamples, 2);
	assert_int_equal(w.samples[0], 123);
	assert_int_equal(w.samples[1], -321);
	assert_false(w.truncated);
	vm_wav_free(&w);

	/* A chunk before the audio that runs past the end is damage, named. */
	riff(&B);
	fmt(&B, 1, 1, 16000, 16);
	put(&B, "LIST", 4);
	put32(&B, 1000);
	put(&B, "INFO", 4);
	assert_int_equal(vm_wav_decode(B.d, B.n, &w, err, sizeof err), VM_WAV_CORRUPT);
	assert_non_null(strstr(err, "LIST"));
}

static void extensible(void **st)
{
	(void)st;
	static const unsigned char pcm_guid[16] = {0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00,
	                                           0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71};
	riff(&B);
	put(&B, "fmt ", 4);
	put32(&B, 40);
	put16(&B, 0xFFFE);
	put16(&B, 2);
	put32(&B, 8000);
	put32(&B, 8000 * 4);
	put16(&B, 4);
	put16(&B, 16);
	put16(&B, 22);    /* cbSize */
	put16(&B, 16);    /* valid bits */
	put32(&B, 3);     /* channel mask FL|FR */
	put(&B, pcm_guid, 16);
	size_t guid_at = B.n - 16;
	data_hdr(&B, 8);
	put16(&B, 100);
	put16(&B, 300);
	put16(&B, (uint16_t)-100);
	put16(&B, (uint16_t)-300);
	finish(&B);
	vm_wav w;
	assert_int_equal(vm_wav_decode_rate(B.d, B.n, 0, &w, err, sizeof err), VM_WAV_OK);
	assert_int_equal(w.src_format, 1);
	assert_int_equal(w.src_channels, 2);
	assert_int_equal(w.nsamples, 2);
	assert_int_equal(w.samples[0], 200);
	assert_int_equal(w.samples[1], -200);
	vm_wav_free(&w);

	B.d[guid_at + 15] ^= 0xFF; /* not a KSDATAFORMAT_SUBTYPE GUID */
	assert_int_equal(vm_wav_decode(B.d, B.n, &w, err, sizeof err), VM_WAV_UNSUPPORTED);
	assert_non_null(strstr(err, "EXTENSIBLE"));
}

static void unsupported_and_bad_fmt(void **st)
{
	(void)st;
	vm_wav w;
	riff(&B);
	fmt(&B, 0x55, 1, 8000, 16);
	data_hdr(&B, 0);
	finish(&B);
	assert_int_equal(vm_wav_decode(B.d, B.n, &w, err, sizeof err), VM_WAV_UNSUPPORTED);
	assert_non_null(strstr(err, "MPEG Layer 3"));

	riff(&B);
	fmt(&B, 1, 9, 8000, 16);
	data_hdr(&B, 0);
	assert_int_equal(vm_wav_decode(B.d, B.n, &w, err, sizeof err), VM_WAV_UNSUPPORTED);
	assert_non_null(strstr(err, "9 channels"));

	riff(&B);
	fmt(&B, 1, 1, 0, 16);
	data_hdr(&B, 0);
	assert_int_equal(vm_wav_decode(B.d, B.n, &w, err, sizeof err), VM_WAV_UNSUPPORTED);
	assert_non_null(strstr(err, "sample rate 0"));

	riff(&B);
	fmt(&B, 1, 1, 8000, 12);
	data_hdr(&B, 0);
	assert_int_equal(vm_wav_decode(B.d, B.n, &w, err, sizeof err), VM_WAV_UNSUPPORTED);

	riff(&B); /* block align that does not fit the channels */
	fmt(&B, 1, 2, 8000, 16);
	B.d[12 + 8 + 12] = 2;
	data_hdr(&B, 0);
	assert_int_equal(vm_wav_decode(B.d, B.n, &w, err, sizeof err), VM_WAV_CORRUPT);
	assert_non_null(strstr(err, "block align"));

	riff(&B);
	data_hdr(&B, 2);
	put16(&B, 0);
	fmt(&B, 1, 1, 8000, 16);
	assert_int_equal(vm_wav_decode(B.d, B.n, &w, err, sizeof err), VM_WAV_CORRUPT);
	assert_non_null(strstr(err, "before the fmt"));

	riff(&B);
	put(&B, "fmt ", 4);
	put32(&B, 8);
	put32(&B, 0);
	put32(&B, 0);
	assert_int_equal(vm_wav_decode(B.d, B.n, &w, err, sizeof err), VM_WAV_CORRUPT);

	riff(&B);
	assert_int_equal(vm_wav_decode(B.d, B.n, &w, err, sizeof err), VM_WAV_CORRUPT);
	assert_non_null(strstr(err, "no fmt chunk"));
}

static void empty_data(void **st)
{
	(void)st;
	pcm16(&B, 8000, 1, NULL, 0);
	vm_wav w;
	assert_int_equal(vm_wav_decode(B.d, B.n, &w, err, sizeof err), VM_WAV_OK);
	assert_int_equal(w.nsamples, 0);
	assert_true(w.duration == 0);
	vm_wav_free(&w);
}

/* ------------------------------------------------------------- limits */

/* A mono 8-bit PCM file of `seconds` at `rate`, malloc()ed (the builder
 * holds 256 KiB); the samples are a square wave. */
static unsigned char *pcm8_file(unsigned rate, double seconds, size_t *len)
{
	size_t n = (size_t)(rate * seconds);
	unsigned char *d = malloc(44 + n);
	assert_non_null(d);
	riff(&B);
	fmt(&B, 1, 1, rate, 8);
	data_hdr(&B, (uint32_t)n);
	finish(&B);
	memcpy(d, B.d, 44);
	for (size_t i = 0; i < n; i++)
		d[44 + i] = (i / 4) % 2 ? 200 : 56;
	uint32_t riff_size = (uint32_t)(36 + n);
	memcpy(d + 4, &riff_size, 4); /* little-endian hosts only, like the rest */
	*len = 44 + n;
	return d;
}

/* The audit: 1 kHz 8-bit upsampled 16x became 80 M samples from 5 MB. */
static void absurd_rates_refused(void **st)
{
	(void)st;
	static const struct { unsigned rate; bool ok; } cases[] = {
		{1000, false}, {3999, false}, {4000, true}, {8000, true}, {192000, true},
		{192001, false}, {384000, false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		size_t len;
		unsigned char *d = pcm8_file(cases[i].rate, 0.01, &len);
		vm_wav w;
		int rc = vm_wav_decode(d, len, &w, err, sizeof err);
		if (cases[i].ok) {
			if (rc != VM_WAV_OK)
				fail_msg("%u Hz refused: %s", cases[i].rate, err);
			vm_wav_free(&w);
		} else {
			assert_int_equal(rc, VM_WAV_UNSUPPORTED);
			char want[80];
			snprintf(want, sizeof want, "sample rate %u Hz (4000 to 192000 supported)", cases[i].rate);
			assert_string_equal(err, want);
		}
		free(d);
	}
}

/* Longer than max_seconds: refused before anything is decoded. */
static void duration_limit(void **st)
{
	(void)st;
	size_t len;
	unsigned char *d = pcm8_file(4000, 61, &len);
	vm_wav w;
	assert_int_equal(vm_wav_decode_limits(d, len, 16000, 60, 0, &w, err, sizeof err), VM_WAV_TOO_LONG);
	assert_string_equal(err, "1m 1s of audio; at most 1m 0s is decoded");
	assert_null(w.samples);
	assert_int_equal(vm_wav_decode_limits(d, len, 16000, 61, 0, &w, err, sizeof err), VM_WAV_OK);
	assert_int_equal(w.nsamples, 61 * 16000);
	vm_wav_free(&w);
	free(d);
	/* The engine-wide cap, whatever is asked: an hour. */
	d = pcm8_file(4000, 3601, &len);
	assert_int_equal(vm_wav_decode(d, len, &w, err, sizeof err), VM_WAV_TOO_LONG);
	assert_string_equal(err, "1h 0m 1s of audio; at most 1h 0m 0s is decoded");
	assert_int_equal(vm_wav_decode_limits(d, len, 16000, 86400, 0, &w, err, sizeof err), VM_WAV_TOO_LONG);
	free(d);
}

/* Within the duration but more memory than a decode may take: 150 MB of
 * 48 kHz 8-bit mono (52 minutes) would need 300 MB as 16-bit samples. */
static void memory_limit(void **st)
{
	(void)st;
	size_t n = 150u << 20;
	unsigned char *d = calloc(1, 44 + n); /* pages never touched: the header decides */
	assert_non_null(d);
	riff(&B);
	fmt(&B, 1, 1, 48000, 8);
	data_hdr(&B, (uint32_t)n);
	memcpy(d, B.d, B.n);
	vm_wav w;
	assert_int_equal(vm_wav_decode(d, 44 + n, &w, err, sizeof err), VM_WAV_TOO_LONG);
	assert_non_null(strstr(err, "decoding would take"));
	free(d);
}

/* A clock that moves 1 ms each time it is read. */
static int64_t ticks;
static int64_t tick_now(void *ctx)
{
	(void)ctx;
	return ++ticks;
}
static void tick_sleep(void *ctx, int64_t ms)
{
	(void)ctx;
	ticks += ms;
}

/* The job's deadline stops a long decode, before it starts or on the way. */
static void deadline_stops_decoding(void **st)
{
	(void)st;
	struct clock_ops ops = {tick_now, tick_sleep, NULL};
	clock_set(&ops);
	size_t len;
	unsigned char *d = pcm8_file(8000, 60, &len); /* 480,000 samples, ~7 checks */
	vm_wav w;
	ticks = 1000;
	assert_int_equal(vm_wav_decode_limits(d, len, 16000, 0, 500, &w, err, sizeof err), VM_WAV_DEADLINE);
	assert_string_equal(err, "the job's deadline passed while decoding");
	assert_null(w.samples);
	ticks = 1000;
	assert_int_equal(vm_wav_decode_limits(d, len, 16000, 0, 1004, &w, err, sizeof err), VM_WAV_DEADLINE);
	assert_non_null(strstr(err, "the job's deadline passed while"));
	ticks = 1000;
	assert_int_equal(vm_wav_decode_limits(d, len, 16000, 0, 0, &w, err, sizeof err), VM_WAV_OK);
	assert_int_equal(w.nsamples, 960000);
	vm_wav_free(&w);
	ticks = 1000;
	assert_int_equal(vm_wav_decode_limits(d, len, 16000, 0, 1000000, &w, err, sizeof err), VM_WAV_OK);
	vm_wav_free(&w);
	clock_set(NULL);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_16k_mono),
		cmocka_unit_test(stereo_mixdown),
		cmocka_unit_test(resample_8k_to_16k),
		cmocka_unit_test(resample_lengths_and_aliasing),
		cmocka_unit_test(g711),
		cmocka_unit_test(pcm8_24_float),
		cmocka_unit_test(truncated_data),
		cmocka_unit_test(not_a_wav),
		cmocka_unit_test(list_chunk_before_data),
		cmocka_unit_test(extensible),
		cmocka_unit_test(unsupported_and_bad_fmt),
		cmocka_unit_test(empty_data),
		cmocka_unit_test(absurd_rates_refused),
		cmocka_unit_test(duration_limit),
		cmocka_unit_test(memory_limit),
		cmocka_unit_test(deadline_stops_decoding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
