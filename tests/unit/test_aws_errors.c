/*
 * AWS error parsing (REST-XML with expat, query XML, JSON 1.1, REST-JSON) and
 * the standard retry mode's classification.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/errors.h"
#include "aws/xml.h"

static void parse(enum aws_protocol p, long status, const char *rid, const char *type,
		  const char *body, struct aws_error *e)
{
	assert_int_equal(aws_error_parse(p, status, rid, type, body, body ? strlen(body) : 0, e),
			 0);
}

static void test_s3_no_such_key(void **state)
{
	(void)state;
	struct aws_error e;
	parse(AWS_PROTO_REST_XML, 404, NULL, NULL,
	      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	      "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>"
	      "<Key>ivr/a.wav</Key><RequestId>4442587FB7D0A2F9</RequestId>"
	      "<HostId>abc=</HostId></Error>",
	      &e);
	assert_string_equal(e.code, "NoSuchKey");
	assert_string_equal(e.message, "The specified key does not exist.");
	assert_string_equal(e.request_id, "4442587FB7D0A2F9");
	assert_int_equal(e.status, 404);
	assert_false(e.retryable);
	assert_false(e.throttling);
	aws_error_clear(&e);
}

static void test_s3_slowdown_header_request_id(void **state)
{
	(void)state;
	struct aws_error e;
	parse(AWS_PROTO_REST_XML, 503, "HDRID", NULL,
	      "<Error xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Code>SlowDown</Code>"
	      "<Message>Please reduce your request rate.</Message></Error>",
	      &e);
	assert_string_equal(e.code, "SlowDown");
	assert_string_equal(e.request_id, "HDRID");
	assert_true(e.throttling);
	assert_true(e.retryable);
	aws_error_clear(&e);
}

static void test_query_error_response(void **state)
{
	(void)state;
	struct aws_error e;
	parse(AWS_PROTO_QUERY, 400, NULL, NULL,
	      "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
	      "<Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
	      "<Message>Couldn't retrieve verification key</Message></Error>"
	      "<RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>",
	      &e);
	assert_string_equal(e.code, "InvalidIdentityToken");
	assert_string_equal(e.message, "Couldn't retrieve verification key");
	assert_string_equal(e.request_id, "c6104cbe-af31-11e0-8154-cbc7ccf896c7");
	assert_false(e.retryable);
	aws_error_clear(&e);
}

/* A <Code> that is an object key inside another element is not the error code. */
static void test_xml_code_outside_error_ignored(void **state)
{
	(void)state;
	struct aws_error e;
	parse(AWS_PROTO_REST_XML, 500, NULL, NULL,
	      "<Other><Code>NoSuchKey</Code><Key>&lt;Code&gt;</Key></Other>", &e);
	assert_string_equal(e.code, "InternalError");
	assert_null(e.message);
	assert_true(e.retryable);
	aws_error_clear(&e);
}

/* Found by the fuzz smoke: a <Code> that holds elements (or nothing) gave an
 * empty code; the status names the error instead. */
static void test_xml_empty_or_nested_code_named_by_status(void **state)
{
	(void)state;
	struct aws_error e;
	parse(AWS_PROTO_REST_XML, 404, NULL, NULL,
	      "<Error><Code>NoSuchKeyrror><Code>NoSuchKey</Code><Message>x</Message></Code>"
	      "<Message>The key does not exist.</Message></Error>",
	      &e);
	assert_string_equal(e.code, "NotFound");
	assert_string_equal(e.message, "The key does not exist.");
	aws_error_clear(&e);
	parse(AWS_PROTO_QUERY, 400, NULL, NULL, "<ErrorResponse><Error><Code></Code></Error></ErrorResponse>", &e);
	assert_string_equal(e.code, "BadRequest");
	aws_error_clear(&e);
}

static void test_xml_malformed_and_entities(void **state)
{
	(void)state;
	struct aws_error e;
	parse(AWS_PROTO_REST_XML, 403, NULL, NULL, "<Error><Code>AccessDenied</Cod", &e);
	assert_string_equal(e.code, "Forbidden");
	aws_error_clear(&e);
	parse(AWS_PROTO_REST_XML, 400, NULL, NULL,
	      "<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY x \"AccessDenied\">]>"
	      "<Error><Code>&x;</Code></Error>",
	      &e);
	assert_string_equal(e.code, "BadRequest");
	aws_error_clear(&e);
}

static void test_json11_type(void **state)
{
	(void)state;
	struct aws_error e;
	parse(AWS_PROTO_JSON, 400, "rid-1", NULL,
	      "{\"__type\":\"com.amazonaws.transcribe#ConflictException\","
	      "\"Message\":\"The requested job name already exists.\"}",
	      &e);
	assert_string_equal(e.code, "ConflictException");
	assert_string_equal(e.message, "The requested job name already exists.");
	assert_string_equal(e.request_id, "rid-1");
	assert_false(e.retryable);
	aws_error_clear(&e);

	parse(AWS_PROTO_JSON, 400, NULL, NULL,
	      "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}", &e);
	assert_string_equal(e.code, "ThrottlingException");
	assert_true(e.throttling);
	assert_true(e.retryable);
	aws_error_clear(&e);
}

