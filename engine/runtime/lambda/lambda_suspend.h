/*
 * Lambda's suspend mode (docs/lambda.md, "Suspend mode"): no invocation
 * waits.  On when VMPIPE_WAKEUP_QUEUE is set (wake.h) and the pipeline keeps
 * checkpoints in S3 ([pipeline] state = s3://…).  Owner: lambda.
 *
 * A job runs until its next step is further away than suspend_after; it is
 * then checkpointed, a wake-up is arranged and the invocation ends at once.
 * What an invocation may carry, and what becomes of it:
 *   - the contact-flow event (or a job record, or an S3 event when S3 events
 *     do not resume jobs): a new job, run until it ends or suspends;
 *   - an S3 ObjectCreated event of a recording (S3's notification or
 *     EventBridge's "Object Created"), with "s3" in VMPIPE_WAKEUP_EVENTS: the
 *     job that waits for it (wake_index.h) is stepped at once;
 *   - EventBridge's "Transcribe Job State Change", with "transcribe": the
 *     same for the job that waits for that transcription job;
 *   - an SQS batch from the wake-up queue (an event source mapping with
 *     ReportBatchItemFailures): each wake-up steps its job when due (a later
 *     due is chained), and the answer lists in batchItemFailures the items
 *     that must come again.
 * A job that is done, or whose wake-up is stale (the job was stepped since
 * by another runner), is acknowledged and nothing runs.  Whatever finds its
 * job held by another runner (a contact flow's retry, an event, a wake-up)
 * leaves a wake-up for when the holder's lease ends (an event also leaves
 * its news in the index) and is acknowledged: the holder may have died, and
 * in suspend mode a lease ends with the holder's invocation.
 * Claims are owned by "lambda:<request id>" or "sqs:<message id>", and a
 * released checkpoint still names its last holder: the same event or message
 * delivered again after a crash or a reported failure takes its job back at
 * once, and a redelivered wake-up is never taken for a stale one.
 */
#ifndef VMPIPE_LAMBDA_SUSPEND_H
#define VMPIPE_LAMBDA_SUSPEND_H

#include <stddef.h>
#include <stdint.h>

#include "core/job.h"
#include "core/tenant.h"
#include "wake.h"

/* A job found held gets a wake-up for when the holder's lease ends, at most
 * this far away (a longer lease is an outside runner's: look again then). */
#define SUSPEND_HELD_MAX_MS (15 * 60 * 1000)

/* What the invocation answers; lambda.c sends it. */
struct suspend_answer {
	enum { ANSWER_RESPONSE, ANSWER_JOB_FAILED, ANSWER_ERROR } kind;
	char *body;      /* ANSWER_RESPONSE: the JSON (malloc()ed; the caller frees) */
	vm_job *job;     /* ANSWER_JOB_FAILED: the job (the caller frees) ... */
	int rc;          /* ... and its exit status */
	char type[64];   /* ANSWER_ERROR: the errorType ... */
	char msg[1200];  /* ... and the errorMessage */
};

/*
 * Handle one invocation's event (`body`, `len` bytes) in suspend mode.
 * `request_id` names the invocation, `hard_deadline_ms` (0: none) is the
 * time no step may pass.  Fills *ans.
 */
void suspend_invoke(const struct wake_cfg *w, struct tenants *t, const char *request_id, const char *body,
		    size_t len, int64_t hard_deadline_ms, struct suspend_answer *ans);

/*
 * One job of a batch of new events (the contact records of a Kinesis batch,
 * kinesis_event.h), `job` taken, run until it ends or suspends as a new
 * job is; `owner` names the holder ("kinesis:<sequence number>", so the same
 * record delivered again takes its job back).  0 when it is done with (done,
 * suspended with its wake-up, held by another invocation, or failed without
 * its recording after the owner was told); -1 when the record must come again.
 */
int suspend_run_new(const struct wake_cfg *w, struct tenants *t, const char *request_id, int64_t hard_deadline_ms,
		    vm_job *job, const char *owner);

/* Is the base pipeline's state usable for suspend mode (s3://)?  0, or -1
 * with the reason in err. */
int suspend_check(const struct pipeline *base, char *err, size_t errsz);

#endif
