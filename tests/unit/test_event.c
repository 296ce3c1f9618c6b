/*
 * Unit tests of event intake (engine/core/event.c): the Amazon Connect
 * contact-flow event, the S3 ObjectCreated notification and the job record
 * become a job record with the documented fields; anything else is refused
 * with a message that says what was wrong and what was expected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/event.h"
#include "core/log.h"
#include "testenv.h"

#define ARN "arn:aws:connect:eu-west-2:123456789012:instance/abcdef01-2345-6789-abcd-ef0123456789"

static vm_job *parse_ok(const char *text)
{
	char err[1024] = "";
	vm_job *job = event_to_job(text, strlen(text), err, sizeof err);
	if (!job)
		fail_msg("event refused (%s):\n%s", err, text);
	return job;
}

/* The event must be refused with every string of `wants` in the message. */
static void want_refused(const char *text, size_t len, const char *const *wants)
{
	char err[1024] = "";
	vm_job *job = event_to_job(text, len, err, sizeof err);
	if (job) {
		char *json = vm_job_to_json(job);
		char copy[512];
		snprintf(copy, sizeof copy, "%s", json ? json : "");
		free(json);
		job_free(job);
		fail_msg("event accepted as %s", copy);
	}
	for (const char *const *w = wants; *w; w++)
		assert_contains(err, *w);
}

#define W(...) ((const char *const[]){__VA_ARGS__, NULL})
#define REFUSED(text, ...) want_refused((text), strlen(text), W(__VA_ARGS__))

static void want_str(const vm_job *job, const char *path, const char *want)
{
	const char *got = vm_job_get_str(job, path);
	if (!got || strcmp(got, want) != 0)
		fail_msg("%s = %s%s%s; expected \"%s\"", path, got ? "\"" : "", got ? got : "(absent)",
			 got ? "\"" : "", want);
}

static const char connect_event[] =
	"{\"Details\": {\"ContactData\": {"
	"  \"Attributes\": {\"emailRecipient\": \"owner@example.com\", \"RecipientName\": \"Pat Owner\","
	"                   \"tenant\": \"acme\", \"language\": \"en-GB\", \"priority\": 3},"
	"  \"Channel\": \"VOICE\","
	"  \"ContactId\": \"11111111-2222-3333-4444-555555555555\","
	"  \"CustomerEndpoint\": {\"Address\": \"+15555550123\", \"Type\": \"TELEPHONE_NUMBER\"},"
	"  \"InitialContactId\": \"00000000-aaaa-bbbb-cccc-dddddddddddd\","
	"  \"InstanceARN\": \"" ARN "\","
	"  \"SystemEndpoint\": {\"Address\": \"+15555550100\", \"Type\": \"TELEPHONE_NUMBER\"}},"
	" \"Parameters\": {}},"
	" \"Name\": \"ContactFlowEvent\"}";

static void test_connect_fields(void **s)
{
	(void)s;
	vm_job *job = parse_ok(connect_event);
	want_str(job, "id", "11111111-2222-3333-4444-555555555555");
	assert_string_equal(vm_job_id(job), "11111111-2222-3333-4444-555555555555");
	want_str(job, "source", "connect");
	want_str(job, "contact.id", "11111111-2222-3333-4444-555555555555");
	want_str(job, "contact.initial_id", "00000000-aaaa-bbbb-cccc-dddddddddddd");
	want_str(job, "contact.instance_arn", ARN);
	want_str(job, "contact.region", "eu-west-2");
	want_str(job, "contact.caller", "+15555550123");
	want_str(job, "contact.dialed", "+15555550100");
	want_str(job, "recipient.email", "owner@example.com");
	want_str(job, "recipient.name", "Pat Owner");
	want_str(job, "tenant", "acme");
	want_str(job, "state", "pending");
	/* String attributes are kept for plugins; others are dropped. */
	want_str(job, "contact.attributes.language", "en-GB");
	want_str(job, "contact.attributes.emailRecipient", "owner@example.com");
	assert_null(job_get(job, "contact.attributes.priority"));
	/* The record's bookkeeping starts empty. */
	assert_true(json_is_array(job_get(job, "notifications")));
	assert_int_equal(json_array_size(job_get(job, "errors")), 0);
	int64_t attempts = -1;
	assert_true(vm_job_get_int(job, "attempts", &attempts));
	assert_int_equal(attempts, 0);
	const char *at = vm_job_get_str(job, "received_at");
	assert_non_null(at);
	assert_int_equal(strlen(at), 20); /* 2024-12-11T15:30:05Z */
	assert_int_equal(at[19], 'Z');
	job_free(job);
}

