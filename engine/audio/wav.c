/*
 * WAV reader: RIFF/WAVE parsing, G.711 expansion, channel mixdown and
 * resampling to the one rate speech engines want.
 *
 * Recordings come from PBXs and Amazon Connect, so the parser is lenient
 * where real writers are sloppy (RIFF size, chunks after "data", a data size
 * of 0xFFFFFFFF from streaming writers, a file cut short) and strict where a
 * wrong guess would turn speech into noise (format, block alignment).
 */
#include "wav.h"
#include "gsm.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/util.h" /* format_duration() */

enum {
	FMT_PCM = 1,
	FMT_FLOAT = 3,
	FMT_ALAW = 6,
	FMT_MULAW = 7,
	FMT_EXTENSIBLE = 0xFFFE,
	MAX_CHANNELS = 8,
	/* Below 4 kHz nothing is speech any model understands, and a low rate
	 * only amplifies: 1 kHz 8-bit upsampled to 16 kHz is 32 bytes out per
	 * byte in.  Above 192 kHz is no recorder's rate. */
	MIN_RATE = 4000,
	MAX_RATE = 192000,
};

/* The deadline is looked at every this many samples (a few ms of work). */
#define CHECK_EVERY 65536
/* What one decode may allocate (mono at the file's rate, the output, the filter). */
#define DECODE_MEM_MAX (256u << 20)

struct wav_fmt {
	unsigned format, channels, rate, block, bits;
	bool seen;
};

/* Where the audio is, once the chunks are walked. */
struct wav_data {
	size_t off, len;     /* bytes present */
	uint32_t claimed;    /* data chunk size as written */
	bool truncated;
};

static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int fail(int code, char *err, size_t errsz, const char *fmt, ...) VM_PRINTF(4, 5);

static int fail(int code, char *err, size_t errsz, const char *fmt, ...)
{
	if (err && errsz) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* A chunk id or magic as printable text: "ID3\x04". buf >= 17 bytes. */
static const char *fourcc(const unsigned char *p, size_t n, char *buf, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < n && i < 4 && o + 5 < size; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
			buf[o++] = (char)p[i];
		else
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", p[i]);
	}
	buf[o] = '\0';
	return buf;
}

static const char *codec_name(unsigned tag)
{
	switch (tag) {
	case 0x0002: return "Microsoft ADPCM";
	case 0x0011: return "IMA ADPCM";
	case 0x0031: return "GSM 6.10";
	case 0x0040: return "G.721 ADPCM";
	case 0x0050: return "MPEG";
	case 0x0055: return "MPEG Layer 3";
	case 0x00ff: return "AAC";
	default: return "unknown codec";
	}
}

/* The KSDATAFORMAT_SUBTYPE_* GUID after its first two bytes (the format tag). */
static const unsigned char ks_guid_tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                                0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71};

