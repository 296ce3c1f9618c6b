/*
 * Unit tests of the pipeline file: ${VAR} expansion and the INI reader
 * (engine/core/config.c), then pipeline_load() (engine/core/pipeline.c) on good files
 * and on bad ones, each message checked for file, line, section and option.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/pipeline.h"
#include "core/plugin_path.h"
#include <vmpipe/vmpipe.h>
#include "testenv.h"

static char *expand_ok(const char *in)
{
	char err[256] = "";
	char *out = cfg_expand(in, err, sizeof err);
	if (!out)
		fail_msg("cfg_expand(\"%s\") failed: %s", in, err);
	return out;
}

static void want_expand(const char *in, const char *want)
{
	char *out = expand_ok(in);
	if (strcmp(out, want) != 0) {
		char copy[512];
		snprintf(copy, sizeof copy, "%s", out);
		free(out);
		fail_msg("cfg_expand(\"%s\") = \"%s\"; expected \"%s\"", in, copy, want);
	}
	free(out);
}

/* Expansion must fail with a message containing `why`. */
static void want_expand_error(const char *in, const char *why)
{
	char err[256] = "";
	char *out = cfg_expand(in, err, sizeof err);
	if (out) {
		char copy[512];
		snprintf(copy, sizeof copy, "%s", out);
		free(out);
		fail_msg("cfg_expand(\"%s\") = \"%s\"; expected an error about %s", in, copy, why);
	}
	assert_contains(err, why);
}

static void test_expand_vars(void **s)
{
	(void)s;
	setenv("VMT_BASE", "recordings/2024", 1);
	setenv("VMT_EMPTY", "", 1);
	unsetenv("VMT_UNSET");
	want_expand("plain text", "plain text");
	want_expand("${VMT_BASE}", "recordings/2024");
	want_expand("s3://bucket/${VMT_BASE}/x.wav", "s3://bucket/recordings/2024/x.wav");
	want_expand("${VMT_BASE}${VMT_BASE}", "recordings/2024recordings/2024");
	want_expand("${VMT_UNSET:-fallback}", "fallback");
	want_expand("${VMT_UNSET:-}", "");
	want_expand("${VMT_BASE:-fallback}", "recordings/2024"); /* set wins */
	want_expand("${VMT_EMPTY:-fallback}", "fallback");      /* like sh: empty uses the default */
	want_expand("${VMT_EMPTY}", "");                        /* set but empty is not an error */
	want_expand("${VMT_UNSET:-a b c}", "a b c");
	want_expand("cost $$5", "cost $5");
	want_expand("$${VMT_BASE}", "${VMT_BASE}"); /* escaped: not expanded */
	want_expand("$HOME", "$HOME");             /* only the braced form expands */
	want_expand("100$", "100$");
	want_expand("", "");
	/* A default may hold braces: they balance (issue 18: {{caller}} in a subject). */
	want_expand("${VMT_UNSET:-Voicemail from {{caller}}}", "Voicemail from {{caller}}");
	want_expand("${VMT_BASE:-Voicemail from {{caller}}}!", "recordings/2024!");
	want_expand("${VMT_UNSET:-{a}}{b}", "{a}{b}");
	/* ... and references of its own, as in sh. */
	want_expand("${VMT_UNSET:-${VMT_BASE}/x}", "recordings/2024/x");
	want_expand("${VMT_UNSET:-${VMT_UNSET2:-{{deep}}}}", "{{deep}}");
	want_expand("${VMT_UNSET:-$${VMT_BASE}}", "${VMT_BASE}");
}

