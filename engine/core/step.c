/*
 * One step of a job (sched_int.h): the plugin call, and what its answer
 * means for the job (wait, back off, go on, fail the stage, end), with the
 * checkpoints that make each outcome durable.  The semantics of a pipeline
 * run live here: timeout and notify_grace, the owner always told.
 */
#include "sched_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "intake.h"
#include "link_job.h"
#include "log.h"
#include "retry.h"
#include "state.h"

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

/* ------------------------------------------------------------- one job */

/* stages.<name> = what.  Stage names may hold a '.' ([notify.archive]), so the
 * name is one key of "stages", never a dotted path. */
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

static const char *mark_of(vm_job *job, const char *stage)
{
	return json_string_value(json_object_get(json_object_get(job->rec, "stages"), stage));
}

static void set_last(struct sjob *sj, const char *msg)
{
	free(sj->last_msg);
	sj->last_msg = strdup(msg);
}

/* Checkpoint; false when another runner took the job (then stop at once). */
static bool save(struct sjob *sj)
{
	if (state_save(sj->p, sj->claim, sj->job) == STATE_LOST) {
		sj->abandoned = sj->lost = true;
		return false;
	}
	return true;
}

/* The stage ended without success: what that means for the rest of the job. */
static void stage_failed(struct sjob *sj, const vm_stage *st, bool timed_out)
{
	vm_job *job = sj->job;
	mark(job, st->name, "failed");
	const char *why = job->fail_msg ? job->fail_msg : "timed out";
	switch (st->kind) {
	case VM_STAGE_LOCATE: {
		/* The owner still hears that somebody called. */
		sj->no_recording = true;
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
			vm_job_set_str(job, "recording.error", timed_out ? "timed out" : why);
		break;
	}
	case VM_STAGE_TRANSCRIBE:
		vm_job_set_str(job, "transcript.status", "failed");
		if (!vm_job_get_str(job, "transcript.error"))
			vm_job_set_str(job, "transcript.error", timed_out ? "timed out" : why);
		break;
	case VM_STAGE_NOTIFY:
		sj->notified_all = false;
		if (sj->last_kind == VM_PERMANENT || sj->notify_kind == VM_DONE)
			sj->notify_kind = sj->last_kind;
		break;
	}
}

static void leave_stage(struct sjob *sj, const vm_stage *st)
{
	if (sj->slotted)
		sj->left = st;
	sj->slotted = false;
	sj->entered = false;
	sj->idx++;
}

static void finish(struct sjob *sj);

/* A stage ended: checkpoint and go on; after the last one the job ends in
 * this step, with one save (a notifier's "done" and the job's end are
 * durable together, as soon as possible after the mail went out). */
static void stage_ended(struct sjob *sj)
{
	if (sj->idx >= sj->p->n_stages) {
		finish(sj);
		sj->next = NEXT_END;
		return;
	}
	save(sj);
	sj->next = NEXT_READY;
}

static void finish(struct sjob *sj)
{
	vm_job *job = sj->job;
	int rc;
	if (!sj->notified_all || !sj->any_notifier)
		rc = sj->notify_kind == VM_PERMANENT ? EXIT_UNAVAILABLE : EXIT_TEMPFAIL;
	else if (sj->no_recording)
		rc = EXIT_NO_RECORDING;
	else
		rc = EXIT_DONE;
	vm_job_set_str(job, "state", rc == EXIT_DONE ? "done" : "failed");
	/* What "failed" means: the owner told the recording is missing, or not told. */
	vm_job_set_str(job, "outcome", job_outcome_name(rc));
	sj->rc = rc;
	if (!save(sj))
		return;
	int64_t took = clock_now_ms() - sj->start;
	log_msg(job, NULL, rc ? VM_LOG_WARN : VM_LOG_INFO, "%s in %lld.%03llds (exit %d)",
		rc == EXIT_DONE ? "done" : "failed", (long long)(took / 1000), (long long)(took % 1000), rc);
}

/* The stage failed for good (or ran out of time): record it and go on. */
static void give_up(struct sjob *sj, const vm_stage *st, bool timed_out)
{
	sj->job->stage = NULL;
	stage_failed(sj, st, timed_out);
	leave_stage(sj, st);
	stage_ended(sj);
}

/*
 * Advance the job by at most one plugin call.  Runs on a worker (or the
 * polling thread with workers = 0) and touches only the job.
 */
