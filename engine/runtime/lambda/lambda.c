/*
 * The Lambda custom-runtime loop (see lambda.h).  Single-threaded but for the
 * watchdog; this file owns the process environment's _X_AMZN_TRACE_ID.
 */
#include "lambda.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aws/host.h"
#include "aws/request.h"
#include "core/clock.h"
#include "core/event.h"
#include "core/job.h"
#include "kinesis_event.h"
#include "lambda_api.h"
#include "lambda_suspend.h"
#include "core/link.h"
#include "link_click.h"
#include "core/log.h"
#include "core/sched.h"
#include "core/state.h"
#include "core/tenant.h"
#include "core/util.h"

bool lambda_autodetect(const char *argv0, bool have_command)
{
	if (have_command) /* `bootstrap check`, `bootstrap --version` still work */
		return false;
	const char *base = argv0 ? strrchr(argv0, '/') : NULL;
	base = base ? base + 1 : argv0;
	const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
	return (base && strcmp(base, "bootstrap") == 0) || (api && *api);
}

/* ---- the watchdog: reports the error when a stage overruns the deadline ---- */

struct watchdog {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const struct lambda_api *api;
	char request_id[136];
	int64_t fire_at_ms; /* 0: disarmed */
	bool claimed;       /* the invocation has been answered (by either side) */
	bool quit;
};