static void test_expand_errors(void **s)
{
	(void)s;
	unsetenv("VMT_UNSET");
	want_expand_error("${VMT_UNSET}", "environment variable VMT_UNSET is not set");
	want_expand_error("x ${VMT_UNSET} y", "${VMT_UNSET:-default}"); /* says how to allow it */
	want_expand_error("${VMT_BASE", "unterminated ${");
	want_expand_error("${VMT_UNSET:-{{caller}}", "unterminated ${");
	want_expand_error("${VMT_UNSET:-${VMT_ALSO_UNSET}}", "VMT_ALSO_UNSET is not set");
	want_expand_error("${VMT_UNSET:-${VMT_UNSET:-${VMT_UNSET:-${VMT_UNSET:-${VMT_UNSET:-"
	                  "${VMT_UNSET:-${VMT_UNSET:-${VMT_UNSET:-${VMT_UNSET:-${VMT_UNSET:-x}}}}}}}}}}",
	                  "nested more than 8 deep");
	want_expand_error("${}", "bad variable name");
	want_expand_error("${1ABC}", "bad variable name '1ABC'");
	want_expand_error("${A-B}", "bad variable name 'A-B'");
	want_expand_error("${A B}", "bad variable name");
	want_expand_error("${VMT_BASE:=x}", "${VAR:-default}");
	want_expand_error("${VMT_BASE:x}", "bad variable reference");
	/* A very long name is refused, not truncated into another variable. */
	char longname[300];
	memset(longname, 'A', sizeof longname);
	memcpy(longname, "${", 2);
	longname[sizeof longname - 2] = '}';
	longname[sizeof longname - 1] = '\0';
	want_expand_error(longname, "bad variable name");
}

/* ------------------------------------------------------------ the reader */

/* One temp dir (and plugin dir) for the whole group. */
static char *tmp, *plugdir;

static int group_setup(void **s)
{
	(void)s;
	tmp = test_tmpdir("cfg");
	if (!tmp)
		return -1;
	plugdir = test_plugin_dir(tmp);
	char rec[PATH_MAX];
	snprintf(rec, sizeof rec, "%s/rec", tmp);
	return plugdir && mkdir(rec, 0700) == 0 ? 0 : -1;
}

static int group_teardown(void **s)
{
	(void)s;
	test_rmtree(tmp);
	free(tmp);
	free(plugdir);
	return 0;
}

static void test_load_good(void **s)
{
	(void)s;
	setenv("VMT_DIR", "/var/spool/vm", 1);
	unsetenv("VMT_UNSET");
	char *path = test_write(tmp, "good.ini",
				"; comment\n"
				"# another comment\n"
				"[pipeline]\n"
				"name = demo\n"
				"\n"
				"[locate]\n"
				"plugin = locate-file\n"
				"dir = ${VMT_DIR}\n"
				"wait = ${VMT_UNSET:-70s}\n"
				"  settle = 2s ; indented, with an inline comment\n"
				"[notify.archive]\n"
				"plugin = notify-file\n");
	struct cfg c;
	struct diag d = {0};
	assert_int_equal(cfg_load(path, &c, &d), 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.path, path);
	const struct cfg_section *loc = cfg_section(&c, "locate");
	assert_non_null(loc);
	assert_int_equal(loc->line, 6);
	const struct cfg_entry *e = cfg_entry(loc, "dir");
	assert_non_null(e);
	assert_string_equal(e->value, "/var/spool/vm");
	assert_int_equal(e->line, 8);
	e = cfg_entry(loc, "wait");
	assert_string_equal(e->value, "70s");
	assert_int_equal(e->line, 9);
	/* An indented line is an ordinary entry, not a continuation of "wait". */
	e = cfg_entry(loc, "settle");
	assert_non_null(e);
	assert_string_equal(e->value, "2s");
	assert_int_equal(e->line, 10);
	const struct cfg_section *arch = cfg_section(&c, "notify.archive");
	assert_non_null(arch);
	assert_int_equal(arch->line, 11);
	assert_string_equal(cfg_entry(arch, "plugin")->value, "notify-file");
	assert_null(cfg_section(&c, "transcribe"));
	assert_null(cfg_entry(loc, "pattern"));
	/* Section order is file order (notifiers run in it). */
	assert_string_equal(c.sections[0].name, "pipeline");
	assert_string_equal(c.sections[2].name, "notify.archive");
	cfg_free(&c);
	diag_free(&d);
	free(path);
}

