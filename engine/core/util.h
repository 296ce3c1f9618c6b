/* Small parsers and helpers shared by the engine. */
#ifndef VMPIPE_UTIL_H
#define VMPIPE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "250ms", "70s", "5m", "2h", "7d", a bare number = seconds -> ms.  0 or -1. */
int parse_duration(const char *s, int64_t *ms);
/* "512", "64k", "10M", "1G" (powers of 1024) -> bytes.  0 or -1. */
int parse_size(const char *s, int64_t *bytes);
/* yes/no, true/false, on/off, 1/0.  0 or -1. */
int parse_bool(const char *s, bool *b);
/* Decimal int64, whole string.  0 or -1. */
int parse_int(const char *s, int64_t *v);
/* Index of `s` in the '|'-separated `choices`, or -1. */
int parse_enum(const char *s, const char *choices);
/* "1m 5s", "2h 3m 4s", "42s" into buf, rounded to the second.  Defined for
 * every double: NaN and negatives are "0s", more than FORMAT_DURATION_MAX_S
 * is capped there ("999999h 59m 59s"). */
#define FORMAT_DURATION_MAX_S (1000000LL * 3600 - 1)
void format_duration(double seconds, char *buf, size_t size);

/* "2024-12-11T15:30:05Z" (what vm_format_time() writes) -> ms since the
 * epoch.  0, or -1 when it is not of that form. */
int parse_iso_ms(const char *s, int64_t *ms);

/* A plain identifier for ids, tenants and plugin names: [A-Za-z0-9][A-Za-z0-9._-]*,
 * at most `max` bytes, never "." or "..". */
bool is_plain_name(const char *s, size_t max);

/* Split s3://BUCKET/KEY: the bucket into `bucket` (at most 63 characters, as
 * S3 allows), *key points into `uri`.  0, or -1 when it is not of that form. */
int parse_s3_uri(const char *uri, char *bucket, size_t size, const char **key);

/* Read a whole file (at most `max` bytes).  0, or -1 with errno (EFBIG when larger). */
int read_file(const char *path, size_t max, char **data, size_t *len);
/* The same from an open descriptor, to its end (the caller closes it). */
int read_fd(int fd, size_t max, char **data, size_t *len);
/* write() all of `data`, going on after EINTR and short writes.  0, or -1 with errno. */
int write_all(int fd, const void *data, size_t len);
/* fsync() the directory holding `path`, so a create or rename there is durable.
 * 0, or -1 with errno. */
int fsync_parent(const char *path);
/* Write `data` to `path` atomically: a temporary file ".<name>.tmp-<random>"
 * in the same directory, created exclusively without following links, fsync,
 * rename, fsync of the directory.  Afterwards (at most every 10 minutes per
 * directory and process) temporary files older than 15 minutes that killed
 * writers left there are removed.  0, or -1 with errno. */
int write_file_atomic(const char *path, const void *data, size_t len);
/* Remove the temporary files of write_file_atomic() in `dir` older than 15
 * minutes.  The number removed, or -1 with errno when `dir` cannot be read. */
int sweep_stale_temps(const char *dir);

#endif
