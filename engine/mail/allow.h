/*
 * Which recipients a mail notifier may mail: the allowed_recipient_domains
 * option every e-mail notifier shares (VM_MAIL_OPTIONS).
 *
 * The recipient comes from a contact attribute: whoever can edit the contact
 * flow, or get a caller's input into that attribute, must not be able to use
 * the company's verified sender to mail anyone.
 */
#ifndef VMPIPE_MAIL_ALLOW_H
#define VMPIPE_MAIL_ALLOW_H

#include <stdbool.h>
#include <stddef.h>

/* Lower-cased domains, each "example.com" or "*.example.com"; owns them. */
typedef struct mail_domains {
	char **v;
	size_t n;
} mail_domains;

/*
 * Parse "example.com, *.example.org": domains (letters, digits, '-', '.'),
 * each optionally "*." to allow every subdomain (not the domain itself).
 * NULL or empty: an empty list (everyone allowed).  0, or -1 with the reason
 * in err ("'x@y.com': write the domain only, without a local part").
 */
int mail_domains_parse(const char *text, mail_domains *out, char *err, size_t errsize);
void mail_domains_free(mail_domains *d);

/* True when `d` is empty or the domain of bare address `addr` is in it. */
bool mail_domain_allowed(const mail_domains *d, const char *addr);

/* "example.com, *.example.org" (at most `size` bytes) for messages. */
void mail_domains_join(const mail_domains *d, char *out, size_t size);

#endif
