/*
 * Unit tests for engine/audio/gsm.c and its hook in engine/audio/wav.c: GSM 6.10 in a WAV
 * (format 0x0031, Asterisk's wav49) and raw .gsm files, decoded through the
 * WAV reader and compared sample by sample with sox's decoding of the same
 * files (sox -R -D: the fixtures are the same bytes every run).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "audio/gsm.h"
#include "testenv.h"
#include "core/util.h"
#include "audio/wav.h"

static char *tmp;
static char err[256];

static int setup(void **st)
{
	(void)st;
	tmp = test_tmpdir("gsm");
	return tmp ? 0 : -1;
}

static int teardown(void **st)
{
	(void)st;
	test_rmtree(tmp);
	free(tmp);
	return 0;
}

static void sh(const char *fmt, ...) VM_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

static unsigned char *slurp(const char *name, size_t *len)
{
	char path[4096];
	char *data;
	snprintf(path, sizeof path, "%s/%s", tmp, name);
	if (read_file(path, 64 << 20, &data, len) != 0)
		fail_msg("cannot read %s", path);
	return (unsigned char *)data;
}

/*
 * Make SRC (sox synth arguments) into name.wav (GSM in WAV) and name.gsm
 * (raw), have sox decode both to 16-bit PCM, decode both with vm_wav_decode_rate
 * at the file's own rate, and return the largest difference in LSB.
 */
static int compare_with_sox(const char *name, const char *synth, size_t *nsamples)
{
	sh("cd '%s' && sox -V1 -R -D -n -r 8000 -c 1 -b 16 %s.src.wav synth %s"
	   " && sox -R -D %s.src.wav -e gsm-full-rate %s.wav"
	   " && sox -R -D %s.src.wav -t gsm %s.gsm"
	   " && sox -R -D %s.wav -t raw -e signed-integer -b 16 -L %s.wav.s16"
	   " && sox -R -D -t gsm %s.gsm -t raw -e signed-integer -b 16 -L %s.gsm.s16",
	   tmp, name, synth, name, name, name, name, name, name, name, name);
	int worst = 0;
	*nsamples = 0;
	static const char *const kinds[] = {"wav", "gsm"};
	for (int k = 0; k < 2; k++) {
		char f[256], ref[256];
		snprintf(f, sizeof f, "%s.%s", name, kinds[k]);
		snprintf(ref, sizeof ref, "%s.%s.s16", name, kinds[k]);
		size_t len, rlen;
		unsigned char *d = slurp(f, &len), *r = slurp(ref, &rlen);
		vm_wav w;
		int rc = vm_wav_decode_rate(d, len, 0, &w, err, sizeof err);
		if (rc != VM_WAV_OK)
			fail_msg("%s: %d %s", f, rc, err);
		assert_int_equal(w.rate, 8000);
		assert_int_equal(w.src_format, GSM_WAV_FORMAT);
		assert_int_equal(w.src_channels, 1);
		/* sox decodes every whole block, as we do. */
		if (w.nsamples != rlen / 2)
			fail_msg("%s: %zu samples, sox %zu", f, w.nsamples, rlen / 2);
		for (size_t i = 0; i < w.nsamples; i++) {
			int s = (int16_t)(r[2 * i] | r[2 * i + 1] << 8), diff = abs(s - w.samples[i]);
			if (diff > worst)
				worst = diff;
		}
		assert_true(w.duration > 0);
		*nsamples += w.nsamples;
		vm_wav_free(&w);
		free(d);
		free(r);
	}
	return worst;
}

static void same_as_sox(void **st)
{
	(void)st;
	static const struct { const char *name, *synth; } sigs[] = {
		{"sweep", "2.5 sine 200-3400 vol 0.5"},
		{"noise", "2 pinknoise vol 0.7"},
		{"loud", "1.5 square 440 vol 0.99"}, /* saturates the codec */
	};
	int worst = 0;
	size_t total = 0;
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
		size_t n;
		int d = compare_with_sox(sigs[i].name, sigs[i].synth, &n);
		if (d > worst)
			worst = d;
		total += n;
	}
	/* Both are libgsm: sample-exact is what we expect, 1 LSB what we allow. */
	printf("gsm: max |vmpipe - sox| = %d LSB over %zu samples (WAV49 and raw)\n", worst, total);
	assert_true(worst <= 1);
}