/* Load `text` with cfg_load and expect failure whose messages contain every string given. */
static void want_cfg_error(const char *text, const char *const *wants)
{
	char *path = test_write(tmp, "bad.ini", text);
	struct cfg c;
	struct diag d = {0};
	int rc = cfg_load(path, &c, &d);
	char all[2048];
	test_joined(&d, all, sizeof all);
	if (rc == 0)
		fail_msg("cfg_load accepted:\n%s", text);
	for (const char *const *w = wants; *w; w++)
		assert_contains(all, *w);
	cfg_free(&c);
	diag_free(&d);
	free(path);
}

static void test_load_errors(void **s)
{
	(void)s;
	unsetenv("VMT_UNSET");
	char l[PATH_MAX + 16];

	/* unset variable: file, line, section, option, variable */
	snprintf(l, sizeof l, "%s/bad.ini:4:", tmp);
	want_cfg_error("[pipeline]\nname = x\n[locate]\ndir = ${VMT_UNSET}\n",
		       (const char *const[]){l, "[locate]", "'dir'", "VMT_UNSET is not set", NULL});
	/* bad variable name */
	snprintf(l, sizeof l, "%s/bad.ini:2:", tmp);
	want_cfg_error("[pipeline]\nname = ${9LIVES}\n",
		       (const char *const[]){l, "[pipeline]", "'name'", "bad variable name '9LIVES'", NULL});
	/* section twice: both lines named */
	snprintf(l, sizeof l, "%s/bad.ini:5:", tmp);
	want_cfg_error("[pipeline]\nname = x\n[locate]\nplugin = a\n[locate]\nplugin = b\n",
		       (const char *const[]){l, "section [locate] appears twice", "first on line 3", NULL});
	/* option twice */
	snprintf(l, sizeof l, "%s/bad.ini:4:", tmp);
	want_cfg_error("[pipeline]\nname = x\n\nname = y\n",
		       (const char *const[]){l, "[pipeline]", "option 'name' is set twice", "first on line 2",
					     NULL});
	/* option before any section */
	snprintf(l, sizeof l, "%s/bad.ini:2:", tmp);
	want_cfg_error("; header\nname = x\n[pipeline]\n",
		       (const char *const[]){l, "option 'name' is outside any section", NULL});
	/* a line that is neither a section nor name = value */
	snprintf(l, sizeof l, "%s/bad.ini:3:", tmp);
	want_cfg_error("[pipeline]\nname = x\nthis is not an option\n",
		       (const char *const[]){l, "syntax error", NULL});
	/* unterminated section header */
	snprintf(l, sizeof l, "%s/bad.ini:2:", tmp);
	want_cfg_error("[pipeline]\n[locate\nplugin = x\n", (const char *const[]){l, "syntax error", NULL});
}

static void test_load_missing_file(void **s)
{
	(void)s;
	struct cfg c;
	struct diag d = {0};
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/nope.ini", tmp);
	assert_int_equal(cfg_load(path, &c, &d), -1);
	assert_int_equal(d.n, 1);
	assert_contains(d.msgs[0], path);
	assert_contains(d.msgs[0], "cannot open pipeline file");
	assert_contains(d.msgs[0], "No such file");
	cfg_free(&c);
	diag_free(&d);
}

/* A line longer than inih's buffer is refused by its own number, and the
 * lines after it keep theirs. */
