/*
 * The commands of the host service: serve, enqueue, status, retry.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "core/clock.h"
#include "core/event.h"
#include "core/log.h"
#include "core/sched.h"
#include "runtime/serve/serve.h"
#include "runtime/serve/spool.h"
#include "core/state.h"
#include "core/util.h"

static const char usage_serve[] =
	"usage: vmpipe serve [-c PIPELINE] [--spool DIR] [--workers N] [--metrics HOST:PORT]\n"
	"                    [--listen HOST:PORT] [--queue URL]\n"
	"\n"
	"The host service: take events from the spool (and an SQS queue, [serve] queue),\n"
	"run any number of jobs at once, and resume every unfinished job after a restart\n"
	"or a crash.  Writers hand events over with `vmpipe enqueue` (or any Maildir-style\n"
	"writer: DIR/tmp/ then rename into DIR/new/).  Checkpoints go to [pipeline] state,\n"
	"or DIR/state.  SIGTERM: stop taking events, let running plugin calls finish\n"
	"within [serve] drain, checkpoint, exit 0.  SIGHUP: reload the pipelines.\n"
	"\n"
	"  -c, --config FILE     the pipeline (default: $VMPIPE_PIPELINE)\n"
	"  -s, --spool DIR       the spool (default: $VMPIPE_SPOOL, else [serve] spool)\n"
	"  -w, --workers N       threads for plugin calls (default: [serve] workers, else one per core)\n"
	"  -m, --metrics H:P     Prometheus metrics on a loopback address ([serve] metrics)\n"
	"  -l, --listen H:P      the listen pages of recording links ([serve] listen, public_url)\n"
	"  -q, --queue URL       also take events from this Amazon SQS queue ([serve] queue)\n"
	"\n"
	"docs/serve.md has the install, the PBX hook, SQS with several hosts, and what\n"
	"happens on a crash.\n";

int cmd_serve(int argc, char **argv, const struct globals *g)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'}, {"spool", required_argument, NULL, 's'},
		{"workers", required_argument, NULL, 'w'}, {"metrics", required_argument, NULL, 'm'},
		{"queue", required_argument, NULL, 'q'}, {"listen", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
	};
	struct serve_opts o = {.config = getenv("VMPIPE_PIPELINE"), .spool = getenv("VMPIPE_SPOOL"),
			       .workers = -1};
	if (o.spool && !*o.spool)
		o.spool = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:s:w:m:l:q:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o.config = optarg; break;
		case 's': o.spool = optarg; break;
		case 'm': o.metrics = optarg; break;
		case 'q': o.queue = optarg; break;
		case 'l': o.listen = optarg; break;
		case 'w':
			if (parse_int(optarg, &o.workers) != 0 || o.workers < 1 || o.workers > 256) {
				fprintf(stderr, "vmpipe serve: --workers must be a number from 1 to 256\n");
				return EXIT_USAGE;
			}
			break;
		case 'h': fputs(usage_serve, stdout); return 0;
		default: fputs(usage_serve, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(usage_serve, stderr);
		return EXIT_USAGE;
	}
	setup_logging(g, NULL);
	if (!o.config || !*o.config) {
		log_msg(NULL, NULL, VM_LOG_ERROR, "no pipeline: give -c PIPELINE or set VMPIPE_PIPELINE");
		return EXIT_CONFIG;
	}
	char *pdir = default_plugin_dir();
	o.default_plugin_dir = pdir;
	int rc = serve_main(&o);
	free(pdir);
	return rc;
}

/* --spool DIR, else $VMPIPE_SPOOL; NULL after saying so. */
static const char *spool_arg(const char *given)
{
	const char *s = given ? given : getenv("VMPIPE_SPOOL");
	if (!s || !*s) {
		log_msg(NULL, "intake", VM_LOG_ERROR, "no spool: give --spool DIR or set VMPIPE_SPOOL");
		return NULL;
	}
	return s;
}

static const char usage_enqueue[] =
	"usage: vmpipe enqueue [--spool DIR] [EVENT.json | -]\n"
	"\n"
	"Hand one event to the spool of `vmpipe serve` and return at once, whether or\n"
	"not the service is running: the event is written to DIR/tmp/, fsynced and\n"
	"renamed into DIR/new/ (the Maildir way), where the service picks it up.  The\n"
	"event is read from the file, or from standard input when it is '-' or absent.\n"
	"An event that is not one vmpipe takes is refused (exit 65) and kept in\n"
	"DIR/rejected/ with the reason beside it.  Prints the name it was given.\n"
	"\n"
	"  -s, --spool DIR   the spool (default: $VMPIPE_SPOOL)\n";

