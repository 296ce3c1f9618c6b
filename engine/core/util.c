#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <vmpipe/vmpipe.h>

/* A non-negative decimal with an optional fraction ("5", "1.5"); *end after
 * it.  Not strtod() on the text itself: it would also take "0x10" and "1e3". */
static int parse_number(const char *s, double *v, const char **end)
{
	size_t n = strspn(s, "0123456789");
	if (n == 0)
		return -1;
	if (s[n] == '.') {
		size_t frac = strspn(s + n + 1, "0123456789");
		if (frac == 0)
			return -1;
		n += 1 + frac;
	}
	char buf[64];
	if (n >= sizeof buf)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*v = strtod(buf, NULL);
	*end = s + n;
	return 0;
}

int parse_duration(const char *s, int64_t *ms)
{
	static const struct { const char *unit; double mult; } units[] = {
		{"ms", 1}, {"s", 1e3}, {"sec", 1e3}, {"m", 60e3}, {"min", 60e3},
		{"h", 3600e3}, {"d", 86400e3}, {"", 1e3},
	};
	double v;
	const char *end;
	if (!s || parse_number(s, &v, &end) != 0)
		return -1;
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
		if (strcmp(end, units[i].unit) == 0) {
			double r = v * units[i].mult;
			if (r > (double)INT64_MAX / 2)
				return -1;
			*ms = (int64_t)(r + 0.5);
			return 0;
		}
	}
	return -1;
}

int parse_size(const char *s, int64_t *bytes)
{
	double v;
	const char *end;
	if (!s || parse_number(s, &v, &end) != 0)
		return -1;
	double mult = 1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mult = 1024.0; end++; break;
	case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
	case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
	default: return -1;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0' || v * mult > (double)INT64_MAX / 2)
		return -1;
	*bytes = (int64_t)(v * mult);
	return 0;
}

int parse_bool(const char *s, bool *b)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	for (size_t i = 0; s && i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*b = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*b = false;
			return 0;
		}
	}
	return -1;
}

int parse_int(const char *s, int64_t *v)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno || *end != '\0')
		return -1;
	*v = n;
	return 0;
}

int parse_enum(const char *s, const char *choices)
{
	if (!s || !choices)
		return -1;
	size_t n = strlen(s);
	int idx = 0;
	for (const char *p = choices;; idx++) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncasecmp(p, s, n) == 0)
			return idx;
		if (!bar)
			return -1;
		p = bar + 1;
	}
}

void format_duration(double seconds, char *buf, size_t size)
{
	/* Compared before the cast: a double past LONG_MAX (or NaN) is UB to
	 * convert, and a record's duration is whatever its JSON says. */
	long long t = 0;
	if (seconds >= (double)FORMAT_DURATION_MAX_S)
		t = FORMAT_DURATION_MAX_S;
	else if (seconds > 0)
		t = (long long)(seconds + 0.5);
	long long h = t / 3600, m = (t % 3600) / 60, s = t % 60;
	if (h)
		snprintf(buf, size, "%lldh %lldm %llds", h, m, s);
	else if (m)
		snprintf(buf, size, "%lldm %llds", m, s);
	else
		snprintf(buf, size, "%llds", s);
}

bool is_plain_name(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > max || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '-' && c != '_' && c != '.')))
			return false;
	}
	return true;
}

int parse_s3_uri(const char *uri, char *bucket, size_t size, const char **key)
{
	if (!uri || strncmp(uri, "s3://", 5) != 0)
		return -1;
	const char *b = uri + 5, *slash = strchr(b, '/');
	size_t n = slash ? (size_t)(slash - b) : 0;
	if (!slash || n == 0 || n > 63 || n >= size || !slash[1])
		return -1;
	memcpy(bucket, b, n);
	bucket[n] = '\0';
	*key = slash + 1;
	return 0;
}

int read_file(const char *path, size_t max, char **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = read_fd(fd, max, data, len);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

int read_fd(int fd, size_t max, char **data, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -1;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		return -1;
	}
	size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
	if (cap > max + 1)
		cap = max + 1;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (!buf) {
			errno = ENOMEM;
			return -1;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			free(buf);
			errno = EFBIG;
			return -1;
		}
		if (n == cap) {
			cap *= 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb)
				free(buf);
			buf = nb;
		}
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
}

int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
		errno = ENAMETOOLONG;
		return -1;
	}
	char *slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	else
		snprintf(dir, sizeof dir, ".");
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	int r = fsync(dfd);
	int e = errno;
	close(dfd);
	errno = e;
	return r;
}

/*
 * Temporary files of write_file_atomic(): ".<name>.tmp-<16 hex digits>" in
 * the directory of <name>.  The name is unpredictable and created with
 * O_EXCL|O_NOFOLLOW, so a link planted in the directory is never followed.
 */
