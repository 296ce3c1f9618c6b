/*
 * `vmpipe config`: the effective pipeline, as `postconf` or `nginx -T` show
 * theirs: every option of every section with the value in force, defaults
 * included, and where each came from (the file's line, a ${VAR} in it, or
 * the default).  Secrets are not printed.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/exits.h"
#include "core/pipeline.h"
#include "core/plugin.h"

static const char usage_config[] =
	"usage: vmpipe config [-c PIPELINE] [-n]\n"
	"\n"
	"Print the effective pipeline: every section and every option of its plugin\n"
	"with the value in force, defaults included, each followed by where it came\n"
	"from (FILE:LINE, FILE:LINE with ${VAR} expanded, or the default).  Values of\n"
	"options that hold secrets (password, secret, token, key) are not shown.\n"
	"Loads nothing but the plugins' option tables and creates nothing.\n"
	"\n"
	"  -c, --config FILE   the pipeline (default: $VMPIPE_PIPELINE, else the default one)\n"
	"  -n, --non-default   only what the file sets (like `postconf -n`)\n";

static bool secret(const char *name)
{
	static const char *const words[] = {"password", "secret", "token", "api_key", "access_key", NULL};
	for (const char *const *w = words; *w; w++)
		if (strstr(name, *w))
			return true;
	return false;
}

/* What an option without a default stands for when unset, when the engine
 * has one (the plugin search path). */
static const char *implied;

static void print_section(const char *path, const char *name, const struct cfg_section *sec,
			  const vm_option *table, const char *const *extra, bool non_default)
{
	printf("[%s]\n", name);
	for (const char *const *x = extra; x && *x; x++) {
		const struct cfg_entry *e = cfg_entry(sec, *x);
		if (e)
			printf("%s = %s\t; %s:%d\n", *x, e->value, path, e->line);
	}
	for (const vm_option *o = table; o && o->name; o++) {
		const struct cfg_entry *e = cfg_entry(sec, o->name);
		if (!e && non_default)
			continue;
		const char *v = e ? e->value : o->def;
		const char *shown = v && *v && secret(o->name) ? "(hidden)" : v ? v : "";
		if (e && e->raw && strstr(e->raw, "${"))
			printf("%s = %s\t; %s:%d, from %s\n", o->name, shown, path, e->line,
			       secret(o->name) ? "the environment" : e->raw);
		else if (e)
			printf("%s = %s\t; %s:%d\n", o->name, shown, path, e->line);
		else if (!o->def && implied && strcmp(name, "pipeline") == 0 && strcmp(o->name, "plugin_dir") == 0)
			printf("%s = %s\t; default (the built-in search path)\n", o->name, implied);
		else
			printf("%s = %s\t; %s\n", o->name, shown, o->def ? "default" : "unset (no default)");
	}
	printf("\n");
}

int cmd_config(int argc, char **argv, const struct globals *g)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'}, {"non-default", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
	};
	const char *config = getenv("VMPIPE_PIPELINE");
	bool non_default = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:nh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'n': non_default = true; break;
		case 'h': fputs(usage_config, stdout); return 0;
		default: fputs(usage_config, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(usage_config, stderr);
		return EXIT_USAGE;
	}
	pipeline_check_only(true); /* no state directory made by looking */
	struct pipeline *p = load(config, g);
	pipeline_check_only(false);
	if (!p)
		return EXIT_CONFIG;
	const char *path = p->cfg.path;
	printf("# %s (plugins from %s)\n\n", path, p->plugin_dir);
	implied = p->plugin_dir;
	print_section(path, "pipeline", cfg_section(&p->cfg, "pipeline"), pipeline_options, NULL, non_default);
	const struct cfg_section *ss = cfg_section(&p->cfg, "serve");
	if (ss || !non_default)
		print_section(path, "serve", ss, serve_options, NULL, non_default);
	static const char *const stage_extra[] = {"plugin", "max_in_flight", NULL};
	for (size_t i = 0; i < p->n_stages; i++) {
		const vm_stage *st = p->stages[i];
		print_section(path, st->name, st->sec, st->mod->p->options, stage_extra, non_default);
	}
	pipeline_free(p);
	return 0;
}