int cmd_enqueue(int argc, char **argv, const struct globals *g)
{
	static const struct option longopts[] = {
		{"spool", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *spool = NULL;
	int c;
	optind = 1;
	setup_logging(g, NULL);
	while ((c = getopt_long(argc, argv, "+s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': spool = optarg; break;
		case 'h': fputs(usage_enqueue, stdout); return 0;
		default: fputs(usage_enqueue, stderr); return EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		fputs(usage_enqueue, stderr);
		return EXIT_USAGE;
	}
	if (!(spool = spool_arg(spool)))
		return EXIT_USAGE;
	const char *src = optind < argc ? argv[optind] : "-";
	char *text;
	size_t len;
	int rc = read_event(src, &text, &len);
	if (rc)
		return rc;
	char err[1024], name[SPOOL_NAME_MAX];
	vm_job *job = event_to_job(text, len, err, sizeof err);
	if (!job) {
		char why[1200], e2[600];
		snprintf(why, sizeof why, "bad event (%s): %s", strcmp(src, "-") ? src : "stdin", err);
		log_msg(NULL, "intake", VM_LOG_ERROR, "%s", why);
		if (spool_reject(spool, NULL, text, len, why, e2, sizeof e2) != 0)
			log_msg(NULL, "intake", VM_LOG_ERROR, "and it could not be kept: %s", e2);
		else
			log_msg(NULL, "intake", VM_LOG_ERROR, "kept in %s/rejected/", spool);
		free(text);
		return EXIT_BAD_EVENT;
	}
	if (spool_enqueue(spool, text, len, name, sizeof name, err, sizeof err) != 0) {
		log_msg(job, "intake", VM_LOG_ERROR, "not enqueued: %s", err);
		job_free(job);
		free(text);
		return EXIT_TEMPFAIL;
	}
	log_msg(job, "intake", VM_LOG_INFO, "enqueued as %s/new/%s%s", spool, name,
		spool_serve_running(spool) ? "" : " (vmpipe serve is not running: it is taken when it starts)");
	printf("%s\n", name);
	job_free(job);
	free(text);
	return 0;
}

/* The pipeline whose state directory holds the spool's jobs: -c, or none (the
 * spool's own state/).  *owned is set when the caller must free it. */
static struct pipeline *state_pipeline(const char *config, const char *spool, struct pipeline *none,
				       bool *owned)
{
	char sdir[PATH_MAX];
	*owned = false;
	if (serve_state_dir(spool, sdir, sizeof sdir) == 0)
		state_default(sdir);
	if (config && *config) {
		char *pdir = default_plugin_dir();
		struct diag d = {0};
		struct pipeline *p = pipeline_load(config, pdir, false, &d);
		free(pdir);
		if (!p) {
			diag_print(&d);
			log_msg(NULL, NULL, VM_LOG_ERROR, "%s: pipeline refused", config);
		}
		diag_free(&d);
		*owned = p != NULL;
		return p;
	}
	memset(none, 0, sizeof *none);
	none->dir = (char *)".";
	return none;
}

struct tally {
	size_t pending, failed, done, other;
	char oldest_id[130];
	int64_t oldest_ms;
	json_t *failed_list;
	bool list_failed;
};

static void count_job(void *ctx, vm_job *job, int64_t mtime)
{
	struct tally *t = ctx;
	const char *st = vm_job_get_str(job, "state");
	if (st && strcmp(st, "done") == 0) {
		t->done++;
		return;
	}
	if (st && strcmp(st, "failed") == 0) {
		t->failed++;
		json_t *errs = job_get(job, "errors");
		json_t *last = json_array_get(errs, json_array_size(errs) ? json_array_size(errs) - 1 : 0);
		json_array_append_new(t->failed_list,
				      json_pack("{s:s, s:s?, s:s?, s:s?, s:I}", "id", vm_job_id(job), "received_at",
						vm_job_get_str(job, "received_at"), "stage",
						json_string_value(json_object_get(last, "stage")), "error",
						json_string_value(json_object_get(last, "message")),
						"updated_ms", (json_int_t)mtime));
		return;
	}
	if (st && strcmp(st, "pending") == 0)
		t->pending++;
	else
		t->other++;
	if (!t->oldest_ms || mtime < t->oldest_ms) {
		t->oldest_ms = mtime;
		snprintf(t->oldest_id, sizeof t->oldest_id, "%s", vm_job_id(job));
	}
}

/* Files in SPOOL/SUB (not dot files) and the oldest one's age. */
static size_t spool_count(const char *spool, const char *sub, int64_t *oldest_ms)
{
	char dir[PATH_MAX + 16], path[PATH_MAX + 300];
	snprintf(dir, sizeof dir, "%s/%s", spool, sub);
	*oldest_ms = 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || (len > 4 && strcmp(e->d_name + len - 4, ".why") == 0))
			continue;
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &st) != 0)
			continue;
		n++;
		int64_t m = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
		if (!*oldest_ms || m < *oldest_ms)
			*oldest_ms = m;
	}
	closedir(d);
	return n;
}

