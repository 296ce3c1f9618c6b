/*
 * GSM 06.10 full-rate audio, decoded with libgsm (Debian's libgsm1).
 *
 * PBXs write it two ways:
 *  - raw .gsm files (Asterisk `format=gsm`): 33-byte frames of 160 samples at
 *    8 kHz, each frame starting with the 0xD magic nibble;
 *  - WAV format 0x0031, WAVE_FORMAT_GSM610 (Asterisk `format=wav49`, the
 *    msg0000.WAV it mails): Microsoft's 65-byte blocks holding two frames
 *    (320 samples) packed without the magic, libgsm's GSM_OPT_WAV49.
 * wav.c calls these for both; nothing here parses RIFF.
 */
#ifndef VMPIPE_GSM_H
#define VMPIPE_GSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	GSM_WAV_FORMAT = 0x0031,  /* WAVE_FORMAT_GSM610 */
	GSM_WAV_BLOCK = 65,       /* bytes per block in a WAV */
	GSM_WAV_SAMPLES = 320,    /* samples per WAV block */
	GSM_RAW_FRAME = 33,       /* bytes per raw frame */
	GSM_RAW_SAMPLES = 160,    /* samples per raw frame */
	GSM_RATE = 8000,          /* raw .gsm files carry no rate: GSM is 8 kHz */
};

/*
 * Is `data` a raw .gsm file?  At least one whole frame, and every whole frame
 * starts with the magic nibble (random bytes pass one frame in 16, so a file
 * of several frames that is not GSM is refused).
 */
bool gsm_raw_probe(const unsigned char *data, size_t len);

/*
 * Check the fields of a WAVE fmt chunk of format 0x0031: one channel, 65-byte
 * blocks and, when the chunk carries the extension, 320 samples per block.
 * `ext` is the fmt chunk after its first 16 bytes (`extlen` bytes).
 * 0, or -1 with the reason in err.
 */
int gsm_wav_check(unsigned channels, unsigned block, const unsigned char *ext, size_t extlen,
		  char *err, size_t errsz);

/*
 * Decode the whole frames (wav49: 65-byte blocks; else 33-byte raw frames) of
 * `data` to 16-bit samples; trailing bytes short of a frame are left.
 * A malloc()ed array of *nsamples (caller frees), or NULL: out of memory, or a
 * raw frame without the magic (*nsamples then says how far it got).
 */
int16_t *gsm_decode_all(const unsigned char *data, size_t len, bool wav49, size_t *nsamples);

#endif
