/*
 * Job checkpoints and claims: `[pipeline] state`, a directory or an
 * s3://BUCKET/PREFIX.  The core's store: it never runs a job (sched.c does).
 *
 * The record of job ID is kept as <dir>/ID.json or s3://BUCKET/PREFIX/ID.json,
 * saved after every stage (and before a notifier sends) and at the end.  A
 * job that arrives again (a Lambda asynchronous retry, a duplicate invocation,
 * `vmpipe run` of the same event, the same voicemail on two hosts) is claimed
 * by one runner at a time and continues from its checkpoint: stages already
 * done are not run again, and a job already done runs nothing at all, so
 * nobody is mailed twice.
 *
 * The checkpoint is ours and is trusted (its "stages" included); a record
 * handed in as an event is not (event.c drops its "stages").
 *
 * Saving is best effort: a failed save is a warning, never a failed job, since
 * telling the owner matters more than remembering that we did.
 * Owner: state.
 */
#ifndef VMPIPE_STATE_H
#define VMPIPE_STATE_H

#include <stdint.h>

#include "config.h"
#include "job.h"
#include "pipeline.h"

struct claim;

/*
 * Validate [pipeline] state at load: a directory (relative: to the pipeline
 * file) is created if missing (mode 0700: records hold callers' numbers and
 * transcripts) and must be writable; an s3:// URI must name a valid bucket.
 * Unset or empty: checkpoints are off.  0, or -1 with a message naming
 * [pipeline] state in `d`.
 */
int state_check(const struct pipeline *p, struct diag *d);

/* Checkpoints for pipelines that set no `state`: `dir` (absolute), or NULL
 * for none.  `vmpipe serve` always keeps them (in its spool).  Call before
 * any job runs. */
void state_default(const char *dir);

/* Checkpoints off for this process, whatever the pipelines say (`vmpipe
 * sendmail` run by a user who does not own the spool: the state store is
 * the serve user's). */
void state_disable(bool off);

/*
 * `vmpipe serve`: a state directory must be this user's alone, in a parent
 * nobody else may write (a checkpoint there is trusted: who could plant one
 * could have any file mailed anywhere).  0 (also for S3 or no state), or -1
 * with the reason and the fix in err.
 */
int state_check_private(const struct pipeline *p, char *err, size_t errsize);

/* Are checkpoints on for `p`? */
bool state_enabled(const struct pipeline *p);

/* Outcomes of claiming and saving. */
enum {
	STATE_OK = 0,
	STATE_BUSY = 1,     /* another runner holds the job */
	STATE_ERROR = -1,   /* the store could not be read or written (logged) */
	STATE_LOST = -2,    /* a save found that another runner took the job over */
};

/*
 * A claim on job `id`: while it is held, no other runner (thread, process or
 * host) runs the job.
 *  - A directory: an exclusive flock() on <dir>/ID.lock, which dies with
 *    the process that holds it.
 *  - s3://: the checkpoint object itself, written with S3's conditional
 *    writes (If-None-Match: * to create it, If-Match: <ETag> to replace what
 *    was read) and carrying { owner, until }: a lease that lets another host
 *    take over a job whose runner died, once `until` has passed.  `owner`
 *    names the runner (NULL: host and process id); a runner that restarts
 *    with the same owner (`vmpipe serve` on the same spool) takes its own
 *    jobs back at once.
 * Claiming reads the checkpoint: *stored receives it (caller frees) or NULL
 * when there is none.  A runner that is busy is waited for up to `wait_ms`
 * (0: not at all).  Returns STATE_OK (*out is the claim, NULL when
 * checkpoints are off), STATE_BUSY, or STATE_ERROR (logged; no claim, and
 * nothing stored was read).
 */
int state_claim(const struct pipeline *p, vm_job *ctx, const char *id, const char *owner,
		int64_t wait_ms, struct claim **out, vm_job **stored);

