/*
 * vm_fetch: a recording into memory, from file:// (a PBX spool, the demo) or
 * s3:// (through the AWS layer).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws/host.h"
#include "job.h"
#include "util.h"

int vm_file_uri_path(const char *uri, char *out, size_t size)
{
	if (!uri || strncmp(uri, "file://", 7) != 0)
		return -1;
	const char *p = uri + 7;
	if (strncmp(p, "localhost/", 10) == 0)
		p += 9;
	if (*p != '/')
		return -1;
	size_t n = 0;
	for (; *p; p++) {
		if (n + 1 >= size)
			return -1;
		if (*p == '%') {
			unsigned c;
			if (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2]) ||
			    sscanf(p + 1, "%2x", &c) != 1 || c == 0)
				return -1;
			out[n++] = (char)c;
			p += 2;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	return 0;
}

const char *vm_audio_type(const char *name)
{
	static const struct { const char *ext, *type; } types[] = {
		{".wav", "audio/wav"}, {".mp3", "audio/mpeg"}, {".ogg", "audio/ogg"},
		{".opus", "audio/ogg"}, {".flac", "audio/flac"}, {".m4a", "audio/mp4"},
		{".mp4", "audio/mp4"}, {".webm", "audio/webm"}, {".amr", "audio/amr"},
		{".gsm", "audio/x-gsm"}, /* raw GSM 6.10 (Asterisk format=gsm), as Asterisk types it */
	};
	const char *dot = name ? strrchr(name, '.') : NULL;
	for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
		if (strcasecmp(dot, types[i].ext) == 0)
			return types[i].type;
	return NULL;
}

int vm_write_file_atomic(const char *path, const void *data, size_t len)
{
	return write_file_atomic(path, data, len);
}

vm_status vm_fetch(vm_job *job, const char *uri, size_t max_bytes, vm_buf *out)
{
	out->data = NULL;
	out->len = 0;
	if (!uri)
		return vm_fail(job, VM_PERMANENT, "no recording URI in the job record (recording.uri)");
	if (strncmp(uri, "file://", 7) == 0) {
		char path[4096];
		if (vm_file_uri_path(uri, path, sizeof path) != 0)
			return vm_fail(job, VM_PERMANENT, "malformed file URI '%.300s'", uri);
		char *data;
		size_t len;
		if (read_file(path, max_bytes, &data, &len) != 0) {
			if (errno == EFBIG)
				return vm_fail(job, VM_PERMANENT, "recording %s is larger than the %zu-byte limit",
					       path, max_bytes);
			return vm_fail(job, errno == EIO ? VM_TRANSIENT : VM_PERMANENT,
				       "cannot read recording %s: %s", path, strerror(errno));
		}
		out->data = (unsigned char *)data;
		out->len = len;
		return VM_DONE;
	}
	if (strncmp(uri, "s3://", 5) == 0) {
		char bucket[64], err[512];
		const char *key;
		if (parse_s3_uri(uri, bucket, sizeof bucket, &key) != 0)
			return vm_fail(job, VM_PERMANENT, "malformed S3 URI '%.300s' (expected s3://bucket/key)", uri);
		unsigned char *data;
		size_t len;
		switch (aws_s3_get(bucket, key, max_bytes, &data, &len, err, sizeof err)) {
		case AWS_S3_OK:
			out->data = data;
			out->len = len;
			return VM_DONE;
		case AWS_S3_TRANSIENT:
			return vm_fail(job, VM_TRANSIENT, "cannot fetch recording: %s", err);
		case AWS_S3_TOO_LARGE:
			return vm_fail(job, VM_PERMANENT, "recording %.300s is larger than the %zu-byte limit", uri,
				       max_bytes);
		default:
			return vm_fail(job, VM_PERMANENT, "cannot fetch recording: %s", err);
		}
	}
	return vm_fail(job, VM_PERMANENT, "unsupported recording URI '%.300s' (expected file:// or s3://)",
		       uri);
}
