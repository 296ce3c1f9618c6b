/*
 * Recording links on a host: the key file and the link put in the job
 * record before it is mailed (see link_job.h).
 */
#include "link_job.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vmpipe/vmpipe.h>

#include "clock.h"
#include "log.h"
#include "util.h"

void link_key_path(const struct pipeline *p, char *buf, size_t size)
{
	const char *f = p->serve.link_key_file ? p->serve.link_key_file : "";
	if (f[0] == '/' || !p->dir)
		snprintf(buf, size, "%s", f);
	else
		snprintf(buf, size, "%s/%s", p->dir, f);
}

static int make_key(const char *path, char *err, size_t errsize)
{
	unsigned char raw[32];
	char hex[65];
	if (RAND_bytes(raw, sizeof raw) != 1) {
		snprintf(err, errsize, "link key %s: no random bytes from OpenSSL", path);
		return -1;
	}
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	OPENSSL_cleanse(raw, sizeof raw);
	hex[64] = '\n';
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		OPENSSL_cleanse(hex, sizeof hex);
		if (errno == EEXIST)
			return 0; /* another process made it first: read theirs */
		snprintf(err, errsize, "link key %s: cannot create it: %s", path, strerror(errno));
		return -1;
	}
	int rc = write_all(fd, hex, sizeof hex);
	OPENSSL_cleanse(hex, sizeof hex);
	if (rc != 0 || fsync(fd) != 0) {
		snprintf(err, errsize, "link key %s: cannot write it: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	log_msg(NULL, "link", VM_LOG_INFO, "made a new link key in %s (mode 0600)", path);
	return 0;
}

int link_key_load(const char *path, bool create, struct link_key *key, char *err, size_t errsize)
{
	memset(key, 0, sizeof *key);
	if (!path || !*path) {
		snprintf(err, errsize, "no link_key_file");
		return -1;
	}
	if (create && access(path, F_OK) != 0 && errno == ENOENT && make_key(path, err, errsize) != 0)
		return -1;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errsize, "link key %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		snprintf(err, errsize, "link key %s: must be a file only its owner can read (chmod 600; it is %03o)",
			 path, (unsigned)(st.st_mode & 0777));
		close(fd);
		return -1;
	}
	char *data = NULL;
	size_t n = 0;
	int rc = read_fd(fd, LINK_SECRET_MAX * 2, &data, &n);
	close(fd);
	if (rc != 0) {
		snprintf(err, errsize, "link key %s: %s", path, strerror(errno));
		return -1;
	}
	while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r'))
		n--;
	if (n < LINK_SECRET_MIN || n >= LINK_SECRET_MAX) {
		snprintf(err, errsize, "link key %s: must hold %d to %d bytes (it holds %zu)", path, LINK_SECRET_MIN,
			 LINK_SECRET_MAX - 1, n);
		OPENSSL_cleanse(data, n);
		free(data);
		return -1;
	}
	memcpy(key->k, data, n);
	key->len = n;
	OPENSSL_cleanse(data, n);
	free(data);
	return 0;
}

void link_key_clear(struct link_key *key)
{
	OPENSSL_cleanse(key, sizeof *key);
}

int link_job_attach(const struct pipeline *p, vm_job *job)
{
	const char *pub = p->serve.public_url, *uri = vm_job_get_str(job, "recording.uri");
	const char *id = vm_job_get_str(job, "id"), *kind = vm_job_get_str(job, "recording.url_kind");
	if (!pub || !*pub || !uri || strncmp(uri, "file://", 7) != 0 || !id || (kind && strcmp(kind, "listen") == 0))
		return 0;
	char path[4096], err[600];
	link_key_path(p, path, sizeof path);
	struct link_key key;
	if (link_key_load(path, false, &key, err, sizeof err) != 0) {
		log_msg(job, "link", VM_LOG_ERROR, "no recording link in the mail: %s", err);
		return -1;
	}
	int64_t until_ms = clock_now_ms() + p->serve.link_expires_ms;
	char *url = link_make_job(key.k, key.len, pub, "", id, until_ms / 1000);
	link_key_clear(&key);
	if (!url) {
		log_msg(job, "link", VM_LOG_ERROR, "no recording link in the mail: job id '%s' cannot be linked", id);
		return -1;
	}
	char ts[32];
	vm_format_time(until_ms, ts, sizeof ts);
	int rc = vm_job_set_str(job, "recording.url", url) | vm_job_set_str(job, "recording.url_expires_at", ts) |
		 vm_job_set_str(job, "recording.url_kind", "listen");
	free(url);
	return rc ? -1 : 0;
}
