/*
 * Inside the scheduler (sched.h): one job as the scheduler holds it, shared
 * by sched.c (the machinery: workers, timers, slots, queues) and step.c
 * (what one step does to a job: a plugin call and what its answer means).
 */
#ifndef VMPIPE_SCHED_INT_H
#define VMPIPE_SCHED_INT_H

#include "sched.h"

/* What a step asks of the polling thread next. */
enum step_next { NEXT_READY, NEXT_WAIT, NEXT_SLOT, NEXT_END };

struct sjob {
	vm_job *job;
	const struct pipeline *p;
	struct claim *claim;
	void *owner;
	int64_t start, deadline, notify_deadline;
	int64_t due;          /* NEXT_WAIT: when to step again */
	size_t idx;           /* the stage it is at */
	bool entered;         /* the stage's slot is held and its first call made or due */
	bool slotted;         /* holds a slot of stage idx (max_in_flight) */
	int transient;
	char *last_msg;       /* of the current stage's last failure; owned */
	vm_status last_kind;
	bool checked;         /* intake_check() ran */
	bool no_recording, notified_all, any_notifier, abandoned, lost;
	vm_status notify_kind;
	int rc;
	enum step_next next;
	const vm_stage *left; /* a stage whose slot this step gave back */
	size_t heap_at;       /* index in the timer heap; SIZE_MAX: not in it */
	char *frozen;         /* the record as compact JSON while it waits (job->rec NULL) */
	struct sjob *link;    /* ready queue, stage wait queue, work/done queues */
};

/*
 * Advance the job by at most one plugin call.  Runs on a worker (or the
 * polling thread with workers = 0) and touches only the job; sets sj->next.
 */
void sched_step(struct sjob *sj, const struct sched_opts *o);

#endif
