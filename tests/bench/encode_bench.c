/*
 * Encode bench harness: make the playable form of a recording with the host
 * API (vm_audio_playable: the engine's decoder, then LAME or the WAV writer)
 * `runs` times, write the last result to OUT, and print
 * {"bytes":N,"cpu_s":X,"type":"audio/mpeg"} (the CPU seconds of all runs).
 * Built and driven by tests/bench/encode_bench.py.
 *
 *   encode_bench FILE OUT FORMAT RUNS      FORMAT: 2 wav, 3 mp3 (VM_PLAYABLE_*)
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
	if (argc < 5) {
		fprintf(stderr, "usage: encode_bench FILE OUT FORMAT RUNS\n");
		return 64;
	}
	int format = atoi(argv[3]), runs = atoi(argv[4]);
	char *data, err[256];
	size_t len;
	if (read_file(argv[1], 256u << 20, &data, &len) != 0) {
		perror(argv[1]);
		return 66;
	}
	vm_buf out = {0};
	const char *type = NULL;
	double t0 = cpu_now();
	for (int i = 0; i < (runs > 0 ? runs : 1); i++) {
		free(out.data);
		int rc = vm_audio_playable((const unsigned char *)data, len, format, &out, &type, err,
					   sizeof err);
		if (rc != 0) {
			fprintf(stderr, "encode_bench: %s: %d %s\n", argv[1], rc, err);
			return 65;
		}
	}
	double cpu = cpu_now() - t0;
	FILE *f = fopen(argv[2], "wb");
	if (!f || fwrite(out.data, 1, out.len, f) != out.len || fclose(f) != 0) {
		perror(argv[2]);
		return 73;
	}
	printf("{\"bytes\":%zu,\"cpu_s\":%.6f,\"type\":\"%s\"}\n", out.len, cpu, type);
	free(out.data);
	free(data);
	return 0;
}
