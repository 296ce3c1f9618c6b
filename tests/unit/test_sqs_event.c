/*
 * Unit tests of SQS message bodies (engine/runtime/lambda/sqs_event.c): each form a
 * queue may carry (a plain event, SNS's envelope, S3's EventBridge event,
 * S3's test event) becomes the event engine/core/event.c takes, and the job it
 * makes names the same recording; anything else is refused with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/event.h"
#include "core/log.h"
#include "runtime/lambda/sqs_event.h"
#include "testenv.h"

/* The message must be a job: the text handed on, and the job event.c makes. */
static vm_job *job_of(const char *body, char **text_out)
{
	char *text = NULL, why[512] = "", err[1024] = "";
	size_t n = 0;
	enum sqs_event k = sqs_event_unwrap(body, strlen(body), &text, &n, why, sizeof why);
	if (k != SQS_EVENT_JOB)
		fail_msg("message not taken as an event (%d: %s):\n%s", (int)k, why, body);
	assert_non_null(text);
	assert_int_equal(strlen(text), n);
	vm_job *job = event_to_job(text, n, err, sizeof err);
	if (!job)
		fail_msg("event.c refused what came out (%s):\n%s", err, text);
	if (text_out)
		*text_out = text;
	else
		free(text);
	return job;
}

static void want_kind(const char *body, enum sqs_event want, const char *why_part)
{
	char *text = (char *)"unset", why[512] = "";
	size_t n = 7;
	enum sqs_event k = sqs_event_unwrap(body, strlen(body), &text, &n, why, sizeof why);
	if (k != want)
		fail_msg("kind %d, expected %d (%s) for:\n%s", (int)k, (int)want, why, body);
	assert_null(text);
	assert_int_equal(n, 0);
	assert_contains(why, why_part);
}

static void want_str(const vm_job *job, const char *path, const char *want)
{
	const char *got = vm_job_get_str(job, path);
	if (!got || strcmp(got, want) != 0)
		fail_msg("%s = %s; expected \"%s\"", path, got ? got : "(absent)", want);
}

#define CID "5a7e0000-1111-4222-8333-444455556666"
#define KEY_RAW "connect/acme/CallRecordings/ivr/2024/05/01/" CID "_20240501T10:15_UTC+x y.wav"
/* The same key as S3's own notifications write it: URL-encoded, '+' for ' '. */
#define KEY_ENC "connect/acme/CallRecordings/ivr/2024/05/01/" CID "_20240501T10%3A15_UTC%2Bx+y.wav"

static const char s3_event[] =
	"{\"Records\":[{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"awsRegion\":\"eu-west-2\","
	"\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"vm-bucket\"},"
	"\"object\":{\"key\":\"" KEY_ENC "\",\"size\":1234}}}]}";

static void test_plain_events_pass_as_they_are(void **s)
{
	(void)s;
	char *text;
	vm_job *job = job_of(s3_event, &text);
	assert_string_equal(text, s3_event);
	want_str(job, "recording.uri", "s3://vm-bucket/" KEY_RAW);
	free(text);
	job_free(job);

	const char *connect = "{\"Details\":{\"ContactData\":{\"ContactId\":\"c-1\",\"InitialContactId\":\"c-0\"}}}";
	job = job_of(connect, &text);
	assert_string_equal(text, connect);
	want_str(job, "contact.initial_id", "c-0");
	free(text);
	job_free(job);

	const char *record = "{\"id\":\"job-7\",\"recording\":{\"uri\":\"s3://vm-bucket/a.wav\"},"
			     "\"Type\":\"not SNS: no TopicArn, no Message\"}";
	job = job_of(record, &text);
	assert_string_equal(text, record);
	want_str(job, "recording.uri", "s3://vm-bucket/a.wav");
	free(text);
	job_free(job);
}

