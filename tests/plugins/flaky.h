/*
 * The misbehaving stage the scheduler tests drive: one implementation, built
 * as a locate (test-flaky-locate), transcribe (test-flaky-transcribe) and
 * notify (test-flaky) plugin.  The includer defines FLAKY_NAME and FLAKY_KIND.
 *
 * Options:
 *   mode       done | retry | transient | permanent: what to answer
 *   times      how many calls answer `mode` before the stage is done
 *              (-1: forever, so the stage can only end by timeout)
 *   delay      the retry-after delay for mode = retry
 *   message    the failure message (named in the record's errors)
 *   init_error when set, init() fails with this text
 *   text       transcript text (transcribe kind); "\n" in it is a line break
 *
 * What the scheduler did is observable in the job record, not in plugin
 * memory (the state is read-only after init): test.<stage>.calls,
 * .first_at, .done_at (clock milliseconds), and for notifiers the
 * transcript.status they saw (.saw_transcript).
 */
#ifndef TEST_FLAKY_H
#define TEST_FLAKY_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmpipe/vmpipe.h>

enum { FLAKY_DONE, FLAKY_RETRY, FLAKY_TRANSIENT, FLAKY_PERMANENT };

struct flaky {
	int mode;
	int64_t times;
	int64_t delay_ms;
	const char *message;
	const char *init_error;
	const char *text;
	char key[80]; /* "test.<stage with '.' as '_'>", set by init */
};

static void flaky_path(const struct flaky *f, const char *leaf, char *buf, size_t size)
{
	snprintf(buf, size, "%s.%s", f->key, leaf);
}

static int64_t flaky_get(const struct flaky *f, vm_job *job, const char *leaf, int64_t def)
{
	char path[128];
	int64_t v;
	flaky_path(f, leaf, path, sizeof path);
	return vm_job_get_int(job, path, &v) ? v : def;
}

static void flaky_set(const struct flaky *f, vm_job *job, const char *leaf, int64_t v)
{
	char path[128];
	flaky_path(f, leaf, path, sizeof path);
	vm_job_set_int(job, path, v);
}

static vm_status flaky_finish(const struct flaky *f, vm_job *job)
{
	char path[128];
	flaky_set(f, job, "done_at", vm_now_ms());
	switch (FLAKY_KIND) {
	case VM_STAGE_LOCATE:
		vm_job_set_str(job, "recording.uri", "file:///nonexistent/test-flaky.wav");
		vm_job_set_int(job, "recording.size", 44);
		break;
	case VM_STAGE_TRANSCRIBE: {
		/* An INI value is one line: "\n" stands for a line break. */
		const char *t = f->text ? f->text : "";
		char *text = strdup(t), *o = text;
		for (const char *p = t; text && *p; p++) {
			if (p[0] == '\\' && p[1] == 'n') {
				*o++ = '\n';
				p++;
			} else {
				*o++ = *p;
			}
		}
		if (o)
			*o = '\0';
		vm_job_set_str(job, "transcript.status", "completed");
		vm_job_set_str(job, "transcript.engine", FLAKY_NAME);
		vm_job_set_str(job, "transcript.text", text ? text : "");
		free(text);
		break;
	}
	case VM_STAGE_NOTIFY: {
		const char *ts = vm_job_get_str(job, "transcript.status");
		flaky_path(f, "saw_transcript", path, sizeof path);
		vm_job_set_str(job, path, ts ? ts : "(none)");
		if (vm_job_notified(job))
			break; /* idempotent, like a real notifier */
		char id[160];
		snprintf(id, sizeof id, "<%s.%s@test>", f->key, vm_job_id(job));
		vm_job_add_notification(job, "test", id);
		break;
	}
	}
	return vm_done(job);
}

static vm_status flaky_run(const void *state, vm_job *job)
{
	const struct flaky *f = state;
	int64_t calls = flaky_get(f, job, "calls", 0) + 1;
	flaky_set(f, job, "calls", calls);
	if (calls == 1)
		flaky_set(f, job, "first_at", vm_now_ms());
	if (f->mode == FLAKY_DONE || (f->times >= 0 && calls > f->times))
		return flaky_finish(f, job);
	const char *msg = f->message ? f->message : "test failure";
	switch (f->mode) {
	case FLAKY_RETRY:
		return vm_retry(job, f->delay_ms);
	case FLAKY_TRANSIENT:
		return vm_fail(job, VM_TRANSIENT, "%s (call %lld)", msg, (long long)calls);
	default:
		return vm_fail(job, VM_PERMANENT, "%s (call %lld)", msg, (long long)calls);
	}
}

static int flaky_init(vm_stage *stage, void *state)
{
	struct flaky *f = state;
	if (f->init_error) {
		vm_stage_error(stage, "%s", f->init_error);
		return -1;
	}
	int n = snprintf(f->key, sizeof f->key, "test.%s", vm_stage_name(stage));
	for (int i = 5; i < n && f->key[i]; i++)
		if (f->key[i] == '.')
			f->key[i] = '_';
	return 0;
}

#define FLAKY_O(x) offsetof(struct flaky, x)
static const vm_option flaky_options[] = {
	{"mode", VM_OPT_ENUM, "done", false, FLAKY_O(mode), "what to answer before succeeding",
	 "done|retry|transient|permanent"},
	{"times", VM_OPT_INT, "1", false, FLAKY_O(times),
	 "how many calls answer `mode` before done (-1: forever)", NULL},
	{"delay", VM_OPT_DURATION, "2s", false, FLAKY_O(delay_ms), "the retry-after delay", NULL},
	{"message", VM_OPT_STRING, NULL, false, FLAKY_O(message), "the failure message", NULL},
	{"init_error", VM_OPT_STRING, NULL, false, FLAKY_O(init_error),
	 "when set, init() fails with this text", NULL},
	{"text", VM_OPT_STRING, "hello from the test transcriber", false, FLAKY_O(text),
	 "transcript text (transcribe kind)", NULL},
	{NULL, 0, NULL, false, 0, NULL, NULL},
};

const vm_plugin vmpipe_plugin = {
	.abi_version = VMPIPE_ABI_VERSION,
	.kind = FLAKY_KIND,
	.name = FLAKY_NAME,
	.summary = "test stage that retries, fails or hangs on request",
	.options = flaky_options,
	.state_size = sizeof(struct flaky),
	.init = flaky_init,
	.run = flaky_run,
};

#endif
