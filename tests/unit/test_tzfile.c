/*
 * Unit tests of engine/mail/tzfile.c: zone offsets read from the zone files
 * agree with glibc's localtime_r() under TZ (set here, in one thread), across
 * years, both hemispheres and beyond the files' last transition; POSIX rules
 * on their own; names that are not zones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "mail/tzfile.h"

static void agrees_with_glibc(void **st)
{
	(void)st;
	static const char *const zones[] = {"Europe/Berlin", "America/New_York", "Australia/Sydney",
					    "Asia/Kolkata", "UTC", "America/Sao_Paulo", "Pacific/Chatham"};
	for (size_t z = 0; z < sizeof zones / sizeof *zones; z++) {
		setenv("TZ", zones[z], 1);
		tzset();
		/* Every 9 days and 7 hours from 1990 to 2060 (past the files' 2037). */
		for (int64_t t = 631152000; t < 2840140800LL; t += 9 * 86400 + 7 * 3600) {
			time_t tt = (time_t)t;
			struct tm tm;
			localtime_r(&tt, &tm);
			char want[32];
			strftime(want, sizeof want, "%Z", &tm);
			int32_t off;
			char abbr[32];
			assert_int_equal(tz_lookup(zones[z], t, &off, abbr, sizeof abbr), 0);
			if (off != tm.tm_gmtoff || strcmp(abbr, want) != 0)
				fail_msg("%s at %lld: %d %s, glibc %ld %s", zones[z], (long long)t, off, abbr,
					 tm.tm_gmtoff, want);
		}
	}
	unsetenv("TZ");
	tzset();
}

static void rules(void **st)
{
	(void)st;
	int32_t off;
	char abbr[32];
	/* 2026-03-29 00:59:59Z is still CET; 01:00:00Z is CEST (last Sunday of March, 02:00 local). */
	assert_int_equal(tz_rule("CET-1CEST,M3.5.0,M10.5.0/3", 1774745999, &off, abbr, sizeof abbr), 0);
	assert_int_equal(off, 3600);
	assert_string_equal(abbr, "CET");
	assert_int_equal(tz_rule("CET-1CEST,M3.5.0,M10.5.0/3", 1774746000, &off, abbr, sizeof abbr), 0);
	assert_int_equal(off, 7200);
	assert_string_equal(abbr, "CEST");
	/* Southern hemisphere: summer time spans the new year. */
	assert_int_equal(tz_rule("AEST-10AEDT,M10.1.0,M4.1.0/3", 1767225600, &off, abbr, sizeof abbr), 0);
	assert_int_equal(off, 11 * 3600);
	assert_string_equal(abbr, "AEDT");
	assert_int_equal(tz_rule("<+0530>-5:30", 0, &off, abbr, sizeof abbr), 0);
	assert_int_equal(off, 5 * 3600 + 1800);
	assert_string_equal(abbr, "+0530");
	assert_int_equal(tz_rule("EST5EDT", 0, &off, abbr, sizeof abbr), -1); /* no rule: refused */
	assert_int_equal(tz_rule("X1", 0, &off, abbr, sizeof abbr), -1);
	assert_int_equal(tz_rule("", 0, &off, abbr, sizeof abbr), -1);
}

static void not_zones(void **st)
{
	(void)st;
	int32_t off;
	char abbr[32];
	static const char *const bad[] = {"", "Mars/Olympus", "../../etc/passwd", "/etc/localtime",
					  "Europe/Berlin\n", "zone.tab", NULL};
	for (size_t i = 0; bad[i]; i++)
		assert_int_equal(tz_lookup(bad[i], 0, &off, abbr, sizeof abbr), -1);
	assert_int_equal(tz_lookup(NULL, 0, &off, abbr, sizeof abbr), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(agrees_with_glibc),
		cmocka_unit_test(rules),
		cmocka_unit_test(not_zones),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
