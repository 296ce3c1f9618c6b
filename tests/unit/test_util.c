/*
 * Unit tests of engine/core/util.c: the option parsers (durations, sizes, bools,
 * enums, integers), plain names, duration formatting and the atomic write.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "testenv.h"

/* Parse one duration and compare, naming the input on failure. */
static void want_duration(const char *in, int64_t ms)
{
	int64_t got = -12345;
	if (parse_duration(in, &got) != 0)
		fail_msg("parse_duration(\"%s\") refused; expected %lld ms", in, (long long)ms);
	if (got != ms)
		fail_msg("parse_duration(\"%s\") = %lld ms; expected %lld", in, (long long)got, (long long)ms);
}

static void refuse_duration(const char *in)
{
	int64_t got = -12345;
	if (parse_duration(in, &got) == 0)
		fail_msg("parse_duration(\"%s\") accepted it as %lld ms; expected a refusal", in ? in : "(null)",
			 (long long)got);
}

static void test_durations(void **s)
{
	(void)s;
	want_duration("70s", 70000);
	want_duration("5m", 300000);
	want_duration("7d", 7LL * 86400 * 1000);
	want_duration("2h", 7200000);
	want_duration("250ms", 250);
	want_duration("90", 90000); /* a bare number is seconds */
	want_duration("0", 0);
	want_duration("1.5s", 1500);
	want_duration("10 s", 10000);
	want_duration("3min", 180000);
	refuse_duration("");
	refuse_duration(NULL);
	refuse_duration("s");
	refuse_duration("5x");
	refuse_duration("-5s");
	refuse_duration("5s5");
	refuse_duration("five");
	refuse_duration("5 m s");
	refuse_duration("1e300d");
	refuse_duration(" 5s");
	refuse_duration("0x10");  /* strtod would read hex... */
	refuse_duration("1e3s");  /* ...and exponents */
	refuse_duration("1e3");
	refuse_duration("1.s");
	refuse_duration(".5s");
	refuse_duration("nan");
}

static void want_size(const char *in, int64_t bytes)
{
	int64_t got = -1;
	if (parse_size(in, &got) != 0)
		fail_msg("parse_size(\"%s\") refused; expected %lld", in, (long long)bytes);
	if (got != bytes)
		fail_msg("parse_size(\"%s\") = %lld; expected %lld", in, (long long)got, (long long)bytes);
}

static void refuse_size(const char *in)
{
	int64_t got = -1;
	if (parse_size(in, &got) == 0)
		fail_msg("parse_size(\"%s\") accepted it as %lld; expected a refusal", in ? in : "(null)",
			 (long long)got);
}

static void test_sizes(void **s)
{
	(void)s;
	want_size("512", 512);
	want_size("64k", 65536);
	want_size("64K", 65536);
	want_size("10M", 10LL * 1024 * 1024);
	want_size("1G", 1024LL * 1024 * 1024);
	want_size("2MB", 2LL * 1024 * 1024);
	want_size("0", 0);
	refuse_size("");
	refuse_size(NULL);
	refuse_size("10T");
	refuse_size("-1");
	refuse_size("1kk");
	refuse_size("k");
	refuse_size("1e30G");
	refuse_size("0x10");
	refuse_size("1e3k");
	want_size("1.5k", 1536);
}

static void test_bools(void **s)
{
	(void)s;
	static const char *const yes[] = {"yes", "true", "on", "1", "YES", "True"};
	static const char *const no[] = {"no", "false", "off", "0", "No", "OFF"};
	static const char *const bad[] = {"", "y", "n", "2", "maybe", "yes please"};
	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
		bool b = false;
		if (parse_bool(yes[i], &b) != 0 || !b)
			fail_msg("parse_bool(\"%s\") should be true", yes[i]);
	}
	for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
		bool b = true;
		if (parse_bool(no[i], &b) != 0 || b)
			fail_msg("parse_bool(\"%s\") should be false", no[i]);
	}
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		bool b;
		if (parse_bool(bad[i], &b) == 0)
			fail_msg("parse_bool(\"%s\") should be refused", bad[i]);
	}
	bool b;
	assert_int_equal(parse_bool(NULL, &b), -1);
}

