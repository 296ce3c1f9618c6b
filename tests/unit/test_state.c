/*
 * Unit tests of job checkpoints (engine/core/state.c), directory backend, with the
 * flaky test stages (tests/plugins/flaky.h): they count their calls in the
 * record, so a resumed run shows exactly which stages ran again.
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
#include "core/log.h"
#include "core/pipeline.h"
#include "core/sched.h"
#include "core/state.h"
#include "testenv.h"
#include "core/util.h"

#define T0 1733931005000LL

static char *tmp, *plugdir;

static int group_setup(void **s)
{
	(void)s;
	log_setup(VM_LOG_ERROR, LOG_FORMAT_TEXT);
	tmp = test_tmpdir("state");
	plugdir = tmp ? test_plugin_dir(tmp) : NULL;
	return plugdir ? 0 : -1;
}

static int group_teardown(void **s)
{
	(void)s;
	clock_set(NULL);
	test_rmtree(tmp);
	free(tmp);
	free(plugdir);
	return 0;
}

/* A fresh directory for one test, so checkpoints of one never meet another's. */
static char *case_dir(const char *name)
{
	char *d = malloc(PATH_MAX);
	snprintf(d, PATH_MAX, "%s/%s", tmp, name);
	test_rmtree(d);
	assert_int_equal(mkdir(d, 0700), 0);
	return d;
}

/* pipeline_load() of `text` in `dir`; NULL with the messages in msgs. */
static struct pipeline *try_load(const char *dir, const char *text, char *msgs, size_t size)
{
	char *path = test_write(dir, "p.ini", text);
	struct diag d = {0};
	struct pipeline *p = pipeline_load(path, plugdir, true, &d);
	test_joined(&d, msgs, size);
	diag_free(&d);
	free(path);
	clock_use_fake(T0);
	return p;
}

static struct pipeline *load(const char *dir, const char *text)
{
	char msgs[4096];
	struct pipeline *p = try_load(dir, text, msgs, sizeof msgs);
	if (!p)
		fail_msg("pipeline refused:\n%s\n%s", msgs, text);
	return p;
}

static int64_t geti(const vm_job *job, const char *path)
{
	int64_t v;
	if (!vm_job_get_int(job, path, &v))
		fail_msg("%s is absent from the record", path);
	return v;
}

static void want_str(const vm_job *job, const char *path, const char *want)
{
	const char *got = vm_job_get_str(job, path);
	if (!got || strcmp(got, want) != 0)
		fail_msg("%s = %s; expected \"%s\"", path, got ? got : "(absent)", want);
}

/* The stored checkpoint of `id` in `dir`/ckpt, parsed (caller frees). */
static vm_job *stored(const char *dir, const char *id)
{
	char path[PATH_MAX], err[200];
	snprintf(path, sizeof path, "%s/ckpt/%s.json", dir, id);
	char *text;
	size_t len;
	if (read_file(path, 1 << 20, &text, &len) != 0)
		fail_msg("no checkpoint at %s", path);
	vm_job *job = job_from_string(text, err, sizeof err);
	free(text);
	if (!job)
		fail_msg("checkpoint %s: %s", path, err);
	return job;
}

#define PIPE "[pipeline]\ntimeout = 1m\nretry_base = 1s\nretry_cap = 4s\nstate = ckpt\n"
#define LOC "[locate]\nplugin = test-flaky-locate\n"
#define TR "[transcribe]\nplugin = test-flaky-transcribe\n"
#define NOTIFY "[notify]\nplugin = test-flaky\n"

