/*
 * Host API glue: vm_aws_send(), vm_s3_presign() and the engine-side S3 read.
 * Owns the process-wide credential chain.
 */
#include "host.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "creds.h"
#include "presign.h"
#include "region.h"
#include "request.h"
#include "uri.h"
#include "sigv4.h"
#include "core/clock.h"

static pthread_mutex_t chain_mu = PTHREAD_MUTEX_INITIALIZER;
static struct aws_creds_chain *chain; /* guarded by chain_mu */

struct aws_creds_chain *aws_host_creds(void)
{
	pthread_mutex_lock(&chain_mu);
	if (!chain)
		chain = aws_creds_chain_new(NULL);
	struct aws_creds_chain *c = chain;
	pthread_mutex_unlock(&chain_mu);
	return c;
}

void aws_host_shutdown(void)
{
	pthread_mutex_lock(&chain_mu);
	aws_creds_chain_free(chain);
	chain = NULL;
	pthread_mutex_unlock(&chain_mu);
	aws_http_cleanup();
}

int aws_host_region(const vm_job *job, const char *explicit_region, char *buf, size_t size,
		    char *err, size_t errsz)
{
	if (explicit_region && *explicit_region) {
		if (!aws_region_valid(explicit_region) || strlen(explicit_region) >= size) {
			snprintf(err, errsz, "not a region name: \"%.64s\"", explicit_region);
			return -1;
		}
		snprintf(buf, size, "%s", explicit_region);
		return 0;
	}
	char arn_region[AWS_REGION_MAX] = "";
	const char *arn = job ? vm_job_get_str(job, "contact.instance_arn") : NULL;
	if (arn && aws_arn_region(arn, arn_region, sizeof arn_region) != 0)
		arn_region[0] = '\0';
	return aws_region_resolve(arn_region[0] ? arn_region : NULL, buf, size, err, errsz);
}

/* VMPIPE_AWS_TIMEOUT_MS / VMPIPE_AWS_CONNECT_TIMEOUT_MS: per-attempt limits
 * (defaults 30 s / 3 s); a Lambda with a short timeout lowers them. */
static long env_ms(const char *name)
{
	const char *v = getenv(name);
	long ms = v ? strtol(v, NULL, 10) : 0;
	return ms > 0 ? ms : 0;
}

static enum aws_protocol proto_of(vm_aws_protocol p)
{
	switch (p) {
	case VM_AWS_QUERY: return AWS_PROTO_QUERY;
	case VM_AWS_JSON: return AWS_PROTO_JSON;
	case VM_AWS_REST_JSON: return AWS_PROTO_REST_JSON;
	default: return AWS_PROTO_REST_XML;
	}
}

/* Move the result into the public response (ownership of strings moves). */
static void fill_response(struct aws_result *r, vm_aws_response *out)
{
	out->status = r->status;
	out->body = r->body;
	out->body_len = r->body_len;
	r->body = NULL;
	out->headers = r->headers.n ? calloc(r->headers.n, sizeof *out->headers) : NULL;
	if (out->headers) {
		for (size_t i = 0; i < r->headers.n; i++) {
			out->headers[i].name = r->headers.v[i].name;
			out->headers[i].value = r->headers.v[i].value;
		}
		out->nheaders = r->headers.n;
		free(r->headers.v);
		memset(&r->headers, 0, sizeof r->headers);
	}
	out->error_code = r->error.code;
	out->error_message = r->error.message;
	out->request_id = r->error.request_id;
	r->error.code = r->error.message = r->error.request_id = NULL;
	if (!out->request_id) {
		const char *rid = vm_aws_response_header(out, "x-amzn-requestid");
		if (!rid)
			rid = vm_aws_response_header(out, "x-amz-request-id");
		out->request_id = rid ? strdup(rid) : NULL;
	}
	out->retryable = r->retryable;
	out->attempts = r->attempts;
}

