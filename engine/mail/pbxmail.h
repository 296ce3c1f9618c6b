/*
 * A PBX's voicemail e-mail (what Asterisk's app_voicemail and FreeSWITCH's
 * mod_voicemail hand their mail command) turned into a job record and the
 * audio it carries.  docs/pbx.md lists the headers read.
 *
 *   Asterisk (mailcmd; app_voicemail.c make_email_file()): X-Asterisk-CallerID,
 *     X-Asterisk-CallerIDName, the Message-ID
 *     <Asterisk-MSGNUM-RANDOM-MAILBOX-PID@HOST>, and, in copies its IMAP
 *     storage writes, the X-Asterisk-VM-* set; the recording attached as
 *     msgNNNN.WAV (wav49), .gsm or .wav, and a forward's introduction as
 *     msgintroNNNN.FMT after it.
 *   FreeSWITCH (mailer-app; mod_voicemail.c deliver_vm(), switch_utils.c
 *     switch_simple_email()): the stock voicemail.tpl's From:
 *     "NAME" <NUMBER@DOMAIN> and Subject, X-Voicemail-Length (appended by
 *     mod_voicemail), the envelope sender ACCOUNT@DOMAIN (-f), and where the
 *     admin added them, X-Voicemail-Caller-ID-Number/-Name, -Account,
 *     -Domain, -UUID; the recording as msg_UUID.wav.
 *   Any other mail with an audio attachment is taken as source "mail".
 */
#ifndef VMPIPE_PBXMAIL_H
#define VMPIPE_PBXMAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/job.h"

/* Largest mail taken (a 10-minute PCM WAV in base64 is ~13 MB); sendmail
 * reads no further than this. */
#define PBXMAIL_MAX_BYTES (64u * 1024 * 1024)

struct pbxmail {
	vm_job *job;            /* owned: id, source, contact, recipient, recording (no uri yet) */
	unsigned char *audio;   /* owned: the recording, decoded; NULL: the mail carried none */
	size_t audio_len;
	char audio_name[96];    /* a plain file name for it ("msg0000.WAV", "msg0003-with-intro.wav") */
	int audio_parts;        /* audio parts in the mail (a forward with an introduction: 2) */
	bool truncated;         /* the mail was cut: a multipart without its end, or audio
				 * ending before its header says (recording.truncated) */
	char note[300];         /* what the log and rejected/NAME.why should say, or "" */
};

/* What pbxmail_parse() found. */
enum pbxmail_kind {
	PBXMAIL_BAD = -1,       /* refused: broken MIME, an attachment that does not decode,
				 * a field over the intake's limits (err says which) */
	PBXMAIL_VOICEMAIL = 0,  /* a voicemail; `audio` NULL when the PBX attached none (attach=no) */
	PBXMAIL_OTHER = 1,      /* not a voicemail: a pager or notify mail, anything else (err says why) */
};

/*
 * Parse `mail` (`len` bytes).  `rcpt` (NULL-terminated, may be NULL): the
 * recipients given on the command line, used when the mail has no To header;
 * `envelope_from` (-f, may be NULL): FreeSWITCH's sender, account@domain
 * unless vm-mailfrom is set.  A PBXMAIL_VOICEMAIL fills `out` (free with
 * pbxmail_free); the others leave it empty with the reason in err.
 */
enum pbxmail_kind pbxmail_parse(const char *mail, size_t len, char *const *rcpt,
				const char *envelope_from, struct pbxmail *out, char *err,
				size_t errsize);
void pbxmail_free(struct pbxmail *m);

#endif
