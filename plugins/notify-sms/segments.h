/*
 * notify-sms: how many SMS segments a text takes, as 3GPP TS 23.038 (the
 * GSM 7-bit default alphabet and its extension table) and TS 23.040 (the
 * concatenation header) define it, and the AWS End User Messaging SMS user
 * guide counts it ("SMS character limits"):
 *
 *  - GSM-7 when every character is in the default alphabet or its extension
 *    table (an extension character, ^ { } \ [ ] ~ | € and form feed, takes two
 *    septets: escape + code); 160 septets in one message, 153 per segment of
 *    a longer one, and an escape pair is never split across two segments;
 *  - UCS-2 (UTF-16) otherwise; 70 code units in one message, 67 per segment,
 *    and a character outside the BMP (two code units, a surrogate pair) is
 *    never split.
 */
#ifndef NOTIFY_SMS_SEGMENTS_H
#define NOTIFY_SMS_SEGMENTS_H

#include <stdbool.h>
#include <stddef.h>

enum sms_encoding { SMS_GSM7, SMS_UCS2 };

struct sms_count {
	enum sms_encoding encoding;
	size_t units;    /* septets (GSM-7) or UTF-16 code units (UCS-2) */
	size_t chars;    /* Unicode characters */
	size_t segments; /* 0 for the empty text */
};

#define SMS_MAX_SEGMENTS 10 /* what the option allows (End User Messaging splits up to 10) */

/* Count `s` (UTF-8).  0, or -1 when `s` is not valid UTF-8 (out untouched). */
int sms_count(const char *s, struct sms_count *out);

/* True when the Unicode character `c` is in the GSM-7 default alphabet or
 * its extension table; *septets is then 1 or 2. */
bool sms_gsm7(unsigned c, int *septets);

/*
 * The body "HEAD TEXT… TAIL" within `max_segments`: `text` is cut at a word
 * boundary and an ellipsis put where it was cut ("..." when the rest is GSM-7,
 * "…" when it is UCS-2 anyway: the ellipsis character alone would turn a GSM
 * message into UCS-2 and halve its room); a single word longer than the room
 * is cut between two characters, never inside one.  `sep` goes between head
 * and text, and text and tail, only where both sides are non-empty.  NULL
 * parts are empty.  Returns the body (malloc()ed) and sets *cut when text was
 * shortened, or NULL when even head and tail alone need more than
 * max_segments (or out of memory: *cut is then false and errno ENOMEM).
 */
char *sms_fit(const char *head, const char *text, const char *tail, const char *sep,
	      size_t max_segments, bool *cut);

#endif
