/*
 * Metrics of `vmpipe serve` in the Prometheus text format (version 0.0.4),
 * served over HTTP on a loopback address ([serve] metrics = 127.0.0.1:9464)
 * by serve_http.c.
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
 * Counting and rendering are thread-safe: workers count stage calls, the
 * loop counts jobs and publishes the gauges, the HTTP threads render.
 */
#ifndef VMPIPE_METRICS_H
#define VMPIPE_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <vmpipe/plugin.h>

struct metrics;

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

/* The scheduler's gauges, published by the serve loop as they change. */
void metrics_set_jobs(struct metrics *m, size_t waiting, size_t running);

/* The exposition text (malloc()ed); spool_depth is counted by the caller. */
char *metrics_render(struct metrics *m, size_t spool_depth);

#endif
