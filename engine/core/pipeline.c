/*
 * pipeline.ini -> stages.  Sections: [pipeline], [locate], [transcribe],
 * [notify] and [notify.NAME] (run in file order).  Unknown sections and
 * options are errors, never silence.
 */
#include "pipeline.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mail/tzfile.h"
#include "plugin_path.h"
#include "state.h"
#include "util.h"

#define S(f) offsetof(struct pipeline_settings, f)
const vm_option pipeline_options[] = {
	{"name", VM_OPT_STRING, NULL, false, S(name), "a name for logs", NULL},
	{"plugin_dir", VM_OPT_STRING, NULL, false, S(plugin_dir),
	 "where plugins load from: directories separated by ':', the first holding NAME.so wins "
	 "(relative: to this file; an empty entry, as in 'mine:', is the default path: the install's "
	 "plugins, /usr/local/lib/vmpipe/plugins, /etc/vmpipe/plugins.d)",
	 NULL},
	{"timeout", VM_OPT_DURATION, "15m", false, S(timeout_ms), "bound on the whole job", NULL},
	{"notify_grace", VM_OPT_DURATION, "30s", false, S(notify_grace_ms),
	 "after the timeout, notifiers still get this long, so the owner hears of the call", NULL},
	{"log_level", VM_OPT_ENUM, "info", false, S(log_level), "error, warn, info, debug or trace",
	 "error|warn|info|debug|trace"},
	{"log_format", VM_OPT_STRING, "auto", false, S(log_format),
	 "text, json, or auto (text on a terminal)", NULL},
	{"state", VM_OPT_STRING, NULL, false, S(state), "where job records are checkpointed: a directory (relative: to this file) or s3://BUCKET/PREFIX; "
	 "a retried event resumes and is never mailed twice (empty: off)",
	 NULL},
	{"retry_base", VM_OPT_DURATION, "1s", false, S(retry_base_ms),
	 "first backoff after a transient fault", NULL},
	{"retry_cap", VM_OPT_DURATION, "60s", false, S(retry_cap_ms), "longest backoff", NULL},
	{"timezone", VM_OPT_STRING, NULL, false, S(timezone),
	 "the zone times in messages are shown in, e.g. Europe/Berlin (empty: the host's /etc/localtime, "
	 "or TZ)", NULL},
	{"tenant_dir", VM_OPT_STRING, NULL, false, S(tenant_dir),
	 "per-tenant pipelines: an event with tenant T runs on <tenant_dir>/T.ini (relative: to this file)",
	 NULL},
	{NULL, 0, NULL, false, 0, NULL, NULL},
};
#undef S

