/*
 * Unit tests of engine/runtime/serve/range.c: the Range header of a
 * recording download (RFC 9110 14.1.2 and its examples).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "runtime/serve/range.h"

static void test_ranges(void **st)
{
	(void)st;
	static const struct {
		const char *h;
		uint64_t size;
		int rc;
		uint64_t off, len;
	} t[] = {
		/* RFC 9110's examples on a 10000-byte representation. */
		{"bytes=0-499", 10000, 1, 0, 500},
		{"bytes=500-999", 10000, 1, 500, 500},
		{"bytes=-500", 10000, 1, 9500, 500},
		{"bytes=9500-", 10000, 1, 9500, 500},
		{"bytes=0-0", 10000, 1, 0, 1},
		{"bytes=-1", 10000, 1, 9999, 1},
		{"bytes=0-99999", 10000, 1, 0, 10000}, /* past the end: clipped */
		{"bytes=-99999", 10000, 1, 0, 10000},
		/* Unsatisfiable: 416. */
		{"bytes=10000-", 10000, -1, 0, 0},
		{"bytes=10000-10001", 10000, -1, 0, 0},
		{"bytes=-0", 10000, -1, 0, 0},
		{"bytes=0-", 0, -1, 0, 0},
		/* Ignored: the whole file. */
		{NULL, 10000, 0, 0, 0},
		{"bytes=0-1,5-6", 10000, 0, 0, 0},
		{"items=0-1", 10000, 0, 0, 0},
		{"bytes=5-1", 10000, 0, 0, 0},
		{"bytes=a-", 10000, 0, 0, 0},
		{"bytes=1-b", 10000, 0, 0, 0},
		{"bytes=-", 10000, 0, 0, 0},
		{"bytes= 1-2", 10000, 0, 0, 0},
		{"bytes=99999999999999999999-", 10000, 0, 0, 0},
		{"bytes=-+5", 10000, 0, 0, 0},
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		uint64_t off = 77, len = 77;
		int rc = http_range(t[i].h, t[i].size, &off, &len);
		if (rc != t[i].rc || (rc == 1 && (off != t[i].off || len != t[i].len)))
			fail_msg("'%s' on %llu: %d %llu+%llu", t[i].h ? t[i].h : "(none)",
				 (unsigned long long)t[i].size, rc, (unsigned long long)off, (unsigned long long)len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_ranges)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
