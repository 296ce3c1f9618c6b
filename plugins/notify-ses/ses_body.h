/*
 * notify-ses: the SES v2 SendEmail request body and response, as the API
 * reference (botocore's sesv2 2019-09-27 model) defines them:
 *
 *   POST /v2/email/outbound-emails
 *   {"FromEmailAddress", "FromEmailAddressIdentityArn",
 *    "Destination": {"ToAddresses", "CcAddresses", "BccAddresses"},
 *    "Content": {"Raw": {"Data": base64 of the RFC 5322 message}},
 *    "ConfigurationSetName", "EmailTags": [{"Name", "Value"}]}
 *   -> {"MessageId": "…"}
 */
#ifndef NOTIFY_SES_BODY_H
#define NOTIFY_SES_BODY_H

#include <stddef.h>

/* SES v2 limits (service quotas page and the API reference). */
#define SES_MAX_MESSAGE_B64 (40u * 1024 * 1024) /* 40 MB per message after base64 */
#define SES_MAX_RECIPIENTS 50                  /* To + Cc + Bcc */
#define SES_TAG_MAX 256                        /* bytes of a tag name or value */

struct ses_tag {
	const char *name;
	const char *value;
};

struct ses_send {
	const char *from;      /* bare address: FromEmailAddress */
	const char *from_arn;  /* FromEmailAddressIdentityArn, or NULL */
	char *const *to;       /* NULL-terminated bare addresses (each may be empty) */
	char *const *cc;
	char *const *bcc;
	const char *data;      /* the raw message */
	size_t len;
	const char *config_set; /* ConfigurationSetName, or NULL */
	const struct ses_tag *tags;
	size_t ntags;
};

/* Length of base64 of `len` bytes (what counts against SES_MAX_MESSAGE_B64). */
size_t ses_b64_len(size_t len);

/* The JSON body (malloc()ed, caller frees; *len set), or NULL (out of memory). */
char *ses_body_build(const struct ses_send *s, size_t *len);

/* The MessageId of a SendEmail answer (malloc()ed), or NULL when absent. */
char *ses_message_id(const unsigned char *body, size_t len);

/* True when `s` is a valid tag name/value: 1-256 of [A-Za-z0-9_-]. */
int ses_tag_valid(const char *s);

/* `in` reduced to the tag charset (others become '_'), at most 256 bytes,
 * into out (size > SES_TAG_MAX).  Returns the length (0: nothing usable). */
size_t ses_tag_clean(const char *in, char *out, size_t size);

#endif
