/*
 * What the command-line commands share (engine/runtime/cli/main.c defines it):
 * global options, logging set-up, loading pipelines, reading an event.
 */
#ifndef VMPIPE_CLI_H
#define VMPIPE_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "core/pipeline.h"
#include "core/tenant.h"

/* -v/-q and --log-format, shared by every command. */
struct globals {
	int verbosity; /* -1 quiet, 0 default, 1.. verbose */
	const char *log_format;
};

/* The default plugin search path (plugin_path.h; malloc()ed). */
char *default_plugin_dir(void);
/* Log level and format: -v/-q, then the environment, then the pipeline's. */
void setup_logging(const struct globals *g, const struct pipeline *p);
/* Sets up logging; *config (-c or $VMPIPE_PIPELINE) or, when it is unset,
 * the first default pipeline found (pipeline_path.h); false after logging
 * every place looked at. */
bool have_config(const char **config, const struct globals *g);
/* Log every problem of a refused pipeline and a summary line. */
void report_refused(const char *config, const struct diag *d);
/* One pipeline, not initialised (for `plugins`); NULL after logging why. */
struct pipeline *load(const char *config, const struct globals *g);
/* The base pipeline and its tenants (initialised); NULL after logging why. */
struct tenants *open_tenants(const char *config, const struct globals *g);
/* An event from a file or "-" (stdin), at most EVENT_MAX_BYTES.  0, or an
 * exit status after logging why. */
int read_event(const char *name, char **text, size_t *len);

/* engine/runtime/cli/cmd_spool.c: the commands of the host service. */
int cmd_serve(int argc, char **argv, const struct globals *g);
int cmd_enqueue(int argc, char **argv, const struct globals *g);
/* cmd_status.c, cmd_queue.c: looking after the queue. */
int cmd_status(int argc, char **argv, const struct globals *g);
int cmd_show(int argc, char **argv, const struct globals *g);
int cmd_delete(int argc, char **argv, const struct globals *g);
int cmd_retry(int argc, char **argv, const struct globals *g);
int cmd_requeue(int argc, char **argv, const struct globals *g);
/* cmd_config.c: the effective pipeline. */
int cmd_config(int argc, char **argv, const struct globals *g);

#endif
