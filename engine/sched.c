#include "sched.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "intake.h"
#include "log.h"
#include "state.h"
#include "util.h"

int64_t sched_backoff(int64_t base_ms, int64_t cap_ms, int n)
{
	int64_t d = base_ms > 0 ? base_ms : 1;
	for (int i = 1; i < n && d < cap_ms; i++)
		d *= 2;
	if (d > cap_ms)
		d = cap_ms;
	int64_t j = clock_jitter(d + 1);
	return j > 0 ? j : 1;
}

enum stage_end { END_DONE, END_PERMANENT, END_TIMEOUT };

/* Call one stage until it is done, fails for good, or time runs out. */
static enum stage_end run_stage(const struct pipeline *p, vm_stage *st, vm_job *job,
				int64_t deadline, vm_status *last_kind)
{
	const vm_plugin *pl = st->mod->p;
	int transient = 0;
	char last_msg[512] = "";
	job->stage = st->name;
	job->deadline_ms = deadline; /* vm_job_deadline_ms(): long work inside run() stops there */
	log_msg(job, NULL, VM_LOG_DEBUG, "starting (%s)", pl->name);
	for (;;) {
		job_reset_outcome(job);
		vm_status s = pl->run(st->state, job);
		int64_t attempts = 0;
		vm_job_get_int(job, "attempts", &attempts);
		vm_job_set_int(job, "attempts", attempts + 1);
		int64_t delay = 0;
		switch (s) {
		case VM_DONE:
			log_msg(job, NULL, VM_LOG_DEBUG, "done");
			return END_DONE;
		case VM_RETRY:
			delay = job->retry_ms > 0 ? job->retry_ms : 1;
			log_msg(job, NULL, VM_LOG_DEBUG, "not ready, again in %lld ms", (long long)delay);
			break;
		case VM_TRANSIENT:
			transient++;
			delay = sched_backoff(p->set.retry_base_ms, p->set.retry_cap_ms, transient);
			snprintf(last_msg, sizeof last_msg, "%s", job->fail_msg ? job->fail_msg : "transient failure");
			log_msg(job, NULL, VM_LOG_WARN, "%s (retry %d in %lld ms)", last_msg, transient,
				(long long)delay);
			job_add_error(job, st->name, "transient", last_msg);
			*last_kind = VM_TRANSIENT;
			break;
		default:
			snprintf(last_msg, sizeof last_msg, "%s", job->fail_msg ? job->fail_msg : "failed");
			log_msg(job, NULL, VM_LOG_ERROR, "%s", last_msg);
			job_add_error(job, st->name, "permanent", last_msg);
			*last_kind = VM_PERMANENT;
			return END_PERMANENT;
		}
		int64_t now = clock_now_ms();
		if (now >= deadline) {
			char msg[700];
			snprintf(msg, sizeof msg, "timed out waiting in %s%s%s", st->name, *last_msg ? ": " : "",
				 last_msg);
			log_msg(job, NULL, VM_LOG_ERROR, "%s", msg);
			job_add_error(job, st->name, "timeout", msg);
			if (*last_kind != VM_PERMANENT)
				*last_kind = VM_TRANSIENT;
			return END_TIMEOUT;
		}
		clock_sleep_ms(delay < deadline - now ? delay : deadline - now);
	}
}

/* stages.<name> = what.  Stage names may hold a '.' ([notify.archive]), so the
 * name is one key of "stages", never a dotted path (that would cross the
 * string stages.notify and fail). */
static void mark(vm_job *job, const char *stage, const char *what)
{
	json_t *stages = json_object_get(job->rec, "stages");
	if (!json_is_object(stages)) {
		stages = json_object();
		if (json_object_set_new(job->rec, "stages", stages) != 0)
			return;
	}
	json_object_set_new(stages, stage, json_string(what));
}

static bool marked_done(vm_job *job, const char *stage)
{
	const char *s = json_string_value(json_object_get(json_object_get(job->rec, "stages"), stage));
	return s && strcmp(s, "done") == 0;
}

