/*
 * Per-tenant pipelines.  A base pipeline may set [pipeline] tenant_dir; an
 * event whose `tenant` (contact attribute `tenant`) is set then runs on
 * <tenant_dir>/<tenant>.ini instead.  Loaded pipelines are cached: plugins are
 * loaded and initialised once per process (one Lambda container, one daemon),
 * not once per event.
 */
#ifndef VMPIPE_TENANT_H
#define VMPIPE_TENANT_H

#include "config.h"
#include "pipeline.h"

struct tenants;

/* Load the base pipeline (initialised).  NULL with problems in `d`. */
struct tenants *tenants_open(const char *base_path, const char *default_plugin_dir, struct diag *d);
/* `base`'s tenant_dir made absolute against its directory (malloc()ed), or
 * NULL when it sets none. */
char *tenants_dir_of(const struct pipeline *base);
/* Each tenant file of `dir` (NULL: none): fn(NAME, DIR/NAME.ini, ctx) for
 * every NAME.ini whose NAME is a tenant's plain name. */
void tenants_each_file(const char *dir, void (*fn)(const char *name, const char *path, void *ctx), void *ctx);
/* The base pipeline (owned by the set). */
struct pipeline *tenants_base(struct tenants *t);
/*
 * The pipeline for `tenant` (NULL or "": the base).  Owned by the set; stays
 * valid until tenants_close().  NULL with the reason in `d` (a name that is not
 * a plain identifier, a tenant file that does not load).  Thread-safe.
 */
struct pipeline *tenants_get(struct tenants *t, const char *tenant, struct diag *d);
/*
 * Load every tenant of tenant_dir (each <name>.ini with a plain name) and
 * return how many pipelines the set now holds, the base included: for what
 * must see every tenant's state (Lambda's sweeper), not only the tenants
 * seen so far.  A tenant file that does not load is logged and skipped.
 */
size_t tenants_load_all(struct tenants *t);
/* The i-th pipeline of the set (0: the base), NULL past the end. */
struct pipeline *tenants_nth(struct tenants *t, size_t i);
/*
 * One pipeline for each place checkpoints are kept (state_place()), the
 * base's first, then its tenants' (all of tenant_dir loaded): *out is a
 * malloc()ed array of pipelines owned by the set.  How many; 0 when there
 * is none (or out of memory: *out NULL).
 */
size_t tenants_by_place(struct tenants *t, struct pipeline ***out);
/*
 * The pipeline that runs job `id` again (a retry names the id alone): its
 * checkpoint is looked for where the base keeps checkpoints and then where
 * each tenant of tenant_dir does (each place once), and the job runs on its
 * own tenant's pipeline, which must keep its checkpoints in that same place.
 * The pipeline (and, with `rec`, the record read: free with job_free), or
 * NULL with the reason in `why`; *later when that is a state store that
 * could not be read (worth another try), not an answer.
 */
struct pipeline *tenants_for_job(struct tenants *t, const char *id, vm_job **rec, bool *later, char *why,
				 size_t whysize);
void tenants_close(struct tenants *t);

#endif
