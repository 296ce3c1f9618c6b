/*
 * Unit tests for vm_wav_probe() (engine/audio/wav.c): the header of a WAV file,
 * without its samples, sized against the whole file.  The files are built
 * byte by byte; the probe must agree with vm_wav_decode_rate(…, 0, …) on
 * everything but the samples.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "audio/wav.h"

static unsigned char D[1 << 17];
static size_t N;
static char err[256];

static void put(const void *p, size_t n)
{
	assert_true(N + n <= sizeof D);
	memcpy(D + N, p, n);
	N += n;
}

static void put16(unsigned v)
{
	unsigned char p[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
	put(p, 2);
}

static void put32(uint32_t v)
{
	unsigned char p[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
	                      (unsigned char)(v >> 24)};
	put(p, 4);
}

/* RIFF header, an optional LIST chunk of `list` bytes, fmt, the data chunk
 * header claiming `claimed` bytes, then `present` bytes of samples. */
static void build(unsigned tag, unsigned ch, unsigned rate, unsigned bits, size_t list,
                  uint32_t claimed, size_t present)
{
	N = 0;
	put("RIFF", 4);
	put32(0);
	put("WAVE", 4);
	if (list) {
		put("LIST", 4);
		put32((uint32_t)list);
		assert_true(N + list <= sizeof D);
		memset(D + N, 'x', list);
		N += list;
	}
	unsigned block = ch * bits / 8;
	put("fmt ", 4);
	put32(16);
	put16(tag);
	put16(ch);
	put32(rate);
	put32(rate * block);
	put16(block);
	put16(bits);
	put("data", 4);
	put32(claimed);
	assert_true(N + present <= sizeof D);
	for (size_t i = 0; i < present; i++)
		D[N++] = (unsigned char)(i * 13);
}

/* The probe on the first `head` bytes of D (the file is N bytes) agrees with
 * a full decode at the file's own rate. */
static void agrees_with_decode(size_t head)
{
	vm_wav p, d;
	assert_int_equal(vm_wav_probe(D, head, N, &p, err, sizeof err), VM_WAV_OK);
	assert_int_equal(vm_wav_decode_rate(D, N, 0, &d, err, sizeof err), VM_WAV_OK);
	assert_null(p.samples);
	assert_int_equal(p.nsamples, d.nsamples);
	assert_int_equal(p.rate, d.rate);
	assert_int_equal(p.src_rate, d.src_rate);
	assert_int_equal(p.src_channels, d.src_channels);
	assert_int_equal(p.src_bits, d.src_bits);
	assert_int_equal(p.src_format, d.src_format);
	assert_true(p.duration == d.duration);
	assert_true(p.claimed_duration == d.claimed_duration);
	assert_int_equal(p.truncated, d.truncated);
	vm_wav_free(&d);
	vm_wav_free(&p); /* nothing to free, harmless */
}

static void test_header_only(void **st)
{
	(void)st;
	/* 8 kHz stereo 16-bit, 1.5 s: only the 44 header bytes are given. */
	build(1, 2, 8000, 16, 0, 48000, 48000);
	vm_wav p;
	assert_int_equal(vm_wav_probe(D, 44, N, &p, err, sizeof err), VM_WAV_OK);
	assert_true(p.duration == 1.5);
	assert_int_equal(p.nsamples, 12000);
	assert_int_equal(p.src_channels, 2);
	assert_false(p.truncated);
	agrees_with_decode(44);
	agrees_with_decode(N); /* the whole file works the same */
	/* file_size 0: the bytes given are the whole file. */
	assert_int_equal(vm_wav_probe(D, N, 0, &p, err, sizeof err), VM_WAV_OK);
	assert_true(p.duration == 1.5);
}

static void test_codecs(void **st)
{
	(void)st;
	build(7, 1, 8000, 8, 0, 16000, 16000); /* mu-law, 2 s */
	agrees_with_decode(44);
	build(6, 1, 8000, 8, 0, 4000, 4000); /* A-law, 0.5 s */
	agrees_with_decode(44);
	build(3, 1, 16000, 32, 0, 64000, 64000); /* float, 1 s */
	agrees_with_decode(100);
}

static void test_cut_short_and_streaming(void **st)
{
	(void)st;
	/* The header claims 2 s, the file holds 1 s: the duration is what is there. */
	build(1, 1, 8000, 16, 0, 32000, 16000);
	vm_wav p;
	assert_int_equal(vm_wav_probe(D, 44, N, &p, err, sizeof err), VM_WAV_OK);
	assert_true(p.truncated);
	assert_true(p.duration == 1.0);
	assert_true(p.claimed_duration == 2.0);
	agrees_with_decode(44);
	/* 0xFFFFFFFF: a streaming writer never filled the size in. */
	build(1, 1, 8000, 16, 0, UINT32_MAX, 8000);
	agrees_with_decode(44);
	assert_int_equal(vm_wav_probe(D, 44, N, &p, err, sizeof err), VM_WAV_OK);
	assert_true(p.duration == 0.5);
	assert_false(p.truncated);
	/* A trailing odd byte (half a sample frame) does not count. */
	build(1, 1, 8000, 16, 0, UINT32_MAX, 8001);
	agrees_with_decode(44);
}

static void test_long_header(void **st)
{
	(void)st;
	/* A 70000-byte LIST chunk before fmt: found when given, refused by name when
	 * the bytes read end inside it. */
	build(1, 1, 8000, 16, 70000, 8000, 8000);
	agrees_with_decode(70100);
	vm_wav p;
	assert_int_equal(vm_wav_probe(D, 65536, N, &p, err, sizeof err), VM_WAV_CORRUPT);
	assert_non_null(strstr(err, "\"LIST\""));
	assert_non_null(strstr(err, "within the first 65536 bytes of"));
	assert_null(p.samples);
}

static void test_not_wav(void **st)
{
	(void)st;
	vm_wav p;
	static const unsigned char id3[] = "ID3\x04\0\0\0\0\0\0\0\0\0\0";
	assert_int_equal(vm_wav_probe(id3, sizeof id3, 1 << 20, &p, err, sizeof err),
	                 VM_WAV_NOT_WAV);
	assert_non_null(strstr(err, "ID3"));
	assert_int_equal(vm_wav_probe(NULL, 0, 0, &p, err, sizeof err), VM_WAV_NOT_WAV);
	build(0x55, 1, 8000, 16, 0, 100, 100); /* MPEG Layer 3 in a WAV */
	assert_int_equal(vm_wav_probe(D, N, N, &p, err, sizeof err), VM_WAV_UNSUPPORTED);
	assert_non_null(strstr(err, "MPEG Layer 3"));
	/* A corrupt header in a file given whole: no "first N bytes" hint. */
	build(1, 1, 8000, 16, 0, 100, 100);
	memcpy(D + 12, "data", 4); /* data before fmt */
	assert_int_equal(vm_wav_probe(D, N, N, &p, err, sizeof err), VM_WAV_CORRUPT);
	assert_null(strstr(err, "within the first"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_only),
		cmocka_unit_test(test_codecs),
		cmocka_unit_test(test_cut_short_and_streaming),
		cmocka_unit_test(test_long_header),
		cmocka_unit_test(test_not_wav),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
