/*
 * The recording as a mail attachment: fetched when asked (attach), made
 * playable (attach_format, vm_audio_playable()), bounded by attach_max.
 * Engine-internal, for mail.c.
 */
#ifndef VMPIPE_MAIL_ATTACH_H
#define VMPIPE_MAIL_ATTACH_H

#include <stddef.h>

#include <vmpipe/vmpipe.h>

#include "vars.h" /* enum mail_attach_outcome */

/*
 * What to attach for `job` under `opts` and `format` (VM_PLAYABLE_*).  A
 * failure only costs the attachment: the link is in the body anyway, so it
 * is logged, the templates say so ({{attachment_too_large}},
 * {{attachment_failed}}) and the mail goes out.  ATTACH_DONE with `buf`
 * filled (the caller frees buf->data) and *content_type set (a static
 * string or the record's recording.content_type, valid while the job is).
 */
enum mail_attach_outcome mail_attachment(vm_job *job, const vm_mail_opts *opts, int format,
                                         vm_buf *buf, const char **content_type);

/* "voicemail-<id>.<ext>" for `content_type`, the id reduced to safe characters. */
void mail_attachment_name(const vm_job *job, const char *content_type, char *out, size_t size);

#endif