static void test_ints(void **s)
{
	(void)s;
	int64_t v = 0;
	assert_int_equal(parse_int("42", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(parse_int("-7", &v), 0);
	assert_int_equal(v, -7);
	assert_int_equal(parse_int("9223372036854775807", &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(parse_int("9223372036854775808", &v), -1); /* overflow */
	assert_int_equal(parse_int("", &v), -1);
	assert_int_equal(parse_int("12abc", &v), -1);
	assert_int_equal(parse_int("1.5", &v), -1);
	assert_int_equal(parse_int(NULL, &v), -1);
}

static void test_enums(void **s)
{
	(void)s;
	assert_int_equal(parse_enum("no", "no|yes|smaller-than"), 0);
	assert_int_equal(parse_enum("yes", "no|yes|smaller-than"), 1);
	assert_int_equal(parse_enum("smaller-than", "no|yes|smaller-than"), 2);
	assert_int_equal(parse_enum("YES", "no|yes|smaller-than"), 1); /* case-insensitive */
	assert_int_equal(parse_enum("smaller", "no|yes|smaller-than"), -1); /* no prefixes */
	assert_int_equal(parse_enum("ye", "no|yes|smaller-than"), -1);
	assert_int_equal(parse_enum("", "no|yes"), -1);
	assert_int_equal(parse_enum("no|yes", "no|yes"), -1);
	assert_int_equal(parse_enum("only", "only"), 0);
	assert_int_equal(parse_enum(NULL, "a|b"), -1);
	assert_int_equal(parse_enum("a", NULL), -1);
}

static void test_plain_names(void **s)
{
	(void)s;
	static const char *const good[] = {"notify-file", "a", "A1", "11111111-2222-3333-4444-555555555555",
					   "x.y_z", "9"};
	static const char *const bad[] = {"", ".", "..", "../x", "/tmp/x", "a/b", "-x", "_x", ".x",
					  "a b", "a\nb", "caf\xc3\xa9", "a\\b", "x:y"};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		if (!is_plain_name(good[i], 64))
			fail_msg("is_plain_name(\"%s\") should be true", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (is_plain_name(bad[i], 64))
			fail_msg("is_plain_name(\"%s\") should be false", bad[i]);
	assert_false(is_plain_name(NULL, 64));
	assert_true(is_plain_name("abcd", 4));
	assert_false(is_plain_name("abcde", 4)); /* longer than max */
}

static void want_format(double secs, const char *want)
{
	char buf[64];
	format_duration(secs, buf, sizeof buf);
	if (strcmp(buf, want) != 0)
		fail_msg("format_duration(%g) = \"%s\"; expected \"%s\"", secs, buf, want);
}

static void test_format_duration(void **s)
{
	(void)s;
	want_format(65, "1m 5s");
	want_format(42, "42s");
	want_format(0, "0s");
	want_format(60, "1m 0s");
	want_format(7384, "2h 3m 4s");
	want_format(64.6, "1m 5s"); /* rounded */
	want_format(-3, "0s");
	/* A job record's duration is any double JSON can carry: every one
	 * formats, without UB (the mail fuzz target's find: 1.7e262 was cast
	 * to long).  Beyond a million hours it is capped. */
	want_format(1.7e262, "999999h 59m 59s");
	want_format(9.3e18, "999999h 59m 59s");
	want_format(HUGE_VAL, "999999h 59m 59s");
	want_format(-HUGE_VAL, "0s");
	want_format(NAN, "0s");
	want_format(3599999999.4, "999999h 59m 59s");
	char small[4];
	format_duration(7384, small, sizeof small); /* truncates, never overflows */
	assert_int_equal(strlen(small), 3);
}

/* A fresh temp dir; the caller removes it. */
static char *make_tmpdir(void)
{
	char *d = test_tmpdir("util");
	assert_non_null(d);
	return d;
}

static void test_write_file_atomic(void **s)
{
	(void)s;
	char *dir = make_tmpdir();
	char path[512];
	snprintf(path, sizeof path, "%s/out.json", dir);
	assert_int_equal(write_file_atomic(path, "first", 5), 0);
	assert_int_equal(write_file_atomic(path, "second\n", 7), 0); /* replaces */

	char *data = NULL;
	size_t len = 0;
	assert_int_equal(read_file(path, 1 << 20, &data, &len), 0);
	assert_int_equal(len, 7);
	assert_string_equal(data, "second\n");
	free(data);

	/* No temp files left behind (they start with a dot). */
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			n++;
			if (strcmp(e->d_name, "out.json") != 0)
				fail_msg("left behind: %s/%s", dir, e->d_name);
		}
	closedir(d);
	assert_int_equal(n, 1);

	/* A missing directory fails with errno and creates nothing. */
	char bad[600];
	snprintf(bad, sizeof bad, "%s/missing/out.json", dir);
	errno = 0;
	assert_int_equal(write_file_atomic(bad, "x", 1), -1);
	assert_int_equal(errno, ENOENT);

	/* read_file: the size limit is enforced with EFBIG, directories refused. */
	errno = 0;
	assert_int_equal(read_file(path, 3, &data, &len), -1);
	assert_int_equal(errno, EFBIG);
	errno = 0;
	assert_int_equal(read_file(dir, 100, &data, &len), -1);
	assert_int_equal(errno, EISDIR);

	unlink(path);
	assert_int_equal(rmdir(dir), 0);
	free(dir);
}

static char *slurp(const char *path)
{
	char *data = NULL;
	size_t len = 0;
	return read_file(path, 1 << 20, &data, &len) == 0 ? data : NULL;
}

/* A link planted at any name the writer could pick must not be followed:
 * the audit's <path>.tmp.<pid> overwrote the link's target with the mail. */
static void test_write_file_atomic_planted_links(void **s)
{
	(void)s;
	char *dir = make_tmpdir();
	char path[512], victim[512], link[600];
	snprintf(path, sizeof path, "%s/job.eml", dir);
	snprintf(victim, sizeof victim, "%s/victim", dir);
	FILE *f = fopen(victim, "w");
	assert_non_null(f);
	fputs("precious", f);
	fclose(f);
	const char *const planted[] = {"%s.tmp.%ld", "%s.tmp", "%s~", "%s.new"};
	for (size_t i = 0; i < sizeof planted / sizeof *planted; i++) {
		snprintf(link, sizeof link, planted[i], path, (long)getpid());
		assert_int_equal(symlink(victim, link), 0);
	}
	assert_int_equal(write_file_atomic(path, "the mail", 8), 0);
	char *v = slurp(victim), *w = slurp(path);
	assert_non_null(v);
	assert_string_equal(v, "precious");
	assert_string_equal(w, "the mail");
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	free(v);
	free(w);
	test_rmtree(dir);
	free(dir);
}

static void touch(const char *dir, const char *name, time_t age_s)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("partial", f);
	fclose(f);
	struct timespec t[2] = {{time(NULL) - age_s, 0}, {time(NULL) - age_s, 0}};
	assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

static bool exists_in(const char *dir, const char *name)
{
	char path[600];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

/* A run killed between create and rename leaves its temporary file; the
 * next write to that directory removes the stale ones (never a fresh one:
 * another process may be writing it now; never anything else). */
static void test_write_file_atomic_sweeps_stale_temps(void **s)
{
	(void)s;
	char *dir = make_tmpdir();
	touch(dir, ".a.eml.tmp-0123456789abcdef", 3600);    /* killed an hour ago */
	touch(dir, ".b.json.tmp-00112233445566ff", 20 * 60); /* another target's, 20 min */
	touch(dir, ".a.eml.tmp-fedcba9876543210", 10);      /* being written now */
	touch(dir, ".a.eml.tmp-notours", 3600);             /* not our name */
	touch(dir, "old.eml", 3600);
	char path[512];
	snprintf(path, sizeof path, "%s/a.eml", dir);
	assert_int_equal(write_file_atomic(path, "x", 1), 0);
	assert_false(exists_in(dir, ".a.eml.tmp-0123456789abcdef"));
	assert_false(exists_in(dir, ".b.json.tmp-00112233445566ff"));
	assert_true(exists_in(dir, ".a.eml.tmp-fedcba9876543210"));
	assert_true(exists_in(dir, ".a.eml.tmp-notours"));
	assert_true(exists_in(dir, "old.eml"));
	assert_true(exists_in(dir, "a.eml"));
	/* The sweep on its own, for a directory swept lately by the writer. */
	touch(dir, ".c.tmp-aaaaaaaaaaaaaaaa", 3600);
	assert_int_equal(sweep_stale_temps(dir), 1);
	assert_false(exists_in(dir, ".c.tmp-aaaaaaaaaaaaaaaa"));
	test_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_bools),
		cmocka_unit_test(test_ints),
		cmocka_unit_test(test_enums),
		cmocka_unit_test(test_plain_names),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_write_file_atomic),
		cmocka_unit_test(test_write_file_atomic_planted_links),
		cmocka_unit_test(test_write_file_atomic_sweeps_stale_temps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
