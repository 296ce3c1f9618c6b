/*
 * Header fields with folding (RFC 5322 2.2.3) and RFC 2047 encoded-words.
 * Lines are kept within 76 characters where the content allows it (an
 * address longer than that stays on its own line, well under 998).
 */
#ifndef VMPIPE_MAIL_HEADER_H
#define VMPIPE_MAIL_HEADER_H

#include "address.h"
#include "mbuf.h"

/* "Name: value" + CRLF for short values the caller knows are safe ASCII
 * (Date, Message-ID, Content-Type, ...). */
void hdr_simple(mbuf *out, const char *name, const char *value);

/*
 * An unstructured field (Subject).  `value` must be valid UTF-8 without
 * control characters (text_clean(…, CLEAN_HEADER)); leading and trailing
 * spaces are dropped.  Plain ASCII is folded at spaces; anything else
 * (non-ASCII, "=?", words too long to fold) is sent as UTF-8 base64
 * encoded-words, never splitting a character between two of them.
 */
void hdr_unstructured(mbuf *out, const char *name, const char *value);

/* An address list field (From, To, Cc, Reply-To); display names are quoted
 * or encoded as needed, a fold may follow each comma. */
void hdr_addresses(mbuf *out, const char *name, const mail_addrs *list);

#endif
