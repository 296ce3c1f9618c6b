/* One contact's audio from Connect's media stream (see kvs_audio.h). */
#include "kvs_audio.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mkv.h"

#define TAG_MAX 65536
#define NUM_MAX 128

struct buf {
	uint8_t *p;
	size_t n, cap;
};

struct kvs_audio {
	struct kvs_audio_opts o;
	char contact[NUM_MAX + 2], stop[NUM_MAX + 2];
	struct mkv *mkv;
	/* the fragment being read */
	char frag[NUM_MAX + 2];
	enum { MINE_UNKNOWN, MINE_YES } mine;
	struct buf held[2];
	uint64_t from_track, to_track;
	/* the TrackEntry / SimpleTag being read */
	uint64_t entry_no;
	char entry_name[64];
	char tag_name[128];
	char *tag_value; /* TAG_MAX + 1 */
	bool tag_has_value;
	/* what was kept */
	struct buf out;
	uint64_t frames;
	enum kvs_stop stopped;
	bool failed;
	struct kvs_stats st;
	char err[300];
};

static int ka_fail(struct kvs_audio *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int ka_fail(struct kvs_audio *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->err, sizeof a->err, fmt, ap);
	va_end(ap);
	a->failed = true;
	return -1;
}

static int put(struct buf *b, const uint8_t *p, size_t n, size_t max)
{
	if (n > max - b->n)
		return -1;
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->n + n)
			cap *= 2;
		uint8_t *q = realloc(b->p, cap);
		if (!q)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	return 0;
}

static bool digits(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= NUM_MAX && strspn(s, "0123456789") == n;
}

int kvs_fragment_cmp(const char *x, const char *y)
{
	while (*x == '0' && x[1])
		x++;
	while (*y == '0' && y[1])
		y++;
	size_t nx = strlen(x), ny = strlen(y);
	if (nx != ny)
		return nx < ny ? -1 : 1;
	return strcmp(x, y);
}

/* The held audio of the fragment into the output, the tracks padded alike. */
static int commit(struct kvs_audio *a)
{
	int ch = a->o.both ? 2 : 1;
	uint64_t n[2] = {a->held[0].n / 2, a->held[1].n / 2};
	uint64_t fr = ch == 2 && n[1] > n[0] ? n[1] : n[0];
	if (fr == 0)
		return 0;
	if (fr > a->o.max_frames - a->frames)
		return ka_fail(a, "the contact's audio is longer than %llu s (the limit)",
			    (unsigned long long)(a->o.max_frames / KVS_RATE));
	size_t need = (size_t)fr * 2 * (size_t)ch;
	if (a->out.n + need > a->out.cap) {
		size_t cap = a->out.cap ? a->out.cap : 65536;
		while (cap < a->out.n + need)
			cap *= 2;
		uint8_t *q = realloc(a->out.p, cap);
		if (!q)
			return ka_fail(a, "out of memory");
		a->out.p = q;
		a->out.cap = cap;
	}
	uint8_t *w = a->out.p + a->out.n;
	for (uint64_t i = 0; i < fr; i++)
		for (int c = 0; c < ch; c++) {
			bool have = i < n[c];
			*w++ = have ? a->held[c].p[2 * i] : 0;
			*w++ = have ? a->held[c].p[2 * i + 1] : 0;
		}
	a->out.n += need;
	a->frames += fr;
	a->st.kept++;
	return 0;
}

/* The fragment is over (or the stream): keep its audio if it is the contact's. */
static int end_fragment(struct kvs_audio *a)
{
	int r = 0;
	bool by_number = *a->stop && *a->frag && kvs_fragment_cmp(a->frag, a->stop) <= 0;
	if (a->mine == MINE_YES || by_number)
		r = commit(a);
	else if (a->held[0].n || a->held[1].n)
		a->st.dropped++;
	a->held[0].n = a->held[1].n = 0;
	a->mine = MINE_UNKNOWN;
	*a->frag = '\0';
	return r;
}

static int stop(struct kvs_audio *a, enum kvs_stop why)
{
	a->stopped = why;
	return 1;
}

