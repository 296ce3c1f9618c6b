/* The upload: the recording as it is or converted; see audio.h. */
#include "audio.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmpipe/vmpipe.h>

#define WAV_HEADER 44

/* "12.3 MB" / "512 KB" / "100 bytes": sizes in messages. */
static const char *size_text(size_t n, char *buf, size_t size)
{
	if (n >= 1024 * 1024)
		snprintf(buf, size, "%.1f MB", (double)n / (1024.0 * 1024.0));
	else if (n >= 1024)
		snprintf(buf, size, "%.0f KB", (double)n / 1024.0);
	else
		snprintf(buf, size, "%zu bytes", n);
	return buf;
}

/* The last path segment of a URI or path, without a query, in characters
 * that need no quoting in a form's filename="…" (others become '_'). */
static void base_name(const char *name, char *buf, size_t size)
{
	const char *slash = strrchr(name, '/');
	const char *b = slash ? slash + 1 : name;
	size_t n = strcspn(b, "?#");
	if (n == 0)
		b = "recording", n = 9;
	snprintf(buf, size, "%.*s", (int)n, b);
	for (char *p = buf; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			*p = '_';
}

static const char *format_name(const vm_wav *w, char *buf, size_t size)
{
	switch (w->src_format) {
	case 3: snprintf(buf, size, "32-bit float WAV"); break;
	case 6: snprintf(buf, size, "A-law WAV"); break;
	case 7: snprintf(buf, size, "mu-law WAV"); break;
	case 1: snprintf(buf, size, "%u-bit PCM WAV", w->src_bits); break;
	default: snprintf(buf, size, "WAV format %u", w->src_format); break;
	}
	return buf;
}

/* The recording's file name with `ext` in place of its own extension. */
static void named(const char *name, const char *ext, char *buf, size_t size)
{
	char base[120];
	base_name(name, base, sizeof base);
	char *dot = strrchr(base, '.');
	if (dot && dot != base)
		*dot = '\0';
	snprintf(buf, size, "%s%s", base, ext);
}

static int as_it_is(const unsigned char *rec, size_t len, const char *name, bool wav,
		    struct wh_upload *out)
{
	out->data = rec;
	out->len = len;
	/* Servers tell formats by the extension (OpenAI refuses a name without
	 * one): a WAV is called .wav whatever its key or path says. */
	if (wav)
		named(name, ".wav", out->filename, sizeof out->filename);
	else
		base_name(name, out->filename, sizeof out->filename);
	out->content_type = vm_audio_type(out->filename);
	if (!out->content_type)
		out->content_type = "application/octet-stream";
	return WH_AUDIO_OK;
}

/* The 16 kHz WAV made of `w` (freed here) is what goes; `why` (or out->why
 * when NULL) says why. */
static int converted(vm_wav *w, const char *name, const char *why, const struct wh_audio_opts *o,
		     struct wh_upload *out, char *err, size_t errsz)
{
	char a[32], b[32];
	if (why)
		snprintf(out->why, sizeof out->why, "%s", why);
	out->is_wav = true;
	out->duration = w->duration;
	out->claimed_duration = w->claimed_duration;
	out->truncated = w->truncated;
	out->owned = vm_wav_write(w->samples, w->nsamples, w->rate, &out->len);
	size_t nsamples = w->nsamples;
	vm_wav_free(w);
	if (!out->owned) {
		snprintf(err, errsz, "out of memory for %zu samples", nsamples);
		return WH_AUDIO_NOMEM;
	}
	if (out->len > o->max_upload) {
		snprintf(err, errsz, "%.0f s of audio are %s as a 16 kHz mono WAV, more than "
			 "max_upload (%s)", out->duration, size_text(out->len, a, sizeof a),
			 size_text(o->max_upload, b, sizeof b));
		wh_upload_free(out);
		return WH_AUDIO_TOO_LARGE;
	}
	out->data = out->owned;
	out->converted = true;
	out->content_type = "audio/wav";
	named(name, ".wav", out->filename, sizeof out->filename);
	return WH_AUDIO_OK;
}

int wh_audio_prepare(const unsigned char *rec, size_t len, const char *name,
                     const struct wh_audio_opts *o, struct wh_upload *out, char *err, size_t errsz)
{
	char a[32], b[32], fmt[48];
	memset(out, 0, sizeof *out);
	out->duration = out->claimed_duration = -1;
	bool riff = len >= 12 && memcmp(rec, "RIFF", 4) == 0 && memcmp(rec + 8, "WAVE", 4) == 0;
	if (!riff) {
		/* Raw GSM 6.10 (Asterisk's format=gsm) is no format any server takes
		 * (OpenAI's list: flac, m4a, mp3, mp4, mpeg, mpga, oga, ogg, wav,
		 * webm): the host decodes it, capped at what fits max_upload as a
		 * 16 kHz WAV, a cap checked from the length before decoding. */
		vm_wav g;
		char gerr[200];
		double fits = (double)(o->max_upload - WAV_HEADER) / (VM_WAV_RATE * 2.0);
		int grc = vm_wav_decode_limits(rec, len, VM_WAV_RATE, fits, 0, &g, gerr, sizeof gerr);
		if (grc == VM_WAV_OK)
			return converted(&g, name, "raw GSM 6.10", o, out, err, errsz);
		if (grc == VM_WAV_TOO_LONG) {
			snprintf(err, errsz, "the recording is raw GSM 6.10, which is converted, and too "
				 "long for max_upload (%s) as a 16 kHz mono WAV: %s",
				 size_text(o->max_upload, b, sizeof b), gerr);
			return WH_AUDIO_TOO_LARGE;
		}
		if (grc == VM_WAV_NOMEM) {
			snprintf(err, errsz, "out of memory decoding the recording: %s", gerr);
			return WH_AUDIO_NOMEM;
		}
		/* The server decodes it; the host's reader cannot, so it goes as it is. */
		if (len > o->max_upload) {
			snprintf(err, errsz, "the recording is %s, more than max_upload (%s), and only "
				 "WAV recordings can be converted", size_text(len, a, sizeof a),
				 size_text(o->max_upload, b, sizeof b));
			return WH_AUDIO_TOO_LARGE;
		}
		out->channel_ignored = o->channel >= 0;
		return as_it_is(rec, len, name, false, out);
	}

	/* What the header says decides, before anything is decoded: a file that
	 * goes as it is is never decoded, and one whose conversion would not fit
	 * max_upload (or any cap of the decoder) is refused at the cost of its
	 * header. */
	vm_wav h;
	char werr[200];
	int rc = vm_wav_probe(rec, len, len, &h, werr, sizeof werr);
	if (rc == VM_WAV_UNSUPPORTED && len <= o->max_upload) {
		/* A codec the host does not decode (ADPCM): a server with ffmpeg
		 * (OpenAI, LocalAI) may; its answer will tell. */
		snprintf(out->why, sizeof out->why, "%s", werr);
		out->undecoded = true;
		out->channel_ignored = o->channel >= 0;
		return as_it_is(rec, len, name, true, out);
	}
	if (rc != VM_WAV_OK) {
		snprintf(err, errsz, "the recording is a WAV file the host cannot read (%s)%s", werr,
			 rc == VM_WAV_UNSUPPORTED ? " and larger than max_upload" : "");
		return WH_AUDIO_BAD;
	}
	out->is_wav = true;
	out->duration = h.duration;
	out->claimed_duration = h.claimed_duration;
	out->truncated = h.truncated;
	bool plain = h.src_format == 1 && h.src_bits == 16 && !h.truncated;
	bool one_channel = o->channel >= 0 && h.src_channels > 1;
	if (!o->always_convert && plain && !one_channel && len <= o->max_upload)
		return as_it_is(rec, len, name, true, out);

	size_t conv_len = WAV_HEADER + (size_t)((uint64_t)h.nsamples * VM_WAV_RATE / h.rate) * 2;
	if (conv_len > o->max_upload) {
		snprintf(err, errsz, "%.0f s of audio are %s as a 16 kHz mono WAV, more than "
			 "max_upload (%s)", h.duration, size_text(conv_len, a, sizeof a),
			 size_text(o->max_upload, b, sizeof b));
		return WH_AUDIO_TOO_LARGE;
	}
	vm_wav w;
	rc = vm_wav_decode_channel(rec, len, VM_WAV_RATE, one_channel ? o->channel : -1, &w, werr,
				   sizeof werr);
	if (rc == VM_WAV_NOMEM) {
		snprintf(err, errsz, "out of memory decoding the recording: %s", werr);
		return WH_AUDIO_NOMEM;
	}
	if (rc == VM_WAV_TOO_LONG) {
		snprintf(err, errsz, "the recording is too long to convert: %s", werr);
		return WH_AUDIO_TOO_LARGE;
	}
	if (rc == VM_WAV_UNSUPPORTED && len <= o->max_upload) {
		/* A channel the file does not have: the server gets it all. */
		snprintf(out->why, sizeof out->why, "%s", werr);
		out->undecoded = true;
		out->channel_ignored = o->channel >= 0;
		return as_it_is(rec, len, name, true, out);
	}
	if (rc != VM_WAV_OK) {
		snprintf(err, errsz, "the recording is a WAV file the host cannot read (%s)", werr);
		return WH_AUDIO_BAD;
	}

	if (o->always_convert)
		snprintf(out->why, sizeof out->why, "convert = always");
	else if (!plain)
		snprintf(out->why, sizeof out->why, "%s%s", w.truncated ? "cut short " : "",
			 format_name(&w, fmt, sizeof fmt));
	else if (one_channel)
		snprintf(out->why, sizeof out->why, "channel %d of %u only", o->channel + 1,
			 w.src_channels);
	else
		snprintf(out->why, sizeof out->why, "%s is more than max_upload",
			 size_text(len, a, sizeof a));
	return converted(&w, name, NULL, o, out, err, errsz);
}

void wh_upload_free(struct wh_upload *up)
{
	free(up->owned);
	up->owned = NULL;
	up->data = NULL;
	up->len = 0;
}