static void test_rest_json_header_wins(void **state)
{
	(void)state;
	struct aws_error e;
	parse(AWS_PROTO_REST_JSON, 429, NULL,
	      "TooManyRequestsException:http://internal.amazon.com/coral/com.amazonaws.sesv2/",
	      "{\"message\":\"Maximum sending rate exceeded.\"}", &e);
	assert_string_equal(e.code, "TooManyRequestsException");
	assert_string_equal(e.message, "Maximum sending rate exceeded.");
	assert_true(e.throttling);
	aws_error_clear(&e);

	parse(AWS_PROTO_REST_JSON, 400, NULL, NULL,
	      "{\"code\":\"MessageRejected\",\"message\":\"Email address is not verified.\"}", &e);
	assert_string_equal(e.code, "MessageRejected");
	assert_false(e.retryable);
	aws_error_clear(&e);
}

static void test_empty_bodies_named_by_status(void **state)
{
	(void)state;
	static const struct {
		long status;
		const char *code;
		bool retryable;
	} cases[] = {
		{404, "NotFound", false},         {403, "Forbidden", false},
		{500, "InternalError", true},     {502, "BadGateway", true},
		{503, "ServiceUnavailable", true},{504, "GatewayTimeout", true},
		{501, "HTTP 501", false},         {429, "TooManyRequests", true},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct aws_error e;
		for (int p = AWS_PROTO_REST_XML; p <= AWS_PROTO_REST_JSON; p++) {
			parse((enum aws_protocol)p, cases[i].status, NULL, NULL, NULL, &e);
			assert_string_equal(e.code, cases[i].code);
			assert_int_equal(e.retryable, cases[i].retryable);
			aws_error_clear(&e);
		}
	}
}

static void test_retry_lists(void **state)
{
	(void)state;
	static const char *const throttling[] = {
		"Throttling", "ThrottlingException", "ThrottledException",
		"RequestThrottledException", "TooManyRequestsException",
		"ProvisionedThroughputExceededException", "TransactionInProgressException",
		"RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException",
		"RequestThrottled", "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException",
	};
	for (size_t i = 0; i < sizeof throttling / sizeof throttling[0]; i++) {
		struct aws_error e;
		char body[200];
		snprintf(body, sizeof body, "{\"__type\":\"%s\"}", throttling[i]);
		parse(AWS_PROTO_JSON, 400, NULL, NULL, body, &e);
		assert_true(e.throttling);
		assert_true(e.retryable);
		aws_error_clear(&e);
	}
	assert_true(aws_error_code_transient("RequestTimeout"));
	assert_true(aws_error_code_transient("RequestTimeoutException"));
	assert_false(aws_error_code_transient("AccessDenied"));
	assert_false(aws_error_code_throttling("throttling")); /* exact, as the SDKs */
	assert_false(aws_error_code_throttling(NULL));
	assert_false(aws_status_transient(400));
	assert_false(aws_status_transient(501));
}

static void test_xml_text(void **state)
{
	(void)state;
	const char *doc = "<R><A><K>one</K></A><B><K>two &amp; three</K></B></R>";
	char *t = aws_xml_text(doc, strlen(doc), "B", "K");
	assert_string_equal(t, "two & three");
	free(t);
	t = aws_xml_text(doc, strlen(doc), NULL, "K");
	assert_string_equal(t, "one");
	free(t);
	assert_null(aws_xml_text(doc, strlen(doc), NULL, "Z"));
	assert_null(aws_xml_text("<R>", 3, NULL, "R"));
	/* Too deep is refused rather than walked. */
	char deep[2000] = "";
	for (int i = 0; i < 40; i++)
		strcat(deep, "<a>");
	for (int i = 0; i < 40; i++)
		strcat(deep, "</a>");
	assert_null(aws_xml_text(deep, strlen(deep), NULL, "a"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_s3_no_such_key),
		cmocka_unit_test(test_s3_slowdown_header_request_id),
		cmocka_unit_test(test_query_error_response),
		cmocka_unit_test(test_xml_code_outside_error_ignored),
		cmocka_unit_test(test_xml_empty_or_nested_code_named_by_status),
		cmocka_unit_test(test_xml_malformed_and_entities),
		cmocka_unit_test(test_json11_type),
		cmocka_unit_test(test_rest_json_header_wins),
		cmocka_unit_test(test_empty_bodies_named_by_status),
		cmocka_unit_test(test_retry_lists),
		cmocka_unit_test(test_xml_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
