/*
 * libFuzzer: one channel of a WAV (vm_wav_decode_channel, transcribe-whisper's
 * `channel = caller`) on any bytes.
 *
 * Input: one byte that picks the rate asked for, one that picks the channel
 * (-1: the mixdown, else 0 to 8, one past the most a file may have), then
 * the file.
 * Properties, besides no crash, leak or UB:
 *  - a refusal is one of the documented codes, with a message, and leaves
 *    nothing in `out`; a channel the file does not have is refused
 *    (VM_WAV_UNSUPPORTED), unless the file is mono;
 *  - it agrees with the mixdown (vm_wav_decode_rate), which goes through the
 *    same caps: both succeed or both refuse (the same code, for a reason that
 *    is not the channel), and a success has the same length, rate, duration
 *    and source description; for a mono file or channel -1, the same samples;
 *  - at the file's own rate, one channel of a 16-bit PCM file is that
 *    channel's samples exactly.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmpipe/vmpipe.h>

#include "fuzz.h"

static const unsigned rates[] = {VM_WAV_RATE, 0, 8000, 11025, 44100};

static bool zeroed(const vm_wav *w)
{
	static const vm_wav zero;
	return memcmp(w, &zero, sizeof zero) == 0;
}

/* Where the data chunk starts (the same walk as the reader, for a file it took). */
static size_t data_offset(const uint8_t *d, size_t n)
{
	size_t pos = 12;
	while (n - pos >= 8) {
		uint32_t size = (uint32_t)d[pos + 4] | (uint32_t)d[pos + 5] << 8 |
				(uint32_t)d[pos + 6] << 16 | (uint32_t)d[pos + 7] << 24;
		if (memcmp(d + pos, "data", 4) == 0)
			return pos + 8;
		pos += 8 + (size_t)size + (size & 1u);
		if (pos > n)
			pos = n;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned rate = rates[data[0] % (sizeof rates / sizeof rates[0])];
	int channel = (int)(data[1] % 10) - 1;
	data += 2, size -= 2;

	vm_wav one, all;
	char err[200], aerr[200];
	memset(err, 0, sizeof err);
	int rc = vm_wav_decode_channel(data, size, rate, channel, &one, err, sizeof err);
	int arc = vm_wav_decode_rate(data, size, rate, &all, aerr, sizeof aerr);
	if (rc != VM_WAV_OK) {
		CHECK(rc == VM_WAV_NOT_WAV || rc == VM_WAV_UNSUPPORTED || rc == VM_WAV_CORRUPT ||
			      rc == VM_WAV_NOMEM || rc == VM_WAV_TOO_LONG,
		      "return code %d", rc);
		CHECK(err[0] != '\0' && memchr(err, '\0', sizeof err), "refusal %d without a message", rc);
		CHECK(zeroed(&one), "refusal %d left something in out", rc);
		if (arc == VM_WAV_OK) {
			/* Only the channel may be what the mixdown did not mind. */
			CHECK(rc == VM_WAV_UNSUPPORTED && channel >= 0 &&
				      (unsigned)channel >= all.src_channels && all.src_channels > 1,
			      "channel %d refused (%d: %s) where the mixdown of %u took the file", channel,
			      rc, err, all.src_channels);
			vm_wav_free(&all);
		} else if (arc != VM_WAV_NOMEM && rc != VM_WAV_NOMEM) {
			CHECK(rc == arc || rc == VM_WAV_UNSUPPORTED, "channel: %d (%s), mixdown: %d (%s)", rc,
			      err, arc, aerr);
		}
		return 0;
	}
	if (arc != VM_WAV_OK) {
		CHECK(arc == VM_WAV_NOMEM, "channel %d decoded, the mixdown refused (%d: %s)", channel,
		      arc, aerr);
		vm_wav_free(&one);
		return 0;
	}
	CHECK(channel < 0 || one.src_channels == 1 || (unsigned)channel < one.src_channels,
	      "channel %d of %u decoded", channel, one.src_channels);
	CHECK(one.nsamples == all.nsamples && one.rate == all.rate && one.duration == all.duration &&
		      one.claimed_duration == all.claimed_duration && one.truncated == all.truncated &&
		      one.src_rate == all.src_rate && one.src_channels == all.src_channels &&
		      one.src_bits == all.src_bits && one.src_format == all.src_format,
	      "channel %d: %zu samples at %u Hz (%.6f s); mixdown: %zu at %u Hz (%.6f s)", channel,
	      one.nsamples, one.rate, one.duration, all.nsamples, all.rate, all.duration);
	if (channel < 0 || one.src_channels == 1)
		CHECK(memcmp(one.samples, all.samples, one.nsamples * sizeof *one.samples) == 0,
		      "channel %d of a %u-channel file differs from the mixdown", channel,
		      one.src_channels);
	if (channel >= 0 && one.src_channels > 1 && one.src_format == 1 && one.src_bits == 16 &&
	    one.rate == one.src_rate) {
		size_t off = data_offset(data, size), block = 2u * one.src_channels;
		CHECK(off > 0, "no data chunk found in a file the reader took");
		for (size_t i = 0; i < one.nsamples; i++) {
			const uint8_t *p = data + off + i * block + 2u * (unsigned)channel;
			int16_t want = (int16_t)(uint16_t)(p[0] | p[1] << 8);
			CHECK(one.samples[i] == want, "sample %zu of channel %d: %d, the file has %d", i,
			      channel, one.samples[i], want);
		}
	}
	vm_wav_free(&one);
	vm_wav_free(&all);
	return 0;
}
