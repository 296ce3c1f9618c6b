/*
 * Unit tests of the plugin loader and option tables (engine/core/plugin.c):
 * every way a plugin is refused (each message names the plugin, its file and
 * the reason, and through pipeline_load also the pipeline file, line and
 * section), how options are validated and stored, and the `vmpipe plugins`
 * description generated from a table.  The plugins are the test plugins of
 * tests/plugins/ built into $VMPIPE_BUILD/test-plugins.
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

#include "core/job.h"
#include "core/pipeline.h"
#include "core/plugin.h"
#include "core/plugin_list.h"
#include "core/plugin_path.h"
#include "testenv.h"

static char *tmp, *plugdir;

static int group_setup(void **s)
{
	(void)s;
	tmp = test_tmpdir("plugin");
	if (!tmp)
		return -1;
	plugdir = test_plugin_dir(tmp);
	char rec[PATH_MAX + 8];
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

/* plugin_open() must refuse `name` from `dir` with every one of `wants` in the reason. */
static void want_open_refused(const char *dir, const char *name, const char *const *wants)
{
	char err[1024] = "";
	struct plugin_mod *m = plugin_open(dir, name, err, sizeof err);
	if (m) {
		plugin_close(m);
		fail_msg("plugin_open(%s, \"%s\") accepted it", dir, name);
	}
	for (const char *const *w = wants; *w; w++)
		assert_contains(err, *w);
}

#define W(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_open_good(void **s)
{
	(void)s;
	char err[1024] = "";
	struct plugin_mod *m = plugin_open(plugdir, "test-flaky", err, sizeof err);
	if (!m)
		fail_msg("test-flaky refused: %s", err);
	assert_string_equal(m->name, "test-flaky");
	assert_int_equal(m->p->kind, VM_STAGE_NOTIFY);
	assert_int_equal(m->p->abi_version, VMPIPE_ABI_VERSION);
	assert_contains(m->path, "/test-flaky.so");
	plugin_close(m);
}

static void test_open_wrong_abi(void **s)
{
	(void)s;
	want_open_refused(plugdir, "test-badabi",
			  W("plugin 'test-badabi'", "test-badabi.so) refused", "plugin ABI version 99",
			    "this vmpipe speaks 1", "rebuild it"));
}

static void test_open_missing_symbol(void **s)
{
	(void)s;
	want_open_refused(plugdir, "test-nosymbol",
			  W("plugin 'test-nosymbol'", "test-nosymbol.so) refused",
			    "exports no 'vmpipe_plugin' symbol"));
}

static void test_open_name_mismatch(void **s)
{
	(void)s;
	want_open_refused(plugdir, "test-misnamed",
			  W("test-misnamed.so) refused", "it calls itself 'someone-else', not 'test-misnamed'"));
}

static void test_open_no_run(void **s)
{
	(void)s;
	want_open_refused(plugdir, "test-norun", W("test-norun.so) refused", "no run callback"));
}

static void test_open_path_in_name(void **s)
{
	(void)s;
	static const char *const bad[] = {"../x", "/tmp/x", "notify-file.so", "sub/notify-file", "..", ".",
					  "", "-rf", "a b"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char want[128];
		snprintf(want, sizeof want, "plugin name '%s' must be a plain name", bad[i]);
		want_open_refused(plugdir, bad[i], W(want, "plugins load only from plugin_dir"));
	}
}

static void test_open_not_found(void **s)
{
	(void)s;
	char want[PATH_MAX + 64];
	snprintf(want, sizeof want, "no %s/notify-nothere.so", plugdir);
	want_open_refused(plugdir, "notify-nothere", W("plugin 'notify-nothere' not found", want));
}

/* Garbage named .so, and a directory named .so, in a plugin dir of their own. */
static void test_open_not_a_shared_object(void **s)
{
	(void)s;
	char junkdir[PATH_MAX + 16];
	snprintf(junkdir, sizeof junkdir, "%s/junkplugins", tmp);
	assert_int_equal(mkdir(junkdir, 0700), 0);
	free(test_write(junkdir, "junk.so", "this is not an ELF file\n\x01\x02\x03"));
	free(test_write(junkdir, "empty.so", ""));
	char sub[PATH_MAX + 32];
	snprintf(sub, sizeof sub, "%s/adir.so", junkdir);
	assert_int_equal(mkdir(sub, 0700), 0);
	want_open_refused(junkdir, "junk", W("plugin 'junk': cannot load", "junk.so"));
	want_open_refused(junkdir, "empty", W("plugin 'empty': cannot load", "empty.so"));
	want_open_refused(junkdir, "adir", W("plugin 'adir'", "adir.so is not a regular file"));
}

