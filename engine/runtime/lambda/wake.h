/*
 * Lambda's suspend mode, its settings and its durable timer (docs/lambda.md,
 * "Suspend mode").  A job that would wait is checkpointed and the invocation
 * ends; what resumes it is an event (the recording's S3 event, Transcribe's
 * EventBridge event) or a wake-up: an SQS message to the function's own
 * queue, sent with DelaySeconds (at most 15 minutes, chained for longer) and
 * delivered back to the function by an event source mapping.
 * Owner: lambda.
 *
 * The message body (JSON, versioned):
 *   {"vmpipe": "wake", "v": 1, "job": ID, "tenant": T (optional),
 *    "due_ms": when (ms since the epoch), "attempts": N}
 * `attempts` is the job record's count of plugin calls when the wake-up was
 * sent: a checkpoint that has made more calls since was stepped by somebody
 * else, who arranged its own wake-up, so this one is stale.
 */
#ifndef VMPIPE_WAKE_H
#define VMPIPE_WAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WAKE_MAX_DELAY_S 900           /* SQS's DelaySeconds limit */
#define WAKE_SUSPEND_AFTER_MS 1000     /* default VMPIPE_SUSPEND_AFTER */
#define WAKE_FALLBACK_MS 120000        /* default VMPIPE_WAKEUP_FALLBACK */
#define WAKE_SWEEP_AFTER_MS 300000     /* default VMPIPE_SWEEP_AFTER */
#define WAKE_SWEEP_WINDOW_MS 900000    /* default VMPIPE_SWEEP_WINDOW */

struct wake_cfg {
	bool on;                   /* VMPIPE_WAKEUP_QUEUE is set */
	char queue[1024];          /* the queue URL */
	char region[32];           /* the region the URL names; "" for the environment's */
	int64_t suspend_after_ms;  /* VMPIPE_SUSPEND_AFTER */
	bool s3_events;            /* VMPIPE_WAKEUP_EVENTS has "s3" */
	bool transcribe_events;    /* ... and "transcribe" */
	int64_t fallback_ms;       /* VMPIPE_WAKEUP_FALLBACK */
	int64_t sweep_after_ms;    /* VMPIPE_SWEEP_AFTER: the sweeper looks at checkpoints idle this long ... */
	int64_t sweep_window_ms;   /* VMPIPE_SWEEP_WINDOW: ... and no longer than this more (sweep.h) */
};

/*
 * Read the settings from the environment: VMPIPE_WAKEUP_QUEUE (unset or
 * empty: suspend mode off, c->on false), VMPIPE_SUSPEND_AFTER (a duration,
 * 0 to 15m; default 1s), VMPIPE_WAKEUP_EVENTS ("s3", "transcribe", both
 * comma-separated, or empty: none), VMPIPE_WAKEUP_FALLBACK (1s to 12h;
 * default 2m), VMPIPE_SWEEP_AFTER (1s to 12h; default 5m) and
 * VMPIPE_SWEEP_WINDOW (1m to 7d; default 15m).  0, or -1 with a message naming the variable in err.
 */
int wake_config(struct wake_cfg *c, char *err, size_t errsz);

/* One wake-up as a message carries it. */
struct wake_msg {
	char job[129];
	char tenant[129];   /* "" for the base pipeline */
	int64_t due_ms;
	int64_t attempts;
};

/* The message body for `m` (malloc()ed; NULL: out of memory). */
char *wake_body(const struct wake_msg *m);

/* Parse a body (`len` bytes).  0, or -1 with the reason in why. */
int wake_parse(const char *body, size_t len, struct wake_msg *m, char *why, size_t whysz);

/* The DelaySeconds for a wake-up due at `due_ms` when it is `now_ms`:
 * whole seconds rounded up, within 0..900 (a later one is chained). */
int wake_delay_s(int64_t due_ms, int64_t now_ms);

/* SendMessage of `m` to the queue, delayed until its due time (or 900 s).
 * 0, or -1 with err (the host's retries already spent). */
int wake_send(const struct wake_cfg *c, const struct wake_msg *m, char *err, size_t errsz);

#endif