/* SNS without raw delivery: the Message string is the event. */
static char *sns(const char *message, const char *type)
{
	json_t *env = json_pack("{s:s, s:s, s:s, s:s, s:s}", "Type", type, "MessageId",
				"22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", "TopicArn",
				"arn:aws:sns:eu-west-2:123456789012:voicemail", "Message", message, "Timestamp",
				"2024-05-01T10:16:00.000Z");
	char *s = json_dumps(env, JSON_COMPACT);
	json_decref(env);
	return s;
}

static void test_sns_envelope_is_opened(void **s)
{
	(void)s;
	char *body = sns(s3_event, "Notification"), *text;
	vm_job *job = job_of(body, &text);
	assert_string_equal(text, s3_event);
	want_str(job, "recording.uri", "s3://vm-bucket/" KEY_RAW);
	want_str(job, "contact.region", "eu-west-2");
	free(text);
	free(body);
	job_free(job);

	body = sns("{\"id\":\"job-8\",\"recipient\":{\"email\":\"pat@example.com\"}}", "Notification");
	job = job_of(body, NULL);
	want_str(job, "id", "job-8");
	want_str(job, "recipient.email", "pat@example.com");
	free(body);
	job_free(job);
}

static void test_sns_other_than_notification_is_refused(void **s)
{
	(void)s;
	char *body = sns("You have chosen to subscribe to the topic", "SubscriptionConfirmation");
	want_kind(body, SQS_EVENT_BAD, "an SNS SubscriptionConfirmation message (topic "
		  "arn:aws:sns:eu-west-2:123456789012:voicemail)");
	free(body);
	body = sns("not json", "Notification");
	want_kind(body, SQS_EVENT_BAD, "Message is not a JSON object");
	free(body);
	want_kind("{\"Type\":\"Notification\",\"TopicArn\":\"arn:x\",\"Message\":{\"id\":\"a\"}}", SQS_EVENT_BAD,
		  "without a Message string");
}

static const char eventbridge[] =
	"{\"version\":\"0\",\"id\":\"17793124-05d4-b198-2fde-7ededc63b103\",\"detail-type\":\"%s\","
	"\"source\":\"%s\",\"account\":\"123456789012\",\"time\":\"2024-05-01T10:16:00Z\","
	"\"region\":\"eu-west-2\",\"resources\":[\"arn:aws:s3:::vm-bucket\"],"
	"\"detail\":{\"version\":\"0\",\"bucket\":{\"name\":\"vm-bucket\"},"
	"\"object\":{\"key\":\"%s\",\"size\":1234,\"etag\":\"b1946ac92492d2347c6235b4d2611184\","
	"\"sequencer\":\"617f08299329d189\"},\"request-id\":\"N4N7GDK58NMKJ12R\","
	"\"requester\":\"123456789012\",\"reason\":\"%s\"}}";

static char *eb(const char *type, const char *source, const char *key, const char *reason)
{
	char *s;
	if (asprintf(&s, eventbridge, type, source, key, reason) < 0)
		fail_msg("out of memory");
	return s;
}

static void test_eventbridge_becomes_records(void **s)
{
	(void)s;
	/* EventBridge gives the key unencoded: the job names the same object as
	 * S3's own (encoded) notification does. */
	char *body = eb("Object Created", "aws.s3", KEY_RAW, "PutObject"), *text;
	vm_job *job = job_of(body, &text);
	want_str(job, "recording.uri", "s3://vm-bucket/" KEY_RAW);
	want_str(job, "id", CID);
	want_str(job, "contact.region", "eu-west-2");
	int64_t size = 0;
	assert_true(vm_job_get_int(job, "recording.size", &size));
	assert_int_equal(size, 1234);
	vm_job *direct = job_of(s3_event, NULL);
	want_str(direct, "recording.uri", vm_job_get_str(job, "recording.uri"));
	job_free(direct);
	json_t *rec = json_loads(text, 0, NULL);
	json_t *r0 = json_array_get(json_object_get(rec, "Records"), 0);
	assert_string_equal(json_string_value(json_object_get(r0, "eventName")), "ObjectCreated:Put");
	assert_string_equal(json_string_value(json_object_get(r0, "eventSource")), "aws:s3");
	json_decref(rec);
	free(text);
	free(body);
	job_free(job);

	/* A multipart upload (large recordings) is a creation too. */
	body = eb("Object Created", "aws.s3", CID ".wav", "CompleteMultipartUpload");
	job = job_of(body, &text);
	assert_contains(text, "ObjectCreated:CompleteMultipartUpload");
	want_str(job, "recording.uri", "s3://vm-bucket/" CID ".wav");
	free(text);
	free(body);
	job_free(job);

	/* EventBridge through SNS. */
	char *inner = eb("Object Created", "aws.s3", KEY_RAW, "PutObject");
	body = sns(inner, "Notification");
	job = job_of(body, NULL);
	want_str(job, "recording.uri", "s3://vm-bucket/" KEY_RAW);
	free(inner);
	free(body);
	job_free(job);
}

