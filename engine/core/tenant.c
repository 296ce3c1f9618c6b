/*
 * Per-tenant pipelines (see tenant.h).  The set owns the base pipeline and
 * every tenant pipeline loaded so far; each is loaded and initialised on first
 * use and kept until tenants_close(), so a Lambda container or the daemon pays
 * for plugin init once per tenant, not once per event.
 *
 * What a tenant name selects:
 *  - NULL or "": the base pipeline;
 *  - the base sets no tenant_dir: the base pipeline (the name is only logged);
 *  - <tenant_dir>/<name>.ini exists: that pipeline;
 *  - no such file: the base pipeline, with a warning, so the voicemail still
 *    reaches somebody (the base's notifier) rather than nobody;
 *  - a name that is not a plain identifier, or a tenant file that does not
 *    load: NULL with the reason (the caller refuses the event / exits 78).
 * Event intake already refuses non-plain names (exit 65); the check here
 * keeps a path out of the file name whoever the caller is.
 */
#include "tenant.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "link_job.h"
#include "log.h"
#include "job.h"
#include "state.h"
#include "util.h"

#define TENANT_NAME_MAX 64

struct tenant_entry {
	char *name;
	struct pipeline *p;
	char *key_path; /* the base's link key, when the tenant links as the base does */
};

/*
 * A tenant that names no [serve] public_url of its own links to the base's
 * listen pages: the base's public_url, link key (its path made absolute, as
 * the base reads it) and, unless it sets its own, link_expires.  Without
 * this a tenant's mails had no Listen link.  The key's path (owned by the
 * entry), or NULL.
 */
static char *inherit_links(const struct pipeline *base, struct pipeline *p)
{
	const struct cfg_section *own = cfg_section(&p->cfg, "serve");
	if (cfg_entry(own, "public_url") || !base->serve.public_url || !*base->serve.public_url)
		return NULL;
	char path[PATH_MAX];
	link_key_path(base, path, sizeof path);
	char *key = strdup(path);
	if (!key)
		return NULL;
	p->serve.public_url = base->serve.public_url;
	p->serve.link_key_file = key;
	if (!cfg_entry(own, "link_expires"))
		p->serve.link_expires_ms = base->serve.link_expires_ms;
	return key;
}

struct tenants {
	struct pipeline *base;
	char *dir; /* resolved tenant_dir, or NULL */
	pthread_mutex_t lock;
	struct tenant_entry *v;
	size_t n;
};

char *tenants_dir_of(const struct pipeline *base)
{
	const char *dir = base->set.tenant_dir;
	if (!dir || !*dir)
		return NULL;
	if (dir[0] == '/')
		return strdup(dir);
	char buf[PATH_MAX];
	int n = snprintf(buf, sizeof buf, "%s/%s", base->dir, dir);
	if (n < 0 || (size_t)n >= sizeof buf)
		return NULL;
	return strdup(buf);
}

struct tenants *tenants_open(const char *base_path, const char *default_plugin_dir, struct diag *d)
{
	struct pipeline *base = pipeline_load(base_path, default_plugin_dir, true, d);
	if (!base)
		return NULL;
	struct tenants *t = calloc(1, sizeof *t);
	if (!t) {
		pipeline_free(base);
		diag_add(d, "%s: out of memory", base_path);
		return NULL;
	}
	t->base = base;
	if (base->set.tenant_dir && *base->set.tenant_dir) {
		t->dir = tenants_dir_of(base);
		struct stat st;
		if (!t->dir || stat(t->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
			diag_add(d, "%s: [pipeline] option 'tenant_dir': %s is not a directory", base_path,
				 t->dir ? t->dir : base->set.tenant_dir);
			free(t->dir);
			free(t);
			pipeline_free(base);
			return NULL;
		}
	}
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

struct pipeline *tenants_base(struct tenants *t)
{
	return t->base;
}

/* Load <dir>/<name>.ini.  *missing is set when there is no such file. */
static struct pipeline *load_tenant(struct tenants *t, const char *name, bool *missing,
				    struct diag *d)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof path, "%s/%s.ini", t->dir, name);
	if (n < 0 || (size_t)n >= sizeof path) {
		diag_add(d, "tenant '%s': path of its pipeline is too long", name);
		return NULL;
	}
	struct stat st;
	if (stat(path, &st) != 0 && errno == ENOENT) {
		*missing = true;
		return NULL;
	}
	/* Plugins not found via the tenant's own plugin_dir come from the base's. */
	struct pipeline *p = pipeline_load(path, t->base->plugin_dir, true, d);
	if (p && pipeline_has(p, "tenant_dir")) {
		diag_add(d, "%s: [pipeline] option 'tenant_dir' belongs in the base pipeline, not in a "
			    "tenant's", path);
		pipeline_free(p);
		return NULL;
	}
	return p;
}

