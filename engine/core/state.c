/*
 * Job checkpoints ([pipeline] state): where a job's record is kept between
 * stages and between invocations, so a retried event resumes instead of
 * starting over (and mailing again).  See state.h.
 */
#include "state.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "util.h"

/* A record is a few KiB; anything this large is not one of ours. */
#define RECORD_MAX (8u * 1024 * 1024)
/* S3 keys are at most 1024 bytes: leave room for "/<id>.json" (ids: 128). */
#define PREFIX_MAX 800

struct where {
	bool s3;
	char dir[PATH_MAX];         /* directory backend: resolved */
	char bucket[64];            /* S3 backend */
	char prefix[PREFIX_MAX + 1]; /* without a trailing '/'; may be empty */
};

/* S3's bucket naming rules (the common subset): 3-63 of [a-z0-9.-],
 * starting and ending with a letter or digit. */
static bool bucket_ok(const char *b, size_t n)
{
	if (n < 3 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = b[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && ((c != '.' && c != '-') || i == 0 || i == n - 1))
			return false;
	}
	return true;
}

/* Where pipelines that set no `state` keep checkpoints (vmpipe serve: the
 * spool's state/), or NULL.  Set once before jobs run. */
static char *fallback;

void state_default(const char *dir)
{
	free(fallback);
	fallback = dir ? strdup(dir) : NULL;
}

static bool disabled;

void state_disable(bool off)
{
	disabled = off;
}

static const char *setting(const struct pipeline *p)
{
	if (disabled)
		return NULL;
	const char *s = p->set.state;
	return s && *s ? s : fallback;
}

/* 1: checkpoints on (*w filled), 0: off, -1: a malformed setting (err). */
static int where_of(const struct pipeline *p, struct where *w, char *err, size_t errsize)
{
	const char *s = setting(p);
	memset(w, 0, sizeof *w);
	if (!s)
		return 0;
	if (strncmp(s, "s3://", 5) == 0) {
		const char *b = s + 5, *slash = strchr(b, '/');
		size_t n = slash ? (size_t)(slash - b) : strlen(b);
		if (!bucket_ok(b, n)) {
			snprintf(err, errsize, "\"%.200s\" is not s3://BUCKET[/PREFIX] with a valid bucket name", s);
			return -1;
		}
		memcpy(w->bucket, b, n);
		const char *pre = slash ? slash + 1 : "";
		size_t pn = strlen(pre);
		while (pn && pre[pn - 1] == '/')
			pn--;
		if (pn > PREFIX_MAX || (pn && pre[0] == '/')) {
			snprintf(err, errsize, "\"%.200s\": the prefix must not start with '/' and is at most %d bytes",
				 s, PREFIX_MAX);
			return -1;
		}
		memcpy(w->prefix, pre, pn);
		w->s3 = true;
		return 1;
	}
	if (strstr(s, "://")) {
		snprintf(err, errsize, "\"%.200s\": a directory or s3://BUCKET/PREFIX", s);
		return -1;
	}
	int n = s[0] == '/' ? snprintf(w->dir, sizeof w->dir, "%s", s)
			    : snprintf(w->dir, sizeof w->dir, "%s/%s", p->dir ? p->dir : ".", s);
	if (n < 0 || (size_t)n >= sizeof w->dir) {
		snprintf(err, errsize, "the directory path is too long");
		return -1;
	}
	return 1;
}

