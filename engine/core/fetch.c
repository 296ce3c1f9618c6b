/*
 * vm_fetch: a recording into memory, from file:// (a PBX spool, the demo) or
 * s3:// (through the AWS layer).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int vm_file_uri(const char *path, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	if (!path || path[0] != '/' || size < 8)
		return -1;
	size_t n = (size_t)snprintf(out, size, "file://");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (n + 4 > size)
			return -1;
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("/-._~", *p)) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	out[n] = '\0';
	return 0;
}

int vm_write_file_atomic(const char *path, const void *data, size_t len)
{
	return write_file_atomic(path, data, len);
}

/*
 * What recording.file_id holds: "dev:ino:size:mtime" of the file.  Device and
 * inode say which file; size and modification time (ns) that it is still as
 * it was found, since a freed inode number is soon given to a new file.
 */
static void file_id(const struct stat *st, char *buf, size_t size)
{
	snprintf(buf, size, "%ju:%ju:%jd:%jd.%09ld", (uintmax_t)st->st_dev, (uintmax_t)st->st_ino,
		 (intmax_t)st->st_size, (intmax_t)st->st_mtim.tv_sec, (long)st->st_mtim.tv_nsec);
}

int vm_recording_file_id(vm_job *job, int fd)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	char id[128];
	file_id(&st, id, sizeof id);
	return vm_job_set_str(job, "recording.file_id", id);
}

/* False when `uri` is the job's recording, locate recorded which file that
 * was, and `st` is another one (or that one changed since). */
static bool is_located(const vm_job *job, const char *uri, const struct stat *st)
{
	const char *want = vm_job_get_str(job, "recording.file_id");
	const char *own = vm_job_get_str(job, "recording.uri");
	if (!want || !own || strcmp(own, uri) != 0)
		return true;
	char got[128];
	file_id(st, got, sizeof got);
	return strcmp(got, want) == 0;
}

/*
 * A local recording is opened once, without following a final symbolic
 * link, and read through that descriptor.  When it is the job's recording
 * and the locate stage recorded which file it found (recording.file_id), the
 * opened file must be that one: a path swapped for a link to another file
 * between locate and this read is refused, never read.
 */
static vm_status fetch_file(vm_job *job, const char *uri, size_t max_bytes, vm_buf *out)
{
	char path[4096];
	if (vm_file_uri_path(uri, path, sizeof path) != 0)
		return vm_fail(job, VM_PERMANENT, "malformed file URI '%.300s'", uri);
	/* O_NONBLOCK: a FIFO planted there must not hang the open. */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ELOOP)
			return vm_fail(job, VM_PERMANENT, "recording %s is a symbolic link: refused", path);
		return vm_fail(job, errno == EIO || errno == EMFILE || errno == ENFILE ? VM_TRANSIENT
										       : VM_PERMANENT,
			       "cannot read recording %s: %s", path, strerror(errno));
	}
	struct stat st;
	vm_status s = VM_DONE;
	if (fstat(fd, &st) != 0) {
		s = vm_fail(job, VM_TRANSIENT, "cannot read recording %s: %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		s = vm_fail(job, VM_PERMANENT, "recording %s is not a regular file: refused", path);
	} else if (!is_located(job, uri, &st)) {
		s = vm_fail(job, VM_PERMANENT,
			    "recording %s is not the file the locate stage found (replaced or changed since): refused",
			    path);
	} else {
		char *data;
		size_t len;
		if (read_fd(fd, max_bytes, &data, &len) == 0) {
			out->data = (unsigned char *)data;
			out->len = len;
		} else if (errno == EFBIG) {
			s = vm_fail(job, VM_PERMANENT, "recording %s is larger than the %zu-byte limit", path,
				    max_bytes);
		} else {
			s = vm_fail(job, errno == EIO ? VM_TRANSIENT : VM_PERMANENT,
				    "cannot read recording %s: %s", path, strerror(errno));
		}
	}
	close(fd);
	return s;
}

vm_status vm_fetch(vm_job *job, const char *uri, size_t max_bytes, vm_buf *out)
{
	out->data = NULL;
	out->len = 0;
	if (!uri)
		return vm_fail(job, VM_PERMANENT, "no recording URI in the job record (recording.uri)");
	if (strncmp(uri, "file://", 7) == 0)
		return fetch_file(job, uri, max_bytes, out);
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
