/*
 * Unit tests of engine/core/retry.c: what a retry does to a failed record,
 * and the notification rounds it starts (job.c: vm_job_notified and the
 * notification key per round).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/exits.h"
#include "core/job.h"
#include "core/retry.h"
#include "testenv.h"

static vm_job *record(const char *json)
{
	char err[256];
	vm_job *job = job_from_string(json, err, sizeof err);
	if (!job)
		fail_msg("bad record: %s", err);
	return job;
}

/* Told "could not be found": the notifiers run again, as round 1. */
static void test_owner_told_gets_a_follow_up(void **s)
{
	(void)s;
	clock_use_fake(1733931005000LL);
	vm_job *job = record("{\"id\":\"j1\",\"state\":\"failed\",\"outcome\":\"no_recording\","
			     "\"stages\":{\"locate\":\"failed\",\"transcribe\":\"skipped\",\"notify\":\"done\","
			     "\"notify.archive\":\"done\"},"
			     "\"recording\":{\"error\":\"recording not found\"},"
			     "\"transcript\":{\"status\":\"skipped\",\"error\":\"no recording\"},"
			     "\"notifications\":[{\"stage\":\"notify\",\"transport\":\"file\","
			     "\"message_id\":\"<a@x>\",\"sent_at\":\"t\"}]}");
	job->stage = "notify";
	char key0[33], key1[33];
	vm_job_notification_key(job, key0, sizeof key0);
	assert_string_equal(vm_job_notified(job), "<a@x>");

	assert_true(retry_prepare(job));
	assert_int_equal(job_round(job), 1);
	/* Locate and transcribe run again; the notifiers are "told": they send
	 * a follow-up when the recording is found (step.c). */
	json_t *st = job_get(job, "stages");
	assert_int_equal(json_object_size(st), 2);
	assert_string_equal(json_string_value(json_object_get(st, "notify")), "told");
	assert_string_equal(json_string_value(json_object_get(st, "notify.archive")), "told");
	assert_null(vm_job_get_str(job, "recording.error"));
	assert_null(vm_job_get_str(job, "transcript.status"));
	assert_null(vm_job_get_str(job, "outcome"));
	/* Round 1: nothing sent yet, under a key of its own. */
	assert_null(vm_job_notified(job));
	vm_job_notification_key(job, key1, sizeof key1);
	assert_string_not_equal(key0, key1);
	assert_int_equal(vm_job_add_notification(job, "file", "<b@x>"), 0);
	assert_string_equal(vm_job_notified(job), "<b@x>");
	json_t *n = json_array_get(job_get(job, "notifications"), 1);
	assert_int_equal(json_integer_value(json_object_get(n, "round")), 1);
	/* The first round's entry is kept, without a round (0). */
	assert_null(json_object_get(json_array_get(job_get(job, "notifications"), 0), "round"));
	job->stage = NULL;
	job_free(job);
	clock_set(NULL);
}

/* A notifier failed (owner not told): only what failed runs again. */
static void test_owner_not_told_runs_what_failed(void **s)
{
	(void)s;
	vm_job *job = record("{\"id\":\"j2\",\"state\":\"failed\",\"outcome\":\"not_notified\","
			     "\"stages\":{\"locate\":\"done\",\"transcribe\":\"done\",\"notify\":\"done\","
			     "\"notify.sms\":\"failed\",\"notify.chat\":\"sending\"}}");
	assert_false(retry_prepare(job));
	assert_int_equal(job_round(job), 0);
	json_t *st = job_get(job, "stages");
	assert_string_equal(json_string_value(json_object_get(st, "locate")), "done");
	assert_string_equal(json_string_value(json_object_get(st, "notify")), "done");
	assert_string_equal(json_string_value(json_object_get(st, "notify.chat")), "sending");
	assert_null(json_object_get(st, "notify.sms"));
	assert_null(job_get(job, "round"));
	job_free(job);
}

/* Locate failed but no notifier finished (the owner heard nothing): no follow-up. */
static void test_no_notifier_done_is_no_follow_up(void **s)
{
	(void)s;
	vm_job *job = record("{\"id\":\"j3\",\"state\":\"failed\",\"stages\":{\"locate\":\"failed\","
			     "\"notify\":\"failed\"}}");
	assert_false(retry_prepare(job));
	assert_int_equal(json_object_size(job_get(job, "stages")), 0);
	assert_int_equal(job_round(job), 0);
	job_free(job);
}

/* A second late retry makes round 2. */
static void test_rounds_count_up(void **s)
{
	(void)s;
	vm_job *job = record("{\"id\":\"j4\",\"round\":1,\"stages\":{\"locate\":\"failed\",\"notify\":\"done\"}}");
	assert_true(retry_prepare(job));
	assert_int_equal(job_round(job), 2);
	job_free(job);
	assert_string_equal(job_outcome_name(EXIT_DONE), "done");
	assert_string_equal(job_outcome_name(EXIT_NO_RECORDING), "no_recording");
	assert_string_equal(job_outcome_name(EXIT_UNAVAILABLE), "not_notified");
	assert_string_equal(job_outcome_name(EXIT_TEMPFAIL), "not_notified");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner_told_gets_a_follow_up),
		cmocka_unit_test(test_owner_not_told_runs_what_failed),
		cmocka_unit_test(test_no_notifier_done_is_no_follow_up),
		cmocka_unit_test(test_rounds_count_up),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
