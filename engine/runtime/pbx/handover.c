/*
 * The hand-over of a voicemail mail to the spool (handover.h).
 */
#include "handover.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/job.h"
#include "core/util.h"
#include "runtime/serve/spool.h"

void handover_duration(struct pbxmail *m)
{
	double secs;
	if (vm_job_get_num(m->job, "recording.duration_seconds", &secs))
		return;
	/* Asterisk's mail names no duration: the audio has it. */
	vm_wav w;
	if (vm_wav_decode_rate(m->audio, m->audio_len, 0, &w, NULL, 0) == VM_WAV_OK) {
		vm_job_set_num(m->job, "recording.duration_seconds", w.duration);
		vm_wav_free(&w);
	}
}

int handover_store_recording(const char *spool, struct pbxmail *m, char *path, size_t pathsize, char *err,
			     size_t errsize)
{
	char name[SPOOL_NAME_MAX + 100], p[PATH_MAX];
	spool_unique_name(name, SPOOL_NAME_MAX);
	size_t k = strlen(name);
	snprintf(name + k, sizeof name - k, "-%s", m->audio_name);
	if (spool_store(spool, "recordings", name, m->audio, m->audio_len, p, sizeof p, err, errsize) != 0)
		return -1;
	char uri[PATH_MAX * 3 + 8];
	vm_file_uri(p, uri, sizeof uri); /* fits: sized for every byte encoded */
	vm_job_set_str(m->job, "recording.uri", uri);
	if (path)
		snprintf(path, pathsize, "%s", p);
	return 0;
}

int handover_private_recording(struct pbxmail *m, char *dir, size_t dirsize, char *err, size_t errsize)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, dirsize, "%s/vmpipe-sendmail.XXXXXX", tmp && *tmp == '/' ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		snprintf(err, errsize, "cannot create a private directory in %s: %s", tmp ? tmp : "/tmp",
			 strerror(errno));
		*dir = '\0';
		return -1;
	}
	char path[PATH_MAX], uri[PATH_MAX * 3 + 8];
	snprintf(path, sizeof path, "%s/%s", dir, m->audio_name);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, m->audio, m->audio_len) != 0 || vm_recording_file_id(m->job, fd) != 0) {
		snprintf(err, errsize, "cannot write %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		handover_private_remove(dir);
		*dir = '\0';
		return -1;
	}
	close(fd);
	/* Written and identified by this process: located, as locate-file would
	 * have (the pipeline's locate is confined to serve's recordings/). */
	vm_file_uri(path, uri, sizeof uri);
	const char *type = vm_audio_type(path);
	vm_job_set_str(m->job, "recording.uri", uri);
	vm_job_set_int(m->job, "recording.size", (int64_t)m->audio_len);
	vm_job_set_str(m->job, "recording.content_type", type ? type : "application/octet-stream");
	vm_job_set_str(m->job, "stages.locate", "done");
	handover_duration(m);
	return 0;
}

void handover_private_remove(const char *dir)
{
	if (!dir || !*dir)
		return;
	char path[PATH_MAX + NAME_MAX + 2];
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		DIR *d = fdopendir(fd);
		struct dirent *e;
		while (d && (e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				unlinkat(dirfd(d), e->d_name, 0);
		if (d)
			closedir(d);
		else
			close(fd);
	}
	snprintf(path, sizeof path, "%s", dir);
	rmdir(path);
}

/* One envelope line: its text without CR or LF (an address never has them). */
static void add_line(char *buf, size_t size, size_t *k, const char *head, const char *value)
{
	*k += (size_t)snprintf(buf + *k, size - *k, "%s", head);
	for (const char *c = value; *c && *k + 2 < size; c++)
		if (*c != '\r' && *c != '\n')
			buf[(*k)++] = *c;
	*k += (size_t)snprintf(buf + *k, size - *k, "\n");
}

int handover_drop_mail(const char *spool, const char *mail, size_t len, const char *from, char *const *rcpt,
		       const char *refused, char *name, size_t namesize, char *err, size_t errsize)
{
	size_t n = 64 + (from ? strlen(from) : 0) + (refused ? strlen(refused) : 0);
	for (char *const *r = rcpt; r && *r; r++)
		n += strlen(*r) + sizeof HANDOVER_TO + 2;
	n += sizeof HANDOVER_FROM + sizeof HANDOVER_REFUSED;
	char *buf = malloc(n + len);
	if (!buf) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	size_t k = 0;
	if (refused)
		add_line(buf, n, &k, HANDOVER_REFUSED, refused);
	if (from && *from)
		add_line(buf, n, &k, HANDOVER_FROM, from);
	for (char *const *r = rcpt; r && *r; r++)
		add_line(buf, n, &k, HANDOVER_TO, *r);
	memcpy(buf + k, mail, len);
	int rc = spool_enqueue(spool, buf, k + len, name, namesize, err, errsize);
	free(buf);
	return rc;
}

void handover_no_recording(struct pbxmail *m)
{
	/* attach=no (Asterisk), vm-attach-file false (FreeSWITCH) */
	vm_job_set_bool(m->job, "contact.recording_not_sent", true);
}
