/*
 * AWS error answers: parse the three protocols the plugins need into one shape,
 * and decide what is worth retrying (the SDKs' standard retry mode).
 * Owner: awsnet.
 */
#ifndef VMPIPE_AWS_ERRORS_H
#define VMPIPE_AWS_ERRORS_H

#include <stdbool.h>
#include <stddef.h>

/* How a service shapes its errors. */
enum aws_protocol {
	AWS_PROTO_REST_XML = 0, /* S3: <Error><Code/><Message/><RequestId/></Error> */
	AWS_PROTO_QUERY = 1,    /* STS: <ErrorResponse><Error><Code/>…</Error><RequestId/> */
	AWS_PROTO_JSON = 2,     /* JSON 1.1 (Transcribe): {"__type": "…#Code", "message"} */
	AWS_PROTO_REST_JSON = 3,/* SES v2: x-amzn-ErrorType header, {"message"} body */
};

/* A parsed error; every string malloc()ed (or NULL), freed by aws_error_clear(). */
struct aws_error {
	long status;       /* HTTP status */
	char *code;        /* "NoSuchKey", "ThrottlingException", … never NULL after parse */
	char *message;     /* may be NULL */
	char *request_id;  /* may be NULL */
	bool throttling;   /* a throttling code (or HTTP 429) */
	bool retryable;    /* throttling, a transient code, or 500/502/503/504 */
};

/*
 * Parse a non-2xx answer.  `request_id` and `error_type` are the values of
 * the x-amz(n)-request-id and x-amzn-ErrorType headers (NULL when absent).
 * When the body says nothing usable, the code is named after the status
 * ("NotFound" for 404, "Forbidden" for 403, …, "HTTP 418" otherwise).
 * Returns 0, -1 on allocation failure.
 */
int aws_error_parse(enum aws_protocol proto, long status, const char *request_id,
		    const char *error_type, const char *body, size_t len, struct aws_error *out);
void aws_error_clear(struct aws_error *e);

/* The standard retry mode's lists. */
bool aws_error_code_throttling(const char *code);
bool aws_error_code_transient(const char *code);
bool aws_status_transient(long status);

#endif
