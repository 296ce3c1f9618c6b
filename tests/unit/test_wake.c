/*
 * Unit tests of suspend mode's settings and wake-up messages
 * (engine/runtime/lambda/wake.c): what the SQS message carries, how it is read
 * back, which bodies are refused, the DelaySeconds of a due time, and the
 * environment variables.
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
#include "runtime/lambda/wake.h"
#include "testenv.h"

static const char *const VARS[] = {"VMPIPE_WAKEUP_QUEUE", "VMPIPE_SUSPEND_AFTER", "VMPIPE_WAKEUP_EVENTS",
				   "VMPIPE_WAKEUP_FALLBACK", "VMPIPE_SWEEP_AFTER", "VMPIPE_SWEEP_WINDOW"};

static void clear_env(void)
{
	for (size_t i = 0; i < sizeof VARS / sizeof *VARS; i++)
		unsetenv(VARS[i]);
}

static void test_round_trip(void **s)
{
	(void)s;
	struct wake_msg m = {.job = "c0ffee-1", .tenant = "acme", .due_ms = 1733931005123LL, .attempts = 7};
	char *body = wake_body(&m);
	assert_non_null(body);
	assert_string_equal(body, "{\"vmpipe\":\"wake\",\"v\":1,\"job\":\"c0ffee-1\",\"due_ms\":1733931005123,"
				  "\"attempts\":7,\"tenant\":\"acme\"}");
	struct wake_msg back;
	char why[200];
	assert_int_equal(wake_parse(body, strlen(body), &back, why, sizeof why), 0);
	assert_string_equal(back.job, "c0ffee-1");
	assert_string_equal(back.tenant, "acme");
	assert_int_equal(back.due_ms, 1733931005123LL);
	assert_int_equal(back.attempts, 7);
	free(body);
	/* The base pipeline's job carries no tenant. */
	struct wake_msg base = {.job = "j", .due_ms = 5, .attempts = 0};
	body = wake_body(&base);
	assert_not_contains(body, "tenant");
	assert_int_equal(wake_parse(body, strlen(body), &back, why, sizeof why), 0);
	assert_string_equal(back.tenant, "");
	free(body);
}

