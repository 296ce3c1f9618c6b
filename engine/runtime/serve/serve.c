/*
 * `vmpipe serve` (see serve.h): the loop that feeds the scheduler from the
 * spool and the queue (serve_intake.c, serve_queue.c), keeps every accepted
 * event durable until its job ends, and answers signals (HTTP is answered
 * off the loop: serve_http.c).
 * Single-threaded but for the scheduler's workers; the loop owns everything
 * here.
 */
#include "serve_int.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "aws/request.h"
#include "core/clock.h"
#include "core/log.h"
#include "nofile.h"
#include "core/state.h"

int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ systemd */

/* sd_notify(3)'s protocol, which is small: one datagram to $NOTIFY_SOCKET. */
static void sd_notify_msg(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || (path[0] != '/' && path[0] != '@'))
		return;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(path);
	if (n >= sizeof sa.sun_path)
		return;
	memcpy(sa.sun_path, path, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		log_msg(NULL, "serve", VM_LOG_DEBUG, "sd_notify: %s", strerror(errno));
	close(fd);
}

/* ------------------------------------------------------------ pipelines */

static struct gen *gen_load(const struct serve_opts *o)
{
	struct diag d = {0};
	struct tenants *ts = tenants_open(o->config, o->default_plugin_dir, &d);
	if (!ts) {
		diag_print(&d);
		log_msg(NULL, "serve", VM_LOG_ERROR, "%s: pipeline refused (%zu problem%s)", o->config, d.n,
			d.n == 1 ? "" : "s");
		diag_free(&d);
		return NULL;
	}
	diag_free(&d);
	struct gen *g = calloc(1, sizeof *g);
	if (!g) {
		tenants_close(ts);
		return NULL;
	}
	g->ts = ts;
	g->refs = 1;
	return g;
}

void gen_unref(struct gen *g)
{
	if (g && --g->refs == 0) {
		tenants_close(g->ts);
		free(g);
	}
}

/* The base's state and every tenant's are serve's alone: a checkpoint is
 * never a source of authority, so nobody else may write one (a tenant
 * loaded later: serve_intake.c).  0, or -1 after logging which. */
static int tenants_private(struct tenants *ts)
{
	char err[1200];
	for (size_t i = 0, n = tenants_base(ts)->set.tenant_dir ? tenants_load_all(ts) : 1; i < n; i++) {
		const struct pipeline *t = tenants_nth(ts, i);
		if (t && state_check_private(t, err, sizeof err) != 0) {
			log_msg(NULL, "serve", VM_LOG_ERROR, "%s: state: %s", t->cfg.path, err);
			return -1;
		}
	}
	return 0;
}

static void reload(struct srv *v)
{
	sd_notify_msg("RELOADING=1");
	log_msg(NULL, "serve", VM_LOG_INFO, "SIGHUP: reloading %s", v->o->config);
	struct gen *g = gen_load(v->o);
	if (g && tenants_private(g->ts) != 0) {
		gen_unref(g);
		g = NULL;
	}
	if (!g) {
		log_msg(NULL, "serve", VM_LOG_ERROR,
			"reload failed: the pipelines loaded before keep running (fix %s, then SIGHUP again)",
			v->o->config);
	} else {
		/* The pages first: they may read the old pipelines (S3 state)
		 * until they are swapped. */
		web_reload(v, g->ts);
		gen_unref(v->gen);
		v->gen = g;
		log_msg(NULL, "serve", VM_LOG_INFO, "reloaded: new jobs run on the new pipelines; %zu job%s in "
			"flight finish on the old", sched_jobs(v->s), sched_jobs(v->s) == 1 ? "" : "s");
	}
	sd_notify_msg("READY=1");
}

/* ---------------------------------------------------------- job ends */

void held_free(struct held *h)
{
	if (!h)
		return;
	gen_unref(h->gen);
	free(h);
}

void cur_path(const struct srv *v, const char *name, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/cur/%s", v->spool, name);
	if (n < 0 || (size_t)n >= size)
		*buf = '\0';
}