static void test_connect_minimal(void **s)
{
	(void)s;
	/* No InitialContactId, no attributes, no ARN: still a job, initial_id = ContactId. */
	vm_job *job = parse_ok("{\"Details\":{\"ContactData\":{\"ContactId\":\"c-1\"}}}");
	want_str(job, "contact.id", "c-1");
	want_str(job, "contact.initial_id", "c-1");
	assert_null(vm_job_get_str(job, "recipient.email"));
	assert_null(vm_job_get_str(job, "contact.region"));
	assert_null(vm_job_get_str(job, "tenant"));
	job_free(job);
	/* An ARN without a region field gives no region rather than garbage. */
	job = parse_ok("{\"Details\":{\"ContactData\":{\"ContactId\":\"c-2\",\"InstanceARN\":\"not-an-arn\"}}}");
	want_str(job, "contact.instance_arn", "not-an-arn");
	assert_null(vm_job_get_str(job, "contact.region"));
	job_free(job);
}

static void test_connect_bad(void **s)
{
	(void)s;
	REFUSED("{\"Details\":{}}", "no Details.ContactData object", "expected an Amazon Connect");
	REFUSED("{\"Details\":{\"ContactData\":{\"Channel\":\"VOICE\"}}}",
		"no Details.ContactData.ContactId string");
	REFUSED("{\"Details\":{\"ContactData\":{\"ContactId\":42}}}", "no Details.ContactData.ContactId string");
	REFUSED("{\"Details\":{\"ContactData\":{\"ContactId\":\"\"}}}", "no Details.ContactData.ContactId");
	REFUSED("{\"Details\":{\"ContactData\":{\"ContactId\":\"../../etc/passwd\"}}}",
		"Details.ContactData.ContactId is not a plain id");
	REFUSED("{\"Details\":{\"ContactData\":{\"ContactId\":\"a/b\"}}}", "ContactId is not a plain id");
	REFUSED("{\"Details\":{\"ContactData\":{\"ContactId\":\"..\"}}}", "ContactId is not a plain id");
	REFUSED("{\"Details\":{\"ContactData\":{\"ContactId\":\"a\\nb\"}}}", "ContactId is not a plain id");
	REFUSED("{\"Details\":{\"ContactData\":{\"ContactId\":\"ok\",\"InitialContactId\":\"../x\"}}}",
		"InitialContactId is not a plain id");
	REFUSED("{\"Details\":{\"ContactData\":{\"ContactId\":\"ok\",\"Attributes\":[1]}}}",
		"Attributes must be an object");
	REFUSED("{\"Details\":{\"ContactData\":{\"ContactId\":\"ok\",\"Attributes\":{\"tenant\":\"../t\"}}}}",
		"Details.ContactData.Attributes.tenant is not a plain name");
	/* An id long enough to overflow a file name is refused. */
	char big[400];
	snprintf(big, sizeof big, "{\"Details\":{\"ContactData\":{\"ContactId\":\"%0200d\"}}}", 7);
	REFUSED(big, "ContactId is not a plain id");
}

