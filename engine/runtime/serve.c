/*
 * `vmpipe serve` (see serve.h): the loop that feeds the scheduler from the
 * spool, keeps every accepted event durable until its job ends, and answers
 * signals and metrics scrapes.  Single-threaded but for the scheduler's
 * workers; the loop owns everything here.
 */
#include "serve.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "aws/request.h"
#include "clock.h"
#include "event.h"
#include "log.h"
#include "metrics.h"
#include "nofile.h"
#include "sched.h"
#include "spool.h"
#include "sqs.h"
#include "sqs_event.h"
#include "state.h"
#include "tenant.h"
#include "util.h"

#define SCAN_EVERY_MS 30000  /* a full look at the spool besides inotify */
#define LATER_MS 5000        /* a store that could not be reached: look again */
#define SWEEP_EVERY_MS 3600000
#define TMP_MAX_AGE_S (36 * 3600) /* Maildir's rule for abandoned tmp/ files */

/* One load of the pipelines.  Jobs keep the one they started on across a
 * SIGHUP; it is closed when the last of them ends. */
struct gen {
	struct tenants *ts;
	size_t refs;
};

/* The loop's part of a job (the scheduler's `owner`). */
struct held {
	struct gen *gen;
	char cur[SPOOL_NAME_MAX];  /* its event, kept in SPOOL/cur/ until the job ends */
	int64_t accepted_ms;
};

struct srv {
	const struct serve_opts *o;
	char spool[PATH_MAX];
	char owner[200];
	struct gen *gen;
	struct sched *s;
	struct metrics *m;
	json_t *ids;              /* ids of jobs in flight here */
	json_t *curs;             /* SPOOL/cur names in flight here */
	int lock_fd, ino_fd, sig_fd, met_fd;
	int64_t drain_ms, keep_done_ms;
	bool stopping;
	int64_t next_scan;        /* real ms (CLOCK_MONOTONIC) */
	int64_t next_sweep;
	/* SQS intake (the section below "SQS intake"). */
	struct sqs *queue;        /* [serve] queue / --queue; NULL: none */
	int64_t queue_vis_ms;
	struct queue_later *later; /* messages whose admission waits for the state store */
};

static void queue_job_ended(struct srv *v, const char *id, const struct sched_end *e);

static int64_t mono_ms(void)
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

static void gen_unref(struct gen *g)
{
	if (g && --g->refs == 0) {
		tenants_close(g->ts);
		free(g);
	}
}

static void reload(struct srv *v)
{
	sd_notify_msg("RELOADING=1");
	log_msg(NULL, "serve", VM_LOG_INFO, "SIGHUP: reloading %s", v->o->config);
	struct gen *g = gen_load(v->o);
	if (!g) {
		log_msg(NULL, "serve", VM_LOG_ERROR,
			"reload failed: the pipelines loaded before keep running (fix %s, then SIGHUP again)",
			v->o->config);
	} else {
		gen_unref(v->gen);
		v->gen = g;
		log_msg(NULL, "serve", VM_LOG_INFO, "reloaded: new jobs run on the new pipelines; %zu job%s in "
			"flight finish on the old", sched_jobs(v->s), sched_jobs(v->s) == 1 ? "" : "s");
	}
	sd_notify_msg("READY=1");
}

/* ---------------------------------------------------------- job ends */

static void held_free(struct held *h)
{
	if (!h)
		return;
	gen_unref(h->gen);
	free(h);
}

static void cur_path(const struct srv *v, const char *name, char *buf, size_t size)
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
			if (e->rc != EXIT_DONE && e->rc != EXIT_NO_RECORDING)
				log_msg(e->job, "serve", VM_LOG_ERROR,
					"the owner was not notified (exit %d): the job is kept, failed, with its "
					"errors in the state directory; `vmpipe retry %s` runs it again", e->rc,
					id ? id : "ID");
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

/* -------------------------------------------------------------- intake */