static void on_ended(void *ctx, const struct sched_end *e)
{
	struct srv *v = ctx;
	struct held *h = e->owner;
	const char *id = vm_job_id(e->job);
	char path[PATH_MAX + SPOOL_NAME_MAX];
	if (id)
		json_object_del(v->ids, id);
	if (h && *h->cur)
		json_object_del(v->curs, h->cur);
	if (e->abandoned && !e->lost) {
		/* Stopping: the checkpoint and SPOOL/cur keep it for the next start. */
		state_release(e->p, e->claim, e->job);
	} else {
		state_release(e->p, e->claim, e->job);
		if (!e->abandoned) {
			int64_t took = clock_now_ms() - (h ? h->accepted_ms : 0);
			const char *outcome = e->rc == EXIT_DONE ? "done" : e->rc == EXIT_NO_RECORDING ? "no_recording"
													: "failed";
			metrics_job(v->m, outcome, took);
			if (e->rc != EXIT_DONE && e->rc != EXIT_NO_RECORDING) {
				/* A hint that works as printed, from any directory. */
				char cfg[PATH_MAX], sp[PATH_MAX];
				if (!realpath(v->o->config, cfg))
					snprintf(cfg, sizeof cfg, "%s", v->o->config);
				if (!realpath(v->spool, sp))
					snprintf(sp, sizeof sp, "%s", v->spool);
				log_msg(e->job, "serve", VM_LOG_ERROR,
					"the owner was not notified (exit %d): the job is kept, failed, with its "
					"errors in the state directory; `vmpipe retry -c %s --spool %s %s` runs it "
					"again", e->rc, cfg, sp, id ? id : "ID");
			}
		}
		if (h && *h->cur) {
			cur_path(v, h->cur, path, sizeof path);
			if (unlink(path) != 0 && errno != ENOENT)
				log_msg(e->job, "serve", VM_LOG_WARN, "cannot remove %s: %s", path, strerror(errno));
		}
	}
	queue_job_ended(v, id, e);
	job_free(e->job);
	held_free(h);
}

static void on_stepped(void *ctx, const vm_stage *st, vm_status status, int64_t ms)
{
	struct srv *v = ctx;
	metrics_stage(v->m, st->name, st->kind, status, ms);
}

/* ------------------------------------------------------------ the loop */

/* `vmpipe sendmail` and `vmpipe status` connect to SPOOL/serve.sock to learn
 * that serve runs: the connection itself is the answer. */
