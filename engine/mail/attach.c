/* The recording as an attachment; see attach.h. */
#include "attach.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/job.h"
#include "mime.h"

/* The recording's size when it is known without reading it: the record's
 * recording.size (locate-file, locate-s3 and S3 events set it), else the
 * size of a local file.  -1 when unknown. */
static int64_t known_size(vm_job *job, const char *uri)
{
	int64_t size;
	if (vm_job_get_int(job, "recording.size", &size) && size >= 0)
		return size;
	char path[4096];
	struct stat st;
	if (vm_file_uri_path(uri, path, sizeof path) == 0 && stat(path, &st) == 0 &&
	    S_ISREG(st.st_mode))
		return (int64_t)st.st_size;
	return -1;
}

/* Read this much at most when the attachment may be converted: an hour of
 * 8 kHz 16-bit PCM (57.6 MB) and every telephone codec's hour fit. */
#define CONVERT_READ_MAX ((int64_t)64 << 20)

/* The recording in the playable form `format` asks for, in place of `buf`;
 * *ctype says what it is now.  A recording that cannot be converted goes as
 * it is, with a warning. */
static void make_playable(vm_job *job, int format, vm_buf *buf, const char **ctype)
{
	vm_buf conv;
	const char *type = NULL;
	char err[256];
	int rc = vm_audio_playable(buf->data, buf->len, format, &conv, &type, err, sizeof err);
	if (rc == VM_PLAYABLE_KEPT)
		return;
	if (rc != 0) {
		vm_log(job, VM_LOG_WARN, "recording attached as it is: it cannot be made %s: %s",
		       format == VM_PLAYABLE_WAV ? "a WAV" : "an MP3", err);
		return;
	}
	vm_log(job, VM_LOG_INFO, "recording attached as %s: %zu bytes (%zu as recorded)", type,
	       conv.len, buf->len);
	free(buf->data);
	*buf = conv;
	*ctype = type;
}

enum mail_attach_outcome mail_attachment(vm_job *job, const vm_mail_opts *opts, int format,
					 vm_buf *buf, const char **ctype)
{
	memset(buf, 0, sizeof *buf);
	if (opts->attach != VM_ATTACH_YES && opts->attach != VM_ATTACH_SMALLER)
		return ATTACH_NONE;
	const char *uri = vm_job_get_str(job, "recording.uri");
	if (!uri || !*uri) {
		/* Not found (the mail says so: {{recording_missing}}); nothing to attach. */
		vm_log(job, VM_LOG_WARN, "recording not attached: the job has no recording.uri");
		return ATTACH_NONE;
	}
	const char *rt = vm_job_get_str(job, "recording.content_type");
	*ctype = rt && mime_valid_type(rt) ? rt : "audio/wav";
	int64_t max = opts->attach_max > 0 ? opts->attach_max : INT64_MAX;
	/* yes: up to attach_max; smaller-than: attach_max itself is too big. */
	if (opts->attach == VM_ATTACH_SMALLER)
		max -= 1;
	/* As recorded, the size decides before anything is read; converted, the
	 * size of what is attached does (an 8 kHz mu-law recording is a quarter
	 * of that as MP3). */
	bool convert = format != VM_PLAYABLE_ORIGINAL;
	int64_t read_max = convert && max < CONVERT_READ_MAX ? CONVERT_READ_MAX : max;
	int64_t size = known_size(job, uri);
	if (size > read_max) {
		vm_log(job, VM_LOG_INFO, "recording not attached: %lld bytes, attach_max is %lld",
		       (long long)size, (long long)opts->attach_max);
		return ATTACH_TOO_LARGE;
	}
	if ((uint64_t)read_max > SIZE_MAX)
		read_max = (int64_t)(SIZE_MAX >> 1);
	if (vm_fetch(job, uri, (size_t)read_max, buf) != VM_DONE) {
		/* vm_fetch() recorded a failure outcome; this stage is not failing. */
		vm_log(job, VM_LOG_WARN, "recording not attached (the link is in the body): %s",
		       job->fail_msg ? job->fail_msg : "fetch failed");
		job_reset_outcome(job);
		free(buf->data);
		memset(buf, 0, sizeof *buf);
		return ATTACH_FAILED;
	}
	if (convert)
		make_playable(job, format, buf, ctype);
	if ((int64_t)buf->len > max) {
		vm_log(job, VM_LOG_INFO, "recording not attached: %zu bytes, attach_max is %lld",
		       buf->len, (long long)opts->attach_max);
		free(buf->data);
		memset(buf, 0, sizeof *buf);
		return ATTACH_TOO_LARGE;
	}
	return ATTACH_DONE;
}

void mail_attachment_name(const vm_job *job, const char *ctype, char *out, size_t size)
{
	const char *id = vm_job_id(job);
	char safe[80];
	size_t n = 0;
	for (const char *p = id ? id : ""; *p && n + 1 < sizeof safe; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
		safe[n++] = ok ? c : '_';
	}
	safe[n] = '\0';
	static const struct {
		const char *type, *ext;
	} exts[] = {{"audio/mpeg", "mp3"}, {"audio/mp3", "mp3"}, {"audio/ogg", "ogg"},
		    {"audio/opus", "opus"}, {"audio/flac", "flac"}, {"audio/x-flac", "flac"},
		    {"audio/mp4", "m4a"},  {"audio/aac", "aac"},
		    {"audio/x-gsm", "gsm"}, {"audio/gsm", "gsm"}};
	const char *ext = "wav";
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
		if (strcasecmp(ctype, exts[i].type) == 0)
			ext = exts[i].ext;
	snprintf(out, size, "voicemail-%s.%s", n ? safe : "recording", ext);
}

