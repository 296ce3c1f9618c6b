/*
 * Unit tests of contact trace records as events (engine/core/ctr.c through
 * event.c, and the SQS/Pipes forms in engine/runtime/lambda/sqs_event.c):
 * the filter, which recording is taken, what the job says, and records that
 * are refused with the field named.  The records follow the admin guide's
 * contact record data model (as tests/fakes/connect_ctr.py builds them).
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

#include "core/ctr.h"
#include "core/event.h"
#include "core/log.h"
#include "runtime/lambda/kinesis_event.h"
#include "runtime/lambda/sqs_event.h"
#include "testenv.h"

#define CID "0c1d2e3f-1111-4e5f-8a9b-0c1d2e3f4a5b"
#define ARN "arn:aws:connect:eu-west-2:123456789012:instance/abcdef01-2345-6789-abcd-ef0123456789"
#define KEY "connect/acme/CallRecordings/ivr/2024/05/01/" CID "_20240501T10:15_UTC.wav"
#define KVS "arn:aws:kinesisvideo:eu-west-2:123456789012:stream/connect-acme-contact-" CID "/1714558500000"

#define IVR(status, reason)                                                                                 \
	"{\"DeletionReason\":" reason ",\"FragmentStartNumber\":null,\"FragmentStopNumber\":null,"         \
	"\"Location\":\"vm-bucket/" KEY "\",\"MediaStreamType\":\"AUDIO\",\"ParticipantType\":\"IVR\","    \
	"\"StartTimestamp\":\"2024-05-01T10:15:02Z\",\"Status\":\"" status "\","                          \
	"\"StopTimestamp\":\"2024-05-01T10:15:40Z\",\"StorageType\":\"S3\"}"
#define CALL_REC                                                                                           \
	"{\"Location\":\"vm-bucket/connect/acme/CallRecordings/2024/05/01/call.wav\",\"MediaStreamType\":"   \
	"\"AUDIO\",\"ParticipantType\":\"AGENT\",\"Status\":\"AVAILABLE\",\"StorageType\":\"S3\"}"
#define KVS_REC                                                                                            \
	"{\"FragmentStartNumber\":\"91343852333181432392682062607743920146264440559\","                    \
	"\"FragmentStopNumber\":\"91343852333181432397633822764885441725874549018\",\"Location\":\"" KVS "\"," \
	"\"MediaStreamType\":\"AUDIO\",\"ParticipantType\":\"CUSTOMER\",\"StartTimestamp\":"                 \
	"\"2024-05-01T10:15:02.250Z\",\"Status\":\"AVAILABLE\",\"StopTimestamp\":\"2024-05-01T10:15:40Z\","  \
	"\"StorageType\":\"KINESIS_VIDEO_STREAM\"}"

#define CTR(attrs, recs)                                                                                   \
	"{\"AWSAccountId\":\"123456789012\",\"AWSContactTraceRecordFormatVersion\":\"2017-03-10\","          \
	"\"Agent\":null,\"Attributes\":" attrs ",\"Channel\":\"VOICE\",\"ContactId\":\"" CID "\","           \
	"\"CustomerEndpoint\":{\"Address\":\"+15555550123\",\"Type\":\"TELEPHONE_NUMBER\"},"                 \
	"\"DisconnectTimestamp\":\"2024-05-01T10:15:40Z\",\"InitialContactId\":null,"                        \
	"\"InitiationMethod\":\"INBOUND\",\"InstanceARN\":\"" ARN "\",\"Recordings\":" recs ","             \
	"\"SystemEndpoint\":{\"Address\":\"+15555550100\",\"Type\":\"TELEPHONE_NUMBER\"}}"

#define VMX3 "{\"vmx3_flag\":\"1\",\"emailRecipient\":\"owner@example.com\",\"RecipientName\":\"Pat\"}"

static vm_job *parse(const char *text, bool *skipped, char *err, size_t errsize)
{
	return event_to_job_or_skip(text, strlen(text), skipped, err, errsize);
}

static vm_job *parse_ok(const char *text)
{
	char err[1024] = "";
	bool skipped = true;
	vm_job *job = parse(text, &skipped, err, sizeof err);
	if (!job || skipped)
		fail_msg("refused (%s):\n%s", err, text);
	return job;
}

static void want_str(const vm_job *job, const char *path, const char *want)
{
	const char *got = vm_job_get_str(job, path);
	if (!got || strcmp(got, want) != 0)
		fail_msg("%s = %s; expected \"%s\"", path, got ? got : "(absent)", want);
}

static void test_ivr_recording_is_named(void **s)
{
	(void)s;
	unsetenv("VMPIPE_CTR_FILTER");
	vm_job *job = parse_ok(CTR(VMX3, "[" CALL_REC "," IVR("AVAILABLE", "null") "]"));
	want_str(job, "source", "ctr");
	want_str(job, "id", CID);
	want_str(job, "contact.initial_id", CID);
	want_str(job, "contact.region", "eu-west-2");
	want_str(job, "contact.caller", "+15555550123");
	want_str(job, "recipient.email", "owner@example.com");
	want_str(job, "contact.attributes.vmx3_flag", "1");
	want_str(job, "recording.uri", "s3://vm-bucket/" KEY); /* the IVR one, not the call recording */
	assert_null(vm_job_get_str(job, "recording.status"));
	int64_t t = 0;
	assert_true(vm_job_get_int(job, "contact.disconnected_at", &t));
	assert_int_equal(t, 1714558540000LL);
	job_free(job);
}

