/*
 * AWS calls: build, sign, send, classify, retry.
 */
#include "request.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "region.h"
#include "sigv4.h"
#include "uri.h"
#include "core/clock.h"

/* ------------------------------------------------------------ retry quota */

#define QUOTA_MAX 500
#define QUOTA_RETRY_COST 5
#define QUOTA_TIMEOUT_COST 10
#define QUOTA_SUCCESS_REFUND 1

/* One process-wide bucket, as the SDKs keep one per client. */
static pthread_mutex_t quota_mu = PTHREAD_MUTEX_INITIALIZER;
static int quota = QUOTA_MAX;

static bool quota_take(int cost)
{
	pthread_mutex_lock(&quota_mu);
	bool ok = quota >= cost;
	if (ok)
		quota -= cost;
	pthread_mutex_unlock(&quota_mu);
	return ok;
}

static void quota_give(int n)
{
	pthread_mutex_lock(&quota_mu);
	quota = quota + n > QUOTA_MAX ? QUOTA_MAX : quota + n;
	pthread_mutex_unlock(&quota_mu);
}

void aws_retry_quota_reset(void)
{
	pthread_mutex_lock(&quota_mu);
	quota = QUOTA_MAX;
	pthread_mutex_unlock(&quota_mu);
}

/* ------------------------------------------------------------ building */

static char *encode_path(const char *base, const char *path)
{
	char *enc = uri_encode_s3_key(path && *path ? path : "/");
	if (!enc)
		return NULL;
	char *out;
	int rc = asprintf(&out, "%s%s%s", base, enc[0] == '/' ? "" : "/", enc);
	free(enc);
	return rc < 0 ? NULL : out;
}

static char *encode_query(const struct aws_pair *q, size_t n)
{
	size_t cap = 1, len = 0;
	for (size_t i = 0; i < n; i++)
		cap += URI_ENCODED_MAX(strlen(q[i].name)) +
		       URI_ENCODED_MAX(q[i].value ? strlen(q[i].value) : 0) + 2;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			s[len++] = '&';
		len += uri_encode_into(s + len, q[i].name, strlen(q[i].name), false);
		s[len++] = '=';
		if (q[i].value)
			len += uri_encode_into(s + len, q[i].value, strlen(q[i].value), false);
		s[len] = '\0';
	}
	return s;
}

int aws_request_build(const struct aws_call *call, const struct aws_credentials *creds,
		      char **url, struct aws_headers *headers, char *err, size_t errsz)
{
	*url = NULL;
	memset(headers, 0, sizeof *headers);
	struct aws_endpoint ep;
	if ((call->endpoint ? aws_endpoint_from_url(call->endpoint, &ep, err, errsz)
			    : aws_endpoint_resolve(call->service, call->region, call->bucket, &ep, err, errsz)) != 0)
		return -1;
	int rc = -1;
	char *path = encode_path(ep.base_path, call->path);
	char *query = encode_query(call->query, call->nquery);
	size_t nh = call->nheaders + 1;
	struct sigv4_header *sh = calloc(nh, sizeof *sh);
	struct sigv4_result res = {0};
	if (!path || !query || !sh) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	sh[0].name = "Host";
	sh[0].value = ep.host;
	for (size_t i = 0; i < call->nheaders; i++) {
		sh[i + 1].name = call->headers[i].name;
		sh[i + 1].value = call->headers[i].value ? call->headers[i].value : "";
	}
	if (creds) {
		bool s3 = strcasecmp(call->service, "s3") == 0;
		struct sigv4_request sreq = {
			.method = call->method, .path = path, .query = query,
			.headers = sh, .nheaders = nh,
			.body = call->body, .body_len = call->body_len,
		};
		struct sigv4_params par = {
			.region = call->region,
			.service = aws_signing_name(call->service),
			.now_s = clock_now_ms() / 1000,
			.creds = creds,
			.s3_rules = s3,
		};
		if (sigv4_sign(&sreq, &par, &res, err, errsz) != 0)
			goto out;
	}
	for (size_t i = 0; i < nh; i++)
		if (aws_headers_add(headers, sh[i].name, sh[i].value) != 0)
			goto oom;
	for (size_t i = 0; i < res.nadd; i++)
		if (aws_headers_add(headers, res.add[i].name, res.add[i].value) != 0)
			goto oom;
	if (asprintf(url, "%s%s%s%s", ep.origin, path, *query ? "?" : "", query) < 0) {
		*url = NULL;
		goto oom;
	}
	rc = 0;
	goto out;
oom:
	snprintf(err, errsz, "out of memory");
out:
	if (rc != 0)
		aws_headers_clear(headers);
	sigv4_result_free(&res);
	free(sh);
	free(path);
	free(query);
	aws_endpoint_clear(&ep);
	return rc;
}

