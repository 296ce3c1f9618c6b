/*
 * `vmpipe serve`: the spool's drop (new/, and cur/ at start) read as
 * untrusted bytes (docs/serve.md, "Who writes what"): each entry opened
 * once and read through that descriptor, anything but a plain file moved
 * aside with a .why, a slice at a time; inotify and the scans feed it.
 */
#include "serve_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "drop.h"
#include "runtime/pbx/handover.h"

/* ------------------------------------------------------------ the drop */

/* What an entry that is not a regular file is, for its .why. */
static const char *kind_of(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket"
	       : S_ISLNK(m) ? "a symbolic link" : S_ISCHR(m) || S_ISBLK(m) ? "a device" : "not a regular file";
}

/* A name that may stand in rejected/ beside its NAME.why. */
static bool keepable(const char *name)
{
	return name[0] != '.' && is_plain_name(name, NAME_MAX - 8);
}

/*
 * Move an entry of SPOOL/SUB that cannot be taken into rejected/ as it is
 * (never reading it, never following it), with a .why naming what it was.
 * A name that cannot stand there, or is taken, gets a fresh one.
 */
static void quarantine(struct srv *v, const char *sub, const char *name, const char *why)
{
	char src[PATH_MAX + NAME_MAX + 8], dst[PATH_MAX + NAME_MAX + 16], fresh[SPOOL_NAME_MAX];
	char whyname[NAME_MAX + 8], line[NAME_MAX * 4 + 1200], err[600];
	snprintf(src, sizeof src, "%s/%s/%s", v->spool, sub, name);
	const char *as = name;
	if (!keepable(name)) {
		spool_unique_name(fresh, sizeof fresh);
		as = fresh;
	}
	snprintf(dst, sizeof dst, "%s/rejected/%s", v->spool, as);
	int r = renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE);
	if (r != 0 && errno == EEXIST && as == name) {
		spool_unique_name(fresh, sizeof fresh);
		as = fresh;
		snprintf(dst, sizeof dst, "%s/rejected/%s", v->spool, as);
		r = renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE);
	}
	if (r != 0) {
		if (errno == ENOENT)
			return;
		/* Another user's directory cannot be moved (its ".." would
		 * change): it goes, and its .why stays. */
		int e = errno;
		if (unlink(src) != 0 && (errno == EISDIR || errno == EPERM))
			rmdir(src);
		log_msg(NULL, "intake", VM_LOG_ERROR, "%s/%s: %s; it cannot be moved to rejected/ (%s): removed",
			sub, name, why, strerror(e));
		spool_unique_name(fresh, sizeof fresh);
		as = fresh;
		snprintf(whyname, sizeof whyname, "%s.why", as);
		int n = snprintf(line, sizeof line, "%s/%s: %s (removed: it could not be moved here)\n", sub, name,
				 why);
		spool_store(v->spool, "rejected", whyname, line, n < (int)sizeof line ? (size_t)n : sizeof line - 1,
			    NULL, 0, err, sizeof err);
		metrics_event(v->m, "rejected");
		return;
	}
	snprintf(whyname, sizeof whyname, "%s.why", as);
	int n = snprintf(line, sizeof line, "%s/%s: %s\n", sub, name, why);
	if (spool_store(v->spool, "rejected", whyname, line, n < (int)sizeof line ? (size_t)n : sizeof line - 1,
			NULL, 0, err, sizeof err) != 0)
		log_msg(NULL, "intake", VM_LOG_WARN, "cannot write %s: %s", whyname, err);
	log_msg(NULL, "intake", VM_LOG_ERROR, "%s/%s: %s; moved to %s/rejected/%s (with %s.why)", sub, name, why,
		v->spool, as, as);
	fsync_parent(dst);
	metrics_event(v->m, "rejected");
}

/* Keep what could not be taken, its bytes and why, then remove it from SUB. */
static void reject(struct srv *v, const char *path, const char *name, const char *text, size_t len,
		   const char *why)
{
	char err[600];
	log_msg(NULL, "intake", VM_LOG_ERROR, "%s: %s", name, why);
	const char *as = keepable(name) ? name : NULL;
	int r = spool_reject(v->spool, as, text, len, why, err, sizeof err);
	if (r != 0 && as) /* that name is in rejected/ already */
		r = spool_reject(v->spool, NULL, text, len, why, err, sizeof err);
	if (r == 0) {
		unlink(path);
		log_msg(NULL, "intake", VM_LOG_ERROR, "kept in %s/rejected/ (with the reason in a .why)", v->spool);
	} else {
		log_msg(NULL, "intake", VM_LOG_ERROR, "and it could not be kept in rejected/: %s "
			"(left where it is)", err);
	}
	metrics_event(v->m, "rejected");
}