int sched_run(const struct pipeline *p, vm_job *job, int64_t hard_deadline_ms)
{
	int64_t start = clock_now_ms();
	int64_t deadline = start + p->set.timeout_ms;
	int64_t notify_deadline = deadline + p->set.notify_grace_ms;
	if (hard_deadline_ms) {
		if (deadline > hard_deadline_ms)
			deadline = hard_deadline_ms;
		if (notify_deadline > hard_deadline_ms)
			notify_deadline = hard_deadline_ms;
	}
	bool no_recording = false, notified_all = true, any_notifier = false;
	vm_status notify_kind = VM_DONE;
	char refused[512];
	int refused_rc = intake_check(p, job, refused, sizeof refused); /* before anything is paid for */
	if (refused_rc)
		return refused_rc;

	for (size_t i = 0; i < p->n_stages; i++) {
		vm_stage *st = p->stages[i];
		if (marked_done(job, st->name)) {
			/* Resumed after this notifier told the owner: that counts. */
			if (st->kind == VM_STAGE_NOTIFY)
				any_notifier = true;
			continue;
		}
		if (st->kind == VM_STAGE_TRANSCRIBE && no_recording) {
			vm_job_set_str(job, "transcript.status", "skipped");
			vm_job_set_str(job, "transcript.error", "no recording");
			mark(job, st->name, "skipped");
			state_save(p, job);
			continue;
		}
		vm_status kind = VM_DONE;
		int64_t dl = st->kind == VM_STAGE_NOTIFY ? notify_deadline : deadline;
		enum stage_end end = run_stage(p, st, job, dl, &kind);
		job->stage = NULL;
		if (end == END_DONE) {
			mark(job, st->name, "done");
			if (st->kind == VM_STAGE_NOTIFY)
				any_notifier = true;
			/* Checkpoint ([pipeline] state): a retry skips what is done. */
			state_save(p, job);
			continue;
		}
		mark(job, st->name, "failed");
		const char *why = job->fail_msg ? job->fail_msg : "timed out";
		switch (st->kind) {
		case VM_STAGE_LOCATE: {
			/* The owner still hears that somebody called. */
			no_recording = true;
			/* A recording the locate stage refused or never found must not be
			 * used downstream: a notifier attaching recording.uri would send
			 * whatever the event named (file:///etc/passwd).  Keep it for
			 * diagnosis only. */
			const char *uri = vm_job_get_str(job, "recording.uri");
			if (uri) {
				vm_job_set_str(job, "recording.refused_uri", uri);
				vm_job_set_str(job, "recording.uri", NULL);
			}
			if (!vm_job_get_str(job, "recording.error"))
				vm_job_set_str(job, "recording.error", end == END_TIMEOUT ? "timed out" : why);
			break;
		}
		case VM_STAGE_TRANSCRIBE:
			vm_job_set_str(job, "transcript.status", "failed");
			if (!vm_job_get_str(job, "transcript.error"))
				vm_job_set_str(job, "transcript.error", end == END_TIMEOUT ? "timed out" : why);
			break;
		case VM_STAGE_NOTIFY:
			notified_all = false;
			if (kind == VM_PERMANENT || notify_kind == VM_DONE)
				notify_kind = kind;
			break;
		}
		state_save(p, job);
	}
	int rc;
	if (!notified_all || !any_notifier)
		rc = notify_kind == VM_PERMANENT ? EXIT_UNAVAILABLE : EXIT_TEMPFAIL;
	else if (no_recording)
		rc = EXIT_NO_RECORDING;
	else
		rc = EXIT_DONE;
	vm_job_set_str(job, "state", rc == EXIT_DONE ? "done" : "failed");
	state_save(p, job);
	int64_t took = clock_now_ms() - start;
	log_msg(job, NULL, rc ? VM_LOG_WARN : VM_LOG_INFO, "%s in %lld.%03llds (exit %d)",
		rc == EXIT_DONE ? "done" : "failed", (long long)(took / 1000), (long long)(took % 1000), rc);
	return rc;
}
