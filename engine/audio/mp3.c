/* MP3 encoding with LAME; see mp3.h. */
#include "mp3.h"

#include <lame/lame.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* LAME's tables are set up by the first lame_init_params(): not under two
 * threads at once. */
static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;

/* LAME prints to stderr unless told otherwise; the engine logs, LAME does not. */
static void quiet(const char *fmt, va_list ap)
{
	(void)fmt, (void)ap;
}

unsigned mp3_speech_kbps(unsigned rate)
{
	/* 24, not 16, at 8 kHz: a 16 kbit/s MPEG-2.5 frame (144 bytes) has no
	 * room for LAME's Info tag, and without it decoders play the encoder's
	 * delay and padding too (128 ms more at 8 kHz); at 24 (216 bytes) the tag
	 * fits and the length is exact.  32 at 16 kHz leaves the tag out too
	 * (53 ms more): the rate speech needs there. */
	return rate <= 12000 ? 24 : 32;
}

/* Samples encoded per call: bounds the output buffer LAME asks for. */
#define CHUNK 8192

unsigned char *mp3_encode(const int16_t *samples, size_t n, unsigned rate, unsigned kbps,
                          size_t *len, char *err, size_t errsz)
{
	*len = 0;
	pthread_mutex_lock(&init_mu);
	lame_global_flags *g = lame_init();
	int rc = -1;
	if (g) {
		lame_set_errorf(g, quiet);
		lame_set_debugf(g, quiet);
		lame_set_msgf(g, quiet);
		lame_set_num_channels(g, 1);
		lame_set_mode(g, MONO);
		lame_set_in_samplerate(g, (int)rate);
		lame_set_out_samplerate(g, (int)rate);
		lame_set_VBR(g, vbr_off);
		lame_set_brate(g, (int)kbps);
		lame_set_quality(g, 5); /* LAME's default: good quality, fast */
		lame_set_bWriteVbrTag(g, 1);
		lame_set_write_id3tag_automatic(g, 0);
		rc = lame_init_params(g);
	}
	pthread_mutex_unlock(&init_mu);
	if (rc < 0) {
		snprintf(err, errsz, "LAME refused %u Hz at %u kbit/s", rate, kbps);
		if (g)
			lame_close(g);
		return NULL;
	}
	/* LAME's worst case: 1.25 bytes a sample and 7200 more, per call. */
	size_t cap = n + n / 4 + 7200 + 2 * (CHUNK + CHUNK / 4 + 7200), used = 0;
	unsigned char *out = malloc(cap);
	if (!out) {
		snprintf(err, errsz, "out of memory for %zu samples of MP3", n);
		lame_close(g);
		return NULL;
	}
	for (size_t off = 0; off < n; off += CHUNK) {
		int k = (int)(n - off < CHUNK ? n - off : CHUNK);
		/* Mono: the right channel is ignored.  The cast drops const only. */
		int w = lame_encode_buffer(g, (short *)(uintptr_t)(samples + off), NULL, k,
					   out + used, (int)(cap - used > 0x7fffffff ? 0x7fffffff
										     : cap - used));
		if (w < 0) {
			snprintf(err, errsz, "LAME failed (%d) at sample %zu", w, off);
			free(out);
			lame_close(g);
			return NULL;
		}
		used += (size_t)w;
	}
	int w = lame_encode_flush(g, out + used, (int)(cap - used > 0x7fffffff ? 0x7fffffff
										  : cap - used));
	if (w < 0) {
		snprintf(err, errsz, "LAME failed (%d) at the end", w);
		free(out);
		lame_close(g);
		return NULL;
	}
	used += (size_t)w;
	/* The first frame LAME wrote is a place-holder for the Info tag, which
	 * only now knows the frame count and the padding. */
	unsigned char tag[2880];
	size_t t = lame_get_lametag_frame(g, tag, sizeof tag);
	if (t > 0 && t <= sizeof tag && t <= used)
		memcpy(out, tag, t);
	lame_close(g);
	*len = used;
	return out;
}
