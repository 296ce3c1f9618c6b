/*
 * The scheduler: runs a job through the pipeline's stages, owning time.
 * A stage answers done / retry-after / transient / permanent; the scheduler
 * waits (on the one clock), backs off, bounds the job by the pipeline timeout
 * and records every failure in the job's errors.
 */
#ifndef VMPIPE_SCHED_H
#define VMPIPE_SCHED_H

#include "job.h"
#include "pipeline.h"

/* sysexits.h values, named for what they mean here. */
enum {
	EXIT_DONE = 0,
	EXIT_USAGE = 64,
	EXIT_BAD_EVENT = 65,     /* EX_DATAERR */
	EXIT_NO_RECORDING = 66,  /* EX_NOINPUT */
	EXIT_UNAVAILABLE = 69,   /* EX_UNAVAILABLE: a notifier failed for good */
	EXIT_SOFTWARE = 70,
	EXIT_TEMPFAIL = 75,      /* EX_TEMPFAIL: still failing when time ran out */
	EXIT_CONFIG = 78,        /* EX_CONFIG */
};

/*
 * Run `job` to its end.  `hard_deadline_ms` (0: none) is an absolute time no
 * stage may run past (the Lambda deadline).  Sets job state to done/failed and
 * returns the exit status: 0 when every notifier told the owner (even if
 * transcription failed), 66 when the recording was not found, 69/75 when the
 * owner was not notified.
 */
int sched_run(const struct pipeline *p, vm_job *job, int64_t hard_deadline_ms);

/* The backoff before transient retry number `n` (1-based): full jitter over
 * min(cap, base * 2^(n-1)), never below 1 ms. */
int64_t sched_backoff(int64_t base_ms, int64_t cap_ms, int n);

#endif
