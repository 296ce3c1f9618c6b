/*
 * notify-file: write the e-mail (<id>.eml) and the job record (<id>.json) to
 * a directory, atomically (write, fsync, rename).  The demo's visible output,
 * and a place a person will see a voicemail when mail cannot go out.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vmpipe/vmpipe.h>

struct notify_file {
	const char *dir;
	vm_mail_opts mail;
	char root[PATH_MAX];
};

static int write_atomic(const char *path, const char *data, size_t len)
{
	char tmp[PATH_MAX + 32];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break;
		off += (size_t)w;
	}
	int e = off == len && fsync(fd) == 0 ? 0 : errno;
	if (close(fd) != 0 && !e)
		e = errno;
	if (!e && rename(tmp, path) != 0)
		e = errno;
	if (e) {
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

static vm_status run(const void *state, vm_job *job)
{
	const struct notify_file *nf = state;
	const char *done = vm_job_notified(job);
	if (done) {
		vm_log(job, VM_LOG_INFO, "already written (%s): not again", done);
		return vm_done(job);
	}
	vm_mail mail;
	vm_status s = vm_mail_build(job, &nf->mail, &mail);
	if (s != VM_DONE)
		return s;
	char path[PATH_MAX + 200];
	snprintf(path, sizeof path, "%s/%s.eml", nf->root, vm_job_id(job));
	if (write_atomic(path, mail.data, mail.len) != 0) {
		int e = errno;
		vm_mail_free(&mail);
		return vm_fail(job, e == ENOSPC || e == EIO ? VM_TRANSIENT : VM_PERMANENT, "cannot write %s: %s",
			       path, strerror(e));
	}
	vm_job_add_notification(job, "file", mail.message_id);
	vm_mail_free(&mail);
	vm_log(job, VM_LOG_INFO, "wrote %s", path);

	char *json = vm_job_to_json(job);
	snprintf(path, sizeof path, "%s/%s.json", nf->root, vm_job_id(job));
	int rc = json ? write_atomic(path, json, strlen(json)) : -1;
	free(json);
	if (rc != 0)
		vm_log(job, VM_LOG_WARN, "cannot write %s: %s", path, strerror(errno));
	return vm_done(job);
}

static int init(vm_stage *stage, void *state)
{
	struct notify_file *nf = state;
	char want[PATH_MAX * 2];
	if (nf->dir[0] == '/')
		snprintf(want, sizeof want, "%s", nf->dir);
	else
		snprintf(want, sizeof want, "%s/%s", vm_stage_config_dir(stage), nf->dir);
	/* mkdir -p: the outbox may be the first thing in a fresh tree. */
	for (char *p = want + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		int rc = mkdir(want, 0750);
		*p = c;
		if (rc != 0 && errno != EEXIST) {
			vm_stage_error(stage, "option 'dir': cannot create %s: %s", want, strerror(errno));
			return -1;
		}
		if (c == '\0')
			break;
	}
	if (!realpath(want, nf->root) || access(nf->root, W_OK) != 0) {
		vm_stage_error(stage, "option 'dir': %s is not a writable directory", want);
		return -1;
	}
	return vm_mail_init(stage, &nf->mail);
}

static void fini(void *state)
{
	struct notify_file *nf = state;
	vm_mail_fini(&nf->mail);
}

#define O(f) offsetof(struct notify_file, f)
static const vm_option options[] = {
	{"dir", VM_OPT_STRING, NULL, true, O(dir), "directory for <id>.eml and <id>.json", NULL},
	VM_MAIL_OPTIONS(struct notify_file, mail),
	{NULL, 0, NULL, false, 0, NULL, NULL},
};

const vm_plugin vmpipe_plugin = {
	.abi_version = VMPIPE_ABI_VERSION,
	.kind = VM_STAGE_NOTIFY,
	.name = "notify-file",
	.summary = "write the e-mail (.eml) and job record (.json) to a directory",
	.options = options,
	.state_size = sizeof(struct notify_file),
	.init = init,
	.run = run,
	.fini = fini,
};
