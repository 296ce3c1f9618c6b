/*
 * A pool of PocketSphinx decoders sharing one configuration.
 *
 * A ps_decoder_t is not thread-safe, and PocketSphinx 5prealpha cannot share
 * one loaded model between decoders, so each decoder costs a full model load
 * (~40 MB, ~0.3 s).  The pool holds `size` of them; a decode borrows one and
 * waits on a condition variable when all are busy.  Waiting is bounded by the
 * CPU time of the decodes ahead of it (decoding is CPU-bound, so more decoders
 * than cores buys nothing).
 *
 * This file knows nothing of the job record: it turns samples into words.
 */
#ifndef TRANSCRIBE_SPHINX_DECODER_H
#define TRANSCRIBE_SPHINX_DECODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sphinx_conf {
	const char *model;   /* dir holding en-us/ (acoustic), en-us.lm.bin, cmudict-en-us.dict */
	unsigned rate;       /* sample rate the decoder expects, Hz */
	const char *args;    /* extra PocketSphinx arguments, "-beam 1e-60 -remove_noise no"; may be NULL */
	bool log;            /* let PocketSphinx log to stderr (else /dev/null) */
} sphinx_conf;

typedef struct sphinx_pool sphinx_pool;

typedef struct sphinx_result {
	char *text;            /* recognised words, space-separated; "" when none (malloc()ed) */
	size_t words;          /* number of recognised words */
	double speech_seconds; /* end of the last recognised word, 0 when none */
} sphinx_result;

/*
 * Load `size` decoders.  NULL with a message in err (which names the missing
 * file or the bad argument).  The caller frees with sphinx_pool_free().
 */
sphinx_pool *sphinx_pool_new(const sphinx_conf *conf, unsigned size, char *err, size_t errsz);
void sphinx_pool_free(sphinx_pool *pool);

/* The rate this pool decodes at. */
unsigned sphinx_pool_rate(const sphinx_pool *pool);

/*
 * Recognise `n` samples (mono, at the pool's rate): up to 35 s as one
 * utterance, longer audio in segments of about 30 s cut at a quiet moment.
 * Returns 0 with `out` filled (free with sphinx_result_free), or -1 with err.
 * Safe to call from several threads.
 */
int sphinx_pool_decode(sphinx_pool *pool, const int16_t *samples, size_t n,
                       sphinx_result *out, char *err, size_t errsz);

/* Returned by sphinx_pool_decode_until() when the deadline passed. */
#define SPHINX_DEADLINE (-2)

/*
 * The same, giving up between segments once now_ms() reaches deadline_ms
 * (0 or now_ms NULL: no deadline): SPHINX_DEADLINE with err saying how far
 * it got.
 */
int sphinx_pool_decode_until(sphinx_pool *pool, const int16_t *samples, size_t n,
                             int64_t deadline_ms, int64_t (*now_ms)(void), sphinx_result *out,
                             char *err, size_t errsz);
void sphinx_result_free(sphinx_result *res);

#endif