/* ------------------------------------------------------------ sending */

void aws_result_clear(struct aws_result *r)
{
	aws_headers_clear(&r->headers);
	free(r->body);
	aws_error_clear(&r->error);
	memset(r, 0, sizeof *r);
}

/* Retry-After in seconds or as an HTTP date; -1 when absent or unreadable. */
static int64_t retry_after_ms(const struct aws_headers *h)
{
	const char *v = aws_headers_get(h, "retry-after");
	if (!v || !*v)
		return -1;
	char *end;
	long long s = strtoll(v, &end, 10);
	if (end != v && *end == '\0' && s >= 0)
		return s > 86400 ? 86400000 : (int64_t)s * 1000;
	struct tm tm = {0};
	if (strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm)) {
		int64_t when = (int64_t)timegm(&tm) * 1000;
		int64_t d = when - clock_now_ms();
		return d > 0 ? d : 0;
	}
	return -1;
}

static bool expired_token(const char *code)
{
	return code && (strcmp(code, "ExpiredToken") == 0 ||
			strcmp(code, "ExpiredTokenException") == 0 ||
			strcmp(code, "RequestExpired") == 0);
}

static const char *net_name(enum aws_net_error e)
{
	switch (e) {
	case AWS_NET_TIMEOUT: return "timeout";
	case AWS_NET_CONNECT: return "cannot connect";
	case AWS_NET_RESET: return "connection reset";
	case AWS_NET_TOO_LARGE: return "answer too large";
	case AWS_NET_TLS: return "certificate not trusted";
	default: return "transport error";
	}
}

/* One attempt.  0: got an answer (any status); -1: no answer or could not build. */
static int attempt(const struct aws_call *call, struct aws_result *out, bool *build_failed)
{
	struct aws_credentials creds = {0};
	char err[300] = "";
	*build_failed = false;
	int crc = call->creds ? aws_creds_get(call->creds, &creds, NULL, err, sizeof err) : 0;
	if (crc != 0) {
		snprintf(out->message, sizeof out->message, "%s: %s", call->service, err);
		*build_failed = true;
		/* A credential endpoint may be back later (the engine retries); no
		 * source at all is a setup error. */
		out->retryable = crc == -1;
		return -1;
	}
	char *url = NULL;
	struct aws_headers hdrs;
	int rc = aws_request_build(call, call->creds ? &creds : NULL, &url, &hdrs, err,
				   sizeof err);
	aws_credentials_clear(&creds);
	if (rc != 0) {
		snprintf(out->message, sizeof out->message, "%s: %s", call->service, err);
		*build_failed = true;
		out->retryable = false;
		return -1;
	}
	struct aws_http_req hr = {
		.method = call->method, .url = url, .headers = &hdrs,
		.body = call->body, .body_len = call->body_len,
		.connect_timeout_ms = call->connect_timeout_ms, .timeout_ms = call->timeout_ms,
		.max_body = call->max_body, .cancel = call->cancel,
		.on_body = call->on_body, .body_ctx = call->body_ctx,
	};
	struct aws_http_resp resp;
	int64_t t0 = clock_now_ms();
	rc = aws_http_perform(&hr, &resp);
	if (vm_log_enabled(VM_LOG_DEBUG)) {
		/* The URL of a header-signed call carries no secret; log without the query. */
		size_t ulen = strcspn(url, "?");
		vm_log(call->job, VM_LOG_DEBUG, "aws: %s %s %.*s -> %ld%s%s (%lld ms)",
		       call->service, call->method, (int)(ulen > 300 ? 300 : ulen), url,
		       resp.status, rc ? " " : "", rc ? resp.net_msg : "",
		       (long long)(clock_now_ms() - t0));
	}
	free(url);
	aws_headers_clear(&hdrs);
	out->headers = resp.headers;
	out->body = resp.body;
	out->body_len = resp.body_len;
	out->status = resp.status;
	out->net = resp.net;
	out->streamed += resp.streamed;
	if (rc != 0) {
		snprintf(out->message, sizeof out->message, "%s: %s: %s", call->service,
			 net_name(resp.net), resp.net_msg);
		out->retryable = resp.net == AWS_NET_TIMEOUT || resp.net == AWS_NET_CONNECT ||
				 resp.net == AWS_NET_RESET;
		return -1;
	}
	if (resp.status >= 200 && resp.status < 300) {
		out->retryable = false;
		return 0;
	}
	const char *rid = aws_headers_get(&resp.headers, "x-amzn-requestid");
	if (!rid)
		rid = aws_headers_get(&resp.headers, "x-amz-request-id");
	aws_error_parse(call->protocol, resp.status, rid,
			aws_headers_get(&resp.headers, "x-amzn-errortype"), (const char *)resp.body,
			resp.body_len, &out->error);
	out->retryable = out->error.retryable;
	if (expired_token(out->error.code) && call->creds) {
		/* Fetch fresh credentials and try again: the next attempt may pass. */
		aws_creds_invalidate(call->creds);
		out->retryable = true;
	}
	snprintf(out->message, sizeof out->message, "%s: %s (HTTP %ld)%s%.300s", call->service,
		 out->error.code ? out->error.code : "error", resp.status,
		 out->error.message ? ": " : "", out->error.message ? out->error.message : "");
	return 0;
}

