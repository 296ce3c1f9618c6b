/*
 * SQS message bodies (see sqs_event.h): unwrap SNS, recognise S3's test
 * event, rewrite S3's EventBridge form into the notification form.
 */
#include "sqs_event.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/uri.h"
#include "core/ctr.h"
#include "kinesis_event.h"

static const char *str_of(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static enum sqs_event bad(char *why, size_t whysize, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum sqs_event bad(char *why, size_t whysize, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whysize, fmt, ap);
	va_end(ap);
	return SQS_EVENT_BAD;
}

/* The copy handed back for event_to_job(). */
static enum sqs_event job_text(const char *s, size_t n, char **text, size_t *text_len, char *why,
			       size_t whysize)
{
	char *t = malloc(n + 1);
	if (!t) {
		snprintf(why, whysize, "out of memory");
		return SQS_EVENT_BAD;
	}
	memcpy(t, s, n);
	t[n] = '\0';
	*text = t;
	*text_len = n;
	return SQS_EVENT_JOB;
}

/* EventBridge names the API call (detail.reason); S3's own notifications name
 * the event (ObjectCreated:Put, …), which is what event.c checks. */
static const char *created_name(const char *reason)
{
	static const struct { const char *reason, *event; } map[] = {
		{"PutObject", "ObjectCreated:Put"},
		{"POST Object", "ObjectCreated:Post"},
		{"CopyObject", "ObjectCreated:Copy"},
		{"CompleteMultipartUpload", "ObjectCreated:CompleteMultipartUpload"},
	};
	for (size_t i = 0; reason && i < sizeof map / sizeof *map; i++)
		if (strcmp(map[i].reason, reason) == 0)
			return map[i].event;
	return "ObjectCreated:Put";
}

/*
 * {"source": "aws.s3", "detail-type": "Object Created", "detail": {...}} ->
 * {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:…",
 * "s3": {"bucket": {"name"}, "object": {"key", "size"}}}]}.  EventBridge
 * gives the key as it is, where S3's notifications URL-encode it: encoded
 * here, so event.c decodes both forms alike.
 */
static enum sqs_event from_eventbridge(json_t *ev, char **text, size_t *text_len, char *why, size_t whysize)
{
	const char *type = str_of(ev, "detail-type");
	const char *source = str_of(ev, "source");
	if (strcmp(source, "aws.s3") != 0)
		return bad(why, whysize, "an EventBridge event from '%.60s' (%.60s): vmpipe takes S3 "
			   "'Object Created' events", source, type);
	if (strcmp(type, "Object Created") != 0)
		return bad(why, whysize, "an EventBridge S3 '%.60s' event: only 'Object Created' is a new "
			   "recording", type);
	json_t *detail = json_object_get(ev, "detail");
	const char *bucket = str_of(json_object_get(detail, "bucket"), "name");
	json_t *obj = json_object_get(detail, "object");
	const char *key = str_of(obj, "key");
	if (!bucket || !*bucket || !key || !*key)
		return bad(why, whysize, "an EventBridge S3 event without detail.bucket.name and "
			   "detail.object.key");
	char *enc = uri_encode_s3_key(key);
	if (!enc)
		return bad(why, whysize, "out of memory");
	json_t *o = json_pack("{s:s, s:o?}", "key", enc, "size",
			      json_is_integer(json_object_get(obj, "size"))
				      ? json_copy(json_object_get(obj, "size")) : NULL);
	free(enc);
	json_t *rec = json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:{s:s, s:{s:s}, s:o}}", "eventVersion", "2.1",
				"eventSource", "aws:s3", "awsRegion", str_of(ev, "region"), "eventTime",
				str_of(ev, "time"), "eventName", created_name(str_of(detail, "reason")), "s3",
				"s3SchemaVersion", "1.0", "bucket", "name", bucket, "object", o);
	json_t *out = rec ? json_pack("{s:[o]}", "Records", rec) : NULL;
	char *s = out ? json_dumps(out, JSON_COMPACT) : NULL;
	json_decref(out);
	if (!s)
		return bad(why, whysize, "out of memory");
	*text = s;
	*text_len = strlen(s);
	return SQS_EVENT_JOB;
}

/* A contact record the filter says is not a voicemail (with a filter that is
 * well formed: a wrong one is event.c's error to report). */
