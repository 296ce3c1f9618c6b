/*
 * The form a listen page plays (vm_audio_playable(), AUTO): a PCM WAV as it
 * is, GSM 6.10, mu-law and A-law as MP3, which browsers play.  A seek is a
 * new Range request, so the converted form is kept, by the recording's ETag,
 * in a small cache shared by the HTTP threads (least recently used out).
 */
#ifndef VMPIPE_PLAYABLE_H
#define VMPIPE_PLAYABLE_H

#include <stddef.h>

struct playable_cache;

struct playable_cache *playable_cache_new(void);
void playable_cache_free(struct playable_cache *c);

/*
 * The playable form of the open recording `fd` (read from its start), whose
 * ETag is `etag`: 1 to serve the file as it is; 0 with *out a malloc()ed
 * copy of the converted form (*len bytes, *content_type static); -1 when it
 * cannot be read or is too large (serve the file as it is then too).
 */
int playable_get(struct playable_cache *c, int fd, const char *etag, unsigned char **out, size_t *len,
		 const char **content_type);

#endif