static vm_status send_call(vm_job *job, const vm_aws_request *req, const char *endpoint, vm_aws_body_fn on_body,
			   void *ctx, vm_aws_response *out)
{
	memset(out, 0, sizeof *out);
	if (!req || !req->service || !req->method) {
		return vm_fail(job, VM_PERMANENT, "aws: request without %s",
			       !req ? "anything" : !req->service ? "a service" : "a method");
	}
	char region[AWS_REGION_MAX], err[400];
	if (aws_host_region(job, req->region, region, sizeof region, err, sizeof err) != 0)
		return vm_fail(job, VM_PERMANENT, "%s: %s", req->service, err);
	struct aws_creds_chain *ch = aws_host_creds();
	if (!ch)
		return vm_fail(job, VM_TRANSIENT, "%s: out of memory", req->service);
	/* vm_aws_pair and aws_pair have the same shape: two const char *. */
	struct aws_call call = {
		.service = req->service, .region = region, .method = req->method,
		.bucket = req->bucket, .path = req->path,
		.query = (const struct aws_pair *)req->query, .nquery = req->nquery,
		.headers = (const struct aws_pair *)req->headers, .nheaders = req->nheaders,
		.body = req->body, .body_len = req->body_len,
		.protocol = proto_of(req->protocol), .creds = ch,
		.max_body = req->max_response, .job = job,
		.timeout_ms = env_ms("VMPIPE_AWS_TIMEOUT_MS"),
		.connect_timeout_ms = env_ms("VMPIPE_AWS_CONNECT_TIMEOUT_MS"),
		.on_body = on_body, .body_ctx = ctx, .endpoint = endpoint,
	};
	struct aws_result res;
	int rc = aws_request(&call, &res);
	fill_response(&res, out);
	vm_status st = VM_DONE;
	if (rc != 0)
		st = vm_fail(job, res.retryable ? VM_TRANSIENT : VM_PERMANENT, "%s", res.message);
	else
		st = vm_done(job);
	aws_result_clear(&res);
	return st;
}

vm_status vm_aws_send(vm_job *job, const vm_aws_request *req, vm_aws_response *out)
{
	return send_call(job, req, NULL, NULL, NULL, out);
}

vm_status vm_aws_send_stream(vm_job *job, const vm_aws_request *req, const char *endpoint, vm_aws_body_fn on_body,
			     void *ctx, vm_aws_response *out)
{
	if (!on_body) {
		memset(out, 0, sizeof *out);
		return vm_fail(job, VM_PERMANENT, "aws: a streamed request without a reader");
	}
	return send_call(job, req, endpoint, on_body, ctx, out);
}

void vm_aws_response_free(vm_aws_response *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nheaders; i++) {
		free((char *)r->headers[i].name);
		free((char *)r->headers[i].value);
	}
	free(r->headers);
	free(r->body);
	free(r->error_code);
	free(r->error_message);
	free(r->request_id);
	memset(r, 0, sizeof *r);
}