static void resampled_and_duration(void **st)
{
	(void)st;
	sh("cd '%s' && sox -V1 -R -D -n -r 8000 -c 1 -b 16 d.src.wav synth 1.2 sine 440 vol 0.5"
	   " && sox -R -D d.src.wav -e gsm-full-rate d.wav && sox -R -D d.src.wav -t gsm d.gsm", tmp);
	size_t len;
	unsigned char *d = slurp("d.wav", &len);
	vm_wav w;
	assert_int_equal(vm_wav_decode(d, len, &w, err, sizeof err), VM_WAV_OK);
	assert_int_equal(w.rate, 16000);
	assert_int_equal(w.src_rate, 8000);
	/* 1.2 s = 9600 samples = 30 blocks of 320. */
	assert_int_equal(w.nsamples, 2 * 9600);
	assert_true(w.duration > 1.19 && w.duration < 1.21);
	assert_false(w.truncated);
	vm_wav_free(&w);

	/* A wav49 file cut inside its data: what is there is decoded. */
	size_t cut = len - 3 * GSM_WAV_BLOCK - 7;
	assert_int_equal(vm_wav_decode_rate(d, cut, 0, &w, err, sizeof err), VM_WAV_OK);
	assert_true(w.truncated);
	assert_int_equal(w.nsamples, (9600 / GSM_WAV_SAMPLES - 4) * GSM_WAV_SAMPLES);
	assert_true(w.claimed_duration > 1.19 && w.claimed_duration < 1.21);
	vm_wav_free(&w);
	free(d);

	d = slurp("d.gsm", &len);
	assert_int_equal(len, 9600 / GSM_RAW_SAMPLES * GSM_RAW_FRAME);
	assert_int_equal(vm_wav_decode(d, len, &w, err, sizeof err), VM_WAV_OK);
	assert_int_equal(w.nsamples, 2 * 9600);
	vm_wav_free(&w);
	/* A raw file with a partial last frame: the whole frames are decoded. */
	assert_int_equal(vm_wav_decode_rate(d, len - 5, 0, &w, err, sizeof err), VM_WAV_OK);
	assert_int_equal(w.nsamples, 9600 - GSM_RAW_SAMPLES);
	vm_wav_free(&w);
	free(d);
}

static void raw_probe(void **st)
{
	(void)st;
	unsigned char frames[4 * GSM_RAW_FRAME];
	memset(frames, 0x11, sizeof frames);
	for (int i = 0; i < 4; i++)
		frames[i * GSM_RAW_FRAME] = 0xD3;
	assert_true(gsm_raw_probe(frames, sizeof frames));
	assert_true(gsm_raw_probe(frames, sizeof frames - 10)); /* a partial last frame */
	assert_false(gsm_raw_probe(frames, GSM_RAW_FRAME - 1)); /* not one whole frame */
	assert_false(gsm_raw_probe(NULL, 0));
	frames[2 * GSM_RAW_FRAME] = 0x53; /* one frame without the magic: not GSM */
	assert_false(gsm_raw_probe(frames, sizeof frames));
	vm_wav w;
	assert_int_equal(vm_wav_decode(frames, sizeof frames, &w, err, sizeof err), VM_WAV_NOT_WAV);
	assert_non_null(strstr(err, "no RIFF header"));
}

/* A fmt chunk of format 0x0031 with the given fields, 320 samples per block. */
static size_t gsm_wav(unsigned char *b, unsigned ch, unsigned block, unsigned spb, size_t blocks)
{
	size_t n = 0;
#define P(s, k) (memcpy(b + n, s, k), n += k)
#define P16(v) (b[n++] = (unsigned char)(v), b[n++] = (unsigned char)((v) >> 8))
#define P32(v) (P16((v) & 0xffff), P16((unsigned)(v) >> 16))
	P("RIFF", 4); P32(0); P("WAVE", 4);
	P("fmt ", 4); P32(20); P16(GSM_WAV_FORMAT); P16(ch); P32(8000); P32(1625); P16(block);
	P16(0); P16(2); P16(spb);
	P("data", 4); P32(blocks * 65);
	memset(b + n, 0, blocks * 65);
	n += blocks * 65;
	return n;
#undef P
#undef P16
#undef P32
}

static void bad_gsm_fmt(void **st)
{
	(void)st;
	static unsigned char b[1024];
	vm_wav w;
	size_t n = gsm_wav(b, 1, 65, 320, 2);
	assert_int_equal(vm_wav_decode_rate(b, n, 0, &w, err, sizeof err), VM_WAV_OK);
	assert_int_equal(w.nsamples, 640);
	vm_wav_free(&w);

	n = gsm_wav(b, 2, 65, 320, 2);
	assert_int_equal(vm_wav_decode(b, n, &w, err, sizeof err), VM_WAV_UNSUPPORTED);
	assert_non_null(strstr(err, "2 channels"));
	n = gsm_wav(b, 1, 33, 320, 2);
	assert_int_equal(vm_wav_decode(b, n, &w, err, sizeof err), VM_WAV_UNSUPPORTED);
	assert_non_null(strstr(err, "block align 33"));
	n = gsm_wav(b, 1, 65, 160, 2);
	assert_int_equal(vm_wav_decode(b, n, &w, err, sizeof err), VM_WAV_UNSUPPORTED);
	assert_non_null(strstr(err, "160 samples per block"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(same_as_sox),
		cmocka_unit_test(resampled_and_duration),
		cmocka_unit_test(raw_probe),
		cmocka_unit_test(bad_gsm_fmt),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
