/*
 * The playable form of a recording (vm_audio_playable): what a mail client
 * or a browser plays, whatever the PBX wrote.  GSM 6.10 (raw .gsm, WAV49),
 * mu-law and A-law WAVs play in few players and are large for what they
 * hold; a 16 kHz-or-less mono MP3 plays everywhere at a fraction of the size.
 * A PCM WAV already plays, and stays as it is unless asked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmpipe/vmpipe.h>

#include "mp3.h"
#include "wav.h"

#define WAV_HEADER 44
/* MP3 is made at 16 kHz at most: speech holds nothing above 8 kHz, and
 * MPEG-2's 32 kbit/s at 16 kHz is the rate that keeps it. */
#define MP3_MAX_RATE 16000u

static void put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v & 0xff);
	p[1] = (unsigned char)(v >> 8 & 0xff);
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

unsigned char *vm_wav_write(const int16_t *samples, size_t n, unsigned rate, size_t *len)
{
	*len = 0;
	if (n > (UINT32_MAX - 36) / 2 || rate == 0 || rate > UINT32_MAX / 2)
		return NULL;
	uint32_t data = (uint32_t)(n * 2);
	unsigned char *w = malloc(WAV_HEADER + (size_t)data);
	if (!w)
		return NULL;
	memcpy(w, "RIFF", 4);
	put32(w + 4, 36 + data);
	memcpy(w + 8, "WAVEfmt ", 8);
	put32(w + 16, 16);       /* fmt chunk size */
	put16(w + 20, 1);        /* WAVE_FORMAT_PCM */
	put16(w + 22, 1);        /* mono */
	put32(w + 24, rate);
	put32(w + 28, rate * 2); /* bytes per second */
	put16(w + 32, 2);        /* block align */
	put16(w + 34, 16);       /* bits per sample */
	memcpy(w + 36, "data", 4);
	put32(w + 40, data);
	for (size_t i = 0; i < n; i++)
		put16(w + WAV_HEADER + 2 * i, (uint16_t)samples[i]);
	*len = WAV_HEADER + (size_t)data;
	return w;
}

/* Telephone codecs: what `auto` makes playable. */
static bool telephone_codec(const vm_wav *w)
{
	return w->src_format == 0x31 /* GSM 6.10 */ || w->src_format == 6 /* A-law */ ||
	       w->src_format == 7 /* mu-law */;
}

int vm_audio_playable(const unsigned char *data, size_t len, int format, vm_buf *out,
                      const char **content_type, char *err, size_t errsz)
{
	memset(out, 0, sizeof *out);
	*content_type = NULL;
	if (err && errsz)
		err[0] = '\0';
	if (format == VM_PLAYABLE_ORIGINAL)
		return VM_PLAYABLE_KEPT;
	if (format != VM_PLAYABLE_AUTO && format != VM_PLAYABLE_WAV && format != VM_PLAYABLE_MP3) {
		snprintf(err, errsz, "unknown playable format %d", format);
		return VM_WAV_UNSUPPORTED;
	}
	vm_wav w;
	/* Auto: a PCM WAV stays as it is, known from its header alone. */
	if (format == VM_PLAYABLE_AUTO && vm_wav_probe(data, len, len, &w, NULL, 0) == VM_WAV_OK &&
	    !telephone_codec(&w))
		return VM_PLAYABLE_KEPT;
	/* At the file's own rate: nothing is resampled that need not be. */
	int rc = vm_wav_decode_rate(data, len, 0, &w, err, errsz);
	if (rc != VM_WAV_OK) {
		/* Auto: what the host cannot read (an MP3, an Ogg file) is played as it is. */
		if (format == VM_PLAYABLE_AUTO && (rc == VM_WAV_NOT_WAV || rc == VM_WAV_UNSUPPORTED))
			return VM_PLAYABLE_KEPT;
		return rc;
	}
	if (format == VM_PLAYABLE_AUTO && !telephone_codec(&w)) {
		vm_wav_free(&w);
		return VM_PLAYABLE_KEPT;
	}
	unsigned char *bytes;
	size_t n;
	if (format == VM_PLAYABLE_WAV) {
		bytes = vm_wav_write(w.samples, w.nsamples, w.rate, &n);
		if (!bytes)
			snprintf(err, errsz, "out of memory for a WAV of %zu samples", w.nsamples);
		*content_type = "audio/wav";
	} else {
		int16_t *s = w.samples;
		size_t ns = w.nsamples;
		unsigned rate = w.rate;
		if (rate > MP3_MAX_RATE) {
			s = wav_resample(w.samples, w.nsamples, w.rate, MP3_MAX_RATE, &ns);
			rate = MP3_MAX_RATE;
		}
		bytes = s ? mp3_encode(s, ns, rate, mp3_speech_kbps(rate), &n, err, errsz) : NULL;
		if (!s)
			snprintf(err, errsz, "out of memory resampling %zu samples", w.nsamples);
		if (s != w.samples)
			free(s);
		*content_type = "audio/mpeg";
	}
	vm_wav_free(&w);
	if (!bytes) {
		*content_type = NULL;
		return VM_WAV_NOMEM;
	}
	out->data = bytes;
	out->len = n;
	return 0;
}
