/*
 * notify-sms: destination numbers.  E.164 (ITU-T E.164 as AWS End User
 * Messaging SMS and SNS take it): '+', then 2 to 15 digits, the first not 0.
 * Nothing is normalised: "+1 555 0100" is refused, not guessed at.
 */
#ifndef NOTIFY_SMS_PHONE_H
#define NOTIFY_SMS_PHONE_H

#include <stdbool.h>
#include <stddef.h>

#define SMS_RECIPIENTS_MAX 10

bool sms_e164(const char *s);

/* "+15555550123" -> "+15…23" into buf: enough for a log line to tell two
 * recipients apart, not enough to be the number. */
void sms_mask(const char *number, char *buf, size_t size);

/*
 * Split the comma list `list` into at most SMS_RECIPIENTS_MAX numbers
 * (trimmed, duplicates dropped) written into `out` (each 16 bytes + NUL).
 * Returns how many, or -1 with the reason in `why` (masked: a number is not
 * logged in full): not E.164, too many.  An empty list is 0.
 */
int sms_recipients(const char *list, char out[][17], char *why, size_t size);

/*
 * True when `number` starts with one of the comma list `prefixes` of E.164
 * prefixes ("+1, +44": the calling codes texts may go to; "+1212": an area
 * too); NULL or empty: every number.
 */
bool sms_prefix_allowed(const char *number, const char *prefixes);

/* 0 when `prefixes` is a comma list of '+' and 1-15 digits, else -1 with the
 * bad item in why. */
int sms_prefixes_check(const char *prefixes, char *why, size_t size);

#endif