static int parse_fmt(const unsigned char *p, uint32_t size, struct wav_fmt *f, char *err,
                     size_t errsz)
{
	if (size < 16)
		return fail(VM_WAV_CORRUPT, err, errsz, "fmt chunk of %u bytes, expected at least 16",
		            size);
	f->format = le16(p);
	f->channels = le16(p + 2);
	f->rate = le32(p + 4);
	f->block = le16(p + 12);
	f->bits = le16(p + 14);
	if (f->format == FMT_EXTENSIBLE) {
		if (size < 40 || le16(p + 16) < 22)
			return fail(VM_WAV_CORRUPT, err, errsz,
			            "WAVE_FORMAT_EXTENSIBLE fmt chunk of %u bytes, expected 40", size);
		if (memcmp(p + 26, ks_guid_tail, sizeof ks_guid_tail) != 0)
			return fail(VM_WAV_UNSUPPORTED, err, errsz,
			            "WAVE_FORMAT_EXTENSIBLE with a non-standard sub-format GUID");
		f->format = le16(p + 24);
	}
	f->seen = true;

	if (f->channels < 1 || f->channels > MAX_CHANNELS)
		return fail(VM_WAV_UNSUPPORTED, err, errsz, "%u channels (1 to %d supported)",
		            f->channels, MAX_CHANNELS);
	if (f->rate < MIN_RATE || f->rate > MAX_RATE)
		return fail(VM_WAV_UNSUPPORTED, err, errsz, "sample rate %u Hz (%d to %d supported)",
		            f->rate, MIN_RATE, MAX_RATE);
	bool ok;
	switch (f->format) {
	case FMT_PCM: ok = f->bits == 8 || f->bits == 16 || f->bits == 24 || f->bits == 32; break;
	case FMT_FLOAT: ok = f->bits == 32; break;
	case FMT_ALAW:
	case FMT_MULAW: ok = f->bits == 8; break;
	case GSM_WAV_FORMAT: /* Asterisk's wav49: gsm.c checks and decodes it */
		return gsm_wav_check(f->channels, f->block, p + 16, size - 16, err, errsz) == 0
			       ? VM_WAV_OK
			       : VM_WAV_UNSUPPORTED;
	default:
		return fail(VM_WAV_UNSUPPORTED, err, errsz, "format tag 0x%04x, %s", f->format,
		            codec_name(f->format));
	}
	if (!ok)
		return fail(VM_WAV_UNSUPPORTED, err, errsz, "%u-bit samples in format %u", f->bits,
		            f->format);
	if (f->block != f->channels * (f->bits / 8))
		return fail(VM_WAV_CORRUPT, err, errsz,
		            "block align %u does not fit %u channel(s) of %u bits", f->block,
		            f->channels, f->bits);
	return VM_WAV_OK;
}

/* Walk the chunks up to "data". */
static int parse(const unsigned char *d, size_t len, struct wav_fmt *f, struct wav_data *w,
                 char *err, size_t errsz)
{
	char id[24];
	if (len < 12)
		return fail(VM_WAV_NOT_WAV, err, errsz, "only %zu bytes", len);
	if (memcmp(d, "RF64", 4) == 0)
		return fail(VM_WAV_UNSUPPORTED, err, errsz, "RF64 (64-bit WAV) container");
	if (memcmp(d, "RIFF", 4) != 0)
		return fail(VM_WAV_NOT_WAV, err, errsz, "no RIFF header: starts with \"%s\"",
		            fourcc(d, 4, id, sizeof id));
	if (memcmp(d + 8, "WAVE", 4) != 0)
		return fail(VM_WAV_NOT_WAV, err, errsz, "a RIFF file of type \"%s\", not WAVE",
		            fourcc(d + 8, 4, id, sizeof id));

	size_t pos = 12;
	while (len - pos >= 8) {
		const unsigned char *hdr = d + pos;
		uint32_t size = le32(hdr + 4);
		size_t body = pos + 8, avail = len - body;

		if (memcmp(hdr, "data", 4) == 0) {
			if (!f->seen)
				return fail(VM_WAV_CORRUPT, err, errsz, "data chunk before the fmt chunk");
			w->off = body;
			w->claimed = size;
			/* 0xFFFFFFFF: a streaming writer that never came back to fill it in. */
			if (size == UINT32_MAX || size > avail) {
				w->len = avail;
				w->truncated = size != UINT32_MAX;
			} else {
				w->len = size;
			}
			return VM_WAV_OK;
		}
		if (size > avail)
			return fail(VM_WAV_CORRUPT, err, errsz,
			            "file ends inside the \"%s\" chunk, before any audio",
			            fourcc(hdr, 4, id, sizeof id));
		if (memcmp(hdr, "fmt ", 4) == 0) {
			int rc = parse_fmt(d + body, size, f, err, errsz);
			if (rc != VM_WAV_OK)
				return rc;
		}
		/* Chunks are padded to an even length. */
		pos = body + size + (size & 1u);
		if (pos > len)
			pos = len;
	}
	if (!f->seen)
		return fail(VM_WAV_CORRUPT, err, errsz, "no fmt chunk");
	return fail(VM_WAV_CORRUPT, err, errsz, "no data chunk");
}

