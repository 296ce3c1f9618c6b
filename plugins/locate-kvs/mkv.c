/* The streaming Matroska reader (see mkv.h). */
#include "mkv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum st { ST_HEAD, ST_VALUE, ST_BLOCK_HEAD, ST_BLOCK, ST_SKIP, ST_ERROR };

struct frame {
	uint32_t id;
	uint64_t end; /* offset after it; unknown: UINT64_MAX */
};

struct mkv {
	struct mkv_cb cb;
	struct mkv_limits lim;
	enum st st;
	uint64_t pos;       /* bytes taken so far */
	uint8_t hdr[12];    /* the element header being read */
	size_t hn;
	struct frame stack[MKV_DEPTH_MAX];
	int depth;
	uint32_t id;        /* the element being read */
	uint64_t size, left;
	uint8_t *val;       /* ST_VALUE: lim.max_value bytes */
	size_t vn;
	uint8_t bh[12];     /* ST_BLOCK_HEAD: track, timecode, flags */
	size_t bhn;
	uint64_t track;
	int16_t tc;
	uint8_t flags;
	bool first;
	char err[240];
};

static int mkv_fail(struct mkv *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int mkv_fail(struct mkv *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(m->err, sizeof m->err, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof m->err)
		snprintf(m->err + n, sizeof m->err - (size_t)n, " (at byte %llu)", (unsigned long long)m->pos);
	m->st = ST_ERROR;
	return -1;
}

bool mkv_uint(const uint8_t *data, size_t len, uint64_t *v)
{
	if (len > 8)
		return false;
	*v = 0;
	for (size_t i = 0; i < len; i++)
		*v = *v << 8 | data[i];
	return true;
}

/* Length of the variable-size integer that starts with `b` (1-8), 0 when invalid. */
static size_t vint_len(uint8_t b)
{
	for (size_t n = 1; n <= 8; n++)
		if (b & (0x80u >> (n - 1)))
			return n;
	return 0;
}

struct mkv *mkv_new(const struct mkv_cb *cb, const struct mkv_limits *lim)
{
	struct mkv *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->cb = *cb;
	m->lim = *lim;
	if (m->lim.max_depth <= 0 || m->lim.max_depth > MKV_DEPTH_MAX)
		m->lim.max_depth = MKV_DEPTH_MAX;
	m->val = malloc(m->lim.max_value ? m->lim.max_value : 1);
	if (!m->val) {
		free(m);
		return NULL;
	}
	return m;
}

void mkv_free(struct mkv *m)
{
	if (!m)
		return;
	free(m->val);
	free(m);
}

const char *mkv_error(const struct mkv *m)
{
	return m->err;
}

uint64_t mkv_offset(const struct mkv *m)
{
	return m->pos;
}

/* May `id` sit inside a master of unknown size `parent` (RFC 9559's
 * hierarchy: only Segment and Cluster may have an unknown size)? */
static bool child_of_unknown(uint32_t parent, uint32_t id)
{
	if (id == MKV_VOID || id == MKV_CRC32)
		return true;
	if (parent == MKV_SEGMENT)
		return id != MKV_EBML && id != MKV_SEGMENT;
	/* Cluster */
	return id == MKV_TIMECODE || id == MKV_POSITION || id == MKV_PREVSIZE || id == MKV_SIMPLEBLOCK ||
	       id == MKV_BLOCKGROUP || id == 0x5854u /* SilentTracks */ || id == 0xAFu /* EncryptedBlock */;
}

static int pop(struct mkv *m)
{
	struct frame *f = &m->stack[--m->depth];
	return m->cb.close ? m->cb.close(m->cb.ctx, f->id, m->depth) : 0;
}

/* Close the masters of known size that end here. */
static int close_ended(struct mkv *m)
{
	while (m->depth > 0 && m->stack[m->depth - 1].end == m->pos) {
		int r = pop(m);
		if (r)
			return r;
	}
	return 0;
}

/* A whole element header is in hdr[]: open, or get ready to read its data. */
static int element(struct mkv *m, size_t idn, size_t szn)
{
	uint64_t id = 0, size = 0;
	mkv_uint(m->hdr, idn, &id);
	size = m->hdr[idn] & (0xFFu >> szn);
	bool unknown = size == (0xFFu >> szn);
	for (size_t i = 1; i < szn; i++) {
		size = size << 8 | m->hdr[idn + i];
		unknown = unknown && m->hdr[idn + i] == 0xFF;
	}
	m->id = (uint32_t)id;
	m->size = size;
	int r;
	/* An element that cannot be a child of a master of unknown size ends it. */
	while (m->depth > 0 && m->stack[m->depth - 1].end == UINT64_MAX &&
	       !child_of_unknown(m->stack[m->depth - 1].id, m->id))
		if ((r = pop(m)) != 0)
			return r;
	uint64_t start = m->pos - idn - szn;
	if (unknown && m->id != MKV_SEGMENT && m->id != MKV_CLUSTER)
		return mkv_fail(m, "element 0x%X at byte %llu has an unknown size (only a Segment or a Cluster may)",
			    m->id, (unsigned long long)start);
	if (!unknown && m->depth > 0 && m->stack[m->depth - 1].end != UINT64_MAX &&
	    size > m->stack[m->depth - 1].end - m->pos)
		return mkv_fail(m, "element 0x%X (%llu bytes) overruns its parent 0x%X", m->id, (unsigned long long)size,
			    m->stack[m->depth - 1].id);
	bool master = m->cb.is_master && m->cb.is_master(m->cb.ctx, m->id);
	if (unknown && !master)
		return mkv_fail(m, "element 0x%X of unknown size is not walked into", m->id);
	if (master) {
		if (m->depth >= m->lim.max_depth)
			return mkv_fail(m, "elements nested deeper than %d", m->lim.max_depth);
		m->stack[m->depth++] = (struct frame){m->id, unknown ? UINT64_MAX : m->pos + size};
		r = m->cb.open ? m->cb.open(m->cb.ctx, m->id, m->depth - 1) : 0;
		return r ? r : close_ended(m);
	}
	m->left = size;
	if (m->id == MKV_SIMPLEBLOCK) {
		if (size < 4 || size > m->lim.max_block)
			return mkv_fail(m, "a SimpleBlock of %llu bytes (at most %u)", (unsigned long long)size,
				    m->lim.max_block);
		m->bhn = 0;
		m->st = ST_BLOCK_HEAD;
		return 0;
	}
	if (m->cb.wants && m->cb.wants(m->cb.ctx, m->id)) {
		if (size > m->lim.max_value)
			return mkv_fail(m, "element 0x%X of %llu bytes (at most %u)", m->id, (unsigned long long)size,
				    m->lim.max_value);
		m->vn = 0;
		m->st = ST_VALUE;
	} else {
		if (size > m->lim.max_skip)
			return mkv_fail(m, "element 0x%X of %llu bytes (at most %llu)", m->id, (unsigned long long)size,
				    (unsigned long long)m->lim.max_skip);
		m->st = ST_SKIP;
	}
	return 0;
}

/* Take header bytes; 0 when more are needed or the header was handled. */
static int head(struct mkv *m, const uint8_t **p, const uint8_t *end)
{
	if (m->hn == 0) {
		int r = close_ended(m);
		if (r)
			return r;
	}
	while (*p < end) {
		m->hdr[m->hn++] = *(*p)++;
		m->pos++;
		size_t idn = vint_len(m->hdr[0]);
		if (idn == 0 || idn > 4)
			return mkv_fail(m, "not an element id (first byte 0x%02X)", m->hdr[0]);
		if (m->hn <= idn)
			continue;
		size_t szn = vint_len(m->hdr[idn]);
		if (szn == 0)
			return mkv_fail(m, "element 0x%X: not a size (first byte 0x%02X)", m->hdr[0], m->hdr[idn]);
		if (m->hn < idn + szn)
			continue;
		m->hn = 0;
		return element(m, idn, szn);
	}
	return 0;
}

static int data(struct mkv *m, const uint8_t **p, const uint8_t *end)
{
	size_t avail = (size_t)(end - *p);
	size_t n = m->left < avail ? (size_t)m->left : avail;
	int r = 0;
	switch (m->st) {
	case ST_VALUE:
		memcpy(m->val + m->vn, *p, n);
		m->vn += n;
		break;
	case ST_BLOCK_HEAD: {
		size_t want = m->bhn ? vint_len(m->bh[0]) + 3 : 1;
		n = 0;
		while (m->bhn < want && *p + n < end) {
			m->bh[m->bhn++] = (*p)[n++];
			if (m->bhn == 1) {
				size_t tl = vint_len(m->bh[0]);
				if (tl == 0 || tl + 3 > m->size)
					return mkv_fail(m, "a SimpleBlock whose track number does not fit");
				want = tl + 3;
			}
		}
		break;
	}
	case ST_BLOCK:
		if (m->cb.block)
			r = m->cb.block(m->cb.ctx, m->track, m->tc, m->flags, *p, n, m->first, m->left == n);
		m->first = false;
		break;
	default:
		break;
	}
	*p += n;
	m->pos += n;
	m->left -= n;
	if (r)
		return r;
	if (m->st == ST_BLOCK_HEAD) {
		size_t tl = vint_len(m->bh[0]);
		if (m->bhn < tl + 3)
			return 0;
		m->track = m->bh[0] & (0xFFu >> tl);
		for (size_t i = 1; i < tl; i++)
			m->track = m->track << 8 | m->bh[i];
		m->tc = (int16_t)(uint16_t)(m->bh[tl] << 8 | m->bh[tl + 1]);
		m->flags = m->bh[tl + 2];
		m->first = true;
		m->st = ST_BLOCK;
		if (m->left == 0 && m->cb.block) { /* a block without payload */
			m->st = ST_HEAD;
			return m->cb.block(m->cb.ctx, m->track, m->tc, m->flags, *p, 0, true, true);
		}
		return 0;
	}
	if (m->left)
		return 0;
	enum st was = m->st;
	m->st = ST_HEAD;
	if (was == ST_VALUE && m->cb.value)
		return m->cb.value(m->cb.ctx, m->id, m->val, m->vn);
	return 0;
}

int mkv_feed(struct mkv *m, const uint8_t *buf, size_t len)
{
	if (m->st == ST_ERROR)
		return -1;
	/* Up to the bound, then the error: where it stops does not depend on how
	 * the stream was cut into chunks. */
	bool over = len > m->lim.max_bytes - m->pos;
	const uint8_t *p = buf, *end = buf + (over ? (size_t)(m->lim.max_bytes - m->pos) : len);
	while (p < end || (m->st != ST_HEAD && m->left == 0 && m->st != ST_ERROR)) {
		int r = m->st == ST_HEAD ? head(m, &p, end) : data(m, &p, end);
		if (r < 0) {
			if (m->st != ST_ERROR) /* the callback's own error */
				m->st = ST_ERROR;
			return -1;
		}
		if (r > 0)
			return 1;
		if (m->st == ST_HEAD && p == end && m->hn == 0) {
			r = close_ended(m);
			if (r)
				return r < 0 ? -1 : 1;
		}
	}
	if (over)
		return mkv_fail(m, "the stream is longer than %llu bytes", (unsigned long long)m->lim.max_bytes);
	return 0;
}

int mkv_finish(struct mkv *m)
{
	if (m->st == ST_ERROR)
		return -1;
	if (m->st != ST_HEAD || m->hn)
		return mkv_fail(m, "the stream ended inside element 0x%X (%llu of its %llu bytes missing)",
			    m->st == ST_HEAD ? m->hdr[0] : m->id, (unsigned long long)(m->st == ST_HEAD ? 0 : m->left),
			    (unsigned long long)m->size);
	while (m->depth > 0) {
		struct frame *f = &m->stack[m->depth - 1];
		if (f->end != UINT64_MAX)
			return mkv_fail(m, "the stream ended inside element 0x%X (%llu bytes missing)", f->id,
				    (unsigned long long)(f->end - m->pos));
		int r = pop(m);
		if (r < 0) {
			m->st = ST_ERROR;
			return -1;
		}
		if (r > 0)
			return 0;
	}
	return 0;
}