static _Atomic int64_t default_budget = 5000;

void aws_set_wait_budget(int64_t ms)
{
	atomic_store(&default_budget, ms < 0 ? 0 : ms);
}

int aws_request(const struct aws_call *call, struct aws_result *out)
{
	memset(out, 0, sizeof *out);
	static const struct aws_retry_policy std = {0};
	const struct aws_retry_policy *p = call->retry ? call->retry : &std;
	int max = p->max_attempts > 0 ? p->max_attempts : 3;
	int64_t base = p->base_ms > 0 ? p->base_ms : 1000;
	int64_t cap = p->cap_ms > 0 ? p->cap_ms : 20000;
	int64_t budget = p->budget_ms == 0 ? atomic_load(&default_budget) : p->budget_ms < 0 ? 0 : p->budget_ms;
	int spent = 0; /* quota tokens taken by this call */

	for (int i = 0;; i++) {
		if (i > 0) {
			/* Keep the last answer only. */
			aws_headers_clear(&out->headers);
			free(out->body);
			out->body = NULL;
			out->body_len = 0;
			aws_error_clear(&out->error);
		}
		bool build_failed;
		out->attempts = i + 1;
		int rc = attempt(call, out, &build_failed);
		if (rc == 0 && out->status >= 200 && out->status < 300) {
			quota_give(spent ? spent : QUOTA_SUCCESS_REFUND);
			return 0;
		}
		if (!out->retryable || build_failed || i + 1 >= max || out->streamed ||
		    (call->cancel && atomic_load(call->cancel)))
			break;
		int cost = out->net == AWS_NET_TIMEOUT ? QUOTA_TIMEOUT_COST : QUOTA_RETRY_COST;
		int64_t ceiling = base << (i < 20 ? i : 20);
		if (ceiling > cap)
			ceiling = cap;
		int64_t delay = p->jitter ? p->jitter(ceiling) : clock_jitter(ceiling);
		int64_t ra = retry_after_ms(&out->headers);
		if (ra >= 0)
			delay = ra > cap ? cap : ra;
		if (out->waited_ms + delay > budget) {
			vm_log(call->job, VM_LOG_DEBUG,
			       "aws: %s: not retrying within this call (wait %lld ms exceeds the "
			       "budget)", call->service, (long long)delay);
			break;
		}
		if (!quota_take(cost)) {
			vm_log(call->job, VM_LOG_WARN, "aws: %s: retry quota exhausted",
			       call->service);
			break;
		}
		spent += cost;
		vm_log(call->job, VM_LOG_INFO, "aws: %s, retrying in %lld ms (attempt %d of %d)",
		       out->message, (long long)delay, i + 2, max);
		if (p->sleep_ms)
			p->sleep_ms(delay);
		else
			clock_sleep_ms(delay);
		out->waited_ms += delay;
	}
	return -1;
}
