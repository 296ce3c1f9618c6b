/*
 * The template variables of one job, computed from its record.  The list of
 * names is the contract documented in docs/templates.md.
 */
#ifndef VMPIPE_MAIL_VARS_H
#define VMPIPE_MAIL_VARS_H

#include <stddef.h>
#include <stdint.h>

#include <vmpipe/vmpipe.h>

enum mail_var {
	VAR_ID,
	VAR_CALLER,
	VAR_DIALED,
	VAR_RECIPIENT_NAME,
	VAR_RECIPIENT_EMAIL,
	VAR_CONTACT_ID,
	VAR_TENANT,
	VAR_DURATION,
	VAR_DURATION_SECONDS,
	VAR_TRANSCRIPT,
	VAR_TRANSCRIPT_PREVIEW,
	VAR_TRANSCRIPT_STATUS,
	VAR_NO_SPEECH,
	VAR_TRANSCRIPT_UNAVAILABLE,
	VAR_RECORDING_MISSING,
	VAR_LANGUAGE,
	VAR_URL,
	VAR_URL_EXPIRES_AT,
	VAR_RECEIVED_AT,
	VAR_DATE,
	VAR_COUNT
};

/* The names, indexed by enum mail_var. */
extern const char *const mail_var_names[VAR_COUNT];

typedef struct mail_vars {
	char *v[VAR_COUNT]; /* valid UTF-8, never NULL after mail_vars_build(); owned */
} mail_vars;

/*
 * Fill `out` from `job`.  `recipient_email` is the To list as the message
 * will carry it and `first_addr` its first bare address (both may be NULL).
 * Returns 0, or -1 when out of memory (out is then already freed).
 */
int mail_vars_build(const vm_job *job, const char *recipient_email, const char *first_addr,
		    mail_vars *out);
void mail_vars_free(mail_vars *vars);

/* "11 December 2024, 15:30 UTC". */
void format_human_date(int64_t ms, char *buf, size_t size);
/* Parse "2024-12-11T15:30:05Z" (fraction and ±hh:mm allowed) to ms; false if not. */
bool parse_iso8601(const char *s, int64_t *ms);

#endif
