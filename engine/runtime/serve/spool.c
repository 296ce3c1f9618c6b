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
#include <stddef.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/util.h"

/* The layout (spool.h): the drop (tmp/, new/) is writable by the group but
 * not listable, and sticky, so a member can neither see nor move what
 * another dropped; everything after it is the owner's alone. */
static const struct {
	const char *name;
	mode_t mode;
	bool drop;
} folders[] = {
	{"tmp", 03730, true}, {"new", 03730, true}, {"cur", 0700, false},
	{"recordings", 0700, false}, {"rejected", 0700, false},
};

static int fail(char *err, size_t errsize, const char *what, const char *path)
{
	snprintf(err, errsize, "%s %s: %s", what, path, strerror(errno));
	return -1;
}

/* Create `path` with exactly `mode` (not less the umask) when missing. */
static int make_dir(const char *path, mode_t mode, char *err, size_t errsize)
{
	if (mkdir(path, 0700) == 0) {
		if (chmod(path, mode) != 0)
			return fail(err, errsize, "cannot set the mode of", path);
	} else if (errno != EEXIST) {
		return fail(err, errsize, "cannot create", path);
	}
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
	if (make_dir(dir, 0750, err, errsize) != 0)
		return -1;
	for (size_t i = 0; i < sizeof folders / sizeof *folders; i++) {
		if (snprintf(path, sizeof path, "%s/%s", dir, folders[i].name) >= (int)sizeof path) {
			snprintf(err, errsize, "spool path %s is too long", dir);
			return -1;
		}
		if (make_dir(path, folders[i].mode, err, errsize) != 0)
			return -1;
	}
	return 0;
}

bool spool_owned(const char *dir)
{
	struct stat st;
	return stat(dir, &st) == 0 && st.st_uid == geteuid();
}

/*
 * `path` must be a directory of this user that nobody else may write (`drop`:
 * the group may, when the sticky bit keeps members off each other's files),
 * as ssh wants of ~/.ssh.  0, or -1 with the reason and the fix in err.
 */
int spool_check_dir(const char *path, bool drop, char *err, size_t errsize)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return fail(err, errsize, "cannot use", path);
	uid_t me = geteuid();
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errsize, "%s is not a directory (a symbolic link or a file is refused)", path);
		return -1;
	}
	if (st.st_uid != me) {
		snprintf(err, errsize, "%s is owned by uid %ld, not by this user (uid %ld): refused; "
			 "chown it to the user vmpipe serve runs as", path, (long)st.st_uid, (long)me);
		return -1;
	}
	if (st.st_mode & S_IWOTH) {
		snprintf(err, errsize, "%s is writable by everyone (mode %04o): refused; chmod o-w it", path,
			 (unsigned)(st.st_mode & 07777));
		return -1;
	}
	if ((st.st_mode & S_IWGRP) && !(drop && (st.st_mode & S_ISVTX))) {
		snprintf(err, errsize, "%s is writable by its group (mode %04o): refused; %s", path,
			 (unsigned)(st.st_mode & 07777),
			 drop ? "a drop directory the group writes must be sticky (chmod 3730)"
			      : "only the serve user may write it (chmod g-w)");
		return -1;
	}
	return 0;
}