static void test_s3_event(void **s)
{
	(void)s;
	vm_job *job = parse_ok(
		"{\"Records\":[{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"awsRegion\":\"us-west-2\","
		"\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"vm-bucket\"},"
		"\"object\":{\"key\":\"connect/inst/CallRecordings/2024/01/02/"
		"abc-123_20240102T10%3A00_UTC+copy.wav\",\"size\":48044}}}]}");
	want_str(job, "id", "abc-123");
	want_str(job, "source", "s3");
	want_str(job, "contact.id", "abc-123");
	want_str(job, "contact.initial_id", "abc-123");
	/* URL-decoded: %3A is ':' and '+' is a space. */
	want_str(job, "recording.uri",
		 "s3://vm-bucket/connect/inst/CallRecordings/2024/01/02/abc-123_20240102T10:00_UTC copy.wav");
	want_str(job, "contact.region", "us-west-2");
	int64_t size = 0;
	assert_true(vm_job_get_int(job, "recording.size", &size));
	assert_int_equal(size, 48044);
	job_free(job);
	/* A key without '_': the id is the name before the extension. */
	job = parse_ok("{\"Records\":[{\"eventName\":\"ObjectCreated:CompleteMultipartUpload\","
		       "\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":\"vm%2Dx.wav\"}}}]}");
	want_str(job, "id", "vm-x");
	want_str(job, "recording.uri", "s3://b/vm-x.wav");
	job_free(job);
	/* Hex digits in either case; %25 is a literal '%'. */
	job = parse_ok("{\"Records\":[{\"eventName\":\"ObjectCreated:Put\","
		       "\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":\"p%2fq%2Fid%2d9_100%25.wav\"}}}]}");
	want_str(job, "recording.uri", "s3://b/p/q/id-9_100%.wav");
	want_str(job, "id", "id-9");
	job_free(job);
}

static void test_s3_bad(void **s)
{
	(void)s;
	REFUSED("{\"Records\":[]}", "exactly one record (got 0)");
	REFUSED("{\"Records\":{}}", "exactly one record");
	REFUSED("{\"Records\":[{\"eventName\":\"ObjectRemoved:Delete\",\"s3\":{\"bucket\":{\"name\":\"b\"},"
		"\"object\":{\"key\":\"a.wav\"}}}]}",
		"not an ObjectCreated event (eventName 'ObjectRemoved:Delete')");
	REFUSED("{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"b\"}}}]}",
		"lacks s3.bucket.name or s3.object.key");
	REFUSED("{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"b\"},"
		"\"object\":{\"key\":\"a%zz.wav\"}}}]}",
		"badly URL-encoded");
	/* '%' must start two hex digits; never a NUL (it would cut the key). */
	static const char *const bad_keys[] = {"a%00b.wav", "a% 5.wav", "a%+5.wav", "a%-1.wav", "a%4", "a%",
					       "100%.wav"};
	for (size_t i = 0; i < sizeof bad_keys / sizeof *bad_keys; i++) {
		char ev[512];
		snprintf(ev, sizeof ev,
			 "{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"b\"},"
			 "\"object\":{\"key\":\"%s\"}}}]}",
			 bad_keys[i]);
		REFUSED(ev, "badly URL-encoded");
	}
	/* Longer than S3 allows. */
	char *huge = malloc(3000);
	assert_non_null(huge);
	int off = snprintf(huge, 3000, "{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":"
				      "{\"name\":\"b\"},\"object\":{\"key\":\"");
	memset(huge + off, 'k', 2000);
	snprintf(huge + off + 2000, 3000 - (size_t)off - 2000, "\"}}}]}");
	REFUSED(huge, "S3 object key is longer than");
	free(huge);
	REFUSED("{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"b\"},"
		"\"object\":{\"key\":\"dir/_x.wav\"}}}]}",
		"cannot derive a contact id from S3 key 'dir/_x.wav'");
	REFUSED("{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"b\"},"
		"\"object\":{\"key\":\"dir/-x.wav\"}}}]}",
		"does not start with a plain contact id");
}

