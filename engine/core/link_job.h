/*
 * Recording links on a host (`vmpipe serve`, docs/serve.md): the key in
 * [serve] link_key_file, and the link a mail carries when [serve] public_url
 * is set (the listen page of link.h's job links).  Owner: core.
 */
#ifndef VMPIPE_LINK_JOB_H
#define VMPIPE_LINK_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include "link.h"
#include "pipeline.h"

struct link_key {
	unsigned char k[LINK_SECRET_MAX];
	size_t len;
};

/* [serve] link_key_file resolved against the pipeline's directory (into buf). */
void link_key_path(const struct pipeline *p, char *buf, size_t size);

/*
 * Read the key from `path` (trailing newline ignored).  With `create`, a
 * missing file is made first: 32 random bytes, hex, mode 0600, O_EXCL (so
 * two starting processes agree on one key).  A key file that others may read
 * or write is refused.  0, or -1 with the reason in err.
 */
int link_key_load(const char *path, bool create, struct link_key *key, char *err, size_t errsize);
void link_key_clear(struct link_key *key);

/*
 * Before the notifiers: with [serve] public_url set and a recording on this
 * host (file://), recording.url becomes the job's listen page, valid for
 * link_expires (url_kind "listen").  0 (also when there is nothing to do),
 * -1 when the key cannot be read (logged): the mail then says where the
 * recording is kept.
 */
int link_job_attach(const struct pipeline *p, vm_job *job);

#endif
