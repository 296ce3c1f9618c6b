/*
 * The spool: a directory that takes events the Maildir way, so a writer never
 * needs the service to be running and the service never reads half a file.
 *
 *   SPOOL/             0750, the serve user's (group: the PBX side reaches in)
 *   SPOOL/tmp/         3730, the drop: a writer creates the event here, writes
 *                      and fsyncs it ...
 *   SPOOL/new/         3730, ... and rename()s it here: a file in new/ is complete
 *   SPOOL/cur/         0700, events whose jobs are in flight
 *   SPOOL/recordings/  0700, audio serve took out of a dropped mail (`vmpipe sendmail`)
 *   SPOOL/rejected/    0700, what could not be taken, each NAME with NAME.why beside it
 *   SPOOL/serve.lock   0600, flock()ed by the running `vmpipe serve` (one per spool)
 *   SPOOL/serve.sock   0660, where serve listens, so others can tell it runs
 *
 * As Postfix's maildrop: the group may drop into tmp/ and new/ (setgid,
 * sticky, not listable) and nothing else; everything after the drop is the
 * serve user's, and serve treats every dropped byte as untrusted.
 * Names are unique without coordination: <seconds>.<microseconds>P<pid>R<random>.
 * A dropped file is 0640 (serve reads it through the group), serve's own 0600.
 */
#ifndef VMPIPE_SPOOL_H
#define VMPIPE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>

/* Longest name spool_unique_name() makes, with its NUL (names dropped by
 * others may be longer: up to NAME_MAX). */
#define SPOOL_NAME_MAX 64

/* Create SPOOL and its folders if missing, with the modes above.  0, or -1
 * with the reason in err. */
int spool_prepare(const char *dir, char *err, size_t errsize);

/* Is SPOOL this user's (the serve user: everything past the drop is ours)? */
bool spool_owned(const char *dir);

/*
 * `path` is a directory of this user that nobody else may write; `drop`: the
 * group may, when sticky.  0, or -1 with the reason and the fix in err.
 */
int spool_check_dir(const char *path, bool drop, char *err, size_t errsize);

/* spool_check_dir() for SPOOL and every folder of it. */
int spool_check_layout(const char *dir, char *err, size_t errsize);

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

/* Is a `vmpipe serve` listening on SPOOL/serve.sock right now?  Needs no
 * write access to anything of serve's. */
bool spool_serve_running(const char *dir);

/* Listen on SPOOL/serve.sock (serve, holding serve.lock).  The descriptor
 * (non-blocking), or -1 with err. */
int spool_listen(const char *dir, char *err, size_t errsize);

/*
 * Take SPOOL/serve.lock for this process (held until it exits or closes the
 * returned descriptor).  The descriptor, or -1 with err (another serve runs
 * on this spool, or the lock cannot be made).
 */
int spool_lock(const char *dir, char *err, size_t errsize);

#endif
