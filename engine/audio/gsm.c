/*
 * GSM 06.10 through libgsm (see gsm.h).  libgsm keeps the decoder's history
 * (and, for WAV49, which half of a block comes next) in its state, so one
 * state decodes one file from its first frame, in order.
 */
#include "gsm.h"

#include <stdio.h>
#include <stdlib.h>

#include <gsm.h>

#define MAGIC_OK(b) ((((b) >> 4) & 0x0F) == GSM_MAGIC)

bool gsm_raw_probe(const unsigned char *data, size_t len)
{
	if (!data || len < GSM_RAW_FRAME)
		return false;
	for (size_t off = 0; off + GSM_RAW_FRAME <= len; off += GSM_RAW_FRAME)
		if (!MAGIC_OK(data[off]))
			return false;
	return true;
}

int gsm_wav_check(unsigned channels, unsigned block, const unsigned char *ext, size_t extlen,
		  char *err, size_t errsz)
{
	if (channels != 1) {
		snprintf(err, errsz, "GSM 6.10 with %u channels (mono only)", channels);
		return -1;
	}
	if (block != GSM_WAV_BLOCK) {
		snprintf(err, errsz, "GSM 6.10 block align %u, expected %d (WAV49)", block, GSM_WAV_BLOCK);
		return -1;
	}
	/* cbSize (2 bytes) then wSamplesPerBlock: present in every writer we know. */
	if (extlen >= 4) {
		unsigned cb = ext[0] | ext[1] << 8, spb = ext[2] | ext[3] << 8;
		if (cb >= 2 && spb != GSM_WAV_SAMPLES) {
			snprintf(err, errsz, "GSM 6.10 with %u samples per block, expected %d", spb,
				 GSM_WAV_SAMPLES);
			return -1;
		}
	}
	return 0;
}

int16_t *gsm_decode_all(const unsigned char *data, size_t len, bool wav49, size_t *nsamples)
{
	size_t unit = wav49 ? GSM_WAV_BLOCK : GSM_RAW_FRAME;
	size_t per = wav49 ? GSM_WAV_SAMPLES : GSM_RAW_SAMPLES;
	size_t units = data ? len / unit : 0;
	*nsamples = 0;
	int16_t *out = malloc((units ? units * per : 1) * sizeof *out);
	gsm g = gsm_create();
	if (!out || !g) {
		free(out);
		if (g)
			gsm_destroy(g);
		return NULL;
	}
	int one = 1;
	if (wav49)
		gsm_option(g, GSM_OPT_WAV49, &one);
	/* gsm_signal is short: the same 16 bits as int16_t. */
	gsm_signal frame[GSM_RAW_SAMPLES];
	size_t n = 0;
	for (size_t u = 0; u < units; u++) {
		/* A WAV49 block is a 33-byte half (with the shared nibble) and a 32-byte half. */
		const unsigned char *p = data + u * unit;
		for (int half = 0; half < (wav49 ? 2 : 1); half++) {
			if (gsm_decode(g, (gsm_byte *)(p + half * GSM_RAW_FRAME), frame) != 0) {
				gsm_destroy(g);
				free(out);
				*nsamples = n;
				return NULL;
			}
			for (size_t i = 0; i < GSM_RAW_SAMPLES; i++)
				out[n++] = frame[i];
		}
	}
	gsm_destroy(g);
	*nsamples = n;
	return out;
}
