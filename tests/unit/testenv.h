/*
 * Shared helpers of the engine unit tests (tests/unit/test_*.c): text
 * assertions that print what was expected, temp directories, and a plugin
 * directory assembled from the build's plugins and test plugins.
 *
 * The runner starts each test binary from the repository root with
 * VMPIPE_BUILD=<build dir>; the plugins are in $VMPIPE_BUILD/plugins and the
 * test plugins (tests/plugins/NAME.c) in $VMPIPE_BUILD/test-plugins.
 * Everything returned as char * is malloc()ed: the caller frees it.
 */
#ifndef VMPIPE_TESTENV_H
#define VMPIPE_TESTENV_H

#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/pipeline.h"

#define assert_contains(hay, needle)                                                     \
	do {                                                                             \
		const char *h_ = (hay), *n_ = (needle);                                  \
		if (!h_ || !strstr(h_, n_))                                              \
			fail_msg("expected \"%s\" in: %s", n_, h_ ? h_ : "(null)");      \
	} while (0)

#define assert_not_contains(hay, needle)                                                 \
	do {                                                                             \
		const char *h_ = (hay), *n_ = (needle);                                  \
		if (h_ && strstr(h_, n_))                                                \
			fail_msg("did not expect \"%s\" in: %s", n_, h_);                \
	} while (0)

static inline const char *test_build_dir(void)
{
	const char *b = getenv("VMPIPE_BUILD");
	return b && *b ? b : "build";
}

/* A fresh directory $TMPDIR/vmpipe-TAG-XXXXXX ($TMPDIR: /tmp when unset; the
 * runner points it into the build tree and checks that it is left empty). */
static inline char *test_tmpdir(const char *tag)
{
	char *d = malloc(PATH_MAX);
	if (!d)
		return NULL;
	const char *t = getenv("TMPDIR");
	snprintf(d, PATH_MAX, "%s/vmpipe-%s-XXXXXX", t && *t ? t : "/tmp", tag);
	if (!mkdtemp(d)) {
		free(d);
		return NULL;
	}
	return d;
}

static inline void test_rmtree(const char *dir)
{
	char cmd[PATH_MAX + 32];
	/* Only what test_tmpdir() made, or something inside it. */
	if (!dir || !strstr(dir, "/vmpipe-") || strchr(dir, '\''))
		return; /* never anything else */
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* Write `text` to dir/name; returns the path. */
static inline char *test_write(const char *dir, const char *name, const char *text)
{
	char *path = NULL;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return NULL;
	FILE *f = fopen(path, "w");
	if (!f) {
		free(path);
		return NULL;
	}
	fputs(text, f);
	fclose(f);
	return path;
}

/* Symlink every .so of `srcdir` into `dst`; the number linked. */
static inline int test_link_all(const char *srcdir, const char *dst)
{
	char pat[PATH_MAX + 32];
	glob_t g;
	int n = 0;
	snprintf(pat, sizeof pat, "%s/*.so", srcdir);
	if (glob(pat, 0, NULL, &g) != 0)
		return 0;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		char abs[PATH_MAX], link[PATH_MAX + 64];
		const char *base = strrchr(g.gl_pathv[i], '/');
		if (!realpath(g.gl_pathv[i], abs))
			continue;
		snprintf(link, sizeof link, "%s/%s", dst, base ? base + 1 : g.gl_pathv[i]);
		if (symlink(abs, link) == 0)
			n++;
	}
	globfree(&g);
	return n;
}

/* `tmp`/plugins holding the build's plugins and test plugins (symlinks). */
static inline char *test_plugin_dir(const char *tmp)
{
	char *dir = malloc(PATH_MAX);
	char src[PATH_MAX + 16];
	if (!dir)
		return NULL;
	snprintf(dir, PATH_MAX, "%s/plugins", tmp);
	if (mkdir(dir, 0700) != 0) {
		free(dir);
		return NULL;
	}
	snprintf(src, sizeof src, "%s/plugins", test_build_dir());
	int a = test_link_all(src, dir);
	snprintf(src, sizeof src, "%s/test-plugins", test_build_dir());
	int b = test_link_all(src, dir);
	if (a == 0 || b == 0) {
		fprintf(stderr, "no plugins (%d) or test plugins (%d) under %s: build them first\n", a, b,
			test_build_dir());
		free(dir);
		return NULL;
	}
	return dir;
}

/* Every diagnostic, one per line, into buf. */
static inline void test_joined(const struct diag *d, char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < d->n && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s\n", d->msgs[i]);
}

/*
 * Write `text` as `name` in `tmp`, load it as a pipeline with plugins from
 * `plugdir`, and expect a refusal whose messages contain each of `wants`
 * (NULL-terminated); "@N:" in a want stands for "<path>:N:".
 */
static inline void test_want_refused(const char *tmp, const char *plugdir, const char *name,
				     const char *text, bool init, const char *const *wants)
{
	char *path = test_write(tmp, name, text);
	assert_non_null(path);
	struct diag d = {0};
	struct pipeline *p = pipeline_load(path, plugdir, init, &d);
	char msgs[8192];
	test_joined(&d, msgs, sizeof msgs);
	diag_free(&d);
	if (p) {
		pipeline_free(p);
		fail_msg("%s was accepted:\n%s", name, text);
	}
	for (const char *const *w = wants; *w; w++) {
		char want[PATH_MAX + 128];
		if ((*w)[0] == '@')
			snprintf(want, sizeof want, "%s:%s", path, *w + 1);
		else
			snprintf(want, sizeof want, "%s", *w);
		assert_contains(msgs, want);
	}
	free(path);
}

#endif
