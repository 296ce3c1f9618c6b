/*
 * notify-ses: which header (To, Cc, Bcc) each recipient came from.  (The
 * allow-list, allowed_recipient_domains, is the mail module's: every e-mail
 * notifier has it; see engine/mail/allow.h.)
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

/* "a@x, b@y" (at most `size` bytes) for messages. */
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