#define TEMP_TAG ".tmp-"
#define TEMP_RAND_HEX 16
/* A temporary file this old is a killed writer's: no write takes minutes. */
#define TEMP_STALE_S (15 * 60)
/* How often one process sweeps the same directory. */
#define SWEEP_EVERY_S (10 * 60)

static bool is_temp_name(const char *n)
{
	size_t len = strlen(n), tag = strlen(TEMP_TAG);
	if (n[0] != '.' || len < 1 + 1 + tag + TEMP_RAND_HEX)
		return false;
	const char *r = n + len - TEMP_RAND_HEX;
	if (strncmp(r - tag, TEMP_TAG, tag) != 0)
		return false;
	return strspn(r, "0123456789abcdef") == TEMP_RAND_HEX;
}

/* Directories swept lately (by a hash of the path): a daemon writes the same
 * few directories thousands of times, and one listing per interval is enough. */
static struct {
	uint64_t dir;
	time_t at;
} swept[16];
static pthread_mutex_t swept_lock = PTHREAD_MUTEX_INITIALIZER;

static bool sweep_due(const char *dir, time_t now)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)dir; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	size_t oldest = 0;
	bool due = true;
	pthread_mutex_lock(&swept_lock);
	for (size_t i = 0; i < sizeof swept / sizeof *swept; i++) {
		if (swept[i].dir == h) {
			due = now - swept[i].at >= SWEEP_EVERY_S || now < swept[i].at;
			oldest = i;
			break;
		}
		if (swept[i].at < swept[oldest].at)
			oldest = i;
	}
	if (due) {
		swept[oldest].dir = h;
		swept[oldest].at = now;
	}
	pthread_mutex_unlock(&swept_lock);
	return due;
}

int sweep_stale_temps(const char *dir)
{
	time_t now = time(NULL);
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int removed = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		struct stat st;
		if (!is_temp_name(e->d_name) || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode) || now - st.st_mtime < TEMP_STALE_S)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

int write_file_atomic(const char *path, const void *data, size_t len)
{
	char dir[PATH_MAX], tmp[PATH_MAX];
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	size_t dn = slash ? (size_t)(slash - path) : 0;
	if (!*base || dn >= sizeof dir) {
		errno = *base ? ENAMETOOLONG : EISDIR;
		return -1;
	}
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (dn == 0)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)dn, path);
	int fd = -1;
	for (int attempt = 0; fd < 0 && attempt < 8; attempt++) {
		unsigned char rnd[TEMP_RAND_HEX / 2];
		if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
			return -1;
		int n = snprintf(tmp, sizeof tmp, "%s/.%s" TEMP_TAG, dir, base);
		if (n < 0 || (size_t)n + TEMP_RAND_HEX >= sizeof tmp) {
			errno = ENAMETOOLONG;
			return -1;
		}
		for (size_t i = 0; i < sizeof rnd; i++)
			n += snprintf(tmp + n, sizeof tmp - (size_t)n, "%02x", rnd[i]);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
		if (fd < 0 && errno != EEXIST)
			return -1;
	}
	if (fd < 0)
		return -1; /* EEXIST eight times: someone is planting names */
	if (write_all(fd, data, len) != 0 || fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	/* Make the rename itself durable. */
	fsync_parent(path);
	/* A run killed between open and rename left its temporary file. */
	if (sweep_due(dir, time(NULL)))
		sweep_stale_temps(dir);
	return 0;
fail:;
	int e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = e;
	return -1;
}

int parse_iso_ms(const char *s, int64_t *ms)
{
	struct tm tm = {0};
	const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
	if (!end || *end)
		return -1;
	*ms = (int64_t)timegm(&tm) * 1000;
	return 0;
}

int vm_dir_check(const char *path, char *why, size_t size)
{
	char p[PATH_MAX];
	if (!path || !*path || snprintf(p, sizeof p, "%s", path) >= (int)sizeof p) {
		snprintf(why, size, "no usable path");
		return -1;
	}
	struct stat st;
	bool missing = false;
	for (;;) {
		if (stat(p, &st) == 0)
			break;
		if (errno != ENOENT) {
			snprintf(why, size, "%s: %s", p, strerror(errno));
			return -1;
		}
		missing = true;
		char *slash = strrchr(p, '/');
		if (!slash) {
			snprintf(p, sizeof p, ".");
			continue;
		}
		if (slash == p)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, size, "%s is not a directory", p);
		return -1;
	}
	if (access(p, W_OK | X_OK) != 0) {
		snprintf(why, size, "%s%s: %s", missing ? "cannot be created in " : "", p, strerror(errno));
		return -1;
	}
	return 0;
}