static void test_deleted_none_and_kvs(void **s)
{
	(void)s;
	unsetenv("VMPIPE_CTR_FILTER");
	vm_job *job = parse_ok(CTR(VMX3, "[" IVR("DELETED", "\"caller asked\"") "]"));
	want_str(job, "recording.status", "deleted");
	want_str(job, "recording.deletion_reason", "caller asked");
	assert_null(vm_job_get_str(job, "recording.uri"));
	job_free(job);
	/* An available one wins over a deleted one. */
	job = parse_ok(CTR(VMX3, "[" IVR("DELETED", "null") "," CALL_REC "]"));
	want_str(job, "recording.uri", "s3://vm-bucket/connect/acme/CallRecordings/2024/05/01/call.wav");
	job_free(job);
	job = parse_ok(CTR(VMX3, "null"));
	want_str(job, "recording.status", "none");
	job_free(job);
	job = parse_ok(CTR(VMX3, "[" KVS_REC "]"));
	want_str(job, "recording.stream_arn", KVS);
	want_str(job, "recording.fragment_start", "91343852333181432392682062607743920146264440559");
	want_str(job, "recording.fragment_stop", "91343852333181432397633822764885441725874549018");
	int64_t t = 0;
	assert_true(vm_job_get_int(job, "recording.stream_started_at", &t));
	assert_int_equal(t, 1714558502250LL);
	assert_null(vm_job_get_str(job, "recording.uri"));
	job_free(job);
}

static void test_filter(void **s)
{
	(void)s;
	char err[1024] = "";
	bool skipped = false;
	unsetenv("VMPIPE_CTR_FILTER");
	const char *plain = CTR("{\"emailRecipient\":\"owner@example.com\"}", "null");
	assert_null(parse(plain, &skipped, err, sizeof err));
	assert_true(skipped);
	assert_contains(err, CID);
	assert_contains(err, "vmx3_flag=1");
	/* event_to_job() refuses it (vmpipe run: exit 65). */
	assert_null(event_to_job(plain, strlen(plain), err, sizeof err));
	assert_contains(err, "not a voicemail");
	setenv("VMPIPE_CTR_FILTER", "*", 1);
	vm_job *job = parse_ok(plain);
	job_free(job);
	setenv("VMPIPE_CTR_FILTER", " emailRecipient , vmx3_flag=1", 1);
	assert_null(parse(plain, &skipped, err, sizeof err));
	assert_true(skipped);
	job = parse_ok(CTR(VMX3, "null"));
	job_free(job);
	setenv("VMPIPE_CTR_FILTER", "voicemail=", 1); /* an empty value: the attribute is "" */
	assert_null(parse(plain, &skipped, err, sizeof err));
	assert_true(skipped);
	setenv("VMPIPE_CTR_FILTER", "", 1);
	skipped = true;
	assert_null(parse(plain, &skipped, err, sizeof err));
	assert_false(skipped);
	assert_contains(err, "VMPIPE_CTR_FILTER is empty");
	setenv("VMPIPE_CTR_FILTER", "=1", 1);
	assert_null(parse(plain, &skipped, err, sizeof err));
	assert_false(skipped);
	assert_contains(err, "no attribute name");
	unsetenv("VMPIPE_CTR_FILTER");
}

