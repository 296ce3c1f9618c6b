/*
 * Plugin loading and the option tables: dlopen() from the plugin_dir search path only, check
 * the ABI, validate and store options, run init/fini.
 */
#ifndef VMPIPE_PLUGIN_LOADER_H
#define VMPIPE_PLUGIN_LOADER_H

#include <stdio.h>
#include <vmpipe/vmpipe.h>

#include "config.h"

struct plugin_mod {
	char *name;
	char *path;
	void *handle;
	const vm_plugin *p;
};

struct vm_stage {
	char *name;                 /* section name */
	vm_stage_kind kind;
	const char *config_path;    /* owned by the pipeline */
	char *config_dir;
	const struct cfg_section *sec;
	struct plugin_mod *mod;
	void *state;
	bool inited;
	bool options_bad;           /* its options were refused: never initialised */
	char *error;                /* from vm_stage_error() */
	int max_in_flight;          /* jobs in this stage at once (0: no bound); the scheduler's */
	const vm_mail_opts *mail;   /* a mail notifier's options, set by vm_mail_init(): its
				     * recipient rules, which intake checks (intake.h) */
	vm_intake_fn intake;        /* a notifier's own intake check (vm_stage_intake_check()) */
};

/*
 * Load `name`.so from the first directory of the search path `search`
 * ("DIR:DIR:…", plugin_path.h) that has a file of that name; a refusal of
 * that file is final (a later directory is not tried).  NULL with the reason
 * in `err`.
 */
struct plugin_mod *plugin_open(const char *search, const char *name, char *err, size_t errsize);
void plugin_close(struct plugin_mod *m);

/* "locate", "transcribe", "notify" */
const char *stage_kind_name(vm_stage_kind kind);

/*
 * Validate the options of `sec` against `table` and store them into `state`
 * (state_size bytes).  Keys listed in `skip` (NULL-terminated) belong to the
 * engine.  Every problem goes to `d` as "FILE:LINE: [section] option 'x': …".
 * Returns the number of problems.
 */
int options_apply(const vm_option *table, size_t state_size, void *state,
		  const struct cfg_section *sec, const char *path, const char *what,
		  const char *const *skip, struct diag *d);

/* Check a plugin's own table for mistakes (duplicate names, offsets beyond
 * the state).  Returns the number of problems added to `d`. */
int options_check_table(const struct plugin_mod *m, struct diag *d);

/* Print a plugin's entry for `vmpipe plugins`. */
void plugin_describe(FILE *out, const vm_plugin *p);
const char *opt_type_name(vm_opt_type t);

#endif
