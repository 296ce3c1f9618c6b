/*
 * engine/core/tenant.c: which pipeline a tenant name selects, caching, refusal of
 * names that are not plain, broken tenant files, concurrent first use.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/tenant.h"
#include "testenv.h"

struct fx {
	char *tmp;
	char *plugins;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	f->tmp = test_tmpdir("tenant");
	f->plugins = f->tmp ? test_plugin_dir(f->tmp) : NULL;
	if (!f->plugins)
		return -1;
	char d[PATH_MAX + 16];
	snprintf(d, sizeof d, "%s/tenants", f->tmp);
	mkdir(d, 0700);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	test_rmtree(f->tmp);
	free(f->tmp);
	free(f->plugins);
	free(f);
	return 0;
}

/* A small valid pipeline named `name` (locate-file + notify-file). */
static char *pipeline_text(const struct fx *f, const char *name, const char *extra)
{
	char *t = NULL;
	if (asprintf(&t,
		     "[pipeline]\nname = %s\n%s\n[locate]\nplugin = locate-file\ndir = %s\n"
		     "[notify]\nplugin = notify-file\ndir = %s/out-%s\n",
		     name, extra, f->tmp, f->tmp, name) < 0)
		return NULL;
	return t;
}

static void put(const struct fx *f, const char *rel, const char *name, const char *extra)
{
	char *t = pipeline_text(f, name, extra);
	free(test_write(f->tmp, rel, t));
	free(t);
}

static struct tenants *open_base(const struct fx *f, const char *extra, struct diag *d)
{
	put(f, "base.ini", "base", extra);
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/base.ini", f->tmp);
	return tenants_open(path, f->plugins, d);
}

static void no_tenant_dir_always_base(void **state)
{
	struct fx *f = *state;
	struct diag d = {0};
	struct tenants *t = open_base(f, "", &d);
	assert_non_null(t);
	struct pipeline *base = tenants_base(t);
	assert_string_equal(base->set.name, "base");
	assert_ptr_equal(tenants_get(t, NULL, &d), base);
	assert_ptr_equal(tenants_get(t, "", &d), base);
	assert_ptr_equal(tenants_get(t, "acme", &d), base);
	assert_int_equal(d.n, 0);
	tenants_close(t);
	diag_free(&d);
}

static void tenant_file_selected_and_cached(void **state)
{
	struct fx *f = *state;
	put(f, "tenants/acme.ini", "acme", "");
	struct diag d = {0};
	struct tenants *t = open_base(f, "tenant_dir = tenants", &d);
	assert_non_null(t);
	struct pipeline *a = tenants_get(t, "acme", &d);
	assert_non_null(a);
	assert_ptr_not_equal(a, tenants_base(t));
	assert_string_equal(a->set.name, "acme");
	/* plugins come from the base's directory */
	assert_string_equal(a->plugin_dir, tenants_base(t)->plugin_dir);
	assert_ptr_equal(tenants_get(t, "acme", &d), a);
	/* unknown tenant: the base, so the voicemail still reaches someone */
	assert_ptr_equal(tenants_get(t, "globex", &d), tenants_base(t));
	assert_int_equal(d.n, 0);
	tenants_close(t);
	diag_free(&d);
}

static void names_that_are_not_plain_are_refused(void **state)
{
	struct fx *f = *state;
	struct diag d = {0};
	struct tenants *t = open_base(f, "tenant_dir = tenants", &d);
	assert_non_null(t);
	static const char *const bad[] = {"../base", "a/b", ".", "..", ".x", "-x", "a b",
					  "x\n", "\xc3\xa9"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct diag e = {0};
		assert_null(tenants_get(t, bad[i], &e));
		assert_int_equal(e.n, 1);
		assert_contains(e.msgs[0], "not a plain identifier");
		diag_free(&e);
	}
	char longname[70];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	assert_null(tenants_get(t, longname, &d));
	tenants_close(t);
	diag_free(&d);
}

static void broken_tenant_file_then_fixed(void **state)
{
	struct fx *f = *state;
	free(test_write(f->tmp, "tenants/bad.ini", "[locate]\nplugin = locate-file\n"));
	struct diag d = {0};
	struct tenants *t = open_base(f, "tenant_dir = tenants", &d);
	assert_non_null(t);
	assert_null(tenants_get(t, "bad", &d));
	char all[2000];
	test_joined(&d, all, sizeof all);
	assert_contains(all, "tenants/bad.ini");
	assert_contains(all, "'dir'");
	diag_free(&d);
	/* a failure is not cached: the fixed file loads on the next event */
	put(f, "tenants/bad.ini", "bad", "");
	struct pipeline *p = tenants_get(t, "bad", &d);
	assert_non_null(p);
	assert_string_equal(p->set.name, "bad");
	tenants_close(t);
	diag_free(&d);
}

