/* Candidate key prefixes for a Connect recording.  See keys.h. */

#include "keys.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_MS (24LL * 3600 * 1000)

static const char *const placeholders[] = {"yyyy", "mm", "dd", NULL};

int keys_check_layout(const char *layout, char *err, size_t errsz)
{
	for (const char *p = layout; *p; p++) {
		if (*p == '}') {
			snprintf(err, errsz, "unmatched '}' in layout '%s'", layout);
			return -1;
		}
		if (*p != '{')
			continue;
		const char *close = strchr(p, '}');
		if (!close) {
			snprintf(err, errsz, "unterminated '{' in layout '%s'", layout);
			return -1;
		}
		size_t len = (size_t)(close - p - 1);
		bool known = false;
		for (const char *const *ph = placeholders; *ph; ph++)
			if (strlen(*ph) == len && strncmp(p + 1, *ph, len) == 0)
				known = true;
		if (!known) {
			snprintf(err, errsz, "unknown placeholder {%.*s} in layout (use {yyyy}, {mm}, {dd})",
				 (int)len, p + 1);
			return -1;
		}
		p = close;
	}
	return 0;
}

int keys_day_dir(const char *layout, int64_t ms, char *out, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return -1;
	size_t n = 0;
	for (const char *p = layout; *p;) {
		char val[16];
		const char *v = NULL;
		if (*p == '{') {
			const char *close = strchr(p, '}');
			if (!close)
				return -1;
			if (strncmp(p, "{yyyy}", 6) == 0)
				snprintf(val, sizeof val, "%04d", tm.tm_year + 1900);
			else if (strncmp(p, "{mm}", 4) == 0)
				snprintf(val, sizeof val, "%02d", tm.tm_mon + 1);
			else if (strncmp(p, "{dd}", 4) == 0)
				snprintf(val, sizeof val, "%02d", tm.tm_mday);
			else
				return -1;
			v = val;
			p = close + 1;
		}
		size_t add = v ? strlen(v) : 1;
		if (n + add >= size)
			return -1;
		if (v) {
			memcpy(out + n, v, add);
		} else {
			out[n] = *p++;
		}
		n += add;
	}
	out[n] = '\0';
	return 0;
}

int keys_parse_time(const char *iso, int64_t *ms)
{
	if (!iso)
		return -1;
	struct tm tm = {0};
	int consumed = 0;
	if (sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6)
		return -1;
	const char *p = iso + consumed;
	int64_t frac_ms = 0;
	if (*p == '.') {
		int64_t scale = 100;
		for (p++; *p >= '0' && *p <= '9'; p++) {
			frac_ms += (*p - '0') * scale;
			scale /= 10;
		}
	}
	int64_t offset_s = 0;
	if (*p == '+' || *p == '-') {
		int hh = 0, mm = 0;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
			return -1;
		offset_s = (hh * 3600 + mm * 60) * (*p == '-' ? -1 : 1);
	} else if (*p != 'Z' && *p != '\0') {
		return -1;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	time_t t = timegm(&tm);
	*ms = ((int64_t)t - offset_s) * 1000 + frac_ms;
	return 0;
}

static size_t add(char out[][KEYS_PREFIX_MAX], size_t n, size_t max, const char *base,
		  const char *layout, int64_t day_ms, const char *id)
{
	if (n >= max || !id || !*id)
		return n;
	char dir[KEYS_PREFIX_MAX];
	if (keys_day_dir(layout, day_ms, dir, sizeof dir) != 0)
		return n;
	size_t bl = strlen(base);
	const char *sep = bl && base[bl - 1] != '/' ? "/" : "";
	int w = snprintf(out[n], KEYS_PREFIX_MAX, "%s%s%s%s_", base, sep, dir, id);
	if (w < 0 || w >= KEYS_PREFIX_MAX)
		return n;
	for (size_t i = 0; i < n; i++)
		if (strcmp(out[i], out[n]) == 0)
			return n; /* a layout without the day gives the same prefix twice */
	return n + 1;
}

size_t keys_candidates(const char *base, const char *layout, int64_t received_ms,
		       const char *initial_id, const char *contact_id,
		       char out[][KEYS_PREFIX_MAX], size_t max)
{
	int64_t into_day = ((received_ms % DAY_MS) + DAY_MS) % DAY_MS;
	int64_t adjacent = 0; /* 0: none */
	if (into_day < KEYS_MIDNIGHT_WINDOW_MS)
		adjacent = received_ms - DAY_MS;
	else if (DAY_MS - into_day <= KEYS_MIDNIGHT_WINDOW_MS)
		adjacent = received_ms + DAY_MS;
	const char *ids[2] = {initial_id, contact_id};
	size_t n = 0;
	for (int i = 0; i < 2; i++) {
		if (i == 1 && initial_id && contact_id && strcmp(initial_id, contact_id) == 0)
			break;
		n = add(out, n, max, base, layout, received_ms, ids[i]);
		if (adjacent)
			n = add(out, n, max, base, layout, adjacent, ids[i]);
	}
	return n;
}