static void test_round_trip(void **s)
{
	(void)s;
	char *dir = case_dir("roundtrip");
	struct pipeline *p = load(dir, PIPE LOC NOTIFY);
	assert_true(state_enabled(p));
	vm_job *job = job_new("rt-1"), *back = NULL;
	vm_job_set_str(job, "contact.caller", "+15555550123");
	vm_job_set_str(job, "transcript.text", "caf\xc3\xa9 \"quoted\"\n");
	job_add_error(job, "locate", "transient", "HTTP 503");

	assert_int_equal(state_load(p, job, "rt-1", &back), 0); /* nothing stored yet */
	assert_null(back);
	assert_int_equal(state_save(p, NULL, job), 0);
	assert_int_equal(state_load(p, NULL, "rt-1", &back), 1);
	assert_non_null(back);
	assert_true(json_equal(job->rec, back->rec));
	job_free(back);

	/* Saved again after a change: the newer record wins. */
	vm_job_set_str(job, "state", "done");
	assert_int_equal(state_save(p, NULL, job), 0);
	assert_int_equal(state_load(p, NULL, "rt-1", &back), 1);
	want_str(back, "state", "done");
	job_free(back);
	/* Relative to the pipeline file, created at load. */
	vm_job *file = stored(dir, "rt-1");
	want_str(file, "contact.caller", "+15555550123");
	job_free(file);
	job_free(job);
	pipeline_free(p);
	free(dir);
}

/* A claim that wrote no checkpoint leaves no ID.lock behind; one that found
 * the job busy leaves the holder's lock alone (removing it would let a third
 * runner lock a new file while the holder still runs). */
static void test_lock_files(void **s)
{
	(void)s;
	char *dir = case_dir("locks");
	struct pipeline *p = load(dir, PIPE LOC NOTIFY);
	char lock[PATH_MAX];
	snprintf(lock, sizeof lock, "%s/ckpt/lk-1.lock", dir);
	struct claim *a = NULL, *b = NULL;
	vm_job *got = NULL;
	assert_int_equal(state_claim(p, NULL, "lk-1", "a", 0, &a, &got), STATE_OK);
	assert_null(got);
	assert_int_equal(access(lock, F_OK), 0);
	assert_int_equal(state_claim(p, NULL, "lk-1", "b", 0, &b, &got), STATE_BUSY);
	assert_int_equal(access(lock, F_OK), 0); /* still the holder's */
	state_release(p, a, NULL);
	assert_int_not_equal(access(lock, F_OK), 0); /* nothing saved: nothing kept */
	/* With a checkpoint, the lock stays beside it. */
	vm_job *job = job_new("lk-1");
	assert_int_equal(state_claim(p, job, "lk-1", "a", 0, &a, &got), STATE_OK);
	assert_int_equal(state_save(p, a, job), STATE_OK);
	state_release(p, a, job);
	assert_int_equal(access(lock, F_OK), 0);
	job_free(job);
	pipeline_free(p);
	free(dir);
}

static void test_off_without_state(void **s)
{
	(void)s;
	char *dir = case_dir("off");
	struct pipeline *p = load(dir, "[pipeline]\nstate =\n" LOC NOTIFY);
	assert_false(state_enabled(p));
	vm_job *job = job_new("off-1"), *back = NULL;
	assert_int_equal(state_save(p, NULL, job), 0);
	assert_int_equal(state_load(p, job, "off-1", &back), 0);
	assert_int_equal(job_run(p, &job, 0), EXIT_DONE);
	assert_int_equal(job_run(p, &job, 0), EXIT_DONE); /* no checkpoint: runs again */
	assert_int_equal(geti(job, "test.notify.calls"), 1); /* stages of the same record */
	assert_int_equal(json_array_size(job_get(job, "notifications")), 1);
	job_free(job);
	pipeline_free(p);
	free(dir);
}

/* The same event twice: the second run is answered from the checkpoint. */
static void test_done_short_circuits(void **s)
{
	(void)s;
	char *dir = case_dir("done");
	struct pipeline *p = load(dir, PIPE LOC TR NOTIFY);
	vm_job *job = job_new("done-1");
	assert_int_equal(job_run(p, &job, 0), EXIT_DONE);
	want_str(job, "state", "done");
	job_free(job);

	vm_job *again = job_new("done-1");
	vm_job_set_str(again, "marker", "from the second event");
	vm_job *passed = again;
	assert_int_equal(job_run(p, &again, 0), EXIT_DONE);
	assert_ptr_not_equal(again, passed); /* the stored record came back */
	assert_null(vm_job_get_str(again, "marker")); /* nothing merged from the event */
	want_str(again, "state", "done");
	assert_int_equal(geti(again, "test.locate.calls"), 1);
	assert_int_equal(geti(again, "test.transcribe.calls"), 1);
	assert_int_equal(geti(again, "test.notify.calls"), 1);
	assert_int_equal(json_array_size(job_get(again, "notifications")), 1);
	assert_int_equal(geti(again, "attempts"), 3); /* nothing ran */
	job_free(again);
	pipeline_free(p);
	free(dir);
}

