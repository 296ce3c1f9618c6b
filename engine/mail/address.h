/*
 * E-mail address lists: "Name <addr>", "\"Doe, Jane\" <addr>", bare addr,
 * comma-separated.  Parsing is strict about the address itself (no control
 * characters, exactly one '@', no spaces, printable ASCII) because it ends up
 * both in headers and in the SMTP envelope.
 */
#ifndef VMPIPE_MAIL_ADDRESS_H
#define VMPIPE_MAIL_ADDRESS_H

#include <stddef.h>

typedef struct mail_addr {
	char *name; /* display name, valid UTF-8 without controls, or NULL; owned */
	char *addr; /* bare addr-spec; owned */
} mail_addr;

typedef struct mail_addrs {
	mail_addr *v; /* owned */
	size_t n;
} mail_addrs;

/*
 * Append the addresses of `list` to `out` (empty elements are skipped).
 * Returns 0, or -1 with a message in `err` naming the offending address
 * (sanitised for printing): "invalid <what> address 'x@': empty domain".
 * On error `out` keeps what it had before the call.
 */
int addr_parse_list(const char *list, mail_addrs *out, const char *what, char *err,
		    size_t errsize);
/* 0 when `addr` is an acceptable bare address, else -1 and a reason in err. */
int addr_check(const char *addr, const char **why);
/* Append a copy of one address (name may be NULL).  0 or -1 (no memory). */
int addr_push(mail_addrs *out, const char *name, const char *addr);
void addr_list_free(mail_addrs *list);

#endif
