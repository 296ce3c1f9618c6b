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
 * point the job at it (recording.uri; locate-file checks it and reads its
 * duration).  `path` (may be NULL) receives the file's path.  0, or -1 with
 * err.
 */
int handover_store_recording(const char *spool, struct pbxmail *m, char *path, size_t pathsize, char *err,
			     size_t errsize);

/*
 * For a run by a user who does not own the spool: the audio in a private
 * directory (mkdtemp under $TMPDIR), opened and identified here, so the job
 * is located already (stages.locate done, recording.file_id, the duration
 * from the audio when the mail named none).  `dir`
 * receives the directory for handover_private_remove().  0, or -1 with err.
 */
int handover_private_recording(struct pbxmail *m, char *dir, size_t dirsize, char *err, size_t errsize);
void handover_private_remove(const char *dir);

/*
 * Drop the whole mail into the maildrop (tmp/ then new/), for serve.  What
 * came beside the mail travels in lines before it, which serve takes off
 * (drop.h): the envelope sender `from` (-f, may be NULL) and recipients
 * `rcpt` (NULL-terminated, may be NULL), and `refused` (may be NULL): why
 * sendmail did not take it, so serve keeps it in rejected/ with that reason
 * instead of reading it.  `name` (SPOOL_NAME_MAX bytes, may be NULL)
 * receives the name in new/.  0, or -1 with err.
 */
int handover_drop_mail(const char *spool, const char *mail, size_t len, const char *from, char *const *rcpt,
		       const char *refused, char *name, size_t namesize, char *err, size_t errsize);

/* The lines handover_drop_mail() puts before a mail. */
#define HANDOVER_FROM "X-Vmpipe-Envelope-From: "
#define HANDOVER_TO "X-Vmpipe-Envelope-To: "
#define HANDOVER_REFUSED "X-Vmpipe-Refused: "

/* Fill the job's recording duration from the audio when the mail named none. */
void handover_duration(struct pbxmail *m);

/* A voicemail the PBX mailed without its recording (attach=no): said so in
 * the job, as sendmail and serve both do. */
void handover_no_recording(struct pbxmail *m);

#endif