/* ADMIT_DONE: the job was done already (the queue deletes its message). */
enum admit { ADMIT_STARTED, ADMIT_SKIP, ADMIT_DONE, ADMIT_LATER, ADMIT_REFUSED };

/*
 * `vmpipe retry` asks, through the spool, for a failed job to run again: the
 * stages that failed are cleared and the job resumes from its checkpoint.
 * The retry request is {"vmpipe_retry": "ID"}.
 */
static vm_job *retry_request(struct srv *v, json_t *req, const struct pipeline **pp, char *why,
			     size_t whysize)
{
	const char *id = json_string_value(json_object_get(req, "vmpipe_retry"));
	if (!id || !is_plain_name(id, 128)) {
		snprintf(why, whysize, "a retry request names no plain job id");
		return NULL;
	}
	*pp = tenants_base(v->gen->ts);
	vm_job *job = job_new(id);
	return job;
}

/* A failed checkpoint made runnable again: its failed stages run anew. */
static void clear_failures(vm_job *job)
{
	json_t *stages = job_get(job, "stages");
	const char *k;
	json_t *val;
	void *tmp;
	json_object_foreach_safe(stages, tmp, k, val)
	{
		const char *s = json_string_value(val);
		if (s && strcmp(s, "done") != 0 && strcmp(s, "sending") != 0)
			json_object_del(stages, k);
	}
	if (json_is_object(job_get(job, "transcript")) &&
	    !json_object_get(stages, "transcribe")) {
		vm_job_set_str(job, "transcript.status", NULL);
		vm_job_set_str(job, "transcript.error", NULL);
	}
}

static enum admit admit(struct srv *v, const char *text, size_t len, struct held **hp, char *why,
			size_t whysize)
{
	*hp = NULL;
	char err[1024];
	const struct pipeline *p = NULL;
	bool retry = false;
	vm_job *job = NULL;
	json_t *req = len <= EVENT_MAX_BYTES ? json_loadb(text, len, 0, NULL) : NULL;
	if (json_object_get(req, "vmpipe_retry")) {
		retry = true;
		job = retry_request(v, req, &p, why, whysize);
	}
	json_decref(req);
	if (retry && !job)
		return ADMIT_REFUSED;
	if (!retry) {
		job = event_to_job(text, len, err, sizeof err);
		if (!job) {
			snprintf(why, whysize, "bad event: %s", err);
			return ADMIT_REFUSED;
		}
		struct diag d = {0};
		const char *tenant = vm_job_get_str(job, "tenant");
		p = tenants_get(v->gen->ts, tenant, &d);
		if (!p) {
			snprintf(why, whysize, "tenant '%s': pipeline refused%s%s", tenant ? tenant : "",
				 d.n ? ": " : "", d.n ? d.msgs[0] : "");
			diag_free(&d);
			job_free(job);
			return ADMIT_REFUSED;
		}
		diag_free(&d);
	}
	const char *id = vm_job_id(job);
	if (json_object_get(v->ids, id)) {
		snprintf(why, whysize, "job %s is already in flight here", id);
		job_free(job);
		return ADMIT_SKIP;
	}
	struct claim *claim = NULL;
	vm_job *stored = NULL;
	int c = state_claim(p, job, id, v->owner, 0, &claim, &stored);
	if (c == STATE_BUSY) {
		snprintf(why, whysize, "job %s is held by another runner", id);
		job_free(job);
		return ADMIT_SKIP;
	}
	if (c != STATE_OK) {
		snprintf(why, whysize, "job %s: the state store cannot be read", id);
		job_free(job);
		return ADMIT_LATER;
	}
	const char *st = stored ? vm_job_get_str(stored, "state") : NULL;
	if (retry) {
		if (!stored || !st || strcmp(st, "failed") != 0) {
			snprintf(why, whysize, "retry: job %s is %s, not failed", id,
				 stored ? (st ? st : "without a state") : "not in the state store");
			job_free(stored);
			job_free(job);
			state_release(p, claim, NULL);
			return ADMIT_REFUSED;
		}
		clear_failures(stored);
		log_msg(stored, "serve", VM_LOG_INFO, "retry: the stages that failed run again");
	}
	if (stored && st && strcmp(st, "done") == 0) {
		snprintf(why, whysize, "job %s is already done", id);
		job_free(stored);
		job_free(job);
		state_release(p, claim, NULL);
		return ADMIT_DONE;
	}
	if (stored) {
		job_free(job);
		job = stored;
		id = vm_job_id(job); /* the same id, now in the record that stays */
		state_prepare_resume(job);
	}
	/* Durable before the event leaves new/ (or the queue).  A job resumed
	 * from its checkpoint is durable already (on S3 the claim wrote it):
	 * a restart with thousands in flight does not rewrite them all. */
	int sv = stored && !retry ? STATE_OK : state_save(p, claim, job);
	if (sv != STATE_OK) {
		snprintf(why, whysize, "job %s: %s", id,
			 sv == STATE_LOST ? "taken by another runner" : "the checkpoint could not be written");
		job_free(job);
		state_release(p, claim, NULL);
		return sv == STATE_LOST ? ADMIT_SKIP : ADMIT_LATER;
	}
	struct held *h = calloc(1, sizeof *h);
	if (!h) {
		snprintf(why, whysize, "out of memory");
		job_free(job);
		state_release(p, claim, NULL);
		return ADMIT_LATER;
	}
	h->gen = v->gen;
	v->gen->refs++;
	h->accepted_ms = clock_now_ms();
	json_object_set_new(v->ids, id, json_true());
	log_msg(job, "serve", VM_LOG_INFO, "%s", stored ? "resumed from its checkpoint" : "accepted");
	sched_add(v->s, p, job, claim, 0, h);
	*hp = h;
	return ADMIT_STARTED;
}

