/*
 * Unit tests of the job record (engine/core/job.c): dotted paths, typed getters
 * and setters, the errors list, notifier idempotency and the outcome the
 * status helpers leave for the scheduler.
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
#include "core/job.h"
#include "testenv.h"

static void test_new_record(void **s)
{
	(void)s;
	clock_use_fake(1733931005000LL); /* 2024-12-11T15:30:05Z */
	vm_job *job = job_new("j-1");
	assert_non_null(job);
	assert_string_equal(vm_job_id(job), "j-1");
	assert_string_equal(vm_job_get_str(job, "state"), "pending");
	assert_string_equal(vm_job_get_str(job, "received_at"), "2024-12-11T15:30:05Z");
	assert_true(json_is_array(job_get(job, "notifications")));
	assert_true(json_is_array(job_get(job, "errors")));
	char *json = vm_job_to_json(job);
	assert_contains(json, "\"id\":\"j-1\"");
	assert_not_contains(json, "\n"); /* compact */
	free(json);
	job_free(job);
	clock_set(NULL);
}

static void test_dotted_paths(void **s)
{
	(void)s;
	vm_job *job = job_new("j");
	assert_int_equal(vm_job_set_str(job, "contact.caller", "+1555"), 0);
	assert_int_equal(vm_job_set_str(job, "a.b.c.d", "deep"), 0); /* objects made on the way */
	assert_string_equal(vm_job_get_str(job, "contact.caller"), "+1555");
	assert_string_equal(vm_job_get_str(job, "a.b.c.d"), "deep");
	assert_true(json_is_object(job_get(job, "a.b.c")));
	assert_null(vm_job_get_str(job, "a.b.c"));   /* an object is not a string */
	assert_null(vm_job_get_str(job, "a.b.x.d")); /* absent on the way */
	assert_null(vm_job_get_str(job, "nothing"));
	/* Overwrite, then remove with NULL. */
	assert_int_equal(vm_job_set_str(job, "contact.caller", "+1666"), 0);
	assert_string_equal(vm_job_get_str(job, "contact.caller"), "+1666");
	assert_int_equal(vm_job_set_str(job, "contact.caller", NULL), 0);
	assert_null(job_get(job, "contact.caller"));
	assert_non_null(job_get(job, "contact")); /* the parent stays */
	/* Removing something absent changes nothing; a missing parent is not created. */
	assert_int_equal(vm_job_set_str(job, "contact.nothing", NULL), 0);
	vm_job_set_str(job, "ghost.nothing", NULL);
	assert_null(job_get(job, "ghost"));
	/* Malformed paths. */
	assert_int_equal(vm_job_set_str(job, "", "x"), -1);
	assert_int_equal(vm_job_set_str(job, "a.", "x"), -1);
	assert_int_equal(vm_job_set_str(job, ".a", "x"), -1);
	assert_int_equal(vm_job_set_str(job, "a..b", "x"), -1);
	assert_null(job_get(job, ""));
	assert_null(job_get(job, "a."));
	/* A path component longer than the engine's key buffer is refused, not cut. */
	char longpath[400];
	memset(longpath, 'k', 300);
	snprintf(longpath + 300, sizeof longpath - 300, ".leaf");
	assert_int_equal(vm_job_set_str(job, longpath, "x"), -1);
	job_free(job);
}

static void test_set_through_non_object(void **s)
{
	(void)s;
	vm_job *job = job_new("j");
	assert_int_equal(vm_job_set_str(job, "contact", "a string"), 0);
	assert_int_equal(vm_job_set_str(job, "contact.caller", "+1555"), -1);
	assert_int_equal(vm_job_set_int(job, "contact.n", 1), -1);
	assert_int_equal(vm_job_set_bool(job, "errors.x", true), -1); /* an array */
	assert_int_equal(vm_job_set_num(job, "id.x", 1.5), -1);
	assert_string_equal(vm_job_get_str(job, "contact"), "a string"); /* untouched */
	assert_null(vm_job_get_str(job, "contact.caller"));
	int64_t v;
	assert_false(vm_job_get_int(job, "contact.n", &v));
	job_free(job);
}