static int tag(struct kvs_audio *a, const char *name, const char *value)
{
	if (strcmp(name, "AWS_KINESISVIDEO_FRAGMENT_NUMBER") == 0) {
		if (!digits(value))
			return ka_fail(a, "fragment number '%.60s' is not a number", value);
		snprintf(a->frag, sizeof a->frag, "%s", value);
		a->st.fragments++;
		if (!*a->st.first_fragment)
			snprintf(a->st.first_fragment, sizeof a->st.first_fragment, "%s", value);
		snprintf(a->st.last_fragment, sizeof a->st.last_fragment, "%s", value);
		if (*a->stop && kvs_fragment_cmp(value, a->stop) > 0) {
			a->held[0].n = a->held[1].n = 0;
			return stop(a, KVS_STOP_FRAGMENT);
		}
	} else if (strcmp(name, "ContactId") == 0) {
		if (strcmp(value, a->contact) != 0) {
			/* The next contact's audio (or a wrong start): not ours. */
			if (a->held[0].n || a->held[1].n)
				a->st.dropped++;
			a->held[0].n = a->held[1].n = 0;
			snprintf(a->st.other_contact, sizeof a->st.other_contact, "%.128s", value);
			return stop(a, KVS_OTHER_CONTACT);
		}
		a->mine = MINE_YES;
		if (*a->stop && *a->frag && kvs_fragment_cmp(a->frag, a->stop) == 0) {
			/* The last fragment: its audio is all read (the tag follows it). */
			if (end_fragment(a) != 0)
				return -1;
			return stop(a, KVS_STOP_FRAGMENT);
		}
	} else if (strcmp(name, "MimeType") == 0) {
		/* "audio/L16;rate=8000;channels=1;": what the A_AAC label hides. */
		if (strncmp(value, "audio/L16", 9) != 0 || !strstr(value, "rate=8000") ||
		    (strstr(value, "channels=") && !strstr(value, "channels=1")))
			return ka_fail(a, "fragment %s carries '%.100s', not 16-bit PCM at 8 kHz, one channel per track",
				    *a->frag ? a->frag : "?", value);
	}
	return 0;
}

static bool is_master(void *ctx, uint32_t id)
{
	(void)ctx;
	return id == MKV_EBML || id == MKV_SEGMENT || id == MKV_TRACKS || id == MKV_TRACKENTRY ||
	       id == MKV_CLUSTER || id == MKV_TAGS || id == MKV_TAG || id == MKV_SIMPLETAG;
}

static bool wants(void *ctx, uint32_t id)
{
	(void)ctx;
	return id == MKV_TRACKNUMBER || id == MKV_NAME || id == MKV_TAGNAME || id == MKV_TAGSTRING;
}

static int on_open(void *ctx, uint32_t id, int depth)
{
	struct kvs_audio *a = ctx;
	if (id == MKV_EBML && depth == 0) /* a new fragment */
		return end_fragment(a);
	if (id == MKV_TRACKS)
		a->from_track = a->to_track = 0;
	else if (id == MKV_TRACKENTRY) {
		a->entry_no = 0;
		*a->entry_name = '\0';
	} else if (id == MKV_SIMPLETAG) {
		*a->tag_name = '\0';
		a->tag_has_value = false;
	}
	return 0;
}

static int on_close(void *ctx, uint32_t id, int depth)
{
	struct kvs_audio *a = ctx;
	(void)depth;
	if (id == MKV_TRACKENTRY) {
		if (strcmp(a->entry_name, "AUDIO_FROM_CUSTOMER") == 0)
			a->from_track = a->entry_no;
		else if (strcmp(a->entry_name, "AUDIO_TO_CUSTOMER") == 0)
			a->to_track = a->entry_no;
	} else if (id == MKV_SIMPLETAG && *a->tag_name && a->tag_has_value) {
		return tag(a, a->tag_name, a->tag_value);
	}
	return 0;
}

/* A string value, NUL-free, into dst. */
static int text(struct kvs_audio *a, const uint8_t *d, size_t n, char *dst, size_t size, const char *what)
{
	while (n > 0 && d[n - 1] == '\0') /* EBML strings may be padded with NULs */
		n--;
	if (n >= size || memchr(d, '\0', n))
		return ka_fail(a, "a %s of %zu bytes (or with a NUL)", what, n);
	memcpy(dst, d, n);
	dst[n] = '\0';
	return 0;
}

static int on_value(void *ctx, uint32_t id, const uint8_t *d, size_t n)
{
	struct kvs_audio *a = ctx;
	uint64_t v;
	switch (id) {
	case MKV_TRACKNUMBER:
		if (!mkv_uint(d, n, &v) || v == 0)
			return ka_fail(a, "a TrackNumber that is not a number from 1");
		a->entry_no = v;
		return 0;
	case MKV_NAME:
		/* A track name of another kind is not ours to read: kept empty. */
		if (text(a, d, n, a->entry_name, sizeof a->entry_name, "track name") != 0) {
			a->failed = false;
			*a->entry_name = '\0';
		}
		return 0;
	case MKV_TAGNAME:
		return text(a, d, n, a->tag_name, sizeof a->tag_name, "TagName");
	case MKV_TAGSTRING:
		a->tag_has_value = true;
		return text(a, d, n, a->tag_value, TAG_MAX + 1, "TagString");
	}
	return 0;
}