static void test_load_long_line(void **s)
{
	(void)s;
	char text[2048];
	char longval[1001];
	memset(longval, 'v', sizeof longval - 1);
	longval[sizeof longval - 1] = '\0';
	snprintf(text, sizeof text, "[pipeline]\nname = %s\n[locate]\ndir = ${VMT_UNSET}\n", longval);
	unsetenv("VMT_UNSET");
	char *path = test_write(tmp, "long.ini", text);
	struct cfg c;
	struct diag d = {0};
	assert_int_equal(cfg_load(path, &c, &d), -1);
	char all[4096], want[PATH_MAX + 64];
	test_joined(&d, all, sizeof all);
	snprintf(want, sizeof want, "%s:2: line is longer than", path);
	assert_contains(all, want);
	snprintf(want, sizeof want, "%s:4: [locate] option 'dir'", path);
	assert_contains(all, want);
	assert_not_contains(all, "syntax error"); /* not misread as pieces */
	assert_int_equal(d.n, 2);
	cfg_free(&c);
	diag_free(&d);
	free(path);
	/* Exactly at the limit, with or without a final newline, is fine and counted once. */
	snprintf(text, sizeof text, "[pipeline]\nname = %.192s\n[locate]\ndir = ${VMT_UNSET}\n", longval);
	path = test_write(tmp, "limit.ini", text);
	assert_int_equal(cfg_load(path, &c, &d), -1);
	test_joined(&d, all, sizeof all);
	snprintf(want, sizeof want, "%s:4: [locate] option 'dir'", path);
	assert_contains(all, want);
	assert_int_equal(d.n, 1);
	cfg_free(&c);
	diag_free(&d);
	free(path);
	snprintf(text, sizeof text, "[pipeline]\nname = %.192s", longval);
	path = test_write(tmp, "limit-eof.ini", text);
	assert_int_equal(cfg_load(path, &c, &d), 0);
	assert_int_equal(strlen(cfg_entry(cfg_section(&c, "pipeline"), "name")->value), 192);
	cfg_free(&c);
	diag_free(&d);
	free(path);
	/* Just under the limit is fine. */
	snprintf(text, sizeof text, "[pipeline]\nname = %.190s\n", longval);
	path = test_write(tmp, "long-ok.ini", text);
	assert_int_equal(cfg_load(path, &c, &d), 0);
	assert_int_equal(strlen(cfg_entry(cfg_section(&c, "pipeline"), "name")->value), 190);
	cfg_free(&c);
	diag_free(&d);
	free(path);
}

/* Every problem in a file is reported, not just the first. */
static void test_load_reports_all(void **s)
{
	(void)s;
	unsetenv("VMT_UNSET");
	char *path = test_write(tmp, "multi.ini", "[pipeline]\n"
						  "name = ${VMT_UNSET}\n"
						  "name = again\n"
						  "[locate]\n"
						  "dir = ${VMT_UNSET}\n");
	struct cfg c;
	struct diag d = {0};
	assert_int_equal(cfg_load(path, &c, &d), -1);
	char all[2048];
	test_joined(&d, all, sizeof all);
	if (d.n < 2)
		fail_msg("expected at least 2 problems, got:\n%s", all);
	assert_contains(all, "multi.ini:2:");
	assert_contains(all, "multi.ini:5:");
	cfg_free(&c);
	diag_free(&d);
	free(path);
}

/* ------------------------------------------------------- pipeline_load() */

/* The sections of a pipeline that loads, to combine with a broken one. */
#define LOCATE_OK "[locate]\nplugin = locate-file\ndir = rec\n"
#define NOTIFY_OK "[notify]\nplugin = notify-file\ndir = out\n"

static struct pipeline *load_text(const char *name, const char *text, bool init, char *msgs,
				  size_t size, char **path_out)
{
	char *path = test_write(tmp, name, text);
	assert_non_null(path);
	struct diag d = {0};
	struct pipeline *p = pipeline_load(path, plugdir, init, &d);
	test_joined(&d, msgs, size);
	diag_free(&d);
	if (path_out)
		*path_out = path;
	else
		free(path);
	return p;
}

