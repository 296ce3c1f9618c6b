/*
 * notify-sms: the MessageId of an SNS Publish answer (query protocol, as
 * botocore's sns model shapes it: <PublishResponse><PublishResult>
 * <MessageId>…</MessageId></PublishResult>…), read with expat, not with
 * string search.
 */
#ifndef NOTIFY_SMS_SNS_XML_H
#define NOTIFY_SMS_SNS_XML_H

#include <stddef.h>

/* The first MessageId element's text (malloc()ed, at most 199 bytes), or
 * NULL when the answer is not well-formed XML or has none.  At most the
 * first MiB is read. */
char *sms_sns_message_id(const unsigned char *body, size_t len);

#endif
