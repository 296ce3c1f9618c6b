/*
 * GSM bench harness: decode a GSM 6.10 file (wav49 or raw .gsm) with the
 * engine's WAV reader at the file's own rate, write the samples as raw
 * 16-bit little-endian PCM to OUT, and print {"samples":N,"cpu_s":X} (the
 * CPU seconds of `runs` decodes).  Built and driven by tests/bench/pbx_bench.py.
 *
 *   gsm_bench FILE OUT.s16 [RUNS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <vmpipe/vmpipe.h>

#include "core/util.h"

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: gsm_bench FILE OUT.s16 [RUNS]\n");
		return 64;
	}
	int runs = argc > 3 ? atoi(argv[3]) : 1;
	char *data, err[256];
	size_t len;
	if (read_file(argv[1], 256u << 20, &data, &len) != 0) {
		perror(argv[1]);
		return 66;
	}
	vm_wav w = {0};
	double t0 = cpu_now();
	for (int i = 0; i < (runs > 0 ? runs : 1); i++) {
		vm_wav_free(&w);
		if (vm_wav_decode_rate((unsigned char *)data, len, 0, &w, err, sizeof err) != VM_WAV_OK) {
			fprintf(stderr, "%s: %s\n", argv[1], err);
			return 65;
		}
	}
	double cpu = cpu_now() - t0;
	FILE *f = fopen(argv[2], "wb");
	for (size_t i = 0; f && i < w.nsamples; i++) {
		unsigned v = (uint16_t)w.samples[i];
		fputc((int)(v & 0xff), f);
		fputc((int)(v >> 8), f);
	}
	if (!f || fclose(f) != 0) {
		perror(argv[2]);
		return 73;
	}
	printf("{\"samples\": %zu, \"rate\": %u, \"cpu_s\": %.6f}\n", w.nsamples, w.rate, cpu);
	vm_wav_free(&w);
	free(data);
	return 0;
}
