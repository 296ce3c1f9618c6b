/*
 * notify-ses: which recipients may be mailed, and which header each came from.
 *
 * The allow-list (allowed_recipient_domains) exists because the recipient
 * comes from a contact attribute: whoever can edit the contact flow, or get a
 * caller's input into that attribute, must not be able to use the company's
 * verified SES identity to mail anyone.
 */
#ifndef NOTIFY_SES_RECIPIENTS_H
#define NOTIFY_SES_RECIPIENTS_H

#include <stdbool.h>
#include <stddef.h>

/* A list of lower-cased strings; owns them. */
struct ses_list {
	char **v;
	size_t n;
};

void ses_list_free(struct ses_list *l);

/*
 * Parse "example.com, *.example.org": domains (letters, digits, '-', '.'),
 * each optionally "*." to allow every subdomain (not the domain itself).
 * An empty or NULL list gives an empty result (everything allowed).
 * 0, or -1 with the reason in err.
 */
int ses_domains_parse(const char *text, struct ses_list *out, char *err, size_t errsize);

/* True when `domains` is empty or the domain of bare address `addr` is listed. */
bool ses_domain_allowed(const struct ses_list *domains, const char *addr);

/* "example.com, *.example.org" (at most `size` bytes) for messages. */
void ses_list_join(const struct ses_list *l, char *out, size_t size);

/*
 * The bare addresses of an address-list option as the mail module parsed it
 * ("Desk <desk@x>, \"Doe, J\" <j@x>, a@y" -> desk@x, j@x, a@y), so the plugin
 * can tell a Cc or Bcc recipient from a To one.  NULL text: empty list.
 * 0, or -1 (out of memory).
 */
int ses_bare_addrs(const char *text, struct ses_list *out);

/* True when `addr` (case-insensitive) is in `l`. */
bool ses_list_has(const struct ses_list *l, const char *addr);

#endif