static bool not_voicemail(const json_t *ctr, const char *via, char *why, size_t whysize)
{
	char err[300];
	const char *f = ctr_filter();
	if (!ctr_is(ctr) || ctr_filter_check(f, err, sizeof err) != 0 || ctr_wanted(ctr, f))
		return false;
	snprintf(why, whysize, "contact record of %.128s%s: not a voicemail (VMPIPE_CTR_FILTER '%.200s')",
		 json_string_value(json_object_get(ctr, "ContactId")), via, f);
	return true;
}

/* One Kinesis record (EventBridge Pipes' form, or Lambda's copied): its data. */
static enum sqs_event from_kinesis(json_t *rec, const char *via, char **text, size_t *text_len, char *why,
				   size_t whysize)
{
	char *data = NULL;
	size_t n = 0;
	if (kinesis_record_data(rec, &data, &n, why, whysize) != 0)
		return SQS_EVENT_BAD;
	json_t *in = json_loadb(data, n, JSON_REJECT_DUPLICATES, NULL);
	enum sqs_event k = SQS_EVENT_JOB;
	if (!json_is_object(in))
		k = bad(why, whysize, "the Kinesis record's data is not a JSON object");
	else if (not_voicemail(in, via, why, whysize))
		k = SQS_EVENT_TEST;
	json_decref(in);
	if (k != SQS_EVENT_JOB) {
		free(data);
		return k;
	}
	*text = data;
	*text_len = n;
	return k;
}

/* One event object (`raw` is its text): S3's test event, EventBridge, a
 * Kinesis record, a contact record that is not a voicemail, or an event for
 * event.c as it is.  `via` says how it came ("" or ", through SNS"). */
static enum sqs_event classify(json_t *ev, const char *raw, size_t raw_len, const char *via, char **text,
			       size_t *text_len, char *why, size_t whysize)
{
	if (kinesis_is_record(ev))
		return from_kinesis(ev, via, text, text_len, why, whysize);
	if (not_voicemail(ev, via, why, whysize))
		return SQS_EVENT_TEST;
	const char *test = str_of(ev, "Event");
	if (test && strcmp(test, "s3:TestEvent") == 0) {
		snprintf(why, whysize, "S3's test event (bucket %.200s)%s",
			 str_of(ev, "Bucket") ? str_of(ev, "Bucket") : "?", via);
		return SQS_EVENT_TEST;
	}
	if (str_of(ev, "source") && str_of(ev, "detail-type"))
		return from_eventbridge(ev, text, text_len, why, whysize);
	return job_text(raw, raw_len, text, text_len, why, whysize);
}

enum sqs_event sqs_event_unwrap(const char *body, size_t len, char **text, size_t *text_len, char *why,
				size_t whysize)
{
	*text = NULL;
	*text_len = 0;
	*why = '\0';
	json_error_t e;
	json_t *ev = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
	if (!json_is_object(ev)) {
		if (ev)
			snprintf(why, whysize, "the body is JSON but not an object");
		else
			snprintf(why, whysize, "the body is not JSON (line %d column %d: %s)", e.line, e.column,
				 e.text);
		json_decref(ev);
		return SQS_EVENT_BAD;
	}
	enum sqs_event k;
	const char *sns_type = str_of(ev, "Type");
	if (!sns_type || !(json_object_get(ev, "TopicArn") || json_object_get(ev, "Message"))) {
		k = classify(ev, body, len, "", text, text_len, why, whysize);
		json_decref(ev);
		return k;
	}
	/* SNS without raw message delivery: the event is the envelope's Message. */
	json_t *msg = json_object_get(ev, "Message");
	json_t *in = NULL;
	if (json_is_string(msg)) /* json_is_object() reads its argument twice: not inline */
		in = json_loadb(json_string_value(msg), json_string_length(msg), JSON_REJECT_DUPLICATES, &e);
	if (strcmp(sns_type, "Notification") != 0)
		k = bad(why, whysize, "an SNS %.40s message (topic %.200s), not a notification: confirm the "
			"subscription, or let SNS deliver raw messages", sns_type,
			str_of(ev, "TopicArn") ? str_of(ev, "TopicArn") : "?");
	else if (!json_is_string(msg))
		k = bad(why, whysize, "an SNS notification without a Message string");
	else if (!json_is_object(in))
		k = bad(why, whysize, "the SNS notification's Message is not a JSON object");
	else
		k = classify(in, json_string_value(msg), json_string_length(msg), ", through SNS", text, text_len,
			     why, whysize);
	json_decref(in);
	json_decref(ev);
	return k;
}