/* ------------------------------------------------ through pipeline_load */

#define LOCATE_OK "[locate]\nplugin = locate-file\ndir = rec\n"

/* Load `text` as `name`; expect refusal with every want (testenv.h). */
#define want_refused(name, text, init, wants) test_want_refused(tmp, plugdir, name, text, init, wants)

static void test_pipeline_refusals(void **s)
{
	(void)s;
	want_refused("abi.ini", LOCATE_OK "[notify]\nplugin = test-badabi\n", false,
		     W("@5:", "[notify]", "plugin ABI version 99"));
	want_refused("nosym.ini", LOCATE_OK "[notify]\nplugin = test-nosymbol\n", false,
		     W("@5:", "[notify]", "no 'vmpipe_plugin' symbol"));
	want_refused("misnamed.ini", LOCATE_OK "[notify]\nplugin = test-misnamed\n", false,
		     W("@5:", "[notify]", "calls itself 'someone-else'"));
	want_refused("kind.ini", "[locate]\nplugin = test-flaky\n[notify]\nplugin = test-flaky\n", false,
		     W("@2:", "[locate]", "plugin 'test-flaky' is a notify plugin",
		       "section [locate] needs a locate plugin"));
	want_refused("dotdot.ini", LOCATE_OK "[notify]\nplugin = ../x\n", false,
		     W("@5:", "[notify]", "plugin name '../x' must be a plain name"));
	want_refused("abs.ini", LOCATE_OK "[notify]\nplugin = /tmp/x\n", false,
		     W("@5:", "[notify]", "plugin name '/tmp/x' must be a plain name"));
	want_refused("unknown-opt.ini", LOCATE_OK "[notify]\nplugin = test-options\nname = n\nshade = dark\n", false,
		     W("@7:", "[notify]", "unknown option 'shade' for plugin 'test-options'",
		       "known: name, count, flag, wait, max, color, note, raw"));
	want_refused("required.ini", LOCATE_OK "\n[notify]\nplugin = test-options\ncount = 2\n", false,
		     W("@5:", "[notify]", "missing required option 'name' for plugin 'test-options'",
		       "a required string"));
	want_refused("init.ini", LOCATE_OK "[notify.x]\nplugin = test-flaky\ninit_error = cannot reach the moon\n",
		     true, W("@4:", "[notify.x]", "plugin 'test-flaky' failed to start", "cannot reach the moon"));
	/* A broken option table is refused before the engine writes anything into the state. */
	want_refused("table.ini", LOCATE_OK "[notify]\nplugin = test-badtable\n", false,
		     W("plugin 'test-badtable': option 'a' is declared twice",
		       "plugin 'test-badtable': option 'far' is stored beyond its state",
		       "plugin 'test-badtable': enum option 'pick' lists no choices"));
}

/* A stage's init failing after an earlier stage started: the earlier one is
 * finalised (under ASan/valgrind a leak would show here). */
static void test_init_failure_cleans_up(void **s)
{
	(void)s;
	want_refused("cleanup.ini",
		     LOCATE_OK "[notify]\nplugin = notify-file\ndir = out\n"
			       "[notify.two]\nplugin = test-flaky\ninit_error = second one fails\n",
		     true, W("@7:", "[notify.two]", "second one fails"));
}

/* ------------------------------------------------ option storage */

static struct pipeline *load_ok(const char *name, const char *text)
{
	char *path = test_write(tmp, name, text);
	struct diag d = {0};
	struct pipeline *p = pipeline_load(path, plugdir, true, &d);
	char msgs[4096];
	test_joined(&d, msgs, sizeof msgs);
	diag_free(&d);
	free(path);
	if (!p)
		fail_msg("%s refused:\n%s", name, msgs);
	return p;
}