static void test_job_record(void **s)
{
	(void)s;
	vm_job *job = parse_ok("{\"id\":\"pbx-42\",\"tenant\":\"acme\","
			       "\"contact\":{\"caller\":\"+15551234\"},"
			       "\"recipient\":{\"email\":\"a@example.com\"},"
			       "\"recording\":{\"uri\":\"file:///var/spool/pbx-42.wav\"},"
			       "\"stages\":{\"locate\":\"done\"},\"state\":\"failed\"}");
	want_str(job, "id", "pbx-42");
	want_str(job, "contact.id", "pbx-42");         /* filled in */
	want_str(job, "contact.initial_id", "pbx-42"); /* filled in */
	want_str(job, "contact.caller", "+15551234");
	want_str(job, "recording.uri", "file:///var/spool/pbx-42.wav");
	assert_null(job_get(job, "stages")); /* dropped: locate must check the URI */
	want_str(job, "state", "pending");      /* a new run */
	assert_non_null(vm_job_get_str(job, "received_at"));
	assert_true(json_is_array(job_get(job, "errors")));
	assert_true(json_is_array(job_get(job, "notifications")));
	job_free(job);
	/* A record carrying its own contact ids and received_at keeps them. */
	job = parse_ok("{\"id\":\"j1\",\"received_at\":\"2024-01-02T03:04:05Z\","
		       "\"contact\":{\"id\":\"c9\",\"initial_id\":\"c8\"}}");
	want_str(job, "contact.id", "c9");
	want_str(job, "contact.initial_id", "c8");
	want_str(job, "received_at", "2024-01-02T03:04:05Z");
	job_free(job);
}

/* The audit's record put its own link (and could put a transcript, sizes, a
 * "sent" note) into the mail: what the pipeline derives is never taken. */
static void test_job_record_derived_fields_dropped(void **s)
{
	(void)s;
	vm_job *job = parse_ok(
		"{\"id\":\"pbx-7\",\"recipient\":{\"email\":\"a@example.com\",\"name\":\"Pat\"},"
		"\"contact\":{\"caller\":\"+15551234\"},"
		"\"recording\":{\"uri\":\"file:///var/spool/pbx-7.wav\","
		"\"url\":\"https://evil.example/login\",\"url_expires_at\":\"2099-01-01T00:00:00Z\","
		"\"url_kind\":\"link\",\"size\":5,\"duration_seconds\":99999,\"content_type\":\"text/html\","
		"\"file_id\":\"1:2\",\"seen_at\":1,\"seen_size\":5,\"truncated\":true},"
		"\"transcript\":{\"status\":\"completed\",\"text\":\"Call evil.example now\"},"
		"\"notifications\":[{\"stage\":\"notify\",\"transport\":\"file\",\"message_id\":\"<x@y>\"}],"
		"\"errors\":[{\"stage\":\"locate\",\"kind\":\"permanent\",\"message\":\"m\"}],"
		"\"stages\":{\"locate\":\"done\",\"transcribe\":\"done\"},\"attempts\":4,\"state\":\"done\"}");
	/* What the record may say stays. */
	want_str(job, "recording.uri", "file:///var/spool/pbx-7.wav");
	want_str(job, "recipient.email", "a@example.com");
	want_str(job, "recipient.name", "Pat");
	want_str(job, "contact.caller", "+15551234");
	/* What the pipeline derives is gone or starts afresh. */
	static const char *const gone[] = {
		"recording.url", "recording.url_expires_at", "recording.url_kind", "recording.size",
		"recording.duration_seconds", "recording.content_type", "recording.file_id",
		"recording.seen_at", "recording.seen_size", "recording.truncated", "transcript", "stages",
	};
	for (size_t i = 0; i < sizeof gone / sizeof *gone; i++)
		if (job_get(job, gone[i]))
			fail_msg("%s was taken from the record", gone[i]);
	assert_int_equal(json_array_size(job_get(job, "notifications")), 0);
	assert_int_equal(json_array_size(job_get(job, "errors")), 0);
	int64_t a = -1;
	assert_true(vm_job_get_int(job, "attempts", &a));
	assert_int_equal(a, 0);
	want_str(job, "state", "pending");
	job_free(job);
}

