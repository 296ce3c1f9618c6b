/*
 * AWS Signature Version 4: Authorization-header signing and query-string
 * presigning, for any service, with S3's rules when asked.  Owner: sigv4.
 *
 * The signer never changes the request it is given.  It reports what to add:
 * headers (header signing) or the new query string (presigning), and, for
 * tests and debugging, the canonical request, string to sign and signature.
 *
 * Memory: everything in a struct sigv4_request is borrowed (the caller keeps
 * it).  A struct sigv4_result is filled with malloc()ed strings owned by the
 * caller; sigv4_result_free() releases them and wipes the ones that carry
 * secrets.  The result holds the session token (in the headers, the query
 * and the canonical request) and the signature: never log those.
 *
 * Thread safety: all functions may be called from several threads at once.
 * The derived signing key is cached per (secret, day, region, service) behind
 * a mutex; the cache keeps a SHA-256 of the secret, never the secret itself.
 */
#ifndef VMPIPE_AWS_SIGV4_H
#define VMPIPE_AWS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "creds.h"

/* The longest presigned URL lifetime AWS accepts (7 days). */
#define SIGV4_MAX_EXPIRES 604800

struct sigv4_header {
	const char *name;
	const char *value;
};

struct sigv4_request {
	const char *method; /* upper case: "GET", "PUT", "POST" */
	/*
	 * The path as it goes on the wire, already percent-encoded where it must
	 * be ("/bucket/ivr/a%20b.wav"); NULL or "" means "/".
	 */
	const char *path;
	/* The query as it goes on the wire, without '?'; NULL or "" for none. */
	const char *query;
	/*
	 * Headers in order, duplicates allowed (their values are joined with ','
	 * in the order given).  Must include Host, exactly as it will be sent.
	 * Authorization, X-Amz-Date and X-Amz-Security-Token given here are
	 * ignored (the result replaces them), as is x-amz-content-sha256 when the
	 * result adds one; User-Agent, Expect and X-Amzn-Trace-Id are not signed
	 * (proxies and SDK layers change them), like the AWS SDKs.
	 */
	const struct sigv4_header *headers;
	size_t nheaders;
	const void *body; /* may be NULL when body_len is 0 */
	size_t body_len;
	/*
	 * Hex SHA-256 of the body when the caller already has it (a file being
	 * uploaded in a stream): body is then not read.  NULL otherwise.
	 */
	const char *payload_hash;
};

struct sigv4_params {
	const char *region;  /* "eu-west-1" */
	const char *service; /* signing name: "s3", "transcribe", "ses", "sts" */
	int64_t now_s;       /* signing time, epoch seconds (injected: tests fix it) */
	const struct aws_credentials *creds;
	/*
	 * S3's rules: the path is signed as it is on the wire (no dot-segment or
	 * '//' normalization, no second encoding), x-amz-content-sha256 is always
	 * sent, and presigned URLs carry UNSIGNED-PAYLOAD.
	 */
	bool s3_rules;
	/* Other services: keep '.', '..' and '//' in the path (still encoded once). */
	bool no_normalize;
	/* Send x-amz-content-sha256 with the payload hash (S3 implies it). */
	bool sign_body;
	/* Sign "UNSIGNED-PAYLOAD" instead of the body's hash (sends the header). */
	bool unsigned_payload;
	/*
	 * Add the session token after signing instead of signing it (a few
	 * services, e.g. IoT, want it so).  Off for everything the SDKs sign.
	 */
	bool omit_session_token;
};

struct sigv4_added_header {
	char *name;
	char *value;
};

struct sigv4_result {
	/*
	 * Header signing: the headers to send in addition to the request's, in
	 * this order: X-Amz-Security-Token, X-Amz-Date, x-amz-content-sha256,
	 * Authorization (those that apply).  Presigning: none.
	 */
	struct sigv4_added_header add[4];
	size_t nadd;
	/*
	 * Presigning: the whole query to put on the wire: the request's own query
	 * as given, then X-Amz-Algorithm, -Credential, -Date, -SignedHeaders,
	 * -Expires, -Security-Token and -Signature.  NULL for header signing.
	 */
	char *query;
	char *canonical_request;
	char *string_to_sign;
	char signature[65]; /* lower-case hex */
};

/*
 * Sign `req` for the Authorization header.  0 on success with `out` filled
 * (free it with sigv4_result_free()); -1 with a message in err (nothing to
 * free) when the request or parameters are unusable or memory runs out.
 */
int sigv4_sign(const struct sigv4_request *req, const struct sigv4_params *params,
               struct sigv4_result *out, char *err, size_t errsz);

/*
 * Presign `req` (query-string signing) for `expires_s` seconds: 1 to
 * SIGV4_MAX_EXPIRES, anything else is refused.  Same contract as sigv4_sign().
 */
int sigv4_presign(const struct sigv4_request *req, const struct sigv4_params *params,
                  int64_t expires_s, struct sigv4_result *out, char *err, size_t errsz);

/* Free and wipe what a successful sign/presign put in `r`; safe on a zeroed r. */
void sigv4_result_free(struct sigv4_result *r);

/* Hex SHA-256 of `len` bytes into hex[65]. */
void sigv4_sha256_hex(const void *data, size_t len, char hex[65]);

/* Forget every cached signing key (tests and the benchmark's cold runs). */
void sigv4_key_cache_clear(void);

#endif /* VMPIPE_AWS_SIGV4_H */