void sched_step(struct sjob *sj, const struct sched_opts *o)
{
	vm_job *job = sj->job;
	const struct pipeline *p = sj->p;
	sj->left = NULL;
	if (!sj->checked) {
		/* What intake can tell already (a recipient no notifier may mail)
		 * fails the job before anything is located, transcribed or paid for. */
		char why[512];
		sj->checked = true;
		int rc = intake_check(p, job, why, sizeof why);
		if (rc) {
			sj->rc = rc;
			save(sj);
			sj->next = NEXT_END;
			return;
		}
	}
	for (;;) {
		if (sj->abandoned) {
			sj->next = NEXT_END;
			return;
		}
		if (sj->idx >= p->n_stages) {
			finish(sj);
			sj->next = NEXT_END;
			return;
		}
		vm_stage *st = p->stages[sj->idx];
		if (!sj->entered) {
			const char *was = mark_of(job, st->name);
			if (was && strcmp(was, "done") == 0) {
				/* Resumed after this stage: a notifier that told the owner counts. */
				if (st->kind == VM_STAGE_NOTIFY)
					sj->any_notifier = true;
				sj->idx++;
				continue;
			}
			if (was && strcmp(was, "told") == 0 && sj->no_recording) {
				/* Told of this failure in an earlier round (retry.h), and
				 * still no recording: no news, no second mail. */
				sj->any_notifier = true;
				sj->idx++;
				continue;
			}
			if (st->kind == VM_STAGE_TRANSCRIBE && sj->no_recording) {
				vm_job_set_str(job, "transcript.status", "skipped");
				vm_job_set_str(job, "transcript.error", "no recording");
				mark(job, st->name, "skipped");
				if (!save(sj))
					continue;
				sj->idx++;
				continue;
			}
			if (st->max_in_flight > 0 && !sj->slotted) {
				sj->next = NEXT_SLOT; /* the polling thread queues it for a slot */
				return;
			}
			sj->entered = true;
			sj->transient = 0;
			sj->last_kind = VM_DONE;
			free(sj->last_msg);
			sj->last_msg = NULL;
			log_msg(job, st->name, VM_LOG_DEBUG, "starting (%s)", st->mod->p->name);
			job->maybe_sent = false;
			if (st->kind == VM_STAGE_NOTIFY) {
				/* That a notifier is sending is durable before it sends: one
				 * resumed after a crash learns it may have delivered already
				 * (vm_job_maybe_sent), and a save fenced by the claim stops a
				 * runner that lost the job before it sends anything. */
				job->maybe_sent = was && strcmp(was, "sending") == 0;
				if (job->maybe_sent)
					log_msg(job, st->name, VM_LOG_INFO,
						"an earlier attempt got as far as sending: it may have delivered");
				if (!sj->any_notifier)
					link_job_attach(p, job); /* [serve] public_url: the listen page */
				mark(job, st->name, "sending");
				if (!save(sj))
					continue;
			}
		}

		int64_t dl = st->kind == VM_STAGE_NOTIFY ? sj->notify_deadline : sj->deadline;
		job->stage = st->name;
		job->deadline_ms = dl;
		job->timezone = sj->p->set.timezone;
		job_reset_outcome(job);
		int64_t t0 = clock_now_ms();
		vm_status s = st->mod->p->run(st->state, job);
		int64_t now = clock_now_ms();
		if (o->stepped)
			o->stepped(o->ctx, st, s, now - t0);
		int64_t attempts = 0;
		vm_job_get_int(job, "attempts", &attempts);
		vm_job_set_int(job, "attempts", attempts + 1);
		int64_t delay = 0;
		switch (s) {
		case VM_DONE:
			log_msg(job, NULL, VM_LOG_DEBUG, "done");
			job->stage = NULL;
			mark(job, st->name, "done");
			if (st->kind == VM_STAGE_NOTIFY)
				sj->any_notifier = true;
			leave_stage(sj, st);
			/* Checkpoint: a retry skips what is done. */
			stage_ended(sj);
			return;
		case VM_RETRY:
			delay = job->retry_ms > 0 ? job->retry_ms : 1;
			log_msg(job, NULL, VM_LOG_DEBUG, "not ready, again in %lld ms", (long long)delay);
			break;
		case VM_TRANSIENT: {
			sj->transient++;
			delay = sched_backoff(p->set.retry_base_ms, p->set.retry_cap_ms, sj->transient);
			set_last(sj, job->fail_msg ? job->fail_msg : "transient failure");
			log_msg(job, NULL, VM_LOG_WARN, "%s (retry %d in %lld ms)", sj->last_msg, sj->transient,
				(long long)delay);
			job_add_error(job, st->name, "transient", sj->last_msg);
			sj->last_kind = VM_TRANSIENT;
			break;
		}
		default:
			set_last(sj, job->fail_msg ? job->fail_msg : "failed");
			log_msg(job, NULL, VM_LOG_ERROR, "%s", sj->last_msg);
			job_add_error(job, st->name, "permanent", sj->last_msg);
			sj->last_kind = VM_PERMANENT;
			give_up(sj, st, false);
			return;
		}
		if (now >= dl) {
			char msg[700];
			snprintf(msg, sizeof msg, "timed out waiting in %s%s%s", st->name, sj->last_msg ? ": " : "",
				 sj->last_msg ? sj->last_msg : "");
			log_msg(job, NULL, VM_LOG_ERROR, "%s", msg);
			job_add_error(job, st->name, "timeout", msg);
			if (sj->last_kind != VM_PERMANENT)
				sj->last_kind = VM_TRANSIENT;
			give_up(sj, st, true);
			return;
		}
		job->stage = NULL;
		sj->due = now + (delay < dl - now ? delay : dl - now);
		sj->next = NEXT_WAIT;
		return;
	}
}

