/*
 * Where Amazon Connect puts a contact's recording: the key prefixes to list.
 *
 *   {prefix}{layout for the day}{contact id}_
 *
 * e.g. "connect/acme/CallRecordings/ivr/2024/12/11/0a1b…_".  The layout
 * holds {yyyy}, {mm} and {dd} (UTC).  The recording's day is the day of the
 * invocation (received_at); near midnight the adjacent day is listed too,
 * since the file name and folder carry the recording's start time.
 */
#ifndef LOCATE_S3_KEYS_H
#define LOCATE_S3_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define KEYS_MAX_PREFIXES 4
#define KEYS_PREFIX_MAX 1024 /* S3 keys are at most 1024 bytes */

/* Within this of midnight UTC, the adjacent day is searched as well. */
#define KEYS_MIDNIGHT_WINDOW_MS (15LL * 60 * 1000)

/* 0 when `layout` only uses known placeholders, else -1 with err. */
int keys_check_layout(const char *layout, char *err, size_t errsz);

/* Expand the layout for the UTC day of `ms` into out; -1 when too long. */
int keys_day_dir(const char *layout, int64_t ms, char *out, size_t size);

/* Parse "2024-12-11T15:30:05Z" (fraction and offset allowed); -1 if not. */
int keys_parse_time(const char *iso, int64_t *ms);

/*
 * The prefixes to list, most likely first: the initial contact id on the
 * contact's day, on the adjacent day near midnight, then the same for the
 * contact id when it differs.  `base` is the configured prefix (a '/' is
 * added when it lacks one).  Returns how many were written to out.
 */
size_t keys_candidates(const char *base, const char *layout, int64_t received_ms,
		       const char *initial_id, const char *contact_id,
		       char out[][KEYS_PREFIX_MAX], size_t max);

#endif