static void test_eventbridge_other_events_are_refused(void **s)
{
	(void)s;
	char *body = eb("Object Deleted", "aws.s3", KEY_RAW, "DeleteObject");
	want_kind(body, SQS_EVENT_BAD, "an EventBridge S3 'Object Deleted' event: only 'Object Created'");
	free(body);
	body = eb("EC2 Instance State-change Notification", "aws.ec2", "x", "y");
	want_kind(body, SQS_EVENT_BAD, "an EventBridge event from 'aws.ec2'");
	free(body);
	want_kind("{\"source\":\"aws.s3\",\"detail-type\":\"Object Created\",\"detail\":{\"bucket\":{\"name\":\"b\"}}}",
		  SQS_EVENT_BAD, "without detail.bucket.name and detail.object.key");
	want_kind("{\"source\":\"aws.s3\",\"detail-type\":\"Object Created\",\"detail\":{\"bucket\":{\"name\":\"b\"},"
		  "\"object\":{\"key\":\"\"}}}",
		  SQS_EVENT_BAD, "without detail.bucket.name and detail.object.key");
}

static void test_s3_test_event_is_recognised(void **s)
{
	(void)s;
	const char *t = "{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\",\"Time\":\"2024-05-01T10:00:00.000Z\","
			"\"Bucket\":\"vm-bucket\",\"RequestId\":\"5582815E1AEA5ADF\",\"HostId\":\"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE\"}";
	want_kind(t, SQS_EVENT_TEST, "S3's test event (bucket vm-bucket)");
	char *body = sns(t, "Notification");
	want_kind(body, SQS_EVENT_TEST, "S3's test event (bucket vm-bucket), through SNS");
	free(body);
}

static void test_not_an_event(void **s)
{
	(void)s;
	want_kind("hello", SQS_EVENT_BAD, "the body is not JSON (line 1 column 5: ");
	want_kind("[1,2]", SQS_EVENT_BAD, "JSON but not an object");
	want_kind("{\"a\":1,\"a\":2}", SQS_EVENT_BAD, "not JSON");
	want_kind("", SQS_EVENT_BAD, "not JSON");
	/* An object that is none of the forms goes on to event.c, which refuses it
	 * with its own reason. */
	char *text = NULL, why[256], err[512];
	size_t n = 0;
	assert_int_equal(sqs_event_unwrap("{\"hello\":1}", 11, &text, &n, why, sizeof why), SQS_EVENT_JOB);
	assert_null(event_to_job(text, n, err, sizeof err));
	assert_contains(err, "unrecognised event");
	free(text);
}

int main(void)
{
	log_setup(VM_LOG_ERROR, LOG_FORMAT_TEXT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_events_pass_as_they_are),
		cmocka_unit_test(test_sns_envelope_is_opened),
		cmocka_unit_test(test_sns_other_than_notification_is_refused),
		cmocka_unit_test(test_eventbridge_becomes_records),
		cmocka_unit_test(test_eventbridge_other_events_are_refused),
		cmocka_unit_test(test_s3_test_event_is_recognised),
		cmocka_unit_test(test_not_an_event),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
