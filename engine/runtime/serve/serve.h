/*
 * `vmpipe serve`: the host service.  One process holds any number of jobs in
 * one scheduler (sched.h): events come from the spool (spool.h; inotify, and
 * a scan at start) and, when configured, an Amazon SQS queue; every accepted
 * event is checkpointed before it leaves the spool's new/ or the queue, and
 * every unfinished job is resumed at start.  See docs/serve.md.
 *
 * Signals: SIGTERM/SIGINT stop intake, let running plugin calls finish within
 * `drain`, checkpoint and exit 0; SIGHUP reloads the pipelines (a pipeline
 * that no longer loads keeps the old one, and the log says why).
 */
#ifndef VMPIPE_SERVE_H
#define VMPIPE_SERVE_H

#include <stddef.h>
#include <stdint.h>

struct serve_opts {
	const char *config;             /* the base pipeline */
	const char *default_plugin_dir;
	/* Command-line overrides of [serve]; NULL / -1: the pipeline's. */
	const char *spool;
	int64_t workers;
	const char *metrics;
	const char *listen;
	const char *queue;
};

/* Run until SIGTERM/SIGINT.  An exit status (0 after a clean drain; 78 when
 * the pipeline or the spool cannot be used; 75 when another serve holds the
 * spool). */
int serve_main(const struct serve_opts *o);

/* The spool's state directory when the pipeline sets no [pipeline] state:
 * SPOOL/state (into buf).  0, or -1 when it does not fit. */
int serve_state_dir(const char *spool, char *buf, size_t size);

#endif
