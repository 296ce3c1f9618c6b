/*
 * The UTC offset and abbreviation of a named zone at a moment, read from the
 * system's zone files (/usr/share/zoneinfo, or TZDIR) without touching the
 * process's TZ: setenv() while other threads read the environment (curl, the
 * AWS credential chain) is not safe, and a tenant's zone is not the host's.
 * Reads TZif version 2+ files (RFC 8536): the 64-bit transitions, then the
 * footer's POSIX TZ rule for moments after the last one.
 */
#ifndef VMPIPE_MAIL_TZFILE_H
#define VMPIPE_MAIL_TZFILE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Zone `name` ("Europe/Berlin": letters, digits, '/', '_', '-', '+', no
 * "..") at `t` (seconds since the epoch): *utoff (seconds east of UTC) and
 * its abbreviation ("CET") into abbr.  0, or -1 when the zone is unknown or
 * its file unreadable.
 */
int tz_lookup(const char *name, int64_t t, int32_t *utoff, char *abbr, size_t asize);

/* The POSIX TZ rule `rule` ("CET-1CEST,M3.5.0,M10.5.0/3") at `t`.  0, or -1
 * when it does not parse.  (Exposed for the unit test.) */
int tz_rule(const char *rule, int64_t t, int32_t *utoff, char *abbr, size_t asize);

#endif
