/*
 * Suspend mode's settings and durable timer (see wake.h).
 */
#include "wake.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/job.h"
#include "aws/sqs.h"
#include "core/util.h"

#define MAX_FALLBACK_MS (12LL * 3600 * 1000)

static int duration_env(const char *name, int64_t def, int64_t min, int64_t max, int64_t *out, char *err,
			size_t errsz)
{
	const char *v = getenv(name);
	*out = def;
	if (!v || !*v)
		return 0;
	if (parse_duration(v, out) != 0 || *out < min || *out > max) {
		char lo[32], hi[32];
		format_duration((double)min / 1000.0, lo, sizeof lo);
		format_duration((double)max / 1000.0, hi, sizeof hi);
		snprintf(err, errsz, "%s=\"%.40s\": a duration from %s to %s (e.g. 1s, 500ms, 2m)", name, v, lo, hi);
		return -1;
	}
	return 0;
}

/* "s3,transcribe" into the flags; -1 with err on anything else. */
static int events_env(struct wake_cfg *c, char *err, size_t errsz)
{
	const char *v = getenv("VMPIPE_WAKEUP_EVENTS");
	for (const char *p = v ? v : ""; *p;) {
		p += strspn(p, ", ");
		size_t n = strcspn(p, ", ");
		if (!n)
			break;
		if (n == 2 && strncmp(p, "s3", 2) == 0) {
			c->s3_events = true;
		} else if (n == 10 && strncmp(p, "transcribe", 10) == 0) {
			c->transcribe_events = true;
		} else {
			snprintf(err, errsz, "VMPIPE_WAKEUP_EVENTS: \"%.*s\" is not an event vmpipe waits for "
				 "(s3, transcribe)", (int)(n > 40 ? 40 : n), p);
			return -1;
		}
		p += n;
	}
	return 0;
}

int wake_config(struct wake_cfg *c, char *err, size_t errsz)
{
	memset(c, 0, sizeof *c);
	const char *q = getenv("VMPIPE_WAKEUP_QUEUE");
	if (duration_env("VMPIPE_SUSPEND_AFTER", WAKE_SUSPEND_AFTER_MS, 0, WAKE_MAX_DELAY_S * 1000LL,
			 &c->suspend_after_ms, err, errsz) != 0 ||
	    duration_env("VMPIPE_WAKEUP_FALLBACK", WAKE_FALLBACK_MS, 1000, MAX_FALLBACK_MS, &c->fallback_ms, err,
			 errsz) != 0 ||
	    duration_env("VMPIPE_SWEEP_AFTER", WAKE_SWEEP_AFTER_MS, 1000, MAX_FALLBACK_MS, &c->sweep_after_ms, err,
			 errsz) != 0 ||
	    duration_env("VMPIPE_SWEEP_WINDOW", WAKE_SWEEP_WINDOW_MS, 60000, 7 * 24 * 3600 * 1000LL,
			 &c->sweep_window_ms, err, errsz) != 0 ||
	    events_env(c, err, errsz) != 0)
		return -1;
	if (!q || !*q)
		return 0;
	char why[300];
	if (strlen(q) >= sizeof c->queue || sqs_url_check(q, why, sizeof why) != 0) {
		snprintf(err, errsz, "VMPIPE_WAKEUP_QUEUE: %s", why);
		return -1;
	}
	snprintf(c->queue, sizeof c->queue, "%s", q);
	if (sqs_url_region(q, c->region, sizeof c->region) != 0)
		c->region[0] = '\0';
	c->on = true;
	return 0;
}

char *wake_body(const struct wake_msg *m)
{
	json_t *o = json_pack("{s:s, s:i, s:s, s:I, s:I}", "vmpipe", "wake", "v", 1, "job", m->job, "due_ms",
			      (json_int_t)m->due_ms, "attempts", (json_int_t)m->attempts);
	if (o && *m->tenant)
		json_object_set_new(o, "tenant", json_string(m->tenant));
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	return s;
}

