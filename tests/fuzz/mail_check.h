/*
 * A structure check of a message vm_mail_build() made, for fuzz_mail.c: what
 * an MTA, a spam filter or a mail reader assumes of a message, checked by a
 * reader of its own (it shares no code with engine/mail).
 *
 *  - 7-bit, no NUL, every line ends with CRLF (no bare CR or LF), no line
 *    over 998 octets, no line starting with "From " or '.';
 *  - a header section of known fields only, each at most once, the
 *    required ones present, well-formed folding (no continuation first, no
 *    whitespace-only line) and encoded-words (=?UTF-8?B?…?=, at most 75
 *    characters, valid base64 of valid UTF-8);
 *  - the Subject decodes (RFC 2047, unfolded) to exactly the text expected;
 *  - every envelope recipient is in To or Cc, except the Bcc, which no
 *    header shows;
 *  - the MIME tree parses back: multipart/alternative of text/plain and
 *    text/html (charset=utf-8), inside multipart/mixed with the attachment
 *    when there is one; boundaries only where they belong; body lines of at
 *    most 76 characters of valid quoted-printable or base64 that decode to
 *    valid UTF-8 without bare CR or LF; the HTML with no tag, attribute or
 *    stray '<' / '>' its template does not have (no markup from a value);
 *    the attachment decodes to the expected number of bytes.
 */
#ifndef FUZZ_MAIL_CHECK_H
#define FUZZ_MAIL_CHECK_H

#include <stdbool.h>
#include <stddef.h>

struct mail_expect {
	const char *subject;       /* the decoded Subject expected */
	const char *html_template; /* the HTML template the message was rendered from */
	long attachment_len;       /* bytes of the attachment, or -1 when none is expected */
	char *const *rcpt;         /* the envelope recipients (NULL-terminated) */
	const char *bcc;           /* an address no header may show, or NULL */
	bool bcc_text_in_job;      /* the job's own text holds it: headers may show it */
};

/* 0 when `msg` passes; -1 with the first problem (and where) in `why`. */
int mail_check(const char *msg, size_t len, const struct mail_expect *e, char *why, size_t whysz);

#endif