/*
 * Give the claim up (NULL is fine).  On S3 a job that is not done is written
 * once more without a lease (its claim names the last holder only), so that
 * `vmpipe retry` or another host need not wait for it to expire.
 */
void state_release(const struct pipeline *p, struct claim *c, vm_job *job);

/*
 * Save `job`'s record (under `claim` when it is not NULL).  Nothing when
 * checkpoints are off.  STATE_OK; STATE_ERROR after logging a warning (the
 * job goes on: telling the owner matters more than remembering it); or
 * STATE_LOST when another runner has taken the job over (the caller must stop
 * and send nothing).  The job's stage outcome (fail_msg…) is left untouched.
 */
int state_save(const struct pipeline *p, struct claim *claim, vm_job *job);

/*
 * Load the checkpoint of job `id` without claiming it (status, tests).  1 with
 * *out (caller frees with job_free), 0 when there is none (or checkpoints are
 * off), -1 when it could not be read (logged).  `ctx` (may be NULL) gives logs
 * and the S3 region their job; it is not changed.
 */
int state_load(const struct pipeline *p, vm_job *ctx, const char *id, vm_job **out);

/* Who holds a checkpoint (S3): the last claim's owner ("" when none is
 * named), and when its lease ends (0: released, or never leased). */
struct state_holder {
	char owner[200];
	int64_t until_ms;
};

/* state_load() that also says who holds the job or held it last (`h`, may
 * be NULL; on S3 only, a directory names nobody). */
int state_load_held(const struct pipeline *p, vm_job *ctx, const char *id, vm_job **out, struct state_holder *h);

/*
 * Claims taken from now on lease the job at most until `until_ms` (0: the
 * pipeline's whole life, the default).  A Lambda invocation cannot outlive
 * its deadline, so in suspend mode its claims end with it: a job whose
 * invocation died is free again within the function's timeout.  The claim
 * stays fenced (conditional writes) either way.
 */
void state_lease_cap(int64_t until_ms);

/* Where `p` keeps checkpoints: 0 with the directory in buf, 1 for S3, -1
 * when off (or malformed, or the path does not fit). */
int state_dir(const struct pipeline *p, char *buf, size_t size);
/* Where `p` keeps checkpoints, as one string that is the same for two
 * pipelines that share them (a resolved directory, or s3://BUCKET/PREFIX):
 * 0, or -1 when off (or malformed, or it does not fit). */
int state_place(const struct pipeline *p, char *buf, size_t size);

/*
 * Every checkpoint in a state directory (not S3: say so with -1 and errno
 * ENOTSUP), oldest first: fn(ctx, job, mtime_ms) for each record that parses
 * (the job is freed after fn returns).  0, or -1 with errno.
 */
int state_list(const struct pipeline *p, void (*fn)(void *ctx, vm_job *job, int64_t mtime_ms),
	       void *ctx);

/*
 * Remove checkpoints of done jobs last written more than `age_ms` ago from a
 * state directory, with their lock files (only when no runner holds them).
 * The number removed.
 */
int state_sweep(const struct pipeline *p, int64_t age_ms);

/*
 * Remove the checkpoint of job `id` from a state directory, with its lock,
 * unless a runner holds the job.  0; -1 with errno ENOENT (no such job),
 * EBUSY (a runner holds it), ENOTSUP (state on S3) or another.
 */
int state_delete(const struct pipeline *p, const char *id);

/* A checkpoint that was not done runs again from where it stopped: make it
 * pending and give a failed locate stage back what the event named. */
void state_prepare_resume(vm_job *job);

/* An AWS call for `ctx` (may be NULL) that leaves ctx's outcome alone: its log
 * lines name `stage`; on failure err holds the message.  For the checkpoint's
 * S3 calls and the Lambda wake-up index's. */
vm_status state_aws_call(vm_job *ctx, const char *stage, const vm_aws_request *req, vm_aws_response *resp,
			 char *err, size_t errsize);

#endif
