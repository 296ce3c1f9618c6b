/*
 * What is uploaded: the recording as it is, or a 16 kHz mono 16-bit PCM WAV
 * made from it through the host's WAV reader.
 *
 * As it is: a 16-bit PCM WAV (any rate; all its channels unless one is
 * asked for) that fits max_upload, and any recording the host cannot decode
 * that fits: not a WAV (MP3, FLAC, Ogg, M4A, WebM), or a WAV of a codec the
 * host's reader does not know (the server may: OpenAI and LocalAI decode
 * with ffmpeg; a refusal is then the server's, with its message).
 * Converted: every other WAV (G.711, 8/24/32-bit, float, a file cut short),
 * one larger than max_upload, one whose caller channel alone is wanted, and
 * every WAV with convert = always.  16 kHz is the rate Whisper works at, so
 * the conversion loses nothing the server would have used: a 25 MB upload
 * holds 13.6 minutes of it.
 *
 * This file knows nothing of HTTP or of the job record.
 */
#ifndef TRANSCRIBE_WHISPER_AUDIO_H
#define TRANSCRIBE_WHISPER_AUDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wh_audio_opts {
	size_t max_upload;   /* bytes the server takes */
	int channel;         /* -1: all channels (mixed down when converted); else its index */
	bool always_convert; /* convert every WAV, even a plain PCM one */
};

struct wh_upload {
	const unsigned char *data; /* the recording given, or `owned` */
	size_t len;
	unsigned char *owned;      /* the converted WAV (malloc()ed), or NULL */
	char filename[128];        /* the form's file name: servers go by its extension */
	const char *content_type;  /* static string */
	bool is_wav;               /* the recording was a WAV the host decoded */
	bool converted;
	bool undecoded;            /* a WAV the host cannot decode, sent as it is */
	bool channel_ignored;      /* a channel was asked of a recording the host cannot decode */
	char why[200];             /* why it was converted ("mu-law WAV", "channel 1 of 2 only", …),
				    * or why an undecoded WAV could not be */
	double duration;           /* seconds of audio; -1 when not known (not a WAV) */
	double claimed_duration;   /* what a WAV's header claims (more when cut short) */
	bool truncated;
};

enum {
	WH_AUDIO_OK = 0,
	WH_AUDIO_BAD = -1,       /* not usable: err says why */
	WH_AUDIO_TOO_LARGE = -2, /* more than max_upload, even converted: err says how much */
	WH_AUDIO_NOMEM = -3,
};

/*
 * Decide what to upload for the recording `rec` (`len` bytes) named `name`
 * (its URI or path: the file name and type come from it).  `out` may point
 * into `rec`, which must outlive it.  WH_AUDIO_OK, or a negative code with a
 * message in err.  Release with wh_upload_free().
 */
int wh_audio_prepare(const unsigned char *rec, size_t len, const char *name,
                     const struct wh_audio_opts *opts, struct wh_upload *out, char *err,
                     size_t errsz);
void wh_upload_free(struct wh_upload *up);

#endif
