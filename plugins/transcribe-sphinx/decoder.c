/*
 * PocketSphinx decoder pool (see decoder.h for why a pool).
 */
#include "decoder.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pocketsphinx.h>

enum { MAX_ARGS = 64 };

/*
 * Long audio is recognised in segments of about SEGMENT_S seconds, each one
 * utterance, so that the job's deadline is looked at between them: one
 * PocketSphinx call cannot be interrupted, and a long one would outlive any
 * timeout.  A voicemail shorter than SEGMENT_S + SEGMENT_SLACK_S is one
 * utterance, as before (batch CMN over all of it).
 */
enum { SEGMENT_S = 30, SEGMENT_SLACK_S = 5, CUT_LOOK_S = 3 };

struct sphinx_pool {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	unsigned size, rate;
	double frate;          /* frames per second (-frate) */
	ps_decoder_t **dec;
	bool *busy;
};

/* The argument vector for cmd_ln_parse_r(); the strings live in `store`. */
struct argv_buf {
	char *argv[MAX_ARGS];
	int argc;
	char store[4096];
	size_t used;
};

static int push(struct argv_buf *a, const char *s)
{
	size_t n = strlen(s) + 1;
	if (a->argc >= MAX_ARGS || n > sizeof a->store - a->used)
		return -1;
	a->argv[a->argc++] = memcpy(a->store + a->used, s, n);
	a->used += n;
	return 0;
}

static int push_path(struct argv_buf *a, const char *opt, const char *dir, const char *name,
                     char *err, size_t errsz)
{
	char path[1024];
	int n = snprintf(path, sizeof path, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof path) {
		snprintf(err, errsz, "model path too long: %s", dir);
		return -1;
	}
	if (access(path, R_OK) != 0) {
		snprintf(err, errsz, "model file %s: %s", path, strerror(errno));
		return -1;
	}
	if (push(a, opt) != 0 || push(a, path) != 0) {
		snprintf(err, errsz, "too many PocketSphinx arguments");
		return -1;
	}
	return 0;
}

/* Split `args` on blanks ("-beam 1e-60 -pbeam 1e-50"). */
static int push_words(struct argv_buf *a, const char *args, char *err, size_t errsz)
{
	while (args && *args) {
		args += strspn(args, " \t\n");
		size_t n = strcspn(args, " \t\n");
		if (n == 0)
			break;
		char word[256];
		if (n >= sizeof word) {
			snprintf(err, errsz, "PocketSphinx argument too long: %.40s", args);
			return -1;
		}
		memcpy(word, args, n);
		word[n] = '\0';
		if (push(a, word) != 0) {
			snprintf(err, errsz, "too many PocketSphinx arguments");
			return -1;
		}
		args += n;
	}
	return 0;
}

static cmd_ln_t *make_config(const sphinx_conf *c, char *err, size_t errsz)
{
	struct argv_buf a = {.argc = 0};
	char rate[32];
	snprintf(rate, sizeof rate, "%u", c->rate);
	if (push_path(&a, "-hmm", c->model, "en-us", err, errsz) != 0 ||
	    push_path(&a, "-lm", c->model, "en-us.lm.bin", err, errsz) != 0 ||
	    push_path(&a, "-dict", c->model, "cmudict-en-us.dict", err, errsz) != 0)
		return NULL;
	if (push(&a, "-samprate") != 0 || push(&a, rate) != 0 ||
	    (!c->log && (push(&a, "-logfn") != 0 || push(&a, "/dev/null") != 0))) {
		snprintf(err, errsz, "too many PocketSphinx arguments");
		return NULL;
	}
	if (push_words(&a, c->args, err, errsz) != 0)
		return NULL;
	/* Strict: an unknown argument is a configuration error, not silence. */
	cmd_ln_t *config = cmd_ln_parse_r(NULL, ps_args(), a.argc, a.argv, TRUE);
	if (!config)
		snprintf(err, errsz, "PocketSphinx rejected the arguments \"%s\"",
		         c->args ? c->args : "");
	return config;
}

sphinx_pool *sphinx_pool_new(const sphinx_conf *conf, unsigned size, char *err, size_t errsz)
{
	sphinx_pool *p = calloc(1, sizeof *p);
	if (!p || size == 0)
		goto oom;
	p->dec = calloc(size, sizeof *p->dec);
	p->busy = calloc(size, sizeof *p->busy);
	if (!p->dec || !p->busy)
		goto oom;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->freed, NULL);
	p->size = size;
	p->rate = conf->rate;
	for (unsigned i = 0; i < size; i++) {
		cmd_ln_t *config = make_config(conf, err, errsz);
		if (!config)
			goto fail;
		p->dec[i] = ps_init(config);
		cmd_ln_free_r(config); /* the decoder holds its own reference */
		if (!p->dec[i]) {
			snprintf(err, errsz, "PocketSphinx could not load the model in %s", conf->model);
			goto fail;
		}
	}
	p->frate = cmd_ln_int32_r(ps_get_config(p->dec[0]), "-frate");
	if (p->frate <= 0)
		p->frate = 100;
	return p;
oom:
	snprintf(err, errsz, size ? "out of memory" : "a pool needs at least one decoder");
fail:
	sphinx_pool_free(p);
	return NULL;
}