/* mkdir -p with `mode` for what it creates.  0, or -1 with errno. */
static int make_dirs(char *path, mode_t mode)
{
	for (char *c = path + 1;; c++) {
		if (*c != '/' && *c != '\0')
			continue;
		char keep = *c;
		*c = '\0';
		int r = mkdir(path, mode);
		int e = errno;
		*c = keep;
		if (r != 0 && e != EEXIST) {
			errno = e;
			return -1;
		}
		if (!keep)
			break;
	}
	struct stat st;
	if (stat(path, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

bool state_enabled(const struct pipeline *p)
{
	return setting(p) != NULL;
}

int state_check(const struct pipeline *p, struct diag *d)
{
	struct where w;
	char err[400];
	const struct cfg_entry *e = cfg_entry(cfg_section(&p->cfg, "pipeline"), "state");
	int line = e ? e->line : 0;
	int r = where_of(p, &w, err, sizeof err);
	if (r < 0) {
		diag_add(d, "%s:%d: [pipeline] state: %s", p->cfg.path, line, err);
		return -1;
	}
	if (r == 0 || w.s3)
		return 0;
	if (pipeline_checking()) { /* vmpipe check creates nothing */
		if (vm_dir_check(w.dir, err, sizeof err) != 0) {
			diag_add(d, "%s:%d: [pipeline] state: directory %s cannot be created or written: %s", p->cfg.path, line,
				 w.dir, err);
			return -1;
		}
		return 0;
	}
	if (make_dirs(w.dir, 0700) != 0 || access(w.dir, W_OK | X_OK) != 0) {
		diag_add(d, "%s:%d: [pipeline] state: directory %s cannot be created or written: %s",
			 p->cfg.path, line, w.dir, strerror(errno));
		return -1;
	}
	return 0;
}

int state_check_private(const struct pipeline *p, char *err, size_t errsize)
{
	struct where w;
	if (where_of(p, &w, err, errsize) <= 0 || w.s3)
		return 0;
	struct stat st;
	uid_t me = geteuid();
	if (lstat(w.dir, &st) != 0) {
		snprintf(err, errsize, "cannot use %s: %s", w.dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != me || (st.st_mode & 022)) {
		snprintf(err, errsize, "%s must be a directory of this user (uid %ld) that nobody else may write "
			 "(it is %s, uid %ld, mode %04o): refused; chown it and chmod 0700", w.dir, (long)me,
			 S_ISDIR(st.st_mode) ? "a directory" : S_ISLNK(st.st_mode) ? "a symbolic link" : "not a directory",
			 (long)st.st_uid, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	/* Whoever may write its parent can swap the whole directory. */
	char parent[PATH_MAX];
	snprintf(parent, sizeof parent, "%s", w.dir);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	else if (slash)
		slash[1] = '\0';
	if (stat(parent, &st) == 0 && (st.st_mode & 022) && !(st.st_mode & S_ISVTX)) {
		snprintf(err, errsize, "%s is in %s, which others may write (mode %04o): they could put another "
			 "directory in its place; refused (chmod go-w it)", w.dir, parent,
			 (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

int state_dir(const struct pipeline *p, char *buf, size_t size)
{
	struct where w;
	char err[400];
	int r = where_of(p, &w, err, sizeof err);
	if (r <= 0)
		return -1;
	if (w.s3)
		return 1;
	int n = snprintf(buf, size, "%s", w.dir);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

int state_place(const struct pipeline *p, char *buf, size_t size)
{
	struct where w;
	char err[400];
	if (where_of(p, &w, err, sizeof err) <= 0)
		return -1;
	int n = w.s3 ? snprintf(buf, size, "s3://%s/%s", w.bucket, w.prefix) : snprintf(buf, size, "%s", w.dir);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* The object key or file name of job `id`. */
static int name_of(const struct where *w, const char *id, char *buf, size_t size)
{
	int n;
	if (w->s3)
		n = snprintf(buf, size, "%s%s%s.json", w->prefix, *w->prefix ? "/" : "", id);
	else
		n = snprintf(buf, size, "%s/%s.json", w->dir, id);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/*
 * An AWS call on behalf of `ctx` that must not disturb it: vm_aws_send()
 * records its outcome in the job (vm_fail), where the scheduler reads the
 * outcome of the stage that just ran.  The scratch job borrows the record
 * (for the region of contact.instance_arn and for log lines) and owns only
 * its own outcome.
 */
vm_status state_aws_call(vm_job *ctx, const char *stage, const vm_aws_request *req, vm_aws_response *resp,
			 char *err, size_t errsize)
{
	json_t *own = ctx ? NULL : json_object();
	vm_job scratch = {.rec = ctx ? ctx->rec : own, .stage = stage};
	vm_status st = vm_aws_send(&scratch, req, resp);
	if (st != VM_DONE)
		snprintf(err, errsize, "%s", scratch.fail_msg ? scratch.fail_msg : "S3 call failed");
	free(scratch.fail_msg);
	json_decref(own);
	return st;
}

static vm_status s3_call(vm_job *ctx, const vm_aws_request *req, vm_aws_response *resp, char *err,
			 size_t errsize)
{
	return state_aws_call(ctx, "state", req, resp, err, errsize);
}

/* Small: `vmpipe serve` holds one per job in flight (thousands). */
struct claim {
	bool s3;
	char bucket[64];      /* S3 */
	char *name;           /* file or object key of the checkpoint; owned */
	char id[129];
	int lock_fd;          /* directory: the flock()ed ID.lock */
	bool locked;          /* directory: lock_fd holds the lock (not only open) */
	char etag[80];        /* S3: of what we wrote last (or read); "" when it does not exist */
	char *owner;          /* owned */
	int64_t lease_ms;
	int64_t lease_cap_ms; /* the lease ends at the latest then (0: no cap) */
};

/* The lease a claim on S3 carries: a job's whole life and a margin, so only
 * a runner that died loses it. */
static int64_t lease_of(const struct pipeline *p)
{
	return p->set.timeout_ms + p->set.notify_grace_ms + 120000;
}

static void default_owner(char *buf, size_t size)
{
	char host[128] = "host";
	gethostname(host, sizeof host - 1);
	host[sizeof host - 1] = '\0';
	snprintf(buf, size, "%s:%ld", host, (long)getpid());
}

/* Claims taken from now on hold their lease at most until this (0: no cap). */
static int64_t lease_cap_ms;

void state_lease_cap(int64_t until_ms)
{
	lease_cap_ms = until_ms > 0 ? until_ms : 0;
}

/* How the record is stored on S3: as it is, under the claim's lease, or
 * released (the last holder named, no lease: whoever comes takes it). */
enum rec_mode { REC_PLAIN, REC_LEASED, REC_RELEASED };

/* The record as stored: the job's, plus the claim's lease on S3. */
static char *record_text(vm_job *job, const struct claim *c, enum rec_mode mode)
{
	json_t *rec = job->rec;
	if (c && c->s3 && mode == REC_LEASED) {
		char until[32];
		int64_t at = clock_now_ms() + c->lease_ms;
		if (c->lease_cap_ms > 0 && c->lease_cap_ms < at)
			at = c->lease_cap_ms;
		vm_format_time(at, until, sizeof until);
		json_object_set_new(rec, "claim", json_pack("{s:s, s:s}", "owner", c->owner, "until", until));
	} else if (c && c->s3 && mode == REC_RELEASED) {
		json_object_set_new(rec, "claim", json_pack("{s:s}", "owner", c->owner));
	}
	char *text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
	json_object_del(rec, "claim");
	return text;
}

/* PUT the record; with `c`, conditionally on what the claim last saw. */
static int s3_put(struct claim *c, const char *bucket, const char *name, vm_job *job, const char *text)
{
	char err[600];
	vm_aws_pair hdr[2] = {{"Content-Type", "application/json"}, {NULL, NULL}};
	size_t nh = 1;
	if (c) {
		hdr[1].name = *c->etag ? "If-Match" : "If-None-Match";
		hdr[1].value = *c->etag ? c->etag : "*";
		nh = 2;
	}
	vm_aws_request req = {.service = "s3", .method = "PUT", .bucket = bucket, .path = name,
			      .headers = hdr, .nheaders = nh, .body = text, .body_len = strlen(text),
			      .protocol = VM_AWS_REST_XML};
	vm_aws_response resp;
	int rc = STATE_OK;
	if (s3_call(job, &req, &resp, err, sizeof err) == VM_DONE) {
		const char *et = vm_aws_response_header(&resp, "etag");
		if (c)
			snprintf(c->etag, sizeof c->etag, "%s", et ? et : "");
	} else if (c && (resp.status == 412 || resp.status == 409 ||
			 (resp.status == 404 && *c->etag))) {
		rc = STATE_LOST;
	} else {
		log_msg(job, "state", VM_LOG_WARN, "checkpoint s3://%s/%s not saved: %s", bucket, name, err);
		rc = STATE_ERROR;
	}
	vm_aws_response_free(&resp);
	return rc;
}

int state_save(const struct pipeline *p, struct claim *c, vm_job *job)
{
	struct where w;
	char err[600], name[PATH_MAX];
	int r = where_of(p, &w, err, sizeof err);
	if (r <= 0)
		return STATE_OK; /* off, or refused at load already */
	const char *id = vm_job_id(job);
	if (!id || !is_plain_name(id, 128) || name_of(&w, id, name, sizeof name) != 0) {
		log_msg(job, "state", VM_LOG_WARN, "checkpoint not saved: the job has no usable id");
		return STATE_ERROR;
	}
	/* A job that is done needs no lease: nothing of it is left to run. */
	const char *st = vm_job_get_str(job, "state");
	char *text = record_text(job, c, !st || strcmp(st, "done") != 0 ? REC_LEASED : REC_PLAIN);
	if (!text) {
		log_msg(job, "state", VM_LOG_WARN, "checkpoint not saved: out of memory");
		return STATE_ERROR;
	}
	int rc = STATE_OK;
	if (w.s3) {
		rc = s3_put(c, w.bucket, name, job, text);
		if (rc == STATE_LOST)
			log_msg(job, "state", VM_LOG_WARN,
				"checkpoint s3://%s/%s was written by another runner: this one stops", w.bucket, name);
	} else if (write_file_atomic(name, text, strlen(text)) != 0) {
		log_msg(job, "state", VM_LOG_WARN, "checkpoint %s not saved: %s", name, strerror(errno));
		rc = STATE_ERROR;
	}
	free(text);
	return rc;
}

/* Parse a stored record; NULL (logged) unless it is the record of `id`. */
static vm_job *parse_record(vm_job *ctx, const char *where, const char *text, const char *id)
{
	char err[300];
	vm_job *job = job_from_string(text, err, sizeof err);
	if (!job) {
		log_msg(ctx, "state", VM_LOG_WARN, "checkpoint %s is not a job record (%s): ignored", where, err);
		return NULL;
	}
	const char *got = vm_job_id(job);
	if (!got || strcmp(got, id) != 0) {
		log_msg(ctx, "state", VM_LOG_WARN, "checkpoint %s holds job '%s', not '%s': ignored", where,
			got ? got : "", id);
		job_free(job);
		return NULL;
	}
	return job;
}

/* GET the checkpoint: 1 with *out (and its ETag), 0 when absent, -1 on error
 * (logged).  A record that does not parse counts as absent (logged): it is
 * replaced. */
static int s3_get(const char *bucket, const char *name, vm_job *ctx, const char *id, vm_job **out,
		  char *etag, size_t etagsize)
{
	char err[600], label[PATH_MAX + 80];
	snprintf(label, sizeof label, "s3://%s/%s", bucket, name);
	vm_aws_request req = {.service = "s3", .method = "GET", .bucket = bucket, .path = name,
			      .protocol = VM_AWS_REST_XML, .max_response = RECORD_MAX};
	vm_aws_response resp;
	vm_status st = s3_call(ctx, &req, &resp, err, sizeof err);
	int rc;
	if (st == VM_DONE) {
		const char *et = vm_aws_response_header(&resp, "etag");
		snprintf(etag, etagsize, "%s", et ? et : "");
		*out = parse_record(ctx, label, resp.body ? (const char *)resp.body : "", id);
		rc = *out ? 1 : 0;
	} else if (resp.status == 404 && (!resp.error_code || strcmp(resp.error_code, "NoSuchKey") == 0 ||
					   strcmp(resp.error_code, "NotFound") == 0)) {
		*etag = '\0';
		rc = 0; /* never checkpointed: a new job */
	} else {
		log_msg(ctx, "state", VM_LOG_WARN, "checkpoint %s not read: %s", label, err);
		rc = -1;
	}
	vm_aws_response_free(&resp);
	return rc;
}

static int file_get(const char *name, vm_job *ctx, const char *id, vm_job **out)
{
	char *text;
	size_t len;
	if (read_file(name, RECORD_MAX, &text, &len) != 0) {
		if (errno == ENOENT)
			return 0;
		log_msg(ctx, "state", VM_LOG_WARN, "checkpoint %s not read: %s", name, strerror(errno));
		return -1;
	}
	*out = parse_record(ctx, name, text, id);
	free(text);
	return *out ? 1 : -1;
}

/* Who holds the stored record's lease, and until when (0: nobody). */
static int64_t lease_until(vm_job *stored, const char **owner)
{
	json_t *cl = json_object_get(stored->rec, "claim");
	*owner = json_string_value(json_object_get(cl, "owner"));
	int64_t at;
	if (!*owner || parse_iso_ms(json_string_value(json_object_get(cl, "until")), &at) != 0)
		return 0;
	return at;
}

int state_load(const struct pipeline *p, vm_job *ctx, const char *id, vm_job **out)
{
	return state_load_held(p, ctx, id, out, NULL);
}

int state_load_held(const struct pipeline *p, vm_job *ctx, const char *id, vm_job **out, struct state_holder *h)
{
	struct where w;
	char err[600], name[PATH_MAX], etag[160];
	*out = NULL;
	if (h)
		memset(h, 0, sizeof *h);
	int r = where_of(p, &w, err, sizeof err);
	if (r <= 0)
		return r;
	if (!id || !is_plain_name(id, 128) || name_of(&w, id, name, sizeof name) != 0)
		return -1;
	if (w.s3) {
		int g = s3_get(w.bucket, name, ctx, id, out, etag, sizeof etag);
		if (*out && h) {
			const char *owner = NULL;
			h->until_ms = lease_until(*out, &owner);
			owner = json_string_value(json_object_get(json_object_get((*out)->rec, "claim"), "owner"));
			snprintf(h->owner, sizeof h->owner, "%s", owner ? owner : "");
		}
		if (*out)
			json_object_del((*out)->rec, "claim");
		return g == 0 ? 0 : (*out ? 1 : -1);
	}
	return file_get(name, ctx, id, out);
}

/* Sleep a little between tries for a busy claim.  Real time, not the job
 * clock: this waits for another process, and must wait on a fake clock too. */
static void pause_ms(int64_t ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The directory backend: flock() <dir>/ID.lock.  STATE_OK or STATE_BUSY. */
static int claim_dir(struct claim *c, vm_job *ctx, int64_t wait_ms)
{
	/* <dir>/ID.lock beside <dir>/ID.json */
	char lock[PATH_MAX + 8];
	snprintf(lock, sizeof lock, "%.*s.lock", (int)(strlen(c->name) - 5), c->name);
	c->lock_fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (c->lock_fd < 0) {
		log_msg(ctx, "state", VM_LOG_WARN, "cannot open %s: %s", lock, strerror(errno));
		return STATE_ERROR;
	}
	bool said = false;
	for (int64_t waited = 0;; waited += 50) {
		if (flock(c->lock_fd, LOCK_EX | LOCK_NB) == 0) {
			/* The sweep may have removed the file we locked: lock the one
			 * that is there now. */
			struct stat a, b;
			if (fstat(c->lock_fd, &a) == 0 && stat(lock, &b) == 0 && a.st_ino == b.st_ino &&
			    a.st_dev == b.st_dev) {
				c->locked = true;
				return STATE_OK;
			}
			close(c->lock_fd);
			c->lock_fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (c->lock_fd < 0)
				return STATE_ERROR;
			continue;
		}
		if (errno != EWOULDBLOCK && errno != EINTR) {
			log_msg(ctx, "state", VM_LOG_WARN, "cannot lock %s: %s", lock, strerror(errno));
			return STATE_ERROR;
		}
		if (waited >= wait_ms)
			return STATE_BUSY;
		if (!said)
			log_msg(ctx, "state", VM_LOG_INFO, "another runner holds this job: waiting for it");
		said = true;
		pause_ms(50);
	}
}

/* The S3 backend: read, then write conditionally on what was read. */
static int claim_s3(struct claim *c, vm_job *ctx, int64_t wait_ms, vm_job **stored)
{
	bool said = false;
	for (int64_t waited = 0;;) {
		vm_job *got = NULL;
		int g = s3_get(c->bucket, c->name, ctx, c->id, &got, c->etag, sizeof c->etag);
		if (g < 0)
			return STATE_ERROR;
		const char *holder = NULL;
		int64_t until = got ? lease_until(got, &holder) : 0;
		const char *st = got ? vm_job_get_str(got, "state") : NULL;
		if (got && st && strcmp(st, "done") == 0) {
			json_object_del(got->rec, "claim");
			*stored = got; /* nothing left to run: no need to hold it */
			return STATE_OK;
		}
		if (until > clock_now_ms() && holder && strcmp(holder, c->owner) != 0) {
			job_free(got);
			if (waited >= wait_ms)
				return STATE_BUSY;
			if (!said)
				log_msg(ctx, "state", VM_LOG_INFO, "%s holds this job: waiting for it", holder);
			said = true;
			pause_ms(200);
			waited += 200;
			continue;
		}
		/* Free, expired, or ours from before a restart: take it.  The
		 * holder's name is copied first: record_text() replaces the claim
		 * object it points into. */
		char prev[200] = "";
		if (holder)
			snprintf(prev, sizeof prev, "%s", holder);
		vm_job *rec = got ? got : ctx;
		char *text = record_text(rec, c, REC_LEASED);
		int put = text ? s3_put(c, c->bucket, c->name, ctx, text) : STATE_ERROR;
		free(text);
		if (put == STATE_OK) {
			if (got) {
				if (*prev && until > 0 && strcmp(prev, c->owner) != 0)
					log_msg(ctx, "state", VM_LOG_INFO, "took the job over from %s (lease expired)", prev);
				json_object_del(got->rec, "claim");
			}
			*stored = got;
			return STATE_OK;
		}
		job_free(got);
		if (put != STATE_LOST)
			return STATE_ERROR;
		/* Somebody wrote between our read and our write: look again. */
	}
}

int state_claim(const struct pipeline *p, vm_job *ctx, const char *id, const char *owner,
		int64_t wait_ms, struct claim **out, vm_job **stored)
{
	char err[600];
	*out = NULL;
	*stored = NULL;
	struct claim *c = calloc(1, sizeof *c);
	if (!c)
		return STATE_ERROR;
	c->lock_fd = -1;
	struct where w;
	char name[PATH_MAX], host[200];
	int r = where_of(p, &w, err, sizeof err);
	if (r <= 0) {
		free(c);
		return r == 0 ? STATE_OK : STATE_ERROR;
	}
	if (!id || !is_plain_name(id, 128) || name_of(&w, id, name, sizeof name) != 0) {
		log_msg(ctx, "state", VM_LOG_WARN, "no checkpoint: the job has no usable id");
		free(c);
		return STATE_ERROR;
	}
	c->s3 = w.s3;
	snprintf(c->bucket, sizeof c->bucket, "%s", w.bucket);
	snprintf(c->id, sizeof c->id, "%s", id);
	if (!owner || !*owner) {
		default_owner(host, sizeof host);
		owner = host;
	}
	c->name = strdup(name);
	c->owner = strdup(owner);
	if (!c->name || !c->owner) {
		state_release(p, c, NULL);
		return STATE_ERROR;
	}
	c->lease_ms = lease_of(p);
	c->lease_cap_ms = lease_cap_ms;
	int rc;
	if (c->s3) {
		rc = claim_s3(c, ctx, wait_ms, stored);
	} else {
		rc = claim_dir(c, ctx, wait_ms);
		if (rc == STATE_OK && file_get(c->name, ctx, id, stored) < 0)
			*stored = NULL; /* unreadable (logged): run from the event, still claimed */
	}
	if (rc != STATE_OK) {
		state_release(p, c, NULL);
		return rc;
	}
	*out = c;
	return STATE_OK;
}

void state_release(const struct pipeline *p, struct claim *c, vm_job *job)
{
	(void)p;
	if (!c)
		return;
	if (c->s3 && job && *c->etag) {
		const char *st = vm_job_get_str(job, "state");
		if (!st || strcmp(st, "done") != 0) {
			char *text = record_text(job, c, REC_RELEASED);
			if (text)
				s3_put(c, c->bucket, c->name, job, text);
			free(text);
		}
	}
	if (c->lock_fd >= 0) {
		/* No checkpoint was written (a refused retry, a job that never
		 * started): the lock guards nothing.  Removed only by the runner
		 * that holds it (one that found the job busy must leave it to its
		 * holder), as the sweep does: a runner that opened it finds the
		 * inode changed. */
		struct stat st;
		if (c->locked && stat(c->name, &st) != 0 && errno == ENOENT) {
			char lock[PATH_MAX + 8];
			snprintf(lock, sizeof lock, "%.*s.lock", (int)(strlen(c->name) - 5), c->name);
			unlink(lock);
		}
		close(c->lock_fd);
	}
	free(c->name);
	free(c->owner);
	free(c);
}

void state_prepare_resume(vm_job *job)
{
	vm_job_set_str(job, "state", "pending");
	vm_job_set_str(job, "suspended_until", NULL);
	/* A checkpoint is no authority for a path: a local recording is located
	 * again (confined to the locator's directory, and the same file as
	 * before) before any stage reads it. */
	const char *uri = vm_job_get_str(job, "recording.uri");
	json_t *stages = job_get(job, "stages");
	if (uri && strncmp(uri, "file://", 7) == 0 && json_is_object(stages))
		json_object_del(stages, "locate"); /* file_id stays: locate-file wants the same file */
	/* A locate stage that failed moved recording.uri aside (sched.c) so no
	 * notifier would use an unchecked URI.  It runs again now and checks it
	 * again, so give it back what the event named. */
	const char *loc = json_string_value(json_object_get(job_get(job, "stages"), "locate"));
	const char *refused = vm_job_get_str(job, "recording.refused_uri");
	if (loc && strcmp(loc, "done") != 0 && refused && !vm_job_get_str(job, "recording.uri")) {
		vm_job_set_str(job, "recording.uri", refused);
		vm_job_set_str(job, "recording.refused_uri", NULL);
		vm_job_set_str(job, "recording.error", NULL);
	}
}

struct entry {
	char name[NAME_MAX + 1];
	int64_t mtime;
};

static int by_mtime(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	return x->mtime < y->mtime ? -1 : x->mtime > y->mtime;
}

/* The *.json files of a state directory, oldest first.  NULL with errno. */
static struct entry *entries(const struct where *w, size_t *n)
{
	*n = 0;
	DIR *d = opendir(w->dir);
	if (!d)
		return NULL;
	struct entry *v = NULL;
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0 || e->d_name[0] == '.')
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			struct entry *nv = realloc(v, cap * sizeof *v);
			if (!nv) {
				free(v);
				closedir(d);
				errno = ENOMEM;
				return NULL;
			}
			v = nv;
		}
		snprintf(v[*n].name, sizeof v->name, "%s", e->d_name);
		v[*n].mtime = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof *v, by_mtime);
	return v ? v : calloc(1, sizeof *v);
}

int state_list(const struct pipeline *p, void (*fn)(void *, vm_job *, int64_t), void *ctx)
{
	struct where w;
	char err[600], path[PATH_MAX + NAME_MAX + 2];
	if (where_of(p, &w, err, sizeof err) <= 0) {
		errno = EINVAL;
		return -1;
	}
	if (w.s3) {
		errno = ENOTSUP;
		return -1;
	}
	size_t n;
	struct entry *v = entries(&w, &n);
	if (!v)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char id[NAME_MAX + 1];
		snprintf(id, sizeof id, "%.*s", (int)(strlen(v[i].name) - 5), v[i].name);
		snprintf(path, sizeof path, "%s/%s", w.dir, v[i].name);
		vm_job *job = NULL;
		if (is_plain_name(id, 128) && file_get(path, NULL, id, &job) == 1) {
			fn(ctx, job, v[i].mtime);
			job_free(job);
		}
	}
	free(v);
	return 0;
}

int state_sweep(const struct pipeline *p, int64_t age_ms)
{
	struct where w;
	char err[600], path[PATH_MAX + NAME_MAX + 8];
	if (age_ms <= 0 || where_of(p, &w, err, sizeof err) <= 0 || w.s3)
		return 0;
	size_t n;
	struct entry *v = entries(&w, &n);
	int removed = 0;
	int64_t cut = clock_now_ms() - age_ms;
	for (size_t i = 0; v && i < n && v[i].mtime < cut; i++) {
		char id[NAME_MAX + 1];
		snprintf(id, sizeof id, "%.*s", (int)(strlen(v[i].name) - 5), v[i].name);
		if (!is_plain_name(id, 128))
			continue;
		snprintf(path, sizeof path, "%s/%s.lock", w.dir, id);
		int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
			close(fd); /* a runner holds it: not ours to remove */
			continue;
		}
		vm_job *job = NULL;
		snprintf(path, sizeof path, "%s/%s", w.dir, v[i].name);
		if (file_get(path, NULL, id, &job) == 1) {
			const char *st = vm_job_get_str(job, "state");
			if (st && strcmp(st, "done") == 0 && unlink(path) == 0) {
				removed++;
				snprintf(path, sizeof path, "%s/%s.lock", w.dir, id);
				unlink(path); /* while we hold it: a new runner locks a new file */
			}
		}
		job_free(job);
		if (fd >= 0)
			close(fd);
	}
	free(v);
	return removed;
}

int state_delete(const struct pipeline *p, const char *id)
{
	struct where w;
	char err[600], name[PATH_MAX], lock[PATH_MAX + 8];
	if (where_of(p, &w, err, sizeof err) <= 0 || !is_plain_name(id, 128) ||
	    name_of(&w, id, name, sizeof name) != 0) {
		errno = EINVAL;
		return -1;
	}
	if (w.s3) {
		errno = ENOTSUP;
		return -1;
	}
	snprintf(lock, sizeof lock, "%s/%s.lock", w.dir, id);
	int fd = open(lock, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		errno = EBUSY;
		return -1;
	}
	int rc = unlink(name);
	int e = errno;
	if (fd >= 0) {
		unlink(lock); /* while we hold it: a new runner locks a new file */
		close(fd);
	}
	errno = e;
	return rc;
}