int16_t wav_ulaw(uint8_t u)
{
	u = (uint8_t)~u;
	int exponent = (u >> 4) & 7, mantissa = u & 0x0f;
	int s = (((mantissa << 3) + 0x84) << exponent) - 0x84;
	return (int16_t)((u & 0x80) ? -s : s);
}

int16_t wav_alaw(uint8_t a)
{
	a ^= 0x55;
	int seg = (a & 0x70) >> 4;
	int t = (a & 0x0f) << 4;
	if (seg == 0)
		t += 8;
	else if (seg == 1)
		t += 0x108;
	else
		t = (t + 0x108) << (seg - 1);
	return (int16_t)((a & 0x80) ? t : -t);
}

/* One sample of channel data as a 16-bit-scale value. */
static double sample_at(const unsigned char *p, const struct wav_fmt *f)
{
	switch (f->format) {
	case FMT_ALAW: return wav_alaw(p[0]);
	case FMT_MULAW: return wav_ulaw(p[0]);
	case FMT_FLOAT: {
		uint32_t u = le32(p);
		float v;
		memcpy(&v, &u, sizeof v);
		return isfinite(v) ? (double)v * 32768.0 : 0.0;
	}
	default: break;
	}
	switch (f->bits) {
	case 8: return ((int)p[0] - 128) * 256.0; /* 8-bit PCM is unsigned */
	case 16: return (int16_t)le16(p);
	case 24: return (int32_t)((uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 |
		                  (uint32_t)p[2] << 24) / 65536.0;
	default: return (int32_t)le32(p) / 65536.0;
	}
}

static int16_t clamp16(double v)
{
	if (v >= 32767.0)
		return 32767;
	if (v <= -32768.0)
		return -32768;
	return (int16_t)lrint(v);
}

/* Has the clock reached `deadline_ms` (0: no deadline)? */
static bool past(int64_t deadline_ms)
{
	return deadline_ms > 0 && clock_now_ms() >= deadline_ms;
}

/* Average the channels of each frame into one 16-bit sample, or (channel >= 0)
 * take that channel alone.  NULL when out of memory or (*stopped) the deadline
 * passed. */
static int16_t *mixdown(const unsigned char *p, size_t frames, const struct wav_fmt *f,
                        int channel, int64_t deadline_ms, bool *stopped)
{
	int16_t *out = malloc((frames ? frames : 1) * sizeof *out);
	if (!out)
		return NULL;
	unsigned width = f->bits / 8;
	for (size_t i = 0; i < frames; i++, p += f->block) {
		if (i % CHECK_EVERY == CHECK_EVERY - 1 && past(deadline_ms)) {
			free(out);
			*stopped = true;
			return NULL;
		}
		if (channel >= 0) {
			out[i] = clamp16(sample_at(p + (size_t)channel * width, f));
			continue;
		}
		double sum = 0;
		for (unsigned c = 0; c < f->channels; c++)
			sum += sample_at(p + (size_t)c * width, f);
		out[i] = clamp16(sum / f->channels);
	}
	return out;
}

/* ---------------------------------------------------------- resampling */

enum { ZERO_CROSSINGS = 16, MAX_PHASES = 512 };
#define KAISER_BETA 8.6   /* ~ -90 dB stop band */
#define CUTOFF 0.95       /* of the lower Nyquist frequency: room for the transition band */

static unsigned gcd(unsigned a, unsigned b)
{
	while (b) {
		unsigned t = a % b;
		a = b;
		b = t;
	}
	return a;
}

static double bessel_i0(double x)
{
	double sum = 1, term = 1;
	for (int k = 1; k < 64 && term > 1e-12 * sum; k++) {
		term *= (x / (2.0 * k)) * (x / (2.0 * k));
		sum += term;
	}
	return sum;
}

/* Filter rows for `phases` fractional positions, `taps` each, DC gain 1. */
static float *kernel(unsigned phases, int k, double rho, double half)
{
	int taps = 2 * k;
	float *tab = malloc((size_t)phases * (size_t)taps * sizeof *tab);
	if (!tab)
		return NULL;
	double i0b = bessel_i0(KAISER_BETA);
	for (unsigned p = 0; p < phases; p++) {
		double frac = (double)p / phases, sum = 0;
		float *row = tab + (size_t)p * (size_t)taps;
		for (int j = 0; j < taps; j++) {
			double t = (j - k + 1) - frac, h = 0;
			if (fabs(t) < half) {
				double x = M_PI * rho * t, r = t / half;
				h = rho * (x == 0 ? 1.0 : sin(x) / x) *
				    bessel_i0(KAISER_BETA * sqrt(1 - r * r)) / i0b;
			}
			row[j] = (float)h;
			sum += h;
		}
		for (int j = 0; j < taps; j++)
			row[j] = (float)(row[j] / sum);
	}
	return tab;
}

static int16_t *resample_until(const int16_t *in, size_t n, unsigned from, unsigned to,
                               size_t *outn, int64_t deadline_ms, bool *stopped);

int16_t *wav_resample(const int16_t *in, size_t n, unsigned from, unsigned to, size_t *outn)
{
	bool stopped = false;
	return resample_until(in, n, from, to, outn, 0, &stopped);
}

/* Output samples of resampling n from `from` to `to` Hz. */
static size_t resampled_len(size_t n, unsigned from, unsigned to)
{
	unsigned g = gcd(from, to);
	return (size_t)((uint64_t)n * (to / g) / (from / g));
}

static int16_t *resample_until(const int16_t *in, size_t n, unsigned from, unsigned to,
                               size_t *outn, int64_t deadline_ms, bool *stopped)
{
	*outn = 0;
	if (!from || !to)
		return NULL;
	unsigned g = gcd(from, to), up = to / g, down = from / g;
	size_t m = (size_t)((uint64_t)n * up / down);
	int16_t *out = malloc((m ? m : 1) * sizeof *out);
	if (!out)
		return NULL;
	if (from == to) {
		if (n)
			memcpy(out, in, n * sizeof *in);
		*outn = n;
		return out;
	}
	double rho = (to < from ? (double)to / from : 1.0) * CUTOFF;
	double half = ZERO_CROSSINGS / rho;
	int k = (int)ceil(half);
	unsigned phases = up < MAX_PHASES ? up : MAX_PHASES;
	float *tab = kernel(phases, k, rho, half);
	if (!tab) {
		free(out);
		return NULL;
	}
	for (size_t i = 0; i < m; i++) {
		if (i % CHECK_EVERY == CHECK_EVERY - 1 && past(deadline_ms)) {
			free(tab);
			free(out);
			*stopped = true;
			return NULL;
		}
		uint64_t num = (uint64_t)i * down;
		size_t ip = (size_t)(num / up);
		unsigned p = (unsigned)((num % up) * phases / up);
		const float *row = tab + (size_t)p * (size_t)(2 * k);
		double acc = 0;
		/* row[j] weighs input ip + j - k + 1; the signal is zero outside [0, n). */
		long long first = (long long)ip - k + 1, j0 = 0, j1 = 2 * k;
		if (first < 0)
			j0 = -first;
		if (first + j1 > (long long)n)
			j1 = (long long)n - first;
		for (long long j = j0; j < j1; j++)
			acc += row[j] * in[first + j];
		out[i] = clamp16(acc);
	}
	free(tab);
	*outn = m;
	return out;
}

/* ------------------------------------------------------------ host API */

/*
 * Before anything is allocated: the audio must fit `max_seconds`, and what
 * decoding it takes (mono at the file's rate, the output) DECODE_MEM_MAX.
 */
static int check_size(const struct wav_fmt *f, size_t frames, unsigned rate, double max_seconds,
                      char *err, size_t errsz)
{
	double seconds = (double)frames / f->rate;
	if (seconds > max_seconds) {
		char have[32], limit[32];
		format_duration(seconds, have, sizeof have);
		format_duration(max_seconds, limit, sizeof limit);
		return fail(VM_WAV_TOO_LONG, err, errsz, "%s of audio; at most %s is decoded", have,
		            limit);
	}
	size_t m = rate && rate != f->rate ? resampled_len(frames, f->rate, rate) : 0;
	double bytes = ((double)frames + (double)m) * sizeof(int16_t);
	if (bytes > DECODE_MEM_MAX)
		return fail(VM_WAV_TOO_LONG, err, errsz, "decoding would take %.0f MiB; at most %u",
		            bytes / (1 << 20), DECODE_MEM_MAX >> 20);
	return VM_WAV_OK;
}

/*
 * Every decode comes here, the mixdown and one channel alike, so that every
 * one goes through the same caps (duration, memory, deadline) before anything
 * is allocated.  channel < 0: all channels averaged; a mono file's one
 * channel is the one asked for, whatever its number.
 */
static int decode(const unsigned char *data, size_t len, unsigned rate, int channel,
                  double max_seconds, int64_t deadline_ms, vm_wav *out, char *err, size_t errsz)
{
	struct wav_fmt f = {0};
	struct wav_data w = {0};
	memset(out, 0, sizeof *out);
	if (err && errsz)
		err[0] = '\0';
	if (!data)
		len = 0;
	if (!(max_seconds > 0) || max_seconds > VM_WAV_MAX_SECONDS)
		max_seconds = VM_WAV_MAX_SECONDS;
	/* GSM 6.10 (gsm.c): a raw .gsm file has no header; a WAV49 block holds
	 * 320 samples.  `spb`: samples per block of the file. */
	bool raw_gsm = len >= 4 && memcmp(data, "RIFF", 4) != 0 && gsm_raw_probe(data, len);
	int rc;
	if (raw_gsm) {
		f = (struct wav_fmt){GSM_WAV_FORMAT, 1, GSM_RATE, GSM_RAW_FRAME, 0, true};
		w = (struct wav_data){0, len, (uint32_t)(len < UINT32_MAX ? len : UINT32_MAX), false};
	} else if ((rc = parse(data, len, &f, &w, err, errsz)) != VM_WAV_OK) {
		return rc;
	}
	if (f.channels == 1)
		channel = -1;
	else if (channel >= 0 && (unsigned)channel >= f.channels)
		return fail(VM_WAV_UNSUPPORTED, err, errsz, "channel %d asked of a %u-channel file",
		            channel + 1, f.channels);
	size_t spb = f.format == GSM_WAV_FORMAT ? (raw_gsm ? GSM_RAW_SAMPLES : GSM_WAV_SAMPLES) : 1;
	size_t frames = w.len / f.block * spb;
	if ((rc = check_size(&f, frames, rate, max_seconds, err, errsz)) != VM_WAV_OK)
		return rc;
	bool stopped = past(deadline_ms);
	int16_t *mono = NULL;
	if (!stopped && f.format == GSM_WAV_FORMAT)
		mono = gsm_decode_all(data + w.off, w.len, !raw_gsm, &frames);
	else if (!stopped)
		mono = mixdown(data + w.off, frames, &f, channel, deadline_ms, &stopped);
	if (stopped)
		return fail(VM_WAV_DEADLINE, err, errsz, "the job's deadline passed while decoding");
	if (!mono)
		return fail(VM_WAV_NOMEM, err, errsz, "out of memory for %zu samples", frames);
	if (rate && rate != f.rate) {
		size_t m;
		int16_t *res = resample_until(mono, frames, f.rate, rate, &m, deadline_ms, &stopped);
		free(mono);
		if (stopped)
			return fail(VM_WAV_DEADLINE, err, errsz,
			            "the job's deadline passed while resampling");
		if (!res)
			return fail(VM_WAV_NOMEM, err, errsz, "out of memory resampling %zu samples",
			            frames);
		out->samples = res;
		out->nsamples = m;
		out->rate = rate;
	} else {
		out->samples = mono;
		out->nsamples = frames;
		out->rate = f.rate;
	}
	out->src_rate = f.rate;
	out->src_channels = f.channels;
	out->src_bits = f.bits;
	out->src_format = f.format;
	out->duration = (double)frames / f.rate;
	out->truncated = w.truncated;
	out->claimed_duration = w.truncated ? (double)(w.claimed / f.block) * spb / f.rate
	                                    : out->duration;
	return VM_WAV_OK;
}

int vm_wav_decode_limits(const unsigned char *data, size_t len, unsigned rate, double max_seconds,
                         int64_t deadline_ms, vm_wav *out, char *err, size_t errsz)
{
	return decode(data, len, rate, -1, max_seconds, deadline_ms, out, err, errsz);
}

int vm_wav_decode_rate(const unsigned char *data, size_t len, unsigned rate, vm_wav *out,
                       char *err, size_t errsz)
{
	return vm_wav_decode_limits(data, len, rate, VM_WAV_MAX_SECONDS, 0, out, err, errsz);
}

int vm_wav_decode(const unsigned char *data, size_t len, vm_wav *out, char *err, size_t errsz)
{
	return vm_wav_decode_rate(data, len, VM_WAV_RATE, out, err, errsz);
}

void vm_wav_free(vm_wav *wav)
{
	if (!wav)
		return;
	free(wav->samples);
	memset(wav, 0, sizeof *wav);
}

/* ------------------------------------------------------ header-only probe */

/*
 * vm_wav_probe: what the header says, for a caller that wants the duration
 * without decoding (locate-file reads the first 64 KiB of a recording).  It
 * walks the same chunks as vm_wav_decode() (parse()) over the bytes given,
 * then sizes the data chunk against the whole file.
 */
int vm_wav_probe(const unsigned char *head, size_t len, uint64_t file_size, vm_wav *out,
                 char *err, size_t errsz)
{
	struct wav_fmt f = {0};
	struct wav_data w = {0};
	memset(out, 0, sizeof *out);
	if (err && errsz)
		err[0] = '\0';
	if (!head)
		len = 0;
	if (file_size < len)
		file_size = len;
	int rc = parse(head, len, &f, &w, err, errsz);
	if (rc == VM_WAV_CORRUPT && len < file_size && err && errsz) {
		/* The chunks may go on past what was read: say where it stopped. */
		char why[160];
		snprintf(why, sizeof why, "%s", err);
		snprintf(err, errsz, "%s within the first %zu bytes of %llu (header too long to probe)",
		         why, len, (unsigned long long)file_size);
	}
	if (rc != VM_WAV_OK)
		return rc;

	uint64_t present = file_size - w.off, bytes = present;
	bool truncated = false;
	if (w.claimed != UINT32_MAX) {
		truncated = w.claimed > present;
		if (!truncated)
			bytes = w.claimed;
	}
	/* A block is one frame of PCM, or (GSM 6.10, wav49) 320 samples. */
	uint64_t spb = f.format == GSM_WAV_FORMAT ? GSM_WAV_SAMPLES : 1;
	uint64_t frames = bytes / f.block * spb;
	out->nsamples = (size_t)frames;
	out->rate = f.rate;
	out->src_rate = f.rate;
	out->src_channels = f.channels;
	out->src_bits = f.bits;
	out->src_format = f.format;
	out->duration = (double)frames / f.rate;
	out->truncated = truncated;
	out->claimed_duration = truncated ? (double)(w.claimed / f.block * spb) / f.rate : out->duration;
	return VM_WAV_OK;
}

/* ---- one channel (owner: whisper) ----------------------------------
 * Amazon Connect records the caller on the left channel and the other side
 * (prompts, an agent) on the right: a transcriber that wants the caller
 * alone decodes that channel instead of the mixdown, through decode() and
 * its caps like any other. */

int vm_wav_decode_channel(const unsigned char *data, size_t len, unsigned rate, int channel,
                          vm_wav *out, char *err, size_t errsz)
{
	return decode(data, len, rate, channel < 0 ? -1 : channel, VM_WAV_MAX_SECONDS, 0, out, err,
	              errsz);
}