static void answer_probes(struct srv *v)
{
	for (int i = 0; i < 64; i++) {
		int c = accept4(v->sock_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (c < 0)
			return;
		close(c);
	}
}

static void save_one(void *ctx, vm_job *job, const struct pipeline *p, struct claim *claim, void *owner)
{
	(void)ctx;
	(void)owner;
	state_save(p, claim, job);
}

/* For the metrics threads, which must not touch the scheduler. */
static void publish_gauges(struct srv *v)
{
	size_t busy = sched_busy(v->s), jobs = sched_jobs(v->s);
	metrics_set_jobs(v->m, jobs > busy ? jobs - busy : 0, busy);
}

static int setup(struct srv *v, sigset_t *mask)
{
	char err[600];
	const struct pipeline *base = tenants_base(v->gen->ts);
	const struct serve_settings *ss = &base->serve;
	const char *spool = v->o->spool ? v->o->spool : ss->spool;
	if (!spool || !*spool) {
		log_msg(NULL, "serve", VM_LOG_ERROR, "no spool: give --spool DIR, VMPIPE_SPOOL or [serve] spool");
		return EXIT_CONFIG;
	}
	if (spool[0] != '/' && !v->o->spool)
		snprintf(v->spool, sizeof v->spool, "%s/%s", base->dir, spool);
	else
		snprintf(v->spool, sizeof v->spool, "%s", spool);
	/* Everything past the drop is ours alone, or serve does not start
	 * (docs/serve.md, "Who writes what"). */
	if (spool_prepare(v->spool, err, sizeof err) != 0 || spool_check_layout(v->spool, err, sizeof err) != 0) {
		log_msg(NULL, "serve", VM_LOG_ERROR, "spool: %s", err);
		return EXIT_CONFIG;
	}
	v->lock_fd = spool_lock(v->spool, err, sizeof err);
	if (v->lock_fd < 0) {
		log_msg(NULL, "serve", VM_LOG_ERROR, "%s", err);
		return EXIT_TEMPFAIL;
	}
	nofile_raise(); /* a descriptor per job in flight: see nofile.h */
	char sdir[PATH_MAX];
	if (serve_state_dir(v->spool, sdir, sizeof sdir) != 0 || (mkdir(sdir, 0700) != 0 && errno != EEXIST)) {
		log_msg(NULL, "serve", VM_LOG_ERROR, "cannot create the state directory %s: %s", sdir,
			strerror(errno));
		return EXIT_CONFIG;
	}
	state_default(sdir);
	if (state_check_private(base, err, sizeof err) != 0) {
		log_msg(NULL, "serve", VM_LOG_ERROR, "state: %s", err);
		return EXIT_CONFIG;
	}
	if (tenants_private(v->gen->ts) != 0)
		return EXIT_CONFIG;
	v->sock_fd = spool_listen(v->spool, err, sizeof err);
	if (v->sock_fd < 0) {
		log_msg(NULL, "serve", VM_LOG_ERROR, "%s", err);
		return EXIT_CONFIG;
	}
	if (ss->owner && *ss->owner) {
		snprintf(v->owner, sizeof v->owner, "%s", ss->owner);
	} else {
		char host[128] = "host";
		gethostname(host, sizeof host - 1);
		host[sizeof host - 1] = '\0';
		/* Stable across restarts: a restarted serve takes its own jobs back. */
		snprintf(v->owner, sizeof v->owner, "%s:serve", host);
	}
	/* A wait between an AWS call's own retries would hold a worker thread:
	 * the scheduler's timers wait instead (transient -> backoff). */
	aws_set_wait_budget(0);
	v->drain_ms = ss->drain_ms;
	v->keep_done_ms = ss->keep_done_ms;
	int64_t workers = v->o->workers >= 0 ? v->o->workers : ss->workers;
	if (workers <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		workers = n > 0 ? n : 2;
	}
	if (workers > 256)
		workers = 256;
	/* Signals arrive through a descriptor; no thread (workers included,
	 * created below) takes them asynchronously. */
	sigemptyset(mask);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	v->sig_fd = signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC);
	v->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	char newdir[PATH_MAX + 8];
	snprintf(newdir, sizeof newdir, "%s/new", v->spool);
	if (v->sig_fd < 0 || v->ino_fd < 0 ||
	    inotify_add_watch(v->ino_fd, newdir, IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE) < 0) {
		log_msg(NULL, "serve", VM_LOG_ERROR, "cannot watch %s: %s", newdir, strerror(errno));
		return EXIT_SOFTWARE;
	}
	/* After the signal mask: the HTTP threads inherit it. */
	const char *metrics = v->o->metrics ? v->o->metrics : ss->metrics;
	const char *listen = v->o->listen ? v->o->listen : ss->listen;
	if (listen && *listen && ss->keep_done_ms > 0 && ss->link_expires_ms > ss->keep_done_ms)
		log_msg(NULL, "serve", VM_LOG_WARN, "[serve] link_expires is longer than keep_done: a link "
			"outliving its job's checkpoint opens \"Voicemail not found\" (raise keep_done)");
	if (ss->public_url && *ss->public_url && !(listen && *listen))
		log_msg(NULL, "serve", VM_LOG_WARN, "mails link to %s, but this serve has no [serve] listen: "
			"those links open only where another host serves them", ss->public_url);
	if (web_start(v, v->gen->ts, metrics, listen, err, sizeof err) != 0) {
		log_msg(NULL, "serve", VM_LOG_ERROR, "%s", err);
		return EXIT_CONFIG;
	}
	struct sched_opts so = {.workers = (int)workers, .ended = on_ended, .stepped = on_stepped, .ctx = v};
	v->s = sched_new(&so);
	if (!v->s) {
		log_msg(NULL, "serve", VM_LOG_ERROR, "cannot start %lld worker threads", (long long)workers);
		return EXIT_SOFTWARE;
	}
	log_msg(NULL, "serve", VM_LOG_INFO, "serving spool %s (state %s) with %lld worker%s%s%s%s%s", v->spool,
		base->set.state && *base->set.state ? base->set.state : sdir, (long long)workers,
		workers == 1 ? "" : "s", metrics && *metrics ? "; metrics on " : "",
		metrics && *metrics ? metrics : "", listen && *listen ? "; listen pages on " : "",
		listen && *listen ? listen : "");
	return 0;
}

