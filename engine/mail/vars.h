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
	VAR_FOLLOWUP,
	VAR_LANGUAGE,
	VAR_URL,
	VAR_URL_EXPIRES_AT,
	VAR_RECEIVED_AT,
	VAR_DATE,
	VAR_ATTACHED,
	VAR_ATTACHMENT_TOO_LARGE,
	VAR_ATTACHMENT_FAILED,
	VAR_ATTACH_MAX,
	VAR_CALLER_NAME,
	VAR_CALLER_DISPLAY,
	VAR_MAILBOX,
	VAR_INCOMPLETE,
	VAR_RECORDING_FILE,
	VAR_TIMEZONE,
	VAR_RECORDING_NOT_SENT,
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

/* What became of the recording as an attachment (the notifier's `attach`). */
enum mail_attach_outcome {
	ATTACH_NONE,      /* attach = no, or no recording to attach */
	ATTACH_DONE,      /* it is in the message */
	ATTACH_TOO_LARGE, /* over attach_max: the link only */
	ATTACH_FAILED,    /* no recording, or it could not be read: the link only */
};

/*
 * Set {{attached}}, {{attachment_too_large}}, {{attachment_failed}} and
 * {{attach_max}} ("10 MB"; `limit` in bytes, <= 0: empty) after
 * mail_vars_build(), which leaves them empty.  0, or -1 when out of memory
 * (`vars` is then freed).
 */
int mail_vars_attachment(mail_vars *vars, enum mail_attach_outcome outcome, int64_t limit);
/* 10485760 -> "10 MB", 1536 -> "1.5 KB", 512 -> "512 bytes" (powers of 1024). */
void format_size(int64_t bytes, char *buf, size_t size);

/* "11 December 2024, 15:30 UTC". */
void format_human_date(int64_t ms, char *buf, size_t size);
/*
 * The same in the zone `tz` (an IANA name such as "Europe/Berlin"; NULL or
 * "": the host's, /etc/localtime or TZ), the zone's abbreviation named:
 * "11 December 2024, 16:30 CET".  false (buf: the UTC form) when `tz` is
 * not a zone this host knows.
 */
bool format_human_date_tz(int64_t ms, const char *tz, char *buf, size_t size);
/* Parse "2024-12-11T15:30:05Z" (fraction and ±hh:mm allowed) to ms; false if not. */
bool parse_iso8601(const char *s, int64_t *ms);

#endif
