/*
 * The Function URL side of link mode: verify, check the object still exists
 * (HEAD), answer the listen page (mail/listen_page.h) whose player and
 * download button use a fresh presigned URL.
 */
#include "link_click.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmpipe/vmpipe.h>

#include "aws/host.h"
#include "aws/region.h"
#include "aws/request.h"
#include "core/job.h"
#include "core/log.h"
#include "core/state.h"
#include "mail/listen_page.h"

bool link_is_http_event(const json_t *ev)
{
	const json_t *rc = json_object_get(ev, "requestContext");
	return json_is_object(json_object_get(rc, "http")) &&
	       json_is_string(json_object_get(ev, "rawPath"));
}

static json_t *respond(int status, char *html, const char *media_src)
{
	if (!html)
		return NULL;
	char csp[600];
	listen_csp(media_src, csp, sizeof csp);
	json_t *r = json_pack("{s:i, s:{s:s, s:s, s:s, s:s, s:s, s:s}, s:s, s:b}", "statusCode", status,
			      "headers", "Content-Type", "text/html; charset=utf-8", "Cache-Control",
			      "no-store", "Content-Security-Policy", csp, "X-Content-Type-Options", "nosniff",
			      "Referrer-Policy", "no-referrer", "X-Frame-Options", "DENY", "body", html,
			      "isBase64Encoded", 0);
	free(html);
	return r;
}

/* A plain page for a link that does not open: the listen page's look. */
static json_t *page(int status, const char *title, const char *text)
{
	return respond(status, listen_error_page(title, text, NULL), "'none'");
}

/* "https://host[:port]" of a URL (into buf), for the page's media-src. */
static void origin_of(const char *url, char *buf, size_t size)
{
	const char *host = strstr(url, "://");
	size_t n = host ? (size_t)(host + 3 - url) + strcspn(host + 3, "/?#") : 0;
	if (n == 0 || n >= size)
		n = 0;
	memcpy(buf, url, n);
	buf[n] = '\0';
	if (!n)
		snprintf(buf, size, "'none'");
}

/* The listen page of a genuine link: the job's record when the link names
 * one and the state store has it, the recording from `url`. */
static json_t *listen(struct tenants *ts, const char *job_id, const char *url, int64_t exp)
{
	vm_job *job = NULL;
	const struct pipeline *p = ts ? tenants_base(ts) : NULL;
	if (ts && job_id) { /* the base's state, or its tenant's (tenant.h) */
		bool later = false;
		char why[700];
		const struct pipeline *own = tenants_for_job(ts, job_id, &job, &later, why, sizeof why);
		if (own)
			p = own;
		else if (later)
			log_msg(NULL, "link", VM_LOG_WARN, "%s: the page goes without the call's details", why);
	}
	if (!job)
		job = job_new(job_id ? job_id : "voicemail");
	if (!job)
		return NULL;
	if (p)
		job->timezone = p->set.timezone; /* times as the mail gave them */
	char origin[300];
	origin_of(url, origin, sizeof origin);
	json_t *r = respond(200, listen_page(job, url, url, exp, NULL), origin);
	job_free(job);
	return r;
}

enum head_result { HEAD_THERE, HEAD_GONE, HEAD_ERROR };

static enum head_result head_object(const char *region, const char *bucket, const char *key,
				    char *msg, size_t msgsz)
{
	struct aws_creds_chain *ch = aws_host_creds();
	if (!ch) {
		snprintf(msg, msgsz, "out of memory");
		return HEAD_ERROR;
	}
	/* A person is waiting: one quick attempt plus one retry, not 30 s. */
	struct aws_retry_policy retry = {.max_attempts = 2, .budget_ms = 500};
	struct aws_call call = {.service = "s3", .region = region, .method = "HEAD",
				.bucket = bucket, .path = key, .creds = ch,
				.protocol = AWS_PROTO_REST_XML, .timeout_ms = 5000,
				.retry = &retry};
	struct aws_result res;
	int rc = aws_request(&call, &res);
	enum head_result hr = HEAD_THERE;
	if (rc != 0) {
		/* With s3:ListBucket a missing key is 404; without it, 403. */
		hr = res.status == 404 ? HEAD_GONE : HEAD_ERROR;
		snprintf(msg, msgsz, "%s", res.message);
	}
	aws_result_clear(&res);
	return hr;
}

