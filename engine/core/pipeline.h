/* A loaded pipeline: its settings and its stages, in run order. */
#ifndef VMPIPE_PIPELINE_H
#define VMPIPE_PIPELINE_H

#include "config.h"
#include "plugin.h"

struct pipeline_settings {
	const char *name;
	const char *plugin_dir;
	int64_t timeout_ms;      /* bounds locate + transcribe + notify */
	int64_t notify_grace_ms; /* notifiers may still try this long after the timeout */
	int log_level;
	const char *log_format;
	const char *state;
	int64_t retry_base_ms;   /* transient faults: first backoff */
	int64_t retry_cap_ms;    /* transient faults: longest backoff */
	const char *tenant_dir;  /* <dir>/<tenant>.ini per tenant (see tenant.h); NULL: none */
	const char *timezone;    /* times in messages (IANA name); NULL: the host's */
};

/* [serve]: the host service's own settings (vmpipe serve; docs/serve.md).
 * Read from the base pipeline; the command line overrides them. */
struct serve_settings {
	const char *spool;          /* the spool directory */
	int64_t workers;            /* plugin threads; 0: one per core */
	int64_t drain_ms;           /* SIGTERM: how long running plugin calls may finish */
	const char *metrics;        /* HOST:PORT for Prometheus text, loopback; NULL: off */
	const char *queue;          /* an SQS queue URL to take events from; NULL: none */
	int64_t queue_wait_ms;      /* ReceiveMessage long-poll */
	int64_t queue_visibility_ms; /* how long a message we hold stays invisible */
	const char *owner;          /* this host's name in claims (default: the host name) */
	int64_t keep_done_ms;       /* how long done checkpoints are kept (0: for ever) */
	const char *passthrough;    /* `vmpipe sendmail`: the MTA command for mail that is not a voicemail */
	/* Recording links (link_job.h, docs/serve.md). */
	const char *listen;         /* HOST:PORT of the listen pages; NULL: off */
	const char *public_url;     /* what mails link to; NULL: no links */
	const char *link_key_file;
	int64_t link_expires_ms;
	const char *recording_dirs; /* ':'-separated; NULL: [locate] dir */
};

struct pipeline {
	struct cfg cfg;
	char *dir;               /* directory of the pipeline file */
	char *plugin_dir;        /* resolved search path: absolute directories joined by ':' */
	struct pipeline_settings set;
	struct serve_settings serve;
	struct vm_stage **stages;
	size_t n_stages;
	struct plugin_mod **mods;
	size_t n_mods;
};

/*
 * Load and validate `path`; with `init`, also call every plugin's init().
 * `default_plugin_dir` is the search path used when [pipeline] sets no
 * plugin_dir, and for an empty entry in it (plugin_path.h).  NULL with every
 * problem in `d`.
 */
struct pipeline *pipeline_load(const char *path, const char *default_plugin_dir, bool init,
			       struct diag *d);
void pipeline_free(struct pipeline *p);
/* Check mode (`vmpipe check`): loading validates and creates nothing (no
 * state directory, and plugins see vm_stage_checking()); every stage whose
 * options are valid is initialised even when others are not, so one pass
 * reports every problem.  Set once, before loading. */
void pipeline_check_only(bool on);
bool pipeline_checking(void);
/* In check mode, also run `fn` on every pipeline loaded (before it is
 * refused or accepted), adding what it finds to the same problems: what
 * only a runtime reads ([serve]) is reported in the same pass.  NULL: none. */
void pipeline_check_hook(int (*fn)(const struct pipeline *p, struct diag *d));
/* Was `key` set in [pipeline]? */
bool pipeline_has(const struct pipeline *p, const char *key);

extern const vm_option pipeline_options[];
extern const vm_option serve_options[];

#endif
