/*
 * A growable byte buffer for building messages.  Allocation failure is
 * sticky: every append after it is a no-op and mbuf_take() returns NULL, so
 * builders append freely and check once at the end.
 */
#ifndef VMPIPE_MAIL_MBUF_H
#define VMPIPE_MAIL_MBUF_H

#include <stdbool.h>
#include <stddef.h>

#include <vmpipe/vmpipe.h>

typedef struct mbuf {
	char *data; /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	bool oom;
} mbuf;

#define MBUF_INIT {NULL, 0, 0, false}

void mbuf_add(mbuf *b, const void *p, size_t n);
void mbuf_puts(mbuf *b, const char *s);
void mbuf_putc(mbuf *b, char c);
void mbuf_printf(mbuf *b, const char *fmt, ...) VM_PRINTF(2, 3);
/* The contents as a malloc()ed NUL-terminated string (caller frees; "" when
 * empty), or NULL after an allocation failure.  The buffer is left empty. */
char *mbuf_take(mbuf *b, size_t *len);
void mbuf_free(mbuf *b);

#endif
