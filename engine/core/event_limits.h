/*
 * What an event may say: each field the engine takes from an event is bounded
 * by what it can really be (a caller id is a phone number or a short name, a
 * recipient list a few addresses), and a field of the wrong type is an error
 * naming it, never silently dropped.  The limits are documented in
 * docs/vmpipe-pipeline.5.md ("EVENT LIMITS").
 */
#ifndef VMPIPE_EVENT_LIMITS_H
#define VMPIPE_EVENT_LIMITS_H

#include <jansson.h>
#include <stddef.h>

#define EV_CALLER_MAX 128          /* caller and dialed number: E.164, a SIP URI, a short name */
#define EV_NAME_MAX 256            /* the recipient's display name */
#define EV_ARN_MAX 256             /* the Connect instance ARN */
#define EV_URI_MAX 4096            /* recording.uri */
#define EV_RECIPIENTS_MAX 50       /* addresses in emailRecipient / recipient.email */
/* Each address: at most 254 bytes, local part at most 64 (RFC 5321; checked
 * by the mail module's parser, engine/mail/address.c). */
#define EV_RECIPIENT_TEXT_MAX 16384 /* the whole list as text, names included */
#define EV_ATTRS_MAX 100           /* contact attributes kept */
#define EV_ATTR_KEY_MAX 128
#define EV_ATTRS_BYTES_MAX 32768   /* keys and values together: Amazon Connect's own cap */

enum ev_kind {
	EV_CALLER,     /* string, at most EV_CALLER_MAX bytes */
	EV_NAME,       /* string, at most EV_NAME_MAX bytes */
	EV_ARN,        /* string, at most EV_ARN_MAX bytes */
	EV_URI,        /* string, at most EV_URI_MAX bytes */
	EV_ID,         /* a plain id (letters, digits, '-', '_', '.'), at most 128 */
	EV_TENANT,     /* a plain name, at most 64 */
	EV_REGION,     /* a plain name, at most 32 */
	EV_TIME,       /* ISO 8601 ("2024-12-11T15:30:05Z") */
	EV_RECIPIENTS, /* an address list: valid addresses, at most EV_RECIPIENTS_MAX */
	EV_ATTRIBUTES, /* an object of string values, bounded as above */
};

/*
 * Check the value `v` of the event field `field` (its name as the event
 * spells it, for the message).  NULL, JSON null and "" are "absent" and pass.
 * 0, or -1 with a message naming the field in err:
 * "Details.ContactData.Attributes.emailRecipient must be a string (got a number)".
 */
int ev_check(enum ev_kind kind, const json_t *v, const char *field, char *err, size_t errsize);

#endif
