/*
 * The spool: a directory that takes events the Maildir way, so a writer never
 * needs the service to be running and the service never reads half a file.
 *
 *   SPOOL/tmp/         a writer creates the event here, writes and fsyncs it ...
 *   SPOOL/new/         ... and rename()s it here: a file in new/ is complete
 *   SPOOL/recordings/  audio that came with an event (`vmpipe sendmail`)
 *   SPOOL/rejected/    what could not be taken, each NAME with NAME.why beside it
 *   SPOOL/serve.lock   flock()ed by the running `vmpipe serve` (one per spool)
 *
 * Names are unique without coordination: <seconds>.<microseconds>P<pid>R<random>.
 * Directories are created mode 0770 (a PBX user and the service may share a
 * group); files 0640.
 */
#ifndef VMPIPE_SPOOL_H
#define VMPIPE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>

/* Longest name spool_unique_name() makes, with its NUL. */
#define SPOOL_NAME_MAX 64

/* Create SPOOL and its folders if missing.  0, or -1 with the reason in err. */
int spool_prepare(const char *dir, char *err, size_t errsize);

/* A fresh unique file name (no directory) into buf (SPOOL_NAME_MAX bytes). */
void spool_unique_name(char *buf, size_t size);

/*
 * Hand one event to the spool: write it to tmp/NAME, fsync, rename it to
 * new/NAME, fsync new/.  `name` (SPOOL_NAME_MAX bytes, may be NULL) receives
 * NAME.  0, or -1 with the reason in err.  Creates the folders if missing.
 */
int spool_enqueue(const char *dir, const void *data, size_t len, char *name, size_t namesize,
		  char *err, size_t errsize);

/*
 * Write `data` as SPOOL/SUB/NAME, created exclusively (never replacing or
 * following anything already there), fsynced with its directory.  `path`
 * (may be NULL) receives the absolute path.  0, or -1 with err.
 */
int spool_store(const char *dir, const char *sub, const char *name, const void *data, size_t len,
		char *path, size_t pathsize, char *err, size_t errsize);

/*
 * Keep what could not be taken: `data` as rejected/NAME and the reason as
 * rejected/NAME.why, so a person finds both.  `name` NULL: a fresh unique
 * name.  0, or -1 with err.
 */
int spool_reject(const char *dir, const char *name, const void *data, size_t len, const char *why,
		 char *err, size_t errsize);

/* Is a `vmpipe serve` holding SPOOL/serve.lock right now? */
bool spool_serve_running(const char *dir);

/*
 * Take SPOOL/serve.lock for this process (held until it exits or closes the
 * returned descriptor).  The descriptor, or -1 with err (another serve runs
 * on this spool, or the lock cannot be made).
 */
int spool_lock(const char *dir, char *err, size_t errsize);

#endif
