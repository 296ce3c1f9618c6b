/*
 * Unit tests for vm_audio_playable() and vm_wav_write() (engine/audio/encode.c,
 * mp3.c): which recordings are converted, what a WAV and an MP3 look like, and
 * the refusals.  The decoded MP3's length is checked end to end with
 * `lame --decode` in tests/integration/test_attach_format.py.
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

enum { RATE = 8000, N = RATE * 2 }; /* two seconds */
static int16_t tone[N];

static void make_tone(void)
{
	for (int i = 0; i < N; i++)
		tone[i] = (int16_t)lrint(8000 * sin(2 * M_PI * 440 * i / RATE));
}

/* A mu-law WAV of the tone (format 7, 8 bits). */
static unsigned char *ulaw_wav(size_t *len)
{
	size_t pcm_len;
	unsigned char *pcm = vm_wav_write(tone, N, RATE, &pcm_len);
	assert_non_null(pcm);
	unsigned char *w = malloc(44 + N);
	assert_non_null(w);
	memcpy(w, pcm, 44);
	free(pcm);
	w[20] = 7;                   /* WAVE_FORMAT_MULAW */
	w[28] = RATE & 0xff, w[29] = RATE >> 8, w[30] = 0, w[31] = 0; /* bytes a second */
	w[32] = 1, w[34] = 8;        /* block align, bits */
	w[40] = N & 0xff, w[41] = N >> 8, w[42] = 0, w[43] = 0;
	w[4] = (36 + N) & 0xff, w[5] = (36 + N) >> 8, w[6] = 0, w[7] = 0;
	for (int i = 0; i < N; i++) { /* G.711 mu-law, the inverse of wav_ulaw() */
		int s = tone[i], sign = s < 0 ? 0x80 : 0;
		if (s < 0)
			s = -s;
		if (s > 32635)
			s = 32635;
		s += 0x84;
		int e = 7;
		while (e > 0 && !(s & (0x4000 >> (7 - e))))
			e--;
		w[44 + i] = (unsigned char)~(sign | e << 4 | ((s >> (e + 3)) & 0x0f));
	}
	*len = 44 + N;
	return w;
}

static void wav_write_is_canonical(void **st)
{
	(void)st;
	size_t len;
	unsigned char *w = vm_wav_write(tone, N, RATE, &len);
	assert_non_null(w);
	assert_int_equal(len, 44 + 2 * N);
	vm_wav back;
	assert_int_equal(vm_wav_decode_rate(w, len, 0, &back, NULL, 0), VM_WAV_OK);
	assert_int_equal(back.nsamples, N);
	assert_int_equal(back.src_format, 1);
	assert_int_equal(back.src_bits, 16);
	assert_memory_equal(back.samples, tone, sizeof tone);
	vm_wav_free(&back);
	free(w);
}

static void auto_keeps_pcm_and_what_it_cannot_read(void **st)
{
	(void)st;
	size_t len;
	unsigned char *w = vm_wav_write(tone, N, RATE, &len);
	vm_buf out;
	const char *type = "x";
	char err[200];
	assert_int_equal(vm_audio_playable(w, len, VM_PLAYABLE_AUTO, &out, &type, err, sizeof err),
			 VM_PLAYABLE_KEPT);
	assert_null(out.data);
	assert_null(type);
	static const unsigned char mp3[] = "ID3\x04\0\0\0\0\0\0\xff\xfb\x90\x64 not really";
	assert_int_equal(vm_audio_playable(mp3, sizeof mp3, VM_PLAYABLE_AUTO, &out, &type, err,
					   sizeof err), VM_PLAYABLE_KEPT);
	assert_int_equal(vm_audio_playable(w, len, VM_PLAYABLE_ORIGINAL, &out, &type, err,
					   sizeof err), VM_PLAYABLE_KEPT);
	/* Asked for a form it cannot make: refused, with the reason. */
	assert_int_equal(vm_audio_playable(mp3, sizeof mp3, VM_PLAYABLE_MP3, &out, &type, err,
					   sizeof err), VM_WAV_NOT_WAV);
	assert_true(err[0] != '\0');
	assert_int_equal(vm_audio_playable(w, len, 42, &out, &type, err, sizeof err),
			 VM_WAV_UNSUPPORTED);
	free(w);
}

