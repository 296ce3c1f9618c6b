/*
 * The Range header of a recording download (RFC 9110 14.1.2), one range of
 * bytes: "bytes=A-B", "bytes=A-", "bytes=-N".  Several ranges are answered
 * with the whole file (a server may), so are other units.
 */
#ifndef VMPIPE_RANGE_H
#define VMPIPE_RANGE_H

#include <stdint.h>

/* 1 with [*off, *off + *len) inside `size` (len > 0), 0 to answer the whole
 * (no header, several ranges, another unit, not a range at all), -1
 * unsatisfiable (416: it starts at or past the end, or asks for no byte). */
int http_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len);

#endif
