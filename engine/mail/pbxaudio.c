/* Joining and probing a PBX mail's audio parts; see pbxaudio.h. */
#include "pbxaudio.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <vmpipe/vmpipe.h>

static void le16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void le32(unsigned char *p, uint32_t v)
{
	le16(p, v & 0xFFFF);
	le16(p + 2, v >> 16);
}

static bool is_intro(const char *name)
{
	return strncasecmp(name, "msgintro", 8) == 0;
}

int pbxaudio_join(const struct pbxaudio_part *parts, size_t n, unsigned char **out, size_t *outlen,
		  char *err, size_t errsize)
{
	size_t order[PBXAUDIO_MAX_PARTS], k = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n && k < PBXAUDIO_MAX_PARTS; i++)
			if (is_intro(parts[i].name) == (pass == 0))
				order[k++] = i;
	vm_wav w[PBXAUDIO_MAX_PARTS];
	memset(w, 0, sizeof w);
	unsigned rate = 0;
	size_t total = 0;
	int rc = -1;
	for (size_t j = 0; j < k; j++) {
		char e[200];
		const struct pbxaudio_part *p = &parts[order[j]];
		if (vm_wav_decode_rate(p->data, p->len, rate, &w[j], e, sizeof e) != VM_WAV_OK) {
			snprintf(err, errsize, "%s does not decode: %s", p->name, e);
			goto done;
		}
		if (!rate)
			rate = w[j].rate;
		total += w[j].nsamples;
	}
	if (total > (UINT32_MAX - 44) / 2) {
		snprintf(err, errsize, "the joined recording would be too long");
		goto done;
	}
	size_t bytes = 44 + total * 2;
	unsigned char *b = malloc(bytes);
	if (!b) {
		snprintf(err, errsize, "out of memory");
		goto done;
	}
	memcpy(b, "RIFF", 4);
	le32(b + 4, (uint32_t)(bytes - 8));
	memcpy(b + 8, "WAVEfmt ", 8);
	le32(b + 16, 16);
	le16(b + 20, 1);               /* PCM */
	le16(b + 22, 1);               /* mono */
	le32(b + 24, rate);
	le32(b + 28, rate * 2);
	le16(b + 32, 2);
	le16(b + 34, 16);
	memcpy(b + 36, "data", 4);
	le32(b + 40, (uint32_t)(total * 2));
	unsigned char *o = b + 44;
	for (size_t j = 0; j < k; j++)
		for (size_t i = 0; i < w[j].nsamples; i++, o += 2)
			le16(o, (unsigned)(uint16_t)w[j].samples[i]);
	*out = b;
	*outlen = bytes;
	rc = 0;
done:
	for (size_t j = 0; j < k; j++)
		vm_wav_free(&w[j]);
	return rc;
}

bool pbxaudio_probe(const unsigned char *data, size_t len, double *received, double *recorded,
		    bool *cut)
{
	vm_wav w;
	char e[200];
	if (vm_wav_probe(data, len, 0, &w, e, sizeof e) != VM_WAV_OK)
		return false;
	*received = w.duration;
	*recorded = w.truncated ? w.claimed_duration : w.duration;
	*cut = w.truncated;
	vm_wav_free(&w);
	return true;
}