static int on_block(void *ctx, uint64_t track, int16_t tc, uint8_t flags, const uint8_t *d, size_t n, bool first,
		    bool last)
{
	struct kvs_audio *a = ctx;
	(void)tc;
	(void)last;
	if (first && (flags & 0x06))
		return ka_fail(a, "a laced SimpleBlock (track %llu): Connect writes none", (unsigned long long)track);
	if (a->from_track == 0 && a->to_track == 0) { /* no names: Connect's numbering */
		a->from_track = 1;
		a->to_track = 2;
	}
	int c = track == a->from_track ? 0 : a->o.both && track == a->to_track ? 1 : -1;
	if (c < 0 || n == 0)
		return 0;
	size_t held = a->held[0].n + a->held[1].n;
	if (held + n > KVS_FRAGMENT_BYTES_MAX ||
	    put(&a->held[c], d, n, KVS_FRAGMENT_BYTES_MAX) != 0)
		return ka_fail(a, "fragment %s holds more than %u bytes of audio", *a->frag ? a->frag : "?",
			    KVS_FRAGMENT_BYTES_MAX);
	return 0;
}

struct kvs_audio *kvs_audio_new(const struct kvs_audio_opts *o)
{
	struct kvs_audio *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->o = *o;
	snprintf(a->contact, sizeof a->contact, "%.*s", NUM_MAX, o->contact_id ? o->contact_id : "");
	if (o->stop_fragment && digits(o->stop_fragment))
		snprintf(a->stop, sizeof a->stop, "%s", o->stop_fragment);
	a->o.contact_id = a->contact;
	a->o.stop_fragment = *a->stop ? a->stop : NULL;
	a->tag_value = malloc(TAG_MAX + 1);
	struct mkv_cb cb = {a, is_master, wants, on_open, on_close, on_value, on_block};
	struct mkv_limits lim = {o->max_stream_bytes, TAG_MAX, 1024 * 1024, 16 * 1024 * 1024, 8};
	a->mkv = a->tag_value ? mkv_new(&cb, &lim) : NULL;
	if (!a->mkv) {
		kvs_audio_free(a);
		return NULL;
	}
	return a;
}

void kvs_audio_free(struct kvs_audio *a)
{
	if (!a)
		return;
	mkv_free(a->mkv);
	free(a->held[0].p);
	free(a->held[1].p);
	free(a->out.p);
	free(a->tag_value);
	free(a);
}

static void copy_mkv_error(struct kvs_audio *a)
{
	if (!a->failed)
		ka_fail(a, "%s", mkv_error(a->mkv));
}

int kvs_audio_feed(struct kvs_audio *a, const uint8_t *d, size_t n)
{
	if (a->failed)
		return -1;
	if (a->stopped != KVS_MORE)
		return 1;
	int r = mkv_feed(a->mkv, d, n);
	if (r < 0) {
		copy_mkv_error(a);
		return -1;
	}
	return r > 0 || a->stopped != KVS_MORE ? 1 : 0;
}

int kvs_audio_finish(struct kvs_audio *a)
{
	if (a->stopped != KVS_MORE)
		return a->failed ? -1 : 0;
	if (a->failed)
		return -1;
	int r = mkv_finish(a->mkv);
	if (r < 0)
		copy_mkv_error(a);
	/* Whole or cut, the last fragment is kept if it is known to be ours. */
	if (a->stopped == KVS_MORE && end_fragment(a) != 0)
		return -1;
	return r < 0 ? -1 : 0;
}

enum kvs_stop kvs_audio_stopped(const struct kvs_audio *a)
{
	return a->stopped;
}

const char *kvs_audio_error(const struct kvs_audio *a)
{
	return a->err;
}

const struct kvs_stats *kvs_audio_stats(const struct kvs_audio *a)
{
	return &a->st;
}

const uint8_t *kvs_audio_pcm(const struct kvs_audio *a, uint64_t *frames, int *channels)
{
	*frames = a->frames;
	*channels = a->o.both ? 2 : 1;
	return a->out.p;
}