static void test_job_record_bad(void **s)
{
	(void)s;
	REFUSED("{\"id\":\"../x\"}", "job record 'id' must be a plain id");
	REFUSED("{\"id\":7}", "job record 'id' must be a plain id");
	REFUSED("{\"id\":\"\"}", "job record 'id' must be a plain id");
	REFUSED("{\"id\":\"j\",\"contact\":\"+1555\"}", "field 'contact' has the wrong type");
	REFUSED("{\"id\":\"j\",\"recipient\":{\"email\":42}}", "field 'recipient.email' must be a string (got a number)");
	REFUSED("{\"id\":\"j\",\"recording\":{\"uri\":[\"file:///x\"]}}", "field 'recording.uri' must be a string (got an array)");
	REFUSED("{\"id\":\"j\",\"errors\":{}}", "field 'errors' has the wrong type");
	REFUSED("{\"id\":\"j\",\"notifications\":\"none\"}", "field 'notifications' has the wrong type");
	REFUSED("{\"id\":\"j\",\"stages\":[]}", "field 'stages' has the wrong type");
	REFUSED("{\"id\":\"j\",\"contact\":{\"caller\":null}}", "field 'contact.caller' must be a string (got null)");
	REFUSED("{\"id\":\"j\",\"tenant\":\"a/b\"}", "job record field 'tenant' is not a plain name");
	REFUSED("{\"id\":\"j\",\"tenant\":5}", "field 'tenant' must be a string (got a number)");
}

/* A Connect event with `attr_json` as its Attributes and `caller` as the caller. */
static char *connect_with(const char *caller, const char *attr_json)
{
	char *ev = NULL;
	assert_true(asprintf(&ev, "{\"Details\":{\"ContactData\":{\"ContactId\":\"c-1\","
				  "\"CustomerEndpoint\":{\"Address\":\"%s\"},\"Attributes\":%s}}}",
			     caller, attr_json) > 0);
	return ev;
}

static char *repeat(char c, size_t n)
{
	char *r = malloc(n + 1);
	assert_non_null(r);
	memset(r, c, n);
	r[n] = '\0';
	return r;
}

/* "u0@example.com, u1@example.com, …" */
static char *address_list(size_t n)
{
	char *l = calloc(n + 1, 32);
	assert_non_null(l);
	for (size_t i = 0; i < n; i++)
		sprintf(l + strlen(l), "%su%zu@example.com", i ? ", " : "", i);
	return l;
}

static void connect_ok(const char *caller, const char *attrs)
{
	char *ev = connect_with(caller, attrs);
	job_free(parse_ok(ev));
	free(ev);
}

static void connect_refused(const char *caller, const char *attrs, const char *want)
{
	char *ev = connect_with(caller, attrs);
	REFUSED(ev, want);
	free(ev);
}

/* The audit: a 1 MB caller id, 3,000 recipients, a numeric emailRecipient
 * silently dropped.  Each field is bounded and typed, the refusal names it. */