static void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	pthread_mutex_lock(&w->mu);
	while (!w->quit) {
		if (!w->fire_at_ms || w->claimed) {
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		/* The deadline is wall-clock (epoch ms), as is the condvar's clock. */
		struct timespec ts = {(time_t)(w->fire_at_ms / 1000), (long)(w->fire_at_ms % 1000) * 1000000L};
		if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) != ETIMEDOUT || w->claimed ||
		    !w->fire_at_ms || clock_now_ms() < w->fire_at_ms)
			continue;
		w->claimed = true;
		char rid[sizeof w->request_id];
		memcpy(rid, w->request_id, sizeof rid);
		pthread_mutex_unlock(&w->mu);
		log_msg(NULL, "lambda", VM_LOG_ERROR,
			"invocation %s: a stage is still running at the deadline; reporting and exiting", rid);
		char err[300];
		if (lambda_api_error(w->api, rid, "vmpipe.Timeout",
				     "the pipeline was still running when Lambda's deadline came near; "
				     "stopped so that the invocation is retried",
				     err, sizeof err) != 0)
			log_msg(NULL, "lambda", VM_LOG_ERROR, "%s", err);
		/* A stage is stuck inside a call: the only safe way out is a new container. */
		_exit(EXIT_TEMPFAIL);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void watchdog_arm(struct watchdog *w, const char *rid, int64_t fire_at_ms)
{
	pthread_mutex_lock(&w->mu);
	snprintf(w->request_id, sizeof w->request_id, "%s", rid);
	w->fire_at_ms = fire_at_ms;
	w->claimed = false;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* The main thread may answer only if the watchdog has not; true when it may. */
static bool watchdog_claim(struct watchdog *w)
{
	pthread_mutex_lock(&w->mu);
	bool mine = !w->claimed;
	w->claimed = true;
	w->fire_at_ms = 0;
	pthread_mutex_unlock(&w->mu);
	if (!mine)
		for (;;)
			pause(); /* the watchdog is reporting and will exit the process */
	return mine;
}

/* ---- configuration ---- */

static char *pipeline_path(const char *config)
{
	if (config && *config)
		return strdup(config);
	const char *env = getenv("VMPIPE_PIPELINE");
	if (env && *env)
		return strdup(env);
	const char *root = getenv("LAMBDA_TASK_ROOT");
	char *p = NULL;
	if (asprintf(&p, "%s/etc/pipeline.ini", root && *root ? root : ".") < 0)
		return NULL;
	return p;
}

/* The package's plugins (scripts/package-lambda.sh puts them in
 * lib/vmpipe/plugins), else a plugins/ folder, else the binary's default. */
static char *plugin_dir(const char *fallback)
{
	static const char *const where[] = {"lib/vmpipe/plugins", "plugins"};
	const char *root = getenv("LAMBDA_TASK_ROOT");
	char dir[PATH_MAX];
	struct stat st;
	for (size_t i = 0; root && *root && i < sizeof where / sizeof *where; i++)
		if (snprintf(dir, sizeof dir, "%s/%s", root, where[i]) < (int)sizeof dir &&
		    stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
			return strdup(dir);
	return strdup(fallback ? fallback : "/var/task/lib/vmpipe/plugins");
}

/* Lambda's advanced logging controls: JSON lines when asked, and its level. */
static void lambda_logging(void)
{
	const char *fmt = getenv("AWS_LAMBDA_LOG_FORMAT");
	const char *lvl = getenv("AWS_LAMBDA_LOG_LEVEL");
	vm_log_level level = log_level();
	if (lvl && *lvl && !getenv("VMPIPE_LOG_LEVEL")) {
		int l = strcasecmp(lvl, "FATAL") == 0 ? VM_LOG_ERROR : log_level_parse(lvl);
		if (l >= 0)
			level = (vm_log_level)l;
	}
	enum log_format f = LOG_FORMAT_AUTO;
	if (fmt && strcasecmp(fmt, "JSON") == 0)
		f = LOG_FORMAT_JSON;
	else if (fmt && strcasecmp(fmt, "Text") == 0)
		f = LOG_FORMAT_TEXT;
	else if (getenv("VMPIPE_LOG_FORMAT"))
		f = (enum log_format)(log_format_parse(getenv("VMPIPE_LOG_FORMAT")) < 0 ? 0 :
				      log_format_parse(getenv("VMPIPE_LOG_FORMAT")));
	log_setup(level, f);
}

static int64_t margin_ms(void)
{
	const char *m = getenv("VMPIPE_LAMBDA_MARGIN");
	int64_t ms;
	if (m && *m && parse_duration(m, &ms) == 0 && ms >= 100)
		return ms;
	return LAMBDA_MARGIN_MS;
}

/* ---- one invocation ---- */

struct runtime {
	struct lambda_api api;
	struct tenants *tenants;
	const struct link_cfg *link;
	struct watchdog wd;
	int64_t margin_ms;
	struct wake_cfg wake; /* suspend mode (lambda_suspend.h) when wake.on */
};

static void send_error(struct runtime *rt, const char *rid, const char *type, const char *msg)
{
	char err[400];
	log_msg(NULL, "lambda", VM_LOG_ERROR, "invocation %s: %s: %s", rid, type, msg);
	if (lambda_api_error(&rt->api, rid, type, msg, err, sizeof err) != 0)
		log_msg(NULL, "lambda", VM_LOG_ERROR, "%s", err);
}

static void send_response(struct runtime *rt, const char *rid, const char *body)
{
	char err[400];
	if (lambda_api_respond(&rt->api, rid, body, strlen(body), err, sizeof err) != 0) {
		log_msg(NULL, "lambda", VM_LOG_ERROR, "%s", err);
		/* Too large or refused: the invocation must still end. */
		send_error(rt, rid, "vmpipe.ResponseRefused", err);
	}
}

static const char *error_type(int rc)
{
	switch (rc) {
	case EXIT_BAD_EVENT: return "vmpipe.BadEvent";
	case EXIT_NO_RECORDING: return "vmpipe.NoRecording";
	case EXIT_UNAVAILABLE: return "vmpipe.NotifyFailed";
	case EXIT_CONFIG: return "vmpipe.ConfigError";
	default: return "vmpipe.TempFail";
	}
}

/* "voicemail ID not delivered (exit N): <the last error>" */
static void failure_message(const vm_job *job, int rc, char *buf, size_t size)
{
	json_t *errs = job_get(job, "errors");
	size_t n = json_array_size(errs);
	json_t *last = n ? json_array_get(errs, n - 1) : NULL;
	const char *stage = json_string_value(json_object_get(last, "stage"));
	const char *msg = json_string_value(json_object_get(last, "message"));
	snprintf(buf, size, "voicemail %s: %s (exit %d)%s%s%s%s", vm_job_id(job),
		 rc == EXIT_NO_RECORDING ? "recording not found" : "owner not notified", rc,
		 msg ? "; last error in " : "", stage ? stage : "", msg ? ": " : "", msg ? msg : "");
}

/* The invocation's hard deadline (0: none) with the watchdog armed for it;
 * -1 after answering DeadlineTooShort when less than the margin is left.
 * `what` names what would have run ("voicemail ID"). */
static int invocation_deadline(struct runtime *rt, const struct lambda_invocation *inv, const char *what,
			       int64_t *hard)
{
	*hard = 0;
	if (inv->deadline_ms <= 0)
		return 0;
	int64_t now = clock_now_ms();
	if (inv->deadline_ms - now <= rt->margin_ms) {
		char err[600];
		snprintf(err, sizeof err, "%s: only %lld ms left before the deadline "
			 "(safety margin %lld ms): raise the function's timeout", what,
			 (long long)(inv->deadline_ms - now), (long long)rt->margin_ms);
		send_error(rt, inv->request_id, "vmpipe.DeadlineTooShort", err);
		return -1;
	}
	*hard = inv->deadline_ms - rt->margin_ms;
	int64_t guard = rt->margin_ms / 2 > 200 ? rt->margin_ms / 2 : 200;
	watchdog_arm(&rt->wd, inv->request_id, inv->deadline_ms - guard);
	return 0;
}

/* Suspend mode: lambda_suspend.c handles the event, this sends its answer. */
static void run_suspending(struct runtime *rt, const struct lambda_invocation *inv)
{
	char what[200], err[1024];
	snprintf(what, sizeof what, "invocation %s", inv->request_id);
	int64_t hard;
	if (invocation_deadline(rt, inv, what, &hard) != 0)
		return;
	struct suspend_answer a;
	/* Lambda ends the invocation at its deadline: no claim of it lasts longer. */
	state_lease_cap(inv->deadline_ms);
	suspend_invoke(&rt->wake, rt->tenants, inv->request_id, inv->body, inv->body_len, hard, &a);
	state_lease_cap(0);
	watchdog_claim(&rt->wd);
	switch (a.kind) {
	case ANSWER_RESPONSE:
		send_response(rt, inv->request_id, a.body);
		break;
	case ANSWER_JOB_FAILED:
		failure_message(a.job, a.rc, err, sizeof err);
		send_error(rt, inv->request_id, error_type(a.rc), err);
		break;
	case ANSWER_ERROR:
		send_error(rt, inv->request_id, a.type, a.msg);
		break;
	}
	free(a.body);
	job_free(a.job);
}

static void run_event(struct runtime *rt, const struct lambda_invocation *inv)
{
	if (rt->wake.on) {
		run_suspending(rt, inv);
		return;
	}
	char err[1024];
	vm_job *job = event_to_job(inv->body, inv->body_len, err, sizeof err);
	if (!job) {
		send_error(rt, inv->request_id, "vmpipe.BadEvent", err);
		return;
	}
	struct diag d = {0};
	const char *tenant = vm_job_get_str(job, "tenant");
	struct pipeline *p = tenants_get(rt->tenants, tenant, &d);
	if (!p) {
		diag_print(&d);
		snprintf(err, sizeof err, "tenant '%s': pipeline refused%s%s", tenant ? tenant : "",
			 d.n ? ": " : "", d.n ? d.msgs[0] : "");
		diag_free(&d);
		job_free(job);
		send_error(rt, inv->request_id, "vmpipe.ConfigError", err);
		return;
	}
	diag_free(&d);

	int64_t hard = 0;
	char what[200];
	snprintf(what, sizeof what, "voicemail %s", vm_job_id(job));
	if (invocation_deadline(rt, inv, what, &hard) != 0) {
		job_free(job);
		return;
	}
	log_msg(job, "lambda", VM_LOG_INFO, "invocation %s (%lld ms left; trace %s)", inv->request_id,
		(long long)(inv->deadline_ms ? inv->deadline_ms - clock_now_ms() : -1),
		inv->trace_id ? inv->trace_id : "none");
	/* With [pipeline] state, a retried event resumes (or is already done). */
	int rc = job_run(p, &job, hard);
	watchdog_claim(&rt->wd);
	if (rc == EXIT_DONE) {
		char *out = json_dumps(job->rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (out)
			send_response(rt, inv->request_id, out);
		else
			send_error(rt, inv->request_id, "vmpipe.TempFail", "out of memory");
		free(out);
	} else {
		failure_message(job, rc, err, sizeof err);
		send_error(rt, inv->request_id, error_type(rc), err);
	}
	job_free(job);
}

/* ---- a Kinesis batch of contact records (kinesis_event.h) ---- */

struct kinesis_ctx {
	struct runtime *rt;
	const char *rid;
	int64_t hard;
};

/* One voicemail in the one-invocation mode: run to its end.  With [pipeline]
 * state, a record delivered again finds its job done. */
static enum kinesis_item kinesis_run(void *ctx, vm_job *job, const char *owner)
{
	struct kinesis_ctx *k = ctx;
	(void)owner;
	struct diag d = {0};
	const char *tenant = vm_job_get_str(job, "tenant");
	struct pipeline *p = tenants_get(k->rt->tenants, tenant, &d);
	if (!p) {
		diag_print(&d);
		diag_free(&d);
		log_msg(job, "lambda", VM_LOG_ERROR, "tenant '%s': pipeline refused", tenant ? tenant : "");
		job_free(job);
		return KINESIS_AGAIN;
	}
	diag_free(&d);
	int rc = job_run(p, &job, k->hard);
	if (rc != EXIT_DONE && rc != EXIT_NO_RECORDING)
		log_msg(job, "lambda", VM_LOG_ERROR, "not delivered (exit %d): its record comes again", rc);
	job_free(job);
	return rc == EXIT_DONE || rc == EXIT_NO_RECORDING ? KINESIS_OK : KINESIS_AGAIN;
}

static enum kinesis_item kinesis_suspend(void *ctx, vm_job *job, const char *owner)
{
	struct kinesis_ctx *k = ctx;
	return suspend_run_new(&k->rt->wake, k->rt->tenants, k->rid, k->hard, job, owner) == 0 ? KINESIS_OK
											    : KINESIS_AGAIN;
}

static void run_kinesis(struct runtime *rt, const struct lambda_invocation *inv, const json_t *ev)
{
	char what[200];
	snprintf(what, sizeof what, "Kinesis batch of invocation %s", inv->request_id);
	struct kinesis_ctx k = {rt, inv->request_id, 0};
	if (invocation_deadline(rt, inv, what, &k.hard) != 0)
		return;
	log_msg(NULL, "lambda", VM_LOG_INFO, "invocation %s: %zu Kinesis record(s)", inv->request_id,
		json_array_size(json_object_get(ev, "Records")));
	const char *state = tenants_base(rt->tenants)->set.state;
	if (!state || !*state)
		log_msg(NULL, "lambda", VM_LOG_WARN, "contact records come at least once and a failed batch comes "
			"again, but [pipeline] state is not set (VMPIPE_STATE): a record delivered again mails again");
	json_t *ans = kinesis_batch(ev, k.hard, rt->wake.on ? kinesis_suspend : kinesis_run, &k);
	watchdog_claim(&rt->wd);
	char *out = ans ? json_dumps(ans, JSON_COMPACT) : NULL;
	json_decref(ans);
	if (out)
		send_response(rt, inv->request_id, out);
	else
		send_error(rt, inv->request_id, "vmpipe.TempFail", "out of memory");
	free(out);
}

static void handle(struct runtime *rt, const struct lambda_invocation *inv)
{
	if (inv->trace_id)
		setenv("_X_AMZN_TRACE_ID", inv->trace_id, 1);
	else
		unsetenv("_X_AMZN_TRACE_ID");
	json_t *ev = inv->body_len <= EVENT_MAX_BYTES ?
		json_loadb(inv->body, inv->body_len, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (ev && link_is_http_event(ev)) {
		int status = 0;
		char *resp = link_click(rt->link, rt->tenants, ev, clock_now_ms(), &status);
		json_decref(ev);
		log_msg(NULL, "lambda", VM_LOG_INFO, "invocation %s: link click answered %d",
			inv->request_id, status);
		if (resp)
			send_response(rt, inv->request_id, resp);
		else
			send_error(rt, inv->request_id, "vmpipe.TempFail", "out of memory");
		free(resp);
		return;
	}
	if (ev && kinesis_is_batch(ev)) {
		run_kinesis(rt, inv, ev);
		json_decref(ev);
		return;
	}
	json_decref(ev);
	run_event(rt, inv);
}

/* ---- the loop ---- */

static int init_failed(struct runtime *rt, const char *type, const char *msg)
{
	char err[400];
	log_msg(NULL, "lambda", VM_LOG_ERROR, "init failed: %s", msg);
	if (lambda_api_error(&rt->api, NULL, type, msg, err, sizeof err) != 0)
		log_msg(NULL, "lambda", VM_LOG_ERROR, "%s", err);
	return EXIT_CONFIG;
}

static int serve(struct runtime *rt)
{
	int failures = 0;
	for (;;) {
		struct lambda_invocation inv;
		char err[400];
		if (lambda_api_next(&rt->api, &inv, err, sizeof err) != 0) {
			/* The Runtime API is local and does not fail; if it does, a new
			 * container is the cure. */
			log_msg(NULL, "lambda", VM_LOG_ERROR, "%s", err);
			if (++failures >= 3)
				return EXIT_SOFTWARE;
			clock_sleep_ms(100 * failures);
			continue;
		}
		failures = 0;
		handle(rt, &inv);
		lambda_invocation_clear(&inv);
	}
}

int lambda_main(const char *config, const char *default_plugin_dir)
{
	lambda_logging();
	struct runtime rt = {.margin_ms = margin_ms()};
	if (lambda_api_init(&rt.api, getenv("AWS_LAMBDA_RUNTIME_API")) != 0) {
		log_msg(NULL, "lambda", VM_LOG_ERROR,
			"AWS_LAMBDA_RUNTIME_API is not set (or not host:port): not running on Lambda?");
		return EXIT_CONFIG;
	}
	char err[600];
	rt.link = link_config(err, sizeof err);
	if (!rt.link)
		return init_failed(&rt, "vmpipe.ConfigError", err);

	char *path = pipeline_path(config);
	char *pdir = plugin_dir(default_plugin_dir);
	struct diag d = {0};
	rt.tenants = path && pdir ? tenants_open(path, pdir, &d) : NULL;
	if (!rt.tenants) {
		diag_print(&d);
		char msg[1200];
		snprintf(msg, sizeof msg, "%s: pipeline refused (%zu problem%s)%s%s", path ? path : "?",
			 d.n, d.n == 1 ? "" : "s", d.n ? ": " : "", d.n ? d.msgs[0] : "");
		diag_free(&d);
		free(path);
		free(pdir);
		return init_failed(&rt, "vmpipe.ConfigError", msg);
	}
	diag_free(&d);
	if (wake_config(&rt.wake, err, sizeof err) != 0 ||
	    (rt.wake.on && suspend_check(tenants_base(rt.tenants), err, sizeof err) != 0)) {
		tenants_close(rt.tenants);
		free(path);
		free(pdir);
		return init_failed(&rt, "vmpipe.ConfigError", err);
	}
	log_msg(NULL, "lambda", VM_LOG_INFO, "pipeline %s loaded (plugins from %s)%s", path,
		tenants_base(rt.tenants)->plugin_dir, rt.link->enabled ? "; link mode on" : "");
	/* A wait longer than suspend_after belongs to a wake-up, the AWS client's
	 * own retry backoff included (as `vmpipe serve` gives its waits to the
	 * scheduler): a call that would wait longer answers its retryable error. */
	if (rt.wake.on)
		aws_set_wait_budget(rt.wake.suspend_after_ms);
	if (rt.wake.on)
		log_msg(NULL, "lambda", VM_LOG_INFO, "suspend mode: waits over %lld ms are suspended, woken by %s%s%s",
			(long long)rt.wake.suspend_after_ms, "the wake-up queue",
			rt.wake.s3_events ? ", S3 events" : "", rt.wake.transcribe_events ? ", Transcribe events" : "");
	free(path);
	free(pdir);

	rt.wd.api = &rt.api;
	pthread_mutex_init(&rt.wd.mu, NULL);
	pthread_cond_init(&rt.wd.cv, NULL);
	int rc;
	if (pthread_create(&rt.wd.thread, NULL, watchdog_main, &rt.wd) != 0) {
		rc = init_failed(&rt, "vmpipe.InitError", "cannot start the watchdog thread");
	} else {
		rc = serve(&rt);
		pthread_mutex_lock(&rt.wd.mu);
		rt.wd.quit = true;
		pthread_cond_signal(&rt.wd.cv);
		pthread_mutex_unlock(&rt.wd.mu);
		pthread_join(rt.wd.thread, NULL);
	}
	pthread_cond_destroy(&rt.wd.cv);
	pthread_mutex_destroy(&rt.wd.mu);
	tenants_close(rt.tenants);
	aws_host_shutdown();
	return rc;
}
