/*
 * Prometheus metrics for `vmpipe serve` (see metrics.h).
 */
#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/mbuf.h"

/* Seconds; the last bucket is +Inf. */
static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
#define NB (sizeof bounds / sizeof *bounds)

struct histo {
	uint64_t bucket[NB + 1];
	uint64_t count;
	double sum;
};

static void histo_add(struct histo *h, double s)
{
	size_t i = 0;
	while (i < NB && s > bounds[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum += s;
}

enum { ST_DONE, ST_RETRY, ST_TRANSIENT, ST_PERMANENT, NST };
static const char *const status_names[NST] = {"done", "retry", "transient", "permanent"};

struct stage_m {
	char name[80];
	uint64_t calls[NST];
	struct histo h;
};

static const char *const job_outcomes[] = {"done", "no_recording", "failed", "rejected", "duplicate"};
#define NJO (sizeof job_outcomes / sizeof *job_outcomes)
static const char *const queue_whats[] = {"received", "deleted", "unparsed"};
#define NQW (sizeof queue_whats / sizeof *queue_whats)

struct metrics {
	pthread_mutex_t mu;
	struct stage_m *stages;
	size_t nstages;
	uint64_t jobs[NJO], queue[NQW], retries, notify_failures;
	size_t waiting, running; /* published by the serve loop */
	struct histo job_h;
};

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof *m);
	if (m)
		pthread_mutex_init(&m->mu, NULL);
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->mu);
	free(m->stages);
	free(m);
}

static struct stage_m *stage_of(struct metrics *m, const char *name)
{
	for (size_t i = 0; i < m->nstages; i++)
		if (strcmp(m->stages[i].name, name) == 0)
			return &m->stages[i];
	struct stage_m *n = realloc(m->stages, (m->nstages + 1) * sizeof *n);
	if (!n)
		return NULL;
	m->stages = n;
	memset(&n[m->nstages], 0, sizeof *n);
	snprintf(n[m->nstages].name, sizeof n->name, "%s", name);
	return &n[m->nstages++];
}

void metrics_stage(struct metrics *m, const char *stage, vm_stage_kind kind, vm_status st, int64_t ms)
{
	if (!m)
		return;
	int k = st == VM_DONE ? ST_DONE : st == VM_RETRY ? ST_RETRY : st == VM_TRANSIENT ? ST_TRANSIENT : ST_PERMANENT;
	pthread_mutex_lock(&m->mu);
	struct stage_m *s = stage_of(m, stage);
	if (s) {
		s->calls[k]++;
		histo_add(&s->h, (double)ms / 1000.0);
	}
	if (k == ST_RETRY || k == ST_TRANSIENT)
		m->retries++;
	if (kind == VM_STAGE_NOTIFY && (k == ST_TRANSIENT || k == ST_PERMANENT))
		m->notify_failures++;
	pthread_mutex_unlock(&m->mu);
}

static void bump(struct metrics *m, const char *const *names, size_t n, uint64_t *v, const char *what)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], what) == 0)
			v[i]++;
	pthread_mutex_unlock(&m->mu);
}

void metrics_job(struct metrics *m, const char *outcome, int64_t ms)
{
	if (!m)
		return;
	bump(m, job_outcomes, NJO, m->jobs, outcome);
	pthread_mutex_lock(&m->mu);
	histo_add(&m->job_h, (double)ms / 1000.0);
	pthread_mutex_unlock(&m->mu);
}

void metrics_event(struct metrics *m, const char *outcome)
{
	if (m)
		bump(m, job_outcomes, NJO, m->jobs, outcome);
}

void metrics_queue(struct metrics *m, const char *what)
{
	if (m)
		bump(m, queue_whats, NQW, m->queue, what);
}

void metrics_set_jobs(struct metrics *m, size_t waiting, size_t running)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->waiting = waiting;
	m->running = running;
	pthread_mutex_unlock(&m->mu);
}

