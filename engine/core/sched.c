/*
 * The scheduler (see sched.h).  The polling thread owns the timer heap, the
 * ready queue and the stage slots; a job being stepped (step.c) belongs to
 * the one worker stepping it, and comes back through the done queue.
 */
#include "sched_int.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "util.h"

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
		sched_step(sj, &s->o);
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
		sched_step(sj, &s->o);
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

