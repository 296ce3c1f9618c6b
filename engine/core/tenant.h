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
void tenants_close(struct tenants *t);

#endif