static void test_pipeline_good(void **s)
{
	(void)s;
	char msgs[4096];
	/* Sections out of order: the run order is locate, transcribe, notifiers as written. */
	struct pipeline *p = load_text("good.ini",
				       "[notify]\nplugin = notify-file\ndir = out\n"
				       "[transcribe]\nplugin = test-flaky-transcribe\n"
				       "[pipeline]\nname = unit\ntimeout = 5m\nretry_cap = 10s\n"
				       LOCATE_OK
				       "[notify.archive]\nplugin = test-flaky\nmode = retry\ndelay = 250ms\n",
				       true, msgs, sizeof msgs, NULL);
	if (!p)
		fail_msg("good pipeline refused:\n%s", msgs);
	assert_int_equal(p->n_stages, 4);
	assert_string_equal(p->stages[0]->name, "locate");
	assert_string_equal(p->stages[1]->name, "transcribe");
	assert_string_equal(p->stages[2]->name, "notify");
	assert_string_equal(p->stages[3]->name, "notify.archive");
	assert_int_equal(p->stages[0]->kind, VM_STAGE_LOCATE);
	assert_int_equal(p->stages[3]->kind, VM_STAGE_NOTIFY);
	assert_string_equal(p->set.name, "unit");
	assert_int_equal(p->set.timeout_ms, 300000);
	assert_int_equal(p->set.retry_cap_ms, 10000);
	assert_int_equal(p->set.retry_base_ms, 1000);     /* default */
	assert_int_equal(p->set.notify_grace_ms, 30000);  /* default */
	assert_string_equal(p->plugin_dir, plugdir);
	assert_true(p->stages[0]->inited);
	/* One module per plugin file, shared by stages naming it. */
	assert_int_equal(p->n_mods, 4);
	/* Relative paths are the pipeline file's directory. */
	char want[PATH_MAX + 16], real[PATH_MAX];
	assert_non_null(realpath(tmp, real));
	assert_string_equal(vm_stage_config_dir(p->stages[0]), real);
	snprintf(want, sizeof want, "%s/out", real);
	struct stat st;
	if (stat(want, &st) != 0)
		fail_msg("notify-file did not create %s in init", want);
	/* Options read back through the host API, defaults included. */
	assert_string_equal(vm_stage_option(p->stages[3], "delay"), "250ms");
	assert_string_equal(vm_stage_option(p->stages[3], "times"), "1");
	assert_null(vm_stage_option(p->stages[3], "message"));
	assert_null(vm_stage_option(p->stages[3], "no_such_option"));
	pipeline_free(p);
}

/* plugin_dir in [pipeline], relative to the file; no [transcribe] is fine. */
static void test_pipeline_plugin_dir(void **s)
{
	(void)s;
	char msgs[4096];
	char *path = test_write(tmp, "pd.ini", "[pipeline]\nplugin_dir = plugins\n" LOCATE_OK NOTIFY_OK);
	struct diag d = {0};
	struct pipeline *p = pipeline_load(path, "/nonexistent", false, &d);
	test_joined(&d, msgs, sizeof msgs);
	diag_free(&d);
	if (!p)
		fail_msg("refused:\n%s", msgs);
	assert_int_equal(p->n_stages, 2);
	char real[PATH_MAX], want[PATH_MAX + 16];
	assert_non_null(realpath(tmp, real));
	snprintf(want, sizeof want, "%s/plugins", real);
	assert_string_equal(p->plugin_dir, want);
	assert_false(p->stages[0]->inited); /* init = false: nothing started */
	pipeline_free(p);
	free(path);
}

/* plugin_dir is a search path: ':'-separated, relative to the file, an empty
 * entry is the default path, each directory once. */
