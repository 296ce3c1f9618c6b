/*
 * Lambda Runtime API client.  Every call goes through aws_http_perform()
 * (libcurl, pooled connections): the Runtime API is plain HTTP on a local
 * address, so a connection is opened once and kept for the container's life.
 */
#include "lambda_api.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/http.h"
#include "core/util.h"

/* /next blocks while the container is idle (and frozen): no timeout. */
#define NEXT_TIMEOUT_MS (400L * 24 * 3600 * 1000)
#define POST_TIMEOUT_MS 10000L

int lambda_api_init(struct lambda_api *api, const char *host_port)
{
	if (!host_port || !*host_port || strchr(host_port, '/'))
		return -1;
	int n = snprintf(api->base, sizeof api->base, "http://%s/2018-06-01/runtime", host_port);
	return n > 0 && (size_t)n < sizeof api->base ? 0 : -1;
}

static char *dup_header(const struct aws_http_resp *r, const char *name)
{
	const char *v = aws_headers_get(&r->headers, name);
	return v && *v ? strdup(v) : NULL;
}

void lambda_invocation_clear(struct lambda_invocation *inv)
{
	free(inv->request_id);
	free(inv->trace_id);
	free(inv->function_arn);
	free(inv->body);
	memset(inv, 0, sizeof *inv);
}

int lambda_api_next(const struct lambda_api *api, struct lambda_invocation *inv, char *err,
		    size_t errsz)
{
	memset(inv, 0, sizeof *inv);
	char url[400];
	snprintf(url, sizeof url, "%s/invocation/next", api->base);
	struct aws_http_req req = {
		.method = "GET", .url = url, .timeout_ms = NEXT_TIMEOUT_MS,
		.max_body = LAMBDA_EVENT_MAX,
	};
	struct aws_http_resp r;
	if (aws_http_perform(&req, &r) != 0) {
		snprintf(err, errsz, "runtime API /next: %s", r.net_msg[0] ? r.net_msg : "no answer");
		aws_http_resp_clear(&r);
		return -1;
	}
	if (r.status != 200) {
		snprintf(err, errsz, "runtime API /next answered HTTP %ld", r.status);
		aws_http_resp_clear(&r);
		return -1;
	}
	inv->request_id = dup_header(&r, "lambda-runtime-aws-request-id");
	/* The id goes into a URL path: accept only what Lambda issues (UUIDs). */
	if (!inv->request_id || !is_plain_name(inv->request_id, 128)) {
		snprintf(err, errsz, "runtime API /next: missing or malformed Lambda-Runtime-Aws-Request-Id");
		aws_http_resp_clear(&r);
		lambda_invocation_clear(inv);
		return -1;
	}
	const char *dl = aws_headers_get(&r.headers, "lambda-runtime-deadline-ms");
	int64_t v;
	inv->deadline_ms = dl && parse_int(dl, &v) == 0 && v > 0 ? v : 0;
	inv->trace_id = dup_header(&r, "lambda-runtime-trace-id");
	inv->function_arn = dup_header(&r, "lambda-runtime-invoked-function-arn");
	inv->body = r.body ? (char *)r.body : strdup("");
	inv->body_len = r.body ? r.body_len : 0;
	r.body = NULL;
	aws_http_resp_clear(&r);
	if (!inv->body) {
		snprintf(err, errsz, "out of memory");
		lambda_invocation_clear(inv);
		return -1;
	}
	return 0;
}

static int post(const struct lambda_api *api, const char *path, const char *error_type,
		const char *body, size_t len, char *err, size_t errsz)
{
	char url[600];
	snprintf(url, sizeof url, "%s%s", api->base, path);
	struct aws_headers h = {0};
	int rc = aws_headers_add(&h, "Content-Type", "application/json");
	if (rc == 0 && error_type)
		rc = aws_headers_add(&h, "Lambda-Runtime-Function-Error-Type", error_type);
	if (rc != 0) {
		aws_headers_clear(&h);
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	struct aws_http_req req = {
		.method = "POST", .url = url, .headers = &h, .body = body, .body_len = len,
		.timeout_ms = POST_TIMEOUT_MS, .max_body = 64 * 1024,
	};
	struct aws_http_resp r;
	rc = aws_http_perform(&req, &r);
	aws_headers_clear(&h);
	if (rc != 0)
		snprintf(err, errsz, "runtime API %s: %s", path, r.net_msg[0] ? r.net_msg : "no answer");
	else if (r.status != 202) /* Lambda answers 202 Accepted; 413 too large, 400 bad id */
		snprintf(err, errsz, "runtime API %s answered HTTP %ld: %.200s", path, r.status,
			 r.body ? (const char *)r.body : "");
	int ok = rc == 0 && r.status == 202;
	aws_http_resp_clear(&r);
	return ok ? 0 : -1;
}

int lambda_api_respond(const struct lambda_api *api, const char *request_id, const char *body,
		       size_t len, char *err, size_t errsz)
{
	char path[200];
	snprintf(path, sizeof path, "/invocation/%s/response", request_id);
	return post(api, path, NULL, body, len, err, errsz);
}

int lambda_api_error(const struct lambda_api *api, const char *request_id, const char *type,
		     const char *msg, char *err, size_t errsz)
{
	char path[200];
	if (request_id)
		snprintf(path, sizeof path, "/invocation/%s/error", request_id);
	else
		snprintf(path, sizeof path, "/init/error");
	json_t *o = json_pack("{s:s, s:s, s:[]}", "errorMessage", msg ? msg : "", "errorType",
			      type, "stackTrace");
	/* A message with invalid UTF-8 (from a file name, say) still goes out. */
	if (!o)
		o = json_pack("{s:s, s:s, s:[]}", "errorMessage", "(unprintable message)",
			      "errorType", type, "stackTrace");
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!body) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	int rc = post(api, path, type, body, strlen(body), err, errsz);
	free(body);
	return rc;
}
