/*
 * What `vmpipe serve` answers over HTTP (http.h): /metrics and /healthz on
 * the metrics address, the listen pages (listen.h) and /healthz on the
 * listen address (one server when both are the same).  Everything runs on the HTTP threads; the loop is
 * reached only through the health channel below.
 */
#include "serve_int.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <time.h>

#include "core/log.h"
#include "http.h"
#include "listen.h"

#define HEALTH_WAIT_MS 2000 /* /healthz: the loop must turn within this */
#define METRICS_CONNS 64
#define METRICS_IDLE_S 10
#define LISTEN_CONNS 512  /* downloads at once (a browser holds a few per page) */
#define LISTEN_IDLE_S 30

/* /healthz pokes the loop's eventfd and waits for the loop to count a turn. */
struct web {
	struct http *metrics, *listen;
	struct listen *pages;         /* swapped on SIGHUP (web_reload) */
	pthread_rwlock_t pages_lock;  /* readers: every answer of a page */
	char listen_addr[256], metrics_addr[256]; /* what the listeners were started on */
	bool listen_fixed, metrics_fixed;        /* --listen, --metrics: not the pipeline's to change */
	pthread_mutex_t mu;
	pthread_cond_t turned;
	uint64_t turns;
	int efd;
	struct metrics *m;
	char newdir[PATH_MAX + 8];
};

static size_t spool_depth(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) /* every entry but . and ..: serve takes dot-files too */
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

static enum MHD_Result get_metrics(void *ctx, struct MHD_Connection *c, const char *method, const char *url)
{
	(void)method;
	(void)url;
	struct web *w = ctx;
	char *body = metrics_render(w->m, spool_depth(w->newdir));
	if (!body)
		return MHD_NO;
	enum MHD_Result r = http_reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, strlen(body));
	free(body);
	return r;
}

