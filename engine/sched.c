/*
 * The scheduler (see sched.h).  The polling thread owns the timer heap, the
 * ready queue and the stage slots; a job being stepped belongs to the one
 * worker stepping it, and comes back through the done queue.
 */
#include "sched.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "intake.h"
#include "intake.h"
#include "log.h"
#include "state.h"
#include "util.h"

int64_t sched_backoff(int64_t base_ms, int64_t cap_ms, int n)
{
	int64_t d = base_ms > 0 ? base_ms : 1;
	for (int i = 1; i < n && d < cap_ms; i++)
		d *= 2;
	if (d > cap_ms)
		d = cap_ms;
	int64_t j = clock_jitter(d + 1);
	return j > 0 ? j : 1;
}

/* ------------------------------------------------------------- one job */

/* What a step asks of the polling thread next. */
enum step_next { NEXT_READY, NEXT_WAIT, NEXT_SLOT, NEXT_END };

struct sjob {
	vm_job *job;
	const struct pipeline *p;
	struct claim *claim;
	void *owner;
	int64_t start, deadline, notify_deadline;
	int64_t due;          /* NEXT_WAIT: when to step again */
	size_t idx;           /* the stage it is at */
	bool entered;         /* the stage's slot is held and its first call made or due */
	bool slotted;         /* holds a slot of stage idx (max_in_flight) */
	int transient;
	char *last_msg;       /* of the current stage's last failure; owned */
	vm_status last_kind;
	bool checked;         /* intake_check() ran */
	bool no_recording, notified_all, any_notifier, abandoned, lost;
	vm_status notify_kind;
	int rc;
	enum step_next next;
	const vm_stage *left; /* a stage whose slot this step gave back */
	size_t heap_at;       /* index in the timer heap; SIZE_MAX: not in it */
	char *frozen;         /* the record as compact JSON while it waits (job->rec NULL) */
	struct sjob *link;    /* ready queue, stage wait queue, work/done queues */
};

/* stages.<name> = what.  Stage names may hold a '.' ([notify.archive]), so the
 * name is one key of "stages", never a dotted path. */
static void mark(vm_job *job, const char *stage, const char *what)
{
	json_t *stages = json_object_get(job->rec, "stages");
	if (!json_is_object(stages)) {
		stages = json_object();
		if (json_object_set_new(job->rec, "stages", stages) != 0)
			return;
	}
	json_object_set_new(stages, stage, json_string(what));
}

static const char *mark_of(vm_job *job, const char *stage)
{
	return json_string_value(json_object_get(json_object_get(job->rec, "stages"), stage));
}

static void set_last(struct sjob *sj, const char *msg)
{
	free(sj->last_msg);
	sj->last_msg = strdup(msg);
}

/* Checkpoint; false when another runner took the job (then stop at once). */
static bool save(struct sjob *sj)
{
	if (state_save(sj->p, sj->claim, sj->job) == STATE_LOST) {
		sj->abandoned = sj->lost = true;
		return false;
	}
	return true;
}

/* The stage ended without success: what that means for the rest of the job. */
static void stage_failed(struct sjob *sj, const vm_stage *st, bool timed_out)
{
	vm_job *job = sj->job;
	mark(job, st->name, "failed");
	const char *why = job->fail_msg ? job->fail_msg : "timed out";
	switch (st->kind) {
	case VM_STAGE_LOCATE: {
		/* The owner still hears that somebody called. */
		sj->no_recording = true;
		/* A recording the locate stage refused or never found must not be
		 * used downstream: a notifier attaching recording.uri would send
		 * whatever the event named (file:///etc/passwd).  Keep it for
		 * diagnosis only. */
		const char *uri = vm_job_get_str(job, "recording.uri");
		if (uri) {
			vm_job_set_str(job, "recording.refused_uri", uri);
			vm_job_set_str(job, "recording.uri", NULL);
		}
		if (!vm_job_get_str(job, "recording.error"))
			vm_job_set_str(job, "recording.error", timed_out ? "timed out" : why);
		break;
	}
	case VM_STAGE_TRANSCRIBE:
		vm_job_set_str(job, "transcript.status", "failed");
		if (!vm_job_get_str(job, "transcript.error"))
			vm_job_set_str(job, "transcript.error", timed_out ? "timed out" : why);
		break;
	case VM_STAGE_NOTIFY:
		sj->notified_all = false;
		if (sj->last_kind == VM_PERMANENT || sj->notify_kind == VM_DONE)
			sj->notify_kind = sj->last_kind;
		break;
	}
}