/* Run the test-options stage and return its view of the options. */
static vm_job *run_options(struct pipeline *p)
{
	vm_job *job = job_new("opts-job");
	vm_stage *st = p->stages[p->n_stages - 1];
	assert_string_equal(st->mod->name, "test-options");
	assert_int_equal(st->mod->p->run(st->state, job), VM_DONE);
	return job;
}

static void test_options_defaults(void **s)
{
	(void)s;
	struct pipeline *p = load_ok("defaults.ini", LOCATE_OK "[notify]\nplugin = test-options\nname = Pat\n");
	vm_job *job = run_options(p);
	int64_t v = 0;
	assert_string_equal(vm_job_get_str(job, "opts.name"), "Pat");
	assert_true(vm_job_get_int(job, "opts.count", &v) && v == 3);
	assert_false(vm_job_get_bool(job, "opts.flag", true));
	assert_true(vm_job_get_int(job, "opts.wait_ms", &v) && v == 70000);
	assert_true(vm_job_get_int(job, "opts.max", &v) && v == 65536);
	assert_true(vm_job_get_int(job, "opts.color", &v) && v == 1); /* green */
	assert_false(vm_job_get_bool(job, "opts.note_set", true));     /* no default: left NULL */
	assert_null(vm_job_get_str(job, "opts.raw"));
	job_free(job);
	pipeline_free(p);
}

static void test_options_set(void **s)
{
	(void)s;
	setenv("VMT_COUNT", "-42", 1);
	struct pipeline *p = load_ok("set.ini", LOCATE_OK
				     "[notify]\nplugin = test-options\nname = Zoë Ünïcode\ncount = ${VMT_COUNT}\n"
				     "flag = on\nwait = 250ms\nmax = 10M\ncolor = BLUE\nnote = n\nraw = as is\n");
	vm_job *job = run_options(p);
	int64_t v = 0;
	assert_string_equal(vm_job_get_str(job, "opts.name"), "Zoë Ünïcode");
	assert_true(vm_job_get_int(job, "opts.count", &v));
	assert_int_equal(v, -42);
	assert_true(vm_job_get_bool(job, "opts.flag", false));
	assert_true(vm_job_get_int(job, "opts.wait_ms", &v) && v == 250);
	assert_true(vm_job_get_int(job, "opts.max", &v) && v == 10 * 1024 * 1024);
	assert_true(vm_job_get_int(job, "opts.color", &v) && v == 2);
	assert_true(vm_job_get_bool(job, "opts.note_set", false));
	assert_string_equal(vm_job_get_str(job, "opts.raw"), "as is"); /* NOSTORE: readable, not stored */
	job_free(job);
	pipeline_free(p);
}

/* options_apply() directly: the engine's own table ([pipeline]) and skip keys. */
static void test_options_apply_direct(void **s)
{
	(void)s;
	struct cfg_entry entries[] = {
		{(char *)"timeout", (char *)"2m", 3, NULL},
		{(char *)"plugin", (char *)"x", 4, NULL},
		{(char *)"nonsense", (char *)"1", 5, NULL},
	};
	struct cfg_section sec = {(char *)"pipeline", 2, entries, 3};
	struct pipeline_settings set;
	memset(&set, 0, sizeof set);
	struct diag d = {0};
	static const char *const skip[] = {"plugin", NULL};
	int bad = options_apply(pipeline_options, sizeof set, &set, &sec, "p.ini", "[pipeline]", skip, &d);
	char msgs[2048];
	test_joined(&d, msgs, sizeof msgs);
	assert_int_equal(bad, 1);
	assert_contains(msgs, "p.ini:5: [pipeline] unknown option 'nonsense' for [pipeline]");
	assert_not_contains(msgs, "'plugin'"); /* skipped: the engine's key */
	assert_int_equal(set.timeout_ms, 120000);
	assert_int_equal(set.retry_cap_ms, 60000);
	diag_free(&d);
}

/* ------------------------------------------------ `vmpipe plugins` */

static void test_describe(void **s)
{
	(void)s;
	char err[1024];
	struct plugin_mod *m = plugin_open(plugdir, "test-options", err, sizeof err);
	if (!m)
		fail_msg("%s", err);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	plugin_describe(f, m->p);
	fclose(f);
	assert_contains(text, "test-options (notify)");
	assert_contains(text, "test notifier with one option of every type");
	assert_contains(text, "a required string (required)");
	assert_contains(text, "a duration (default: 70s)");
	assert_contains(text, "red|green|blue");
	assert_contains(text, "an enum (default: green)");
	/* One line per option, in table order. */
	const char *name = strstr(text, "    name "), *raw = strstr(text, "    raw ");
	assert_non_null(name);
	assert_non_null(raw);
	assert_true(name < raw);
	free(text);
	plugin_close(m);
}

