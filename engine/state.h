/*
 * Job checkpoints: `[pipeline] state`, a directory or an s3://BUCKET/PREFIX.
 *
 * The record of job ID is kept as <dir>/ID.json or s3://BUCKET/PREFIX/ID.json,
 * saved after every stage and at the end.  A job that arrives again (a Lambda
 * asynchronous retry, a duplicate invocation, `vmpipe run` of the same event)
 * continues from its checkpoint: stages already done are not run again, and a
 * job already done runs nothing at all, so nobody is mailed twice.
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

/*
 * Validate [pipeline] state at load: a directory (relative: to the pipeline
 * file) is created if missing (mode 0700: records hold callers' numbers and
 * transcripts) and must be writable; an s3:// URI must name a valid bucket.
 * Unset or empty: checkpoints are off.  0, or -1 with a message naming
 * [pipeline] state in `d`.
 */
int state_check(const struct pipeline *p, struct diag *d);

/* Are checkpoints on for `p`? */
bool state_enabled(const struct pipeline *p);

/*
 * Save `job`'s record.  Nothing when checkpoints are off.  0, or -1 after
 * logging a warning (the job goes on).  The job's stage outcome (fail_msg…)
 * is left untouched.
 */
int state_save(const struct pipeline *p, vm_job *job);

/*
 * Load the checkpoint of job `id`.  1 with *out (caller frees with
 * job_free), 0 when there is none (or checkpoints are off), -1 when it could
 * not be read (logged).  `ctx` (may be NULL) gives logs and the S3 region
 * their job; it is not changed.
 */
int state_load(const struct pipeline *p, vm_job *ctx, const char *id, vm_job **out);

/*
 * Run *job through `p` with checkpoints (sched_run() when they are off):
 * a checkpoint that is done replaces *job and nothing runs (exit 0); one
 * that is not replaces *job and the run continues from it.  Returns
 * sched_run()'s exit status.  *job stays owned by the caller (it may be a
 * different job on return; the one passed in is then freed).
 */
int job_run(const struct pipeline *p, vm_job **job, int64_t hard_deadline_ms);

#endif