static void test_limits(void **s)
{
	(void)s;
	char *c128 = repeat('5', 128), *c129 = repeat('5', 129), *c1m = repeat('5', 1000000);
	connect_ok(c128, "{}");
	connect_refused(c129, "{}", "Details.ContactData.CustomerEndpoint.Address is 129 bytes; at most 128");
	connect_refused(c1m, "{}", "Details.ContactData.CustomerEndpoint.Address is 1000000 bytes");
	free(c128);
	free(c129);
	free(c1m);

	char *l50 = address_list(50), *l51 = address_list(51), *l3000 = address_list(3000), *a = NULL;
	assert_true(asprintf(&a, "{\"emailRecipient\":\"%s\"}", l50) > 0);
	connect_ok("+1555", a);
	free(a);
	assert_true(asprintf(&a, "{\"emailRecipient\":\"%s\"}", l51) > 0);
	connect_refused("+1555", a, "Details.ContactData.Attributes.emailRecipient names 51 addresses; at most 50");
	free(a);
	assert_true(asprintf(&a, "{\"emailRecipient\":\"%s\"}", l3000) > 0);
	connect_refused("+1555", a, "emailRecipient names 3000 addresses; at most 50");
	free(a);
	free(l50);
	free(l51);
	free(l3000);

	/* Wrong types of what the engine uses are refused, not dropped. */
	connect_refused("+1555", "{\"emailRecipient\":15555550123}",
			"Details.ContactData.Attributes.emailRecipient must be a string (got a number)");
	connect_refused("+1555", "{\"emailRecipient\":[\"a@example.com\"]}", "must be a string (got an array)");
	connect_refused("+1555", "{\"RecipientName\":{}}",
			"Details.ContactData.Attributes.RecipientName must be a string (got an object)");
	connect_refused("+1555", "{\"tenant\":true}", "Attributes.tenant must be a string (got a boolean)");
	REFUSED("{\"Details\":{\"ContactData\":{\"ContactId\":\"c\",\"CustomerEndpoint\":\"+1555\"}}}",
		"Details.ContactData.CustomerEndpoint must be an object");
	REFUSED("{\"Details\":{\"ContactData\":{\"ContactId\":\"c\",\"CustomerEndpoint\":{\"Address\":1}}}}",
		"CustomerEndpoint.Address must be a string (got a number)");
	/* Connect writes null for an endpoint a contact does not have. */
	job_free(parse_ok("{\"Details\":{\"ContactData\":{\"ContactId\":\"c\",\"CustomerEndpoint\":null,"
			  "\"SystemEndpoint\":null,\"Attributes\":null}}}"));

	/* Each address valid and of sane length. */
	connect_refused("+1555", "{\"emailRecipient\":\"owner@\"}", "emailRecipient: invalid recipient address");
	char *local = repeat('l', 65), *dom = repeat('d', 250);
	assert_true(asprintf(&a, "{\"emailRecipient\":\"%s@example.com\"}", local) > 0);
	connect_refused("+1555", a, "emailRecipient: invalid recipient address");
	connect_refused("+1555", a, "local part too long");
	free(a);
	assert_true(asprintf(&a, "{\"emailRecipient\":\"x@%s.com\"}", dom) > 0);
	connect_refused("+1555", a, "too long");
	free(a);
	free(local);
	free(dom);

	/* Names and attributes. */
	char *n257 = repeat('N', 257);
	assert_true(asprintf(&a, "{\"RecipientName\":\"%s\"}", n257) > 0);
	connect_refused("+1555", a, "Details.ContactData.Attributes.RecipientName is 257 bytes; at most 256 (a name)");
	free(a);
	free(n257);
	char *v = repeat('v', 33000);
	assert_true(asprintf(&a, "{\"blob\":\"%s\"}", v) > 0);
	connect_refused("+1555", a, "Details.ContactData.Attributes is 33004 bytes; at most 32768");
	free(a);
	free(v);
	char attrs[4096] = "{";
	for (int i = 0; i < 101; i++)
		sprintf(attrs + strlen(attrs), "%s\"k%d\":\"v\"", i ? "," : "", i);
	strcat(attrs, "}");
	connect_refused("+1555", attrs, "Details.ContactData.Attributes holds more than 100 attributes");

	/* The same bounds on a job record, named by its paths. */
	REFUSED("{\"id\":\"j\",\"received_at\":\"yesterday\"}",
		"job record field 'received_at' is not an ISO 8601 time");
	REFUSED("{\"id\":\"j\",\"contact\":{\"initial_id\":\"a/b\"}}",
		"job record field 'contact.initial_id' is not a plain id");
	REFUSED("{\"id\":\"j\",\"contact\":{\"region\":\"us east\"}}",
		"job record field 'contact.region' is not a plain name");
	{
		/* What `vmpipe sendmail` reads from a PBX mail is bounded here too. */
		char rec[600] = "{\"id\":\"j\",\"contact\":{\"caller_name\":\"";
		for (int i = 0; i < 300; i++)
			strcat(rec, "n");
		strcat(rec, "\"}}");
		REFUSED(rec, "job record field 'contact.caller_name' is 300 bytes; at most 256 (a name)");
		REFUSED("{\"id\":\"j\",\"contact\":{\"mailbox\":7}}",
			"job record field 'contact.mailbox' must be a string (got a number)");
	}
	REFUSED("{\"id\":\"j\",\"contact\":{\"attributes\":[]}}",
		"job record field 'contact.attributes' must be an object (got an array)");
	REFUSED("{\"id\":\"j\",\"recipient\":{\"email\":\"a@example.com, b@\"}}",
		"job record field 'recipient.email': invalid recipient address");
	REFUSED("{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"awsRegion\":\"x/y\",\"s3\":{"
		"\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":\"k.wav\"}}}]}",
		"Records[0].awsRegion is not a plain name");
	REFUSED("{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{"
		"\"bucket\":{\"name\":\"a/b\"},\"object\":{\"key\":\"k.wav\"}}}]}",
		"Records[0].s3.bucket.name is not an S3 bucket name");
}