/* ------------------------------------------------ search paths */

/* tmp/NAME holding symlinks to the build's `plugins` (NULL-terminated names). */
static char *plugin_subdir(const char *name, const char *const *plugins)
{
	char *dir = malloc(PATH_MAX);
	snprintf(dir, PATH_MAX, "%s/%s", tmp, name);
	assert_int_equal(mkdir(dir, 0700), 0);
	for (const char *const *p = plugins; p && *p; p++) {
		char src[PATH_MAX + 64], dst[PATH_MAX + 64], real[PATH_MAX];
		snprintf(src, sizeof src, "%s/%s.so", plugdir, *p);
		snprintf(dst, sizeof dst, "%s/%s.so", dir, *p);
		assert_non_null(realpath(src, real));
		assert_int_equal(symlink(real, dst), 0);
	}
	return dir;
}

static void test_open_from_search_path(void **s)
{
	(void)s;
	char *a = plugin_subdir("sp-a", W("test-flaky")), *b = plugin_subdir("sp-b", W("test-flaky", "test-options"));
	char path[3 * PATH_MAX], err[2048], want[PATH_MAX + 64];
	/* Only the second directory has it: found there. */
	snprintf(path, sizeof path, "%s/nowhere:%s:%s", tmp, a, b);
	struct plugin_mod *m = plugin_open(path, "test-options", err, sizeof err);
	if (!m)
		fail_msg("%s", err);
	snprintf(want, sizeof want, "%s/test-options.so", b);
	assert_string_equal(m->path, want);
	plugin_close(m);
	/* Both have it: the first directory wins. */
	m = plugin_open(path, "test-flaky", err, sizeof err);
	assert_non_null(m);
	snprintf(want, sizeof want, "%s/test-flaky.so", a);
	assert_string_equal(m->path, want);
	plugin_close(m);
	/* Nowhere: every file looked for is named. */
	want_open_refused(path, "notify-nothere",
			  W("plugin 'notify-nothere' not found: no ", "/nowhere/notify-nothere.so, no ",
			    "/sp-a/notify-nothere.so, no ", "/sp-b/notify-nothere.so (see `vmpipe plugins -d "));
	want_open_refused("", "test-flaky", W("plugin 'test-flaky' not found: the plugin search path is empty"));
	/* The refusals stay: plain names only, whatever the path. */
	want_open_refused(path, "../sp-a/test-flaky", W("must be a plain name", "plugins load only from plugin_dir"));
	free(a);
	free(b);
}

static void test_first_match_is_final(void **s)
{
	(void)s;
	/* A broken file of that name comes first: it is refused, not skipped for a
	 * good one further on (the search path says which file is meant). */
	char *a = plugin_subdir("fm-a", NULL), *b = plugin_subdir("fm-b", W("test-flaky"));
	free(test_write(a, "test-flaky.so", "not an ELF file\n"));
	char path[2 * PATH_MAX];
	snprintf(path, sizeof path, "%s:%s", a, b);
	want_open_refused(path, "test-flaky", W("plugin 'test-flaky': cannot load", "/fm-a/test-flaky.so"));
	free(a);
	free(b);
}

static void test_pipeline_search_path(void **s)
{
	(void)s;
	/* A drop-in directory of its own beside the build's plugins. */
	char *drop = plugin_subdir("dropins", W("test-options"));
	char text[4 * PATH_MAX];
	char *base = plugin_subdir("bundled", W("locate-file", "notify-file"));
	snprintf(text, sizeof text,
		 "[pipeline]\nplugin_dir = %s:dropins\n" LOCATE_OK
		 "[notify]\nplugin = notify-file\ndir = out\n"
		 "[notify.extra]\nplugin = test-options\nname = x\n", base);
	char *ini = test_write(tmp, "sp.ini", text);
	struct diag d = {0};
	struct pipeline *p = pipeline_load(ini, "/nonexistent", true, &d);
	char msgs[4096];
	test_joined(&d, msgs, sizeof msgs);
	diag_free(&d);
	if (!p)
		fail_msg("refused:\n%s", msgs);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof want, "%s/notify-file.so", base);
	assert_string_equal(p->stages[1]->mod->path, want);
	assert_non_null(strstr(p->stages[2]->mod->path, "/dropins/test-options.so"));
	pipeline_free(p);
	free(ini);
	free(drop);
	free(base);
}

