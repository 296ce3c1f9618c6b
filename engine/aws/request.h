/*
 * An AWS call: resolve the endpoint, sign (SigV4), send (http.h), parse the
 * error, and retry the way the SDKs' "standard" retry mode does.
 * Owner: awsnet.
 *
 * Standard mode, as in the SDK reference (and botocore retries/standard.py):
 * at most 3 attempts; before attempt i+1 wait rand[0,1) * min(base * 2^i, 20 s)
 * (full jitter, base 1 s); retry on 500/502/503/504, throttling codes (and 429),
 * RequestTimeout(Exception), PriorRequestNotComplete, timeouts and connection
 * resets; a Retry-After header replaces the computed delay.  A process-wide
 * retry quota (500 tokens, 5 per retry, 10 after a timeout, refunded on
 * success) stops retry storms when a service is down.
 *
 * Plugins never sleep, so the waits of one call are bounded by a budget
 * (default 5 s in total): a retry whose delay does not fit is not attempted,
 * and the caller gets the retryable error to hand to the engine, which owns
 * longer backoff.
 */
#ifndef VMPIPE_AWS_REQUEST_H
#define VMPIPE_AWS_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmpipe/vmpipe.h>

#include "creds.h"
#include "errors.h"
#include "http.h"

struct aws_pair {
	const char *name;
	const char *value; /* NULL or "" for an empty value */
};

struct aws_retry_policy {
	int max_attempts;  /* 0: 3 */
	int64_t base_ms;   /* 0: 1000 */
	int64_t cap_ms;    /* 0: 20000 */
	int64_t budget_ms; /* total wait of one call; 0: the process default (5000, see
			    * aws_set_wait_budget), <0: no waiting at all */
	/* Injected for tests; NULL: the engine clock (clock.h). */
	void (*sleep_ms)(int64_t ms);
	int64_t (*jitter)(int64_t n); /* uniform in [0, n) */
};

/*
 * The longest a call may wait between its own retries when its policy does
 * not say (5000 ms).  `vmpipe serve` sets 0: a wait inside a call holds a
 * worker thread, so a retryable failure is answered at once and the
 * scheduler's timer does the waiting.  Call before requests are made.
 */
void aws_set_wait_budget(int64_t ms);

struct aws_call {
	const char *service;  /* SDK service id: "s3", "transcribe", "sesv2", "sts" */
	const char *region;   /* a valid region name (region.h resolves it) */
	const char *method;   /* "GET", "HEAD", "PUT", "POST", "DELETE" */
	const char *bucket;   /* S3 only: the bucket, or NULL */
	/* The path, NOT encoded ("/ivr/a b.wav"; with bucket: the key after '/'). */
	const char *path;
	const struct aws_pair *query; /* NOT encoded; sent in this order */
	size_t nquery;
	const struct aws_pair *headers; /* extra headers (Content-Type, X-Amz-Target, …) */
	size_t nheaders;
	const void *body;
	size_t body_len;
	enum aws_protocol protocol;
	/* Credentials; NULL sends the call unsigned (STS AssumeRoleWithWebIdentity). */
	struct aws_creds_chain *creds;
	long connect_timeout_ms; /* 0: 3 s */
	long timeout_ms;         /* per attempt; 0: 30 s */
	size_t max_body;         /* 0: 64 MiB */
	const struct aws_retry_policy *retry; /* NULL: standard mode */
	const vm_job *job;       /* for log lines; may be NULL */
	const atomic_bool *cancel; /* see aws_http_req; a cancelled call is not retried */
	/* See aws_http_req: a 2xx body streamed to a reader.  A call that handed
	 * the reader anything is not retried (the reader cannot take it twice). */
	int (*on_body)(void *ctx, const unsigned char *data, size_t len);
	void *body_ctx;
	/* An endpoint the service named ("https://…"), instead of resolving one. */
	const char *endpoint;
};

struct aws_result {
	long status;                /* last HTTP status; 0 when no answer */
	struct aws_headers headers; /* of the last answer, names lower-cased */
	unsigned char *body;        /* of the last answer, NUL-terminated, or NULL */
	size_t body_len;
	struct aws_error error;     /* when status is not 2xx (code set) */
	enum aws_net_error net;     /* when no answer */
	bool retryable;             /* the failure is worth retrying later */
	int attempts;
	int64_t waited_ms;          /* total backoff slept */
	size_t streamed;            /* bytes handed to call->on_body */
	char message[512];          /* why it failed: service, code, message (no secrets) */
};

/* Perform the call.  0 on a 2xx answer, -1 otherwise (result says why).
 * Free the result with aws_result_clear() in both cases. */
int aws_request(const struct aws_call *call, struct aws_result *out);
void aws_result_clear(struct aws_result *r);

/*
 * Build the signed HTTP request of `call` without sending it: the URL and
 * the headers to send (unsigned when creds is NULL).  0, or -1 with err;
 * *url is malloc()ed, headers cleared with aws_headers_clear().
 */
int aws_request_build(const struct aws_call *call, const struct aws_credentials *creds,
		      char **url, struct aws_headers *headers, char *err, size_t errsz);

/* Reset the retry quota (tests). */
void aws_retry_quota_reset(void);

#endif
