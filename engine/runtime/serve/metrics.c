/*
 * Prometheus metrics for `vmpipe serve` (see metrics.h).
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

char *metrics_render(struct metrics *m, const struct metrics_gauges *g)
{
	mbuf b = MBUF_INIT;
	mbuf_printf(&b, "# HELP vmpipe_jobs Jobs inside the scheduler.\n# TYPE vmpipe_jobs gauge\n");
	mbuf_printf(&b, "vmpipe_jobs{state=\"waiting\"} %zu\nvmpipe_jobs{state=\"running\"} %zu\n"
			"vmpipe_jobs{state=\"queued\"} %zu\n", g->waiting, g->running, g->queued);
	mbuf_printf(&b, "# HELP vmpipe_spool_depth Events in the spool not yet taken.\n"
			"# TYPE vmpipe_spool_depth gauge\nvmpipe_spool_depth %zu\n", g->spool_depth);
	pthread_mutex_lock(&m->mu);
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

static bool loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}

/* HOST:PORT resolved, and on a loopback address.  0 with *out (freeaddrinfo),
 * or -1 with err. */
static int resolve(const char *hostport, struct addrinfo **out, char *err, size_t errsize)
{
	char host[256];
	const char *colon = hostport ? strrchr(hostport, ':') : NULL;
	if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof host || !colon[1]) {
		snprintf(err, errsize, "metrics '%s': expected HOST:PORT (e.g. 127.0.0.1:9464)",
			 hostport ? hostport : "");
		return -1;
	}
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
	int rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errsize, "metrics '%s': %s", hostport, gai_strerror(rc));
		return -1;
	}
	if (!loopback(ai->ai_addr)) {
		snprintf(err, errsize, "metrics '%s': not a loopback address (metrics are served to this host only)",
			 hostport);
		freeaddrinfo(ai);
		return -1;
	}
	*out = ai;
	return 0;
}

int metrics_check(const char *hostport, char *err, size_t errsize)
{
	struct addrinfo *ai;
	if (resolve(hostport, &ai, err, errsize) != 0)
		return -1;
	freeaddrinfo(ai);
	return 0;
}

int metrics_listen(const char *hostport, char *err, size_t errsize)
{
	struct addrinfo *ai;
	if (resolve(hostport, &ai, err, errsize) != 0)
		return -1;
	int fd = -1;
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errsize, "metrics '%s': socket: %s", hostport, strerror(errno));
	} else {
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
			snprintf(err, errsize, "metrics '%s': %s", hostport, strerror(errno));
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

void metrics_answer(int lfd, struct metrics *m, const struct metrics_gauges *g)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	char req[2048];
	size_t n = 0;
	while (n < sizeof req - 1 && !memmem(req, n, "\r\n\r\n", 4)) {
		struct pollfd pf = {fd, POLLIN, 0};
		if (poll(&pf, 1, 1000) <= 0)
			break;
		ssize_t r = recv(fd, req + n, sizeof req - 1 - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	req[n] = '\0';
	char head[256];
	if (strncmp(req, "GET /metrics ", 13) == 0 || strncmp(req, "GET / ", 6) == 0) {
		char *body = metrics_render(m, g);
		size_t len = body ? strlen(body) : 0;
		int k = snprintf(head, sizeof head,
				 "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
				 "Content-Length: %zu\r\nConnection: close\r\n\r\n", len);
		send_all(fd, head, (size_t)k);
		if (body)
			send_all(fd, body, len);
		free(body);
	} else {
		static const char nf[] = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n"
					 "Content-Length: 24\r\nConnection: close\r\n\r\nonly GET /metrics here\r\n";
		send_all(fd, nf, sizeof nf - 1);
	}
	close(fd);
}