/* Bytes of the MPEG audio frame at p: 0 when p is no Layer III frame header. */
static size_t frame_bytes(const unsigned char *p, unsigned *rate, unsigned *kbps)
{
	if (p[0] != 0xff || (p[1] & 0xe0) != 0xe0 || ((p[1] >> 1) & 3) != 1)
		return 0;
	unsigned version = (p[1] >> 3) & 3; /* 0: 2.5, 2: 2, 3: 1 */
	static const unsigned br2[] = {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160};
	static const unsigned sr25[] = {11025, 12000, 8000}, sr2[] = {22050, 24000, 16000};
	unsigned bi = p[2] >> 4, si = (p[2] >> 2) & 3;
	if (version == 3 || bi == 0 || bi > 14 || si > 2)
		return 0;
	*kbps = br2[bi];
	*rate = version == 0 ? sr25[si] : sr2[si];
	return 72000u * *kbps / *rate + ((p[2] >> 1) & 1);
}

static void mulaw_becomes_mp3(void **st)
{
	(void)st;
	size_t len;
	unsigned char *w = ulaw_wav(&len);
	vm_buf out;
	const char *type;
	char err[200];
	assert_int_equal(vm_audio_playable(w, len, VM_PLAYABLE_AUTO, &out, &type, err, sizeof err), 0);
	assert_string_equal(type, "audio/mpeg");
	/* Frame by frame: mono MPEG-2.5 Layer III at 8 kHz, 24 kbit/s, with LAME's
	 * Info tag in the first. */
	assert_memory_equal(out.data + 13, "Info", 4);
	size_t off = 0, frames = 0;
	while (off + 4 <= out.len) {
		unsigned rate, kbps;
		size_t fb = frame_bytes(out.data + off, &rate, &kbps);
		assert_true(fb > 0);
		assert_int_equal(rate, 8000);
		assert_int_equal(kbps, 24);
		assert_int_equal(out.data[off + 3] >> 6, 3); /* single channel */
		off += fb;
		frames++;
	}
	assert_int_equal(off, out.len);
	/* 576 samples a frame: the tone, the encoder's delay and padding, the tag. */
	assert_true(frames * 576 >= N + 1105 && frames * 576 <= N + 1105 + 576 + 2 * 576);
	free(out.data);
	/* wav: 16-bit PCM of the same samples as the decoder gives. */
	assert_int_equal(vm_audio_playable(w, len, VM_PLAYABLE_WAV, &out, &type, err, sizeof err), 0);
	assert_string_equal(type, "audio/wav");
	vm_wav a, b;
	assert_int_equal(vm_wav_decode_rate(out.data, out.len, 0, &a, NULL, 0), VM_WAV_OK);
	assert_int_equal(vm_wav_decode_rate(w, len, 0, &b, NULL, 0), VM_WAV_OK);
	assert_int_equal(a.src_bits, 16);
	assert_int_equal(a.nsamples, b.nsamples);
	assert_memory_equal(a.samples, b.samples, a.nsamples * 2);
	vm_wav_free(&a);
	vm_wav_free(&b);
	free(out.data);
	free(w);
}

static void high_rates_go_to_16k(void **st)
{
	(void)st;
	static int16_t s[48000];
	for (int i = 0; i < 48000; i++)
		s[i] = (int16_t)lrint(4000 * sin(2 * M_PI * 300 * i / 48000.0));
	size_t len;
	unsigned char *w = vm_wav_write(s, 48000, 48000, &len);
	vm_buf out;
	const char *type;
	char err[200];
	assert_int_equal(vm_audio_playable(w, len, VM_PLAYABLE_MP3, &out, &type, err, sizeof err), 0);
	unsigned rate, kbps;
	assert_true(frame_bytes(out.data, &rate, &kbps) > 0);
	assert_int_equal(rate, 16000);
	assert_int_equal(kbps, 32);
	free(out.data);
	free(w);
}

int main(void)
{
	make_tone();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wav_write_is_canonical),
		cmocka_unit_test(auto_keeps_pcm_and_what_it_cannot_read),
		cmocka_unit_test(mulaw_becomes_mp3),
		cmocka_unit_test(high_rates_go_to_16k),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
