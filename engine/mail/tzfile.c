/* Zone offsets from TZif files; see tzfile.h. */
#include "tzfile.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_FILE_MAX (256 * 1024) /* the largest zone file is a few KiB */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* ---------------------------------------------------------- POSIX TZ rules */

/* A zone name: letters, or <...> with signs and digits. */
static const char *rule_name(const char *p, char *out, size_t size)
{
	size_t n = 0;
	if (*p == '<') {
		for (p++; *p && *p != '>'; p++)
			if (n + 1 < size)
				out[n++] = *p;
		if (*p != '>')
			return NULL;
		p++;
	} else {
		while (isalpha((unsigned char)*p)) {
			if (n + 1 < size)
				out[n++] = *p;
			p++;
		}
	}
	out[n] = '\0';
	return n >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] -> seconds. */
static const char *rule_time(const char *p, int32_t *secs)
{
	int sign = 1;
	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (!isdigit((unsigned char)*p))
		return NULL;
	long v = 0, part = 0;
	for (int field = 0; field < 3; field++) {
		part = 0;
		int digits = 0;
		while (isdigit((unsigned char)*p) && digits < 3) {
			part = part * 10 + (*p++ - '0');
			digits++;
		}
		if (!digits)
			return NULL;
		v = v * 60 + part;
		if (*p != ':') {
			for (int k = field; k < 2; k++)
				v *= 60;
			break;
		}
		p++;
	}
	*secs = (int32_t)(sign * v);
	return p;
}

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian, m 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int64_t year_of(int64_t t)
{
	int64_t z = (t >= 0 ? t : t - 86399) / 86400 + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);
	return yoe + era * 400 + (m <= 2);
}

/* A rule date ("M3.5.0", "J60", "59") with its optional "/time", as seconds
 * from the start of year y (local time). */
