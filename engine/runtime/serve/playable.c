/*
 * The playable form of a recording for the listen pages (see playable.h).
 */
#include "playable.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vmpipe/vmpipe.h>

#include "core/log.h"
#include "core/util.h"

#define ENTRIES 16
#define READ_MAX (200u << 20) /* an hour of 16-bit 16 kHz stereo is 230 MB; decoding caps it anyway */

struct entry {
	char etag[96];
	bool kept;           /* the original plays: no copy */
	unsigned char *data;
	size_t len;
	const char *type;
	uint64_t used;
};

struct playable_cache {
	pthread_mutex_t mu;
	struct entry e[ENTRIES];
	uint64_t clock;
};

struct playable_cache *playable_cache_new(void)
{
	struct playable_cache *c = calloc(1, sizeof *c);
	if (c)
		pthread_mutex_init(&c->mu, NULL);
	return c;
}

void playable_cache_free(struct playable_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < ENTRIES; i++)
		free(c->e[i].data);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* Under the lock: the answer for entry `i`. */
static int answer(struct playable_cache *c, size_t i, unsigned char **out, size_t *len, const char **type)
{
	struct entry *e = &c->e[i];
	e->used = ++c->clock;
	if (e->kept)
		return 1;
	if (!(*out = malloc(e->len ? e->len : 1)))
		return -1;
	memcpy(*out, e->data, e->len);
	*len = e->len;
	*type = e->type;
	return 0;
}

static int find(struct playable_cache *c, const char *etag, unsigned char **out, size_t *len, const char **type)
{
	for (size_t i = 0; i < ENTRIES; i++)
		if (c->e[i].used && strcmp(c->e[i].etag, etag) == 0)
			return answer(c, i, out, len, type);
	return 2;
}

int playable_get(struct playable_cache *c, int fd, const char *etag, unsigned char **out, size_t *len,
		 const char **content_type)
{
	*out = NULL;
	*len = 0;
	pthread_mutex_lock(&c->mu);
	int rc = find(c, etag, out, len, content_type);
	pthread_mutex_unlock(&c->mu);
	if (rc != 2)
		return rc;
	/* Not known yet: read and convert outside the lock (two threads may
	 * both do it the first time; the second insert finds the first). */
	char *data = NULL;
	size_t n = 0;
	if (lseek(fd, 0, SEEK_SET) != 0 || read_fd(fd, READ_MAX, &data, &n) != 0)
		return -1;
	vm_buf conv = {0};
	const char *type = NULL;
	char err[300];
	int k = vm_audio_playable((const unsigned char *)data, n, VM_PLAYABLE_AUTO, &conv, &type, err, sizeof err);
	free(data);
	if (k < 0)
		log_msg(NULL, "listen", VM_LOG_INFO, "recording served as recorded: %s", err);
	pthread_mutex_lock(&c->mu);
	rc = find(c, etag, out, len, content_type);
	if (rc == 2) {
		size_t victim = 0;
		for (size_t i = 1; i < ENTRIES; i++)
			if (c->e[i].used < c->e[victim].used)
				victim = i;
		struct entry *e = &c->e[victim];
		free(e->data);
		memset(e, 0, sizeof *e);
		snprintf(e->etag, sizeof e->etag, "%s", etag);
		e->kept = k != 0;
		e->data = conv.data;
		e->len = conv.len;
		e->type = type;
		conv.data = NULL;
		rc = answer(c, victim, out, len, content_type);
	}
	pthread_mutex_unlock(&c->mu);
	free(conv.data);
	return rc;
}
