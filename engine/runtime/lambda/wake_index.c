/*
 * Index objects of suspend mode (see wake_index.h): small JSON objects in
 * S3, created with If-None-Match: * and replaced with If-Match, so that two
 * invocations that meet on one never overwrite each other's news.
 */
#include "wake_index.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/state.h"
#include "core/util.h"

#define TRIES 4 /* rounds of read-then-write lost to another writer before giving up */

struct obj {
	char bucket[64];
	char key[1100];
	char etag[160];  /* of what was read; "" when absent */
	char job[129], tenant[129];
	bool news;
};

static const char *const kind_dir[] = {"recording", "transcribe"};

int wix_key_ok(enum wix_kind k, const char *key)
{
	/* Contact ids are plain names; Transcribe's names are ^[0-9a-zA-Z._-]+ of up to 200. */
	return key && is_plain_name(key, k == WIX_TRANSCRIBE ? 200 : 128);
}

static int locate(struct obj *o, const char *state, enum wix_kind k, const char *key)
{
	memset(o, 0, sizeof *o);
	const char *rest;
	if (!state || parse_s3_uri(state, o->bucket, sizeof o->bucket, &rest) != 0 || !wix_key_ok(k, key))
		return -1;
	size_t pn = strlen(rest);
	while (pn && rest[pn - 1] == '/')
		pn--;
	int n = snprintf(o->key, sizeof o->key, "%.*s%swake/%s/%s.json", (int)pn, rest, pn ? "/" : "",
			 kind_dir[k], key);
	return n > 0 && (size_t)n < sizeof o->key ? 0 : -1;
}

/* One S3 call for `ctx` that leaves ctx's outcome alone. */
static vm_status call(vm_job *ctx, const vm_aws_request *r, vm_aws_response *resp, char *err, size_t errsz)
{
	return state_aws_call(ctx, "wakeup", r, resp, err, errsz);
}

/* GET: 1 read (fields filled), 0 absent, -1 error (logged). */
static int get(vm_job *ctx, struct obj *o)
{
	char err[600];
	vm_aws_request r = {.service = "s3", .method = "GET", .bucket = o->bucket, .path = o->key,
			    .protocol = VM_AWS_REST_XML, .max_response = 64 * 1024};
	vm_aws_response resp;
	int rc;
	o->etag[0] = o->job[0] = o->tenant[0] = '\0';
	o->news = false;
	if (call(ctx, &r, &resp, err, sizeof err) == VM_DONE) {
		const char *et = vm_aws_response_header(&resp, "etag");
		snprintf(o->etag, sizeof o->etag, "%s", et ? et : "");
		json_t *doc = json_loadb(resp.body ? (const char *)resp.body : "", resp.body_len, 0, NULL);
		const char *job = json_string_value(json_object_get(doc, "job"));
		const char *tenant = json_string_value(json_object_get(doc, "tenant"));
		if (job && is_plain_name(job, 128))
			snprintf(o->job, sizeof o->job, "%s", job);
		if (tenant && is_plain_name(tenant, 128))
			snprintf(o->tenant, sizeof o->tenant, "%s", tenant);
		o->news = json_object_get(doc, "news") != NULL;
		if (!doc)
			log_msg(ctx, "wakeup", VM_LOG_WARN, "s3://%s/%s is not JSON: taken as empty", o->bucket, o->key);
		json_decref(doc);
		rc = 1;
	} else if (resp.status == 404) {
		rc = 0;
	} else {
		log_msg(ctx, "wakeup", VM_LOG_WARN, "s3://%s/%s not read: %s", o->bucket, o->key, err);
		rc = -1;
	}
	vm_aws_response_free(&resp);
	return rc;
}

/* PUT the object's fields, created (no etag) or replacing what was read.
 * 0 written, 1 somebody else wrote first, -1 error (logged). */
