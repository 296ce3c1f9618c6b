/*
 * Unit tests of the scheduler (engine/core/sched.c) on the fake clock: the test
 * stages of tests/plugins/flaky.h answer retry-after, transient, permanent or
 * never finish, loaded through pipeline_load() like any plugin.  Virtual time
 * makes the waits instant and exact, so the tests assert how long the engine
 * waited, what it appended to the record, and the exit status.
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
#include "core/event.h"
#include "core/job.h"
#include "core/log.h"
#include "core/pipeline.h"
#include "core/sched.h"
#include "testenv.h"

#define T0 1733931005000LL /* 2024-12-11T15:30:05Z */

static char *tmp, *plugdir;

static int group_setup(void **s)
{
	(void)s;
	log_setup(VM_LOG_ERROR, LOG_FORMAT_TEXT); /* failures are the point here */
	tmp = test_tmpdir("sched");
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

/* A pipeline from text, started (init), with the fake clock at T0. */
static struct pipeline *load(const char *text)
{
	char *path = test_write(tmp, "sched.ini", text);
	struct diag d = {0};
	struct pipeline *p = pipeline_load(path, plugdir, true, &d);
	char msgs[4096];
	test_joined(&d, msgs, sizeof msgs);
	diag_free(&d);
	free(path);
	if (!p)
		fail_msg("pipeline refused:\n%s\n%s", msgs, text);
	clock_use_fake(T0);
	return p;
}

struct outcome {
	int rc;
	int64_t elapsed; /* virtual ms sched_run() took */
};

static struct outcome run(struct pipeline *p, vm_job *job)
{
	int64_t start = clock_now_ms();
	struct outcome o;
	o.rc = sched_run(p, job, 0);
	o.elapsed = clock_now_ms() - start;
	return o;
}

static int64_t geti(const vm_job *job, const char *path)
{
	int64_t v;
	if (!vm_job_get_int(job, path, &v))
		fail_msg("%s is absent from the record", path);
	return v;
}

/* How many errors of `stage` and `kind` the record holds; each message must contain `msg`. */
static size_t errors_of(const vm_job *job, const char *stage, const char *kind, const char *msg)
{
	json_t *errs = job_get(job, "errors"), *e;
	size_t i, n = 0;
	json_array_foreach(errs, i, e)
	{
		const char *st = json_string_value(json_object_get(e, "stage"));
		const char *k = json_string_value(json_object_get(e, "kind"));
		if (st && k && strcmp(st, stage) == 0 && strcmp(k, kind) == 0) {
			n++;
			if (msg)
				assert_contains(json_string_value(json_object_get(e, "message")), msg);
			assert_non_null(json_string_value(json_object_get(e, "at")));
		}
	}
	return n;
}

static void want_str(const vm_job *job, const char *path, const char *want)
{
	const char *got = vm_job_get_str(job, path);
	if (!got || strcmp(got, want) != 0)
		fail_msg("%s = %s; expected \"%s\"", path, got ? got : "(absent)", want);
}

/* stages.<name>: the name is one key (it may hold a '.'), not a dotted path. */
static void want_stage(const vm_job *job, const char *stage, const char *want)
{
	const char *got = json_string_value(json_object_get(job_get(job, "stages"), stage));
	if (!got || strcmp(got, want) != 0)
		fail_msg("stages[\"%s\"] = %s; expected \"%s\"", stage, got ? got : "(absent)", want);
}

#define RC(o, want)                                                                          \
	do {                                                                                 \
		if ((o).rc != (want))                                                        \
			fail_msg("sched_run returned %d; expected %d (%s)", (o).rc, (want), #want); \
	} while (0)

#define PIPE "[pipeline]\ntimeout = 1m\nnotify_grace = 30s\nretry_base = 1s\nretry_cap = 4s\n"
#define LOC_OK "[locate]\nplugin = test-flaky-locate\n"
#define TR_OK "[transcribe]\nplugin = test-flaky-transcribe\n"
#define NOTIFY_OK "[notify]\nplugin = test-flaky\n"

static void test_all_done(void **s)
{
	(void)s;
	struct pipeline *p = load(PIPE LOC_OK TR_OK NOTIFY_OK);
	vm_job *job = job_new("j");
	struct outcome o = run(p, job);
	RC(o, EXIT_DONE);
	assert_int_equal(o.elapsed, 0);
	want_str(job, "state", "done");
	want_stage(job, "locate", "done");
	want_stage(job, "transcribe", "done");
	want_stage(job, "notify", "done");
	want_str(job, "test.notify.saw_transcript", "completed");
	assert_int_equal(geti(job, "attempts"), 3);
	assert_int_equal(json_array_size(job_get(job, "errors")), 0);
	assert_int_equal(json_array_size(job_get(job, "notifications")), 1);
	job_free(job);
	pipeline_free(p);
}

/* retry-after 5 times with 2 s: the engine waits exactly 10 s, no error. */
static void test_retry_after(void **s)
{
	(void)s;
	struct pipeline *p = load(PIPE "[locate]\nplugin = test-flaky-locate\nmode = retry\ntimes = 5\ndelay = 2s\n"
				  TR_OK NOTIFY_OK);
	vm_job *job = job_new("j");
	struct outcome o = run(p, job);
	RC(o, EXIT_DONE);
	assert_int_equal(geti(job, "test.locate.calls"), 6);
	assert_int_equal(geti(job, "test.locate.done_at") - geti(job, "test.locate.first_at"), 10000);
	assert_int_equal(o.elapsed, 10000);
	assert_int_equal(json_array_size(job_get(job, "errors")), 0); /* waiting is not failing */
	assert_int_equal(geti(job, "attempts"), 6 + 1 + 1);
	job_free(job);
	pipeline_free(p);
}

/* Transient faults: each is recorded, each backoff is within its bound. */
static void test_transient_backoff(void **s)
{
	(void)s;
	struct pipeline *p = load(PIPE "[locate]\nplugin = test-flaky-locate\nmode = transient\ntimes = 6\n"
				       "message = HTTP 503 from the spool\n" TR_OK NOTIFY_OK);
	vm_job *job = job_new("j");
	struct outcome o = run(p, job);
	RC(o, EXIT_DONE);
	assert_int_equal(geti(job, "test.locate.calls"), 7);
	assert_int_equal(errors_of(job, "locate", "transient", "HTTP 503 from the spool"), 6);
	/* Bounds with base 1 s and cap 4 s: 1 + 2 + 4 + 4 + 4 + 4 s at most, 1 ms each at least. */
	int64_t waited = geti(job, "test.locate.done_at") - geti(job, "test.locate.first_at");
	if (waited < 6 || waited > 19000)
		fail_msg("6 transient retries waited %lld ms; expected 6..19000", (long long)waited);
	want_str(job, "state", "done");
	job_free(job);
	pipeline_free(p);
}

static void test_backoff_bounds(void **s)
{
	(void)s;
	/* Over many samples: 1 <= b <= min(cap, base * 2^(n-1)); the mean grows, then holds at the cap. */
	double mean[16] = {0};
	const int samples = 4000;
	for (int n = 1; n <= 15; n++) {
		int64_t bound = 1000LL << (n - 1);
		if (bound > 30000)
			bound = 30000;
		int64_t lo = INT64_MAX, hi = 0;
		for (int k = 0; k < samples; k++) {
			int64_t b = sched_backoff(1000, 30000, n);
			if (b < 1 || b > bound)
				fail_msg("sched_backoff(1000, 30000, %d) = %lld; outside 1..%lld", n, (long long)b,
					 (long long)bound);
			lo = b < lo ? b : lo;
			hi = b > hi ? b : hi;
			mean[n] += (double)b / samples;
		}
		/* Full jitter spreads over the whole range. */
		if (lo > bound / 10 || hi < bound - bound / 10)
			fail_msg("retry %d: samples %lld..%lld do not spread over 1..%lld", n, (long long)lo,
				 (long long)hi, (long long)bound);
	}
	for (int n = 2; n <= 5; n++)
		if (mean[n] < mean[n - 1] * 1.5)
			fail_msg("mean backoff does not grow: retry %d %.0f ms, retry %d %.0f ms", n - 1,
				 mean[n - 1], n, mean[n]);
	if (mean[15] > 30000 * 0.55 || mean[15] < 30000 * 0.45)
		fail_msg("mean backoff at the cap is %.0f ms; expected about 15000", mean[15]);
	/* Degenerate inputs stay sane. */
	assert_int_equal(sched_backoff(0, 0, 1), 1);
	for (int k = 0; k < 100; k++) {
		int64_t b = sched_backoff(0, 5, 50);
		assert_in_range(b, 1, 5);
		b = sched_backoff(1000, 60000, 1000); /* a long outage: no overflow */
		assert_in_range(b, 1, 60000);
	}
}

/* A notifier that fails for good: 69, named in errors; the others still run. */
static void test_notify_permanent(void **s)
{
	(void)s;
	struct pipeline *p = load(PIPE LOC_OK TR_OK
				  "[notify]\nplugin = test-flaky\nmode = permanent\nmessage = 550 mailbox unavailable\n"
				  "[notify.archive]\nplugin = test-flaky\n");
	vm_job *job = job_new("j");
	struct outcome o = run(p, job);
	RC(o, EXIT_UNAVAILABLE);
	assert_int_equal(geti(job, "test.notify.calls"), 1); /* permanent: not retried */
	assert_int_equal(errors_of(job, "notify", "permanent", "550 mailbox unavailable"), 1);
	want_stage(job, "notify", "failed");
	want_stage(job, "notify.archive", "done");
	assert_int_equal(geti(job, "test.notify_archive.calls"), 1);
	want_str(job, "state", "failed");
	assert_int_equal(o.elapsed, 0);
	job_free(job);
	pipeline_free(p);
}

/* A notifier that never finishes: it gets the timeout plus the grace, then 75. */
static void test_notify_timeout(void **s)
{
	(void)s;
	struct pipeline *p =
		load(PIPE LOC_OK TR_OK "[notify]\nplugin = test-flaky\nmode = retry\ntimes = -1\ndelay = 7s\n");
	vm_job *job = job_new("j");
	struct outcome o = run(p, job);
	RC(o, EXIT_TEMPFAIL);
	assert_int_equal(o.elapsed, 60000 + 30000);
	assert_int_equal(errors_of(job, "notify", "timeout", "timed out waiting in notify"), 1);
	want_stage(job, "notify", "failed");
	want_str(job, "state", "failed");
	/* Called every 7 s from 0 to 90 s: 0, 7, …, 84, and once at 90. */
	assert_int_equal(geti(job, "test.notify.calls"), 14);
	job_free(job);
	pipeline_free(p);
}

/* Transient until the time runs out: the last message is in the timeout error; 75. */
static void test_notify_transient_timeout(void **s)
{
	(void)s;
	struct pipeline *p = load(PIPE LOC_OK "[notify]\nplugin = test-flaky\nmode = transient\ntimes = -1\n"
					       "message = connection refused\n");
	vm_job *job = job_new("j");
	struct outcome o = run(p, job);
	RC(o, EXIT_TEMPFAIL);
	assert_int_equal(o.elapsed, 90000);
	assert_true(errors_of(job, "notify", "transient", "connection refused") >= 20); /* >= 90 s / 4 s */
	assert_int_equal(errors_of(job, "notify", "timeout", "connection refused"), 1);
	job_free(job);
	pipeline_free(p);
}

/* The recording is not found: notifiers still run (the owner hears of the call); 66. */
static void test_locate_permanent(void **s)
{
	(void)s;
	struct pipeline *p = load(PIPE "[locate]\nplugin = test-flaky-locate\nmode = permanent\n"
				       "message = no such recording\n" TR_OK NOTIFY_OK);
	vm_job *job = job_new("j");
	vm_job_set_str(job, "recording.uri", "file:///etc/passwd"); /* what a hostile record names */
	struct outcome o = run(p, job);
	RC(o, EXIT_NO_RECORDING);
	assert_int_equal(errors_of(job, "locate", "permanent", "no such recording"), 1);
	/* Nothing downstream may use a recording the locate stage did not accept. */
	assert_null(job_get(job, "recording.uri"));
	want_str(job, "recording.refused_uri", "file:///etc/passwd");
	want_stage(job, "locate", "failed");
	want_str(job, "recording.error", "no such recording (call 1)");
	/* Transcription is skipped, not attempted. */
	want_stage(job, "transcribe", "skipped");
	want_str(job, "transcript.status", "skipped");
	assert_null(job_get(job, "test.transcribe"));
	want_stage(job, "notify", "done");
	want_str(job, "test.notify.saw_transcript", "skipped");
	assert_int_equal(json_array_size(job_get(job, "notifications")), 1);
	want_str(job, "state", "failed");
	job_free(job);
	pipeline_free(p);
}

/* The recording never appears: locate stops at the timeout, notify still runs in the grace. */
static void test_locate_timeout(void **s)
{
	(void)s;
	struct pipeline *p =
		load(PIPE "[locate]\nplugin = test-flaky-locate\nmode = retry\ntimes = -1\ndelay = 1s\n" NOTIFY_OK);
	vm_job *job = job_new("j");
	struct outcome o = run(p, job);
	RC(o, EXIT_NO_RECORDING);
	assert_int_equal(o.elapsed, 60000);
	assert_int_equal(errors_of(job, "locate", "timeout", "timed out waiting in locate"), 1);
	want_str(job, "recording.error", "timed out");
	want_stage(job, "notify", "done");
	assert_int_equal(geti(job, "test.notify.first_at"), T0 + 60000);
	job_free(job);
	pipeline_free(p);
}

/* Transcription fails for good: the mail still goes out, saying so; exit 0. */
static void test_transcribe_failure_still_notifies(void **s)
{
	(void)s;
	struct pipeline *p = load(PIPE LOC_OK "[transcribe]\nplugin = test-flaky-transcribe\nmode = permanent\n"
					       "message = model missing\n" NOTIFY_OK);
	vm_job *job = job_new("j");
	struct outcome o = run(p, job);
	RC(o, EXIT_DONE);
	want_str(job, "transcript.status", "failed");
	want_str(job, "transcript.error", "model missing (call 1)");
	want_str(job, "test.notify.saw_transcript", "failed");
	want_stage(job, "transcribe", "failed");
	want_stage(job, "notify", "done");
	assert_int_equal(errors_of(job, "transcribe", "permanent", "model missing"), 1);
	want_str(job, "state", "done");
	job_free(job);
	pipeline_free(p);
}

/* A transcriber still busy when the timeout comes: failed (timed out), notify runs. */
static void test_transcribe_timeout(void **s)
{
	(void)s;
	struct pipeline *p = load(PIPE LOC_OK "[transcribe]\nplugin = test-flaky-transcribe\nmode = retry\n"
					       "times = -1\ndelay = 15s\n" NOTIFY_OK);
	vm_job *job = job_new("j");
	struct outcome o = run(p, job);
	RC(o, EXIT_DONE);
	assert_int_equal(o.elapsed, 60000);
	want_str(job, "transcript.status", "failed");
	want_str(job, "transcript.error", "timed out");
	want_str(job, "test.notify.saw_transcript", "failed");
	job_free(job);
	pipeline_free(p);
}

/* A resumed job: stages marked done are not run again. */
static void test_resume(void **s)
{
	(void)s;
	struct pipeline *p = load(PIPE LOC_OK TR_OK NOTIFY_OK "[notify.archive]\nplugin = test-flaky\n");
	char err[256];
	const char *rec = "{\"id\":\"r1\",\"stages\":{\"locate\":\"done\",\"transcribe\":\"done\","
			  "\"notify\":\"done\"},\"transcript\":{\"status\":\"completed\"},"
			  "\"notifications\":[{\"stage\":\"notify\",\"transport\":\"test\",\"message_id\":\"<x>\"}]}";
	vm_job *job = job_from_string(rec, err, sizeof err); /* a checkpoint, not an event */
	if (!job)
		fail_msg("%s", err);
	struct outcome o = run(p, job);
	RC(o, EXIT_DONE);
	assert_null(job_get(job, "test.locate"));
	assert_null(job_get(job, "test.transcribe"));
	assert_null(job_get(job, "test.notify"));
	assert_int_equal(geti(job, "test.notify_archive.calls"), 1);
	want_str(job, "test.notify_archive.saw_transcript", "completed");
	assert_int_equal(json_array_size(job_get(job, "notifications")), 2);
	job_free(job);
	pipeline_free(p);
}

/* A resumed job where only [notify.archive] had finished: [notify] runs, the archive does not. */
static void test_resume_named_notifier(void **s)
{
	(void)s;
	struct pipeline *p = load(PIPE LOC_OK NOTIFY_OK "[notify.archive]\nplugin = test-flaky\n");
	char err[256];
	const char *rec = "{\"id\":\"r3\",\"stages\":{\"locate\":\"done\",\"notify.archive\":\"done\"}}";
	vm_job *job = job_from_string(rec, err, sizeof err); /* a checkpoint, not an event */
	if (!job)
		fail_msg("%s", err);
	struct outcome o = run(p, job);
	RC(o, EXIT_DONE);
	assert_int_equal(geti(job, "test.notify.calls"), 1);
	assert_null(job_get(job, "test.notify_archive"));
	want_stage(job, "notify", "done");
	want_stage(job, "notify.archive", "done");
	job_free(job);
	pipeline_free(p);
}

/* Every stage already done (a job checkpointed after its last step): nothing runs, exit 0. */
static void test_resume_all_done(void **s)
{
	(void)s;
	struct pipeline *p = load(PIPE LOC_OK NOTIFY_OK);
	char err[256];
	const char *rec = "{\"id\":\"r2\",\"stages\":{\"locate\":\"done\",\"notify\":\"done\"}}";
	vm_job *job = job_from_string(rec, err, sizeof err); /* a checkpoint, not an event */
	if (!job)
		fail_msg("%s", err);
	struct outcome o = run(p, job);
	RC(o, EXIT_DONE);
	assert_null(job_get(job, "test"));
	want_str(job, "state", "done");
	job_free(job);
	pipeline_free(p);
}

/* A hard deadline (Lambda) shorter than the timeout bounds every stage. */
static void test_hard_deadline(void **s)
{
	(void)s;
	struct pipeline *p =
		load(PIPE "[locate]\nplugin = test-flaky-locate\nmode = retry\ntimes = -1\ndelay = 1s\n" NOTIFY_OK);
	vm_job *job = job_new("j");
	int rc = sched_run(p, job, T0 + 10000);
	assert_int_equal(rc, EXIT_NO_RECORDING);
	assert_int_equal(clock_now_ms() - T0, 10000);
	want_stage(job, "notify", "done"); /* tried once even at the deadline */
	job_free(job);
	pipeline_free(p);
}

/* ---------------------------------------------------------- many jobs */

struct many {
	size_t ended;
	int rc_sum;
	vm_job **jobs;
};

static void many_ended(void *ctx, const struct sched_end *e)
{
	struct many *m = ctx;
	assert_false(e->abandoned);
	m->rc_sum += e->rc;
	m->jobs[m->ended++] = e->job;
}

/* Run `n` jobs on one scheduler with `workers` threads; returns the virtual
 * ms it took.  The ended jobs are in m->jobs (caller frees). */
static int64_t run_many(struct pipeline *p, size_t n, int workers, struct many *m)
{
	m->ended = 0;
	m->rc_sum = 0;
	m->jobs = calloc(n, sizeof *m->jobs);
	struct sched_opts o = {.workers = workers, .ended = many_ended, .ctx = m};
	struct sched *s = sched_new(&o);
	assert_non_null(s);
	int64_t start = clock_now_ms();
	for (size_t i = 0; i < n; i++) {
		char id[32];
		snprintf(id, sizeof id, "m-%zu", i);
		sched_add(s, p, job_new(id), NULL, 0, NULL);
	}
	assert_int_equal(sched_jobs(s), n);
	while (m->ended < n)
		sched_wait(s, sched_poll(s));
	assert_int_equal(sched_jobs(s), 0);
	sched_free(s);
	return clock_now_ms() - start;
}

static void many_free(struct many *m)
{
	for (size_t i = 0; i < m->ended; i++)
		job_free(m->jobs[i]);
	free(m->jobs);
}

/* 300 jobs that each wait 3 x 2 s for their recording: they wait side by
 * side (a timer each, no thread each), so the whole batch takes the 6 s one
 * job takes, on two worker threads. */
static void test_many_jobs_wait_side_by_side(void **s)
{
	(void)s;
	struct pipeline *p = load(PIPE "[locate]\nplugin = test-flaky-locate\nmode = retry\ntimes = 3\ndelay = 2s\n"
				  TR_OK NOTIFY_OK);
	struct many m;
	int64_t took = run_many(p, 300, 2, &m);
	assert_int_equal(m.ended, 300);
	assert_int_equal(m.rc_sum, 0);
	assert_int_equal(took, 6000);
	for (size_t i = 0; i < m.ended; i++) {
		want_str(m.jobs[i], "state", "done");
		assert_int_equal(geti(m.jobs[i], "test.locate.calls"), 4);
		assert_int_equal(json_array_size(job_get(m.jobs[i], "notifications")), 1);
	}
	many_free(&m);
	pipeline_free(p);
}

/* max_in_flight = 2 on a stage that takes 3 s per job: never more than two
 * jobs inside it at once, the others queue (and finish later). */
static void test_max_in_flight(void **s)
{
	(void)s;
	struct pipeline *p = load(PIPE LOC_OK "[transcribe]\nplugin = test-flaky-transcribe\nmode = retry\ntimes = 3\n"
					   "delay = 1s\nmax_in_flight = 2\n" NOTIFY_OK);
	struct many m;
	int64_t took = run_many(p, 10, 0, &m);
	assert_int_equal(m.rc_sum, 0);
	/* Five rounds of two jobs, 3 s each. */
	assert_int_equal(took, 15000);
	int64_t in[10], out[10];
	for (size_t i = 0; i < 10; i++) {
		in[i] = geti(m.jobs[i], "test.transcribe.first_at");
		out[i] = geti(m.jobs[i], "test.transcribe.done_at");
	}
	int most = 0;
	for (size_t i = 0; i < 10; i++) {
		int inside = 0; /* jobs inside the stage at the moment job i entered it */
		for (size_t j = 0; j < 10; j++)
			inside += in[j] <= in[i] && in[i] < out[j];
		most = inside > most ? inside : most;
	}
	assert_int_equal(most, 2);
	many_free(&m);
	pipeline_free(p);
}

/* The bound is checked at load. */
static void test_max_in_flight_refused(void **s)
{
	(void)s;
	char *path = test_write(tmp, "bad.ini", PIPE LOC_OK "[transcribe]\nplugin = test-flaky-transcribe\n"
				"max_in_flight = lots\n" NOTIFY_OK);
	struct diag d = {0};
	assert_null(pipeline_load(path, plugdir, false, &d));
	char msgs[4096];
	test_joined(&d, msgs, sizeof msgs);
	assert_contains(msgs, "[transcribe] option 'max_in_flight': 'lots' is not a count of jobs");
	diag_free(&d);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_done),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_transient_backoff),
		cmocka_unit_test(test_backoff_bounds),
		cmocka_unit_test(test_notify_permanent),
		cmocka_unit_test(test_notify_timeout),
		cmocka_unit_test(test_notify_transient_timeout),
		cmocka_unit_test(test_locate_permanent),
		cmocka_unit_test(test_locate_timeout),
		cmocka_unit_test(test_transcribe_failure_still_notifies),
		cmocka_unit_test(test_transcribe_timeout),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_resume_named_notifier),
		cmocka_unit_test(test_resume_all_done),
		cmocka_unit_test(test_hard_deadline),
		cmocka_unit_test(test_many_jobs_wait_side_by_side),
		cmocka_unit_test(test_max_in_flight),
		cmocka_unit_test(test_max_in_flight_refused),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
