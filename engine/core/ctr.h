/*
 * Amazon Connect's contact trace record (CTR) as a trigger: the record
 * Connect publishes on a Kinesis data stream when a contact ends (the admin
 * guide's "Data model for Amazon Connect contact records"), by which time
 * the audio is complete and Recordings[] says where it is.
 *
 * Only voicemail contacts become jobs.  Which those are is the filter, from
 * VMPIPE_CTR_FILTER (default CTR_FILTER_DEFAULT, Voicemail Express's
 * attribute): comma-separated terms that must all hold, each NAME=VALUE (the
 * contact attribute NAME is VALUE), NAME (the attribute is set and not
 * empty), or a lone '*' (every contact).  The same test belongs in the event
 * source mapping's FilterCriteria (deploy/template.yaml), so that other
 * contacts never invoke the function; this is the check that holds when they
 * do (a host's SQS intake, a mapping without a filter).
 *
 * The job: source "ctr", contact.* and recipient.* as from the contact-flow
 * event (Attributes.emailRecipient, RecipientName, tenant), plus where the
 * recording is, from the first of Recordings[] (or the older Recording)
 * that is audio:
 *   - an S3 recording (IVR recording first, then a call recording):
 *     recording.uri = s3://BUCKET/KEY from its Location "BUCKET/KEY";
 *   - a deleted one: recording.status = "deleted", recording.deletion_reason;
 *   - a Kinesis video stream (media streaming): recording.stream_arn,
 *     recording.fragment_start, recording.fragment_stop (may be absent),
 *     recording.stream_started_at / stream_stopped_at (epoch ms);
 *   - none: recording.status = "none".
 * The locate plugins read these (docs/aws-plugins.md).  Pure: no I/O, no log.
 */
#ifndef VMPIPE_CTR_H
#define VMPIPE_CTR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "job.h"

#define CTR_FILTER_DEFAULT "vmx3_flag=1"
#define CTR_FILTER_MAX 1024
#define CTR_RECORDINGS_MAX 64 /* entries of Recordings[] looked at */

/* Does `ev` look like a contact record (ContactId at the top, with the
 * fields only a CTR has: Recordings, Channel, InitiationMethod)? */
bool ctr_is(const json_t *ev);

/* VMPIPE_CTR_FILTER, or the default when unset (an empty one is refused by
 * ctr_filter_check). */
const char *ctr_filter(void);

/* Is `filter` well formed?  0, or -1 with the reason in err. */
int ctr_filter_check(const char *filter, char *err, size_t errsize);

/* Does the contact record pass `filter`?  A malformed filter passes nothing. */
bool ctr_wanted(const json_t *ev, const char *filter);

enum ctr_result {
	CTR_JOB,  /* *job holds the new job (the caller frees it) */
	CTR_SKIP, /* not a voicemail by the filter: err says which contact and why */
	CTR_BAD,  /* a voicemail's record that is wrong: err names the field */
};

/* The job of the contact record `ev`, filtered by `filter`. */
enum ctr_result ctr_to_job(const json_t *ev, const char *filter, vm_job **job, char *err, size_t errsize);

#endif
