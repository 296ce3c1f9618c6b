/*
 * MP3 (MPEG Layer III) encoding with LAME (Debian's libmp3lame): the
 * playable form of a voicemail in a mail or a listen page.  Engine side; the
 * host API is vm_audio_playable() (vmpipe.h).
 */
#ifndef VMPIPE_MP3_H
#define VMPIPE_MP3_H

#include <stddef.h>
#include <stdint.h>

/*
 * Encode `n` mono samples at `rate` Hz as constant-bit-rate mono MP3 at
 * `kbps`, with LAME's Info tag in the first frame when a frame has room for
 * it (the encoder delay and padding: decoders that read it, lame --decode and
 * most players, give back exactly `n` samples) and no ID3 tag.  malloc()ed bytes (caller frees) and
 * *len, or NULL with the reason in err.
 */
unsigned char *mp3_encode(const int16_t *samples, size_t n, unsigned rate, unsigned kbps,
                          size_t *len, char *err, size_t errsz);

/* The bit rate used for speech at `rate` Hz: 24 kbit/s up to 12 kHz
 * (MPEG-2.5; the lowest with room for the Info tag), 32 above (MPEG-2 at 16 kHz). */
unsigned mp3_speech_kbps(unsigned rate);

#endif