static json_t *answer(const struct link_cfg *cfg, struct tenants *ts, const json_t *ev, int64_t now_ms)
{
	const char *method = json_string_value(
		json_object_get(json_object_get(json_object_get(ev, "requestContext"), "http"), "method"));
	const char *path = json_string_value(json_object_get(ev, "rawPath"));
	const char *query = json_string_value(json_object_get(ev, "rawQueryString"));
	if (!path || strcmp(path, LINK_PATH) != 0)
		return page(404, "Not found", "There is nothing here.");
	if (!method || (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)) {
		json_t *r = page(405, "Method not allowed", "Open the link in a web browser.");
		json_object_set_new(json_object_get(r, "headers"), "Allow", json_string("GET, HEAD"));
		return r;
	}
	char *bucket, *key, *job_id;
	int64_t exp;
	enum link_verdict v = link_verify_for(cfg, query ? query : "", now_ms / 1000, &bucket, &key, &job_id, &exp);
	json_t *r = NULL;
	if (v == LINK_MALFORMED || v == LINK_FORGED) {
		log_msg(NULL, "link", VM_LOG_WARN, "refused a %s link",
			v == LINK_FORGED ? "forged" : "malformed");
		r = page(403, "Link not valid",
			 "This voicemail link is not valid. Open it exactly as it appears in the e-mail.");
	} else if (v == LINK_OLD) {
		log_msg(NULL, "link", VM_LOG_INFO, "refused a link of the old format (v1)");
		r = page(403, "Link no longer valid",
			 "This voicemail link was made in an older format that is no longer accepted. "
			 "Ask the sender for the recording if you still need it.");
	} else if (v == LINK_EXPIRED) {
		char when[32], text[200];
		vm_format_time(exp * 1000, when, sizeof when);
		snprintf(text, sizeof text, "This voicemail link expired on %s. Ask the sender "
			 "for the recording if you still need it.", when);
		log_msg(NULL, "link", VM_LOG_INFO, "expired link (%s)", when);
		r = page(403, "Link expired", text);
	} else {
		char region[AWS_REGION_MAX], err[512];
		enum head_result hr = HEAD_ERROR;
		if (aws_host_region(NULL, NULL, region, sizeof region, err, sizeof err) == 0)
			hr = head_object(region, bucket, key, err, sizeof err);
		if (hr == HEAD_GONE) {
			log_msg(NULL, "link", VM_LOG_INFO, "s3://%s/%s is gone", bucket, key);
			r = page(404, "Recording not available",
				 "This voicemail recording is no longer available.");
		} else if (hr == HEAD_ERROR) {
			log_msg(NULL, "link", VM_LOG_ERROR, "s3://%s/%s: %s", bucket, key, err);
			r = page(503, "Try again later",
				 "The voicemail cannot be fetched right now. Please try again in a minute.");
		} else {
			char *url = aws_s3_presign(region, bucket, key, vm_audio_type(key),
						   cfg->redirect_ttl_s, err, sizeof err);
			if (url) {
				log_msg(NULL, "link", VM_LOG_INFO, "listen page of s3://%s/%s", bucket, key);
				r = listen(ts, job_id, url, exp);
				free(url);
			} else {
				log_msg(NULL, "link", VM_LOG_ERROR, "presign s3://%s/%s: %s", bucket, key, err);
				r = page(503, "Try again later",
					 "The voicemail cannot be fetched right now. Please try again in a minute.");
			}
		}
	}
	free(bucket);
	free(key);
	free(job_id);
	return r;
}

char *link_click(const struct link_cfg *cfg, struct tenants *ts, const json_t *ev, int64_t now_ms,
		 int *status)
{
	json_t *r = answer(cfg, ts, ev, now_ms);
	if (!r)
		return NULL;
	if (status)
		*status = (int)json_integer_value(json_object_get(r, "statusCode"));
	char *s = json_dumps(r, JSON_COMPACT);
	json_decref(r);
	return s;
}