static int read_spool_file(const char *path, char **text, size_t *len)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	close(fd);
	return read_file(path, EVENT_MAX_BYTES, text, len);
}

/* One file of SPOOL/new (or of SPOOL/cur at start: `in_cur`). */
static void take(struct srv *v, const char *name, bool in_cur)
{
	char path[PATH_MAX + SPOOL_NAME_MAX], dst[PATH_MAX + SPOOL_NAME_MAX], why[PATH_MAX + 1500], err[600];
	if (name[0] == '.' || strlen(name) >= SPOOL_NAME_MAX || (in_cur && json_object_get(v->curs, name)))
		return;
	snprintf(path, sizeof path, "%s/%s/%s", v->spool, in_cur ? "cur" : "new", name);
	char *text = NULL;
	size_t len = 0;
	if (read_spool_file(path, &text, &len) != 0) {
		if (errno == ENOENT)
			return;
		snprintf(why, sizeof why, "cannot read %s: %s", path,
			 errno == EFBIG ? "larger than an event may be (1 MiB)" : strerror(errno));
		log_msg(NULL, "intake", VM_LOG_ERROR, "%s", why);
		if (errno == EFBIG || errno == EINVAL) {
			/* Too large to read whole, or not a file: moved aside as it is. */
			char whyname[SPOOL_NAME_MAX + 8];
			snprintf(dst, sizeof dst, "%s/rejected/%s", v->spool, name);
			snprintf(whyname, sizeof whyname, "%s.why", name);
			if (rename(path, dst) == 0) {
				spool_store(v->spool, "rejected", whyname, why, strlen(why), NULL, 0, err, sizeof err);
				metrics_event(v->m, "rejected");
			}
		}
		return;
	}
	struct held *h = NULL;
	enum admit r = admit(v, text, len, &h, why, sizeof why);
	switch (r) {
	case ADMIT_STARTED:
		snprintf(h->cur, sizeof h->cur, "%s", name);
		json_object_set_new(v->curs, name, json_true());
		if (!in_cur) {
			cur_path(v, name, dst, sizeof dst);
			if (rename(path, dst) != 0 || fsync_parent(dst) != 0)
				log_msg(NULL, "intake", VM_LOG_WARN, "cannot move %s to cur/: %s", path,
					strerror(errno));
		}
		break;
	case ADMIT_SKIP:
	case ADMIT_DONE:
		log_msg(NULL, "intake", VM_LOG_INFO, "%s: %s; the event is dropped", name, why);
		metrics_event(v->m, "duplicate");
		unlink(path);
		break;
	case ADMIT_REFUSED:
		log_msg(NULL, "intake", VM_LOG_ERROR, "%s: %s", name, why);
		if (spool_reject(v->spool, name, text, len, why, err, sizeof err) == 0) {
			unlink(path);
			log_msg(NULL, "intake", VM_LOG_ERROR, "kept as %s/rejected/%s (with %s.why)", v->spool, name,
				name);
		} else {
			log_msg(NULL, "intake", VM_LOG_ERROR, "and it could not be kept in rejected/: %s "
				"(left where it is)", err);
		}
		metrics_event(v->m, "rejected");
		break;
	case ADMIT_LATER:
		log_msg(NULL, "intake", VM_LOG_WARN, "%s: %s; tried again in %d s", name, why, LATER_MS / 1000);
		if (v->next_scan > mono_ms() + LATER_MS)
			v->next_scan = mono_ms() + LATER_MS;
		break;
	}
	free(text);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static size_t scan(struct srv *v, const char *sub, bool take_them)
{
	char dir[PATH_MAX + 8];
	snprintf(dir, sizeof dir, "%s/%s", v->spool, sub);
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, by_name);
	if (n < 0) {
		log_msg(NULL, "intake", VM_LOG_ERROR, "cannot list %s: %s", dir, strerror(errno));
		return 0;
	}
	size_t count = 0;
	for (int i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.') {
			count++;
			if (take_them && !v->stopping)
				take(v, ents[i]->d_name, strcmp(sub, "cur") == 0);
		}
		free(ents[i]);
	}
	free(ents);
	return count;
}

