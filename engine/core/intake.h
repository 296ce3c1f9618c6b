/*
 * The check before any stage runs: what can be known about a job at intake
 * and would make every notifier refuse it (a recipient outside a mail
 * notifier's allowed_recipient_domains, no recipient for a notifier that
 * needs one, or what a notifier's own check refuses: an SMS destination that
 * is not an E.164 number, see vm_stage_intake_check()) fails the job at once,
 * so nothing is located, transcribed or paid for on the way to a message that
 * cannot go out.
 */
#ifndef VMPIPE_INTAKE_H
#define VMPIPE_INTAKE_H

#include <stddef.h>

#include "job.h"
#include "pipeline.h"

/*
 * 0 when the job may run.  Otherwise the exit status the scheduler would
 * have ended with (69: the owner cannot be told), after recording what each
 * notifier would have said: per notifier an errors entry { stage, kind
 * "permanent", message } with the notifier's own message, stages.<name> =
 * "failed", state "failed" (the scheduler saves the checkpoint); the first
 * message in err.
 * A job goes on when any notifier that has not yet delivered could take it
 * (including one whose rules the engine does not know: neither a mail
 * notifier nor one with its own intake check).
 */
int intake_check(const struct pipeline *p, vm_job *job, char *err, size_t errsize);

#endif
