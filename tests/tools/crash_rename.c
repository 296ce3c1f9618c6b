/*
 * LD_PRELOAD shim for the once-only tests: kill the process (SIGKILL, as
 * `kill -9` would) at an exact point of its work, the Nth rename() onto a path
 * ending in $CRASH_RENAME_MATCH, just before it ($CRASH_RENAME_BEFORE set) or
 * just after it.  vmpipe writes every file that matters (the .eml of
 * notify-file, checkpoints) with write-fsync-rename, so a rename is the moment
 * a write becomes real.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rename(const char *oldpath, const char *newpath)
{
	static int (*real)(const char *, const char *);
	static int seen;
	if (!real)
		real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
	const char *m = getenv("CRASH_RENAME_MATCH");
	const char *n = getenv("CRASH_RENAME_NTH");
	size_t a = strlen(newpath), b = m ? strlen(m) : 0;
	int hit = m && *m && a >= b && strcmp(newpath + a - b, m) == 0 && ++seen == (n ? atoi(n) : 1);
	if (hit && getenv("CRASH_RENAME_BEFORE"))
		raise(SIGKILL);
	int r = real(oldpath, newpath);
	if (hit)
		raise(SIGKILL);
	return r;
}