/* A second notifier failed for good: the retry runs only that one. */
static void test_half_done_resumes(void **s)
{
	(void)s;
	char *dir = case_dir("half");
	struct pipeline *p = load(dir, PIPE LOC TR NOTIFY
				  "[notify.b]\nplugin = test-flaky\nmode = permanent\ntimes = 1\n");
	vm_job *job = job_new("half-1");
	assert_int_equal(job_run(p, &job, 0), EXIT_UNAVAILABLE);
	job_free(job);

	vm_job *file = stored(dir, "half-1");
	want_str(file, "state", "failed");
	want_str(file, "stages.notify", "done");
	assert_string_equal(json_string_value(json_object_get(job_get(file, "stages"), "notify.b")),
			    "failed");
	assert_int_equal(json_array_size(job_get(file, "notifications")), 1);
	job_free(file);

	vm_job *again = job_new("half-1");
	assert_int_equal(job_run(p, &again, 0), EXIT_DONE);
	want_str(again, "state", "done");
	/* Its recording is a local file: located again on resume (a checkpoint
	 * is no authority for a path, state_prepare_resume). */
	assert_int_equal(geti(again, "test.locate.calls"), 2);
	assert_int_equal(geti(again, "test.transcribe.calls"), 1);
	assert_int_equal(geti(again, "test.notify.calls"), 1); /* not mailed again */
	assert_int_equal(geti(again, "test.notify_b.calls"), 2);
	assert_int_equal(json_array_size(job_get(again, "notifications")), 2);
	assert_int_equal(json_array_size(job_get(again, "errors")), 1); /* history kept */
	job_free(again);

	file = stored(dir, "half-1");
	want_str(file, "state", "done");
	job_free(file);
	pipeline_free(p);
	free(dir);
}

/* Checkpoints saved after every stage: a crash after locate resumes at transcribe. */
static void test_saved_after_each_stage(void **s)
{
	(void)s;
	char *dir = case_dir("each");
	/* The notifier never succeeds before the deadline: its checkpoint shows
	 * locate and transcribe done. */
	struct pipeline *p = load(dir, "[pipeline]\ntimeout = 10s\nnotify_grace = 5s\nstate = ckpt\n"
				  LOC TR "[notify]\nplugin = test-flaky\nmode = transient\ntimes = -1\n");
	vm_job *job = job_new("each-1");
	assert_int_equal(job_run(p, &job, 0), EXIT_TEMPFAIL);
	job_free(job);
	vm_job *file = stored(dir, "each-1");
	want_str(file, "stages.locate", "done");
	want_str(file, "stages.transcribe", "done");
	want_str(file, "stages.notify", "failed");
	want_str(file, "state", "failed");
	job_free(file);
	pipeline_free(p);
	free(dir);
}

/* The state directory disappears under a running pipeline: the job still ends done. */
static void test_save_failure_does_not_fail_the_job(void **s)
{
	(void)s;
	char *dir = case_dir("savefail");
	struct pipeline *p = load(dir, PIPE LOC TR NOTIFY);
	char ck[PATH_MAX];
	snprintf(ck, sizeof ck, "%s/ckpt", dir);
	test_rmtree(ck);
	free(test_write(dir, "ckpt", "a file where the directory was\n")); /* ENOTDIR, even for root */
	vm_job *job = job_new("sf-1");
	assert_int_equal(state_save(p, NULL, job), -1);
	assert_int_equal(job_run(p, &job, 0), EXIT_DONE);
	want_str(job, "state", "done");
	assert_int_equal(json_array_size(job_get(job, "notifications")), 1);
	job_free(job);
	pipeline_free(p);
	free(dir);
}