static int put(vm_job *ctx, struct obj *o, bool news)
{
	json_t *doc = json_object();
	if (*o->job)
		json_object_set_new(doc, "job", json_string(o->job));
	if (*o->job && *o->tenant)
		json_object_set_new(doc, "tenant", json_string(o->tenant));
	if (news) {
		char ts[32];
		vm_format_time(clock_now_ms(), ts, sizeof ts);
		json_object_set_new(doc, "news", json_string(ts));
	}
	char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (!text)
		return -1;
	vm_aws_pair hdr[] = {{"Content-Type", "application/json"},
			     {*o->etag ? "If-Match" : "If-None-Match", *o->etag ? o->etag : "*"}};
	vm_aws_request r = {.service = "s3", .method = "PUT", .bucket = o->bucket, .path = o->key,
			    .headers = hdr, .nheaders = 2, .body = text, .body_len = strlen(text),
			    .protocol = VM_AWS_REST_XML};
	vm_aws_response resp;
	char err[600];
	int rc = 0;
	if (call(ctx, &r, &resp, err, sizeof err) != VM_DONE) {
		/* 412: the condition failed; 409: a concurrent conditional write;
		 * 404 on If-Match: removed meanwhile.  All mean: read again. */
		if (resp.status == 412 || resp.status == 409 || (resp.status == 404 && *o->etag)) {
			rc = 1;
		} else {
			log_msg(ctx, "wakeup", VM_LOG_WARN, "s3://%s/%s not written: %s", o->bucket, o->key, err);
			rc = -1;
		}
	}
	vm_aws_response_free(&resp);
	free(text);
	return rc;
}

int wix_register(const char *state, vm_job *ctx, enum wix_kind k, const char *key, const char *job,
		 const char *tenant)
{
	struct obj o;
	if (locate(&o, state, k, key) != 0)
		return WIX_ERROR;
	/* Most often nobody has written it: try to create it first. */
	for (int i = 0; i < TRIES; i++) {
		bool news = o.news || (*o.etag && !*o.job); /* written by an event before the job */
		bool ours = *o.etag && strcmp(o.job, job) == 0 && strcmp(o.tenant, tenant ? tenant : "") == 0;
		if (ours && !news)
			return WIX_DEFER;
		if (*o.etag && *o.job && !ours)
			log_msg(ctx, "wakeup", VM_LOG_WARN, "s3://%s/%s named job %s: it now names this one", o.bucket,
				o.key, o.job);
		snprintf(o.job, sizeof o.job, "%s", job);
		snprintf(o.tenant, sizeof o.tenant, "%s", tenant ? tenant : "");
		int w = put(ctx, &o, false);
		if (w < 0)
			return WIX_ERROR;
		if (w == 0)
			return news ? WIX_NEWS : WIX_DEFER;
		if (get(ctx, &o) < 0)
			return WIX_ERROR;
	}
	log_msg(ctx, "wakeup", VM_LOG_WARN, "s3://%s/%s keeps changing: not relied on", o.bucket, o.key);
	return WIX_ERROR;
}

int wix_event(const char *state, vm_job *ctx, enum wix_kind k, const char *key, char *job, char *tenant)
{
	struct obj o;
	if (locate(&o, state, k, key) != 0)
		return WIX_ERROR;
	for (int i = 0; i < TRIES; i++) {
		int g = get(ctx, &o);
		if (g < 0)
			return WIX_ERROR;
		if (g == 1 && *o.job) {
			snprintf(job, 129, "%s", o.job);
			snprintf(tenant, 129, "%s", o.tenant);
			return WIX_JOB;
		}
		if (g == 1 && o.news)
			return WIX_NOTED; /* told already (a repeated event) */
		int w = put(ctx, &o, true);
		if (w < 0)
			return WIX_ERROR;
		if (w == 0)
			return WIX_NOTED;
	}
	log_msg(ctx, "wakeup", VM_LOG_WARN, "s3://%s/%s keeps changing: not relied on", o.bucket, o.key);
	return WIX_ERROR;
}

int wix_news(const char *state, vm_job *ctx, enum wix_kind k, const char *key)
{
	struct obj o;
	if (locate(&o, state, k, key) != 0)
		return -1;
	for (int i = 0; i < TRIES; i++) {
		int g = get(ctx, &o);
		if (g < 0)
			return -1;
		if (g == 1 && o.news)
			return 0;
		int w = put(ctx, &o, true);
		if (w < 0)
			return -1;
		if (w == 0)
			return 0;
	}
	return -1;
}
