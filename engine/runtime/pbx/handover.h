/*
 * How a voicemail mail reaches the spool (docs/pbx.md, "Who writes what").
 * The PBX side (`vmpipe sendmail` as the PBX's user) may only drop into the
 * spool's maildrop: it drops the whole mail, and `vmpipe serve`, the spool's
 * owner, takes the recording out of it into its own recordings/.  When serve
 * does not run, sendmail runs the job itself: as the spool's owner with the
 * recording in recordings/, as anyone else with a private copy that lives as
 * long as the run.
 */
#ifndef VMPIPE_HANDOVER_H
#define VMPIPE_HANDOVER_H

#include <stddef.h>

#include "mail/pbxmail.h"

/*
 * Store m's audio as SPOOL/recordings/<unique>-<its name> (the owner's) and
 * point the job at it: recording.uri, and recording.duration_seconds from
 * the audio when the mail named none.  `path` (may be NULL) receives the
 * file's path.  0, or -1 with err.
 */
int handover_store_recording(const char *spool, struct pbxmail *m, char *path, size_t pathsize, char *err,
			     size_t errsize);

/*
 * For a run by a user who does not own the spool: the audio in a private
 * directory (mkdtemp under $TMPDIR), opened and identified here, so the job
 * is located already (stages.locate done, recording.file_id).  `dir`
 * receives the directory for handover_private_remove().  0, or -1 with err.
 */
int handover_private_recording(struct pbxmail *m, char *dir, size_t dirsize, char *err, size_t errsize);
void handover_private_remove(const char *dir);

/*
 * Drop the whole mail into the maildrop (tmp/ then new/), for serve.  `rcpt`
 * (NULL-terminated, may be NULL): the command line's recipients, written as
 * a To header when the mail has none.  `name` (SPOOL_NAME_MAX bytes, may be
 * NULL) receives the name in new/.  0, or -1 with err.
 */
int handover_drop_mail(const char *spool, const char *mail, size_t len, char *const *rcpt, char *name,
		       size_t namesize, char *err, size_t errsize);

/* Fill the job's recording duration from the audio when the mail named none. */
void handover_duration(struct pbxmail *m);

#endif
