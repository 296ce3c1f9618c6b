/*
 * The Range header of a download (see range.h).
 */
#include "range.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int http_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
	if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 0;
	const char *s = h + 6;
	char *end;
	uint64_t a, b = size ? size - 1 : 0;
	errno = 0;
	if (*s == '-') {
		if (s[1] < '0' || s[1] > '9')
			return 0; /* not a range: ignored, as RFC 9110 says */
		uint64_t n = strtoull(s + 1, &end, 10);
		if (errno || *end)
			return 0;
		if (n == 0 || size == 0)
			return -1;
		a = n >= size ? 0 : size - n;
	} else {
		if (*s < '0' || *s > '9')
			return 0;
		a = strtoull(s, &end, 10);
		if (errno || *end != '-')
			return 0;
		if (end[1]) {
			if (end[1] < '0' || end[1] > '9')
				return 0;
			uint64_t last = strtoull(end + 1, &end, 10);
			if (errno || *end || last < a)
				return 0;
			if (last < b)
				b = last;
		}
		if (a >= size)
			return -1;
	}
	*off = a;
	*len = b - a + 1;
	return 1;
}
