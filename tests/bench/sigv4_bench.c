/*
 * SigV4 benchmark: signatures per second and CPU microseconds per signed
 * request, with the signing key cached (the steady state) and cold (the key
 * derived for every request: the first request of a day/region/service).
 * Prints one JSON object on stdout.
 *
 * Build: cc <engine CFLAGS> -o sigv4_bench tests/bench/sigv4_bench.c
 *        engine/aws/sigv4.c engine/aws/uri.c $(pkg-config --libs libcrypto)
 * (or link the engine objects, as the unit tests do).
 * Usage: sigv4_bench [seconds per measurement, default 1]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/sigv4.h"

static double now(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct figures {
	double per_s;  /* signed requests per wall-clock second */
	double cpu_us; /* CPU microseconds per signed request */
	long n;
};

/* Sign for `secs`; when cold, forget the key before each request. */
static struct figures run(const struct sigv4_request *req, const struct sigv4_params *p,
                          bool presign, bool cold, double secs)
{
	struct figures f = {0};
	double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID), w1;
	do {
		for (int i = 0; i < 200; i++) {
			struct sigv4_result res;
			char err[128];
			if (cold)
				sigv4_key_cache_clear();
			int rc = presign ? sigv4_presign(req, p, 3600, &res, err, sizeof err)
			                 : sigv4_sign(req, p, &res, err, sizeof err);
			if (rc != 0) {
				fprintf(stderr, "sigv4_bench: %s\n", err);
				exit(1);
			}
			sigv4_result_free(&res);
			f.n++;
		}
		w1 = now(CLOCK_MONOTONIC);
	} while (w1 - w0 < secs);
	double c1 = now(CLOCK_PROCESS_CPUTIME_ID);
	f.per_s = (double)f.n / (w1 - w0);
	f.cpu_us = (c1 - c0) * 1e6 / (double)f.n;
	return f;
}

static void print(const char *name, struct figures f, bool last)
{
	printf("  \"%s\": {\"signatures_per_s\": %.0f, \"cpu_us_per_request\": %.2f, \"n\": %ld}%s\n",
	       name, f.per_s, f.cpu_us, f.n, last ? "" : ",");
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0;
	if (secs <= 0)
		secs = 1.0;
	struct aws_credentials creds = {
		.access_key_id = "AKIDEXAMPLE",
		.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
		.session_token = "FwoGZXIvYXdzEXAMPLEtokenFwoGZXIvYXdzEXAMPLEtokenFwoGZXIvYXdzEXAMPLE",
	};
	/* A typical S3 GET of a recording, and a typical Transcribe JSON call. */
	const struct sigv4_header s3h[] = {
		{"Host", "vm-bucket.s3.eu-west-1.amazonaws.com"},
		{"User-Agent", "vmpipe/0.1.0"},
		{"Range", "bytes=0-1048575"},
	};
	struct sigv4_request s3req = {.method = "GET",
	                              .path = "/connect/inst/CallRecordings/2024/12/11/"
	                                      "abc_20241211T15%3A30_UTC.wav",
	                              .headers = s3h, .nheaders = 3};
	struct sigv4_params s3p = {.region = "eu-west-1", .service = "s3", .now_s = 1733931005,
	                           .creds = &creds, .s3_rules = true};
	static const char body[] = "{\"TranscriptionJobName\":\"vm-11111111-2222\"}";
	const struct sigv4_header th[] = {
		{"Host", "transcribe.eu-west-1.amazonaws.com"},
		{"Content-Type", "application/x-amz-json-1.1"},
		{"X-Amz-Target", "Transcribe.GetTranscriptionJob"},
	};
	struct sigv4_request treq = {.method = "POST", .path = "/", .headers = th, .nheaders = 3,
	                             .body = body, .body_len = sizeof body - 1};
	struct sigv4_params tp = {.region = "eu-west-1", .service = "transcribe",
	                          .now_s = 1733931005, .creds = &creds};

	struct figures a = run(&s3req, &s3p, false, false, secs);
	struct figures b = run(&s3req, &s3p, false, true, secs);
	struct figures c = run(&treq, &tp, false, false, secs);
	struct figures d = run(&s3req, &s3p, true, false, secs);
	printf("{\n  \"bench\": \"sigv4\",\n");
	print("s3_get_header_cached_key", a, false);
	print("s3_get_header_cold_key", b, false);
	print("transcribe_post_header_cached_key", c, false);
	print("s3_presign_cached_key", d, false);
	printf("  \"cold_over_cached_cpu\": %.2f\n}\n", b.cpu_us / a.cpu_us);
	return 0;
}
