/* Joining and probing a PBX mail's audio parts; see pbxaudio.h. */
#include "pbxaudio.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <vmpipe/vmpipe.h>

#include "read.h"

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

/* s made plain for a file name: [A-Za-z0-9._-], others '_'. */
static void plain(const char *s, char *out, size_t size)
{
	size_t n = 0;
	for (; s && *s && n + 1 < size; s++) {
		unsigned char c = (unsigned char)*s;
		out[n++] = isalnum(c) || c == '.' || c == '-' ? (char)c : '_';
	}
	out[n] = '\0';
}

static bool is_audio(const char *type, const char *name)
{
	if (strncmp(type, "audio/", 6) == 0 || strcmp(type, "application/ogg") == 0)
		return true;
	return strcmp(type, "application/octet-stream") == 0 && name && vm_audio_type(name);
}

/* The extension a file of this media type gets when the mail names none. */
static const char *ext_for(const char *type)
{
	static const struct { const char *type, *ext; } t[] = {
		{"audio/x-gsm", "gsm"}, {"audio/gsm", "gsm"}, {"audio/mpeg", "mp3"},
		{"audio/ogg", "ogg"},   {"application/ogg", "ogg"}, {"audio/flac", "flac"},
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++)
		if (strcmp(type, t[i].type) == 0)
			return t[i].ext;
	return "wav";
}

/* One audio part, transfer-decoded, into `ap`.  -1 with err when it does not decode. */
static int take_audio(const mr_part *part, const char *type, struct pbxaudio_part *ap, char *err,
		      size_t errsize)
{
	const char *cd = mr_get(&part->headers, "Content-Disposition");
	char *name = mr_param(cd, "filename");
	if (!name)
		name = mr_param(mr_get(&part->headers, "Content-Type"), "name");
	char *dname = name ? mr_decode_words(name) : NULL;
	free(name);
	const char *base = dname ? dname : "";
	const char *slash = strrchr(base, '/');
	if (slash)
		base = slash + 1;
	slash = strrchr(base, '\\');
	if (slash)
		base = slash + 1;
	while (*base == '.')
		base++;
	char pn[64];
	plain(base, pn, sizeof pn);
	if (pn[0])
		snprintf(ap->name, sizeof ap->name, "%s", pn);
	else
		snprintf(ap->name, sizeof ap->name, "voicemail.%s", ext_for(type));
	free(dname);

	/* No Content-Transfer-Encoding: 7bit, the bytes as they are. */
	const char *enc = mr_get(&part->headers, "Content-Transfer-Encoding");
	char low[32];
	size_t k = 0;
	for (const char *c = enc ? enc : "binary"; *c && *c != ';' && *c != ' ' && k + 1 < sizeof low; c++)
		low[k++] = (char)tolower((unsigned char)*c);
	low[k] = '\0';
	if (strcmp(low, "base64") == 0) {
		ap->data = mr_base64(part->body, part->len, &ap->len);
		if (!ap->data) {
			snprintf(err, errsize, "the audio attachment %s is not valid base64", ap->name);
			return -1;
		}
	} else if (strcmp(low, "binary") == 0 || strcmp(low, "8bit") == 0 || strcmp(low, "7bit") == 0) {
		ap->data = malloc(part->len ? part->len : 1);
		if (!ap->data) {
			snprintf(err, errsize, "out of memory");
			return -1;
		}
		memcpy(ap->data, part->body, part->len);
		ap->len = part->len;
	} else {
		snprintf(err, errsize, "the audio attachment %s is in transfer encoding '%.30s' (base64 expected)",
			 ap->name, low);
		return -1;
	}
	if (ap->len == 0) {
		snprintf(err, errsize, "the audio attachment %s is empty", ap->name);
		return -1;
	}
	return 0;
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

int pbxaudio_collect(const mr_parts *parts, struct pbxaudio *out, char *err, size_t errsize)
{
	struct pbxaudio_part ap[PBXAUDIO_MAX_PARTS];
	size_t n = 0, seen = 0;
	int rc = -1;
	memset(ap, 0, sizeof ap);
	memset(out, 0, sizeof *out);
	char type[128];
	for (size_t i = 0; i < parts->n; i++) {
		const mr_headers *h = &parts->v[i].headers;
		mr_media_type(mr_get(h, "Content-Type"), type, sizeof type);
		char *name = mr_param(mr_get(h, "Content-Disposition"), "filename");
		if (!name)
			name = mr_param(mr_get(h, "Content-Type"), "name");
		bool audio = is_audio(type, name);
		free(name);
		seen += (size_t)snprintf(out->seen + seen, seen < sizeof out->seen ? sizeof out->seen - seen : 0,
					 "%s%s", i ? ", " : "", type);
		if (seen >= sizeof out->seen)
			seen = sizeof out->seen; /* cut: the list is for a log line */
		if (!audio)
			continue;
		if (n == PBXAUDIO_MAX_PARTS) {
			snprintf(err, errsize, "more than %d audio attachments", PBXAUDIO_MAX_PARTS);
			goto done;
		}
		if (take_audio(&parts->v[i], type, &ap[n], err, errsize) != 0)
			goto done;
		if (!n++)
			snprintf(out->type, sizeof out->type, "%s", type);
	}
	out->parts = (int)n;
	if (n == 1) {
		out->data = ap[0].data;
		out->len = ap[0].len;
		ap[0].data = NULL;
		snprintf(out->name, sizeof out->name, "%s", ap[0].name);
	} else if (n > 1) {
		char why[300];
		if (pbxaudio_join(ap, n, &out->data, &out->len, why, sizeof why) != 0) {
			snprintf(err, errsize, "%zu audio attachments that cannot be joined: %s", n, why);
			goto done;
		}
		/* "msg0003.WAV" + "msgintro0003.WAV" -> "msg0003-with-intro.wav" */
		const char *main = ap[0].name;
		for (size_t i = 0; i < n; i++)
			if (!is_intro(ap[i].name)) {
				main = ap[i].name;
				break;
			}
		const char *dot = strrchr(main, '.');
		snprintf(out->name, sizeof out->name, "%.*s-with-intro.wav",
			 (int)(dot ? dot - main : (ptrdiff_t)strlen(main)), main);
		snprintf(out->type, sizeof out->type, "audio/wav");
	}
	rc = 0;
done:
	for (size_t i = 0; i < PBXAUDIO_MAX_PARTS; i++)
		free(ap[i].data);
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