/* Writers that died between tmp/ and new/ leave files behind: Maildir's rule. */
static void clean_tmp(struct srv *v)
{
	char dir[PATH_MAX + 8], path[PATH_MAX + 300];
	snprintf(dir, sizeof dir, "%s/tmp", v->spool);
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	time_t now = time(NULL);
	while ((e = readdir(d))) {
		struct stat st;
		if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (now - st.st_mtime > TMP_MAX_AGE_S) {
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			if (unlink(path) == 0)
				log_msg(NULL, "intake", VM_LOG_INFO, "removed %s, abandoned by its writer", path);
		}
	}
	closedir(d);
}

static void read_inotify(struct srv *v)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(v->ino_fd, buf, sizeof buf);
		if (n <= 0)
			return;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW)
				v->next_scan = 0;
			else if (ev->len && (ev->mask & (IN_MOVED_TO | IN_CLOSE_WRITE)))
				take(v, ev->name, false);
			p += sizeof *ev + ev->len;
		}
	}
}

/* ------------------------------------------------------------ SQS intake */

/*
 * Events from an Amazon SQS queue ([serve] queue, --queue; sqs.h receives on
 * threads of its own).  A message is admitted like a spool event: its job is
 * claimed and checkpointed before anything else happens to the message.
 * Then:
 *  - the job starts (or was in flight here already: a duplicate): the
 *    message is held under the job id, invisible to other hosts, its
 *    visibility extended while the job runs, and deleted when the job ends
 *    (done, no recording, or failed and kept in the state store for `vmpipe
 *    retry`).  If this host dies first, the message comes back and another
 *    host (or this one, restarted) resumes the job from its checkpoint;
 *  - the job is done already: the message is deleted;
 *  - another runner holds the job: the message is given back, visible again
 *    after queue_visibility times its receive count (a lease that outlives
 *    its dead holder is waited out);
 *  - the state store cannot be reached: the message is kept (invisible) and
 *    admitted again with the next scan;
 *  - S3's test event: deleted, with a log line;
 *  - anything vmpipe does not take: logged with its MessageId and left, not
 *    deleted: it comes back after its visibility timeout, and the queue's
 *    redrive policy moves it to the dead-letter queue after maxReceiveCount.
 * On SIGTERM the messages of unfinished jobs are given back after their
 * checkpoints are saved (visible at once, or once the long poll stopping
 * abandoned has ended: see sqs_free()); a job another runner took over
 * leaves its message to come back by itself.
 */

