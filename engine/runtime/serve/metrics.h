/*
 * Metrics of `vmpipe serve` in the Prometheus text format (version 0.0.4),
 * served over HTTP on a loopback address ([serve] metrics = 127.0.0.1:9464).
 *
 *   vmpipe_jobs{state="waiting|running|queued"}       jobs inside the scheduler now
 *   vmpipe_spool_depth                                events in SPOOL/new not yet taken
 *   vmpipe_jobs_total{outcome="done|no_recording|failed|rejected|duplicate"}
 *   vmpipe_stage_calls_total{stage,status="done|retry|transient|permanent"}
 *   vmpipe_stage_call_seconds{stage} (histogram)       how long run() took
 *   vmpipe_job_seconds (histogram)                     intake to end
 *   vmpipe_retries_total                               retry-after and transient answers
 *   vmpipe_notify_failures_total                       notifier calls that failed
 *   vmpipe_queue_messages_total{what="received|deleted|unparsed"}
 *
 * Counting is thread-safe (workers call metrics_stage()); rendering and the
 * HTTP side run on the serve loop.
 */
#ifndef VMPIPE_METRICS_H
#define VMPIPE_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <vmpipe/plugin.h>

struct metrics;

/* The gauges, read by the serve loop when a scrape comes in. */
struct metrics_gauges {
	size_t waiting, running, queued, spool_depth;
};

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* A plugin call of `stage` (kind for notify failures) answered `st` in `ms`. */
void metrics_stage(struct metrics *m, const char *stage, vm_stage_kind kind, vm_status st, int64_t ms);
/* A job left: outcome "done", "no_recording", "failed"; `ms` since intake. */
void metrics_job(struct metrics *m, const char *outcome, int64_t ms);
/* An event that did not become a job: "rejected", "duplicate". */
void metrics_event(struct metrics *m, const char *outcome);
/* Queue traffic: "received", "deleted", "unparsed". */
void metrics_queue(struct metrics *m, const char *what);

/* The exposition text (malloc()ed). */
char *metrics_render(struct metrics *m, const struct metrics_gauges *g);

/*
 * Listen on HOST:PORT, which must be a loopback address (127.0.0.0/8, ::1 or
 * localhost): metrics are not for the world.  The listening descriptor
 * (non-blocking), or -1 with the reason in err.
 */
int metrics_listen(const char *hostport, char *err, size_t errsize);
/* What metrics_listen() checks before it binds (vmpipe check).  0, or -1 with err. */
int metrics_check(const char *hostport, char *err, size_t errsize);

/* Answer one connection waiting on `lfd` (GET /metrics -> the text; anything
 * else 404).  Bounded: a client that does not send its request within a
 * second is dropped. */
void metrics_answer(int lfd, struct metrics *m, const struct metrics_gauges *g);

#endif
