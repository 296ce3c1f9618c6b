/*
 * Where the queue commands (enqueue, status, show, delete, retry, requeue)
 * find the spool and the state directory: one rule for all of them, the one
 * `vmpipe serve` follows.
 *
 *   pipeline   -c, else $VMPIPE_PIPELINE, else the default pipeline
 *              (pipeline_path.h); none found is fine when --spool is given
 *   spool      --spool, else $VMPIPE_SPOOL, else the pipeline's [serve] spool
 *              (relative: to the pipeline file)
 *   state      the pipeline's [pipeline] state, else SPOOL/state
 *
 * Loading creates nothing (the pipeline is loaded in check mode).
 */
#ifndef VMPIPE_CLI_WHERE_H
#define VMPIPE_CLI_WHERE_H

#include <getopt.h>
#include <limits.h>
#include <stdbool.h>

#include "cli.h"

struct where {
	char config[PATH_MAX]; /* absolute; "" when no pipeline was found */
	bool config_given;     /* -c or $VMPIPE_PIPELINE (not the default search) */
	char spool[PATH_MAX];  /* absolute; "" when none is known */
	char state[PATH_MAX];  /* a directory or s3:// URI; "" when none is known */
	const char *state_from; /* "[pipeline] state", "the spool" */
	struct pipeline *p;    /* the pipeline (or an empty stand-in); state_*() take it */
	struct pipeline none;
	bool owned;
	/* Its tenants that keep checkpoints elsewhere (where_places()). */
	struct pipeline **tenants;
	size_t ntenants;
	bool tenants_read;
};

/* The options every queue command takes. */
#define WHERE_OPTS                                                                     \
	{"spool", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'}, \
		{"help", no_argument, NULL, 'h'}

/* An option of a queue command beyond WHERE_OPTS: its getopt `val`, and
 * the flag it sets or the argument it keeps (one of the two). */
struct where_opt {
	int val;
	bool *flag;
	const char **arg;
};

/* The arguments every queue command reads: where_options() fills them. */
struct where_args {
	const char *config, *spool;
};

/*
 * The option loop of a queue command: -c/--config and -s/--spool into *a,
 * -h/--help prints `usage` on stdout; each option of `longopts` beyond
 * those sets what its entry of `opts` (ended by val 0) names.  -1 when the
 * command goes on (optind at its operands), else the exit status to end
 * with (0 after --help; EXIT_USAGE with `usage` on stderr).
 */
int where_options(int argc, char **argv, const struct option *longopts, const struct where_opt *opts,
		  const char *usage, struct where_args *a);

enum {
	WHERE_SPOOL = 1, /* a spool is required */
	WHERE_STATE = 2, /* the state directory is wanted: look for a pipeline even
			  * when the spool is given (enqueue does not: a PBX user
			  * need not read the pipeline) */
};

/* Fill *w (free with where_free).  0, or an exit status after logging what
 * is missing and how to give it. */
int where_find(const char *config, const char *spool, int flags, const struct globals *g,
	       struct where *w);
void where_free(struct where *w);

/*
 * The pipelines whose checkpoints the queue commands see: the pipeline,
 * then each tenant of its tenant_dir (loaded in check mode) that keeps
 * them somewhere else, each place once.  How many; where_place(w, i) is
 * the i-th (0: w->p).
 */
size_t where_places(struct where *w);
const struct pipeline *where_place(const struct where *w, size_t i);

/*
 * Job `id`'s checkpoint, wherever one of those keeps it: 1 with *out (and
 * its place in `place`), 0 when none holds it, -1 when one cannot be read
 * (errno).
 */
int where_load_job(struct where *w, const char *id, vm_job **out, char *place, size_t size);

/* " -c CONFIG --spool SPOOL" as a command line that finds the same places
 * from any directory (what the printed hints use). */
void where_args(const struct where *w, char *buf, size_t size);

#endif