__attribute__((noinline)) static char *list_output(const char *search, int *rc)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	*rc = plugins_list(f, search);
	fclose(f);
	return text;
}

static void test_plugins_list_search_path(void **s)
{
	(void)s;
	char *a = plugin_subdir("ls-a", W("notify-file", "test-flaky"));
	char *b = plugin_subdir("ls-b", W("test-flaky", "test-options"));
	char path[3 * PATH_MAX], want[3 * PATH_MAX];
	snprintf(path, sizeof path, "%s:%s/gone:%s", a, tmp, b);
	int rc;
	char *out = list_output(path, &rc);
	assert_int_equal(rc, 0);
	/* Every directory, in order, the missing one marked. */
	snprintf(want, sizeof want,
		 "plugin search path (the first directory holding NAME.so wins):\n  %s\n  %s/gone (no such "
		 "directory)\n  %s\n\n", a, tmp, b);
	assert_contains(out, want);
	snprintf(want, sizeof want, "plugins in %s:\n\nnotify-file (notify)", a);
	assert_contains(out, want);
	/* The name found twice: which file is used. */
	snprintf(want, sizeof want, "plugins in %s:\n\ntest-flaky: not used: %s/test-flaky.so comes first", b, a);
	assert_contains(out, want);
	assert_contains(out, "test-options (notify)");
	/* Described once, from the first directory. */
	const char *first = strstr(out, "test-flaky (notify)");
	assert_non_null(first);
	assert_null(strstr(first + 1, "test-flaky (notify)"));
	free(out);
	/* Nothing readable at all: a configuration error. */
	snprintf(path, sizeof path, "%s/gone:%s/gone2", tmp, tmp);
	out = list_output(path, &rc);
	assert_int_equal(rc, 78);
	free(out);
	free(a);
	free(b);
}

/* vmpipe-plugin(7): a required string option is set (possibly to "") before init(). */
static void test_required_string_not_null_in_init(void **s)
{
	(void)s;
	struct pipeline *p = load_ok("empty-required.ini", LOCATE_OK "[notify]\nplugin = test-options\nname =\n");
	vm_job *job = run_options(p);
	assert_string_equal(vm_job_get_str(job, "opts.name"), "");
	job_free(job);
	pipeline_free(p);
}

/* vmpipe-plugin(7): a notifier with no message id of its own still counts as sent. */
static void test_notification_without_message_id(void **s)
{
	(void)s;
	vm_job *job = job_new("nomid");
	job->stage = "notify.pager";
	assert_null(vm_job_notified(job));
	assert_int_equal(vm_job_add_notification(job, "pager", NULL), 0);
	assert_non_null(vm_job_notified(job));
	assert_string_equal(vm_job_notified(job), "");
	job->stage = NULL;
	job_free(job);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_good),
		cmocka_unit_test(test_open_wrong_abi),
		cmocka_unit_test(test_open_missing_symbol),
		cmocka_unit_test(test_open_name_mismatch),
		cmocka_unit_test(test_open_no_run),
		cmocka_unit_test(test_open_path_in_name),
		cmocka_unit_test(test_open_not_found),
		cmocka_unit_test(test_open_not_a_shared_object),
		cmocka_unit_test(test_pipeline_refusals),
		cmocka_unit_test(test_init_failure_cleans_up),
		cmocka_unit_test(test_options_defaults),
		cmocka_unit_test(test_options_set),
		cmocka_unit_test(test_options_apply_direct),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_open_from_search_path),
		cmocka_unit_test(test_first_match_is_final),
		cmocka_unit_test(test_pipeline_search_path),
		cmocka_unit_test(test_plugins_list_search_path),
		cmocka_unit_test(test_required_string_not_null_in_init),
		cmocka_unit_test(test_notification_without_message_id),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
