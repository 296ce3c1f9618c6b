/*
 * What a file dropped into the spool holds, read as untrusted bytes: a
 * retry request {"vmpipe_retry": "ID"}, an event (event.h: a Connect or S3
 * event, a job record), or a PBX's voicemail mail (pbxmail.h), as `vmpipe
 * sendmail` drops it (its envelope lines first, handover.h).  Nothing here
 * touches the disk: serve_spool.c decides what happens
 * (tests/fuzz/fuzz_drop.c feeds it anything).
 */
#ifndef VMPIPE_DROP_H
#define VMPIPE_DROP_H

#include <stddef.h>

#include "core/job.h"
#include "mail/pbxmail.h"

/* The largest drop read: a mail with its recording. */
#define DROP_MAX_BYTES PBXMAIL_MAX_BYTES

enum drop_kind { DROP_BAD, DROP_EVENT, DROP_RETRY, DROP_MAIL };

struct drop {
	enum drop_kind kind;
	vm_job *job;         /* DROP_EVENT: owned */
	char retry_id[129];  /* DROP_RETRY: a plain id */
	struct pbxmail mail; /* DROP_MAIL: owned (mail.job is the job, audio not stored yet;
			      * audio NULL: the PBX mailed none) */
};

/* Parse `len` bytes.  The kind; DROP_BAD with the reason in err.  Free with
 * drop_free() whatever the kind. */
enum drop_kind drop_parse(const char *data, size_t len, struct drop *d, char *err, size_t errsize);
void drop_free(struct drop *d);

#endif
