/*
 * Speech bench harness: decode WAV files with the transcribe-sphinx decoder
 * pool exactly as the plugin does (vm_wav_decode_rate + sphinx_pool_decode)
 * and print one JSON object per file with the CPU seconds spent decoding.
 * Built and driven by tests/bench/sphinx_bench.py.
 *
 *   sphinx_bench [-m MODEL] [-r RATE] [-a "PS ARGS"] FILE.wav...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vmpipe/vmpipe.h>

#include "../../plugins/transcribe-sphinx/decoder.h"

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 20, n = 0;
	unsigned char *buf = malloc(cap);
	while (buf) {
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		unsigned char *nb = realloc(buf, cap *= 2);
		if (!nb)
			free(buf);
		buf = nb;
	}
	fclose(f);
	*len = n;
	return buf;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

int main(int argc, char **argv)
{
	sphinx_conf conf = {.model = "/usr/share/pocketsphinx/model/en-us", .rate = 16000};
	int opt;
	while ((opt = getopt(argc, argv, "m:r:a:v")) != -1) {
		switch (opt) {
		case 'm': conf.model = optarg; break;
		case 'r': conf.rate = (unsigned)atoi(optarg); break;
		case 'a': conf.args = optarg; break;
		case 'v': conf.log = true; break;
		default:
			fprintf(stderr, "usage: sphinx_bench [-m MODEL] [-r RATE] [-a ARGS] [-v] FILE...\n");
			return 2;
		}
	}
	char err[512];
	double t0 = cpu_now();
	sphinx_pool *pool = sphinx_pool_new(&conf, 1, err, sizeof err);
	if (!pool) {
		fprintf(stderr, "sphinx_bench: %s\n", err);
		return 1;
	}
	printf("{\"load_cpu_seconds\": %.4f}\n", cpu_now() - t0);
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		size_t len;
		unsigned char *data = slurp(argv[i], &len);
		vm_wav wav;
		if (!data || vm_wav_decode_rate(data, len, conf.rate, &wav, err, sizeof err) != 0) {
			fprintf(stderr, "sphinx_bench: %s: %s\n", argv[i], data ? err : "unreadable");
			free(data);
			rc = 1;
			continue;
		}
		sphinx_result res;
		double t1 = cpu_now();
		if (sphinx_pool_decode(pool, wav.samples, wav.nsamples, &res, err, sizeof err) != 0) {
			fprintf(stderr, "sphinx_bench: %s: %s\n", argv[i], err);
			rc = 1;
		} else {
			double cpu = cpu_now() - t1;
			printf("{\"file\": ");
			json_str(argv[i]);
			printf(", \"audio_seconds\": %.3f, \"cpu_seconds\": %.4f, \"speech_seconds\": %.2f, "
			       "\"text\": ", wav.duration, cpu, res.speech_seconds);
			json_str(res.text);
			printf("}\n");
			sphinx_result_free(&res);
		}
		vm_wav_free(&wav);
		free(data);
	}
	sphinx_pool_free(pool);
	return rc;
}