static void test_types(void **s)
{
	(void)s;
	vm_job *job = job_new("j");
	int64_t i = 0;
	double d = 0;
	assert_int_equal(vm_job_set_int(job, "n.int", -9000000000LL), 0);
	assert_true(vm_job_get_int(job, "n.int", &i));
	assert_true(i == -9000000000LL);
	assert_int_equal(vm_job_set_num(job, "n.real", 2.75), 0);
	assert_true(vm_job_get_num(job, "n.real", &d));
	assert_true(d == 2.75);
	assert_true(vm_job_get_int(job, "n.real", &i)); /* truncated */
	assert_int_equal(i, 2);
	assert_true(vm_job_get_num(job, "n.int", &d));
	assert_true(d == -9000000000.0);
	/* Numeric strings (an attribute from Connect is always a string). */
	vm_job_set_str(job, "n.s", "42");
	assert_true(vm_job_get_int(job, "n.s", &i));
	assert_int_equal(i, 42);
	vm_job_set_str(job, "n.f", "1.5");
	assert_false(vm_job_get_int(job, "n.f", &i));
	assert_true(vm_job_get_num(job, "n.f", &d));
	assert_true(d == 1.5);
	vm_job_set_str(job, "n.bad", "12abc");
	assert_false(vm_job_get_int(job, "n.bad", &i));
	assert_false(vm_job_get_num(job, "n.bad", &d));
	vm_job_set_str(job, "n.empty", "");
	assert_false(vm_job_get_int(job, "n.empty", &i));
	assert_false(vm_job_get_num(job, "n.empty", &d));
	assert_false(vm_job_get_int(job, "n.absent", &i));
	/* Booleans: the default only when absent or not a boolean. */
	vm_job_set_bool(job, "b.t", true);
	vm_job_set_bool(job, "b.f", false);
	assert_true(vm_job_get_bool(job, "b.t", false));
	assert_false(vm_job_get_bool(job, "b.f", true));
	assert_true(vm_job_get_bool(job, "b.absent", true));
	assert_false(vm_job_get_bool(job, "n.s", false)); /* "42" is not a boolean */
	/* Not UTF-8: refused, the old value stays. */
	vm_job_set_str(job, "t.name", "ok");
	assert_int_equal(vm_job_set_str(job, "t.name", "bad \xff\xfe bytes"), -1);
	assert_string_equal(vm_job_get_str(job, "t.name"), "ok");
	assert_int_equal(vm_job_set_str(job, "t.utf8", "Zoë 日本"), 0);
	assert_string_equal(vm_job_get_str(job, "t.utf8"), "Zoë 日本");
	job_free(job);
}

static void test_from_string(void **s)
{
	(void)s;
	char err[256] = "";
	vm_job *job = job_from_string("{\"id\":\"x\",\"contact\":{\"caller\":\"+1\"}}", err, sizeof err);
	assert_non_null(job);
	assert_string_equal(vm_job_get_str(job, "contact.caller"), "+1");
	job_free(job);
	assert_null(job_from_string("[1]", err, sizeof err));
	assert_contains(err, "a job record is a JSON object");
	assert_null(job_from_string("{\"id\":", err, sizeof err));
	assert_contains(err, "line 1 column");
	assert_null(job_from_string("{\"a\":1,\"a\":2}", err, sizeof err));
	assert_contains(err, "duplicate");
	assert_null(job_from_json(json_array())); /* takes ownership, frees it */
}

static void test_errors_list(void **s)
{
	(void)s;
	clock_use_fake(1733931005000LL);
	vm_job *job = job_new("j");
	job_add_error(job, "locate", "transient", "HTTP 503 from s3");
	job_add_error(job, NULL, "permanent", "bad \xff message"); /* not UTF-8 */
	json_t *errs = job_get(job, "errors");
	assert_int_equal(json_array_size(errs), 2);
	json_t *e = json_array_get(errs, 0);
	assert_string_equal(json_string_value(json_object_get(e, "stage")), "locate");
	assert_string_equal(json_string_value(json_object_get(e, "kind")), "transient");
	assert_string_equal(json_string_value(json_object_get(e, "message")), "HTTP 503 from s3");
	assert_string_equal(json_string_value(json_object_get(e, "at")), "2024-12-11T15:30:05Z");
	e = json_array_get(errs, 1);
	assert_string_equal(json_string_value(json_object_get(e, "stage")), "engine");
	assert_contains(json_string_value(json_object_get(e, "message")), "not valid UTF-8");
	/* A record whose errors is missing gets the list made. */
	json_object_del(job->rec, "errors");
	job_add_error(job, "notify", "timeout", "timed out");
	assert_int_equal(json_array_size(job_get(job, "errors")), 1);
	job_free(job);
	clock_set(NULL);
}