int spool_check_layout(const char *dir, char *err, size_t errsize)
{
	char path[PATH_MAX];
	if (spool_check_dir(dir, false, err, errsize) != 0)
		return -1;
	for (size_t i = 0; i < sizeof folders / sizeof *folders; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, folders[i].name);
		if (spool_check_dir(path, folders[i].drop, err, errsize) != 0)
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

/* Create `path` exclusively with `mode` (whatever the umask), write, fsync,
 * close.  0, or -1 with err. */
static int create_file(const char *path, mode_t mode, const void *data, size_t len, char *err,
		       size_t errsize)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(err, errsize, "cannot create", path);
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
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
	/* Group-readable: serve reads a drop of another user through the
	 * group (the drop's setgid gives it serve's). */
	if (create_file(tmp, 0640, data, len, err, errsize) != 0)
		return -1;
	if (rename(tmp, dst) != 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return fail(err, errsize, "cannot move the event into", dst);
	}
	/* A dropper may not read new/ (it is not listable), so it cannot open
	 * it to fsync: syncfs() through its own file makes the rename durable
	 * instead (a rename lost in a crash would leave the event in tmp/). */
	if (fsync_parent(dst) != 0) {
		int fd = errno == EACCES ? open(dst, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
		int rc = fd >= 0 ? syncfs(fd) : -1;
		if (fd >= 0)
			close(fd);
		if (rc != 0)
			return fail(err, errsize, "cannot sync", dst);
	}
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
	if (create_file(p, 0600, data, len, err, errsize) != 0)
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

/*
 * Whether serve runs is asked of SPOOL/serve.sock, which serve listens on:
 * connecting needs no write access to anything else of serve's, and nobody
 * but serve can make the socket (SPOOL is its own).  A long spool path is
 * reached through /proc/self/fd, as sun_path holds 108 bytes.
 */
static int sock_addr(const char *dir, int *dfd, struct sockaddr_un *sa, socklen_t *salen)
{
	*dfd = -1;
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	int n = snprintf(sa->sun_path, sizeof sa->sun_path, "%s/serve.sock", dir);
	if (n < 0 || (size_t)n >= sizeof sa->sun_path) {
		*dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (*dfd < 0)
			return -1;
		n = snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/serve.sock", *dfd);
	}
	*salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
	return 0;
}

bool spool_serve_running(const char *dir)
{
	struct sockaddr_un sa;
	socklen_t len;
	int dfd;
	if (sock_addr(dir, &dfd, &sa, &len) != 0)
		return false;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	bool up = false;
	if (fd >= 0) {
		/* A full backlog (EAGAIN) is a serve that runs; a socket we may not
		 * use is one too: the drop waits in new/ for it either way. */
		up = connect(fd, (struct sockaddr *)&sa, len) == 0 || errno == EAGAIN || errno == EACCES ||
		     errno == EINPROGRESS;
		close(fd);
	}
	if (dfd >= 0)
		close(dfd);
	return up;
}

int spool_listen(const char *dir, char *err, size_t errsize)
{
	struct sockaddr_un sa;
	socklen_t len;
	int dfd;
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/serve.sock", dir);
	if (sock_addr(dir, &dfd, &sa, &len) != 0)
		return fail(err, errsize, "cannot open", dir);
	/* Ours to replace: we hold serve.lock, so the one there is stale. */
	if (unlink(path) != 0 && errno != ENOENT) {
		if (dfd >= 0)
			close(dfd);
		return fail(err, errsize, "cannot remove the stale", path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc = fd >= 0 && bind(fd, (struct sockaddr *)&sa, len) == 0 && chmod(path, 0660) == 0 &&
		 listen(fd, 64) == 0 ? 0 : -1;
	int e = errno;
	if (dfd >= 0)
		close(dfd);
	if (rc != 0) {
		if (fd >= 0)
			close(fd);
		errno = e;
		return fail(err, errsize, "cannot listen on", path);
	}
	return fd;
}

static int open_lock(const char *dir)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/serve.lock", dir) >= (int)sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* Serve's alone: a lock others could open, they could hold. */
	return open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
}

int spool_lock(const char *dir, char *err, size_t errsize)
{
	if (spool_prepare(dir, err, errsize) != 0)
		return -1;
	int fd = open_lock(dir);
	if (fd < 0)
		return fail(err, errsize, "cannot open the lock in", dir);
	struct stat st;
	if (fstat(fd, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 077))
		fchmod(fd, 0600); /* an older vmpipe's 0640 */
	if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 077)) {
		close(fd);
		snprintf(err, errsize, "%s/serve.lock is not this user's alone (uid %ld, mode %04o): remove it",
			 dir, (long)st.st_uid, (unsigned)(st.st_mode & 07777));
		return -1;
	}
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
