/*
 * The spool directory (see spool.h): Maildir-style hand-over of events.
 */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/util.h"

static const char *const folders[] = {"tmp", "new", "recordings", "rejected"};

static int fail(char *err, size_t errsize, const char *what, const char *path)
{
	snprintf(err, errsize, "%s %s: %s", what, path, strerror(errno));
	return -1;
}

static int make_dir(const char *path, char *err, size_t errsize)
{
	if (mkdir(path, 0770) != 0 && errno != EEXIST)
		return fail(err, errsize, "cannot create", path);
	struct stat st;
	if (stat(path, &st) != 0)
		return fail(err, errsize, "cannot read", path);
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return fail(err, errsize, "cannot use", path);
	}
	return 0;
}

int spool_prepare(const char *dir, char *err, size_t errsize)
{
	char path[PATH_MAX];
	if (!dir || !*dir) {
		snprintf(err, errsize, "no spool directory (--spool DIR or VMPIPE_SPOOL)");
		return -1;
	}
	if (make_dir(dir, err, errsize) != 0)
		return -1;
	for (size_t i = 0; i < sizeof folders / sizeof *folders; i++) {
		if (snprintf(path, sizeof path, "%s/%s", dir, folders[i]) >= (int)sizeof path) {
			snprintf(err, errsize, "spool path %s is too long", dir);
			return -1;
		}
		if (make_dir(path, err, errsize) != 0)
			return -1;
	}
	return 0;
}

void spool_unique_name(char *buf, size_t size)
{
	static atomic_uint counter;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	uint32_t r = 0;
	if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
		r = (uint32_t)tv.tv_usec * 2654435761u;
	snprintf(buf, size, "%lld.%06ldP%ldQ%uR%08x", (long long)tv.tv_sec, (long)tv.tv_usec,
		 (long)getpid(), atomic_fetch_add(&counter, 1) + 1, r);
}

/* Create `path` exclusively, write, fsync, close.  0, or -1 with err. */
static int create_file(const char *path, const void *data, size_t len, char *err, size_t errsize)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return fail(err, errsize, "cannot create", path);
	if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		int e = errno;
		close(fd);
		unlink(path);
		errno = e;
		return fail(err, errsize, "cannot write", path);
	}
	if (close(fd) != 0) {
		unlink(path);
		return fail(err, errsize, "cannot write", path);
	}
	return 0;
}

int spool_enqueue(const char *dir, const void *data, size_t len, char *name, size_t namesize,
		  char *err, size_t errsize)
{
	char n[SPOOL_NAME_MAX], tmp[PATH_MAX], dst[PATH_MAX];
	if (spool_prepare(dir, err, errsize) != 0)
		return -1;
	spool_unique_name(n, sizeof n);
	if (snprintf(tmp, sizeof tmp, "%s/tmp/%s", dir, n) >= (int)sizeof tmp ||
	    snprintf(dst, sizeof dst, "%s/new/%s", dir, n) >= (int)sizeof dst) {
		snprintf(err, errsize, "spool path %s is too long", dir);
		return -1;
	}
	if (create_file(tmp, data, len, err, errsize) != 0)
		return -1;
	if (rename(tmp, dst) != 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return fail(err, errsize, "cannot move the event into", dst);
	}
	if (fsync_parent(dst) != 0)
		return fail(err, errsize, "cannot sync", dst);
	if (name)
		snprintf(name, namesize, "%s", n);
	return 0;
}

int spool_store(const char *dir, const char *sub, const char *name, const void *data, size_t len,
		char *path, size_t pathsize, char *err, size_t errsize)
{
	char p[PATH_MAX];
	if (!is_plain_name(name, 200)) {
		snprintf(err, errsize, "'%.100s' is not a plain file name", name ? name : "");
		return -1;
	}
	if (spool_prepare(dir, err, errsize) != 0)
		return -1;
	if (snprintf(p, sizeof p, "%s/%s/%s", dir, sub, name) >= (int)sizeof p) {
		snprintf(err, errsize, "spool path %s is too long", dir);
		return -1;
	}
	if (create_file(p, data, len, err, errsize) != 0)
		return -1;
	if (fsync_parent(p) != 0)
		return fail(err, errsize, "cannot sync", p);
	if (path && !realpath(p, path))
		snprintf(path, pathsize, "%s", p);
	return 0;
}

int spool_reject(const char *dir, const char *name, const void *data, size_t len, const char *why,
		 char *err, size_t errsize)
{
	char n[SPOOL_NAME_MAX], whyname[SPOOL_NAME_MAX + 210];
	if (!name) {
		spool_unique_name(n, sizeof n);
		name = n;
	}
	if (spool_store(dir, "rejected", name, data, len, NULL, 0, err, errsize) != 0)
		return -1;
	snprintf(whyname, sizeof whyname, "%s.why", name);
	char line[1200];
	int k = snprintf(line, sizeof line, "%s\n", why ? why : "(no reason given)");
	return spool_store(dir, "rejected", whyname, line, (size_t)k < sizeof line ? (size_t)k : sizeof line - 1,
			   NULL, 0, err, errsize);
}

static int open_lock(const char *dir)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/serve.lock", dir) >= (int)sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
}

bool spool_serve_running(const char *dir)
{
	int fd = open_lock(dir);
	if (fd < 0)
		return false;
	bool held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

int spool_lock(const char *dir, char *err, size_t errsize)
{
	if (spool_prepare(dir, err, errsize) != 0)
		return -1;
	int fd = open_lock(dir);
	if (fd < 0)
		return fail(err, errsize, "cannot open the lock in", dir);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(fd);
		if (e == EWOULDBLOCK) {
			snprintf(err, errsize, "another vmpipe serve is running on spool %s", dir);
			return -1;
		}
		errno = e;
		return fail(err, errsize, "cannot lock", dir);
	}
	return fd;
}
