/*
 * Unit tests of engine/core/pipeline_path.c: which pipeline file is used without
 * -c, in a temporary tree laid out as an installation and as a source tree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/pipeline_path.h"
#include "testenv.h"

struct tree {
	char *root;
	char path[PATH_MAX];
};

static const char *at(struct tree *t, const char *rel)
{
	snprintf(t->path, sizeof t->path, "%s/%s", t->root, rel);
	return t->path;
}

/* mkdir -p of the directories of root/rel, then the file (unless rel ends in '/'). */
static void make(struct tree *t, const char *rel)
{
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s/%s", t->root, rel);
	for (char *s = p + strlen(t->root) + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0700);
			*s = '/';
		}
	if (p[strlen(p) - 1] != '/') {
		FILE *f = fopen(p, "w");
		assert_non_null(f);
		fputs("[pipeline]\n", f);
		fclose(f);
	}
}

static int setup(void **st)
{
	struct tree *t = calloc(1, sizeof *t);
	char *d = test_tmpdir("ppath");
	assert_non_null(d);
	/* The search names resolved paths: compare with the resolved root. */
	t->root = realpath(d, NULL);
	assert_non_null(t->root);
	free(d);
	*st = t;
	return 0;
}

static int teardown(void **st)
{
	struct tree *t = *st;
	test_rmtree(t->root);
	free(t->root);
	free(t);
	return 0;
}

static char err[8192];

static void test_env_wins(void **st)
{
	struct tree *t = *st;
	make(t, "etc/vmpipe/pipeline.ini");
	char sys[PATH_MAX];
	snprintf(sys, sizeof sys, "%s", at(t, "etc/vmpipe/pipeline.ini"));
	/* Set: the answer even when it does not exist (loading it then says so). */
	const char *p = pipeline_path_search("/nonexistent/mine.ini", sys, NULL, err, sizeof err);
	assert_non_null(p);
	assert_string_equal(p, "/nonexistent/mine.ini");
	/* Empty counts as unset. */
	p = pipeline_path_search("", sys, NULL, err, sizeof err);
	assert_non_null(p);
	assert_string_equal(p, sys);
}

static void test_order(void **st)
{
	struct tree *t = *st;
	/* An installation (PREFIX/bin, PREFIX/share/vmpipe/local.ini) that is also a
	 * source tree (include/vmpipe/plugin.h, etc/local.ini): every candidate. */
	make(t, "bin/");
	make(t, "share/vmpipe/local.ini");
	make(t, "include/vmpipe/plugin.h");
	make(t, "etc/local.ini");
	make(t, "sys/pipeline.ini");
	char sys[PATH_MAX], bin[PATH_MAX], want[PATH_MAX];
	snprintf(sys, sizeof sys, "%s", at(t, "sys/pipeline.ini"));
	snprintf(bin, sizeof bin, "%s", at(t, "bin"));

	const char *p = pipeline_path_search(NULL, sys, bin, err, sizeof err);
	assert_string_equal(p, sys);

	assert_int_equal(remove(sys), 0);
	p = pipeline_path_search(NULL, sys, bin, err, sizeof err);
	snprintf(want, sizeof want, "%s", at(t, "share/vmpipe/local.ini"));
	assert_string_equal(p, want);

	assert_int_equal(remove(want), 0);
	p = pipeline_path_search(NULL, sys, bin, err, sizeof err);
	snprintf(want, sizeof want, "%s", at(t, "etc/local.ini"));
	assert_string_equal(p, want);
}

static void test_source_tree_only_when_it_is_one(void **st)
{
	struct tree *t = *st;
	/* PREFIX/bin with a PREFIX/etc/local.ini that belongs to something else. */
	make(t, "bin/");
	make(t, "etc/local.ini");
	char bin[PATH_MAX];
	snprintf(bin, sizeof bin, "%s", at(t, "bin"));
	assert_null(pipeline_path_search(NULL, "/nonexistent/vmpipe.ini", bin, err, sizeof err));
	assert_contains(err, "share/vmpipe/local.ini (No such file or directory)");
	assert_not_contains(err, "etc/local.ini");
}

static void test_nothing_found_names_every_place(void **st)
{
	struct tree *t = *st;
	make(t, "build/");
	make(t, "include/vmpipe/plugin.h");
	make(t, "etc/local.ini/"); /* a directory: not a pipeline */
	char bin[PATH_MAX], want[PATH_MAX * 2];
	snprintf(bin, sizeof bin, "%s", at(t, "build"));
	assert_null(pipeline_path_search(NULL, "/nonexistent/vmpipe.ini", bin, err, sizeof err));
	assert_contains(err, "no pipeline: give -c PIPELINE or set VMPIPE_PIPELINE; looked in: ");
	assert_contains(err, "$VMPIPE_PIPELINE (not set), /nonexistent/vmpipe.ini (No such file or directory), ");
	snprintf(want, sizeof want, "%s (No such file or directory)", at(t, "share/vmpipe/local.ini"));
	assert_contains(err, want);
	snprintf(want, sizeof want, "%s (not a regular file)", at(t, "etc/local.ini"));
	assert_contains(err, want);
	/* No binary directory: the fixed places only. */
	assert_null(pipeline_path_search(NULL, "/nonexistent/vmpipe.ini", NULL, err, sizeof err));
	assert_string_equal(err, "no pipeline: give -c PIPELINE or set VMPIPE_PIPELINE; looked in: "
				 "$VMPIPE_PIPELINE (not set), /nonexistent/vmpipe.ini (No such file or directory)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_env_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_tree_only_when_it_is_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nothing_found_names_every_place, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
