/*
 * A PBX's voicemail e-mail (what Asterisk's app_voicemail and FreeSWITCH's
 * mod_voicemail hand their mail command) turned into a job record and the
 * audio it carries.  docs/pbx.md lists the headers read.
 *
 *   Asterisk (mailcmd): X-Asterisk-CallerID, X-Asterisk-CallerIDName, the
 *     Message-ID <Asterisk-MSGNUM-RANDOM-MAILBOX-PID@HOST>, and the
 *     X-Asterisk-VM-* set its IMAP storage writes (Caller-ID-Num/-Name,
 *     Extension, Context, Message-Num, Duration, Orig-time, Message-ID, ...);
 *     the recording attached as msg0000.WAV (wav49), .gsm or .wav.
 *   FreeSWITCH (mailer-app): X-Voicemail-Length, written by mod_voicemail,
 *     and X-Voicemail-Caller-ID-Number/-Name, -Account, -Domain, -UUID from
 *     the e-mail template (docs/pbx.md).
 *   Any other mail with an audio attachment is taken as source "mail".
 */
#ifndef VMPIPE_PBXMAIL_H
#define VMPIPE_PBXMAIL_H

#include <stddef.h>

#include "core/job.h"

/* Largest mail taken (a 10-minute PCM WAV in base64 is ~13 MB). */
#define PBXMAIL_MAX_BYTES (64u * 1024 * 1024)

struct pbxmail {
	vm_job *job;            /* owned: id, source, contact, recipient, recording (no uri yet) */
	unsigned char *audio;   /* owned: the attachment, decoded */
	size_t audio_len;
	char audio_name[96];    /* a plain file name for it, from the attachment's ("msg0000.WAV") */
};

/*
 * Parse `mail` (`len` bytes).  `rcpt` (NULL-terminated, may be NULL): the
 * recipients given on the command line, used when the mail has no To header.
 * 0 with `out` filled (free with pbxmail_free), or -1 with the reason in err:
 * not a mail, broken MIME, no audio attachment (the part types are named),
 * an attachment that does not decode.
 */
int pbxmail_parse(const char *mail, size_t len, char *const *rcpt, struct pbxmail *out, char *err,
		  size_t errsize);
void pbxmail_free(struct pbxmail *m);

#endif
