/*
 * A streaming Matroska (EBML) reader for what Kinesis Video Streams'
 * GetMedia returns: fed chunks of any size, it walks elements without
 * holding the stream, reports masters as they open and close, hands over
 * the small values a caller asks for, and passes SimpleBlock payloads on in
 * pieces as they arrive.  Pure: no I/O, no allocation but its own state.
 *
 * The layout it follows (Matroska's specification, RFC 9559, and the
 * captures in aws/amazon-kinesis-video-streams-parser-library's test files):
 * top-level EBML headers and Segments one after the other (every GetMedia
 * fragment is a complete piece with its own EBML header and a Segment of
 * unknown size); a master of unknown size (only Segment and Cluster may have
 * one) ends where an element that cannot be its child begins (a Tags after
 * a Cluster, an EBML header after a Segment) or where the stream ends.
 *
 * Everything is bounded: bytes fed, nesting depth, the size of a value
 * handed over, the size of a block, the size of a skipped element.
 * Owner: locate-kvs (and tests/fuzz/fuzz_mkv.c).
 */
#ifndef VMPIPE_MKV_H
#define VMPIPE_MKV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Element ids (with their length marker, as written). */
#define MKV_EBML 0x1A45DFA3u
#define MKV_DOCTYPE 0x4282u
#define MKV_SEGMENT 0x18538067u
#define MKV_SEEKHEAD 0x114D9B74u
#define MKV_INFO 0x1549A966u
#define MKV_TIMECODESCALE 0x2AD7B1u
#define MKV_TRACKS 0x1654AE6Bu
#define MKV_TRACKENTRY 0xAEu
#define MKV_TRACKNUMBER 0xD7u
#define MKV_TRACKTYPE 0x83u
#define MKV_NAME 0x536Eu
#define MKV_CODECID 0x86u
#define MKV_AUDIO 0xE1u
#define MKV_CLUSTER 0x1F43B675u
#define MKV_TIMECODE 0xE7u
#define MKV_POSITION 0xA7u
#define MKV_PREVSIZE 0xABu
#define MKV_SIMPLEBLOCK 0xA3u
#define MKV_BLOCKGROUP 0xA0u
#define MKV_CUES 0x1C53BB6Bu
#define MKV_CHAPTERS 0x1043A770u
#define MKV_ATTACHMENTS 0x1941A469u
#define MKV_TAGS 0x1254C367u
#define MKV_TAG 0x7373u
#define MKV_TARGETS 0x63C0u
#define MKV_SIMPLETAG 0x67C8u
#define MKV_TAGNAME 0x45A3u
#define MKV_TAGSTRING 0x4487u
#define MKV_VOID 0xECu
#define MKV_CRC32 0xBFu

#define MKV_DEPTH_MAX 16

struct mkv_limits {
	uint64_t max_bytes;   /* the whole stream */
	uint32_t max_value;   /* a value handed over (TagString, Name, …) */
	uint32_t max_block;   /* one SimpleBlock */
	uint64_t max_skip;    /* an element of known size that is skipped */
	int max_depth;        /* nesting, at most MKV_DEPTH_MAX */
};

/* Callbacks answer 0 (go on), 1 (stop: mkv_feed returns 1) or -1 (an
 * error: the callback has said why to its caller; mkv_feed returns -1). */
struct mkv_cb {
	void *ctx;
	/* Is `id` a master to walk into (the rest are skipped or values)? */
	bool (*is_master)(void *ctx, uint32_t id);
	/* Is `id` a value the caller wants handed over whole? */
	bool (*wants)(void *ctx, uint32_t id);
	int (*open)(void *ctx, uint32_t id, int depth);
	int (*close)(void *ctx, uint32_t id, int depth);
	int (*value)(void *ctx, uint32_t id, const uint8_t *data, size_t len);
	/* A SimpleBlock's payload, in pieces: `first` on its first, `last` on its last. */
	int (*block)(void *ctx, uint64_t track, int16_t timecode, uint8_t flags, const uint8_t *data, size_t len,
		     bool first, bool last);
};

struct mkv;

/* NULL when out of memory.  `lim` is copied. */
struct mkv *mkv_new(const struct mkv_cb *cb, const struct mkv_limits *lim);
void mkv_free(struct mkv *m);

/* Feed the next `len` bytes: 0 (more), 1 (a callback stopped it), -1
 * (malformed or over a bound: mkv_error says what and where). */
int mkv_feed(struct mkv *m, const uint8_t *data, size_t len);

/* The stream ended: masters of unknown size close.  0, or -1 when it ended
 * inside an element (mkv_error names it and how much was missing). */
int mkv_finish(struct mkv *m);

const char *mkv_error(const struct mkv *m);
uint64_t mkv_offset(const struct mkv *m);

/* An unsigned big-endian value (1-8 bytes); false when longer. */
bool mkv_uint(const uint8_t *data, size_t len, uint64_t *v);

#endif