struct pipeline *tenants_get(struct tenants *t, const char *tenant, struct diag *d)
{
	if (!tenant || !*tenant)
		return t->base;
	if (!is_plain_name(tenant, TENANT_NAME_MAX)) {
		diag_add(d, "tenant name is not a plain identifier (letters, digits, '-', '_', '.'; "
			    "at most %d)", TENANT_NAME_MAX);
		return NULL;
	}
	if (!t->dir) {
		log_msg(NULL, "tenant", VM_LOG_DEBUG,
			"tenant '%s': the pipeline sets no tenant_dir, using it as is", tenant);
		return t->base;
	}
	struct pipeline *p = NULL;
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, tenant) == 0) {
			p = t->v[i].p;
			break;
		}
	if (p) {
		pthread_mutex_unlock(&t->lock);
		return p;
	}
	/* Loaded under the lock: rare (once per tenant) and keeps one copy. */
	bool missing = false;
	p = load_tenant(t, tenant, &missing, d);
	if (p) {
		struct tenant_entry *nv = realloc(t->v, (t->n + 1) * sizeof *nv);
		char *name = strdup(tenant);
		if (!nv || !name) {
			free(name);
			if (nv)
				t->v = nv;
			pipeline_free(p);
			pthread_mutex_unlock(&t->lock);
			diag_add(d, "tenant '%s': out of memory", tenant);
			return NULL;
		}
		t->v = nv;
		t->v[t->n].name = name;
		t->v[t->n].p = p;
		t->v[t->n].key_path = inherit_links(t->base, p);
		t->n++;
	}
	pthread_mutex_unlock(&t->lock);
	if (missing) {
		log_msg(NULL, "tenant", VM_LOG_WARN,
			"unknown tenant '%s' (no %s/%s.ini): using the base pipeline", tenant, t->dir,
			tenant);
		return t->base;
	}
	return p;
}

void tenants_each_file(const char *dir, void (*fn)(const char *name, const char *path, void *ctx), void *ctx)
{
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n <= 4 || n - 4 > TENANT_NAME_MAX || strcmp(e->d_name + n - 4, ".ini") != 0)
			continue;
		char name[TENANT_NAME_MAX + 1], path[PATH_MAX];
		memcpy(name, e->d_name, n - 4);
		name[n - 4] = '\0';
		int k = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (is_plain_name(name, TENANT_NAME_MAX) && k > 0 && (size_t)k < sizeof path)
			fn(name, path, ctx);
	}
	if (d)
		closedir(d);
}

static void load_one(const char *name, const char *path, void *ctx)
{
	(void)path;
	struct diag dg = {0};
	if (!tenants_get(ctx, name, &dg))
		log_msg(NULL, "tenant", VM_LOG_WARN, "tenant '%s': %s", name, dg.n ? dg.msgs[0] : "does not load");
	diag_free(&dg);
}

size_t tenants_load_all(struct tenants *t)
{
	tenants_each_file(t->dir, load_one, t);
	pthread_mutex_lock(&t->lock);
	size_t n = t->n + 1;
	pthread_mutex_unlock(&t->lock);
	return n;
}

struct pipeline *tenants_nth(struct tenants *t, size_t i)
{
	if (i == 0)
		return t->base;
	pthread_mutex_lock(&t->lock);
	struct pipeline *p = i - 1 < t->n ? t->v[i - 1].p : NULL;
	pthread_mutex_unlock(&t->lock);
	return p;
}

size_t tenants_by_place(struct tenants *t, struct pipeline ***out)
{
	size_t n = t->dir ? tenants_load_all(t) : 1, k = 0;
	struct pipeline **v = calloc(n, sizeof *v);
	char (*seen)[PATH_MAX + 80] = calloc(n, sizeof *seen);
	*out = NULL;
	if (!v || !seen) {
		free(v);
		free(seen);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct pipeline *p = tenants_nth(t, i);
		if (!p || state_place(p, seen[k], sizeof seen[k]) != 0)
			continue;
		bool dup = false;
		for (size_t j = 0; j < k && !dup; j++)
			dup = strcmp(seen[j], seen[k]) == 0;
		if (!dup)
			v[k++] = p;
	}
	free(seen);
	*out = v;
	return k;
}

struct pipeline *tenants_for_job(struct tenants *t, const char *id, vm_job **rec, bool *later, char *why,
				 size_t whysize)
{
	if (rec)
		*rec = NULL;
	*later = false;
	if (whysize)
		*why = '\0';
	struct pipeline **places = NULL, *found = NULL;
	size_t n = tenants_by_place(t, &places);
	bool failed = false;
	char place[PATH_MAX + 80] = "", first[PATH_MAX + 80] = "";
	for (size_t i = 0; i < n && !found && !*why; i++) {
		struct pipeline *p = places[i];
		state_place(p, place, sizeof place);
		if (i == 0)
			snprintf(first, sizeof first, "%s", place);
		vm_job *job = NULL;
		int r = state_load(p, NULL, id, &job);
		if (r < 0)
			failed = true;
		if (r <= 0)
			continue;
		struct diag d = {0};
		const char *tenant = vm_job_get_str(job, "tenant");
		struct pipeline *run = tenants_get(t, tenant, &d);
		char there[PATH_MAX + 80];
		if (!run)
			snprintf(why, whysize, "job %s is tenant '%s''s, whose pipeline does not load: %s", id,
				 tenant ? tenant : "", d.n ? d.msgs[0] : "");
		else if (state_place(run, there, sizeof there) != 0 || strcmp(there, place) != 0)
			snprintf(why, whysize, "job %s is in %s, but its pipeline (tenant '%s') keeps checkpoints "
				 "in %s now: move it there", id, place, tenant ? tenant : "", run ? there : "no place");
		else
			found = run;
		diag_free(&d);
		if (found && rec)
			*rec = job;
		else
			job_free(job);
	}
	free(places);
	*later = !found && failed && !*why;
	if (!found && !*why) {
		if (!n)
			snprintf(why, whysize, "no job %s: no pipeline keeps checkpoints", id);
		else if (failed)
			snprintf(why, whysize, "job %s: a state store cannot be read", id);
		else
			snprintf(why, whysize, "no job %s in %s%s", id, first,
				 n > 1 ? " or where a tenant keeps its checkpoints" : "");
	}
	return found;
}

void tenants_close(struct tenants *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		pipeline_free(t->v[i].p);
		free(t->v[i].name);
		free(t->v[i].key_path);
	}
	free(t->v);
	free(t->dir);
	pipeline_free(t->base);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