#define S(f) offsetof(struct serve_settings, f)
const vm_option serve_options[] = {
	{"spool", VM_OPT_STRING, NULL, false, S(spool),
	 "spool directory events are handed to, by `vmpipe enqueue` and `vmpipe sendmail` too "
	 "(relative: to this file; --spool and VMPIPE_SPOOL win)", NULL},
	{"workers", VM_OPT_INT, "0", false, S(workers), "threads for plugin calls (0: one per core)", NULL},
	{"drain", VM_OPT_DURATION, "30s", false, S(drain_ms),
	 "on SIGTERM, how long running plugin calls may take to finish", NULL},
	{"metrics", VM_OPT_STRING, NULL, false, S(metrics),
	 "HOST:PORT serving Prometheus metrics (a loopback address; empty: off)", NULL},
	{"queue", VM_OPT_STRING, NULL, false, S(queue), "an Amazon SQS queue URL to take events from", NULL},
	{"queue_wait", VM_OPT_DURATION, "20s", false, S(queue_wait_ms),
	 "ReceiveMessage long-poll time (at most 20s)", NULL},
	{"queue_visibility", VM_OPT_DURATION, "5m", false, S(queue_visibility_ms),
	 "how long a message being worked on stays invisible to other hosts (extended while the job runs)",
	 NULL},
	{"owner", VM_OPT_STRING, NULL, false, S(owner),
	 "this host's name in job claims (default: the host name)", NULL},
	{"keep_done", VM_OPT_DURATION, "7d", false, S(keep_done_ms),
	 "how long checkpoints of done jobs are kept in a state directory (0: for ever)", NULL},
	{"passthrough", VM_OPT_STRING, NULL, false, S(passthrough),
	 "`vmpipe sendmail`: the MTA command (no shell) that mail which is not a voicemail goes on to, "
	 "unchanged, with the PBX's own arguments (e.g. /usr/sbin/sendmail -oi); empty: refused into rejected/",
	 NULL},
	{"listen", VM_OPT_STRING, NULL, false, S(listen),
	 "HOST:PORT serving the listen pages of recording links (behind a reverse proxy; empty: off)", NULL},
	{"public_url", VM_OPT_STRING, NULL, false, S(public_url),
	 "the address owners reach the listen pages at (https://voicemail.example.com/): mails link there "
	 "(empty: mails say where the recording is kept)", NULL},
	{"link_key_file", VM_OPT_STRING, "/var/lib/vmpipe/link.key", false, S(link_key_file),
	 "the key signing recording links, readable by the serve user only (made, 0600, when missing; "
	 "relative: to this file)", NULL},
	{"link_expires", VM_OPT_DURATION, "7d", false, S(link_expires_ms),
	 "how long a recording link in a mail stays valid (the page needs the job's checkpoint: keep_done "
	 "at least as long)", NULL},
	{"recording_dirs", VM_OPT_STRING, NULL, false, S(recording_dirs),
	 "directories listen links may serve recordings from, separated by ':' (relative: to this file; "
	 "default: the [locate] dir)", NULL},
	{NULL, 0, NULL, false, 0, NULL, NULL},
};
#undef S

static vm_stage_kind section_kind(const char *name)
{
	if (strcmp(name, "locate") == 0)
		return VM_STAGE_LOCATE;
	if (strcmp(name, "transcribe") == 0)
		return VM_STAGE_TRANSCRIBE;
	if (strcmp(name, "notify") == 0)
		return VM_STAGE_NOTIFY;
	if (strncmp(name, "notify.", 7) == 0 && is_plain_name(name + 7, 64))
		return VM_STAGE_NOTIFY;
	return 0;
}

bool pipeline_has(const struct pipeline *p, const char *key)
{
	return cfg_entry(cfg_section(&p->cfg, "pipeline"), key) != NULL;
}

static struct plugin_mod *get_mod(struct pipeline *p, const char *name, char *err, size_t errsize)
{
	for (size_t i = 0; i < p->n_mods; i++)
		if (strcmp(p->mods[i]->name, name) == 0)
			return p->mods[i];
	struct plugin_mod *m = plugin_open(p->plugin_dir, name, err, errsize);
	if (!m)
		return NULL;
	struct plugin_mod **nm = realloc(p->mods, (p->n_mods + 1) * sizeof *nm);
	if (!nm) {
		plugin_close(m);
		return NULL;
	}
	p->mods = nm;
	p->mods[p->n_mods++] = m;
	return m;
}

