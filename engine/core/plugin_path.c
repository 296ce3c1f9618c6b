/*
 * Plugin search paths (plugin_path.h).  A customer's notifier belongs in a
 * directory of its own beside the bundled plugins, so plugin_dir is a list;
 * the loader (plugin_open) still loads only from the directories listed.
 */
#include "plugin_path.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool plugin_path_next(const char **cursor, char *buf, size_t size)
{
	const char *p = *cursor;
	while (p && *p) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		*cursor = end ? end + 1 : p + n;
		if (n > 0 && n < size) {
			memcpy(buf, p, n);
			buf[n] = '\0';
			return true;
		}
		p = *cursor;
	}
	return false;
}

/* The same directory?  By inode when both exist, else by name. */
static bool same_dir(const char *a, const char *b)
{
	struct stat sa, sb;
	if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	return strcmp(a, b) == 0;
}

/* Append `dir` to the ':'-list *out (length *len) unless it is there already. */
static int append_dir(char **out, size_t *len, const char *dir)
{
	char have[PATH_MAX];
	for (const char *c = *out; plugin_path_next(&c, have, sizeof have);)
		if (same_dir(have, dir))
			return 0;
	size_t n = strlen(dir);
	char *grown = realloc(*out, *len + n + 2);
	if (!grown)
		return -1;
	*out = grown;
	if (*len)
		grown[(*len)++] = ':';
	memcpy(grown + *len, dir, n + 1);
	*len += n;
	return 0;
}

/* Append every directory of the search path `path`. */
static int append_path(char **out, size_t *len, const char *path)
{
	char dir[PATH_MAX];
	for (const char *c = path; plugin_path_next(&c, dir, sizeof dir);)
		if (append_dir(out, len, dir) != 0)
			return -1;
	return 0;
}

char *plugin_path_resolve(const char *value, const char *base_dir, const char *fallback)
{
	char *out = calloc(1, 1);
	size_t len = 0;
	if (!out)
		return NULL;
	if (!value || !*value) {
		if (append_path(&out, &len, fallback) != 0)
			goto oom;
		return out;
	}
	const char *p = value;
	for (;;) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char dir[PATH_MAX * 2];
		int rc = 0;
		if (n == 0)
			rc = append_path(&out, &len, fallback);
		else if (p[0] == '/' || !base_dir)
			rc = snprintf(dir, sizeof dir, "%.*s", (int)n, p) < (int)sizeof dir
				     ? append_dir(&out, &len, dir) : 0;
		else
			rc = snprintf(dir, sizeof dir, "%s/%.*s", base_dir, (int)n, p) < (int)sizeof dir
				     ? append_dir(&out, &len, dir) : 0;
		if (rc != 0)
			goto oom;
		if (!end)
			break;
		p = end + 1;
	}
	return out;
oom:
	free(out);
	return NULL;
}

char *plugin_path_default(void)
{
	char exe[PATH_MAX], dir[PATH_MAX + 32];
	char *out = calloc(1, 1);
	size_t len = 0;
	if (!out)
		return NULL;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char *slash = n > 0 ? (exe[n] = '\0', strrchr(exe, '/')) : NULL;
	if (slash) {
		*slash = '\0';
		struct stat st;
		snprintf(dir, sizeof dir, "%s/plugins", exe);
		if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
			snprintf(dir, sizeof dir, "%s/../lib/vmpipe/plugins", exe);
		if (append_dir(&out, &len, dir) != 0)
			goto oom;
	}
	if (append_path(&out, &len, PLUGIN_PATH_SYSTEM) != 0)
		goto oom;
	return out;
oom:
	free(out);
	return NULL;
}