static void test_bad_records_name_the_field(void **s)
{
	(void)s;
	unsetenv("VMPIPE_CTR_FILTER");
	static const struct { const char *text, *want; } bad[] = {
		{CTR(VMX3, "[{\"Location\":\"no-key\",\"StorageType\":\"S3\"}]"), "is not BUCKET/KEY"},
		{CTR(VMX3, "[{\"Location\":\"Bad Bucket!/k.wav\",\"StorageType\":\"S3\"}]"), "is not BUCKET/KEY"},
		{CTR(VMX3, "[{\"Location\":\"vm-bucket/k\\u0001.wav\",\"StorageType\":\"S3\"}]"), "is not BUCKET/KEY"},
		{CTR(VMX3, "[{\"Location\":\"arn:aws:s3:::x\",\"StorageType\":\"KINESIS_VIDEO_STREAM\","
			   "\"FragmentStartNumber\":\"1\"}]"), "not a Kinesis video stream ARN"},
		{CTR(VMX3, "[{\"Location\":\"" KVS "\",\"StorageType\":\"KINESIS_VIDEO_STREAM\","
			   "\"FragmentStartNumber\":\"12x\"}]"), "FragmentStartNumber"},
		{CTR("{\"vmx3_flag\":\"1\",\"emailRecipient\":\"not an address\"}", "null"),
		 "Attributes.emailRecipient"},
		{CTR("{\"vmx3_flag\":\"1\",\"tenant\":\"../etc\"}", "null"), "Attributes.tenant"},
		{"{\"ContactId\":\"../x\",\"Channel\":\"VOICE\"}", "ContactId is not a plain id"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char err[1024] = "";
		bool skipped = true;
		vm_job *job = parse(bad[i].text, &skipped, err, sizeof err);
		if (job)
			fail_msg("accepted: %s", bad[i].text);
		assert_false(skipped);
		assert_contains(err, bad[i].want);
	}
	/* A chat transcript or a video is not a recording to take. */
	vm_job *job = parse_ok(CTR(VMX3, "[{\"Location\":\"vm-bucket/chat.json\",\"StorageType\":\"S3\","
				   "\"MediaStreamType\":\"VIDEO\"}]"));
	want_str(job, "recording.status", "none");
	job_free(job);
}

/* EventBridge Pipes forwards a Kinesis record to SQS with its data as base64,
 * or as JSON when the data is JSON. */
static void test_pipes_forms(void **s)
{
	(void)s;
	unsetenv("VMPIPE_CTR_FILTER");
	const char *ctr = CTR(VMX3, "[" IVR("AVAILABLE", "null") "]");
	json_t *c = json_loads(ctr, 0, NULL);
	assert_non_null(c);
	char *b64 = NULL;
	{
		/* base64 by hand (no helper to test with the code under test) */
		static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		size_t n = strlen(ctr), o = 0;
		b64 = malloc(n / 3 * 4 + 8);
		for (size_t i = 0; i < n; i += 3) {
			unsigned v = (unsigned char)ctr[i] << 16 | (i + 1 < n ? (unsigned char)ctr[i + 1] << 8 : 0) |
				     (i + 2 < n ? (unsigned char)ctr[i + 2] : 0);
			b64[o++] = a[v >> 18 & 63];
			b64[o++] = a[v >> 12 & 63];
			b64[o++] = i + 1 < n ? a[v >> 6 & 63] : '=';
			b64[o++] = i + 2 < n ? a[v & 63] : '=';
		}
		b64[o] = '\0';
	}
	json_t *forms[] = {
		json_pack("{s:s, s:s, s:s, s:s}", "eventSource", "aws:kinesis", "sequenceNumber", "4959", "partitionKey",
			  "p", "data", b64),
		json_pack("{s:s, s:O}", "eventSource", "aws:kinesis", "data", c),
		json_incref(c),
	};
	for (size_t i = 0; i < 3; i++) {
		char *body = json_dumps(forms[i], JSON_COMPACT), *text = NULL, why[512] = "", err[512] = "";
		size_t n = 0;
		assert_int_equal(sqs_event_unwrap(body, strlen(body), &text, &n, why, sizeof why), SQS_EVENT_JOB);
		vm_job *job = event_to_job(text, n, err, sizeof err);
		if (!job)
			fail_msg("form %zu: %s", i, err);
		want_str(job, "recording.uri", "s3://vm-bucket/" KEY);
		job_free(job);
		free(text);
		free(body);
		json_decref(forms[i]);
	}
	/* Not a voicemail: acknowledged, with the reason. */
	const char *other = CTR("{}", "null");
	char *text = NULL, why[512] = "";
	size_t n = 0;
	assert_int_equal(sqs_event_unwrap(other, strlen(other), &text, &n, why, sizeof why), SQS_EVENT_TEST);
	assert_null(text);
	assert_contains(why, "not a voicemail");
	/* Data that is not JSON: refused (the queue's redrive keeps it). */
	const char *junk = "{\"eventSource\":\"aws:kinesis\",\"data\":\"AAEC\"}";
	assert_int_equal(sqs_event_unwrap(junk, strlen(junk), &text, &n, why, sizeof why), SQS_EVENT_BAD);
	assert_contains(why, "NUL");
	free(b64);
	json_decref(c);
}

int main(void)
{
	log_setup(VM_LOG_ERROR, LOG_FORMAT_TEXT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ivr_recording_is_named),
		cmocka_unit_test(test_deleted_none_and_kvs),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_bad_records_name_the_field),
		cmocka_unit_test(test_pipes_forms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
