/*
 * The listen routes of `vmpipe serve` ([serve] listen; docs/serve.md): a
 * signed job link (core/link.h) opens the listen page (mail/listen_page.h)
 * at /l/, and its recording at /l/audio (HEAD, Range, If-None-Match).
 *
 * No path from a URL reaches the filesystem: a link names a job; the job's
 * checkpoint (in the state directory) names its recording, which is opened
 * only beneath one of the recording directories, one component at a time
 * with O_NOFOLLOW.  Everything here is read-only after listen_new(): the
 * HTTP threads share it.
 */
#ifndef VMPIPE_LISTEN_H
#define VMPIPE_LISTEN_H

#include <stddef.h>

#include "core/pipeline.h"
#include "http.h"

struct listen;

/* From the base pipeline: key (made when missing), public_url, state
 * directory, recording directories.  NULL with the reason in err. */
struct listen *listen_new(const struct pipeline *p, char *err, size_t errsize);
void listen_free(struct listen *l);

/* The route of the listener: "/l/" (its ctx is l). */
struct http_route listen_route(struct listen *l);

#endif
