/*
 * One rule for finding the spool and the state directory (see where.h).
 */
#include "where.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/exits.h"
#include "core/log.h"
#include "core/pipeline_path.h"
#include "core/state.h"
#include "core/tenant.h"
#include "runtime/serve/serve.h"

/* An absolute form of `path` (relative to `base`, or to the working
 * directory when base is NULL), whether or not it exists. */
static void absolute(const char *path, const char *base, char *buf, size_t size)
{
	char cwd[PATH_MAX];
	if (path[0] == '/') {
		snprintf(buf, size, "%s", path);
		return;
	}
	if (!base)
		base = getcwd(cwd, sizeof cwd) ? cwd : ".";
	if (snprintf(buf, size, "%.*s/%s", PATH_MAX / 2, base, path) < 0)
		buf[0] = '\0';
	char real[PATH_MAX];
	if (realpath(buf, real))
		snprintf(buf, size, "%s", real);
}

int where_find(const char *config, const char *spool, int flags, const struct globals *g,
	       struct where *w)
{
	memset(w, 0, sizeof *w);
	if (!config || !*config)
		config = getenv("VMPIPE_PIPELINE");
	w->config_given = config && *config;
	if (!spool || !*spool)
		spool = getenv("VMPIPE_SPOOL");
	if (spool && !*spool)
		spool = NULL;
	setup_logging(g, NULL);
	char err[4096];
	if (!w->config_given && spool && !(flags & WHERE_STATE)) {
		config = NULL;
	} else if (!w->config_given) {
		config = pipeline_path_find(err, sizeof err);
		if (!config && !spool) {
			log_msg(NULL, NULL, VM_LOG_ERROR, "no spool: give --spool DIR, set VMPIPE_SPOOL, or "
				"name a pipeline with [serve] spool (-c PIPELINE, VMPIPE_PIPELINE); %s", err);
			return EXIT_USAGE;
		}
	}
	if (config) {
		struct stat st;
		if (stat(config, &st) == 0 && S_ISDIR(st.st_mode)) {
			log_msg(NULL, NULL, VM_LOG_ERROR, "%s is a directory, not a pipeline file", config);
			return EXIT_CONFIG;
		}
		char *pdir = default_plugin_dir();
		struct diag d = {0};
		pipeline_check_only(true); /* nothing created by looking */
		w->p = pipeline_load(config, pdir, false, &d);
		pipeline_check_only(false);
		free(pdir);
		if (!w->p) {
			report_refused(config, &d);
			diag_free(&d);
			return EXIT_CONFIG;
		}
		diag_free(&d);
		w->owned = true;
		absolute(config, NULL, w->config, sizeof w->config);
	} else {
		w->none.dir = (char *)".";
		w->p = &w->none;
	}
	if (spool)
		absolute(spool, NULL, w->spool, sizeof w->spool);
	else if (w->owned && w->p->serve.spool && *w->p->serve.spool)
		absolute(w->p->serve.spool, w->p->dir, w->spool, sizeof w->spool);
	if ((flags & WHERE_SPOOL) && !*w->spool) {
		log_msg(NULL, NULL, VM_LOG_ERROR, "no spool: give --spool DIR, set VMPIPE_SPOOL, or set "
			"[serve] spool in %s", w->config);
		where_free(w);
		return EXIT_USAGE;
	}
	const char *s = w->p->set.state;
	if (s && *s) {
		if (strstr(s, "://"))
			snprintf(w->state, sizeof w->state, "%s", s);
		else
			absolute(s, w->p->dir, w->state, sizeof w->state);
		w->state_from = "[pipeline] state";
	} else if (*w->spool) {
		serve_state_dir(w->spool, w->state, sizeof w->state);
		w->state_from = "the spool";
		state_default(w->state);
	}
	return 0;
}

/* One tenant file: kept when it keeps checkpoints where nothing before does. */
static void add_place(const char *name, const char *path, void *ctx)
{
	(void)name;
	struct where *w = ctx;
	struct diag dg = {0};
	pipeline_check_only(true);
	struct pipeline *t = pipeline_load(path, w->p->plugin_dir, false, &dg);
	pipeline_check_only(false);
	diag_free(&dg);
	char there[PATH_MAX + 80], other[PATH_MAX + 80];
	bool seen = !t || state_place(t, there, sizeof there) != 0;
	for (size_t i = 0; i <= w->ntenants && !seen; i++)
		seen = state_place(where_place(w, i), other, sizeof other) == 0 && strcmp(other, there) == 0;
	struct pipeline **nv = seen ? NULL : realloc(w->tenants, (w->ntenants + 1) * sizeof *nv);
	if (nv) {
		w->tenants = nv;
		w->tenants[w->ntenants++] = t;
	} else {
		pipeline_free(t);
	}
}

size_t where_places(struct where *w)
{
	if (!w->tenants_read && w->owned) {
		char *dir = tenants_dir_of(w->p);
		tenants_each_file(dir, add_place, w);
		free(dir);
	}
	w->tenants_read = true;
	return 1 + w->ntenants;
}

const struct pipeline *where_place(const struct where *w, size_t i)
{
	return i == 0 ? w->p : i - 1 < w->ntenants ? w->tenants[i - 1] : NULL;
}

int where_load_job(struct where *w, const char *id, vm_job **out, char *place, size_t size)
{
	*out = NULL;
	snprintf(place, size, "%s", w->state);
	int r = state_load(w->p, NULL, id, out);
	for (size_t i = 1, n = r == 0 ? where_places(w) : 1; i < n && r == 0; i++) {
		const struct pipeline *t = where_place(w, i);
		r = state_load(t, NULL, id, out);
		if (r != 0)
			state_place(t, place, size);
	}
	return r;
}

int where_options(int argc, char **argv, const struct option *longopts, const struct where_opt *opts,
		  const char *usage, struct where_args *a)
{
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+s:c:h", longopts, NULL)) != -1) {
		if (c == 's' || c == 'c') {
			*(c == 's' ? &a->spool : &a->config) = optarg;
			continue;
		}
		if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		const struct where_opt *o = opts;
		while (o && o->val && o->val != c)
			o++;
		if (!o || !o->val) {
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
		if (o->flag)
			*o->flag = true;
		if (o->arg)
			*o->arg = optarg;
	}
	return -1;
}

void where_free(struct where *w)
{
	for (size_t i = 0; i < w->ntenants; i++)
		pipeline_free(w->tenants[i]);
	free(w->tenants);
	w->tenants = NULL;
	w->ntenants = 0;
	if (w->owned)
		pipeline_free(w->p);
	w->p = NULL;
	w->owned = false;
	state_default(NULL);
}

void where_args(const struct where *w, char *buf, size_t size)
{
	int n = 0;
	buf[0] = '\0';
	if (w->config_given && *w->config)
		n = snprintf(buf, size, " -c %s", w->config);
	if (*w->spool && n >= 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " --spool %s", w->spool);
}
