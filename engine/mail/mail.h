/*
 * Engine-internal entry points of the mail module, below the host API
 * (vm_mail_init/vm_mail_build in vmpipe.h), so tools and tests can set it up
 * without a pipeline stage.
 */
#ifndef VMPIPE_MAIL_MAIL_H
#define VMPIPE_MAIL_MAIL_H

#include <stddef.h>

#include <vmpipe/vmpipe.h>

/* Largest template file read. */
#define MAIL_TEMPLATE_MAX (1024 * 1024)

/*
 * vm_mail_init() without a stage: template files are resolved against
 * `config_dir` (NULL: the current directory).  Returns 0 with opts->priv set
 * (release with vm_mail_fini()), or -1 with a message in `err` such as
 * "template_html 'mail.html': line 3: unknown variable 'calller'".
 */
int mail_setup(const char *config_dir, vm_mail_opts *opts, char *err, size_t errsize);

/*
 * After mail_setup(): the allow-list `domains` (the allowed_recipient_domains
 * option; NULL or empty: anyone), against which the configured to, cc and
 * bcc are checked at once.  0, or -1 with the message in err.
 */
int mail_setup_allowed(vm_mail_opts *opts, const char *domains, char *err, size_t errsize);

/*
 * After mail_setup(): the attach_format option ("auto", "original", "wav",
 * "mp3"; NULL or empty: auto).  0, or -1 with the message in err.
 */
int mail_setup_attach_format(vm_mail_opts *opts, const char *format, char *err, size_t errsize);

/*
 * What vm_mail_build() would refuse about the recipients of `job` under the
 * rules of `opts` (allow-list, vm_mail_require_recipient()), without
 * building anything: 0 when they pass; -1 with the very message
 * vm_mail_build() would fail with (VM_PERMANENT) in err; -2 out of memory.
 * The engine asks this at intake, before any stage runs.
 */
int mail_check_recipients(const vm_job *job, const vm_mail_opts *opts, char *err, size_t errsize);

#endif