static void histo_render(mbuf *b, const char *name, const char *labels, const struct histo *h)
{
	uint64_t acc = 0;
	for (size_t i = 0; i <= NB; i++) {
		acc += h->bucket[i];
		if (i < NB)
			mbuf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, *labels ? "," : "", bounds[i],
				    (unsigned long long)acc);
		else
			mbuf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, *labels ? "," : "",
				    (unsigned long long)acc);
	}
	mbuf_printf(b, "%s_sum%s%s%s %.6f\n", name, *labels ? "{" : "", labels, *labels ? "}" : "", h->sum);
	mbuf_printf(b, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
		    (unsigned long long)h->count);
}

char *metrics_render(struct metrics *m, size_t spool_depth)
{
	mbuf b = MBUF_INIT;
	pthread_mutex_lock(&m->mu);
	mbuf_printf(&b, "# HELP vmpipe_jobs Jobs inside the scheduler.\n# TYPE vmpipe_jobs gauge\n");
	mbuf_printf(&b, "vmpipe_jobs{state=\"waiting\"} %zu\nvmpipe_jobs{state=\"running\"} %zu\n"
			"vmpipe_jobs{state=\"queued\"} %zu\n", m->waiting, m->running, (size_t)0);
	mbuf_printf(&b, "# HELP vmpipe_spool_depth Events in the spool not yet taken.\n"
			"# TYPE vmpipe_spool_depth gauge\nvmpipe_spool_depth %zu\n", spool_depth);
	mbuf_printf(&b, "# HELP vmpipe_jobs_total Jobs and events by how they ended.\n"
			"# TYPE vmpipe_jobs_total counter\n");
	for (size_t i = 0; i < NJO; i++)
		mbuf_printf(&b, "vmpipe_jobs_total{outcome=\"%s\"} %llu\n", job_outcomes[i],
			    (unsigned long long)m->jobs[i]);
	mbuf_printf(&b, "# HELP vmpipe_stage_calls_total Plugin calls by stage and answer.\n"
			"# TYPE vmpipe_stage_calls_total counter\n");
	for (size_t i = 0; i < m->nstages; i++)
		for (int k = 0; k < NST; k++)
			mbuf_printf(&b, "vmpipe_stage_calls_total{stage=\"%s\",status=\"%s\"} %llu\n", m->stages[i].name,
				    status_names[k], (unsigned long long)m->stages[i].calls[k]);
	mbuf_printf(&b, "# HELP vmpipe_stage_call_seconds How long a plugin call took.\n"
			"# TYPE vmpipe_stage_call_seconds histogram\n");
	for (size_t i = 0; i < m->nstages; i++) {
		char labels[120];
		snprintf(labels, sizeof labels, "stage=\"%s\"", m->stages[i].name);
		histo_render(&b, "vmpipe_stage_call_seconds", labels, &m->stages[i].h);
	}
	mbuf_printf(&b, "# HELP vmpipe_job_seconds From intake to the job's end.\n"
			"# TYPE vmpipe_job_seconds histogram\n");
	histo_render(&b, "vmpipe_job_seconds", "", &m->job_h);
	mbuf_printf(&b, "# HELP vmpipe_retries_total Retry-after and transient answers.\n"
			"# TYPE vmpipe_retries_total counter\nvmpipe_retries_total %llu\n",
		    (unsigned long long)m->retries);
	mbuf_printf(&b, "# HELP vmpipe_notify_failures_total Notifier calls that failed.\n"
			"# TYPE vmpipe_notify_failures_total counter\nvmpipe_notify_failures_total %llu\n",
		    (unsigned long long)m->notify_failures);
	mbuf_printf(&b, "# HELP vmpipe_queue_messages_total SQS messages.\n"
			"# TYPE vmpipe_queue_messages_total counter\n");
	for (size_t i = 0; i < NQW; i++)
		mbuf_printf(&b, "vmpipe_queue_messages_total{what=\"%s\"} %llu\n", queue_whats[i],
			    (unsigned long long)m->queue[i]);
	pthread_mutex_unlock(&m->mu);
	return mbuf_take(&b, NULL);
}