int wake_parse(const char *body, size_t len, struct wake_msg *m, char *why, size_t whysz)
{
	memset(m, 0, sizeof *m);
	json_error_t e;
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
	const char *kind = json_string_value(json_object_get(o, "vmpipe"));
	json_t *v = json_object_get(o, "v"), *due = json_object_get(o, "due_ms"),
	       *att = json_object_get(o, "attempts"), *tenant = json_object_get(o, "tenant");
	const char *job = json_string_value(json_object_get(o, "job"));
	int rc = -1;
	if (!json_is_object(o))
		snprintf(why, whysz, "not a JSON object");
	else if (!kind || strcmp(kind, "wake") != 0)
		snprintf(why, whysz, "not a vmpipe wake-up (no \"vmpipe\": \"wake\")");
	else if (!json_is_integer(v) || json_integer_value(v) != 1)
		snprintf(why, whysz, "a wake-up of a version this vmpipe does not know");
	else if (!job || !is_plain_name(job, 128))
		snprintf(why, whysz, "\"job\" is not a plain job id");
	else if (tenant && (!json_is_string(tenant) || !is_plain_name(json_string_value(tenant), 128)))
		snprintf(why, whysz, "\"tenant\" is not a plain tenant name");
	else if (!json_is_integer(due) || json_integer_value(due) <= 0)
		snprintf(why, whysz, "\"due_ms\" is not a time in ms");
	else if (!json_is_integer(att) || json_integer_value(att) < 0)
		snprintf(why, whysz, "\"attempts\" is not a count");
	else
		rc = 0;
	if (rc == 0) {
		snprintf(m->job, sizeof m->job, "%s", job);
		snprintf(m->tenant, sizeof m->tenant, "%s", tenant ? json_string_value(tenant) : "");
		m->due_ms = json_integer_value(due);
		m->attempts = json_integer_value(att);
	}
	json_decref(o);
	return rc;
}

int wake_delay_s(int64_t due_ms, int64_t now_ms)
{
	int64_t left = due_ms - now_ms;
	if (left <= 0)
		return 0;
	int64_t s = (left + 999) / 1000;
	return s > WAKE_MAX_DELAY_S ? WAKE_MAX_DELAY_S : (int)s;
}

int wake_send(const struct wake_cfg *c, const struct wake_msg *m, char *err, size_t errsz)
{
	char *body = wake_body(m);
	json_t *req = body ? json_pack("{s:s, s:s, s:i}", "QueueUrl", c->queue, "MessageBody", body, "DelaySeconds",
				       wake_delay_s(m->due_ms, clock_now_ms()))
			   : NULL;
	char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	free(body);
	if (!text) {
		snprintf(err, errsz, "wake-up of %s not sent: out of memory", m->job);
		return -1;
	}
	vm_aws_pair hdr[] = {{"Content-Type", "application/x-amz-json-1.0"},
			     {"X-Amz-Target", "AmazonSQS.SendMessage"}};
	vm_aws_request r = {.service = "sqs", .region = *c->region ? c->region : NULL, .method = "POST",
			    .path = "/", .headers = hdr, .nheaders = 2, .body = text, .body_len = strlen(text),
			    .protocol = VM_AWS_JSON, .max_response = 64 * 1024};
	/* vm_aws_send() keeps its outcome in the job it is given: a scratch one. */
	vm_job scratch = {.rec = json_object(), .stage = "wakeup"};
	vm_aws_response resp;
	vm_status st = vm_aws_send(&scratch, &r, &resp);
	if (st != VM_DONE)
		snprintf(err, errsz, "wake-up of %s not sent: %s", m->job,
			 scratch.fail_msg ? scratch.fail_msg : "SendMessage failed");
	vm_aws_response_free(&resp);
	free(scratch.fail_msg);
	json_decref(scratch.rec);
	free(text);
	return st == VM_DONE ? 0 : -1;
}
