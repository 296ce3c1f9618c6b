/*
 * One contact's audio out of the GetMedia stream of an Amazon Connect media
 * stream (mkv.h does the Matroska).  What Connect writes, fragment after
 * fragment (each a complete Matroska piece with its own EBML header):
 *
 *   Segment (unknown size)
 *     Info, Tracks: AUDIO_FROM_CUSTOMER (1) and AUDIO_TO_CUSTOMER (2),
 *       both labelled CodecID A_AAC with no Audio element, although the
 *       payload is raw 16-bit little-endian PCM at 8 kHz;
 *     Tags: AWS_KINESISVIDEO_FRAGMENT_NUMBER, _SERVER_TIMESTAMP, _PRODUCER_TIMESTAMP
 *     Cluster (unknown size): Timecode, Position, SimpleBlocks of both tracks
 *     Tags: ContactId, InstanceId, MimeType ("audio/L16;rate=8000;channels=1;"),
 *       AUDIO_FROM_CUSTOMER ("1"), AUDIO_TO_CUSTOMER ("2"), Events, and
 *       GetMedia's AWS_KINESISVIDEO_MILLIS_BEHIND_NOW / _CONTINUATION_TOKEN.
 *
 * The ContactId comes after the fragment's audio, and a stream may carry the
 * next contact right after this one.  A fragment whose number is at most the
 * contact record's FragmentStopNumber is the contact's and is kept as it
 * comes; without a stop number a fragment's audio is held (bounded) until its
 * ContactId says whose it is.  Reading stops after the stop fragment, at the
 * first fragment of another contact, or at a fragment numbered past the stop.
 *
 * The caller track (AUDIO_FROM_CUSTOMER) is kept, or both as two channels
 * (caller left, agent right), each fragment's tracks padded to the same
 * length.  Owner: locate-kvs (and tests/fuzz/fuzz_mkv.c).
 */
#ifndef VMPIPE_KVS_AUDIO_H
#define VMPIPE_KVS_AUDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KVS_RATE 8000
#define KVS_FRAGMENT_BYTES_MAX (4u * 1024 * 1024) /* one fragment's held audio (Connect's are ~1 s) */

struct kvs_audio_opts {
	const char *contact_id;    /* whose audio (required) */
	const char *stop_fragment; /* FragmentStopNumber, or NULL */
	bool both;                 /* both tracks as two channels */
	uint64_t max_stream_bytes; /* GetMedia bytes read at most */
	uint64_t max_frames;       /* audio kept at most (samples per channel) */
};

enum kvs_stop {
	KVS_MORE,          /* nothing says it is over yet */
	KVS_STOP_FRAGMENT, /* past (or done with) the stop fragment */
	KVS_OTHER_CONTACT, /* a fragment of another contact */
};

struct kvs_stats {
	uint64_t fragments;   /* fragments seen */
	uint64_t kept;        /* fragments whose audio was kept */
	uint64_t dropped;     /* fragments whose audio was dropped (another contact, unconfirmed at the end) */
	char first_fragment[130], last_fragment[130];
	char other_contact[130]; /* KVS_OTHER_CONTACT: whose */
};

struct kvs_audio;

struct kvs_audio *kvs_audio_new(const struct kvs_audio_opts *o);
void kvs_audio_free(struct kvs_audio *a);

/* 0 (more), 1 (done: kvs_audio_stopped() says why; read no more), -1 (an
 * error: kvs_audio_error()). */
int kvs_audio_feed(struct kvs_audio *a, const uint8_t *data, size_t len);

/* The stream ended.  0; -1 when it was malformed (kvs_audio_error(); what
 * was kept is still there, so a stream cut mid-cluster keeps its whole
 * fragments). */
int kvs_audio_finish(struct kvs_audio *a);

enum kvs_stop kvs_audio_stopped(const struct kvs_audio *a);
const char *kvs_audio_error(const struct kvs_audio *a);
const struct kvs_stats *kvs_audio_stats(const struct kvs_audio *a);

/* The kept audio: 16-bit little-endian PCM at 8 kHz, interleaved when two
 * channels; *frames samples per channel.  Borrowed. */
const uint8_t *kvs_audio_pcm(const struct kvs_audio *a, uint64_t *frames, int *channels);

/* Compare two fragment numbers (decimal strings, up to 128 digits): <0, 0, >0. */
int kvs_fragment_cmp(const char *a, const char *b);

#endif