static void test_notifications(void **s)
{
	(void)s;
	clock_use_fake(1733931005000LL);
	vm_job *job = job_new("j");
	job->stage = NULL;
	assert_null(vm_job_notified(job)); /* no running stage: nothing to say */
	job->stage = "notify";
	assert_null(vm_job_notified(job));
	assert_int_equal(vm_job_add_notification(job, "smtp", "<m1@example.com>"), 0);
	assert_string_equal(vm_job_notified(job), "<m1@example.com>");
	/* Per stage: another notifier has not sent yet. */
	job->stage = "notify.archive";
	assert_null(vm_job_notified(job));
	assert_int_equal(vm_job_add_notification(job, "file", "<m2@example.com>"), 0);
	assert_string_equal(vm_job_notified(job), "<m2@example.com>");
	job->stage = "notify";
	assert_string_equal(vm_job_notified(job), "<m1@example.com>");
	json_t *list = job_get(job, "notifications");
	assert_int_equal(json_array_size(list), 2);
	json_t *n = json_array_get(list, 1);
	assert_string_equal(json_string_value(json_object_get(n, "stage")), "notify.archive");
	assert_string_equal(json_string_value(json_object_get(n, "transport")), "file");
	assert_string_equal(json_string_value(json_object_get(n, "message_id")), "<m2@example.com>");
	assert_string_equal(json_string_value(json_object_get(n, "sent_at")), "2024-12-11T15:30:05Z");
	/* Survives a round trip through JSON (a resumed job). */
	char *text = vm_job_to_json(job);
	char err[128];
	vm_job *again = job_from_string(text, err, sizeof err);
	free(text);
	assert_non_null(again);
	again->stage = "notify.archive";
	assert_string_equal(vm_job_notified(again), "<m2@example.com>");
	job_free(again);
	job_free(job);
	clock_set(NULL);
}

/* A notification's key: the same for a job id and stage on every attempt
 * (and in every process), different for another stage or job. */
/* sha256("vmpipe-notification\0job-1\0notify"), first 32 hex digits (sha256sum). */
#define KEY_JOB1_NOTIFY "f421d8a117d7b4bc30e973090d1d66a0"

static void test_notification_key(void **s)
{
	(void)s;
	vm_job *a = job_new("job-1"), *b = job_new("job-1"), *c = job_new("job-2");
	char ka[33], kb[33], kc[33], kd[33];
	a->stage = b->stage = c->stage = "notify";
	vm_job_notification_key(a, ka, sizeof ka);
	vm_job_notification_key(b, kb, sizeof kb);
	vm_job_notification_key(c, kc, sizeof kc);
	b->stage = "notify.archive";
	vm_job_notification_key(b, kd, sizeof kd);
	assert_int_equal(strlen(ka), 32);
	assert_int_equal(strspn(ka, "0123456789abcdef"), 32);
	assert_string_equal(ka, kb);
	assert_string_not_equal(ka, kc);
	assert_string_not_equal(ka, kd);
	/* Fixed: a stored Message-ID must still match after an upgrade. */
	assert_string_equal(ka, KEY_JOB1_NOTIFY);
	assert_false(vm_job_maybe_sent(a));
	job_free(a);
	job_free(b);
	job_free(c);
}

static void test_outcome(void **s)
{
	(void)s;
	vm_job *job = job_new("j");
	assert_int_equal(vm_done(job), VM_DONE);
	assert_int_equal(vm_retry(job, 2500), VM_RETRY);
	assert_int_equal(job->retry_ms, 2500);
	assert_int_equal(vm_retry(job, -5), VM_RETRY);
	assert_int_equal(job->retry_ms, 0); /* never negative */
	assert_int_equal(vm_fail(job, VM_TRANSIENT, "HTTP %d from %s", 503, "s3"), VM_TRANSIENT);
	assert_int_equal(job->fail_kind, VM_TRANSIENT);
	assert_string_equal(job->fail_msg, "HTTP 503 from s3");
	assert_int_equal(vm_fail(job, VM_PERMANENT, "denied"), VM_PERMANENT);
	assert_string_equal(job->fail_msg, "denied"); /* replaced, not leaked */
	/* Anything but TRANSIENT is a permanent failure: a plugin cannot fail "successfully". */
	assert_int_equal(vm_fail(job, VM_DONE, "odd"), VM_PERMANENT);
	assert_int_equal(vm_fail(job, VM_RETRY, "odd"), VM_PERMANENT);
	assert_int_equal(job->fail_kind, VM_PERMANENT);
	job_reset_outcome(job);
	assert_null(job->fail_msg);
	assert_int_equal(job->retry_ms, 0);
	assert_int_equal(job->fail_kind, VM_DONE);
	job_free(job);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_record),
		cmocka_unit_test(test_dotted_paths),
		cmocka_unit_test(test_set_through_non_object),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_from_string),
		cmocka_unit_test(test_errors_list),
		cmocka_unit_test(test_notifications),
		cmocka_unit_test(test_outcome),
		cmocka_unit_test(test_notification_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
