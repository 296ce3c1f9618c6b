/* Transcript JSON -> text, preview, speech seconds.  See transcript.h. */
#include "transcript.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct word {
	double start;
	size_t seq;   /* input order: keeps the sort stable */
	char *text;   /* the word and the punctuation after it (malloc()ed) */
};

struct words {
	struct word *v;
	size_t n, cap;
};

void tx_transcript_clear(struct tx_transcript *t)
{
	free(t->text);
	free(t->preview);
	memset(t, 0, sizeof *t);
}

/* Transcribe writes times as strings ("1.23"); accept numbers too. */
static bool time_of(json_t *item, const char *name, double *out)
{
	json_t *v = json_object_get(item, name);
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return true;
	}
	const char *s = json_string_value(v);
	if (!s || !*s)
		return false;
	char *end;
	*out = strtod(s, &end);
	return *end == '\0';
}

static const char *content_of(json_t *item)
{
	json_t *alt = json_array_get(json_object_get(item, "alternatives"), 0);
	return json_string_value(json_object_get(alt, "content"));
}

static int push(struct words *w, double start, const char *text)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct word *v = realloc(w->v, cap * sizeof *v);
		if (!v)
			return -1;
		w->v = v;
		w->cap = cap;
	}
	char *t = strdup(text);
	if (!t)
		return -1;
	w->v[w->n] = (struct word){start, w->n, t};
	w->n++;
	return 0;
}

static int append(struct word *w, const char *punct)
{
	size_t a = strlen(w->text), b = strlen(punct);
	char *t = realloc(w->text, a + b + 1);
	if (!t)
		return -1;
	memcpy(t + a, punct, b + 1);
	w->text = t;
	return 0;
}

/* One channel's (or the whole result's) items into `w`; -1 out of memory. */
static int collect(json_t *items, struct words *w, double *speech)
{
	size_t i;
	json_t *item;
	ptrdiff_t last = -1; /* the word punctuation attaches to, in this list */
	json_array_foreach(items, i, item) {
		const char *type = json_string_value(json_object_get(item, "type"));
		const char *content = content_of(item);
		if (!type || !content)
			continue;
		if (strcmp(type, "punctuation") == 0) {
			if (last >= 0 && append(&w->v[last], content) != 0)
				return -1;
			continue;
		}
		double start = 0, end;
		time_of(item, "start_time", &start);
		if (time_of(item, "end_time", &end) && end > *speech)
			*speech = end;
		if (push(w, start, content) != 0)
			return -1;
		last = (ptrdiff_t)w->n - 1;
	}
	return 0;
}

static int by_start(const void *a, const void *b)
{
	const struct word *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Bytes of the first `chars` UTF-8 code points of s. */
static size_t utf8_prefix(const char *s, size_t chars)
{
	size_t i = 0;
	for (size_t n = 0; s[i] && n < chars; n++) {
		i++;
		while (((unsigned char)s[i] & 0xC0) == 0x80)
			i++;
	}
	return i;
}

static char *join(struct words *w, size_t max_chars)
{
	/* No words (a silent recording): w->v is NULL, which qsort() must not get. */
	if (w->n > 1)
		qsort(w->v, w->n, sizeof *w->v, by_start);
	size_t len = 0;
	for (size_t i = 0; i < w->n; i++)
		len += strlen(w->v[i].text) + 1;
	char *s = malloc(len + 1), *p = s;
	if (!s)
		return NULL;
	for (size_t i = 0; i < w->n; i++) {
		size_t l = strlen(w->v[i].text);
		if (i)
			*p++ = ' ';
		memcpy(p, w->v[i].text, l);
		p += l;
	}
	*p = '\0';
	s[utf8_prefix(s, max_chars)] = '\0';
	return s;
}

int tx_transcript_parse(const char *json, size_t len, size_t preview_chars,
			struct tx_transcript *out, char *err, size_t errsz)
{
	memset(out, 0, sizeof *out);
	out->speech_seconds = -1;
	json_error_t je;
	json_t *doc = json_loadb(json, len, 0, &je);
	json_t *results = json_object_get(doc, "results");
	const char *text = json_string_value(
		json_object_get(json_array_get(json_object_get(results, "transcripts"), 0), "transcript"));
	if (!doc || !text) {
		snprintf(err, errsz, "%s", !doc ? je.text : "no results.transcripts[0].transcript");
		json_decref(doc);
		return -1;
	}
	struct words w = {0};
	double speech = -1;
	int rc = 0;
	json_t *channels = json_object_get(json_object_get(results, "channel_labels"), "channels");
	if (json_array_size(channels) > 0) {
		size_t i;
		json_t *ch;
		json_array_foreach(channels, i, ch) {
			if (rc == 0)
				rc = collect(json_object_get(ch, "items"), &w, &speech);
		}
	} else {
		rc = collect(json_object_get(results, "items"), &w, &speech);
	}
	/* No items (an older or trimmed document): the text is all there is. */
	if (rc == 0 && w.n == 0 && *text)
		rc = push(&w, 0, text);
	out->text = strdup(text);
	out->preview = rc == 0 ? join(&w, preview_chars) : NULL;
	out->speech_seconds = speech;
	for (size_t i = 0; i < w.n; i++)
		free(w.v[i].text);
	free(w.v);
	json_decref(doc);
	if (!out->text || !out->preview) {
		tx_transcript_clear(out);
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	return 0;
}
