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

#include "log.h"
#include "sched.h"
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

static const char *setting(const struct pipeline *p)
{
	const char *s = p->set.state;
	return s && *s ? s : NULL;
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
	if (make_dirs(w.dir, 0700) != 0 || access(w.dir, W_OK | X_OK) != 0) {
		diag_add(d, "%s:%d: [pipeline] state: directory %s cannot be created or written: %s",
			 p->cfg.path, line, w.dir, strerror(errno));
		return -1;
	}
	return 0;
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
static vm_status s3_call(vm_job *ctx, const vm_aws_request *req, vm_aws_response *resp, char *err,
			 size_t errsize)
{
	json_t *own = ctx ? NULL : json_object();
	vm_job scratch = {.rec = ctx ? ctx->rec : own};
	vm_status st = vm_aws_send(&scratch, req, resp);
	if (st != VM_DONE)
		snprintf(err, errsize, "%s", scratch.fail_msg ? scratch.fail_msg : "S3 call failed");
	free(scratch.fail_msg);
	json_decref(own);
	return st;
}

int state_save(const struct pipeline *p, vm_job *job)
{
	struct where w;
	char err[600], name[PATH_MAX];
	int r = where_of(p, &w, err, sizeof err);
	if (r <= 0)
		return r; /* off, or refused at load already */
	const char *id = vm_job_id(job);
	if (!id || !is_plain_name(id, 128) || name_of(&w, id, name, sizeof name) != 0) {
		log_msg(job, "state", VM_LOG_WARN, "checkpoint not saved: the job has no usable id");
		return -1;
	}
	char *text = json_dumps(job->rec, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
	if (!text) {
		log_msg(job, "state", VM_LOG_WARN, "checkpoint not saved: out of memory");
		return -1;
	}
	int rc = 0;
	if (w.s3) {
		vm_aws_pair hdr[] = {{"Content-Type", "application/json"}};
		vm_aws_request req = {.service = "s3", .method = "PUT", .bucket = w.bucket, .path = name,
				      .headers = hdr, .nheaders = 1, .body = text, .body_len = strlen(text),
				      .protocol = VM_AWS_REST_XML};
		vm_aws_response resp;
		if (s3_call(job, &req, &resp, err, sizeof err) != VM_DONE) {
			log_msg(job, "state", VM_LOG_WARN, "checkpoint s3://%s/%s not saved: %s", w.bucket, name, err);
			rc = -1;
		}
		vm_aws_response_free(&resp);
	} else if (write_file_atomic(name, text, strlen(text)) != 0) {
		log_msg(job, "state", VM_LOG_WARN, "checkpoint %s not saved: %s", name, strerror(errno));
		rc = -1;
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

int state_load(const struct pipeline *p, vm_job *ctx, const char *id, vm_job **out)
{
	struct where w;
	char err[600], name[PATH_MAX], label[PATH_MAX + 80];
	*out = NULL;
	int r = where_of(p, &w, err, sizeof err);
	if (r <= 0)
		return r;
	if (!id || !is_plain_name(id, 128) || name_of(&w, id, name, sizeof name) != 0)
		return -1;
	if (w.s3) {
		snprintf(label, sizeof label, "s3://%s/%s", w.bucket, name);
		vm_aws_request req = {.service = "s3", .method = "GET", .bucket = w.bucket, .path = name,
				      .protocol = VM_AWS_REST_XML, .max_response = RECORD_MAX};
		vm_aws_response resp;
		vm_status st = s3_call(ctx, &req, &resp, err, sizeof err);
		if (st == VM_DONE) {
			*out = parse_record(ctx, label, resp.body ? (const char *)resp.body : "", id);
		} else if (resp.status == 404 &&
			   (!resp.error_code || strcmp(resp.error_code, "NoSuchKey") == 0 ||
			    strcmp(resp.error_code, "NotFound") == 0)) {
			vm_aws_response_free(&resp);
			return 0; /* never checkpointed: a new job */
		} else {
			log_msg(ctx, "state", VM_LOG_WARN, "checkpoint %s not read: %s", label, err);
		}
		vm_aws_response_free(&resp);
		return *out ? 1 : -1;
	}
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

/* A checkpoint that was not done runs again from where it stopped. */
static void prepare_resume(vm_job *job)
{
	vm_job_set_str(job, "state", "pending");
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

int job_run(const struct pipeline *p, vm_job **jobp, int64_t hard_deadline_ms)
{
	vm_job *job = *jobp;
	if (!state_enabled(p))
		return sched_run(p, job, hard_deadline_ms);
	vm_job *stored = NULL;
	/* Unreadable (-1, logged): run from the event.  The owner hearing of the
	 * call twice is better than not at all. */
	if (state_load(p, job, vm_job_id(job), &stored) == 1) {
		job_free(job);
		*jobp = job = stored;
		const char *st = vm_job_get_str(job, "state");
		if (st && strcmp(st, "done") == 0) {
			log_msg(job, "state", VM_LOG_INFO, "already done (checkpoint): nothing to run again");
			return EXIT_DONE;
		}
		log_msg(job, "state", VM_LOG_INFO, "resuming from its checkpoint (state %s)", st ? st : "?");
		prepare_resume(job);
	}
	return sched_run(p, job, hard_deadline_ms);
}
