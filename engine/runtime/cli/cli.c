/*
 * What the command-line commands share (see cli.h).
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/event.h"
#include "core/log.h"
#include "core/pipeline_path.h"
#include "core/plugin_path.h"
#include "core/sched.h"
#include "core/util.h"

char *default_plugin_dir(void)
{
	return plugin_path_default();
}

/* Log level: -v/-q, then VMPIPE_LOG_LEVEL, then [pipeline] log_level. */
void setup_logging(const struct globals *g, const struct pipeline *p)
{
	int level = VM_LOG_INFO;
	if (p && pipeline_has(p, "log_level"))
		level = p->set.log_level;
	const char *env = getenv("VMPIPE_LOG_LEVEL");
	if (env && log_level_parse(env) >= 0)
		level = log_level_parse(env);
	if (g->verbosity < 0)
		level = VM_LOG_ERROR;
	else if (g->verbosity > 0)
		level = VM_LOG_INFO + g->verbosity > VM_LOG_TRACE ? VM_LOG_TRACE : VM_LOG_INFO + g->verbosity;

	const char *fmt = p && pipeline_has(p, "log_format") ? p->set.log_format : NULL;
	if (getenv("VMPIPE_LOG_FORMAT"))
		fmt = getenv("VMPIPE_LOG_FORMAT");
	if (g->log_format)
		fmt = g->log_format;
	int f = log_format_parse(fmt);
	log_setup((vm_log_level)level, f < 0 ? LOG_FORMAT_AUTO : (enum log_format)f);
}

/* Both loaders below: a pipeline must be named, and a refusal lists every problem. */
bool have_config(const char **config, const struct globals *g)
{
	setup_logging(g, NULL);
	struct stat st;
	if (*config && **config && stat(*config, &st) == 0 && S_ISDIR(st.st_mode)) {
		log_msg(NULL, NULL, VM_LOG_ERROR, "-c %s: a directory, not a pipeline file (e.g. %s/pipeline.ini)",
			*config, *config);
		return false;
	}
	if (*config && **config)
		return true;
	char err[4096];
	if ((*config = pipeline_path_find(err, sizeof err)))
		return true;
	log_msg(NULL, NULL, VM_LOG_ERROR, "%s", err);
	return false;
}

void report_refused(const char *config, const struct diag *d)
{
	diag_print(d);
	log_msg(NULL, NULL, VM_LOG_ERROR, "%s: pipeline refused (%zu problem%s)", config, d->n,
		d->n == 1 ? "" : "s");
}

/* One pipeline, for `plugins` (which needs no tenants and no init). */
struct pipeline *load(const char *config, const struct globals *g)
{
	if (!have_config(&config, g))
		return NULL;
	char *pdir = default_plugin_dir();
	struct diag d = {0};
	struct pipeline *p = pipeline_load(config, pdir, false, &d);
	free(pdir);
	if (!p)
		report_refused(config, &d);
	diag_free(&d);
	return p;
}

/* The base pipeline and its tenant set (tenant.h); NULL after logging why. */
struct tenants *open_tenants(const char *config, const struct globals *g)
{
	if (!have_config(&config, g))
		return NULL;
	char *pdir = default_plugin_dir();
	struct diag d = {0};
	struct tenants *t = tenants_open(config, pdir, &d);
	free(pdir);
	if (!t)
		report_refused(config, &d);
	diag_free(&d);
	return t;
}

int read_event(const char *name, char **text, size_t *len)
{
	const char *path = !name || strcmp(name, "-") == 0 ? "/dev/stdin" : name;
	if (read_file(path, EVENT_MAX_BYTES, text, len) != 0) {
		log_msg(NULL, "intake", VM_LOG_ERROR, "cannot read event %s: %s",
			path, errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
		return errno == EFBIG ? EXIT_BAD_EVENT : 66;
	}
	return 0;
}
