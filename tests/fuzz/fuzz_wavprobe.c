/*
 * libFuzzer: the header-only probe (vm_wav_probe, locate-file's and
 * transcribe-whisper's look at a recording before deciding anything) on any
 * bytes.
 *
 * Input: two bytes (little-endian) giving how many bytes of the file the
 * probe is shown (the rest is only counted in file_size), then the file.
 * Properties, besides no crash, leak or UB (ASan: the probe reads nothing past
 * what it is shown):
 *  - a refusal is one of the documented codes with a message and leaves
 *    nothing in `out`;
 *  - shown the whole file, it says what the decoder finds: the same source
 *    rate, channels, bits, format, duration, truncation, and frames (the
 *    decoder at the file's rate); when the decoder refuses a RIFF file for a
 *    reason of its header, so does the probe, with the same code;
 *  - shown a head of the file, a success is the whole file's answer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmpipe/vmpipe.h>

#include "fuzz.h"

static bool zeroed(const vm_wav *w)
{
	static const vm_wav zero;
	return memcmp(w, &zero, sizeof zero) == 0;
}

static bool same(const vm_wav *a, const vm_wav *b)
{
	return a->nsamples == b->nsamples && a->rate == b->rate && a->src_rate == b->src_rate &&
	       a->src_channels == b->src_channels && a->src_bits == b->src_bits &&
	       a->src_format == b->src_format && a->duration == b->duration &&
	       a->claimed_duration == b->claimed_duration && a->truncated == b->truncated;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t shown = (size_t)(data[0] | data[1] << 8);
	data += 2, size -= 2;
	/* The probe gets its own copy of the head: ASan sees a read past it. */
	if (shown > size)
		shown = size;
	uint8_t *head = malloc(shown ? shown : 1);
	if (!head)
		return 0;
	memcpy(head, data, shown);

	vm_wav whole, part, dec;
	char err[300], perr[300], derr[200];
	memset(err, 0, sizeof err);
	memset(perr, 0, sizeof perr);
	int rc = vm_wav_probe(data, size, size, &whole, err, sizeof err);
	int prc = vm_wav_probe(head, shown, size, &part, perr, sizeof perr);
	free(head);

	static const int codes[] = {VM_WAV_NOT_WAV, VM_WAV_UNSUPPORTED, VM_WAV_CORRUPT};
	for (int k = 0; k < 2; k++) {
		int c = k ? prc : rc;
		const char *m = k ? perr : err;
		const vm_wav *w = k ? &part : &whole;
		if (c == VM_WAV_OK)
			continue;
		CHECK(c == codes[0] || c == codes[1] || c == codes[2], "return code %d", c);
		CHECK(m[0] != '\0' && memchr(m, '\0', sizeof err), "refusal %d without a message", c);
		CHECK(zeroed(w), "refusal %d left something in out", c);
	}
	if (prc == VM_WAV_OK)
		CHECK(rc == VM_WAV_OK && same(&part, &whole),
		      "shown %zu of %zu bytes: %.6f s at %u Hz; the whole file: %d, %.6f s", shown, size,
		      part.duration, part.src_rate, rc, whole.duration);

	/* The decoder also takes a raw .gsm (no RIFF header), which a probe does not. */
	bool riff = size >= 4 && memcmp(data, "RIFF", 4) == 0;
	int drc = vm_wav_decode_rate(data, size, 0, &dec, derr, sizeof derr);
	if (drc == VM_WAV_OK) {
		if (riff || rc == VM_WAV_OK) {
			CHECK(rc == VM_WAV_OK, "the decoder took it, the probe refused (%d: %s)", rc, err);
			CHECK(whole.src_rate == dec.src_rate && whole.src_channels == dec.src_channels &&
				      whole.src_bits == dec.src_bits && whole.src_format == dec.src_format &&
				      whole.truncated == dec.truncated && whole.nsamples == dec.nsamples &&
				      whole.duration == dec.duration &&
				      whole.claimed_duration == dec.claimed_duration,
			      "probe: %zu frames, %.6f s (claims %.6f); decoder: %zu, %.6f s (claims %.6f)",
			      whole.nsamples, whole.duration, whole.claimed_duration, dec.nsamples,
			      dec.duration, dec.claimed_duration);
		}
		vm_wav_free(&dec);
	} else if (riff && (drc == VM_WAV_NOT_WAV || drc == VM_WAV_UNSUPPORTED ||
			    drc == VM_WAV_CORRUPT)) {
		CHECK(rc == drc, "the decoder refused (%d: %s), the probe said %d (%s)", drc, derr, rc,
		      err);
	}
	return 0;
}
