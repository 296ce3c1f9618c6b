/*
 * One job on the calling thread (sched.h: sched_run, job_run,
 * job_run_until): `vmpipe run`, `vmpipe sendmail` and the Lambda runtime.
 * The same scheduler with no workers, plus the claim and the checkpoint.
 */
#include "sched.h"

#include <string.h>

#include "clock.h"
#include "log.h"
#include "state.h"

/* ------------------------------------------------------------ one job */

struct one {
	int rc;
	bool over;
};

static void one_ended(void *ctx, const struct sched_end *e)
{
	struct one *o = ctx;
	o->rc = e->abandoned && e->rc == 0 ? EXIT_TEMPFAIL : e->rc;
	o->over = true;
}

/* One job on this thread until it ends, or (suspend_after_ms >= 0) until
 * its next step is further away than that: then EXIT_SUSPENDED and *due_ms. */
static int run_claimed(const struct pipeline *p, vm_job *job, struct claim *claim, int64_t hard_deadline_ms,
		       int64_t suspend_after_ms, int64_t *due_ms)
{
	struct one one = {0, false};
	struct sched_opts o = {.workers = 0, .ended = one_ended, .ctx = &one,
			       .keep_deadlines = suspend_after_ms >= 0};
	struct sched *s = sched_new(&o);
	if (!s)
		return EXIT_SOFTWARE;
	sched_add(s, p, job, claim, hard_deadline_ms, NULL);
	while (!one.over) {
		int64_t wait = sched_poll(s);
		if (one.over)
			break;
		if (suspend_after_ms >= 0 && wait > suspend_after_ms) {
			vm_job *j;
			struct claim *c;
			void *owner;
			if (sched_detach(s, &j, &c, due_ms, &owner)) {
				one.rc = EXIT_SUSPENDED;
				break;
			}
		}
		sched_wait(s, wait);
	}
	sched_free(s);
	return one.rc;
}

int sched_run(const struct pipeline *p, vm_job *job, int64_t hard_deadline_ms)
{
	return run_claimed(p, job, NULL, hard_deadline_ms, -1, NULL);
}

int job_run(const struct pipeline *p, vm_job **jobp, int64_t hard_deadline_ms)
{
	if (!state_enabled(p))
		return sched_run(p, *jobp, hard_deadline_ms);
	/* Another runner holding the job: wait for it (then it is usually done). */
	int64_t wait = p->set.timeout_ms + p->set.notify_grace_ms;
	if (hard_deadline_ms && hard_deadline_ms - clock_now_ms() < wait)
		wait = hard_deadline_ms - clock_now_ms();
	bool busy = false;
	int rc = job_run_until(p, jobp, hard_deadline_ms, -1, NULL, wait, NULL, &busy);
	if (busy)
		log_msg(*jobp, "state", VM_LOG_ERROR, "another runner still holds this job: not run twice");
	return rc;
}

int job_run_until(const struct pipeline *p, vm_job **jobp, int64_t hard_deadline_ms, int64_t suspend_after_ms,
		  const char *owner, int64_t wait_ms, int64_t *due_ms, bool *busy)
{
	vm_job *job = *jobp;
	*busy = false;
	if (!state_enabled(p))
		return sched_run(p, job, hard_deadline_ms);
	struct claim *claim = NULL;
	vm_job *stored = NULL;
	int c = state_claim(p, job, vm_job_id(job), owner, wait_ms, &claim, &stored);
	if (c == STATE_BUSY) {
		*busy = true;
		return EXIT_TEMPFAIL;
	}
	/* Unreadable (STATE_ERROR, logged): run from the event.  The owner
	 * hearing of the call twice is better than not at all. */
	if (stored) {
		job_free(job);
		*jobp = job = stored;
		const char *st = vm_job_get_str(job, "state");
		if (st && strcmp(st, "done") == 0) {
			log_msg(job, "state", VM_LOG_INFO, "already done (checkpoint): nothing to run again");
			state_release(p, claim, job);
			return EXIT_DONE;
		}
		log_msg(job, "state", VM_LOG_INFO, "resuming from its checkpoint (state %s)", st ? st : "?");
		state_prepare_resume(job);
	}
	int64_t due = 0;
	int rc = run_claimed(p, job, claim, hard_deadline_ms, suspend_after_ms, &due);
	if (rc == EXIT_SUSPENDED) {
		char ts[32];
		vm_format_time(due, ts, sizeof ts);
		vm_job_set_str(job, "suspended_until", ts);
		/* Nothing of a suspended job stays with its runner: unsaved, it would
		 * be lost.  Say so, so that whatever brought the job comes again. */
		if (state_save(p, claim, job) != STATE_OK) {
			log_msg(job, "state", VM_LOG_ERROR, "suspended, but its checkpoint was not saved");
			rc = EXIT_TEMPFAIL;
		} else if (due_ms) {
			*due_ms = due;
		}
	}
	state_release(p, claim, job);
	return rc;
}
