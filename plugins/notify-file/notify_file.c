/*
 * notify-file: write the e-mail (<id>.eml) and the job record as the mail was
 * written (<id>.json, "state": "notified") to a directory, atomically (write,
 * fsync, rename).  The demo's visible output, and a place a person will see a
 * voicemail when mail cannot go out.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vmpipe/vmpipe.h>

struct notify_file {
	const char *dir;
	bool create;
	vm_mail_opts mail;
	char root[PATH_MAX];
};

/* What is at `path`: 0 nothing, 1 the message whose Message-ID carries
 * `key` (written by an earlier attempt of this notification), 2 another file. */
static int holds(const char *path, const char *key)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return errno == ENOENT ? 0 : 2;
	char head[16384], want[64];
	size_t n = fread(head, 1, sizeof head - 1, f);
	fclose(f);
	head[n] = '\0';
	/* Headers come first; the Message-ID is among them. */
	char *end = strstr(head, "\r\n\r\n");
	if (end)
		*end = '\0';
	snprintf(want, sizeof want, "\nMessage-ID: <%s@", key);
	return strstr(head, want) ? 1 : 2;
}

/*
 * The record beside the .eml is the job as this notifier wrote the mail: its
 * notification (message id) is in it, but the job has not ended, so the
 * engine's "state" still says pending.  The file says "notified" instead; the
 * live record keeps "pending" (the engine sets done or failed at the end).
 * JSON to free, or NULL.
 */
static char *record_as_notified(vm_job *job)
{
	const char *st = vm_job_get_str(job, "state");
	char *was = st ? strdup(st) : NULL;
	if (st && !was)
		return NULL;
	vm_job_set_str(job, "state", "notified");
	char *json = vm_job_to_json(job);
	vm_job_set_str(job, "state", was);
	free(was);
	return json;
}

/* The record beside the .eml at `eml` (PATH_MAX + 200 bytes), named as it
 * is.  `resumed`: an earlier attempt wrote the .eml and may have died before
 * this file; one it did write stays as it is. */
static void write_record(vm_job *job, const char *eml, bool resumed)
{
	char path[PATH_MAX + 200];
	snprintf(path, sizeof path, "%.*s.json", (int)(strlen(eml) - 4), eml);
	struct stat st;
	if (resumed && stat(path, &st) == 0)
		return;
	char *json = record_as_notified(job);
	int rc = json ? vm_write_file_atomic(path, json, strlen(json)) : -1;
	free(json);
	if (rc != 0)
		vm_log(job, VM_LOG_WARN, "cannot write %s: %s", path, strerror(errno));
	else if (resumed)
		vm_log(job, VM_LOG_INFO, "wrote %s (the earlier attempt ended before it)", path);
}

static vm_status run(const void *state, vm_job *job)
{
	const struct notify_file *nf = state;
	const char *done = vm_job_notified(job);
	if (done) {
		vm_log(job, VM_LOG_INFO, "already written (%s): not again", done);
		return vm_done(job);
	}
	/* Once only: the file named for the job may hold this very notification
	 * (a run that died after writing it) or another one (a second notify-file
	 * stage on the same directory): never write it twice, never replace. */
	char key[33], path[PATH_MAX + 200];
	vm_job_notification_key(job, key, sizeof key);
	snprintf(path, sizeof path, "%s/%s.eml", nf->root, vm_job_id(job));
	int h = holds(path, key);
	if (h == 2) {
		snprintf(path, sizeof path, "%s/%s.%.8s.eml", nf->root, vm_job_id(job), key);
		h = holds(path, key);
	}
	vm_mail mail;
	vm_status s = vm_mail_build(job, &nf->mail, &mail);
	if (s != VM_DONE)
		return s;
	if (h == 1) {
		vm_job_add_notification(job, "file", mail.message_id);
		vm_log(job, VM_LOG_INFO, "%s already holds %s (an earlier attempt wrote it): not again", path,
		       mail.message_id);
		vm_mail_free(&mail);
		write_record(job, path, true);
		return vm_done(job);
	}
	if (h == 2) {
		vm_mail_free(&mail);
		return vm_fail(job, VM_PERMANENT, "%s holds another message: not replaced", path);
	}
	if (vm_write_file_atomic(path, mail.data, mail.len) != 0) {
		int e = errno;
		vm_mail_free(&mail);
		return vm_fail(job, e == ENOSPC || e == EIO ? VM_TRANSIENT : VM_PERMANENT, "cannot write %s: %s",
			       path, strerror(e));
	}
	vm_job_add_notification(job, "file", mail.message_id);
	vm_mail_free(&mail);
	vm_log(job, VM_LOG_INFO, "wrote %s", path);
	write_record(job, path, false);
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
	struct stat st;
	if (!nf->create && (stat(want, &st) != 0 || !S_ISDIR(st.st_mode))) {
		vm_stage_error(stage, "option 'dir': %s is not a directory, and 'create' is off: create it "
			       "(writable by this user) or name another", want);
		return -1;
	}
	if (vm_stage_checking(stage)) { /* vmpipe check: say what would fail, create nothing */
		char why[PATH_MAX + 100];
		if (vm_dir_check(want, why, sizeof why) != 0) {
			vm_stage_error(stage, "option 'dir': %s cannot be used: %s", want, why);
			return -1;
		}
		return vm_mail_init(stage, &nf->mail);
	}
	/* mkdir -p: the outbox may be the first thing in a fresh tree. */
	for (char *p = want + 1; nf->create; p++) {
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
	{"dir", VM_OPT_STRING, NULL, true, O(dir),
	 "directory for <id>.eml and <id>.json (the job record when the mail was written)", NULL},
	{"create", VM_OPT_BOOL, "yes", false, O(create),
	 "create dir (mkdir -p) when it is missing; no: refuse to start instead", NULL},
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
