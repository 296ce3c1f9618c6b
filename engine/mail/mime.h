/*
 * The RFC 5322 / MIME message: headers, multipart/alternative (text, HTML),
 * optionally wrapped in multipart/mixed with one attachment.  CRLF line
 * ends; body lines at most 76 characters (quoted-printable or base64).
 */
#ifndef VMPIPE_MAIL_MIME_H
#define VMPIPE_MAIL_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "address.h"

typedef struct mime_attachment {
	const unsigned char *data;
	size_t len;
	const char *content_type; /* "audio/wav"; must be a valid type/subtype */
	const char *filename;     /* plain ASCII, no quotes or controls */
} mime_attachment;

typedef struct mime_msg {
	const mail_addrs *from;     /* exactly one */
	const mail_addrs *to;       /* may be empty: no To header */
	const mail_addrs *cc;       /* may be NULL or empty */
	const mail_addrs *reply_to; /* may be NULL or empty */
	const char *subject;        /* valid UTF-8 without control characters */
	const char *text;           /* the text/plain body, valid UTF-8 */
	const char *html;           /* the text/html body, valid UTF-8 */
	const mime_attachment *attachment; /* or NULL */
	int64_t date_ms;
	const char *message_id;     /* "<…@…>" */
	const char *in_reply_to;    /* "<…@…>" or NULL: a follow-up's first mail */
	const char *references;     /* "<…> <…>" or NULL: every earlier one, oldest first */
} mime_msg;

/* The message (malloc()ed, NUL-terminated; caller frees), or NULL when out
 * of memory or when no random bytes could be had for the boundaries. */
char *mime_build(const mime_msg *m, size_t *len);

/* "Wed, 11 Dec 2024 15:30:05 +0000" (RFC 5322 3.3) into buf (>= 32 bytes). */
void mime_format_date(int64_t ms, char *buf, size_t size);

/* "<KEY@domain>", the domain taken from `from_addr`: KEY is the
 * notification's stable key (vm_job_notification_key), or NULL for 32 random
 * hex digits.  malloc()ed; NULL on failure. */
char *mime_message_id(const char *key, const char *from_addr);

/* `n` random bytes as 2n hex digits into buf (>= 2n + 1 bytes).  0 or -1. */
int mime_random_hex(char *buf, size_t n);

/* True when `ct` is a plain "type/subtype" safe to put in a header. */
int mime_valid_type(const char *ct);

#endif
