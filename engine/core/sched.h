/*
 * The scheduler: runs many jobs through their pipelines' stages, owning time.
 *
 * A stage answers done / retry-after / transient / permanent; the scheduler
 * waits (on the one clock), backs off, bounds each job by its pipeline's
 * timeout (notifiers get notify_grace more) and records every failure in the
 * job's errors.  A waiting job costs its record and a timer entry, never a
 * thread: plugin run() calls go to a fixed pool of worker threads (or run on
 * the caller's thread with workers = 0), one call per step, and a stage with
 * max_in_flight holds at most that many jobs at once while the rest queue.
 *
 * The scheduler is driven by its owner's loop: sched_poll() dispatches what is
 * due and collects what the workers finished (calling `ended` for each job
 * that reached its end), and tells how long until the next timer; the owner
 * waits that long (sched_wait(), or its own poll() on sched_fd() and other
 * descriptors).  `vmpipe run` and the Lambda runtime drive one job with
 * sched_run(); `vmpipe serve` drives thousands.
 */
#ifndef VMPIPE_SCHED_H
#define VMPIPE_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exits.h"
#include "job.h"
#include "pipeline.h"


struct sched;
struct claim;

/* What the scheduler tells its owner about a job that left it. */
struct sched_end {
	vm_job *job;                 /* the owner's again: free it or keep it */
	const struct pipeline *p;
	struct claim *claim;         /* the owner's again (state_release) */
	int rc;                      /* exit status as sched_run() returns it */
	bool abandoned;              /* left unfinished: stopped (sched_free) or taken over */
	bool lost;                   /* ... because another runner took the job over */
	void *owner;                 /* as given to sched_add() */
};

struct sched_opts {
	int workers;                 /* threads for plugin calls; 0: on the polling thread */
	void (*ended)(void *ctx, const struct sched_end *e);
	/* A stage finished a step for a job (for metrics); may be NULL.  `status`
	 * is the plugin's answer, `ms` how long run() took. */
	void (*stepped)(void *ctx, const vm_stage *st, vm_status status, int64_t ms);
	void *ctx;
	/* Jobs keep the deadline their record carries (timeout_at, written when a
	 * job first enters a scheduler): a job suspended and resumed by another
	 * process (Lambda) is still bounded by its first timeout.  Off, a resumed
	 * job gets a fresh timeout (serve after a restart, vmpipe retry). */
	bool keep_deadlines;
};

/* A scheduler; NULL when the worker threads cannot be started. */
struct sched *sched_new(const struct sched_opts *o);
/* Stop the workers and free the scheduler.  Jobs still inside are ended
 * with `abandoned` set (their records as checkpointed last). */
void sched_free(struct sched *s);

/*
 * Hand `job` (owned by the scheduler until `ended`) to the scheduler: it runs
 * through `p` (which must outlive the job) from where its record says it is
 * (stages already done are skipped).  `claim` (may be NULL) is the job's claim
 * on its checkpoint (state.h), used for every save.  `hard_deadline_ms` (0:
 * none) is an absolute time no stage may run past (the Lambda deadline).
 */
void sched_add(struct sched *s, const struct pipeline *p, vm_job *job, struct claim *claim,
	       int64_t hard_deadline_ms, void *owner);

/*
 * Dispatch every job that is due, collect the steps the workers finished and
 * call `ended` for jobs that reached their end.  Never blocks on a plugin
 * when workers > 0.  Returns the virtual ms until the next timer, 0 when
 * something is ready now, or -1 when no job waits on a timer.
 */
int64_t sched_poll(struct sched *s);

/* Readable when a worker finished a step (then call sched_poll()); -1 with
 * workers = 0. */
int sched_fd(const struct sched *s);

/* Wait for `ms` virtual ms (sched_poll()'s answer; -1: until a worker
 * finishes) or until a worker finishes a step, whichever comes first.  On the
 * fake clock, with no plugin call running, the wait is instant. */
void sched_wait(struct sched *s, int64_t ms);

/* The real milliseconds to wait for `ms` virtual ones on this clock (for an
 * owner that poll()s): 0 on the fake clock when nothing runs, -1 for -1. */
int64_t sched_real_wait(const struct sched *s, int64_t ms);

/* Nothing to step now and no plugin call running: only timers are left
 * (on the fake clock, virtual time may then jump to the next one). */
bool sched_idle(const struct sched *s);

/* Jobs inside (waiting, queued or running); plugin calls running now. */
size_t sched_jobs(const struct sched *s);
size_t sched_busy(const struct sched *s);

/*
 * Stop dispatching new steps (SIGTERM): running plugin calls finish and are
 * collected by sched_poll(), then sched_jobs() only counts waiting jobs.
 */
void sched_pause(struct sched *s);

/*
 * Take the job that waits first on a timer out of the scheduler (nothing of
 * it runs; the caller owns the job and its claim again), for a runtime that
 * suspends waiting jobs instead of holding them (Lambda).  Its record says
 * where it stands (stages, timeout_at): sched_add() of the record later goes
 * on from there.  false when no job waits on a timer.
 */
bool sched_detach(struct sched *s, vm_job **job, struct claim **claim, int64_t *due_ms, void **owner);

/* Call `fn` for every job inside (on the polling thread, with no step of it
 * running): the serve loop checkpoints them all before it exits. */
void sched_each(struct sched *s, void (*fn)(void *ctx, vm_job *job, const struct pipeline *p,
					     struct claim *claim, void *owner), void *ctx);

/*
 * Run one job to its end on the calling thread: sched_add() and poll until it
 * ended.  Sets the job's state to done/failed and returns the exit status: 0
 * when every notifier told the owner (even if transcription failed), 66 when
 * the recording was not found, 69/75 when the owner was not notified.
 */
int sched_run(const struct pipeline *p, vm_job *job, int64_t hard_deadline_ms);

/*
 * sched_run() with checkpoints ([pipeline] state): claim the job id (waiting
 * for another runner that holds it), then a checkpoint that is done replaces
 * *job and nothing runs (exit 0); one that is not replaces *job and the run
 * continues from it.  *job stays owned by the caller (it may be a different
 * job on return; the one passed in is then freed).
 */
int job_run(const struct pipeline *p, vm_job **job, int64_t hard_deadline_ms);

/* job_run() exit status when the job was suspended (job_run_until()). */
#define EXIT_SUSPENDED (-2)

/*
 * job_run() that stops when the job's next step is further away than
 * `suspend_after_ms`: the job is checkpointed with its deadline and the claim
 * given back, *due_ms is when it wants to be stepped again, and the result is
 * EXIT_SUSPENDED (EXIT_TEMPFAIL when that checkpoint could not be saved: the
 * job is then only as far as its last saved checkpoint, and whatever brought
 * it must come again).  `owner` names the runner in claims (NULL: host and pid);
 * `wait_ms` how long to wait for another runner that holds the job (then
 * STATE_BUSY is answered as EXIT_TEMPFAIL with *busy set).
 */
int job_run_until(const struct pipeline *p, vm_job **job, int64_t hard_deadline_ms, int64_t suspend_after_ms,
		  const char *owner, int64_t wait_ms, int64_t *due_ms, bool *busy);

/* The backoff before transient retry number `n` (1-based): full jitter over
 * min(cap, base * 2^(n-1)), never below 1 ms. */
int64_t sched_backoff(int64_t base_ms, int64_t cap_ms, int n);

#endif