/* A checkpoint that is not a record of this job is ignored, then overwritten. */
static void test_unusable_checkpoint_is_ignored(void **s)
{
	(void)s;
	char *dir = case_dir("corrupt");
	struct pipeline *p = load(dir, PIPE LOC NOTIFY);
	char ck[PATH_MAX];
	snprintf(ck, sizeof ck, "%s/ckpt", dir);
	free(test_write(ck, "bad-1.json", "{not json"));
	free(test_write(ck, "other-1.json", "{\"id\":\"someone-else\",\"state\":\"done\"}"));
	vm_job *back = NULL;
	assert_int_equal(state_load(p, NULL, "bad-1", &back), -1);
	assert_int_equal(state_load(p, NULL, "other-1", &back), -1);
	assert_null(back);
	vm_job *job = job_new("other-1");
	assert_int_equal(job_run(p, &job, 0), EXIT_DONE);
	assert_int_equal(geti(job, "test.notify.calls"), 1); /* it ran */
	job_free(job);
	vm_job *file = stored(dir, "other-1");
	want_str(file, "id", "other-1");
	want_str(file, "state", "done");
	job_free(file);
	pipeline_free(p);
	free(dir);
}

static void refused(const char *dir, const char *state_line, const char *want)
{
	char text[1024], msgs[4096];
	snprintf(text, sizeof text, "[pipeline]\n%s\n" LOC NOTIFY, state_line);
	struct pipeline *p = try_load(dir, text, msgs, sizeof msgs);
	if (p) {
		pipeline_free(p);
		fail_msg("accepted: %s", state_line);
	}
	assert_contains(msgs, "[pipeline] state");
	assert_contains(msgs, want);
}

static void test_bad_settings_are_config_errors(void **s)
{
	(void)s;
	char *dir = case_dir("bad");
	free(test_write(dir, "plainfile", "x"));
	refused(dir, "state = plainfile/sub", "cannot be created");
	refused(dir, "state = s3://", "valid bucket name");
	refused(dir, "state = s3://No_Such_Bucket/vm", "valid bucket name");
	refused(dir, "state = s3://ab/vm", "valid bucket name");
	refused(dir, "state = s3://bucket//vm", "must not start with '/'");
	refused(dir, "state = ftp://host/dir", "s3://BUCKET/PREFIX");
	/* Well-formed S3 settings load without touching the network. */
	const char *good[] = {"state = s3://vm-state/jobs/", "state = s3://vm.state-1", NULL};
	for (int i = 0; good[i]; i++) {
		char text[512];
		snprintf(text, sizeof text, "[pipeline]\n%s\n" LOC NOTIFY, good[i]);
		struct pipeline *p = load(dir, text);
		assert_true(state_enabled(p));
		pipeline_free(p);
	}
	free(dir);
}

/* Suspended instead of waiting (Lambda): the job leaves the runner while its
 * recording is not there, checkpointed with its deadline and when it wants to
 * be stepped again; each resume (a fresh process: a new event record) goes
 * on from the checkpoint, and the first timeout still bounds it. */
