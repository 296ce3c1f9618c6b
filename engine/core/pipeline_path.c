/*
 * The pipeline file when -c is not given (pipeline_path.h).  A new user types
 * `vmpipe run event.json` before reading anything: find the pipeline where
 * an administrator, `make install` or a source tree put it, and when there is
 * none, say every place that was tried.
 */
#include "pipeline_path.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static char found[PATH_MAX + 64];

/* Append "PLACE (why not)" to the list of places looked at. */
static void tried(char *err, size_t errsize, size_t *n, const char *place, const char *why)
{
	if (*n >= errsize)
		return;
	int w = snprintf(err + *n, errsize - *n, "%s%s (%s)", *n ? ", " : "", place, why);
	if (w > 0)
		*n += (size_t)w;
}

/* Is `path` a regular file?  If not, note why in the list. */
static bool candidate(const char *path, char *err, size_t errsize, size_t *n)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		tried(err, errsize, n, path, strerror(errno));
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		tried(err, errsize, n, path, "not a regular file");
		return false;
	}
	snprintf(found, sizeof found, "%s", path);
	return true;
}

const char *pipeline_path_search(const char *env, const char *system_path, const char *exe_dir,
				 char *err, size_t errsize)
{
	size_t n = 0;
	char path[PATH_MAX + 64];
	if (errsize)
		err[0] = '\0';
	if (env && *env) {
		snprintf(found, sizeof found, "%s", env);
		return found;
	}
	tried(err, errsize, &n, "$VMPIPE_PIPELINE", "not set");
	if (candidate(system_path, err, errsize, &n))
		return found;
	/* PREFIX of PREFIX/bin/vmpipe, or the source tree of build/vmpipe. */
	char up[PATH_MAX], prefix[PATH_MAX];
	snprintf(up, sizeof up, "%s/..", exe_dir ? exe_dir : "");
	if (exe_dir && realpath(up, prefix)) {
		snprintf(path, sizeof path, "%s/share/vmpipe/local.ini", prefix);
		if (candidate(path, err, errsize, &n))
			return found;
		struct stat st;
		snprintf(path, sizeof path, "%s/include/vmpipe/plugin.h", prefix);
		if (stat(path, &st) == 0) {
			snprintf(path, sizeof path, "%s/etc/local.ini", prefix);
			if (candidate(path, err, errsize, &n))
				return found;
		}
	}
	char list[PATH_MAX * 4];
	snprintf(list, sizeof list, "%s", err);
	snprintf(err, errsize, "no pipeline: give -c PIPELINE or set VMPIPE_PIPELINE; looked in: %s",
		 list);
	return NULL;
}

const char *pipeline_path_find(char *err, size_t errsize)
{
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char *slash = NULL;
	if (len > 0) {
		exe[len] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
	}
	const char *env = getenv("VMPIPE_PIPELINE");
	const char *path = pipeline_path_search(env, PIPELINE_SYSTEM_PATH, slash ? exe : NULL, err,
						errsize);
	if (path && !(env && *env))
		log_msg(NULL, NULL, VM_LOG_INFO, "pipeline %s (no -c given)", path);
	return path;
}