#define QUEUE_FLUSH_MS 10000   /* on exit: how long pending deletes may take */
#define QUEUE_TAKE_MAX 64      /* messages admitted per turn of the loop */

struct queue_later {
	struct sqs_msg *m;
	struct queue_later *next;
};

static int queue_open(struct srv *v)
{
	const struct serve_settings *ss = &tenants_base(v->gen->ts)->serve;
	const char *url = v->o->queue && *v->o->queue ? v->o->queue : ss->queue;
	if (!url || !*url)
		return 0;
	char err[600];
	struct sqs_opts so = {.url = url, .wait_ms = ss->queue_wait_ms,
			      .visibility_ms = ss->queue_visibility_ms, .metrics = v->m};
	v->queue = sqs_new(&so, err, sizeof err);
	if (!v->queue) {
		log_msg(NULL, "serve", VM_LOG_ERROR, "%s: %s", v->o->queue && *v->o->queue ? "--queue" : "[serve] queue",
			err);
		return EXIT_CONFIG;
	}
	v->queue_vis_ms = ss->queue_visibility_ms;
	log_msg(NULL, "serve", VM_LOG_INFO, "taking events from the SQS queue %s too (long poll %lld s; a "
		"message is held invisible %lld s at a time, extended while its job runs)", url,
		(long long)(ss->queue_wait_ms / 1000), (long long)((ss->queue_visibility_ms + 999) / 1000));
	return 0;
}

/* The id the event's job will have (admit() makes it the same way). */
static int queue_event_id(const char *text, size_t len, char *id, size_t size, char *err, size_t errsize)
{
	json_t *req = json_loadb(text, len, 0, NULL);
	const char *retry = json_string_value(json_object_get(req, "vmpipe_retry"));
	if (retry)
		snprintf(id, size, "%s", retry);
	json_decref(req);
	if (retry)
		return 0;
	vm_job *job = event_to_job(text, len, err, errsize);
	if (!job)
		return -1;
	snprintf(id, size, "%s", vm_job_id(job));
	job_free(job);
	return 0;
}

