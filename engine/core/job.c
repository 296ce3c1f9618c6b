/*
 * The job record: one JSON object per voicemail (fields in
 * docs/vmpipe-pipeline.5.md).  Dotted paths address nested objects.
 */
#include "job.h"
#include "retry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/sigv4.h"
#include "clock.h"
#include "log.h"

vm_job *job_from_json(json_t *rec)
{
	if (!json_is_object(rec)) {
		json_decref(rec);
		return NULL;
	}
	vm_job *job = calloc(1, sizeof *job);
	if (!job) {
		json_decref(rec);
		return NULL;
	}
	job->rec = rec;
	return job;
}

vm_job *job_new(const char *id)
{
	char ts[32];
	vm_format_time(clock_now_ms(), ts, sizeof ts);
	json_t *rec = json_pack("{s:s, s:s, s:s, s:i, s:[], s:[]}", "id", id, "received_at", ts,
				"state", "pending", "attempts", 0, "notifications", "errors");
	return rec ? job_from_json(rec) : NULL;
}

vm_job *job_from_string(const char *text, char *errbuf, size_t errsize)
{
	json_error_t e;
	json_t *rec = json_loads(text, JSON_REJECT_DUPLICATES, &e);
	if (!rec) {
		snprintf(errbuf, errsize, "line %d column %d: %s", e.line, e.column, e.text);
		return NULL;
	}
	if (!json_is_object(rec)) {
		snprintf(errbuf, errsize, "a job record is a JSON object");
		json_decref(rec);
		return NULL;
	}
	return job_from_json(rec);
}

void job_free(vm_job *job)
{
	if (!job)
		return;
	json_decref(job->rec);
	free(job->fail_msg);
	free(job);
}

/* Walk to the parent object of the last path component.  With `create`,
 * missing objects on the way are made.  Returns the parent and sets *leaf. */
static json_t *walk(json_t *root, const char *path, bool create, const char **leaf,
		    char *keybuf, size_t keysize)
{
	json_t *cur = root;
	const char *p = path;
	for (;;) {
		const char *dot = strchr(p, '.');
		if (!dot) {
			*leaf = p;
			return cur;
		}
		size_t n = (size_t)(dot - p);
		if (n == 0 || n >= keysize)
			return NULL;
		memcpy(keybuf, p, n);
		keybuf[n] = '\0';
		json_t *next = json_object_get(cur, keybuf);
		if (!next) {
			if (!create)
				return NULL;
			next = json_object();
			if (json_object_set_new(cur, keybuf, next) != 0)
				return NULL;
		} else if (!json_is_object(next)) {
			return NULL;
		}
		cur = next;
		p = dot + 1;
	}
}

json_t *job_get(const vm_job *job, const char *path)
{
	char key[256];
	const char *leaf;
	json_t *parent = walk(job->rec, path, false, &leaf, key, sizeof key);
	return parent && *leaf ? json_object_get(parent, leaf) : NULL;
}

int job_set(vm_job *job, const char *path, json_t *value)
{
	char key[256];
	const char *leaf;
	json_t *parent = walk(job->rec, path, value != NULL, &leaf, key, sizeof key);
	if (!parent || !*leaf) {
		/* Removing what is not there succeeds: the field is absent either way. */
		if (!value)
			return 0;
		json_decref(value);
		return -1;
	}
	if (!value) {
		json_object_del(parent, leaf);
		return 0;
	}
	return json_object_set_new(parent, leaf, value);
}

void job_add_error(vm_job *job, const char *stage, const char *kind, const char *msg)
{
	char ts[32];
	vm_format_time(clock_now_ms(), ts, sizeof ts);
	json_t *errs = json_object_get(job->rec, "errors");
	if (!json_is_array(errs)) {
		errs = json_array();
		json_object_set_new(job->rec, "errors", errs);
	}
	json_t *m = json_string(msg ? msg : "");
	if (!m) /* not UTF-8: keep the bytes we can show */
		m = json_string("(message not valid UTF-8)");
	json_array_append_new(errs, json_pack("{s:s, s:s, s:o, s:s}", "stage", stage ? stage : "engine",
					      "kind", kind, "message", m, "at", ts));
}

void job_reset_outcome(vm_job *job)
{
	job->retry_ms = 0;
	job->fail_kind = VM_DONE;
	free(job->fail_msg);
	job->fail_msg = NULL;
}

/* ---------------------------------------------------------------- host API */

const char *vm_job_id(const vm_job *job)
{
	return json_string_value(json_object_get(job->rec, "id"));
}

const char *vm_job_get_str(const vm_job *job, const char *path)
{
	return json_string_value(job_get(job, path));
}

