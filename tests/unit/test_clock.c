/*
 * Unit tests of the replaceable clock's settings (engine/core/clock.c): the
 * scaled clock with a shared origin, which several processes of one
 * time-scaled simulation use to agree on the time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "core/clock.h"

static int64_t real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* scaled:10@ORIGIN: ten virtual ms for every real one since ORIGIN, however
 * long ago the process started. */
static void test_scaled_from_an_origin(void **s)
{
	(void)s;
	int64_t origin = real_ms() - 5000;
	char v[64];
	snprintf(v, sizeof v, "scaled:10@%lld", (long long)origin);
	setenv("VMPIPE_CLOCK", v, 1);
	int64_t before = real_ms();
	assert_int_equal(clock_from_env(), 0);
	int64_t now = clock_now_ms();
	int64_t after = real_ms();
	assert_true(now >= origin + 10 * (before - origin));
	assert_true(now <= origin + 10 * (after - origin));
	assert_int_equal(clock_real_ms(1000), 100);
	clock_set(NULL);
	unsetenv("VMPIPE_CLOCK");
}

static void test_bad_values_are_refused(void **s)
{
	(void)s;
	static const char *const bad[] = {"scaled:10@", "scaled:10@x", "scaled:10@-5", "scaled:10@12ab",
					  "scaled:@100", "scaled:0@100", "fast"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		setenv("VMPIPE_CLOCK", bad[i], 1);
		assert_int_equal(clock_from_env(), -1);
	}
	unsetenv("VMPIPE_CLOCK");
	clock_set(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scaled_from_an_origin),
		cmocka_unit_test(test_bad_values_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