static void queue_admit(struct srv *v, struct sqs_msg *m)
{
	size_t blen, len = 0;
	const char *body = sqs_msg_body(m, &blen), *mid = sqs_msg_id(m);
	char *text = NULL, why[PATH_MAX + 1500], err[1024], id[200] = "";
	enum sqs_event k = sqs_event_unwrap(body, blen, &text, &len, why, sizeof why);
	if (k == SQS_EVENT_TEST) {
		log_msg(NULL, "intake", VM_LOG_INFO, "message %s: %s: nothing to run; deleted", mid, why);
		sqs_settle(v->queue, m, SQS_DELETE, 0);
		return;
	}
	if (k == SQS_EVENT_JOB && queue_event_id(text, len, id, sizeof id, err, sizeof err) != 0) {
		snprintf(why, sizeof why, "bad event: %s", err);
		k = SQS_EVENT_BAD;
	}
	if (k == SQS_EVENT_JOB && json_object_get(v->ids, id)) {
		log_msg(NULL, "intake", VM_LOG_INFO, "message %s: job %s is in flight here already: the message "
			"is held with it and deleted when it ends", mid, id);
		sqs_hold(v->queue, m, id);
		free(text);
		return;
	}
	struct held *h = NULL;
	enum admit r = k == SQS_EVENT_JOB ? admit(v, text, len, &h, why, sizeof why) : ADMIT_REFUSED;
	free(text);
	int n = sqs_msg_receives(m);
	int64_t delay = v->queue_vis_ms * (n > 1 ? n : 1);
	switch (r) {
	case ADMIT_STARTED:
		log_msg(NULL, "intake", VM_LOG_DEBUG, "message %s: job %s", mid, id);
		sqs_hold(v->queue, m, id);
		break;
	case ADMIT_DONE:
		log_msg(NULL, "intake", VM_LOG_INFO, "message %s: %s; the message is deleted", mid, why);
		sqs_settle(v->queue, m, SQS_DELETE, 0);
		break;
	case ADMIT_SKIP:
		if (delay > SQS_MAX_VISIBILITY_MS)
			delay = SQS_MAX_VISIBILITY_MS;
		log_msg(NULL, "intake", VM_LOG_INFO, "message %s: %s; given back to the queue, visible again in "
			"%lld s", mid, why, (long long)((delay + 999) / 1000));
		sqs_settle(v->queue, m, SQS_RETURN, delay);
		break;
	case ADMIT_LATER: {
		struct queue_later *l = malloc(sizeof *l);
		if (!l) {
			sqs_settle(v->queue, m, SQS_RETURN, v->queue_vis_ms);
			break;
		}
		log_msg(NULL, "intake", VM_LOG_WARN, "message %s: %s; tried again in %d s (the message is kept "
			"meanwhile)", mid, why, LATER_MS / 1000);
		l->m = m;
		l->next = v->later;
		v->later = l;
		if (v->next_scan > mono_ms() + LATER_MS)
			v->next_scan = mono_ms() + LATER_MS;
		break;
	}
	case ADMIT_REFUSED:
		log_msg(NULL, "intake", VM_LOG_ERROR, "message %s (received %d time%s): %s: not deleted; it comes "
			"back after its visibility timeout, and the queue's redrive policy moves it to the "
			"dead-letter queue", mid, n, n == 1 ? "" : "s", why);
		metrics_queue(v->m, "unparsed");
		sqs_settle(v->queue, m, SQS_LEAVE, 0);
		break;
	}
}

static void queue_take(struct srv *v)
{
	struct sqs_msg *m;
	for (int i = 0; i < QUEUE_TAKE_MAX && !v->stopping && (m = sqs_next(v->queue)); i++)
		queue_admit(v, m);
}

/* Messages that waited for the state store: admitted again. */
static void queue_retry_later(struct srv *v)
{
	struct queue_later *l = v->later;
	v->later = NULL;
	while (l) {
		struct queue_later *nx = l->next;
		queue_admit(v, l->m);
		free(l);
		l = nx;
	}
}

static void queue_job_ended(struct srv *v, const char *id, const struct sched_end *e)
{
	if (!v->queue || !id)
		return;
	if (!e->abandoned)
		sqs_settle_key(v->queue, id, SQS_DELETE, 0);
	else if (e->lost)
		sqs_settle_key(v->queue, id, SQS_LEAVE, 0);
	else
		sqs_settle_key(v->queue, id, SQS_RETURN, 0); /* stopping: its checkpoint is saved */
}

/* Stopping: no more receives; what waited for the store goes back. */
static void queue_stop_intake(struct srv *v)
{
	if (!v->queue)
		return;
	sqs_stop(v->queue);
	while (v->later) {
		struct queue_later *l = v->later;
		v->later = l->next;
		sqs_settle(v->queue, l->m, SQS_RETURN, 0);
		free(l);
	}
}

/* After the drain: what is held goes back, pending deletes are sent. */
static void queue_close(struct srv *v)
{
	queue_stop_intake(v);
	sqs_free(v->queue, QUEUE_FLUSH_MS);
	v->queue = NULL;
}

/* ------------------------------------------------------------ the loop */

static void save_one(void *ctx, vm_job *job, const struct pipeline *p, struct claim *claim, void *owner)
{
	(void)ctx;
	(void)owner;
	state_save(p, claim, job);
}