/*
 * Read a dropped entry once, through one descriptor: never following a
 * link, never blocking on a FIFO, never taking a terminal; what is read is
 * what was checked.  0 with the bytes; 1 when it is gone; -1 when it is not
 * a file to take (why); -2 when it could not be read for now (why).
 */
static int read_drop(const char *path, struct stat *st, char **text, size_t *len, char *why, size_t whysize)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return 1;
		if (e == EMFILE || e == ENFILE || e == ENOMEM || e == EIO) {
			snprintf(why, whysize, "cannot read it now: %s", strerror(e));
			return -2;
		}
		struct stat l;
		if (lstat(path, &l) == 0 && !S_ISREG(l.st_mode))
			snprintf(why, whysize, "%s: refused", kind_of(l.st_mode));
		else if (e == EACCES && lstat(path, &l) == 0)
			snprintf(why, whysize, "serve may not read it (owner uid %ld, mode %04o): refused",
				 (long)l.st_uid, (unsigned)(l.st_mode & 07777));
		else
			snprintf(why, whysize, "cannot be opened: %s", strerror(e));
		return -1;
	}
	int rc = -1;
	if (fstat(fd, st) != 0) {
		snprintf(why, whysize, "cannot read it now: %s", strerror(errno));
		rc = -2;
	} else if (!S_ISREG(st->st_mode)) {
		snprintf(why, whysize, "%s: refused", kind_of(st->st_mode));
	} else if (st->st_nlink != 1) {
		snprintf(why, whysize, "it has %ju hard links (an event is a file of its own, renamed in): refused",
			 (uintmax_t)st->st_nlink);
	} else if (read_fd(fd, DROP_MAX_BYTES, text, len) == 0) {
		rc = 0;
	} else if (errno == EFBIG) {
		snprintf(why, whysize, "larger than a drop may be (%u MiB): refused", DROP_MAX_BYTES >> 20);
	} else {
		snprintf(why, whysize, "cannot read it now: %s", strerror(errno));
		rc = errno == EIO || errno == ENOMEM ? -2 : -1;
	}
	close(fd);
	return rc;
}

/* Intake waits: what is left is taken again in LATER_MS. */
static void later(struct srv *v)
{
	v->waiting = true;
	if (v->next_scan > mono_ms() + LATER_MS)
		v->next_scan = mono_ms() + LATER_MS;
}

/* A dropped mail becomes a job: its recording into serve's own recordings/. */
static vm_job *mail_job(struct srv *v, struct drop *d, char *rec, size_t recsize, char *why, size_t whysize)
{
	char err[600];
	if (!d->mail.audio) {
		handover_no_recording(&d->mail);
	} else if (handover_store_recording(v->spool, &d->mail, rec, recsize, err, sizeof err) != 0) {
		snprintf(why, whysize, "cannot store the recording: %s", err);
		return NULL;
	}
	vm_job *job = d->mail.job;
	d->mail.job = NULL;
	log_msg(job, "intake", VM_LOG_INFO, "voicemail mail (%s, %zu bytes of audio)%s%s%s%s",
		vm_job_get_str(job, "source") ? vm_job_get_str(job, "source") : "mail", d->mail.audio_len,
		*rec ? ": recording stored as " : ": without a recording", rec, *d->mail.note ? "; " : "",
		d->mail.note);
	return job;
}

/* One file of SPOOL/new (or of SPOOL/cur at start: `in_cur`).  True when it
 * cost work (counted against the slice). */
