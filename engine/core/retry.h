/*
 * What `vmpipe retry` does to a failed job's record before it runs again.
 *
 * The stages that failed are cleared and run anew; those that were done are
 * not (nobody is mailed twice).  One exception: when the owner was told of
 * the failure — the recording could not be found within `wait`, and the
 * notifiers said so — and the job is retried (the recording appeared late),
 * the notifiers may send a follow-up: the record's "round" goes up by one,
 * their stages are marked "told" (the owner knows of the failure), and the
 * notifications of earlier rounds stay in the record.  When the recording is
 * found this time, every notifier marked "told" sends the result anew (a
 * mail as a reply to the first one: In-Reply-To/References, mail.c); when it
 * is still missing, they are skipped, and nobody is told the same twice
 * (step.c).  Owner: core.
 */
#ifndef VMPIPE_RETRY_H
#define VMPIPE_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "job.h"

/* Make a failed checkpoint runnable again (its state is left to the
 * caller's state_prepare_resume()).  True when the notifiers will send a
 * follow-up. */
bool retry_prepare(vm_job *job);

/* The job's notification round: 0 for the first notifications, N for the
 * Nth follow-up. */
int64_t job_round(const vm_job *job);

/* How a job ended, for the record's "outcome" and `vmpipe status`:
 * "done"; "no_recording" (the owner was told the recording could not be
 * found); "not_notified" (a notifier failed: the owner was not told, or not
 * by every notifier). */
const char *job_outcome_name(int exit_status);

#endif
