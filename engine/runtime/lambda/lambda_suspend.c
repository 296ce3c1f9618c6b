/*
 * Lambda's suspend mode (see lambda_suspend.h): events in, jobs stepped,
 * wake-ups arranged, answers out.
 */
#include "lambda_suspend.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/event.h"
#include "core/event_limits.h"
#include "core/log.h"
#include "core/sched.h"
#include "sqs_event.h"
#include "core/state.h"
#include "sweep.h"
#include "core/util.h"
#include "wake_index.h"

/* A wake-up due within this is due now (DelaySeconds has whole seconds). */
#define DUE_SLACK_MS 1000
/* Rounds of "the event came while we stepped: step again" in one invocation. */
#define NEWS_ROUNDS 3

struct inv {
	const struct wake_cfg *w;
	struct tenants *t;
	const char *rid;
	int64_t hard;
	const char *base_state; /* the base pipeline's s3:// state: where the index lives */
	struct suspend_answer *ans;
};

static const char *str_of(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* ------------------------------------------------------------ answers */

static void answer_error(struct suspend_answer *a, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void answer_error(struct suspend_answer *a, const char *type, const char *fmt, ...)
{
	va_list ap;
	a->kind = ANSWER_ERROR;
	snprintf(a->type, sizeof a->type, "%s", type);
	va_start(ap, fmt);
	vsnprintf(a->msg, sizeof a->msg, fmt, ap);
	va_end(ap);
}

/* Respond with `o` (taken). */
static void answer_json(struct suspend_answer *a, json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (!s) {
		answer_error(a, "vmpipe.TempFail", "out of memory");
		return;
	}
	a->kind = ANSWER_RESPONSE;
	a->body = s;
}

static json_t *state_doc(const char *id, const char *state)
{
	return json_pack("{s:s, s:s}", "id", id, "state", state);
}

/* ------------------------------------------------------------ running */

enum outcome { OUT_DONE, OUT_FAILED, OUT_SUSPENDED, OUT_BUSY, OUT_RETRY };

struct result {
	enum outcome out;
	int rc;          /* OUT_DONE, OUT_FAILED */
	int64_t wake_at; /* OUT_SUSPENDED; OUT_BUSY: the wake-up left for when the holder's lease ends */
};

/* What the job waits for that an event announces: the stage it is in, and
 * the record fields the AWS plugins keep (wait_until: when they give up). */
struct cover {
	bool yes;
	enum wix_kind kind;
	const char *key;
	int64_t until; /* 0: the stage did not say */
};

static struct cover covered(const struct wake_cfg *w, const struct pipeline *p, vm_job *job)
{
	struct cover c = {0};
	json_t *stages = job_get(job, "stages");
	const vm_stage *st = NULL;
	for (size_t i = 0; i < p->n_stages && !st; i++) {
		const char *m = json_string_value(json_object_get(stages, p->stages[i]->name));
		if (!m || (strcmp(m, "done") != 0 && strcmp(m, "failed") != 0 && strcmp(m, "skipped") != 0))
			st = p->stages[i];
	}
	if (!st)
		return c;
	/* A recording searched for, or one a contact record named that is not
	 * visible yet (its key starts with the contact id as well). */
	const char *source = vm_job_get_str(job, "source");
	if (st->kind == VM_STAGE_LOCATE && w->s3_events &&
	    (!vm_job_get_str(job, "recording.uri") || (source && strcmp(source, "ctr") == 0))) {
		c.kind = WIX_RECORDING;
		c.key = vm_job_get_str(job, "contact.initial_id");
		vm_job_get_int(job, "recording.wait_until", &c.until);
	} else if (st->kind == VM_STAGE_TRANSCRIBE && w->transcribe_events) {
		c.kind = WIX_TRANSCRIBE;
		c.key = vm_job_get_str(job, "transcript.job");
		vm_job_get_int(job, "transcript.wait_until", &c.until);
	}
	c.yes = c.key && wix_key_ok(c.kind, c.key);
	return c;
}

/* When to look by ourselves while an event is expected: when the stage gives
 * up (or the job's deadline), but at most `fallback` from now, since some
 * events are delivered at best effort; never before the stage asked. */
static int64_t deferred(const struct wake_cfg *w, vm_job *job, const struct cover *c, int64_t due)
{
	if (c->until <= 0)
		return due;
	int64_t at = c->until, dl;
	if (parse_iso_ms(vm_job_get_str(job, "timeout_at"), &dl) == 0 && dl < at)
		at = dl;
	int64_t fb = clock_now_ms() + w->fallback_ms;
	if (fb < at)
		at = fb;
	return at > due ? at : due;
}

static int64_t attempts_of(const vm_job *job)
{
	int64_t n = 0;
	vm_job_get_int(job, "attempts", &n);
	return n;
}

static int send_wake(const struct wake_cfg *w, vm_job *job, int64_t at)
{
	struct wake_msg m = {.due_ms = at, .attempts = attempts_of(job)};
	const char *tenant = vm_job_get_str(job, "tenant");
	snprintf(m.job, sizeof m.job, "%s", vm_job_id(job));
	snprintf(m.tenant, sizeof m.tenant, "%s", tenant ? tenant : "");
	char err[800];
	if (wake_send(w, &m, err, sizeof err) != 0) {
		log_msg(job, "wakeup", VM_LOG_ERROR, "%s", err);
		return -1;
	}
	char ts[32];
	vm_format_time(at, ts, sizeof ts);
	log_msg(job, "wakeup", VM_LOG_INFO, "suspended until %s (a wake-up in %d s)", ts,
		wake_delay_s(at, clock_now_ms()));
	return 0;
}

/*
 * Job `id` (of `tenant`) is held by another runner: leave a wake-up that
 * steps it once the holder's lease has run out, in case the holder died
 * (Connect retries a dead invocation with a new request id, which finds the
 * job held by the dead one).  It carries the attempts of the checkpoint as
 * read now, so a holder that lives and steps the job makes it stale.  0 with
 * *at (0: nothing to arrange, the job is done), or -1 (logged).
 */
static int wake_after_holder(struct inv *v, const struct pipeline *p, const char *id, const char *tenant,
			     int64_t *at)
{
	vm_job *job = NULL;
	struct state_holder h;
	*at = 0;
	int l = state_load_held(p, NULL, id, &job, &h);
	if (l < 0)
		return -1;
	const char *st = l ? vm_job_get_str(job, "state") : NULL;
	if (l == 0 || (st && strcmp(st, "done") == 0)) {
		job_free(job);
		return 0;
	}
	int64_t now = clock_now_ms();
	int64_t when = h.until_ms > now ? h.until_ms + DUE_SLACK_MS : now + DUE_SLACK_MS;
	if (when > now + SUSPEND_HELD_MAX_MS)
		when = now + SUSPEND_HELD_MAX_MS;
	if (!vm_job_get_str(job, "tenant") && tenant && *tenant)
		vm_job_set_str(job, "tenant", tenant);
	int rc = send_wake(v->w, job, when);
	if (rc == 0) {
		log_msg(job, "wakeup", VM_LOG_INFO, "held by %s: a wake-up steps it if the holder lets its lease run out",
			*h.owner ? h.owner : "another runner");
		*at = when;
	}
	job_free(job);
	return rc;
}

/*
 * Run the job until it ends or suspends; a suspended one gets its wake-up
 * (and, when an event announces what it waits for, its index entry).
 */
static struct result run_job(struct inv *v, const struct pipeline *p, vm_job **job, const char *owner)
{
	struct result r = {OUT_RETRY, EXIT_TEMPFAIL, 0};
	for (int round = 0; round < NEWS_ROUNDS; round++) {
		int64_t due = 0;
		bool busy = false;
		int rc = job_run_until(p, job, v->hard, v->w->suspend_after_ms, owner, 0, &due, &busy);
		if (busy) {
			r.out = OUT_BUSY;
			return r;
		}
		if (rc != EXIT_SUSPENDED) {
			r.out = rc == EXIT_DONE ? OUT_DONE : OUT_FAILED;
			r.rc = rc;
			return r;
		}
		int64_t at = due;
		struct cover c = covered(v->w, p, *job);
		if (c.yes) {
			const char *tenant = vm_job_get_str(*job, "tenant");
			int x = wix_register(v->base_state, *job, c.kind, c.key, vm_job_id(*job), tenant ? tenant : "");
			if (x == WIX_NEWS) {
				log_msg(*job, "wakeup", VM_LOG_INFO, "what it waits for came meanwhile: stepping it again");
				continue;
			}
			if (x == WIX_DEFER)
				at = deferred(v->w, *job, &c, due);
		}
		if (send_wake(v->w, *job, at) != 0)
			return r; /* OUT_RETRY: suspended without a wake-up, so the event must come again */
		r.out = OUT_SUSPENDED;
		r.wake_at = at;
		return r;
	}
	/* News every round: the wake-up does the next step. */
	if (send_wake(v->w, *job, clock_now_ms()) != 0)
		return r;
	r.out = OUT_SUSPENDED;
	r.wake_at = clock_now_ms();
	return r;
}

static const struct pipeline *pipeline_of(struct inv *v, const char *tenant)
{
	struct diag d = {0};
	const struct pipeline *p = tenants_get(v->t, tenant && *tenant ? tenant : NULL, &d);
	if (!p) {
		diag_print(&d);
		answer_error(v->ans, "vmpipe.ConfigError", "tenant '%s': pipeline refused%s%s", tenant ? tenant : "",
			     d.n ? ": " : "", d.n ? d.msgs[0] : "");
	}
	diag_free(&d);
	return p;
}

/* The answer of an invocation that ran `job` (taken). */
static void answer_run(struct inv *v, vm_job *job, const struct result *r)
{
	struct suspend_answer *a = v->ans;
	char ts[32];
	switch (r->out) {
	case OUT_DONE:
		answer_json(a, json_incref(job->rec));
		break;
	case OUT_FAILED:
		a->kind = ANSWER_JOB_FAILED;
		a->job = job;
		a->rc = r->rc;
		return;
	case OUT_SUSPENDED: {
		vm_format_time(r->wake_at, ts, sizeof ts);
		json_t *o = state_doc(vm_job_id(job), "suspended");
		json_object_set_new(o, "wake_at", json_string(ts));
		answer_json(a, o);
		break;
	}
	case OUT_BUSY: {
		log_msg(job, "state", VM_LOG_INFO, "another invocation holds this job: acknowledged");
		json_t *o = state_doc(vm_job_id(job), "busy");
		if (r->wake_at) {
			vm_format_time(r->wake_at, ts, sizeof ts);
			json_object_set_new(o, "wake_at", json_string(ts));
		}
		answer_json(a, o);
		break;
	}
	case OUT_RETRY:
		answer_error(a, "vmpipe.TempFail", "voicemail %s: suspended, but its wake-up could not be arranged",
			     vm_job_id(job));
		break;
	}
	job_free(job);
}

/* A busy result: the wake-up for when the holder lets go (wake_after_holder()).
 * 0 (r->wake_at set; 0 when the job was found done since), or -1
 * after answering TempFail, so that whatever brought the job comes again. */
static int busy_wake(struct inv *v, const struct pipeline *p, vm_job *job, struct result *r)
{
	int64_t at = 0;
	const char *tenant = vm_job_get_str(job, "tenant");
	if (wake_after_holder(v, p, vm_job_id(job), tenant, &at) != 0) {
		answer_error(v->ans, "vmpipe.TempFail", "voicemail %s: another invocation holds it, and no wake-up "
			     "could be left for when it lets go", vm_job_id(job));
		job_free(job);
		return -1;
	}
	r->wake_at = at;
	return 0;
}

/* ------------------------------------------------------------ new jobs */

static void start_job(struct inv *v, const char *text, size_t len)
{
	char err[1024];
	vm_job *job = event_to_job(text, len, err, sizeof err);
	if (!job) {
		answer_error(v->ans, "vmpipe.BadEvent", "%s", err);
		return;
	}
	const struct pipeline *p = pipeline_of(v, vm_job_get_str(job, "tenant"));
	if (!p) {
		job_free(job);
		return;
	}
	char owner[200];
	snprintf(owner, sizeof owner, "lambda:%s", v->rid);
	struct result r = run_job(v, p, &job, owner);
	if (r.out == OUT_BUSY && busy_wake(v, p, job, &r) != 0)
		return;
	answer_run(v, job, &r);
}

/* A job from a batch of new events (the Kinesis contact records): run as a
 * new job is, the verdict for the batch's answer. */
int suspend_run_new(const struct wake_cfg *w, struct tenants *t, const char *request_id, int64_t hard_deadline_ms,
		    vm_job *job, const char *owner)
{
	struct suspend_answer a;
	memset(&a, 0, sizeof a);
	struct inv v = {w, t, request_id, hard_deadline_ms, tenants_base(t)->set.state, &a};
	const struct pipeline *p = pipeline_of(&v, vm_job_get_str(job, "tenant"));
	if (!p) {
		log_msg(job, "lambda", VM_LOG_ERROR, "%s", a.msg);
		job_free(job);
		return -1;
	}
	struct result r = run_job(&v, p, &job, owner);
	int rc = 0;
	if (r.out == OUT_RETRY || (r.out == OUT_FAILED && r.rc != EXIT_NO_RECORDING)) {
		log_msg(job, "lambda", VM_LOG_ERROR, "%s: its record comes again",
			r.out == OUT_RETRY ? "suspended without a wake-up" : "failed");
		rc = -1;
	}
	job_free(job);
	return rc;
}

/* ------------------------------------------------------------ events */

/* An event for `key`: find the waiting job and step it. */
static void event_for(struct inv *v, enum wix_kind k, const char *key, const char *what)
{
	char id[129], tenant[129];
	int x = wix_event(v->base_state, NULL, k, key, id, tenant);
	if (x == WIX_ERROR) {
		answer_error(v->ans, "vmpipe.TempFail", "%s: the index of waiting jobs could not be read", what);
		return;
	}
	if (x == WIX_NOTED) {
		log_msg(NULL, "wakeup", VM_LOG_INFO, "%s: no job waits for it (yet): noted", what);
		json_t *o = json_pack("{s:s, s:s}", "state", "noted", "for", key);
		answer_json(v->ans, o);
		return;
	}
	const struct pipeline *p = pipeline_of(v, tenant);
	if (!p)
		return;
	vm_job *job = NULL;
	int l = state_load(p, NULL, id, &job);
	if (l < 0) {
		answer_error(v->ans, "vmpipe.TempFail", "%s: the checkpoint of job %s could not be read", what, id);
		return;
	}
	if (l == 0) {
		log_msg(NULL, "wakeup", VM_LOG_WARN, "%s: job %s has no checkpoint: nothing to wake", what, id);
		answer_json(v->ans, state_doc(id, "unknown"));
		return;
	}
	const char *st = vm_job_get_str(job, "state");
	if (st && strcmp(st, "done") == 0) {
		log_msg(job, "wakeup", VM_LOG_INFO, "%s: the job is done already", what);
		answer_json(v->ans, json_incref(job->rec));
		job_free(job);
		return;
	}
	log_msg(job, "wakeup", VM_LOG_INFO, "%s: waking the job", what);
	char owner[200];
	snprintf(owner, sizeof owner, "lambda:%s", v->rid);
	struct result r = run_job(v, p, &job, owner);
	if (r.out == OUT_BUSY) {
		if (wix_news(v->base_state, job, k, key) != 0) {
			/* Nobody would learn of it but from a timer: let Lambda retry the event. */
			answer_error(v->ans, "vmpipe.TempFail", "%s: job %s is held and the news could not be left for it",
				     what, id);
			job_free(job);
			return;
		}
		/* The holder finds the news when it suspends; unless it let go
		 * before the news was written: then it is ours to step. */
		r = run_job(v, p, &job, owner);
		if (r.out == OUT_BUSY && busy_wake(v, p, job, &r) != 0)
			return;
	}
	answer_run(v, job, &r);
}

static void transcribe_event(struct inv *v, json_t *ev)
{
	json_t *detail = json_object_get(ev, "detail");
	const char *name = json_string_value(json_object_get(detail, "TranscriptionJobName"));
	const char *status = json_string_value(json_object_get(detail, "TranscriptionJobStatus"));
	if (!name || !status || !wix_key_ok(WIX_TRANSCRIBE, name)) {
		answer_error(v->ans, "vmpipe.BadEvent", "a Transcribe Job State Change without a valid "
			     "detail.TranscriptionJobName and detail.TranscriptionJobStatus");
		return;
	}
	if (!v->w->transcribe_events) {
		log_msg(NULL, "wakeup", VM_LOG_WARN, "Transcribe event for %s ignored: VMPIPE_WAKEUP_EVENTS has no "
			"'transcribe'", name);
		answer_json(v->ans, json_pack("{s:s, s:s}", "state", "ignored", "for", name));
		return;
	}
	if (strcmp(status, "COMPLETED") != 0 && strcmp(status, "FAILED") != 0) {
		answer_json(v->ans, json_pack("{s:s, s:s}", "state", "ignored", "for", name));
		return;
	}
	char what[300];
	snprintf(what, sizeof what, "Transcribe job %s %s", name, status);
	event_for(v, WIX_TRANSCRIBE, name, what);
}

/*
 * The contact id a recording's key starts with (Connect names recordings
 * {InitialContactId}_{time}_UTC.wav), from an S3 notification (Records[0],
 * the key URL-encoded with '+' for spaces).  Not event_to_job(): no job is
 * made of it, and what a new job would need (a recipient) is no matter here.
 * 0, or -1 with err.
 */
static int recording_id(const char *text, size_t len, char *id, size_t idsz, char *key, size_t keysz, char *err,
			size_t errsz)
{
	json_t *ev = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *r0 = json_array_get(json_object_get(ev, "Records"), 0);
	const char *name = str_of(r0, "eventName");
	const char *enc = str_of(json_object_get(json_object_get(r0, "s3"), "object"), "key");
	int rc = -1;
	size_t n = 0;
	if (!name || strncmp(name, "ObjectCreated:", 14) != 0 || !enc) {
		snprintf(err, errsz, "an S3 event that is not ObjectCreated with Records[0].s3.object.key");
		goto out;
	}
	for (const char *p = enc; *p; p++) {
		int c = *p;
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			static const char hex[] = "0123456789abcdef";
			const char *hi = p[1] ? strchr(hex, p[1] | 0x20) : NULL, *lo = hi && p[2] ? strchr(hex, p[2] | 0x20) : NULL;
			c = lo ? (int)((hi - hex) * 16 + (lo - hex)) : 0;
			p += 2;
		}
		if (c == 0 || n + 1 >= keysz) {
			snprintf(err, errsz, "S3 object key is badly URL-encoded or too long");
			goto out;
		}
		key[n++] = (char)c;
	}
	key[n] = '\0';
	const char *base = strrchr(key, '/');
	base = base ? base + 1 : key;
	size_t idn = strcspn(base, "_.");
	snprintf(id, idsz, "%.*s", (int)(idn < idsz ? idn : idsz - 1), base);
	if (idn == 0 || idn >= idsz || !is_plain_name(id, 128))
		snprintf(err, errsz, "S3 key '%.200s' does not start with a contact id", key);
	else
		rc = 0;
out:
	json_decref(ev);
	return rc;
}

static void recording_event(struct inv *v, const char *text, size_t len)
{
	char id[129], key[1100], err[400], what[1200];
	if (recording_id(text, len, id, sizeof id, key, sizeof key, err, sizeof err) != 0) {
		answer_error(v->ans, "vmpipe.BadEvent", "%s", err);
		return;
	}
	snprintf(what, sizeof what, "recording %.1100s", key);
	event_for(v, WIX_RECORDING, id, what);
}

/* ------------------------------------------------------------ wake-ups */

enum item { ITEM_OK, ITEM_AGAIN };

static enum item requeue(struct inv *v, const struct wake_msg *m, int64_t at, const char *why)
{
	struct wake_msg again = *m;
	again.due_ms = at;
	char err[800];
	if (wake_send(v->w, &again, err, sizeof err) != 0) {
		log_msg(NULL, "wakeup", VM_LOG_ERROR, "%s", err);
		return ITEM_AGAIN;
	}
	log_msg(NULL, "wakeup", VM_LOG_DEBUG, "wake-up of %s sent again (%s)", m->job, why);
	return ITEM_OK;
}

static enum item wake_one(struct inv *v, const char *mid, const char *body, size_t len)
{
	struct wake_msg m;
	char why[200];
	if (wake_parse(body, len, &m, why, sizeof why) != 0) {
		log_msg(NULL, "wakeup", VM_LOG_ERROR, "message %s is not a wake-up (%s): left to the queue's "
			"redrive policy", mid, why);
		return ITEM_AGAIN;
	}
	int64_t now = clock_now_ms();
	if (m.due_ms > now + DUE_SLACK_MS)
		return requeue(v, &m, m.due_ms, "not due yet: chained");
	struct diag d = {0};
	const struct pipeline *p = tenants_get(v->t, *m.tenant ? m.tenant : NULL, &d);
	if (!p) {
		diag_print(&d);
		diag_free(&d);
		return ITEM_AGAIN;
	}
	diag_free(&d);
	vm_job *job = NULL;
	struct state_holder h;
	int l = state_load_held(p, NULL, m.job, &job, &h);
	if (l < 0)
		return ITEM_AGAIN;
	if (l == 0) {
		log_msg(NULL, "wakeup", VM_LOG_WARN, "wake-up for job %s, which has no checkpoint: dropped", m.job);
		return ITEM_OK;
	}
	char owner[200];
	snprintf(owner, sizeof owner, "sqs:%s", mid);
	const char *st = vm_job_get_str(job, "state");
	/* This message stepped the job last: SQS delivers it again because its
	 * run failed or died (batchItemFailures, a crash), so it is the one
	 * that must step the job, however far its run got. */
	bool ours = strcmp(h.owner, owner) == 0;
	if ((st && strcmp(st, "done") == 0) || (!ours && attempts_of(job) > m.attempts)) {
		log_msg(job, "wakeup", VM_LOG_DEBUG, "wake-up not needed: the job is %s",
			st && strcmp(st, "done") == 0 ? "done" : "stepped since");
		job_free(job);
		return ITEM_OK;
	}
	if (ours)
		log_msg(job, "wakeup", VM_LOG_INFO, "wake-up delivered again (its last run did not finish): "
			"stepping the job from its checkpoint");
	struct result r = run_job(v, p, &job, owner);
	enum item it = ITEM_OK;
	switch (r.out) {
	case OUT_DONE:
	case OUT_SUSPENDED:
		break;
	case OUT_FAILED:
		/* The owner was told of a voicemail without its recording: done
		 * with.  Any other failure left the owner untold: again. */
		if (r.rc != EXIT_NO_RECORDING) {
			log_msg(job, "wakeup", VM_LOG_ERROR, "failed (exit %d): the wake-up comes again", r.rc);
			it = ITEM_AGAIN;
		}
		break;
	case OUT_BUSY: {
		/* Its holder arranges its own wake-up, unless it died: look again
		 * when its lease has run out. */
		int64_t at;
		it = wake_after_holder(v, p, m.job, m.tenant, &at) == 0 ? ITEM_OK : ITEM_AGAIN;
		break;
	}
	case OUT_RETRY:
		it = ITEM_AGAIN;
		break;
	}
	job_free(job);
	return it;
}

static void sqs_batch(struct inv *v, json_t *recs)
{
	json_t *failures = json_array();
	size_t i;
	json_t *rec;
	json_array_foreach(recs, i, rec)
	{
		const char *mid = json_string_value(json_object_get(rec, "messageId"));
		json_t *body = json_object_get(rec, "body");
		if (!mid || !*mid) {
			log_msg(NULL, "wakeup", VM_LOG_ERROR, "SQS record %zu has no messageId: skipped", i);
			continue; /* nothing to name it by: SQS delivers it again */
		}
		enum item it = ITEM_AGAIN;
		if (!json_is_string(body))
			log_msg(NULL, "wakeup", VM_LOG_ERROR, "SQS message %s has no body", mid);
		else if (v->hard && clock_now_ms() >= v->hard)
			log_msg(NULL, "wakeup", VM_LOG_WARN, "no time left for message %s: it comes again", mid);
		else
			it = wake_one(v, mid, json_string_value(body), json_string_length(body));
		if (it == ITEM_AGAIN)
			json_array_append_new(failures, json_pack("{s:s}", "itemIdentifier", mid));
	}
	answer_json(v->ans, json_pack("{s:o}", "batchItemFailures", failures));
}

/* ------------------------------------------------------------ the sweeper */

static void sweep(struct inv *v)
{
	struct sweep_result r;
	char err[800];
	if (sweep_run(v->w, v->t, &r, err, sizeof err) != 0) {
		answer_error(v->ans, "vmpipe.TempFail", "sweeper: %s", err);
		return;
	}
	log_msg(NULL, "sweep", r.woken ? VM_LOG_WARN : VM_LOG_INFO,
		"%zu checkpoints listed, %zu read, %zu stranded job%s woken%s", r.listed, r.examined, r.woken,
		r.woken == 1 ? "" : "s", r.woken ? " (each is a bug: see docs/lambda.md, \"The sweeper\")" : "");
	sweep_metric(r.woken);
	if (r.failed) {
		answer_error(v->ans, "vmpipe.TempFail", "sweeper: %zu checkpoint%s could not be read or woken",
			     r.failed, r.failed == 1 ? "" : "s");
		return;
	}
	answer_json(v->ans, json_pack("{s:s, s:I, s:I, s:I}", "state", "swept", "listed", (json_int_t)r.listed,
				      "examined", (json_int_t)r.examined, "woken", (json_int_t)r.woken));
}

/* ------------------------------------------------------------ dispatch */

int suspend_check(const struct pipeline *base, char *err, size_t errsz)
{
	const char *s = base->set.state;
	char bucket[64];
	const char *rest;
	if (!s || strncmp(s, "s3://", 5) != 0 || parse_s3_uri(s, bucket, sizeof bucket, &rest) != 0) {
		snprintf(err, errsz, "VMPIPE_WAKEUP_QUEUE (suspend mode) needs [pipeline] state = s3://BUCKET/PREFIX "
			 "(VMPIPE_STATE): a suspended job lives in its checkpoint, not in the container");
		return -1;
	}
	return 0;
}

void suspend_invoke(const struct wake_cfg *w, struct tenants *t, const char *request_id, const char *body,
		    size_t len, int64_t hard_deadline_ms, struct suspend_answer *ans)
{
	memset(ans, 0, sizeof *ans);
	struct inv v = {w, t, request_id, hard_deadline_ms, tenants_base(t)->set.state, ans};
	json_t *ev = len <= EVENT_MAX_BYTES ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
	json_t *recs = json_object_get(ev, "Records");
	const char *src0 = str_of(json_array_get(recs, 0), "eventSource");
	if (src0 && strcmp(src0, "aws:sqs") == 0) {
		sqs_batch(&v, recs);
		json_decref(ev);
		return;
	}
	const char *source = str_of(ev, "source"), *dtype = str_of(ev, "detail-type");
	if (source && strcmp(source, "aws.events") == 0 && dtype && strcmp(dtype, "Scheduled Event") == 0) {
		json_decref(ev);
		sweep(&v);
		return;
	}
	if (source && strcmp(source, "aws.transcribe") == 0 && dtype &&
	    strcmp(dtype, "Transcribe Job State Change") == 0) {
		transcribe_event(&v, ev);
		json_decref(ev);
		return;
	}
	bool s3 = (src0 && strcmp(src0, "aws:s3") == 0) || (source && strcmp(source, "aws.s3") == 0);
	bool parsed = ev != NULL;
	json_decref(ev);
	/* SNS envelopes, EventBridge's S3 form and S3's test event, as serve takes them. */
	char *text = NULL, why[400];
	size_t tlen = 0;
	enum sqs_event k = parsed ? sqs_event_unwrap(body, len, &text, &tlen, why, sizeof why) : SQS_EVENT_JOB;
	if (k == SQS_EVENT_TEST) {
		log_msg(NULL, "lambda", VM_LOG_INFO, "%s: acknowledged", why);
		answer_json(ans, json_pack("{s:s}", "state", "test-event"));
	} else if (k == SQS_EVENT_BAD) {
		answer_error(ans, "vmpipe.BadEvent", "%s", why);
	} else if (s3 && w->s3_events) {
		recording_event(&v, text ? text : body, text ? tlen : len);
	} else {
		start_job(&v, text ? text : body, text ? tlen : len);
	}
	free(text);
}
