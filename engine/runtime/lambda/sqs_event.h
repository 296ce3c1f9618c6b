/*
 * What an SQS message body carries, as `vmpipe serve` takes it from a queue
 * (docs/serve.md, "SQS with several hosts").  Pure: no I/O, no logging.
 *
 *  - an event engine/core/event.c takes as it is: an Amazon Connect contact-flow
 *    event, an S3 event notification (Records[].s3), a vmpipe job record;
 *  - the same wrapped by SNS: {"Type": "Notification", "Message": "<JSON
 *    text>"} (a topic between S3 and the queue without raw delivery);
 *  - S3's event through EventBridge: {"source": "aws.s3", "detail-type":
 *    "Object Created", "detail": {"bucket": {"name"}, "object": {"key"}}},
 *    rewritten into the Records form event.c takes;
 *  - S3's "s3:TestEvent", sent once when a bucket's notification is set up:
 *    not a voicemail, acknowledged;
 *  - an Amazon Connect contact record (core/ctr.h), bare or in the Kinesis
 *    record EventBridge Pipes forwards (kinesis_event.h): the record itself
 *    for event_to_job(), or, when the filter says it is not a voicemail,
 *    acknowledged as S3's test event is;
 *  - anything else: refused, with the reason (the caller leaves the message
 *    to the queue's redrive policy).
 * Owner: sqs.
 */
#ifndef VMPIPE_SQS_EVENT_H
#define VMPIPE_SQS_EVENT_H

#include <stddef.h>

enum sqs_event {
	SQS_EVENT_JOB,  /* *text is an event for event_to_job() */
	SQS_EVENT_TEST, /* S3's test event, a contact that is not a voicemail: nothing to run; `why` says what it was */
	SQS_EVENT_BAD,  /* not a message vmpipe takes; `why` says why */
};

/*
 * Look at one message body (`len` bytes, not NUL-terminated).  For
 * SQS_EVENT_JOB, *text (malloc()ed, NUL-terminated; the caller frees) and
 * *text_len hold the event to hand to event_to_job(): the body itself, what
 * SNS wrapped, or the Records form of an EventBridge event.  Whether that
 * event is one vmpipe accepts is event_to_job()'s to say.  Otherwise *text is
 * NULL and `why` holds a sentence.
 */
enum sqs_event sqs_event_unwrap(const char *body, size_t len, char **text, size_t *text_len, char *why,
				size_t whysize);

#endif
