/*
 * Unit tests of the SQS client's parts that need no queue
 * (engine/aws/sqs.c): queue URLs, the region they name, and options
 * refused before anything starts.  The client against a queue is tested in
 * tests/integration/test_serve_sqs.py with the strict SQS fake.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"
#include "aws/sqs.h"
#include "testenv.h"

static void test_queue_urls(void **s)
{
	(void)s;
	char err[400];
	const char *good[] = {
		"https://sqs.eu-west-2.amazonaws.com/123456789012/voicemail",
		"https://sqs.us-east-1.amazonaws.com/123456789012/vm_events-1",
		"https://sqs.us-east-1.amazonaws.com/123456789012/voicemail.fifo",
		"http://127.0.0.1:4566/000000000000/local",
		"https://vpce-0a1b-abc.sqs.eu-west-2.vpce.amazonaws.com/123456789012/q",
	};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		if (sqs_url_check(good[i], err, sizeof err) != 0)
			fail_msg("refused %s: %s", good[i], err);
	const struct { const char *url, *why; } bad[] = {
		{"sqs.us-east-1.amazonaws.com/123456789012/q", "must start with https://"},
		{"ftp://sqs.us-east-1.amazonaws.com/123456789012/q", "must start with https://"},
		{"https://sqs.us-east-1.amazonaws.com/voicemail", "not an SQS queue URL"},
		{"https://sqs.us-east-1.amazonaws.com/12345678901/q", "not an SQS queue URL"},
		{"https://sqs.us-east-1.amazonaws.com/123456789012/", "not an SQS queue URL"},
		{"https://sqs.us-east-1.amazonaws.com/123456789012/a/b", "not an SQS queue URL"},
		{"https://sqs.us-east-1.amazonaws.com/123456789012/q?x=1", "not an SQS queue URL"},
		{"https://sqs.us-east-1.amazonaws.com/123456789012/a b", "not an SQS queue URL"},
		{"https:///123456789012/q", "not an SQS queue URL"},
		{"https://sqs.us-east-1.amazonaws.com/123456789012/"
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		 "not an SQS queue URL"}, /* 81 characters */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		err[0] = '\0';
		if (sqs_url_check(bad[i].url, err, sizeof err) == 0)
			fail_msg("accepted %s", bad[i].url);
		assert_contains(err, bad[i].why);
	}
}

static void test_region_from_url(void **s)
{
	(void)s;
	const struct { const char *url, *region; } cases[] = {
		{"https://sqs.eu-west-2.amazonaws.com/123456789012/q", "eu-west-2"},
		{"https://SQS.AP-SOUTHEAST-1.amazonaws.com/123456789012/q", "ap-southeast-1"},
		{"https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q", "cn-north-1"},
		{"https://us-west-1.queue.amazonaws.com/123456789012/q", "us-west-1"},
		{"https://queue.amazonaws.com/123456789012/q", "us-east-1"},
		{"https://sqs.us-gov-west-1.amazonaws.com:443/123456789012/q", "us-gov-west-1"},
	};
	char buf[64];
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		buf[0] = '\0';
		if (sqs_url_region(cases[i].url, buf, sizeof buf) != 0)
			fail_msg("no region in %s", cases[i].url);
		assert_string_equal(buf, cases[i].region);
	}
	const char *none[] = {
		"http://127.0.0.1:4566/000000000000/local",
		"https://vpce-0a1b-abc.sqs.eu-west-2.vpce.amazonaws.com/123456789012/q",
		"https://sqs.amazonaws.com/123456789012/q",
		"https://sqs.not a region.amazonaws.com/123456789012/q",
		"not a url",
	};
	for (size_t i = 0; i < sizeof none / sizeof *none; i++)
		if (sqs_url_region(none[i], buf, sizeof buf) == 0)
			fail_msg("found region '%s' in %s", buf, none[i]);
}

static void test_options_refused_before_starting(void **s)
{
	(void)s;
	char err[400];
	const char *url = "https://sqs.eu-west-2.amazonaws.com/123456789012/q";
	struct sqs_opts o = {.url = url, .wait_ms = 21000, .visibility_ms = 60000};
	assert_null(sqs_new(&o, err, sizeof err));
	assert_contains(err, "the long poll (queue_wait) must be 0 to 20 s");
	o.wait_ms = 20000;
	o.visibility_ms = 500;
	assert_null(sqs_new(&o, err, sizeof err));
	assert_contains(err, "queue_visibility) must be 1 s to 12 h");
	o.visibility_ms = 12LL * 3600 * 1000 + 1;
	assert_null(sqs_new(&o, err, sizeof err));
	o.url = "https://example.com/q";
	o.visibility_ms = 60000;
	assert_null(sqs_new(&o, err, sizeof err));
	assert_contains(err, "not an SQS queue URL");
	sqs_free(NULL, 0);
	assert_int_equal(sqs_fd(NULL), -1);
}

int main(void)
{
	log_setup(VM_LOG_ERROR, LOG_FORMAT_TEXT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_urls),
		cmocka_unit_test(test_region_from_url),
		cmocka_unit_test(test_options_refused_before_starting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
