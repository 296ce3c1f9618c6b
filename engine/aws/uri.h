/*
 * URI percent-encoding for AWS requests (RFC 3986, as SigV4 wants it).
 * Owner: sigv4.
 *
 * SigV4 and S3 agree on one encoding: every byte except the unreserved
 * characters A-Z a-z 0-9 - . _ ~ becomes %XX with upper-case hex, UTF-8 bytes
 * one by one.  S3 keys keep their '/' so they can go in a path as they are.
 *
 * The *_into functions write into a caller buffer that must hold
 * URI_ENCODED_MAX(len) bytes (3 per input byte plus the terminating NUL),
 * so they cannot overflow; they return the length written.  The others
 * return a malloc()ed string the caller frees, or NULL when out of memory.
 */
#ifndef VMPIPE_AWS_URI_H
#define VMPIPE_AWS_URI_H

#include <stdbool.h>
#include <stddef.h>

#define URI_ENCODED_MAX(len) (3 * (len) + 1)

/* True for A-Z a-z 0-9 - . _ ~ */
bool uri_is_unreserved(unsigned char c);

/* Encode `len` bytes of `src`; '/' is kept when keep_slash. */
size_t uri_encode_into(char *dst, const char *src, size_t len, bool keep_slash);

/*
 * Decode %XX escapes in place of a copy: writes at most `len` bytes plus a NUL
 * into dst (which must hold len + 1).  '+' stays '+' (SigV4 does not treat it
 * as a space); a '%' not followed by two hex digits is kept as it is.
 */
size_t uri_decode_into(char *dst, const char *src, size_t len);

/* An S3 object key for a path: "ivr/2024/a b.wav" -> "ivr/2024/a%20b.wav". */
char *uri_encode_s3_key(const char *key);
/* A query-string key or value: everything but the unreserved set encoded. */
char *uri_encode_query_value(const char *value);

#endif /* VMPIPE_AWS_URI_H */