void sphinx_pool_free(sphinx_pool *p)
{
	if (!p)
		return;
	if (p->size) {
		for (unsigned i = 0; i < p->size; i++)
			if (p->dec[i])
				ps_free(p->dec[i]);
		pthread_cond_destroy(&p->freed);
		pthread_mutex_destroy(&p->lock);
	}
	free(p->dec);
	free(p->busy);
	free(p);
}

unsigned sphinx_pool_rate(const sphinx_pool *p) { return p->rate; }

static unsigned borrow(sphinx_pool *p)
{
	pthread_mutex_lock(&p->lock);
	for (;;) {
		for (unsigned i = 0; i < p->size; i++) {
			if (!p->busy[i]) {
				p->busy[i] = true;
				pthread_mutex_unlock(&p->lock);
				return i;
			}
		}
		pthread_cond_wait(&p->freed, &p->lock);
	}
}

static void give_back(sphinx_pool *p, unsigned i)
{
	pthread_mutex_lock(&p->lock);
	p->busy[i] = false;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

/* Fillers and sentence marks are not words: "<s>", "</s>", "<sil>", "[NOISE]". */
static bool is_word(const char *w) { return w && w[0] && w[0] != '<' && w[0] != '['; }

static int recognise(ps_decoder_t *ps, double frate, const int16_t *s, size_t n,
                     sphinx_result *out, char *err, size_t errsz)
{
	/* One utterance, whole: batch cepstral mean normalisation sees it all. */
	if (ps_start_utt(ps) < 0 || ps_process_raw(ps, s, n, FALSE, TRUE) < 0 ||
	    ps_end_utt(ps) < 0) {
		snprintf(err, errsz, "PocketSphinx failed to decode %zu samples", n);
		return -1;
	}
	int32 score;
	const char *hyp = ps_get_hyp(ps, &score);
	int last = -1;
	for (ps_seg_t *seg = ps_seg_iter(ps); seg; seg = ps_seg_next(seg)) {
		int sf, ef;
		if (!is_word(ps_seg_word(seg)))
			continue;
		ps_seg_frames(seg, &sf, &ef);
		if (ef > last)
			last = ef;
		out->words++;
	}
	out->text = strdup(hyp ? hyp : "");
	if (!out->text) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	out->speech_seconds = last >= 0 ? (last + 1) / frate : 0;
	return 0;
}

/*
 * Where the segment starting at `from` ends: SEGMENT_S later, moved back to
 * the quietest 10 ms of the CUT_LOOK_S before that, so a word is rarely cut;
 * the whole rest when little is left after it.
 */
static size_t segment_end(const int16_t *s, size_t n, size_t from, unsigned rate)
{
	size_t len = (size_t)SEGMENT_S * rate, win = rate / 100, look = (size_t)CUT_LOOK_S * rate;
	if (n - from <= len + (size_t)SEGMENT_SLACK_S * rate)
		return n;
	size_t end = from + len, best = end;
	double best_e = -1;
	for (size_t w = end - look; w + win <= end; w += win) {
		double e = 0;
		for (size_t i = w; i < w + win; i++)
			e += (double)s[i] * s[i];
		if (best_e < 0 || e < best_e) {
			best_e = e;
			best = w + win / 2;
		}
	}
	return best;
}

/* Append the result of one segment that starts `offset` seconds in. */
static int append(sphinx_result *out, const sphinx_result *seg, double offset)
{
	if (!*seg->text)
		return 0;
	size_t a = out->text ? strlen(out->text) : 0, b = strlen(seg->text);
	char *t = realloc(out->text, a + b + 2);
	if (!t)
		return -1;
	if (a)
		t[a++] = ' ';
	memcpy(t + a, seg->text, b + 1);
	out->text = t;
	out->words += seg->words;
	if (seg->words)
		out->speech_seconds = offset + seg->speech_seconds;
	return 0;
}

int sphinx_pool_decode_until(sphinx_pool *p, const int16_t *samples, size_t n, int64_t deadline_ms,
                             int64_t (*now_ms)(void), sphinx_result *out, char *err, size_t errsz)
{
	memset(out, 0, sizeof *out);
	if (!(out->text = strdup(""))) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	if (n == 0)
		return 0;
	unsigned i = borrow(p);
	int rc = 0;
	for (size_t from = 0; from < n && rc == 0;) {
		if (deadline_ms > 0 && now_ms && now_ms() >= deadline_ms) {
			snprintf(err, errsz, "stopped at the job's deadline after %.0fs of %.0fs of audio",
			         (double)from / p->rate, (double)n / p->rate);
			rc = SPHINX_DEADLINE;
			break;
		}
		size_t end = segment_end(samples, n, from, p->rate);
		sphinx_result seg = {0};
		rc = recognise(p->dec[i], p->frate, samples + from, end - from, &seg, err, errsz);
		if (rc == 0 && append(out, &seg, (double)from / p->rate) != 0) {
			snprintf(err, errsz, "out of memory");
			rc = -1;
		}
		sphinx_result_free(&seg);
		from = end;
	}
	give_back(p, i);
	if (rc != 0)
		sphinx_result_free(out);
	return rc;
}

int sphinx_pool_decode(sphinx_pool *p, const int16_t *samples, size_t n, sphinx_result *out,
                       char *err, size_t errsz)
{
	return sphinx_pool_decode_until(p, samples, n, 0, NULL, out, err, errsz);
}

void sphinx_result_free(sphinx_result *res)
{
	if (!res)
		return;
	free(res->text);
	memset(res, 0, sizeof *res);
}
