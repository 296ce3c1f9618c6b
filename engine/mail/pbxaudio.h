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

#define PBXAUDIO_MAX_PARTS 4

struct pbxaudio_part {
	unsigned char *data; /* owned: the part, transfer-decoded */
	size_t len;
	char name[96];       /* a plain file name ("msg0003.WAV") */
};

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