static void leave_stage(struct sjob *sj, const vm_stage *st)
{
	if (sj->slotted)
		sj->left = st;
	sj->slotted = false;
	sj->entered = false;
	sj->idx++;
}

static void finish(struct sjob *sj);

/* A stage ended: checkpoint and go on; after the last one the job ends in
 * this step, with one save (a notifier's "done" and the job's end are
 * durable together, as soon as possible after the mail went out). */
static void stage_ended(struct sjob *sj)
{
	if (sj->idx >= sj->p->n_stages) {
		finish(sj);
		sj->next = NEXT_END;
		return;
	}
	save(sj);
	sj->next = NEXT_READY;
}

static void finish(struct sjob *sj)
{
	vm_job *job = sj->job;
	int rc;
	if (!sj->notified_all || !sj->any_notifier)
		rc = sj->notify_kind == VM_PERMANENT ? EXIT_UNAVAILABLE : EXIT_TEMPFAIL;
	else if (sj->no_recording)
		rc = EXIT_NO_RECORDING;
	else
		rc = EXIT_DONE;
	vm_job_set_str(job, "state", rc == EXIT_DONE ? "done" : "failed");
	sj->rc = rc;
	if (!save(sj))
		return;
	int64_t took = clock_now_ms() - sj->start;
	log_msg(job, NULL, rc ? VM_LOG_WARN : VM_LOG_INFO, "%s in %lld.%03llds (exit %d)",
		rc == EXIT_DONE ? "done" : "failed", (long long)(took / 1000), (long long)(took % 1000), rc);
}

/*
 * Advance the job by at most one plugin call.  Runs on a worker (or the
 * polling thread with workers = 0) and touches only the job.
 */
