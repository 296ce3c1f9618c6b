/*
 * The Amazon SQS queue client of `vmpipe serve` (docs/serve.md, "SQS with
 * several hosts").  SQS's JSON protocol (AmazonSQS.<Action>, awsJson1_0),
 * signed and sent by the engine's AWS client.
 *
 * Two threads of its own, so that the serve loop never waits on HTTP:
 *  - the receiver long-polls ReceiveMessage (up to 10 at a time) and puts
 *    what it gets in an inbox; sqs_fd() becomes readable, the loop takes
 *    them with sqs_next();
 *  - the acknowledger does what the loop asks (DeleteMessageBatch,
 *    ChangeMessageVisibilityBatch) and keeps every message the loop has not
 *    let go invisible to other consumers: batched heartbeats extend the
 *    visibility well before it runs out (at half of it), up to SQS's 12
 *    hours after the receive.
 * Errors of the queue (throttling, 5xx, a dead endpoint, refused
 * credentials) are logged (once, then as reminders) and retried with a
 * growing backoff; nothing is lost by them: a message not deleted comes
 * back.  At most `max_held` messages are held at once; the receiver waits
 * for room.
 *
 * A message the loop takes is held until it says, once, what becomes of it:
 * deleted, given back (visible again after a delay), or left (no more
 * heartbeats: it comes back after its visibility timeout, and the queue's
 * redrive policy counts the receive).  Messages held under a key (a job id)
 * are settled together when that job ends.  All functions but sqs_new() and
 * sqs_free() are called from the one loop thread.
 * Owner: sqs.
 */
#ifndef VMPIPE_SQS_H
#define VMPIPE_SQS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/serve/metrics.h"

#define SQS_MAX_HELD 4096              /* messages held at once by default */
#define SQS_MAX_WAIT_MS 20000          /* ReceiveMessage's WaitTimeSeconds limit */
#define SQS_MAX_VISIBILITY_MS 43200000 /* 12 hours */

struct sqs;
struct sqs_msg; /* owned by the client; valid until the loop settles it */

struct sqs_opts {
	const char *url;          /* the queue URL, https://sqs.REGION.amazonaws.com/ACCOUNT/NAME */
	int64_t wait_ms;          /* long poll: 0 to 20 s (whole seconds) */
	int64_t visibility_ms;    /* asked for on receive and on every extension: 1 s to 12 h */
	size_t max_held;          /* 0: SQS_MAX_HELD */
	struct metrics *metrics;  /* "received" and "deleted" are counted here; may be NULL */
};

/* Is `url` a queue URL (http(s)://HOST/ACCOUNT/NAME)?  0, or -1 with err. */
int sqs_url_check(const char *url, char *err, size_t errsz);
/* The region a queue URL's host names (sqs.REGION.amazonaws.com[.cn],
 * REGION.queue.amazonaws.com, queue.amazonaws.com): 0 with it in buf, or -1
 * for any other host (the region then comes from the environment). */
int sqs_url_region(const char *url, char *buf, size_t size);

/* Start the client (its threads).  NULL with err when the options are out of
 * range or the threads cannot start; the queue itself is not reached yet
 * (its errors are logged and retried). */
struct sqs *sqs_new(const struct sqs_opts *o, char *err, size_t errsz);

/* Readable while messages wait in the inbox. */
int sqs_fd(const struct sqs *q);

/* The next message received, or NULL when the inbox is empty.  Held from now
 * on: its visibility is extended until it is settled. */
struct sqs_msg *sqs_next(struct sqs *q);
const char *sqs_msg_id(const struct sqs_msg *m);
/* The body (NUL-terminated; *len without the NUL). */
const char *sqs_msg_body(const struct sqs_msg *m, size_t *len);
/* ApproximateReceiveCount (1 the first time; 0 when SQS did not say). */
int sqs_msg_receives(const struct sqs_msg *m);

enum sqs_end {
	SQS_DELETE, /* done with: DeleteMessage */
	SQS_RETURN, /* visible again after the delay (ChangeMessageVisibility) */
	SQS_LEAVE,  /* no more heartbeats: back after its visibility timeout */
};

/* Settle one message (not held under a key).  `m` is gone after this. */
void sqs_settle(struct sqs *q, struct sqs_msg *m, enum sqs_end how, int64_t delay_ms);
/* Hold `m` under `key` (copied), to be settled with sqs_settle_key(). */
void sqs_hold(struct sqs *q, struct sqs_msg *m, const char *key);
/* Settle every message held under `key` (none: nothing happens). */
void sqs_settle_key(struct sqs *q, const char *key, enum sqs_end how, int64_t delay_ms);

/* Stop receiving (a long poll in flight is abandoned within a second). */
void sqs_stop(struct sqs *q);

/*
 * Stop, give back every message not settled yet, send what is pending for up
 * to `flush_ms`, then join the threads and free everything.  NULL is fine.
 * Given back means visible at once, or, when a long poll was abandoned by
 * stopping, once that poll's wait is over: SQS may still hand messages to a
 * poll whose client has gone, and they would then stay invisible for a
 * whole visibility timeout.
 */
void sqs_free(struct sqs *q, int64_t flush_ms);

#endif