int serve_state_dir(const char *spool, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/state", spool);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* SIGTERM: running calls finish within drain, every job is checkpointed. */
static void drain(struct srv *v)
{
	sd_notify_msg("STOPPING=1");
	v->stopping = true;
	sched_pause(v->s);
	size_t busy = sched_busy(v->s);
	log_msg(NULL, "serve", VM_LOG_INFO, "stopping: %zu plugin call%s running, %zu job%s in flight; "
		"draining for up to %lld s", busy, busy == 1 ? "" : "s", sched_jobs(v->s),
		sched_jobs(v->s) == 1 ? "" : "s", (long long)(v->drain_ms / 1000));
	int64_t until = mono_ms() + v->drain_ms;
	while (sched_busy(v->s) && mono_ms() < until) {
		struct pollfd pf = {sched_fd(v->s), POLLIN, 0};
		int64_t left = until - mono_ms();
		poll(&pf, 1, left > 1000 ? 1000 : (int)(left > 0 ? left : 0));
		sched_poll(v->s);
	}
	sched_each(v->s, save_one, v);
	busy = sched_busy(v->s);
	if (busy) {
		/* A call that will not end: its job resumes from its last checkpoint
		 * at the next start (its event is still in SPOOL/cur). */
		log_msg(NULL, "serve", VM_LOG_WARN, "%zu plugin call%s still running after drain: exiting "
			"without them (their jobs resume at the next start)", busy, busy == 1 ? "" : "s");
		_exit(0);
	}
	sched_free(v->s); /* every job ends abandoned: claims given back */
	v->s = NULL;
	log_msg(NULL, "serve", VM_LOG_INFO, "stopped: every job is checkpointed");
}

int serve_main(const struct serve_opts *o)
{
	struct srv v = {.o = o, .lock_fd = -1, .ino_fd = -1, .sig_fd = -1, .sock_fd = -1};
	v.gen = gen_load(o);
	if (!v.gen)
		return EXIT_CONFIG;
	v.m = metrics_new();
	v.ids = json_object();
	v.curs = json_object();
	sigset_t mask;
	int rc = setup(&v, &mask);
	if (rc == 0)
		rc = queue_open(&v);
	if (rc == 0) {
		clean_tmp(&v);
		/* What was in flight when the last serve stopped (or died) first. */
		size_t back = 0;
		intake_round(&v, &back);
		if (back)
			log_msg(NULL, "serve", VM_LOG_INFO, "resuming %zu job%s from the last run", back,
				back == 1 ? "" : "s");
		sd_notify_msg("READY=1");
		while (!v.stopping) {
			int64_t due = sched_poll(v.s);
			if (clock_is_fake() && due > 0 && sched_idle(v.s)) {
				clock_sleep_ms(due); /* virtual time: the next timer now */
				due = 0;
			}
			int64_t wait = sched_real_wait(v.s, due);
			int64_t to_scan = v.next_scan - mono_ms();
			if (wait < 0 || wait > to_scan)
				wait = to_scan > 0 ? to_scan : 0;
			publish_gauges(&v);
			struct pollfd pf[6] = {{v.sig_fd, POLLIN, 0}, {v.ino_fd, POLLIN, 0}, {sched_fd(v.s), POLLIN, 0},
					       {web_fd(&v), POLLIN, 0}, {sqs_fd(v.queue), POLLIN, 0},
					       {v.sock_fd, POLLIN, 0}};
			int n = poll(pf, 6, wait > INT32_MAX ? INT32_MAX : (int)wait); /* fd -1: ignored */
			if (n < 0 && errno != EINTR)
				log_msg(NULL, "serve", VM_LOG_WARN, "poll: %s", strerror(errno));
			if (n > 0 && (pf[0].revents & POLLIN)) {
				struct signalfd_siginfo si;
				while (read(v.sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
					if (si.ssi_signo == SIGHUP)
						reload(&v);
					else
						v.stopping = true;
				}
			}
			if (v.stopping)
				break;
			if (n > 0 && (pf[1].revents & POLLIN))
				read_inotify(&v);
			if (n > 0 && (pf[4].revents & POLLIN))
				queue_take(&v);
			if (n > 0 && (pf[5].revents & POLLIN))
				answer_probes(&v);
			if (n > 0 && (pf[3].revents & POLLIN))
				web_turn(&v);
			if (mono_ms() >= v.next_scan) {
				intake_round(&v, NULL);
				queue_retry_later(&v);
			}
			if (v.keep_done_ms > 0 && mono_ms() >= v.next_sweep) {
				v.next_sweep = mono_ms() + SWEEP_EVERY_MS;
				int k = state_sweep(tenants_base(v.gen->ts), v.keep_done_ms);
				if (k > 0)
					log_msg(NULL, "serve", VM_LOG_INFO, "removed %d checkpoint%s of jobs done more "
						"than keep_done ago", k, k == 1 ? "" : "s");
			}
		}
		queue_stop_intake(&v);
		drain(&v);
	}
	web_stop(&v);
	queue_close(&v);
	if (v.s)
		sched_free(v.s);
	gen_unref(v.gen);
	metrics_free(v.m);
	json_decref(v.ids);
	json_decref(v.curs);
	state_default(NULL);
	if (v.sock_fd >= 0) {
		/* Gone with us: sendmail then runs jobs itself. */
		char sock[PATH_MAX + 16];
		snprintf(sock, sizeof sock, "%s/serve.sock", v.spool);
		unlink(sock);
	}
	int fds[] = {v.lock_fd, v.ino_fd, v.sig_fd, v.sock_fd};
	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc;
}
