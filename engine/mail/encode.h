/*
 * Text and transfer encodings for mail: UTF-8 clean-up, base64,
 * quoted-printable.  All output goes to an mbuf (see mbuf.h).
 */
#ifndef VMPIPE_MAIL_ENCODE_H
#define VMPIPE_MAIL_ENCODE_H

#include <stdbool.h>
#include <stddef.h>

#include "mbuf.h"

enum text_clean_mode {
	CLEAN_UTF8 = 0, /* only repair invalid UTF-8 */
	CLEAN_BODY,     /* also drop control characters except TAB, CR, LF */
	CLEAN_HEADER,   /* also drop every control character; TAB becomes a space */
};

/*
 * A malloc()ed copy of `in` (`len` bytes) that is valid UTF-8: every invalid
 * byte becomes U+FFFD, NUL bytes are dropped, and control characters (C0,
 * DEL, C1) are handled per `mode`.  NULL only when out of memory.
 */
char *text_clean(const char *in, size_t len, enum text_clean_mode mode);
/* Same, into an mbuf. */
void text_clean_to(mbuf *out, const char *in, size_t len, enum text_clean_mode mode);

/* Length of the UTF-8 sequence starting with byte `c` in valid UTF-8 (1..4). */
size_t utf8_seq_len(unsigned char c);
/* True when every byte is printable ASCII or space/TAB/CR/LF. */
bool is_plain_ascii(const char *s, size_t len);

/*
 * Base64 of `len` bytes.  `line` > 0: break lines with CRLF every `line`
 * characters (a multiple of 4) and end the last line with CRLF; 0: one line,
 * no line end.
 */
void b64_encode(mbuf *out, const void *data, size_t len, size_t line);

/*
 * Quoted-printable (RFC 2045 6.7) of text: line ends (LF, CRLF or CR) become
 * CRLF hard breaks; lines longer than 76 get soft breaks; '=', non-ASCII,
 * controls and whitespace before a line end are encoded, and so are a '.' or
 * the 'F' of "From " at a line start (transports and mbox readers mangle
 * those).  Every output line ends with CRLF.
 */
void qp_encode(mbuf *out, const char *text, size_t len);

/*
 * Printable, single-line, bounded rendering of untrusted text for an error
 * message: controls and non-ASCII bytes become \r, \n, \xNN; longer than
 * `size` - 1 is cut with "...".
 */
void text_for_log(const char *in, char *out, size_t size);

#endif
