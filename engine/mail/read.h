/*
 * Reading a received message (RFC 5322 + MIME); engine/mail/ otherwise builds
 * them.  What a PBX hands its mail command: headers folded or not, CRLF or LF
 * line ends, RFC 2047 encoded words, multipart bodies (nested, as
 * FreeSWITCH's templates make them), base64 parts.  Nothing here knows about
 * voicemail (engine/mail/pbxmail.c does).
 *
 * Ownership: every struct filled here owns its strings and is released with
 * its _free(); a part's `body` points into the caller's text, which must
 * outlive it.
 */
#ifndef VMPIPE_MAIL_READ_H
#define VMPIPE_MAIL_READ_H

#include <stddef.h>

enum {
	MR_MAX_HEADERS = 500, /* per header block */
	MR_MAX_DEPTH = 5,     /* multipart nesting */
	MR_MAX_PARTS = 100,   /* leaves in one message */
};

typedef struct mr_header {
	char *name;  /* as written */
	char *value; /* unfolded, trimmed, still encoded (raw bytes) */
} mr_header;

typedef struct mr_headers {
	mr_header *v;
	size_t n;
} mr_headers;

/*
 * Split `text` into its header block and body (after the first empty line; a
 * message of headers only has an empty body).  An mbox "From " line before
 * the headers is skipped.  0, or -1 with the reason in err (no header at all,
 * too many headers, out of memory).
 */
int mr_read_headers(const char *text, size_t len, mr_headers *out, const char **body,
		    size_t *body_len, char *err, size_t errsize);
void mr_headers_free(mr_headers *h);
/* The first header called `name` (case-insensitive), or NULL (borrowed). */
const char *mr_get(const mr_headers *h, const char *name);

/* "type/subtype" of a Content-Type value, lower case, into buf; text/plain
 * when `ct` is NULL or unreadable (RFC 2045's default). */
void mr_media_type(const char *ct, char *buf, size_t size);

/* Parameter `name` of a structured value (`; name="x"`, `; name=x`, RFC 2231
 * `name*=charset''x%20y`), malloc()ed, or NULL when absent. */
char *mr_param(const char *value, const char *name);

/*
 * A header value as UTF-8 text: RFC 2047 encoded words decoded (B and Q, any
 * charset iconv knows; whitespace between adjacent words dropped), invalid
 * bytes repaired, control characters removed.  malloc()ed; NULL: no memory.
 */
char *mr_decode_words(const char *value);

/* Base64 (whitespace ignored, stops at padding).  malloc()ed *outlen bytes;
 * NULL on a character outside the alphabet or no memory. */
unsigned char *mr_base64(const char *s, size_t len, size_t *outlen);

typedef struct mr_part {
	mr_headers headers;
	const char *body; /* into the message, still transfer-encoded */
	size_t len;
} mr_part;

typedef struct mr_parts {
	mr_part *v;
	size_t n;
	int unterminated; /* multiparts that ran to the end of the text without their
			   * closing delimiter: a cut mail (or a sloppy writer) */
} mr_parts;

/*
 * The leaves of the MIME tree of the message `text`, depth first (the whole
 * message is one leaf when it is not multipart).  A multipart without its
 * closing delimiter ends at the end of the text.  0, or -1 with err (a
 * multipart without boundary or without any part, nesting or part limits).
 */
int mr_parts_read(const char *text, size_t len, mr_parts *out, char *err, size_t errsize);
void mr_parts_free(mr_parts *p);

#endif