static void load_all_loads_every_tenant_file_once(void **state)
{
	struct fx *f = *state;
	put(f, "tenants/acme.ini", "acme", "");
	put(f, "tenants/globex.ini", "globex", "");
	free(test_write(f->tmp, "tenants/broken.ini", "[locate]\nplugin = locate-file\n"));
	free(test_write(f->tmp, "tenants/.hidden.ini", "x"));
	free(test_write(f->tmp, "tenants/notes.txt", "x"));
	free(test_write(f->tmp, "tenants/a b.ini", "x"));
	struct diag d = {0};
	struct tenants *t = open_base(f, "tenant_dir = tenants", &d);
	assert_non_null(t);
	struct pipeline *a = tenants_get(t, "acme", &d); /* seen before: not loaded twice */
	assert_non_null(a);
	assert_int_equal(tenants_load_all(t), 3); /* the base, acme, globex; broken is skipped */
	assert_int_equal(tenants_load_all(t), 3);
	assert_ptr_equal(tenants_nth(t, 0), tenants_base(t));
	int seen_acme = 0, seen_globex = 0;
	for (size_t i = 1; i < 3; i++) {
		struct pipeline *p = tenants_nth(t, i);
		assert_non_null(p);
		seen_acme += p == a;
		seen_globex += strcmp(p->set.name, "globex") == 0;
	}
	assert_int_equal(seen_acme, 1);
	assert_int_equal(seen_globex, 1);
	assert_null(tenants_nth(t, 3));
	tenants_close(t);
	diag_free(&d);

	/* No tenant_dir: the base alone. */
	t = open_base(f, "", &d);
	assert_non_null(t);
	assert_int_equal(tenants_load_all(t), 1);
	assert_null(tenants_nth(t, 1));
	tenants_close(t);
	diag_free(&d);
}

static void a_tenant_links_as_the_base_unless_it_says_otherwise(void **state)
{
	struct fx *f = *state;
	put(f, "tenants/acme.ini", "acme", "");
	put(f, "tenants/own.ini", "own",
	    "[serve]\npublic_url = https://own.example/\nlink_key_file = own.key\nlink_expires = 1d\n");
	put(f, "tenants/short.ini", "short", "[serve]\nlink_expires = 1h\n");
	struct diag d = {0};
	struct tenants *t = open_base(f, "tenant_dir = tenants\n[serve]\npublic_url = https://vm.example/\n"
				      "link_key_file = keys/link.key\nlink_expires = 3d", &d);
	assert_non_null(t);
	struct pipeline *base = tenants_base(t), *a = tenants_get(t, "acme", &d);
	assert_non_null(a);
	char key[PATH_MAX + 32];
	snprintf(key, sizeof key, "%s/keys/link.key", f->tmp); /* the base's path, not beside the tenant */
	assert_string_equal(a->serve.public_url, "https://vm.example/");
	assert_string_equal(a->serve.link_key_file, key);
	assert_int_equal(a->serve.link_expires_ms, base->serve.link_expires_ms);
	struct pipeline *o = tenants_get(t, "own", &d);
	assert_non_null(o);
	assert_string_equal(o->serve.public_url, "https://own.example/");
	assert_string_equal(o->serve.link_key_file, "own.key");
	assert_int_equal(o->serve.link_expires_ms, 86400000);
	struct pipeline *sh = tenants_get(t, "short", &d);
	assert_non_null(sh);
	assert_string_equal(sh->serve.public_url, "https://vm.example/");
	assert_int_equal(sh->serve.link_expires_ms, 3600000);
	assert_int_equal(d.n, 0);
	tenants_close(t);
	diag_free(&d);
}

static void tenant_may_not_nest(void **state)
{
	struct fx *f = *state;
	put(f, "tenants/nest.ini", "nest", "tenant_dir = .");
	struct diag d = {0};
	struct tenants *t = open_base(f, "tenant_dir = tenants", &d);
	assert_non_null(t);
	assert_null(tenants_get(t, "nest", &d));
	char all[2000];
	test_joined(&d, all, sizeof all);
	assert_contains(all, "belongs in the base pipeline");
	tenants_close(t);
	diag_free(&d);
}

static void missing_tenant_dir_refused(void **state)
{
	struct fx *f = *state;
	struct diag d = {0};
	assert_null(open_base(f, "tenant_dir = nowhere", &d));
	char all[2000];
	test_joined(&d, all, sizeof all);
	assert_contains(all, "tenant_dir");
	assert_contains(all, "nowhere");
	diag_free(&d);
}

struct race {
	struct tenants *t;
	struct pipeline *got;
};

static void *get_acme(void *arg)
{
	struct race *r = arg;
	struct diag d = {0};
	r->got = tenants_get(r->t, "acme", &d);
	diag_free(&d);
	return NULL;
}

static void concurrent_first_use_loads_once(void **state)
{
	struct fx *f = *state;
	put(f, "tenants/acme.ini", "acme", "");
	struct diag d = {0};
	struct tenants *t = open_base(f, "tenant_dir = tenants", &d);
	assert_non_null(t);
	pthread_t th[4];
	struct race r[4];
	for (int i = 0; i < 4; i++) {
		r[i].t = t;
		r[i].got = NULL;
		pthread_create(&th[i], NULL, get_acme, &r[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_non_null(r[0].got);
	for (int i = 1; i < 4; i++)
		assert_ptr_equal(r[i].got, r[0].got);
	tenants_close(t);
	diag_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(no_tenant_dir_always_base, setup, teardown),
		cmocka_unit_test_setup_teardown(tenant_file_selected_and_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(names_that_are_not_plain_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(broken_tenant_file_then_fixed, setup, teardown),
		cmocka_unit_test_setup_teardown(load_all_loads_every_tenant_file_once, setup, teardown),
		cmocka_unit_test_setup_teardown(a_tenant_links_as_the_base_unless_it_says_otherwise, setup, teardown),
		cmocka_unit_test_setup_teardown(tenant_may_not_nest, setup, teardown),
		cmocka_unit_test_setup_teardown(missing_tenant_dir_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(concurrent_first_use_loads_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
