/*
 * Where an event finds its job, in Lambda's suspend mode (docs/lambda.md).
 * Owner: lambda.
 *
 * An S3 event names a recording (whose key carries the InitialContactId),
 * Transcribe's event names a transcription job: neither names the vmpipe
 * job.  An index object per waited-for thing says which job waits for it:
 *
 *   <state prefix>/wake/recording/<InitialContactId>.json
 *   <state prefix>/wake/transcribe/<TranscriptionJobName>.json
 *     {"job": ID, "tenant": T}          a job waits for it
 *     {..., "news": TIME}               it came, and the job has not looked since
 *
 * in the [pipeline] state bucket (s3://) of the base pipeline.  The object is
 * also where an event and its job meet whichever comes first, so no event is
 * lost to a race (S3's conditional writes decide):
 *  - a runner about to suspend a job registers it (wix_register()): it
 *    creates the object, or finds it; when it holds news (the event came
 *    while the job was not looking), the runner takes the news and steps the
 *    job again instead of suspending it;
 *  - an event looks the object up (wix_event()): a job waits, it is woken;
 *    none yet, the news is left for the job to find;
 *  - an event whose job another invocation holds leaves the news
 *    (wix_news()): the holder finds it when it suspends.
 */
#ifndef VMPIPE_WAKE_INDEX_H
#define VMPIPE_WAKE_INDEX_H

#include <stddef.h>

#include "core/job.h"

enum wix_kind { WIX_RECORDING, WIX_TRANSCRIBE };

enum wix_result {
	WIX_ERROR = -1, /* S3 could not be asked (logged) */
	WIX_DEFER = 0,  /* registered: the event will wake the job */
	WIX_NEWS,       /* registered, and the event had come: step the job now */
	WIX_JOB,        /* wix_event(): this job waits for it */
	WIX_NOTED,      /* wix_event(): no job waits yet; the news is left for it */
};

/*
 * Register job `job` (of `tenant`, "" for the base pipeline) as waiting for
 * `key` of kind `k`, under `state` (s3://BUCKET[/PREFIX], the base
 * pipeline's [pipeline] state).  `ctx` gives log lines and the region their
 * job (it is not changed).  WIX_DEFER, WIX_NEWS or WIX_ERROR.
 */
int wix_register(const char *state, vm_job *ctx, enum wix_kind k, const char *key, const char *job,
		 const char *tenant);

/*
 * An event for `key`: WIX_JOB with the waiting job's id and tenant in
 * job[129] and tenant[129]; WIX_NOTED; or WIX_ERROR.
 */
int wix_event(const char *state, vm_job *ctx, enum wix_kind k, const char *key, char *job, char *tenant);

/* Leave the news for the job that waits for `key` (another invocation holds
 * it).  0, or -1 (logged). */
int wix_news(const char *state, vm_job *ctx, enum wix_kind k, const char *key);

/* Is `key` usable as the name of an index object of kind `k`? */
int wix_key_ok(enum wix_kind k, const char *key);

#endif
