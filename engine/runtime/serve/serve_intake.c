/*
 * `vmpipe serve`: events from the spool (inotify, scans) become jobs; the
 * admission every intake shares (claim, checkpoint, start).
 */
#include "serve_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/event.h"
#include "core/log.h"
#include "core/state.h"
#include "core/retry.h"
#include "core/util.h"

/* -------------------------------------------------------------- intake */

/* ADMIT_DONE: the job was done already (the queue deletes its message). */

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

enum admit admit(struct srv *v, const char *text, size_t len, struct held **hp, char *why,
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
		if (retry_prepare(stored))
			log_msg(stored, "serve", VM_LOG_INFO, "retry: the stages that failed run again; the owner "
				"was told of the failure, so the notifiers send the result as a follow-up");
		else
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
void take(struct srv *v, const char *name, bool in_cur)
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

size_t scan(struct srv *v, const char *sub, bool take_them)
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
void clean_tmp(struct srv *v)
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

void read_inotify(struct srv *v)
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