const char *vm_aws_response_header(const vm_aws_response *r, const char *name)
{
	for (size_t i = 0; r && i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

char *aws_s3_presign(const char *region_in, const char *bucket, const char *key,
		     const char *content_type, int64_t expires_s, char *err, size_t errsz)
{
	char region[AWS_REGION_MAX];
	if (aws_host_region(NULL, region_in, region, sizeof region, err, errsz) != 0)
		return NULL;
	if (!bucket || !*bucket || !key || !*key) {
		snprintf(err, errsz, "presign needs a bucket and a key");
		return NULL;
	}
	if (expires_s < 1 || expires_s > SIGV4_MAX_EXPIRES) {
		snprintf(err, errsz, "presigned URL lifetime must be 1 s to 7 days, not %lld s",
			 (long long)expires_s);
		return NULL;
	}
	char query[200] = "";
	if (content_type) {
		char *t = uri_encode_query_value(content_type);
		if (!t) {
			snprintf(err, errsz, "out of memory");
			return NULL;
		}
		snprintf(query, sizeof query, "response-content-disposition=inline&response-content-type=%s", t);
		free(t);
	}
	struct aws_creds_chain *ch = aws_host_creds();
	struct aws_credentials creds;
	if (!ch || aws_creds_get(ch, &creds, NULL, err, errsz) != 0)
		return NULL;
	/* Custom endpoints (s3rver, MinIO) want the bucket in the path. */
	struct aws_endpoint ep;
	char *url = NULL;
	if (aws_endpoint_resolve("s3", region, NULL, &ep, err, errsz) == 0) {
		char *endpoint = NULL;
		if (ep.custom && asprintf(&endpoint, "%s%s", ep.origin, ep.base_path) < 0)
			snprintf(err, errsz, "out of memory");
		else
			url = aws_presign_s3_url(endpoint, region, bucket, key, *query ? query : NULL, expires_s,
						 clock_now_ms() / 1000, &creds, ep.custom, err,
						 errsz);
		free(endpoint);
		aws_endpoint_clear(&ep);
	}
	aws_credentials_clear(&creds);
	return url;
}

char *vm_s3_presign(vm_job *job, const char *bucket, const char *key, int64_t expires_s)
{
	char region[AWS_REGION_MAX], err[400];
	char *url = NULL;
	if (aws_host_region(job, NULL, region, sizeof region, err, sizeof err) == 0)
		url = aws_s3_presign(region, bucket, key, vm_audio_type(key), expires_s, err, sizeof err);
	if (!url)
		vm_log(job, VM_LOG_ERROR, "presign s3://%s/%s: %s", bucket ? bucket : "",
		       key ? key : "", err);
	return url;
}

static bool not_found_code(const char *c)
{
	return c && (strcmp(c, "NoSuchKey") == 0 || strcmp(c, "NoSuchBucket") == 0 ||
		     strcmp(c, "NotFound") == 0);
}

int aws_s3_get(const char *bucket, const char *key, size_t max, unsigned char **data,
	       size_t *len, char *err, size_t errsz)
{
	*data = NULL;
	*len = 0;
	char region[AWS_REGION_MAX], rerr[300];
	if (aws_region_resolve(NULL, region, sizeof region, rerr, sizeof rerr) != 0)
		snprintf(region, sizeof region, "us-east-1");
	struct aws_creds_chain *ch = aws_host_creds();
	if (!ch) {
		snprintf(err, errsz, "out of memory");
		return AWS_S3_TRANSIENT;
	}
	struct aws_result res;
	for (int hop = 0;; hop++) {
		struct aws_call call = {.service = "s3", .region = region, .method = "GET",
					.bucket = bucket, .path = key, .creds = ch,
					.protocol = AWS_PROTO_REST_XML, .max_body = max,
					.timeout_ms = env_ms("VMPIPE_AWS_TIMEOUT_MS"),
					.connect_timeout_ms = env_ms("VMPIPE_AWS_CONNECT_TIMEOUT_MS")};
		if (aws_request(&call, &res) == 0) {
			*data = res.body;
			*len = res.body_len;
			res.body = NULL;
			aws_result_clear(&res);
			if (!*data) { /* an empty object */
				*data = calloc(1, 1);
				if (!*data) {
					snprintf(err, errsz, "out of memory");
					return AWS_S3_TRANSIENT;
				}
			}
			return AWS_S3_OK;
		}
		/* The bucket lives in another region: S3 says which, once. */
		const char *br = aws_headers_get(&res.headers, "x-amz-bucket-region");
		if (hop == 0 && br && aws_region_valid(br) && strcmp(br, region) != 0 &&
		    (res.status == 301 || res.status == 400)) {
			snprintf(region, sizeof region, "%s", br);
			aws_result_clear(&res);
			continue;
		}
		break;
	}
	int rc;
	if (res.net == AWS_NET_TOO_LARGE)
		rc = AWS_S3_TOO_LARGE;
	else if (res.status == 404 || not_found_code(res.error.code))
		rc = AWS_S3_NOT_FOUND;
	else
		rc = res.retryable ? AWS_S3_TRANSIENT : AWS_S3_PERMANENT;
	if (rc == AWS_S3_TOO_LARGE)
		snprintf(err, errsz, "s3://%s/%s is larger than %zu bytes", bucket, key, max);
	else
		snprintf(err, errsz, "s3://%s/%s: %s", bucket, key, res.message);
	aws_result_clear(&res);
	return rc;
}

int vm_s3_base_path(const char *base_path, char *bucket, size_t bucket_size, char *prefix, size_t prefix_size,
		    char *err, size_t errsize)
{
	const char *p = base_path ? base_path : "";
	if (strncmp(p, "s3://", 5) == 0)
		p += 5;
	while (*p == '/')
		p++;
	size_t n = strcspn(p, "/");
	if (n == 0 || n >= bucket_size) {
		snprintf(err, errsize, "'%s' does not start with a bucket name (expected BUCKET/PREFIX, "
			 "as the original BASE_PATH)", base_path ? base_path : "");
		return -1;
	}
	memcpy(bucket, p, n);
	bucket[n] = '\0';
	p += n;
	while (*p == '/')
		p++;
	size_t m = strlen(p);
	while (m > 0 && p[m - 1] == '/')
		m--;
	if (m >= prefix_size) {
		snprintf(err, errsize, "the prefix is longer than %zu bytes", prefix_size - 1);
		return -1;
	}
	memcpy(prefix, p, m);
	prefix[m] = '\0';
	return 0;
}
