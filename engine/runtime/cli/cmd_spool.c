/*
 * The commands of the host service: serve and enqueue (the queue's other
 * commands: cmd_status.c, cmd_queue.c).
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
#include "where.h"

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

static const char usage_enqueue[] =
	"usage: vmpipe enqueue [-c PIPELINE] [--spool DIR] [EVENT.json | -]\n"
	"\n"
	"Hand one event to the spool of `vmpipe serve` and return at once, whether or\n"
	"not the service is running: the event is written to DIR/tmp/, fsynced and\n"
	"renamed into DIR/new/ (the Maildir way), where the service picks it up.  The\n"
	"event is read from the file, or from standard input when it is '-' or absent.\n"
	"An event that is not one vmpipe takes is refused (exit 65) and kept in\n"
	"DIR/rejected/ with the reason beside it.  Prints the name it was given.\n"
	"\n"
	"  -c, --config FILE  the pipeline whose [serve] spool to use\n"
	"  -s, --spool DIR    the spool (default: $VMPIPE_SPOOL, else [serve] spool)\n";

int cmd_enqueue(int argc, char **argv, const struct globals *g)
{
	static const struct option longopts[] = {WHERE_OPTS, {NULL, 0, NULL, 0}};
	struct where_args wa = {0};
	setup_logging(g, NULL);
	int wrc = where_options(argc, argv, longopts, NULL, usage_enqueue, &wa);
	if (wrc >= 0)
		return wrc;
	if (argc - optind > 1) {
		fputs(usage_enqueue, stderr);
		return EXIT_USAGE;
	}
	struct where w;
	wrc = where_find(wa.config, wa.spool, WHERE_SPOOL, g, &w);
	if (wrc)
		return wrc;
	char spool[PATH_MAX];
	snprintf(spool, sizeof spool, "%s", w.spool);
	where_free(&w);
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
		/* rejected/ is the serve user's: anyone else drops it, and serve
		 * keeps it there with its reason. */
		bool own = access(spool, F_OK) != 0 || spool_owned(spool);
		if ((own ? spool_reject(spool, NULL, text, len, why, e2, sizeof e2)
			 : spool_enqueue(spool, text, len, NULL, 0, e2, sizeof e2)) != 0)
			log_msg(NULL, "intake", VM_LOG_ERROR, "and it could not be kept: %s", e2);
		else
			log_msg(NULL, "intake", VM_LOG_ERROR, "%s %s/%s", own ? "kept in" : "dropped for vmpipe serve in",
				spool, own ? "rejected/" : "new/ (serve keeps it in rejected/)");
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