static enum MHD_Result get_healthz(void *ctx, struct MHD_Connection *c, const char *method, const char *url)
{
	(void)method;
	(void)url;
	struct web *w = ctx;
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += HEALTH_WAIT_MS / 1000;
	until.tv_nsec += (long)(HEALTH_WAIT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->mu);
	uint64_t was = w->turns;
	uint64_t one = 1;
	if (write(w->efd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_msg(NULL, "http", VM_LOG_WARN, "healthz: cannot wake the loop: %s", strerror(errno));
	int rc = 0;
	while (w->turns == was && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&w->turned, &w->mu, &until);
	bool alive = w->turns != was;
	pthread_mutex_unlock(&w->mu);
	if (alive)
		return http_reply(c, MHD_HTTP_OK, "text/plain; charset=utf-8", "ok\n", 3);
	static const char stuck[] = "the serve loop did not turn within 2 s\n";
	return http_reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", stuck, sizeof stuck - 1);
}

/* A listen page, answered by the pages in force (web_reload swaps them). */
static enum MHD_Result get_page(void *ctx, struct MHD_Connection *c, const char *method, const char *url)
{
	struct web *w = ctx;
	pthread_rwlock_rdlock(&w->pages_lock);
	enum MHD_Result r = listen_answer(w->pages, c, method, url);
	pthread_rwlock_unlock(&w->pages_lock);
	return r;
}

void web_reload(struct srv *v, struct tenants *ts)
{
	struct web *w = v->web;
	if (!w)
		return;
	const struct pipeline *base = tenants_base(ts);
	const struct {
		const char *what, *was, *now;
		bool fixed;
	} addr[] = {{"listen", w->listen_addr, base->serve.listen, w->listen_fixed},
		    {"metrics", w->metrics_addr, base->serve.metrics, w->metrics_fixed}};
	for (size_t i = 0; i < sizeof addr / sizeof *addr; i++) {
		const char *now = addr[i].now ? addr[i].now : "";
		if (!addr[i].fixed && strcmp(now, addr[i].was) != 0)
			log_msg(NULL, "serve", VM_LOG_WARN, "[serve] %s changed (%s to %s): the listener moves at "
				"the next start, not on SIGHUP", addr[i].what, *addr[i].was ? addr[i].was : "none",
				*now ? now : "none");
	}
	if (!w->pages)
		return;
	char err[600];
	struct listen *l = listen_new(ts, err, sizeof err);
	if (!l) {
		log_msg(NULL, "serve", VM_LOG_ERROR, "the listen pages keep their settings: %s", err);
		return;
	}
	pthread_rwlock_wrlock(&w->pages_lock);
	struct listen *old = w->pages;
	w->pages = l;
	pthread_rwlock_unlock(&w->pages_lock);
	listen_free(old);
	log_msg(NULL, "serve", VM_LOG_INFO, "the listen pages take the new [serve] settings");
}

int web_start(struct srv *v, struct tenants *ts, const char *metrics, const char *listen, char *err,
	      size_t errsize)
{
	struct web *w = calloc(1, sizeof *w);
	if (!w) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	v->web = w;
	w->m = v->m;
	snprintf(w->newdir, sizeof w->newdir, "%s/new", v->spool);
	pthread_mutex_init(&w->mu, NULL);
	pthread_rwlock_init(&w->pages_lock, NULL);
	snprintf(w->listen_addr, sizeof w->listen_addr, "%s", listen ? listen : "");
	snprintf(w->metrics_addr, sizeof w->metrics_addr, "%s", metrics ? metrics : "");
	w->listen_fixed = v->o->listen != NULL;
	w->metrics_fixed = v->o->metrics != NULL;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->turned, &ca);
	pthread_condattr_destroy(&ca);
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0) {
		snprintf(err, errsize, "eventfd: %s", strerror(errno));
		return -1;
	}
	bool same = metrics && listen && strcmp(metrics, listen) == 0;
	if (listen && *listen && !(w->pages = listen_new(ts, err, errsize)))
		return -1;
	struct http_route routes[4] = {{"/healthz", get_healthz, w}};
	size_t n = 1;
	if (w->pages) {
		routes[n++] = (struct http_route){LISTEN_PREFIX, get_page, w};
		if (!same) {
			struct http_opts o = {.what = "listen", .hostport = listen, .routes = routes, .nroutes = n,
					      .conn_limit = LISTEN_CONNS, .idle_timeout_s = LISTEN_IDLE_S};
			if (!(w->listen = http_start(&o, err, errsize)))
				return -1;
			n = 1;
		}
	}
	if (metrics && *metrics) {
		routes[n++] = (struct http_route){"/metrics", get_metrics, w};
		routes[n++] = (struct http_route){"/", get_metrics, w};
		struct http_opts o = {.what = "metrics", .hostport = metrics, .loopback_only = true, .routes = routes,
				      .nroutes = n, .conn_limit = same ? LISTEN_CONNS : METRICS_CONNS,
				      .idle_timeout_s = same ? LISTEN_IDLE_S : METRICS_IDLE_S};
		w->metrics = http_start(&o, err, errsize);
		if (!w->metrics)
			return -1;
	}
	return 0;
}

int web_fd(const struct srv *v)
{
	return v->web ? v->web->efd : -1;
}

void web_turn(struct srv *v)
{
	struct web *w = v->web;
	uint64_t n;
	if (!w || read(w->efd, &n, sizeof n) != (ssize_t)sizeof n)
		return;
	pthread_mutex_lock(&w->mu);
	w->turns++;
	pthread_cond_broadcast(&w->turned);
	pthread_mutex_unlock(&w->mu);
}

void web_stop(struct srv *v)
{
	struct web *w = v->web;
	if (!w)
		return;
	http_stop(w->metrics); /* joins the threads: nothing waits on w after this */
	http_stop(w->listen);
	listen_free(w->pages);
	if (w->efd >= 0)
		close(w->efd);
	pthread_cond_destroy(&w->turned);
	pthread_mutex_destroy(&w->mu);
	pthread_rwlock_destroy(&w->pages_lock);
	free(w);
	v->web = NULL;
}