bool vm_job_get_int(const vm_job *job, const char *path, int64_t *out)
{
	json_t *v = job_get(job, path);
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	if (json_is_real(v)) {
		*out = (int64_t)json_real_value(v);
		return true;
	}
	if (json_is_string(v)) {
		char *end;
		errno = 0;
		long long n = strtoll(json_string_value(v), &end, 10);
		if (errno == 0 && end != json_string_value(v) && *end == '\0') {
			*out = n;
			return true;
		}
	}
	return false;
}

bool vm_job_get_num(const vm_job *job, const char *path, double *out)
{
	json_t *v = job_get(job, path);
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return true;
	}
	if (json_is_string(v)) {
		char *end;
		double d = strtod(json_string_value(v), &end);
		if (end != json_string_value(v) && *end == '\0') {
			*out = d;
			return true;
		}
	}
	return false;
}

bool vm_job_get_bool(const vm_job *job, const char *path, bool def)
{
	json_t *v = job_get(job, path);
	return json_is_boolean(v) ? json_is_true(v) : def;
}

int vm_job_set_str(vm_job *job, const char *path, const char *value)
{
	if (!value)
		return job_set(job, path, NULL);
	json_t *s = json_string(value);
	return s ? job_set(job, path, s) : -1;
}

int vm_job_set_int(vm_job *job, const char *path, int64_t value)
{
	return job_set(job, path, json_integer(value));
}

int vm_job_set_num(vm_job *job, const char *path, double value)
{
	return job_set(job, path, json_real(value));
}

int vm_job_set_bool(vm_job *job, const char *path, bool value)
{
	return job_set(job, path, json_boolean(value));
}

char *vm_job_to_json(const vm_job *job)
{
	return json_dumps(job->rec, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
}

const char *vm_job_notified(const vm_job *job)
{
	json_t *list = json_object_get(job->rec, "notifications");
	size_t i;
	json_t *n;
	if (!job->stage)
		return NULL;
	int64_t round = job_round(job);
	json_array_foreach(list, i, n)
	{
		const char *st = json_string_value(json_object_get(n, "stage"));
		const char *id = json_string_value(json_object_get(n, "message_id"));
		json_int_t r = json_integer_value(json_object_get(n, "round")); /* absent: 0 */
		if (st && id && strcmp(st, job->stage) == 0 && r == round)
			return id;
	}
	return NULL;
}

void vm_job_notification_key(const vm_job *job, char *buf, size_t size)
{
	/* NUL-separated: no id/stage pair can spell another's input. */
	const char *id = vm_job_id(job);
	const char *st = job->stage ? job->stage : "notify";
	char in[600];
	int64_t round = job_round(job);
	/* Round 0 keeps the key it always had; a follow-up has its own. */
	int n = round ? snprintf(in, sizeof in, "vmpipe-notification%c%s%c%s%c%lld", 0, id ? id : "", 0, st, 0,
				 (long long)round)
		      : snprintf(in, sizeof in, "vmpipe-notification%c%s%c%s", 0, id ? id : "", 0, st);
	char hex[65];
	sigv4_sha256_hex(in, n < 0 ? 0 : (size_t)n < sizeof in ? (size_t)n : sizeof in - 1, hex);
	snprintf(buf, size, "%.32s", hex);
}

bool vm_job_maybe_sent(const vm_job *job)
{
	return job->maybe_sent;
}

int vm_job_add_notification(vm_job *job, const char *transport, const char *message_id)
{
	char ts[32];
	vm_format_time(clock_now_ms(), ts, sizeof ts);
	json_t *list = json_object_get(job->rec, "notifications");
	if (!json_is_array(list)) {
		list = json_array();
		json_object_set_new(job->rec, "notifications", list);
	}
	json_t *mid = json_string(message_id ? message_id : "");
	json_t *n = json_pack("{s:s, s:s, s:o*, s:s}", "stage", job->stage ? job->stage : "notify",
			      "transport", transport ? transport : "unknown", "message_id", mid,
			      "sent_at", ts);
	if (n && job_round(job))
		json_object_set_new(n, "round", json_integer(job_round(job)));
	return n ? json_array_append_new(list, n) : -1;
}

vm_status vm_done(vm_job *job)
{
	(void)job;
	return VM_DONE;
}

vm_status vm_retry(vm_job *job, int64_t delay_ms)
{
	job->retry_ms = delay_ms < 0 ? 0 : delay_ms;
	return VM_RETRY;
}

vm_status vm_fail(vm_job *job, vm_status kind, const char *fmt, ...)
{
	if (kind != VM_TRANSIENT)
		kind = VM_PERMANENT;
	free(job->fail_msg);
	job->fail_msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&job->fail_msg, fmt, ap) < 0)
		job->fail_msg = NULL;
	va_end(ap);
	job->fail_kind = kind;
	return kind;
}

int64_t vm_job_deadline_ms(const vm_job *job)
{
	return job ? job->deadline_ms : 0;
}