static int add_stage(struct pipeline *p, const struct cfg_section *sec, vm_stage_kind kind,
		     struct diag *d)
{
	const char *path = p->cfg.path;
	const struct cfg_entry *pe = cfg_entry(sec, "plugin");
	if (!pe || !*pe->value) {
		diag_add(d, "%s:%d: [%s] missing required option 'plugin' (which %s plugin to run)", path,
			 sec->line, sec->name, stage_kind_name(kind));
		return -1;
	}
	char err[600];
	struct plugin_mod *m = get_mod(p, pe->value, err, sizeof err);
	if (!m) {
		diag_add(d, "%s:%d: [%s] %s", path, pe->line, sec->name, err);
		return -1;
	}
	if (m->p->kind != kind) {
		diag_add(d, "%s:%d: [%s] plugin '%s' is a %s plugin; section [%s] needs a %s plugin", path,
			 pe->line, sec->name, m->name, stage_kind_name(m->p->kind), sec->name,
			 stage_kind_name(kind));
		return -1;
	}
	if (options_check_table(m, d))
		return -1;
	vm_stage *st = calloc(1, sizeof *st);
	st->name = strdup(sec->name);
	st->kind = kind;
	st->config_path = p->cfg.path;
	st->config_dir = strdup(p->dir);
	st->sec = sec;
	st->mod = m;
	st->state = calloc(1, m->p->state_size ? m->p->state_size : 1);
	vm_stage **ns = realloc(p->stages, (p->n_stages + 1) * sizeof *ns);
	if (!ns) {
		free(st->state);
		free(st->name);
		free(st->config_dir);
		free(st);
		return -1;
	}
	p->stages = ns;
	p->stages[p->n_stages++] = st;
	/* Engine options of every stage section, beside `plugin`. */
	const struct cfg_entry *mf = cfg_entry(sec, "max_in_flight");
	int64_t v = 0;
	if (mf && (parse_int(mf->value, &v) != 0 || v < 0 || v > 1000000)) {
		diag_add(d, "%s:%d: [%s] option 'max_in_flight': '%s' is not a count of jobs (0: no bound)", path,
			 mf->line, sec->name, mf->value);
		st->options_bad = true;
		return -1;
	}
	st->max_in_flight = (int)v;
	char what[120];
	snprintf(what, sizeof what, "plugin '%s'", m->name);
	static const char *const skip[] = {"plugin", "max_in_flight", NULL};
	st->options_bad = options_apply(m->p->options, m->p->state_size, st->state, sec, path, what, skip, d) != 0;
	return st->options_bad ? -1 : 0;
}

/* The plugin search path: [pipeline] plugin_dir (relative entries: to this
 * file; an empty entry: the default), or the default (plugin_path.h). */
static char *resolve_plugin_dir(const struct pipeline *p, const char *fallback)
{
	return plugin_path_resolve(p->set.plugin_dir, p->dir, fallback);
}

static bool check_only;
static int (*check_hook)(const struct pipeline *p, struct diag *d);

void pipeline_check_hook(int (*fn)(const struct pipeline *p, struct diag *d))
{
	check_hook = fn;
}

void pipeline_check_only(bool on)
{
	check_only = on;
}

bool pipeline_checking(void)
{
	return check_only;
}

struct pipeline *pipeline_load(const char *path, const char *default_plugin_dir, bool init,
			       struct diag *d)
{
	struct pipeline *p = calloc(1, sizeof *p);
	if (cfg_load(path, &p->cfg, d) != 0) {
		pipeline_free(p);
		return NULL;
	}
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s", path);
	char abs[PATH_MAX];
	p->dir = strdup(realpath(dirname(tmp), abs) ? abs : ".");

	int bad = 0;
	const struct cfg_section *ps = cfg_section(&p->cfg, "pipeline");
	struct cfg_section empty = {(char *)"pipeline", 0, NULL, 0};
	bad += options_apply(pipeline_options, sizeof p->set, &p->set, ps ? ps : &empty, path,
			     "[pipeline]", NULL, d);
	p->plugin_dir = resolve_plugin_dir(p, default_plugin_dir);
	bad += state_check(p, d) != 0;
	if (p->set.timezone && *p->set.timezone) {
		int32_t off;
		char abbr[32];
		if (tz_lookup(p->set.timezone, 0, &off, abbr, sizeof abbr) != 0) {
			diag_add(d, "%s: [pipeline] option 'timezone': '%s' is not a zone this host knows "
				    "(a name under /usr/share/zoneinfo, such as Europe/Berlin)", path, p->set.timezone);
			bad++;
		}
	}
	if (!cfg_section(&p->cfg, "serve")) {
		struct cfg_section none = {(char *)"serve", 0, NULL, 0};
		bad += options_apply(serve_options, sizeof p->serve, &p->serve, &none, path, "[serve]", NULL, d);
	}

