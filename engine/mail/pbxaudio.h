/*
 * The audio of a PBX voicemail mail (engine/mail/pbxmail.c): several parts
 * joined into one recording, and what a cut mail still holds.
 *
 * Asterisk forwards a message with a spoken introduction as two parts,
 * msgNNNN.FMT then msgintroNNNN.FMT (app_voicemail.c, make_email_file() with
 * attach2); the owner hears the introduction first.  Ownership: every
 * buffer returned is malloc()ed and the caller's.
 */
#ifndef VMPIPE_MAIL_PBXAUDIO_H
#define VMPIPE_MAIL_PBXAUDIO_H

#include <stdbool.h>
#include <stddef.h>

#include "read.h"

#define PBXAUDIO_MAX_PARTS 4

struct pbxaudio_part {
	unsigned char *data; /* owned: the part, transfer-decoded */
	size_t len;
	char name[96];       /* a plain file name ("msg0003.WAV") */
};

/* The recording a mail carries. */
struct pbxaudio {
	unsigned char *data; /* owned (free()); NULL: the mail has no audio part */
	size_t len;
	char name[96];       /* a plain file name ("msg0000.WAV", "msg0003-with-intro.wav") */
	char type[128];      /* the media type of the (first) part, "audio/wav" when joined */
	int parts;           /* audio parts found */
	char seen[200];      /* the types of all parts, for "not a voicemail" */
};

/*
 * Every audio leaf of `parts` (audio/ANY, application/ogg, or an
 * application/octet-stream named like audio), transfer-decoded: one as it is,
 * several joined with pbxaudio_join().  0 with `out` filled, or -1 with err
 * (a part that does not decode, is empty, or cannot be joined; more than
 * PBXAUDIO_MAX_PARTS).
 */
int pbxaudio_collect(const mr_parts *parts, struct pbxaudio *out, char *err, size_t errsize);

/*
 * Join `n` parts (n >= 2) into one 16-bit PCM WAV at the first part's rate:
 * intro parts ("msgintro...") first, then the others in mail order.
 * 0 with *out (malloc()ed, *outlen bytes), or -1 with err (a part that does
 * not decode: the caller keeps the parts apart).
 */
int pbxaudio_join(const struct pbxaudio_part *parts, size_t n, unsigned char **out, size_t *outlen,
		  char *err, size_t errsize);

/* What the audio holds: seconds present, seconds its header claims (equal
 * unless cut), whether it was cut.  false when it is not audio we read. */
bool pbxaudio_probe(const unsigned char *data, size_t len, double *received, double *recorded,
		    bool *cut);

#endif
