/*
 * The listen routes of `vmpipe serve` ([serve] listen; docs/serve.md): a
 * signed job link (core/link.h) opens the listen page (mail/listen_page.h)
 * at /l/, and its recording at /l/audio (HEAD, Range, If-None-Match).
 *
 * No path from a URL reaches the filesystem: a link names a job; the job's
 * checkpoint (in the state directory) names its recording, which is opened
 * only beneath one of the recording directories, one component at a time
 * with O_NOFOLLOW.  Everything here is read-only after listen_new(): the
 * HTTP threads share it (serve_http.c swaps in a new one on SIGHUP).
 */
#ifndef VMPIPE_LISTEN_H
#define VMPIPE_LISTEN_H

#include <stddef.h>

#include "core/pipeline.h"
#include "core/tenant.h"
#include "http.h"

struct listen;

/* From the base pipeline of `ts`: key (made when missing), public_url;
 * and from it and every tenant whose mails link here (tenant.h), the state
 * directories and the recording directories.  NULL with the reason in err. */
struct listen *listen_new(struct tenants *ts, char *err, size_t errsize);
void listen_free(struct listen *l);

/* What the listener answers under LISTEN_PREFIX (an http_route handler
 * whose ctx is l). */
#define LISTEN_PREFIX "/l/"
enum MHD_Result listen_answer(void *l, struct MHD_Connection *c, const char *method, const char *url);

#endif
