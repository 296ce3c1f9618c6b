/*
 * Event intake: what the engine accepts, turned into a job record.
 *  - an Amazon Connect contact-flow invocation (Details.ContactData…)
 *  - an Amazon Connect contact trace record (ContactId, Recordings[]: ctr.h)
 *  - an S3 ObjectCreated notification (Records[].s3)
 *  - a vmpipe job record (id, contact, recording, …)
 */
#ifndef VMPIPE_EVENT_H
#define VMPIPE_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#include "job.h"

/* Largest event accepted, in bytes. */
#define EVENT_MAX_BYTES (1024 * 1024)

/* Parse `text`.  NULL with a message naming what was wrong (and what was
 * expected) in err. */
vm_job *event_to_job(const char *text, size_t len, char *err, size_t errsize);

/* The same, but a contact record that is not a voicemail (ctr.h's filter)
 * sets *skipped (NULL is returned, err says which contact): the caller
 * acknowledges it instead of refusing it.  event_to_job() refuses it. */
vm_job *event_to_job_or_skip(const char *text, size_t len, bool *skipped, char *err, size_t errsize);

#endif