bool take(struct srv *v, const char *name, bool in_cur)
{
	char path[PATH_MAX + NAME_MAX + 8], dst[PATH_MAX + NAME_MAX + 8], why[PATH_MAX + 1500], rec[PATH_MAX];
	const char *sub = in_cur ? "cur" : "new";
	if (!strcmp(name, ".") || !strcmp(name, "..") || (in_cur && json_object_get(v->curs, name)))
		return false;
	snprintf(path, sizeof path, "%s/%s/%s", v->spool, sub, name);
	char *text = NULL;
	size_t len = 0;
	struct stat st;
	int got = read_drop(path, &st, &text, &len, why, sizeof why);
	if (got == 1)
		return false;
	if (got == -2) {
		log_msg(NULL, "intake", VM_LOG_WARN, "%s/%s: %s; tried again in %d s", sub, name, why,
			LATER_MS / 1000);
		later(v);
		return true;
	}
	if (got == -1) {
		quarantine(v, sub, name, why);
		return true;
	}
	struct drop d;
	char err[1024];
	enum drop_kind k = drop_parse(text, len, &d, err, sizeof err);
	vm_job *job = NULL;
	*rec = '\0';
	enum admit r = ADMIT_REFUSED;
	struct held *h = NULL;
	if (k == DROP_BAD) {
		snprintf(why, sizeof why, "%s", err);
	} else if (k == DROP_RETRY && st.st_uid != 0 && st.st_uid != geteuid()) {
		/* Only the operator reruns a failed job (postsuper's rule). */
		snprintf(why, sizeof why, "a retry request from uid %ld: only root or the serve user may ask",
			 (long)st.st_uid);
	} else {
		if (k == DROP_RETRY)
			job = job_new(d.retry_id);
		else if (k == DROP_MAIL)
			job = mail_job(v, &d, rec, sizeof rec, why, sizeof why);
		else
			job = d.job, d.job = NULL;
		r = job ? admit_job(v, job, k == DROP_RETRY, &h, why, sizeof why) : ADMIT_LATER;
	}
	drop_free(&d);
	/* Taken out of a mail that is not taken now, or whose job resumed with
	 * the copy it took the first time (a mail left in cur/ by a restart). */
	if (*rec && (r != ADMIT_STARTED || h->resumed))
		unlink(rec);
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
		reject(v, path, name, text, len, why);
		break;
	case ADMIT_LATER:
		log_msg(NULL, "intake", VM_LOG_WARN, "%s: %s; tried again in %d s", name, why, LATER_MS / 1000);
		later(v);
		break;
	case ADMIT_DEFER: /* this file only: the rest of intake goes on */
		log_msg(NULL, "intake", VM_LOG_INFO, "%s: %s; tried again in %d s", name, why, LATER_MS / 1000);
		if (v->next_scan > mono_ms() + LATER_MS)
			v->next_scan = mono_ms() + LATER_MS;
		break;
	}
	free(text);
	return true;
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
	size_t count = 0, work = 0;
	bool in_cur = strcmp(sub, "cur") == 0;
	for (int i = 0; i < n; i++) {
		const char *nm = ents[i]->d_name;
		if (strcmp(nm, ".") != 0 && strcmp(nm, "..") != 0) {
			count++;
			/* A slice at a time: the loop turns (signals, completions,
			 * scrapes) between slices of a large intake. */
			if (take_them && !v->stopping && !v->waiting && work < INTAKE_SLICE) {
				if (take(v, nm, in_cur))
					work++;
				if (work >= INTAKE_SLICE) {
					v->next_scan = 0;
					log_msg(NULL, "intake", VM_LOG_DEBUG, "%zu taken from %s/: the rest after "
						"this turn of the loop", work, sub);
				}
			}
		}
		free(ents[i]);
	}
	free(ents);
	return count;
}

/* Writers that died between tmp/ and new/ leave files behind: Maildir's rule. */
void intake_round(struct srv *v, size_t *resumed)
{
	v->waiting = false;
	v->next_scan = mono_ms() + SCAN_EVERY_MS;
	size_t back = scan(v, "cur", true); /* what a store outage left waiting */
	if (resumed)
		*resumed = back;
	scan(v, "new", true);
	if (v->waiting)
		v->next_scan = mono_ms() + LATER_MS;
}

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

/* Is this entry of new/ there whole?  A regular file just created (one
 * link) is still being written by someone who did not use tmp/: its
 * IN_CLOSE_WRITE or a scan takes it.  Anything else (a link, FIFO, socket,
 * directory, a hard link) is complete as it appears. */
static bool whole(struct srv *v, const char *name)
{
	char path[PATH_MAX + NAME_MAX + 8];
	struct stat st;
	snprintf(path, sizeof path, "%s/new/%s", v->spool, name);
	return lstat(path, &st) == 0 && (!S_ISREG(st.st_mode) || st.st_nlink > 1);
}

void read_inotify(struct srv *v)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	size_t taken = 0;
	for (;;) {
		ssize_t n = read(v->ino_fd, buf, sizeof buf);
		if (n <= 0)
			return;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			bool ready = ev->len && ((ev->mask & (IN_MOVED_TO | IN_CLOSE_WRITE)) ||
						 ((ev->mask & IN_CREATE) && whole(v, ev->name)));
			if (ev->mask & IN_Q_OVERFLOW)
				v->next_scan = 0;
			else if (ready && !v->waiting && taken < INTAKE_SLICE)
				taken += take(v, ev->name, false);
			else if (ready && !v->waiting)
				v->next_scan = 0; /* past a slice: the next turn's scan takes it */
			p += sizeof *ev + ev->len;
		}
	}
}