static void test_not_an_event(void **s)
{
	(void)s;
	REFUSED("not json at all", "event is not valid JSON (line 1 column", "expected an Amazon Connect");
	REFUSED("{\"Details\": ", "event is not valid JSON");
	REFUSED("", "event is not valid JSON");
	REFUSED("[1,2,3]", "event is not a JSON object", "expected an Amazon Connect contact-flow event",
		"S3 ObjectCreated", "vmpipe job record");
	REFUSED("\"just a string\"", "not valid JSON", "expected an Amazon Connect");
	REFUSED("{\"hello\":\"world\"}", "unrecognised event", "Details.ContactData.ContactId", "Records[].s3");
	REFUSED("{\"id\":\"a\",\"id\":\"b\"}", "not valid JSON", "duplicate");
	/* Text after the object, and an embedded NUL, are not JSON either. */
	REFUSED("{\"id\":\"a\"} trailing", "not valid JSON");
	want_refused("{\"id\":\"a\0\"}", 9, W("not valid JSON"));
	REFUSED("{\"id\":\"a\\u0000b\"}", "not valid JSON");
}

static void test_too_large(void **s)
{
	(void)s;
	/* Valid JSON, just over 1 MiB: refused on size before parsing. */
	size_t n = EVENT_MAX_BYTES + 1;
	char *big = malloc(n + 1);
	assert_non_null(big);
	memset(big, ' ', n);
	memcpy(big, "{\"id\":\"j\"}", 10);
	big[n] = '\0';
	char want[64];
	snprintf(want, sizeof want, "event is %zu bytes; the limit is %d", n, EVENT_MAX_BYTES);
	want_refused(big, n, W(want));
	/* Exactly at the limit is fine. */
	char err[256];
	vm_job *job = event_to_job(big, n - 1, err, sizeof err);
	if (!job)
		fail_msg("an event of exactly %d bytes was refused: %s", EVENT_MAX_BYTES, err);
	job_free(job);
	free(big);
}

int main(void)
{
	log_setup(VM_LOG_ERROR, LOG_FORMAT_TEXT); /* the warnings are expected here */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_fields),
		cmocka_unit_test(test_connect_minimal),
		cmocka_unit_test(test_connect_bad),
		cmocka_unit_test(test_s3_event),
		cmocka_unit_test(test_s3_bad),
		cmocka_unit_test(test_job_record),
		cmocka_unit_test(test_job_record_derived_fields_dropped),
		cmocka_unit_test(test_job_record_bad),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_not_an_event),
		cmocka_unit_test(test_too_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