static void gauges(struct srv *v, struct metrics_gauges *g)
{
	size_t busy = sched_busy(v->s), jobs = sched_jobs(v->s);
	g->running = busy;
	g->waiting = jobs > busy ? jobs - busy : 0;
	g->queued = 0;
	g->spool_depth = scan(v, "new", false);
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
	if (spool_prepare(v->spool, err, sizeof err) != 0) {
		log_msg(NULL, "serve", VM_LOG_ERROR, "%s", err);
		return EXIT_CONFIG;
	}
	char cur[PATH_MAX + 8];
	snprintf(cur, sizeof cur, "%s/cur", v->spool);
	if (mkdir(cur, 0770) != 0 && errno != EEXIST) {
		log_msg(NULL, "serve", VM_LOG_ERROR, "cannot create %s: %s", cur, strerror(errno));
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
	const char *metrics = v->o->metrics ? v->o->metrics : ss->metrics;
	if (metrics && *metrics) {
		v->met_fd = metrics_listen(metrics, err, sizeof err);
		if (v->met_fd < 0) {
			log_msg(NULL, "serve", VM_LOG_ERROR, "%s", err);
			return EXIT_CONFIG;
		}
	}
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
	    inotify_add_watch(v->ino_fd, newdir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
		log_msg(NULL, "serve", VM_LOG_ERROR, "cannot watch %s: %s", newdir, strerror(errno));
		return EXIT_SOFTWARE;
	}
	struct sched_opts so = {.workers = (int)workers, .ended = on_ended, .stepped = on_stepped, .ctx = v};
	v->s = sched_new(&so);
	if (!v->s) {
		log_msg(NULL, "serve", VM_LOG_ERROR, "cannot start %lld worker threads", (long long)workers);
		return EXIT_SOFTWARE;
	}
	log_msg(NULL, "serve", VM_LOG_INFO, "serving spool %s (state %s) with %lld worker%s%s%s", v->spool,
		base->set.state && *base->set.state ? base->set.state : sdir, (long long)workers,
		workers == 1 ? "" : "s", v->met_fd >= 0 ? "; metrics on " : "",
		v->met_fd >= 0 ? metrics : "");
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
	struct srv v = {.o = o, .lock_fd = -1, .ino_fd = -1, .sig_fd = -1, .met_fd = -1};
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
		size_t back = scan(&v, "cur", true);
		if (back)
			log_msg(NULL, "serve", VM_LOG_INFO, "resuming %zu job%s from the last run", back,
				back == 1 ? "" : "s");
		scan(&v, "new", true);
		v.next_scan = mono_ms() + SCAN_EVERY_MS;
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
			struct pollfd pf[5] = {{v.sig_fd, POLLIN, 0}, {v.ino_fd, POLLIN, 0}, {sched_fd(v.s), POLLIN, 0},
					       {v.met_fd, POLLIN, 0}, {sqs_fd(v.queue), POLLIN, 0}};
			int n = poll(pf, 5, wait > INT32_MAX ? INT32_MAX : (int)wait); /* fd -1: ignored */
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
			if (n > 0 && v.met_fd >= 0 && (pf[3].revents & POLLIN)) {
				struct metrics_gauges g;
				gauges(&v, &g);
				metrics_answer(v.met_fd, v.m, &g);
			}
			if (mono_ms() >= v.next_scan) {
				v.next_scan = mono_ms() + SCAN_EVERY_MS;
				scan(&v, "cur", true); /* what a store outage left waiting */
				scan(&v, "new", true);
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
	queue_close(&v);
	if (v.s)
		sched_free(v.s);
	gen_unref(v.gen);
	metrics_free(v.m);
	json_decref(v.ids);
	json_decref(v.curs);
	state_default(NULL);
	int fds[] = {v.lock_fd, v.ino_fd, v.sig_fd, v.met_fd};
	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc;
}