static const char *rule_date(const char *p, int64_t y, int64_t *secs)
{
	int64_t day;
	if (*p == 'M') {
		int m, w, d, n = 0;
		if (sscanf(p, "M%2d.%1d.%1d%n", &m, &w, &d, &n) != 3 || m < 1 || m > 12 || w < 1 || w > 5 || d > 6)
			return NULL;
		p += n;
		int64_t first = days_from_civil(y, m, 1);
		int wday = (int)(((first % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
		int64_t dom = 1 + (d - wday + 7) % 7 + 7 * (w - 1);
		static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
		int len = mdays[m - 1] + (m == 2 && leap(y));
		while (dom > len)
			dom -= 7;
		day = first + dom - 1 - days_from_civil(y, 1, 1);
	} else if (*p == 'J' || isdigit((unsigned char)*p)) {
		bool julian = *p == 'J';
		char *end;
		long n = strtol(p + julian, &end, 10);
		if (end == p + julian || n < julian || n > 365)
			return NULL;
		p = end;
		day = julian ? n - 1 + (leap(y) && n >= 60) : n;
	} else {
		return NULL;
	}
	int32_t at = 7200;
	if (*p == '/' && !(p = rule_time(p + 1, &at)))
		return NULL;
	*secs = day * 86400 + at;
	return p;
}

int tz_rule(const char *rule, int64_t t, int32_t *utoff, char *abbr, size_t asize)
{
	char std[32], dst[32];
	int32_t stdoff, dstoff;
	const char *p = rule_name(rule, std, sizeof std);
	if (!p || !(p = rule_time(p, &stdoff)))
		return -1;
	stdoff = -stdoff; /* POSIX counts west of UTC */
	if (!*p) {
		*utoff = stdoff;
		snprintf(abbr, asize, "%s", std);
		return 0;
	}
	if (!(p = rule_name(p, dst, sizeof dst)))
		return -1;
	dstoff = stdoff + 3600;
	if (*p && *p != ',') {
		if (!(p = rule_time(p, &dstoff)))
			return -1;
		dstoff = -dstoff;
	}
	if (*p != ',')
		return -1; /* no rule: POSIX leaves it to the implementation; refuse */
	const char *start_rule = p + 1;
	int64_t y = year_of(t + stdoff), start, end;
	const char *q = rule_date(start_rule, y, &start);
	if (!q || *q != ',' || !(q = rule_date(q + 1, y, &end)) || *q)
		return -1;
	int64_t year0 = days_from_civil(y, 1, 1) * 86400;
	int64_t s_utc = year0 + start - stdoff, e_utc = year0 + end - dstoff;
	bool in_dst = s_utc < e_utc ? (t >= s_utc && t < e_utc) : !(t >= e_utc && t < s_utc);
	*utoff = in_dst ? dstoff : stdoff;
	snprintf(abbr, asize, "%s", in_dst ? dst : std);
	return 0;
}

/* --------------------------------------------------------------- TZif files */

static bool plain_zone(const char *name)
{
	if (!name || !*name || name[0] == '/' || strstr(name, "..") || strlen(name) > 100)
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("/_-+", *p))
			return false;
	return true;
}

static unsigned char *read_zone(const char *name, size_t *len)
{
	const char *dir = getenv("TZDIR");
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	unsigned char *buf = malloc(TZ_FILE_MAX);
	size_t n = buf ? fread(buf, 1, TZ_FILE_MAX, f) : 0;
	fclose(f);
	if (!buf || n == TZ_FILE_MAX) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

/* The counts of a TZif header at p (44 bytes). */
struct tzhead {
	uint32_t isut, isstd, leap, time, type, chars;
};

static bool head_at(const unsigned char *p, size_t avail, struct tzhead *h)
{
	if (avail < 44 || memcmp(p, "TZif", 4) != 0)
		return false;
	h->isut = be32(p + 20);
	h->isstd = be32(p + 24);
	h->leap = be32(p + 28);
	h->time = be32(p + 32);
	h->type = be32(p + 36);
	h->chars = be32(p + 40);
	return h->type >= 1 && h->type <= 256 && h->chars <= 256 && h->time <= 10000 && h->leap <= 1000;
}

static size_t body_size(const struct tzhead *h, size_t tsize)
{
	return h->time * tsize + h->time + h->type * 6 + h->chars + h->leap * (tsize + 4) + h->isstd + h->isut;
}

int tz_lookup(const char *name, int64_t t, int32_t *utoff, char *abbr, size_t asize)
{
	if (!plain_zone(name))
		return -1;
	size_t len;
	unsigned char *f = read_zone(name, &len);
	int rc = -1;
	struct tzhead h;
	if (!f || !head_at(f, len, &h) || f[4] < '2')
		goto done;
	size_t v1 = 44 + body_size(&h, 4);
	if (v1 > len || !head_at(f + v1, len - v1, &h))
		goto done;
	const unsigned char *b = f + v1 + 44;
	size_t need = body_size(&h, 8);
	if (v1 + 44 + need > len)
		goto done;
	const unsigned char *times = b, *idx = b + h.time * 8, *types = idx + h.time, *chars = types + h.type * 6;
	const unsigned char *footer = b + need;
	/* The last transition at or before t. */
	int64_t k = -1;
	for (uint32_t i = 0; i < h.time && be64(times + 8 * i) <= t; i++)
		k = i;
	if (k == (int64_t)h.time - 1 && h.time > 0 && footer < f + len && *footer == '\n') {
		/* After the last transition the footer's rule holds (when there is one). */
		const unsigned char *nl = memchr(footer + 1, '\n', (size_t)(f + len - footer - 1));
		char rule[128];
		size_t rl = nl ? (size_t)(nl - footer - 1) : 0;
		if (nl && rl > 0 && rl < sizeof rule) {
			memcpy(rule, footer + 1, rl);
			rule[rl] = '\0';
			if (tz_rule(rule, t, utoff, abbr, asize) == 0) {
				rc = 0;
				goto done;
			}
		}
	}
	unsigned type = k >= 0 ? idx[k] : 0;
	if (type >= h.type)
		goto done;
	const unsigned char *tt = types + 6 * type;
	*utoff = (int32_t)be32(tt);
	unsigned ai = tt[5];
	if (ai >= h.chars)
		goto done;
	snprintf(abbr, asize, "%.*s", (int)strnlen((const char *)chars + ai, h.chars - ai), chars + ai);
	rc = 0;
done:
	free(f);
	return rc;
}