static void test_bad_bodies(void **s)
{
	(void)s;
	static const struct {
		const char *body, *why;
	} bad[] = {
		{"not json", "not a JSON object"},
		{"[1]", "not a JSON object"},
		{"{\"Records\":[]}", "not a vmpipe wake-up"},
		{"{\"vmpipe\":\"wake\",\"v\":2,\"job\":\"a\",\"due_ms\":1,\"attempts\":0}", "version"},
		{"{\"vmpipe\":\"wake\",\"v\":1,\"job\":\"../x\",\"due_ms\":1,\"attempts\":0}", "\"job\""},
		{"{\"vmpipe\":\"wake\",\"v\":1,\"due_ms\":1,\"attempts\":0}", "\"job\""},
		{"{\"vmpipe\":\"wake\",\"v\":1,\"job\":\"a\",\"tenant\":\"a/b\",\"due_ms\":1,\"attempts\":0}", "\"tenant\""},
		{"{\"vmpipe\":\"wake\",\"v\":1,\"job\":\"a\",\"tenant\":3,\"due_ms\":1,\"attempts\":0}", "\"tenant\""},
		{"{\"vmpipe\":\"wake\",\"v\":1,\"job\":\"a\",\"due_ms\":\"soon\",\"attempts\":0}", "\"due_ms\""},
		{"{\"vmpipe\":\"wake\",\"v\":1,\"job\":\"a\",\"due_ms\":1,\"attempts\":-1}", "\"attempts\""},
		{"{\"vmpipe\":\"wake\",\"v\":1,\"job\":\"a\",\"job\":\"b\",\"due_ms\":1,\"attempts\":0}", "not a JSON object"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct wake_msg m;
		char why[200] = "";
		assert_int_equal(wake_parse(bad[i].body, strlen(bad[i].body), &m, why, sizeof why), -1);
		assert_contains(why, bad[i].why);
	}
}

static void test_delay_seconds(void **s)
{
	(void)s;
	int64_t now = 1733931005000LL;
	assert_int_equal(wake_delay_s(now - 5000, now), 0);  /* overdue: at once */
	assert_int_equal(wake_delay_s(now, now), 0);
	assert_int_equal(wake_delay_s(now + 1, now), 1);     /* never early: rounded up */
	assert_int_equal(wake_delay_s(now + 20000, now), 20);
	assert_int_equal(wake_delay_s(now + 20001, now), 21);
	assert_int_equal(wake_delay_s(now + 900000, now), 900);
	assert_int_equal(wake_delay_s(now + 3600000, now), 900); /* SQS's limit: chained */
}

static void test_settings(void **s)
{
	(void)s;
	struct wake_cfg c;
	char err[400];
	clear_env();
	assert_int_equal(wake_config(&c, err, sizeof err), 0);
	assert_false(c.on);
	assert_int_equal(c.suspend_after_ms, WAKE_SUSPEND_AFTER_MS);
	assert_int_equal(c.fallback_ms, WAKE_FALLBACK_MS);
	assert_false(c.s3_events || c.transcribe_events);

	setenv("VMPIPE_WAKEUP_QUEUE", "https://sqs.eu-west-2.amazonaws.com/123456789012/vm-wakeup", 1);
	setenv("VMPIPE_SUSPEND_AFTER", "500ms", 1);
	setenv("VMPIPE_WAKEUP_EVENTS", "s3, transcribe", 1);
	setenv("VMPIPE_WAKEUP_FALLBACK", "5m", 1);
	assert_int_equal(wake_config(&c, err, sizeof err), 0);
	assert_true(c.on);
	assert_string_equal(c.region, "eu-west-2");
	assert_int_equal(c.suspend_after_ms, 500);
	assert_int_equal(c.fallback_ms, 300000);
	assert_true(c.s3_events && c.transcribe_events);

	setenv("VMPIPE_WAKEUP_EVENTS", "transcribe", 1);
	assert_int_equal(wake_config(&c, err, sizeof err), 0);
	assert_true(!c.s3_events && c.transcribe_events);
	/* A local endpoint names no region: the environment's is used. */
	setenv("VMPIPE_WAKEUP_QUEUE", "http://127.0.0.1:4566/123456789012/q", 1);
	assert_int_equal(wake_config(&c, err, sizeof err), 0);
	assert_string_equal(c.region, "");
	clear_env();
}

static void test_bad_settings(void **s)
{
	(void)s;
	static const struct {
		const char *var, *value, *why;
	} bad[] = {
		{"VMPIPE_WAKEUP_QUEUE", "vm-wakeup", "VMPIPE_WAKEUP_QUEUE"},
		{"VMPIPE_WAKEUP_QUEUE", "https://sqs.us-east-1.amazonaws.com/vm-wakeup", "VMPIPE_WAKEUP_QUEUE"},
		{"VMPIPE_SUSPEND_AFTER", "soon", "VMPIPE_SUSPEND_AFTER"},
		{"VMPIPE_SUSPEND_AFTER", "16m", "VMPIPE_SUSPEND_AFTER"},
		{"VMPIPE_WAKEUP_EVENTS", "s3,sns", "\"sns\""},
		{"VMPIPE_WAKEUP_FALLBACK", "100ms", "VMPIPE_WAKEUP_FALLBACK"},
		{"VMPIPE_SWEEP_AFTER", "500ms", "VMPIPE_SWEEP_AFTER"},
		{"VMPIPE_SWEEP_WINDOW", "30s", "VMPIPE_SWEEP_WINDOW"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct wake_cfg c;
		char err[400] = "";
		clear_env();
		setenv(bad[i].var, bad[i].value, 1);
		assert_int_equal(wake_config(&c, err, sizeof err), -1);
		assert_contains(err, bad[i].why);
	}
	clear_env();
}

int main(void)
{
	log_setup(VM_LOG_ERROR, LOG_FORMAT_TEXT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_bodies),
		cmocka_unit_test(test_delay_seconds),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_bad_settings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