static void step(struct sjob *sj, const struct sched_opts *o)
{
	vm_job *job = sj->job;
	const struct pipeline *p = sj->p;
	sj->left = NULL;
	if (!sj->checked) {
		/* What intake can tell already (a recipient no notifier may mail)
		 * fails the job before anything is located, transcribed or paid for. */
		char why[512];
		sj->checked = true;
		int rc = intake_check(p, job, why, sizeof why);
		if (rc) {
			sj->rc = rc;
			save(sj);
			sj->next = NEXT_END;
			return;
		}
	}
	for (;;) {
		if (sj->abandoned) {
			sj->next = NEXT_END;
			return;
		}
		if (sj->idx >= p->n_stages) {
			finish(sj);
			sj->next = NEXT_END;
			return;
		}
		vm_stage *st = p->stages[sj->idx];
		if (!sj->entered) {
			const char *was = mark_of(job, st->name);
			if (was && strcmp(was, "done") == 0) {
				/* Resumed after this stage: a notifier that told the owner counts. */
				if (st->kind == VM_STAGE_NOTIFY)
					sj->any_notifier = true;
				sj->idx++;
				continue;
			}
			if (st->kind == VM_STAGE_TRANSCRIBE && sj->no_recording) {
				vm_job_set_str(job, "transcript.status", "skipped");
				vm_job_set_str(job, "transcript.error", "no recording");
				mark(job, st->name, "skipped");
				if (!save(sj))
					continue;
				sj->idx++;
				continue;
			}
			if (st->max_in_flight > 0 && !sj->slotted) {
				sj->next = NEXT_SLOT; /* the polling thread queues it for a slot */
				return;
			}
			sj->entered = true;
			sj->transient = 0;
			sj->last_kind = VM_DONE;
			free(sj->last_msg);
			sj->last_msg = NULL;
			log_msg(job, st->name, VM_LOG_DEBUG, "starting (%s)", st->mod->p->name);
			job->maybe_sent = false;
			if (st->kind == VM_STAGE_NOTIFY) {
				/* That a notifier is sending is durable before it sends: one
				 * resumed after a crash learns it may have delivered already
				 * (vm_job_maybe_sent), and a save fenced by the claim stops a
				 * runner that lost the job before it sends anything. */
				job->maybe_sent = was && strcmp(was, "sending") == 0;
				if (job->maybe_sent)
					log_msg(job, st->name, VM_LOG_INFO,
						"an earlier attempt got as far as sending: it may have delivered");
				mark(job, st->name, "sending");
				if (!save(sj))
					continue;
			}
		}

		int64_t dl = st->kind == VM_STAGE_NOTIFY ? sj->notify_deadline : sj->deadline;
		job->stage = st->name;
		job->deadline_ms = dl;
		job_reset_outcome(job);
		int64_t t0 = clock_now_ms();
		vm_status s = st->mod->p->run(st->state, job);
		int64_t now = clock_now_ms();
		if (o->stepped)
			o->stepped(o->ctx, st, s, now - t0);
		int64_t attempts = 0;
		vm_job_get_int(job, "attempts", &attempts);
		vm_job_set_int(job, "attempts", attempts + 1);
		int64_t delay = 0;
		switch (s) {
		case VM_DONE:
			log_msg(job, NULL, VM_LOG_DEBUG, "done");
			job->stage = NULL;
			mark(job, st->name, "done");
			if (st->kind == VM_STAGE_NOTIFY)
				sj->any_notifier = true;
			leave_stage(sj, st);
			/* Checkpoint: a retry skips what is done. */
			stage_ended(sj);
			return;
		case VM_RETRY:
			delay = job->retry_ms > 0 ? job->retry_ms : 1;
			log_msg(job, NULL, VM_LOG_DEBUG, "not ready, again in %lld ms", (long long)delay);
			break;
		case VM_TRANSIENT: {
			sj->transient++;
			delay = sched_backoff(p->set.retry_base_ms, p->set.retry_cap_ms, sj->transient);
			set_last(sj, job->fail_msg ? job->fail_msg : "transient failure");
			log_msg(job, NULL, VM_LOG_WARN, "%s (retry %d in %lld ms)", sj->last_msg, sj->transient,
				(long long)delay);
			job_add_error(job, st->name, "transient", sj->last_msg);
			sj->last_kind = VM_TRANSIENT;
			break;
		}
		default:
			set_last(sj, job->fail_msg ? job->fail_msg : "failed");
			log_msg(job, NULL, VM_LOG_ERROR, "%s", sj->last_msg);
			job_add_error(job, st->name, "permanent", sj->last_msg);
			sj->last_kind = VM_PERMANENT;
			job->stage = NULL;
			stage_failed(sj, st, false);
			leave_stage(sj, st);
			stage_ended(sj);
			return;
		}
		if (now >= dl) {
			char msg[700];
			snprintf(msg, sizeof msg, "timed out waiting in %s%s%s", st->name, sj->last_msg ? ": " : "",
				 sj->last_msg ? sj->last_msg : "");
			log_msg(job, NULL, VM_LOG_ERROR, "%s", msg);
			job_add_error(job, st->name, "timeout", msg);
			if (sj->last_kind != VM_PERMANENT)
				sj->last_kind = VM_TRANSIENT;
			job->stage = NULL;
			stage_failed(sj, st, true);
			leave_stage(sj, st);
			stage_ended(sj);
			return;
		}
		job->stage = NULL;
		sj->due = now + (delay < dl - now ? delay : dl - now);
		sj->next = NEXT_WAIT;
		return;
	}
}

/* ------------------------------------------------------------ the pool */

struct queue {
	struct sjob *head, *tail;
	size_t n;
};

static void q_push(struct queue *q, struct sjob *sj)
{
	sj->link = NULL;
	if (q->tail)
		q->tail->link = sj;
	else
		q->head = sj;
	q->tail = sj;
	q->n++;
}