	bool have_locate = false, have_notify = false;
	for (size_t i = 0; i < p->cfg.n; i++) {
		const struct cfg_section *s = &p->cfg.sections[i];
		if (strcmp(s->name, "pipeline") == 0)
			continue;
		if (strcmp(s->name, "serve") == 0) {
			bad += options_apply(serve_options, sizeof p->serve, &p->serve, s, path, "[serve]", NULL, d);
			continue;
		}
		vm_stage_kind k = section_kind(s->name);
		if (!k) {
			diag_add(d, "%s:%d: unknown section [%s] (expected [pipeline], [locate], [transcribe], "
				    "[notify], [notify.NAME] or [serve])", path, s->line, s->name);
			bad++;
			continue;
		}
		have_locate |= k == VM_STAGE_LOCATE;
		have_notify |= k == VM_STAGE_NOTIFY;
		if (add_stage(p, s, k, d) != 0)
			bad++;
	}
	const char *pub = p->serve.public_url;
	if (pub && *pub && strncmp(pub, "https://", 8) != 0 && strncmp(pub, "http://127.0.0.1", 16) != 0 &&
	    strncmp(pub, "http://localhost", 16) != 0) {
		diag_add(d, "%s: [serve] public_url '%s': must be an https:// URL (the reverse proxy's name; "
			    "http:// only for 127.0.0.1 and localhost)", path, pub);
		bad++;
	}
	if (!have_locate) {
		diag_add(d, "%s: no [locate] section: the pipeline cannot find recordings", path);
		bad++;
	}
	if (!have_notify) {
		diag_add(d, "%s: no [notify] section: nobody would hear of the voicemail", path);
		bad++;
	}
	/* Run order: locate, transcribe, then notifiers as written. */
	for (size_t i = 0, j = 0; i < 2; i++) {
		vm_stage_kind want = i == 0 ? VM_STAGE_LOCATE : VM_STAGE_TRANSCRIBE;
		for (size_t k = j; k < p->n_stages; k++)
			if (p->stages[k]->kind == want) {
				vm_stage *t = p->stages[k];
				memmove(&p->stages[j + 1], &p->stages[j], (k - j) * sizeof *p->stages);
				p->stages[j++] = t;
			}
	}
	if (check_only && check_hook)
		bad += check_hook(p, d);
	/* Normally a refused pipeline starts nothing; a check initialises every
	 * stage whose own options were fine, to report all there is at once. */
	if (bad && !check_only) {
		pipeline_free(p);
		return NULL;
	}
	for (size_t i = 0; init && i < p->n_stages; i++) {
		vm_stage *st = p->stages[i];
		if (st->options_bad)
			continue;
		if (st->mod->p->init && st->mod->p->init(st, st->state) != 0) {
			diag_add(d, "%s:%d: [%s] plugin '%s' failed to start: %s", path, st->sec->line, st->name,
				 st->mod->name, st->error ? st->error : "(no reason given)");
			bad++;
			if (!check_only)
				break;
			continue;
		}
		st->inited = true;
	}
	if (bad) {
		pipeline_free(p);
		return NULL;
	}
	return p;
}

void pipeline_free(struct pipeline *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_stages; i++) {
		vm_stage *st = p->stages[i];
		if (st->inited && st->mod->p->fini)
			st->mod->p->fini(st->state);
		free(st->state);
		free(st->name);
		free(st->config_dir);
		free(st->error);
		free(st);
	}
	free(p->stages);
	for (size_t i = 0; i < p->n_mods; i++)
		plugin_close(p->mods[i]);
	free(p->mods);
	free(p->plugin_dir);
	free(p->dir);
	cfg_free(&p->cfg);
	free(p);
}
