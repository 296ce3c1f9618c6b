/* URI percent-encoding for AWS requests.  See uri.h. */
#include "uri.h"

#include <stdlib.h>
#include <string.h>

static const char HEX[] = "0123456789ABCDEF";

bool uri_is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

size_t uri_encode_into(char *dst, const char *src, size_t len, bool keep_slash)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		if (uri_is_unreserved(c) || (keep_slash && c == '/')) {
			dst[n++] = (char)c;
		} else {
			dst[n++] = '%';
			dst[n++] = HEX[c >> 4];
			dst[n++] = HEX[c & 15];
		}
	}
	dst[n] = '\0';
	return n;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t uri_decode_into(char *dst, const char *src, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (src[i] == '%' && i + 2 < len && (hi = hexval((unsigned char)src[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)src[i + 2])) >= 0) {
			dst[n++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			dst[n++] = src[i];
		}
	}
	dst[n] = '\0';
	return n;
}

static char *encode_dup(const char *s, bool keep_slash)
{
	if (!s)
		return NULL;
	size_t len = strlen(s);
	char *out = malloc(URI_ENCODED_MAX(len));
	if (out)
		uri_encode_into(out, s, len, keep_slash);
	return out;
}

char *uri_encode_s3_key(const char *key)
{
	return encode_dup(key, true);
}

char *uri_encode_query_value(const char *value)
{
	return encode_dup(value, false);
}
