/*
 * The AWS Lambda Runtime API client (2018-06-01): what a custom runtime
 * says to Lambda.  Owner: lambda.  One HTTP path: engine/aws/http.c.
 *
 *   GET  /runtime/invocation/next               the next event (long poll)
 *   POST /runtime/invocation/{id}/response      the result
 *   POST /runtime/invocation/{id}/error         a failed invocation
 *   POST /runtime/init/error                    the runtime could not start
 */
#ifndef VMPIPE_LAMBDA_API_H
#define VMPIPE_LAMBDA_API_H

#include <stddef.h>
#include <stdint.h>

/* Largest event fetched from /next (Lambda's own limit is 6 MB). */
#define LAMBDA_EVENT_MAX ((size_t)7 << 20)

/* One invocation as /next hands it out.  Strings malloc()ed, owned by the
 * struct; free with lambda_invocation_clear(). */
struct lambda_invocation {
	char *request_id;     /* Lambda-Runtime-Aws-Request-Id */
	int64_t deadline_ms;  /* Lambda-Runtime-Deadline-Ms (epoch ms); 0 when absent */
	char *trace_id;       /* Lambda-Runtime-Trace-Id, or NULL */
	char *function_arn;   /* Lambda-Runtime-Invoked-Function-Arn, or NULL */
	char *body;           /* the event, NUL-terminated */
	size_t body_len;
};

/* "host:port" from AWS_LAMBDA_RUNTIME_API; the struct owns a copy. */
struct lambda_api {
	char base[320]; /* "http://host:port/2018-06-01/runtime" */
};

/* 0, or -1 when `host_port` is empty or too long. */
int lambda_api_init(struct lambda_api *api, const char *host_port);

/*
 * Wait for the next invocation (no timeout: Lambda freezes us while idle).
 * 0, or -1 with err (network failure, non-200 answer, no request id).
 */
int lambda_api_next(const struct lambda_api *api, struct lambda_invocation *inv, char *err,
		    size_t errsz);
void lambda_invocation_clear(struct lambda_invocation *inv);

/* POST the result (`body`, JSON) for `request_id`.  0, or -1 with err. */
int lambda_api_respond(const struct lambda_api *api, const char *request_id, const char *body,
		       size_t len, char *err, size_t errsz);

/*
 * POST {"errorMessage": msg, "errorType": type} to /invocation/{id}/error
 * (request_id set) or /init/error (request_id NULL), with the
 * Lambda-Runtime-Function-Error-Type header.  0, or -1 with err.
 */
int lambda_api_error(const struct lambda_api *api, const char *request_id, const char *type,
		     const char *msg, char *err, size_t errsz);

#endif