static void test_pipeline_plugin_search_path(void **s)
{
	(void)s;
	char real[PATH_MAX], want[4 * PATH_MAX];
	assert_non_null(realpath(tmp, real));
	const struct {
		const char *value, *want; /* %1$s: the file's directory */
	} cases[] = {
		{"plugins:/opt/vm/plugins", "%1$s/plugins:/opt/vm/plugins"},
		{"mine:", "%1$s/mine:/def/a:/def/b"},       /* mine, then the default */
		{":mine", "/def/a:/def/b:%1$s/mine"},
		{"a::b", "%1$s/a:/def/a:/def/b:%1$s/b"},
		{"/def/b:", "/def/b:/def/a"},               /* each directory once */
		{"x:x", "%1$s/x"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *r = plugin_path_resolve(cases[i].value, real, "/def/a:/def/b");
		snprintf(want, sizeof want, cases[i].want, real);
		if (strcmp(r, want) != 0)
			fail_msg("plugin_dir = %s: '%s', expected '%s'", cases[i].value, r, want);
		free(r);
	}
	/* Through pipeline_load: a folder of its own, then the default path (where
	 * the plugins are). */
	char *path = test_write(tmp, "sp.ini", "[pipeline]\nplugin_dir = mine:\n" LOCATE_OK NOTIFY_OK);
	struct diag d = {0};
	struct pipeline *p = pipeline_load(path, plugdir, false, &d);
	diag_free(&d);
	free(path);
	assert_non_null(p);
	snprintf(want, sizeof want, "%s/mine:%s", real, plugdir);
	assert_string_equal(p->plugin_dir, want);
	pipeline_free(p);
	/* Unset or empty: the default. */
	char *r = plugin_path_resolve(NULL, real, "/def/a:/def/b");
	assert_string_equal(r, "/def/a:/def/b");
	free(r);
	r = plugin_path_resolve("", real, "/def/a");
	assert_string_equal(r, "/def/a");
	free(r);
	/* Walking a path: empty entries skipped. */
	const char *c = "::/a::b:";
	char dir[64];
	assert_true(plugin_path_next(&c, dir, sizeof dir));
	assert_string_equal(dir, "/a");
	assert_true(plugin_path_next(&c, dir, sizeof dir));
	assert_string_equal(dir, "b");
	assert_false(plugin_path_next(&c, dir, sizeof dir));
	/* The default: the build's plugins first, then the system's drop-in places. */
	char *def = plugin_path_default();
	assert_non_null(def);
	assert_non_null(strstr(def, "/plugins:/usr/local/lib/vmpipe/plugins:/etc/vmpipe/plugins.d"));
	free(def);
}

/* Load `text` as `name`; expect refusal with every want (testenv.h). */
#define want_refused(name, text, init, wants) test_want_refused(tmp, plugdir, name, text, init, wants)

#define W(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_pipeline_unknown_section(void **s)
{
	(void)s;
	want_refused("unknown-section.ini", LOCATE_OK NOTIFY_OK "\n[transcriber]\nplugin = x\n", false,
		     W("@8:", "unknown section [transcriber]", "expected [pipeline], [locate]"));
}

static void test_pipeline_bad_notify_name(void **s)
{
	(void)s;
	want_refused("notify-slash.ini", LOCATE_OK NOTIFY_OK "[notify.bad/name]\nplugin = notify-file\n", false,
		     W("@7:", "unknown section [notify.bad/name]", "[notify.NAME]"));
	want_refused("notify-dotdot.ini", LOCATE_OK NOTIFY_OK "[notify...]\nplugin = notify-file\n", false,
		     W("@7:", "unknown section [notify...]"));
	want_refused("notify-empty.ini", LOCATE_OK NOTIFY_OK "[notify.]\nplugin = notify-file\n", false,
		     W("@7:", "unknown section [notify.]"));
}

static void test_pipeline_unknown_option(void **s)
{
	(void)s;
	/* A plugin's section: the message lists the options it knows. */
	want_refused("unknown-option.ini", "[locate]\nplugin = locate-file\ndir = rec\nfolder = x\n" NOTIFY_OK,
		     false,
		     W("@4:", "[locate]", "unknown option 'folder'", "plugin 'locate-file'",
		       "known: dir, pattern, wait, settle, poll"));
	/* [pipeline] too. */
	want_refused("unknown-pipeline-option.ini", "[pipeline]\ntimeout = 1m\nverbose = yes\n" LOCATE_OK NOTIFY_OK,
		     false, W("@3:", "[pipeline]", "unknown option 'verbose'", "known: name, plugin_dir, timeout"));
}

static void test_pipeline_bad_values(void **s)
{
	(void)s;
	want_refused("bad-duration.ini", "[locate]\nplugin = locate-file\ndir = rec\nwait = 5 minutes\n" NOTIFY_OK,
		     false,
		     W("@4:", "[locate]", "option 'wait' = '5 minutes'", "expected a duration like 250ms, 70s"));
	want_refused("bad-timeout.ini", "[pipeline]\n\ntimeout = soon\n" LOCATE_OK NOTIFY_OK, false,
		     W("@3:", "[pipeline]", "option 'timeout' = 'soon'", "expected a duration"));
	want_refused("bad-enum.ini", "[pipeline]\nlog_level = loud\n" LOCATE_OK NOTIFY_OK, false,
		     W("@2:", "[pipeline]", "option 'log_level' = 'loud'", "not one of the allowed values",
		       "error|warn|info|debug|trace"));
	want_refused("bad-bool.ini", LOCATE_OK "[notify]\nplugin = test-options\nname = n\nflag = maybe\n", false,
		     W("@7:", "[notify]", "option 'flag' = 'maybe'", "expected yes or no"));
	want_refused("bad-int.ini", LOCATE_OK "[notify]\nplugin = test-options\nname = n\ncount = many\n", false,
		     W("@7:", "[notify]", "option 'count' = 'many'", "expected an integer"));
	want_refused("bad-size.ini", LOCATE_OK "[notify]\nplugin = test-options\nname = n\nmax = 10T\n", false,
		     W("@7:", "[notify]", "option 'max' = '10T'", "expected a size like 512, 64k"));
	want_refused("bad-plugin-enum.ini", LOCATE_OK "[notify]\nplugin = test-options\nname = n\ncolor = purple\n",
		     false, W("@7:", "[notify]", "option 'color' = 'purple'", "red|green|blue"));
}

static void test_pipeline_missing_required(void **s)
{
	(void)s;
	/* Reported at the section's line: the option is not anywhere. */
	want_refused("missing-dir.ini", "[pipeline]\n[locate]\nplugin = locate-file\npattern = {id}.wav\n" NOTIFY_OK,
		     false, W("@2:", "[locate]", "missing required option 'dir'", "plugin 'locate-file'"));
	want_refused("missing-plugin.ini", LOCATE_OK "\n[notify]\ndir = out\n", false,
		     W("@5:", "[notify]", "missing required option 'plugin'", "which notify plugin"));
	want_refused("empty-plugin.ini", LOCATE_OK "[notify]\nplugin =\n", false,
		     W("@4:", "[notify]", "missing required option 'plugin'"));
}

static void test_pipeline_duplicates_and_syntax(void **s)
{
	(void)s;
	want_refused("section-twice.ini", LOCATE_OK NOTIFY_OK "[locate]\nplugin = locate-file\n", false,
		     W("@7:", "section [locate] appears twice (first on line 1)"));
	want_refused("option-twice.ini", "[locate]\nplugin = locate-file\ndir = rec\ndir = rec2\n" NOTIFY_OK, false,
		     W("@4:", "[locate] option 'dir' is set twice (first on line 3)"));
	want_refused("syntax.ini", LOCATE_OK "wait 70s\n" NOTIFY_OK, false, W("@4:", "syntax error"));
	want_refused("outside.ini", "timeout = 1m\n" LOCATE_OK NOTIFY_OK, false,
		     W("@1:", "option 'timeout' is outside any section"));
}

static void test_pipeline_unset_var(void **s)
{
	(void)s;
	unsetenv("VMT_NO_SUCH_VAR");
	want_refused("unset-var.ini", "[locate]\nplugin = locate-file\ndir = ${VMT_NO_SUCH_VAR}/rec\n" NOTIFY_OK,
		     false,
		     W("@3:", "[locate]", "option 'dir'", "environment variable VMT_NO_SUCH_VAR is not set"));
}

static void test_pipeline_missing_stages(void **s)
{
	(void)s;
	want_refused("no-locate.ini", "[pipeline]\nname = x\n" NOTIFY_OK, false,
		     W("no-locate.ini: no [locate] section"));
	want_refused("no-notify.ini", "[pipeline]\n" LOCATE_OK "[transcribe]\nplugin = test-flaky-transcribe\n",
		     false, W("no-notify.ini: no [notify] section"));
	want_refused("empty.ini", "", false, W("no [locate] section", "no [notify] section"));
}

static void test_pipeline_plugin_problems(void **s)
{
	(void)s;
	char nf[PATH_MAX + 64];
	snprintf(nf, sizeof nf, "no %s/notify-nothere.so", plugdir);
	want_refused("not-found.ini", LOCATE_OK "[notify]\nplugin = notify-nothere\n", false,
		     W("@5:", "[notify]", "plugin 'notify-nothere' not found", nf));
	want_refused("wrong-kind.ini", LOCATE_OK "[notify]\nplugin = locate-file\ndir = rec\n", false,
		     W("@5:", "[notify]", "plugin 'locate-file' is a locate plugin",
		       "section [notify] needs a notify plugin"));
	want_refused("transcribe-kind.ini", LOCATE_OK NOTIFY_OK "[transcribe]\nplugin = test-flaky\n", false,
		     W("@8:", "[transcribe]", "plugin 'test-flaky' is a notify plugin",
		       "needs a transcribe plugin"));
	/* init() failing: file, line and section, plugin, and the plugin's reason. */
	want_refused("init-fails.ini", LOCATE_OK "[notify]\nplugin = test-flaky\ninit_error = the outbox is on fire\n",
		     true,
		     W("@4:", "[notify]", "plugin 'test-flaky' failed to start", "the outbox is on fire"));
	/* A plugin's own init check (locate-file: dir must exist) also names the option. */
	want_refused("init-dir.ini", "[locate]\nplugin = locate-file\ndir = no-such-dir\n" NOTIFY_OK, true,
		     W("@1:", "[locate]", "plugin 'locate-file' failed to start", "option 'dir'", "no-such-dir"));
}

/* Several problems in one file are all reported in one go. */
static void test_pipeline_reports_all(void **s)
{
	(void)s;
	want_refused("many.ini",
		     "[pipeline]\ntimeout = never\n"
		     "[locate]\nplugin = locate-file\ndir = rec\nwait = forever\n"
		     "[bogus]\n"
		     "[notify]\nplugin = test-options\ncolor = mauve\n",
		     false,
		     W("@2:", "'timeout' = 'never'", "@6:", "'wait' = 'forever'", "@7:", "[bogus]", "@8:",
		       "missing required option 'name'", "@10:", "'color' = 'mauve'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expand_vars),
		cmocka_unit_test(test_expand_errors),
		cmocka_unit_test(test_load_good),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_load_long_line),
		cmocka_unit_test(test_load_reports_all),
		cmocka_unit_test(test_pipeline_good),
		cmocka_unit_test(test_pipeline_plugin_dir),
		cmocka_unit_test(test_pipeline_plugin_search_path),
		cmocka_unit_test(test_pipeline_unknown_section),
		cmocka_unit_test(test_pipeline_bad_notify_name),
		cmocka_unit_test(test_pipeline_unknown_option),
		cmocka_unit_test(test_pipeline_bad_values),
		cmocka_unit_test(test_pipeline_missing_required),
		cmocka_unit_test(test_pipeline_duplicates_and_syntax),
		cmocka_unit_test(test_pipeline_unset_var),
		cmocka_unit_test(test_pipeline_missing_stages),
		cmocka_unit_test(test_pipeline_plugin_problems),
		cmocka_unit_test(test_pipeline_reports_all),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
