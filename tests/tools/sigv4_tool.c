/*
 * A test driver for engine/aws/sigv4.c and presign.c: reads one JSON request
 * per line on stdin, writes one JSON result per line on stdout, so a Python
 * test can compare thousands of signatures with botocore in one process.
 * Built by tests/integration/test_sigv4_botocore.py (not part of the engine).
 *
 * In:  {"op": "sign"|"presign", "method", "path", "query", "headers": [[n, v], ...],
 *       "body", "region", "service", "time", "akid", "secret", "token",
 *       "s3", "unsigned", "sign_body", "no_normalize", "expires"}
 *      {"op": "url", "endpoint", "region", "bucket", "key", "expires", "time",
 *       "akid", "secret", "token", "path_style"}
 * Out: {"ok": true, "canonical_request", "string_to_sign", "signature",
 *       "headers": [[n, v], ...], "query"}  |  {"ok": true, "url"}
 *      {"ok": false, "error"}
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/presign.h"
#include "aws/sigv4.h"

static const char *str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static json_t *do_url(json_t *in, const struct aws_credentials *creds)
{
	char err[256];
	char *url = aws_presign_s3_url(str(in, "endpoint"), str(in, "region"), str(in, "bucket"),
	                               str(in, "key"), str(in, "query"), json_integer_value(json_object_get(in, "expires")),
	                               json_integer_value(json_object_get(in, "time")), creds,
	                               json_is_true(json_object_get(in, "path_style")), err, sizeof err);
	if (!url)
		return json_pack("{s:b, s:s}", "ok", 0, "error", err);
	json_t *out = json_pack("{s:b, s:s}", "ok", 1, "url", url);
	free(url);
	return out;
}

static json_t *do_sign(json_t *in, const struct aws_credentials *creds, bool presign)
{
	json_t *hj = json_object_get(in, "headers");
	size_t nh = json_array_size(hj);
	struct sigv4_header *h = calloc(nh + 1, sizeof *h);
	for (size_t i = 0; i < nh; i++) {
		json_t *pair = json_array_get(hj, i);
		h[i].name = json_string_value(json_array_get(pair, 0));
		h[i].value = json_string_value(json_array_get(pair, 1));
	}
	const char *body = str(in, "body");
	struct sigv4_request req = {
		.method = str(in, "method"), .path = str(in, "path"), .query = str(in, "query"),
		.headers = h, .nheaders = nh, .body = body, .body_len = body ? strlen(body) : 0,
	};
	struct sigv4_params p = {
		.region = str(in, "region"), .service = str(in, "service"),
		.now_s = json_integer_value(json_object_get(in, "time")), .creds = creds,
		.s3_rules = json_is_true(json_object_get(in, "s3")),
		.unsigned_payload = json_is_true(json_object_get(in, "unsigned")),
		.sign_body = json_is_true(json_object_get(in, "sign_body")),
		.no_normalize = json_is_true(json_object_get(in, "no_normalize")),
	};
	struct sigv4_result res;
	char err[256];
	int rc = presign ? sigv4_presign(&req, &p, json_integer_value(json_object_get(in, "expires")),
	                                 &res, err, sizeof err)
	                 : sigv4_sign(&req, &p, &res, err, sizeof err);
	free(h);
	if (rc < 0)
		return json_pack("{s:b, s:s}", "ok", 0, "error", err);
	json_t *added = json_array();
	for (size_t i = 0; i < res.nadd; i++)
		json_array_append_new(added, json_pack("[s, s]", res.add[i].name, res.add[i].value));
	json_t *out = json_pack("{s:b, s:s, s:s, s:s, s:o, s:s?}", "ok", 1, "canonical_request",
	                        res.canonical_request, "string_to_sign", res.string_to_sign,
	                        "signature", res.signature, "headers", added, "query", res.query);
	sigv4_result_free(&res);
	return out;
}

int main(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, stdin)) > 0) {
		json_error_t jerr;
		json_t *in = json_loadb(line, (size_t)n, 0, &jerr), *out;
		if (!in) {
			out = json_pack("{s:b, s:s}", "ok", 0, "error", jerr.text);
		} else {
			struct aws_credentials creds = {
				.access_key_id = (char *)str(in, "akid"),
				.secret_access_key = (char *)str(in, "secret"),
				.session_token = (char *)str(in, "token"),
			};
			const char *op = str(in, "op");
			if (op && strcmp(op, "url") == 0)
				out = do_url(in, &creds);
			else
				out = do_sign(in, &creds, op && strcmp(op, "presign") == 0);
		}
		char *text = json_dumps(out, JSON_COMPACT);
		puts(text ? text : "{\"ok\":false,\"error\":\"dump\"}");
		fflush(stdout);
		free(text);
		json_decref(out);
		json_decref(in);
	}
	free(line);
	return 0;
}