static void test_suspend_and_resume(void **s)
{
	(void)s;
	char *dir = case_dir("suspend");
	struct pipeline *p = load(dir, PIPE "[locate]\nplugin = test-flaky-locate\nmode = retry\ntimes = 2\n"
				  "delay = 10s\n" NOTIFY);
	int64_t t0 = clock_now_ms(), due = 0;
	bool busy = true;
	vm_job *job = job_new("sus-1");
	assert_int_equal(job_run_until(p, &job, 0, 3000, "lambda-a", 0, &due, &busy), EXIT_SUSPENDED);
	assert_false(busy);
	assert_int_equal(due, t0 + 10000);
	assert_int_equal(clock_now_ms(), t0); /* nothing waited */
	job_free(job);
	vm_job *ck = stored(dir, "sus-1");
	want_str(ck, "state", "pending");
	assert_non_null(vm_job_get_str(ck, "suspended_until"));
	const char *timeout_at = vm_job_get_str(ck, "timeout_at");
	assert_non_null(timeout_at);
	char want[32];
	vm_format_time(t0 + 60000, want, sizeof want);
	assert_string_equal(timeout_at, want);
	job_free(ck);

	clock_sleep_ms(10000); /* the wake-up */
	job = job_new("sus-1");
	assert_int_equal(job_run_until(p, &job, 0, 3000, "lambda-b", 0, &due, &busy), EXIT_SUSPENDED);
	assert_int_equal(due, t0 + 20000);
	assert_int_equal(geti(job, "test.locate.calls"), 2);
	job_free(job);

	clock_sleep_ms(10000);
	job = job_new("sus-1");
	assert_int_equal(job_run_until(p, &job, 0, 3000, "lambda-c", 0, &due, &busy), EXIT_DONE);
	want_str(job, "state", "done");
	assert_null(vm_job_get_str(job, "suspended_until"));
	assert_string_equal(vm_job_get_str(job, "timeout_at"), want); /* the first deadline, kept */
	assert_int_equal(json_array_size(job_get(job, "notifications")), 1);
	job_free(job);
	pipeline_free(p);
	free(dir);
}

/* A suspended job past its first deadline is not given a fresh one. */
static void test_suspended_job_keeps_its_deadline(void **s)
{
	(void)s;
	char *dir = case_dir("suspend-dl");
	struct pipeline *p = load(dir, PIPE "[locate]\nplugin = test-flaky-locate\nmode = retry\ntimes = -1\n"
				  "delay = 50s\n" NOTIFY);
	int64_t due = 0;
	bool busy;
	vm_job *job = job_new("sus-2");
	assert_int_equal(job_run_until(p, &job, 0, 3000, NULL, 0, &due, &busy), EXIT_SUSPENDED);
	job_free(job);
	clock_sleep_ms(70000); /* woken late, after the 1m timeout */
	job = job_new("sus-2");
	assert_int_equal(job_run_until(p, &job, 0, 3000, NULL, 0, &due, &busy), EXIT_NO_RECORDING);
	assert_string_equal(json_string_value(json_object_get(job_get(job, "stages"), "notify")), "done");
	job_free(job);
	pipeline_free(p);
	free(dir);
}

/* A job suspended without a saved checkpoint would be lost: it is not
 * reported as suspended (so the event that brought it comes again). */
static void test_unsaved_suspension_is_not_acknowledged(void **s)
{
	(void)s;
	char *dir = case_dir("suspend-unsaved");
	struct pipeline *p = load(dir, PIPE "[locate]\nplugin = test-flaky-locate\nmode = retry\ntimes = 2\n"
				  "delay = 10s\n" NOTIFY);
	char ck[PATH_MAX];
	snprintf(ck, sizeof ck, "%s/ckpt/sus-3.json", dir);
	assert_int_equal(mkdir(ck, 0700), 0); /* the checkpoint cannot be written (EISDIR) */
	int64_t due = 0;
	bool busy = true;
	vm_job *job = job_new("sus-3");
	assert_int_equal(job_run_until(p, &job, 0, 3000, NULL, 0, &due, &busy), EXIT_TEMPFAIL);
	assert_false(busy);
	assert_int_equal(due, 0);
	job_free(job);
	assert_int_equal(rmdir(ck), 0);
	pipeline_free(p);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_lock_files),
		cmocka_unit_test(test_off_without_state),
		cmocka_unit_test(test_done_short_circuits),
		cmocka_unit_test(test_half_done_resumes),
		cmocka_unit_test(test_saved_after_each_stage),
		cmocka_unit_test(test_save_failure_does_not_fail_the_job),
		cmocka_unit_test(test_unusable_checkpoint_is_ignored),
		cmocka_unit_test(test_bad_settings_are_config_errors),
		cmocka_unit_test(test_suspend_and_resume),
		cmocka_unit_test(test_suspended_job_keeps_its_deadline),
		cmocka_unit_test(test_unsaved_suspension_is_not_acknowledged),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
