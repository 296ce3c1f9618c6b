/*
 * The sweeper of Lambda's suspend mode (docs/lambda.md, "The sweeper"): a
 * scheduled rule invokes the function every few minutes; it lists the
 * checkpoints (PREFIX/<id>.json, one ListObjectsV2 per 1000, delimiter "/"
 * so the wake-up index is left out) and wakes any job that was left pending
 * with nothing to step it.  It should find none: every path that suspends or
 * finds a job held leaves a wake-up.  Owner: lambda.
 *
 * Which checkpoints it reads: those last written between `sweep_window_ms`
 * + `sweep_after_ms` and `sweep_after_ms` ago (a pending job is rewritten
 * each time it is stepped, at least every VMPIPE_WAKEUP_FALLBACK while an
 * event is expected), so each checkpoint is read in about window/interval
 * sweeps, and the LIST is the only request of a sweep that finds nothing
 * new.  A job is stranded when it is neither done nor failed, no live lease
 * holds it, and its next deadline (suspended_until) is more than a minute
 * past: its wake-up should have stepped it, and rewritten it.
 */
#ifndef VMPIPE_SWEEP_H
#define VMPIPE_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pipeline.h"
#include "core/tenant.h"
#include "wake.h"

/* A wake-up may come this late (the event source mapping polls). */
#define SWEEP_LATE_MS 60000

/* One page of a ListObjectsV2 answer: the checkpoints in it. */
struct sweep_entry {
	char id[129];
	int64_t modified_ms;
};

struct sweep_listing {
	struct sweep_entry *v; /* owned */
	size_t n, cap;
	bool truncated;
	char token[1025]; /* NextContinuationToken, "" when none */
};

/*
 * Add the checkpoints of one ListObjectsV2 page (`xml`, `len` bytes) under
 * `prefix` ("" or "P/": a key is prefix + ID + ".json", ID a plain name; any
 * other key is not a checkpoint and is skipped) to `l`, and read its
 * IsTruncated and NextContinuationToken.  0, or -1 when the answer does not
 * parse (or out of memory).  Free with sweep_listing_free().
 */
int sweep_listing_page(struct sweep_listing *l, const char *prefix, const char *xml, size_t len);

void sweep_listing_free(struct sweep_listing *l);

/* What one sweep did. */
struct sweep_result {
	size_t listed, examined, woken, failed;
};

/*
 * Sweep the checkpoints of the base pipeline and of every tenant of its
 * tenant_dir (each [pipeline] state on S3 once): 0 with *r, or -1 when the
 * base's state is not on S3 or a list could not be read (r->failed counts
 * the wake-ups that could not be sent, or the checkpoints that could not
 * be read).
 */
int sweep_run(const struct wake_cfg *w, struct tenants *t, struct sweep_result *r, char *err, size_t errsz);

/* The metric vmpipe/StrandedVoicemails (dimension FunctionName) = `woken`,
 * as a line of CloudWatch's embedded metric format on stdout. */
void sweep_metric(size_t woken);

#endif
