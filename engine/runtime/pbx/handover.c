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
#include <strings.h>
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
	handover_duration(m);
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

/* Does the header block (up to the first empty line) have a To field? */
static bool has_to(const char *mail, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t end = i;
		while (end < len && mail[end] != '\n')
			end++;
		size_t n = end - i;
		if (n && mail[i + n - 1] == '\r')
			n--;
		if (n == 0)
			return false;
		if (n >= 3 && strncasecmp(mail + i, "to:", 3) == 0)
			return true;
		i = end + 1;
	}
	return false;
}

int handover_drop_mail(const char *spool, const char *mail, size_t len, char *const *rcpt, char *name,
		       size_t namesize, char *err, size_t errsize)
{
	if (!rcpt || !rcpt[0] || has_to(mail, len))
		return spool_enqueue(spool, mail, len, name, namesize, err, errsize);
	/* The envelope's recipients travel in the mail, as the To it lacks. */
	size_t n = 8;
	for (char *const *r = rcpt; *r; r++)
		n += strlen(*r) + 2;
	char *buf = malloc(n + len);
	if (!buf) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	size_t k = (size_t)snprintf(buf, n, "To: ");
	for (char *const *r = rcpt; *r; r++)
		k += (size_t)snprintf(buf + k, n - k, "%s%s", r == rcpt ? "" : ", ", *r);
	k += (size_t)snprintf(buf + k, n - k, "%s", memchr(mail, '\r', len) ? "\r\n" : "\n");
	memcpy(buf + k, mail, len);
	int rc = spool_enqueue(spool, buf, k + len, name, namesize, err, errsize);
	free(buf);
	return rc;
}