static struct sjob *q_pop(struct queue *q)
{
	struct sjob *sj = q->head;
	if (!sj)
		return NULL;
	q->head = sj->link;
	if (!q->head)
		q->tail = NULL;
	q->n--;
	sj->link = NULL;
	return sj;
}

/* A stage's slots: how many jobs hold one, and who waits for one. */
struct slots {
	const vm_stage *st;
	int held;
	struct queue waiting;
};

struct sched {
	struct sched_opts o;
	/* polling thread only */
	struct sjob **heap;
	size_t nheap, capheap;
	struct queue ready;
	struct slots *slots;
	size_t nslots;
	size_t jobs;
	bool paused;
	/* shared with the workers */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct queue work, done;
	size_t busy; /* steps handed to workers and not yet collected */
	bool quit;
	int efd;
	pthread_t *threads;
	int nthreads;
};

static void *worker_main(void *arg)
{
	struct sched *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct sjob *sj = q_pop(&s->work);
		if (!sj) {
			if (s->quit)
				break;
			pthread_cond_wait(&s->cv, &s->mu);
			continue;
		}
		pthread_mutex_unlock(&s->mu);
		step(sj, &s->o);
		pthread_mutex_lock(&s->mu);
		q_push(&s->done, sj);
		uint64_t one = 1;
		if (write(s->efd, &one, sizeof one) < 0 && errno != EAGAIN)
			log_msg(NULL, "sched", VM_LOG_WARN, "cannot wake the scheduler: %s", strerror(errno));
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

struct sched *sched_new(const struct sched_opts *o)
{
	struct sched *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->o = *o;
	s->efd = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (o->workers > 0) {
		s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		s->threads = calloc((size_t)o->workers, sizeof *s->threads);
		if (s->efd < 0 || !s->threads) {
			sched_free(s);
			return NULL;
		}
		for (int i = 0; i < o->workers; i++) {
			if (pthread_create(&s->threads[i], NULL, worker_main, s) != 0) {
				sched_free(s);
				return NULL;
			}
			s->nthreads++;
		}
	}
	return s;
}

/*
 * A job that waits long keeps its record as compact JSON, not as a tree of
 * JSON values: a waiting job should cost little more than its record (a few
 * KiB as a tree, under 2 as text), and thousands wait at once in `serve`.
 */
#define FREEZE_AFTER_MS 1000

static void freeze(struct sjob *sj)
{
	if (sj->frozen || !sj->job->rec)
		return;
	sj->frozen = json_dumps(sj->job->rec, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
	if (!sj->frozen)
		return; /* no memory for the text: it waits as a tree */
	json_decref(sj->job->rec);
	sj->job->rec = NULL;
}

/* The record back as a tree; false (it stays frozen) when there is no memory for it. */
static bool thaw(struct sjob *sj)
{
	if (!sj->frozen)
		return true;
	json_error_t e;
	json_t *rec = json_loads(sj->frozen, JSON_REJECT_DUPLICATES, &e);
	if (!rec) {
		log_msg(NULL, "sched", VM_LOG_ERROR, "a waiting job's record cannot be read back: %s", e.text);
		return false;
	}
	sj->job->rec = rec;
	free(sj->frozen);
	sj->frozen = NULL;
	return true;
}

static void sjob_free(struct sjob *sj)
{
	free(sj->frozen);
	free(sj->last_msg);
	free(sj);
}

/* ------------------------------------------------------------- timers */

static void heap_swap(struct sched *s, size_t a, size_t b)
{
	struct sjob *t = s->heap[a];
	s->heap[a] = s->heap[b];
	s->heap[b] = t;
	s->heap[a]->heap_at = a;
	s->heap[b]->heap_at = b;
}

static void heap_push(struct sched *s, struct sjob *sj)
{
	if (s->nheap == s->capheap) {
		size_t cap = s->capheap ? s->capheap * 2 : 64;
		struct sjob **h = realloc(s->heap, cap * sizeof *h);
		if (!h) {
			/* No room for a timer: step it again now rather than lose it. */
			q_push(&s->ready, sj);
			return;
		}
		s->heap = h;
		s->capheap = cap;
	}
	size_t i = s->nheap++;
	s->heap[i] = sj;
	sj->heap_at = i;
	while (i > 0 && s->heap[(i - 1) / 2]->due > s->heap[i]->due) {
		heap_swap(s, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static struct sjob *heap_pop(struct sched *s)
{
	struct sjob *top = s->heap[0];
	s->nheap--;
	if (s->nheap) {
		s->heap[0] = s->heap[s->nheap];
		s->heap[0]->heap_at = 0;
		size_t i = 0;
		for (;;) {
			size_t l = 2 * i + 1, r = l + 1, m = i;
			if (l < s->nheap && s->heap[l]->due < s->heap[m]->due)
				m = l;
			if (r < s->nheap && s->heap[r]->due < s->heap[m]->due)
				m = r;
			if (m == i)
				break;
			heap_swap(s, i, m);
			i = m;
		}
	}
	top->heap_at = SIZE_MAX;
	return top;
}

/* Ready to step.  Behind a long queue (thousands taken in at once) the
 * record waits as text too, like a job on a timer. */
static void ready_push(struct sched *s, struct sjob *sj)
{
	if (s->ready.n >= 16 + 4 * (size_t)s->nthreads)
		freeze(sj);
	q_push(&s->ready, sj);
}

/* ------------------------------------------------------------- slots */

static struct slots *slots_of(struct sched *s, const vm_stage *st)
{
	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i].st == st)
			return &s->slots[i];
	struct slots *n = realloc(s->slots, (s->nslots + 1) * sizeof *n);
	if (!n)
		return NULL;
	s->slots = n;
	memset(&n[s->nslots], 0, sizeof *n);
	n[s->nslots].st = st;
	return &n[s->nslots++];
}

/* Give back a slot of `st`: the next job waiting for one gets it. */
static void slot_release(struct sched *s, const vm_stage *st)
{
	struct slots *sl = slots_of(s, st);
	if (!sl)
		return;
	sl->held--;
	struct sjob *next = q_pop(&sl->waiting);
	if (next) {
		sl->held++;
		next->slotted = true;
		ready_push(s, next);
	}
}

static void slot_request(struct sched *s, struct sjob *sj)
{
	const vm_stage *st = sj->p->stages[sj->idx];
	struct slots *sl = slots_of(s, st);
	if (!sl || sl->held < st->max_in_flight) {
		if (sl)
			sl->held++;
		sj->slotted = true;
		ready_push(s, sj);
		return;
	}
	log_msg(sj->job, st->name, VM_LOG_DEBUG, "queued: %d of max_in_flight %d jobs are in %s",
		sl->held, st->max_in_flight, st->name);
	q_push(&sl->waiting, sj);
}

/* ----------------------------------------------------------- dispatching */

static void ended(struct sched *s, struct sjob *sj)
{
	thaw(sj);
	struct sched_end e = {sj->job, sj->p, sj->claim, sj->rc, sj->abandoned, sj->lost, sj->owner};
	if (sj->slotted)
		slot_release(s, sj->p->stages[sj->idx]);
	s->jobs--;
	sjob_free(sj);
	if (s->o.ended)
		s->o.ended(s->o.ctx, &e);
}

/* A step came back: put the job where its answer says. */
static void collect(struct sched *s, struct sjob *sj)
{
	if (sj->left)
		slot_release(s, sj->left);
	sj->left = NULL;
	switch (sj->next) {
	case NEXT_READY: ready_push(s, sj); break;
	case NEXT_WAIT:
		if (sj->due - clock_now_ms() >= FREEZE_AFTER_MS)
			freeze(sj);
		heap_push(s, sj);
		break;
	case NEXT_SLOT: slot_request(s, sj); break;
	case NEXT_END: ended(s, sj); break;
	}
}

void sched_add(struct sched *s, const struct pipeline *p, vm_job *job, struct claim *claim,
	       int64_t hard_deadline_ms, void *owner)
{
	struct sjob *sj = calloc(1, sizeof *sj);
	if (!sj) {
		struct sched_end e = {job, p, claim, EXIT_SOFTWARE, true, false, owner};
		log_msg(job, "sched", VM_LOG_ERROR, "out of memory: job not started");
		if (s->o.ended)
			s->o.ended(s->o.ctx, &e);
		return;
	}
	sj->job = job;
	sj->p = p;
	sj->claim = claim;
	sj->owner = owner;
	sj->start = clock_now_ms();
	sj->deadline = sj->start + p->set.timeout_ms;
	const char *kept = s->o.keep_deadlines ? vm_job_get_str(job, "timeout_at") : NULL;
	int64_t at;
	if (kept && parse_iso_ms(kept, &at) == 0)
		sj->deadline = at;
	else {
		char ts[32];
		vm_format_time(sj->deadline, ts, sizeof ts);
		vm_job_set_str(job, "timeout_at", ts);
	}
	sj->notify_deadline = sj->deadline + p->set.notify_grace_ms;
	if (hard_deadline_ms) {
		if (sj->deadline > hard_deadline_ms)
			sj->deadline = hard_deadline_ms;
		if (sj->notify_deadline > hard_deadline_ms)
			sj->notify_deadline = hard_deadline_ms;
	}
	sj->notified_all = true;
	sj->notify_kind = VM_DONE;
	sj->heap_at = SIZE_MAX;
	s->jobs++;
	ready_push(s, sj);
}

static void dispatch(struct sched *s, struct sjob *sj)
{
	if (!thaw(sj)) {
		sj->due = clock_now_ms() + FREEZE_AFTER_MS; /* no memory now: a little later */
		heap_push(s, sj);
		return;
	}
	if (s->nthreads == 0) {
		step(sj, &s->o);
		collect(s, sj);
		return;
	}
	pthread_mutex_lock(&s->mu);
	q_push(&s->work, sj);
	s->busy++;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void drain_done(struct sched *s)
{
	if (s->nthreads == 0)
		return;
	uint64_t n;
	if (read(s->efd, &n, sizeof n) < 0 && errno != EAGAIN)
		log_msg(NULL, "sched", VM_LOG_WARN, "wake-up read failed: %s", strerror(errno));
	struct queue got;
	pthread_mutex_lock(&s->mu);
	got = s->done;
	memset(&s->done, 0, sizeof s->done);
	s->busy -= got.n;
	pthread_mutex_unlock(&s->mu);
	struct sjob *sj;
	while ((sj = q_pop(&got)))
		collect(s, sj);
}

int64_t sched_poll(struct sched *s)
{
	drain_done(s);
	bool saturated = false;
	if (!s->paused) {
		int64_t now = clock_now_ms();
		while (s->nheap && s->heap[0]->due <= now)
			ready_push(s, heap_pop(s));
		/* Steps run inline (workers = 0) may make more ready: bounded by what
		 * was ready when we started, so timers are looked at again.  With
		 * workers, a few steps per worker are handed over and the rest stay
		 * here, where a long queue keeps its records as text. */
		size_t n = s->ready.n;
		while (n-- && s->ready.head) {
			if (s->nthreads && sched_busy(s) >= 2 * (size_t)s->nthreads) {
				saturated = true;
				break;
			}
			dispatch(s, q_pop(&s->ready));
		}
		drain_done(s);
	}
	if (s->ready.n && !s->paused && !saturated)
		return 0;
	/* Saturated: a worker that finishes wakes the owner (sched_fd()). */
	if (!s->nheap)
		return -1;
	int64_t wait = s->heap[0]->due - clock_now_ms();
	return wait > 0 ? wait : 0;
}

int sched_fd(const struct sched *s)
{
	return s->efd;
}

int64_t sched_real_wait(const struct sched *s, int64_t ms)
{
	if (ms < 0)
		return -1;
	if (clock_is_fake())
		return sched_busy(s) ? -1 : 0; /* a worker's end, or at once */
	return clock_real_ms(ms);
}

bool sched_idle(const struct sched *s)
{
	return (s->paused || s->ready.n == 0) && sched_busy(s) == 0;
}

void sched_wait(struct sched *s, int64_t ms)
{
	if (clock_is_fake() && sched_idle(s)) {
		if (ms > 0)
			clock_sleep_ms(ms); /* virtual time jumps to the next timer */
		return;
	}
	if (clock_is_fake() && sched_busy(s) == 0)
		return; /* steps are ready: time stands still until they ran */
	if (s->efd < 0) {
		if (ms > 0)
			clock_sleep_ms(ms);
		return;
	}
	struct pollfd pf = {s->efd, POLLIN, 0};
	int64_t real = clock_is_fake() ? -1 : (ms < 0 ? -1 : clock_real_ms(ms));
	if (poll(&pf, 1, real > INT32_MAX ? INT32_MAX : (int)real) < 0 && errno != EINTR)
		log_msg(NULL, "sched", VM_LOG_WARN, "poll: %s", strerror(errno));
}

size_t sched_jobs(const struct sched *s)
{
	return s->jobs;
}

size_t sched_busy(const struct sched *s)
{
	pthread_mutex_t *mu = (pthread_mutex_t *)&s->mu;
	pthread_mutex_lock(mu);
	size_t b = s->busy;
	pthread_mutex_unlock(mu);
	return b;
}

void sched_pause(struct sched *s)
{
	s->paused = true;
}

void sched_each(struct sched *s, void (*fn)(void *, vm_job *, const struct pipeline *, struct claim *, void *),
		void *ctx)
{
	for (size_t i = 0; i < s->nheap; i++) {
		struct sjob *sj = s->heap[i];
		bool was = sj->frozen != NULL;
		if (thaw(sj))
			fn(ctx, sj->job, sj->p, sj->claim, sj->owner);
		if (was)
			freeze(sj); /* one at a time: thousands may wait */
	}
	for (struct sjob *sj = s->ready.head; sj; sj = sj->link) {
		bool was = sj->frozen != NULL;
		if (thaw(sj))
			fn(ctx, sj->job, sj->p, sj->claim, sj->owner);
		if (was)
			freeze(sj);
	}
	for (size_t k = 0; k < s->nslots; k++)
		for (struct sjob *sj = s->slots[k].waiting.head; sj; sj = sj->link)
			fn(ctx, sj->job, sj->p, sj->claim, sj->owner);
}

bool sched_detach(struct sched *s, vm_job **job, struct claim **claim, int64_t *due_ms, void **owner)
{
	if (!s->nheap)
		return false;
	struct sjob *sj = heap_pop(s);
	thaw(sj);
	*job = sj->job;
	*claim = sj->claim;
	*due_ms = sj->due;
	*owner = sj->owner;
	if (sj->slotted)
		slot_release(s, sj->p->stages[sj->idx]);
	s->jobs--;
	sjob_free(sj);
	return true;
}

static void abandon_all(struct sched *s, struct queue *q)
{
	struct sjob *sj;
	while ((sj = q_pop(q))) {
		sj->abandoned = true;
		sj->slotted = false;
		ended(s, sj);
	}
}

void sched_free(struct sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->quit = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
	/* Steps still queued for workers never ran; those done are collected. */
	s->busy = 0;
	abandon_all(s, &s->work);
	abandon_all(s, &s->done);
	while (s->nheap) {
		struct sjob *sj = heap_pop(s);
		sj->abandoned = true;
		sj->slotted = false;
		ended(s, sj);
	}
	abandon_all(s, &s->ready);
	for (size_t k = 0; k < s->nslots; k++)
		abandon_all(s, &s->slots[k].waiting);
	free(s->slots);
	free(s->heap);
	free(s->threads);
	if (s->efd >= 0)
		close(s->efd);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* ------------------------------------------------------------ one job */

struct one {
	int rc;
	bool over;
};

static void one_ended(void *ctx, const struct sched_end *e)
{
	struct one *o = ctx;
	o->rc = e->abandoned && e->rc == 0 ? EXIT_TEMPFAIL : e->rc;
	o->over = true;
}

/* One job on this thread until it ends, or (suspend_after_ms >= 0) until
 * its next step is further away than that: then EXIT_SUSPENDED and *due_ms. */
static int run_claimed(const struct pipeline *p, vm_job *job, struct claim *claim, int64_t hard_deadline_ms,
		       int64_t suspend_after_ms, int64_t *due_ms)
{
	struct one one = {0, false};
	struct sched_opts o = {.workers = 0, .ended = one_ended, .ctx = &one,
			       .keep_deadlines = suspend_after_ms >= 0};
	struct sched *s = sched_new(&o);
	if (!s)
		return EXIT_SOFTWARE;
	sched_add(s, p, job, claim, hard_deadline_ms, NULL);
	while (!one.over) {
		int64_t wait = sched_poll(s);
		if (one.over)
			break;
		if (suspend_after_ms >= 0 && wait > suspend_after_ms) {
			vm_job *j;
			struct claim *c;
			void *owner;
			if (sched_detach(s, &j, &c, due_ms, &owner)) {
				one.rc = EXIT_SUSPENDED;
				break;
			}
		}
		sched_wait(s, wait);
	}
	sched_free(s);
	return one.rc;
}

int sched_run(const struct pipeline *p, vm_job *job, int64_t hard_deadline_ms)
{
	return run_claimed(p, job, NULL, hard_deadline_ms, -1, NULL);
}

int job_run(const struct pipeline *p, vm_job **jobp, int64_t hard_deadline_ms)
{
	if (!state_enabled(p))
		return sched_run(p, *jobp, hard_deadline_ms);
	/* Another runner holding the job: wait for it (then it is usually done). */
	int64_t wait = p->set.timeout_ms + p->set.notify_grace_ms;
	if (hard_deadline_ms && hard_deadline_ms - clock_now_ms() < wait)
		wait = hard_deadline_ms - clock_now_ms();
	bool busy = false;
	int rc = job_run_until(p, jobp, hard_deadline_ms, -1, NULL, wait, NULL, &busy);
	if (busy)
		log_msg(*jobp, "state", VM_LOG_ERROR, "another runner still holds this job: not run twice");
	return rc;
}

int job_run_until(const struct pipeline *p, vm_job **jobp, int64_t hard_deadline_ms, int64_t suspend_after_ms,
		  const char *owner, int64_t wait_ms, int64_t *due_ms, bool *busy)
{
	vm_job *job = *jobp;
	*busy = false;
	if (!state_enabled(p))
		return sched_run(p, job, hard_deadline_ms);
	struct claim *claim = NULL;
	vm_job *stored = NULL;
	int c = state_claim(p, job, vm_job_id(job), owner, wait_ms, &claim, &stored);
	if (c == STATE_BUSY) {
		*busy = true;
		return EXIT_TEMPFAIL;
	}
	/* Unreadable (STATE_ERROR, logged): run from the event.  The owner
	 * hearing of the call twice is better than not at all. */
	if (stored) {
		job_free(job);
		*jobp = job = stored;
		const char *st = vm_job_get_str(job, "state");
		if (st && strcmp(st, "done") == 0) {
			log_msg(job, "state", VM_LOG_INFO, "already done (checkpoint): nothing to run again");
			state_release(p, claim, job);
			return EXIT_DONE;
		}
		log_msg(job, "state", VM_LOG_INFO, "resuming from its checkpoint (state %s)", st ? st : "?");
		state_prepare_resume(job);
	}
	int64_t due = 0;
	int rc = run_claimed(p, job, claim, hard_deadline_ms, suspend_after_ms, &due);
	if (rc == EXIT_SUSPENDED) {
		char ts[32];
		vm_format_time(due, ts, sizeof ts);
		vm_job_set_str(job, "suspended_until", ts);
		/* Nothing of a suspended job stays with its runner: unsaved, it would
		 * be lost.  Say so, so that whatever brought the job comes again. */
		if (state_save(p, claim, job) != STATE_OK) {
			log_msg(job, "state", VM_LOG_ERROR, "suspended, but its checkpoint was not saved");
			rc = EXIT_TEMPFAIL;
		} else if (due_ms) {
			*due_ms = due;
		}
	}
	state_release(p, claim, job);
	return rc;
}