static void ago(int64_t ms, char *buf, size_t size)
{
	if (!ms) {
		snprintf(buf, size, "-");
		return;
	}
	char d[64];
	int64_t now = clock_now_ms();
	format_duration((double)(now > ms ? now - ms : 0) / 1000.0, d, sizeof d);
	snprintf(buf, size, "oldest %s ago", d);
}

static const char usage_status[] =
	"usage: vmpipe status [--spool DIR] [-c PIPELINE] [--json]\n"
	"\n"
	"What the spool and its state directory hold: events queued (new/), jobs in\n"
	"flight (cur/), rejected events, jobs that failed (with their last error, for\n"
	"`vmpipe retry`), the oldest unfinished job, and whether `vmpipe serve` runs.\n"
	"With -c, the pipeline's [pipeline] state is read instead of DIR/state.\n"
	"\n"
	"  -s, --spool DIR   the spool (default: $VMPIPE_SPOOL)\n"
	"  -c, --config FILE the pipeline whose state directory to read\n"
	"      --json        one JSON object instead of text\n";

int cmd_status(int argc, char **argv, const struct globals *g)
{
	static const struct option longopts[] = {
		{"spool", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
	};
	const char *spool = NULL, *config = NULL;
	bool as_json = false;
	int c;
	optind = 1;
	setup_logging(g, NULL);
	while ((c = getopt_long(argc, argv, "+s:c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': spool = optarg; break;
		case 'c': config = optarg; break;
		case 'j': as_json = true; break;
		case 'h': fputs(usage_status, stdout); return 0;
		default: fputs(usage_status, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(usage_status, stderr);
		return EXIT_USAGE;
	}
	if (!(spool = spool_arg(spool)))
		return EXIT_USAGE;
	struct stat st;
	if (stat(spool, &st) != 0 || !S_ISDIR(st.st_mode)) {
		log_msg(NULL, NULL, VM_LOG_ERROR, "%s is not a spool directory", spool);
		return 66;
	}
	struct pipeline none;
	bool owned;
	struct pipeline *p = state_pipeline(config, spool, &none, &owned);
	if (!p)
		return EXIT_CONFIG;
	struct tally t = {.failed_list = json_array()};
	int64_t old_new, old_cur, old_rej;
	size_t queued = spool_count(spool, "new", &old_new);
	size_t inflight = spool_count(spool, "cur", &old_cur);
	size_t rejected = spool_count(spool, "rejected", &old_rej);
	bool running = spool_serve_running(spool);
	int listed = state_list(p, count_job, &t);
	int e = errno;
	char sdir[PATH_MAX];
	snprintf(sdir, sizeof sdir, "%s", p->set.state && *p->set.state ? p->set.state : "");
	if (!*sdir)
		serve_state_dir(spool, sdir, sizeof sdir);
	if (as_json) {
		json_t *o = json_pack("{s:s, s:b, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I}, s:s}", "spool", spool,
				      "serve_running", running, "queued", "count", (json_int_t)queued, "oldest_ms",
				      (json_int_t)old_new, "in_flight", "count", (json_int_t)inflight, "oldest_ms",
				      (json_int_t)old_cur, "rejected", "count", (json_int_t)rejected, "state", sdir);
		if (listed == 0) {
			json_object_set_new(o, "jobs", json_pack("{s:I, s:I, s:I}", "pending", (json_int_t)t.pending,
								"failed", (json_int_t)t.failed, "done",
								(json_int_t)t.done));
			json_object_set(o, "failed", t.failed_list);
			if (*t.oldest_id)
				json_object_set_new(o, "oldest_unfinished",
						    json_pack("{s:s, s:I}", "id", t.oldest_id, "updated_ms",
							      (json_int_t)t.oldest_ms));
		}
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s ? s : "{}");
		free(s);
		json_decref(o);
	} else {
		char a[96];
		printf("spool %s: vmpipe serve is %s\n", spool, running ? "running" : "not running");
		ago(old_new, a, sizeof a);
		printf("  queued     %6zu  (new/; %s)\n", queued, a);
		ago(old_cur, a, sizeof a);
		printf("  in flight  %6zu  (cur/; %s)\n", inflight, a);
		printf("  rejected   %6zu  (rejected/, each with its .why)\n", rejected);
		if (listed == 0) {
			printf("state %s:\n", sdir);
			printf("  pending    %6zu\n  failed     %6zu\n  done       %6zu\n", t.pending, t.failed, t.done);
			if (*t.oldest_id) {
				ago(t.oldest_ms, a, sizeof a);
				printf("  oldest unfinished: %s (last checkpoint %s)\n", t.oldest_id, a + 7);
			}
			size_t i;
			json_t *f;
			json_array_foreach(t.failed_list, i, f)
			printf("  failed: %s  [%s] %s\n", json_string_value(json_object_get(f, "id")),
			       json_string_value(json_object_get(f, "stage")) ?: "?",
			       json_string_value(json_object_get(f, "error")) ?: "");
			if (t.failed)
				printf("  (vmpipe retry --spool %s --failed runs them again)\n", spool);
		} else {
			printf("state %s: %s\n", sdir[0] ? sdir : "(none)",
			       e == ENOTSUP ? "on S3: not listed here" : strerror(e));
		}
	}
	json_decref(t.failed_list);
	if (owned)
		pipeline_free(p);
	state_default(NULL);
	return 0;
}

static void collect_failed(void *ctx, vm_job *job, int64_t mtime)
{
	(void)mtime;
	const char *st = vm_job_get_str(job, "state");
	if (st && strcmp(st, "failed") == 0)
		json_array_append_new(ctx, json_string(vm_job_id(job)));
}

static const char usage_retry[] =
	"usage: vmpipe retry [--spool DIR] [-c PIPELINE] (ID... | --failed)\n"
	"\n"
	"Run failed jobs again: each is handed to `vmpipe serve` through the spool,\n"
	"which clears the stages that failed and resumes the job from its checkpoint\n"
	"(stages that were done are not run again, so nobody is mailed twice).  Works\n"
	"whether or not serve is running (it is taken when it starts).\n"
	"\n"
	"  -s, --spool DIR   the spool (default: $VMPIPE_SPOOL)\n"
	"  -c, --config FILE the pipeline whose state directory to read (--failed)\n"
	"      --failed      every failed job in the state directory\n";

int cmd_retry(int argc, char **argv, const struct globals *g)
{
	static const struct option longopts[] = {
		{"spool", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
		{"failed", no_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
	};
	const char *spool = NULL, *config = NULL;
	bool failed = false;
	int c;
	optind = 1;
	setup_logging(g, NULL);
	while ((c = getopt_long(argc, argv, "+s:c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': spool = optarg; break;
		case 'c': config = optarg; break;
		case 'f': failed = true; break;
		case 'h': fputs(usage_retry, stdout); return 0;
		default: fputs(usage_retry, stderr); return EXIT_USAGE;
		}
	}
	if (failed == (optind < argc)) {
		fputs(usage_retry, stderr);
		return EXIT_USAGE;
	}
	if (!(spool = spool_arg(spool)))
		return EXIT_USAGE;
	json_t *ids = json_array();
	for (int i = optind; i < argc; i++) {
		if (!is_plain_name(argv[i], 128)) {
			log_msg(NULL, "retry", VM_LOG_ERROR, "'%s' is not a job id", argv[i]);
			json_decref(ids);
			return EXIT_USAGE;
		}
		json_array_append_new(ids, json_string(argv[i]));
	}
	int rc = 0;
	if (failed) {
		struct pipeline none;
		bool owned;
		struct pipeline *p = state_pipeline(config, spool, &none, &owned);
		if (!p || state_list(p, collect_failed, ids) != 0) {
			log_msg(NULL, "retry", VM_LOG_ERROR, "cannot list the state directory: %s",
				p ? strerror(errno) : "no pipeline");
			rc = EXIT_CONFIG;
		}
		if (owned)
			pipeline_free(p);
		state_default(NULL);
	}
	size_t i;
	json_t *id;
	json_array_foreach(ids, i, id)
	{
		char *req = NULL, name[SPOOL_NAME_MAX], err[600];
		if (asprintf(&req, "{\"vmpipe_retry\": \"%s\"}\n", json_string_value(id)) < 0)
			continue;
		if (spool_enqueue(spool, req, strlen(req), name, sizeof name, err, sizeof err) != 0) {
			log_msg(NULL, "retry", VM_LOG_ERROR, "%s: %s", json_string_value(id), err);
			rc = EXIT_TEMPFAIL;
		} else {
			printf("%s: retry requested (%s)\n", json_string_value(id), name);
		}
		free(req);
	}
	if (failed && rc == 0 && json_array_size(ids) == 0)
		printf("no failed jobs\n");
	else if (rc == 0 && !spool_serve_running(spool))
		printf("(vmpipe serve is not running: the retries run when it starts)\n");
	json_decref(ids);
	return rc;
}
