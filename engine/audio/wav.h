/*
 * WAV decoding (engine side).  The host API (vm_wav_decode, vm_wav_free in
 * vmpipe.h) is what plugins call; this header adds the pieces unit tests and
 * other engine files may use on their own.
 */
#ifndef VMPIPE_WAV_H
#define VMPIPE_WAV_H

#include <stddef.h>
#include <stdint.h>

#include <vmpipe/vmpipe.h>

/*
 * Resample `n` mono samples from `from` Hz to `to` Hz with a Kaiser-windowed
 * sinc (polyphase; the cut-off sits just below the lower Nyquist frequency,
 * so downsampling does not alias and upsampling leaves no images).
 * Returns a malloc()ed array of *outn samples (caller frees), or NULL when
 * out of memory or a rate is 0.  *outn = floor(n * to / from).
 */
int16_t *wav_resample(const int16_t *in, size_t n, unsigned from, unsigned to, size_t *outn);

/* G.711 expansions to 16-bit linear. */
int16_t wav_ulaw(uint8_t u);
int16_t wav_alaw(uint8_t a);

#endif
