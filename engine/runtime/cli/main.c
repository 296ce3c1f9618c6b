/*
 * vmpipe command line: run, check, plugins (and the commands later issues add).
 * Exit status follows sysexits.h (see sched.h).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aws/host.h"
#include "core/clock.h"
#include "runtime/pbx/cmd_sendmail.h"
#include "core/event.h"
#include "core/log.h"
#include "core/pipeline.h"
#include "core/pipeline_path.h"
#include "core/plugin_list.h"
#include "core/plugin_path.h"
#include "core/sched.h"
#include "runtime/serve/http.h"
#include "runtime/serve/serve.h"
#include "runtime/serve/spool.h"
#include "aws/sqs.h"
#include "core/state.h"
#include "core/tenant.h"
#include "cli.h"
#include "runtime/lambda/lambda.h"
#include "core/util.h"

static const char usage_main[] =
	"usage: vmpipe [-v|-q] [--log-format text|json] COMMAND [ARGS]\n"
	"\n"
	"Voicemail pipeline engine: find the recording, transcribe it, notify the owner.\n"
	"\n"
	"commands:\n"
	"  run     -c PIPELINE [EVENT.json | -]   process one event; print the final job record\n"
	"  check   -c PIPELINE                    load and validate everything, run nothing\n"
	"  plugins [-c PIPELINE | -d DIR[:DIR]]  list the plugin search path and its plugins\n"
	"  presign [--expires 7d] s3://B/KEY      a presigned GET URL (like `aws s3 presign`)\n"
	"  serve   -c PIPELINE [--spool DIR]      the host service: many jobs at once, resumes after a crash\n"
	"  config  -c PIPELINE                    the effective pipeline: every value, default and its source\n"
	"  enqueue [-c PIPELINE] [--spool DIR] [EVENT | -]  hand one event to the spool, return at once\n"
	"  status  [-c PIPELINE] [--spool DIR] [--failed|--waiting|--stage S|--older-than D]\n"
	"                                         jobs queued, in flight, failed; the oldest\n"
	"  show    [-c PIPELINE] [--spool DIR] ID one job: state, checkpoint, errors, files\n"
	"  retry   [-c PIPELINE] [--spool DIR] (ID... | --failed)  run failed jobs again\n"
	"  requeue [-c PIPELINE] [--spool DIR] (NAME... | --rejected | --failed)\n"
	"                                         rejected events (and failed jobs) back to the queue\n"
	"  delete  [-c PIPELINE] [--spool DIR] (ID... | --failed)  remove jobs from the state\n"
	"  sendmail -c PIPELINE [-t ...] < MAIL   a PBX's mail command: voicemail mail in, a job out\n"
	"  lambda  [-c PIPELINE]                  the AWS Lambda custom-runtime loop (also when\n"
	"                                         started as `bootstrap`, or with no command\n"
	"                                         while AWS_LAMBDA_RUNTIME_API is set)\n"
	"\n"
	"options:\n"
	"  -v, --verbose       more log output (repeat for trace)\n"
	"  -q, --quiet         errors only\n"
	"      --log-format F  text or json (default: text on a terminal, else json)\n"
	"  -h, --help          this help; `vmpipe COMMAND --help` for a command\n"
	"  -V, --version       print the version\n"
	"\n"
	"environment: VMPIPE_PIPELINE (default -c), VMPIPE_SPOOL (default --spool),\n"
	"             VMPIPE_LOG_LEVEL, VMPIPE_LOG_FORMAT\n"
	"exit status: 0 done, 64 usage, 65 bad event, 66 recording not found,\n"
	"             69 a notifier failed, 75 still failing when time ran out, 78 bad configuration\n";

static const char usage_run[] =
	"usage: vmpipe run [-c PIPELINE] [EVENT.json | -]\n"
	"\n"
	"Process one voicemail event (an Amazon Connect contact-flow event, an S3\n"
	"ObjectCreated notification, or a job record) through the pipeline and print\n"
	"the final job record as JSON on stdout.  The event is read from the file, or\n"
	"from standard input when it is '-' or absent.  When the pipeline sets\n"
	"tenant_dir, the event's tenant (Connect attribute `tenant`) runs on\n"
	"<tenant_dir>/<tenant>.ini; an unknown tenant runs on PIPELINE itself.\n"
	"\n"
	"  -c, --config FILE   the pipeline (default: $VMPIPE_PIPELINE, else the first of\n"
	"                      /etc/vmpipe/pipeline.ini, the installed local.ini and, for\n"
	"                      build/vmpipe, the source tree's etc/local.ini)\n";

static const char usage_check[] =
	"usage: vmpipe check [-c PIPELINE]\n"
	"\n"
	"Load the pipeline, load and initialise every plugin, validate every option,\n"
	"and run nothing: every problem is reported in one pass, and nothing is created\n"
	"or changed (plugins are told they are being checked).  What `vmpipe serve`\n"
	"would refuse at its start is checked too: [serve] queue (an SQS queue URL),\n"
	"metrics (a loopback HOST:PORT), and that the spool ($VMPIPE_SPOOL or [serve]\n"
	"spool) and its state directory exist writable or could be created.  With\n"
	"[pipeline] tenant_dir, every <tenant_dir>/*.ini is checked too.  Exit 0 when\n"
	"all is well, 78 with every problem listed.\n";

static const char usage_plugins[] =
	"usage: vmpipe plugins [-c PIPELINE | -d DIR[:DIR...]]\n"
	"\n"
	"List every directory of the plugin search path (the pipeline's plugin_dir, the\n"
	"-d list, or the default: the plugins next to the vmpipe binary,\n"
	"/usr/local/lib/vmpipe/plugins, /etc/vmpipe/plugins.d), then the plugins in each\n"
	"with their options, types, defaults and help.  A name found twice is reported:\n"
	"the first directory wins.\n";

static const char usage_presign[] =
	"usage: vmpipe presign [--expires DURATION] [--region REGION] s3://BUCKET/KEY\n"
	"\n"
	"Print a presigned GET URL for the object, like `aws s3 presign`.  Credentials,\n"
	"region and endpoint come from the usual AWS places (environment, shared files,\n"
	"container or instance roles; AWS_ENDPOINT_URL_S3).  The URL stops working when\n"
	"it expires or when the credentials that signed it do (a role session lasts\n"
	"hours, not days).\n"
	"\n"
	"  --expires DURATION  70s, 5m, 12h, 7d ... (default 1h; at most 7d, as S3 allows)\n"
	"  --region REGION     the bucket's region (default: resolved as the AWS CLI does)\n";

/* Parse "-c FILE" and "--help" for a command; returns the first operand index or -1/-2. */
static int command_opts(int argc, char **argv, const char *usage, const char **config,
			const char **dir)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"dir", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, dir ? "+c:d:h" : "+c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': *config = optarg; break;
		case 'd':
			if (!dir)
				goto bad;
			*dir = optarg;
			break;
		case 'h': fputs(usage, stdout); return -2;
		default:
		bad:
			fputs(usage, stderr);
			return -1;
		}
	}
	return optind;
}

/* The sample event beside this binary, installed (PREFIX/share/vmpipe/samples)
 * or in a source tree (build/vmpipe: samples/), as an absolute path. */
static bool sample_event(char *buf, size_t size)
{
	char exe[PATH_MAX], path[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return false;
	*slash = '\0';
	static const char *const where[] = {"../share/vmpipe/samples/connect-event.json",
					    "../samples/connect-event.json"};
	for (size_t k = 0; k < sizeof where / sizeof *where; k++) {
		snprintf(path, sizeof path, "%s/%s", exe, where[k]);
		if (realpath(path, buf) && strlen(buf) < size)
			return true;
	}
	return false;
}

static int cmd_run(int argc, char **argv, const struct globals *g)
{
	const char *config = getenv("VMPIPE_PIPELINE");
	int i = command_opts(argc, argv, usage_run, &config, NULL);
	if (i < 0)
		return i == -2 ? 0 : EXIT_USAGE;
	if (argc - i > 1) {
		fputs(usage_run, stderr);
		return EXIT_USAGE;
	}
	const char *src = i < argc ? argv[i] : "-";
	if (strcmp(src, "-") == 0 && isatty(STDIN_FILENO)) {
		char sample[PATH_MAX];
		fputs("vmpipe run: no event given, and standard input is a terminal.  Give one:\n"
		      "  vmpipe run EVENT.json              a file\n"
		      "  PBX-HOOK | vmpipe run -            on standard input\n", stderr);
		if (sample_event(sample, sizeof sample))
			fprintf(stderr, "The sample voicemail is one:\n  `vmpipe run %s`\n", sample);
		fputs("(`vmpipe run --help` says what an event is.)\n", stderr);
		return EXIT_USAGE;
	}
	struct tenants *ts = open_tenants(config, g);
	if (!ts)
		return EXIT_CONFIG;
	setup_logging(g, tenants_base(ts));
	char *text;
	size_t len;
	int rc = read_event(i < argc ? argv[i] : "-", &text, &len);
	if (rc) {
		tenants_close(ts);
		return rc;
	}
	char err[1024];
	vm_job *job = event_to_job(text, len, err, sizeof err);
	free(text);
	if (!job) {
		log_msg(NULL, "intake", VM_LOG_ERROR, "bad event (%s): %s", i < argc ? argv[i] : "stdin", err);
		tenants_close(ts);
		return EXIT_BAD_EVENT;
	}
	/* The event's tenant picks its pipeline; an unknown tenant runs on the base. */
	struct diag d = {0};
	const char *tenant = vm_job_get_str(job, "tenant");
	struct pipeline *p = tenants_get(ts, tenant, &d);
	if (!p) {
		diag_print(&d);
		log_msg(job, "intake", VM_LOG_ERROR, "tenant '%s': pipeline refused", tenant);
		diag_free(&d);
		job_free(job);
		tenants_close(ts);
		return EXIT_CONFIG;
	}
	diag_free(&d);
	if (p != tenants_base(ts))
		log_msg(job, "intake", VM_LOG_INFO, "tenant '%s': pipeline %s", tenant, p->cfg.path);
	rc = job_run(p, &job, 0); /* sched_run() with checkpoints ([pipeline] state) */
	char *out = json_dumps(job->rec, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
	if (out) {
		puts(out);
		free(out);
	}
	fflush(stdout);
	job_free(job);
	tenants_close(ts);
	return rc;
}

static void print_pipeline(const char *path, const struct pipeline *p)
{
	printf("%s: ok (plugins from %s)\n", path, p->plugin_dir);
	for (size_t k = 0; k < p->n_stages; k++)
		printf("  [%s] %s\n", p->stages[k]->name, p->stages[k]->mod->name);
}

static int ini_file(const struct dirent *e)
{
	size_t n = strlen(e->d_name);
	return n > 4 && strcmp(e->d_name + n - 4, ".ini") == 0;
}

/* Load and initialise every tenant file (<tenant_dir>/NAME.ini); 0, or EXIT_CONFIG. */
static int check_tenants(struct tenants *ts)
{
	const struct pipeline *base = tenants_base(ts);
	const char *td = base->set.tenant_dir;
	if (!td || !*td)
		return 0;
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s%s%s", td[0] == '/' ? "" : base->dir, td[0] == '/' ? "" : "/", td);
	struct dirent **ents;
	int n = scandir(dir, &ents, ini_file, alphasort);
	if (n < 0) {
		log_msg(NULL, NULL, VM_LOG_ERROR, "cannot list tenant_dir %s: %s", dir, strerror(errno));
		return EXIT_CONFIG;
	}
	int bad = 0;
	for (int k = 0; k < n; k++) {
		char name[256];
		snprintf(name, sizeof name, "%.*s", (int)(strlen(ents[k]->d_name) - 4), ents[k]->d_name);
		free(ents[k]);
		if (!is_plain_name(name, 64)) {
			log_msg(NULL, "tenant", VM_LOG_WARN,
				"%s/%s.ini: not a plain tenant name, no event can select it", dir, name);
			continue;
		}
		struct diag d = {0};
		const struct pipeline *p = tenants_get(ts, name, &d);
		if (p && p != base) {
			print_pipeline(p->cfg.path, p);
		} else {
			diag_print(&d);
			log_msg(NULL, "tenant", VM_LOG_ERROR, "tenant '%s' (%s/%s.ini): pipeline refused", name,
				dir, name);
			bad++;
		}
		diag_free(&d);
	}
	free(ents);
	return bad ? EXIT_CONFIG : 0;
}

/* What only `serve` reads, which it would otherwise refuse at its start
 * (after ExecStartPre=vmpipe check passed): [serve] queue, metrics, and the
 * spool and state directories it would use.  Creates nothing.  Run on the
 * base pipeline (the first loaded) as part of its load, so these problems
 * are listed with the others; the number of them. */
static int check_serve(const struct pipeline *base, struct diag *d)
{
	static bool done;
	if (done)
		return 0; /* a tenant's pipeline: serve reads the base's [serve] */
	done = true;
	const char *path = base->cfg.path;
	char why[PATH_MAX + 600];
	int bad = 0;
	const struct cfg_section *sec = cfg_section(&base->cfg, "serve");
	const struct cfg_entry *qe = cfg_entry(sec, "queue"), *me = cfg_entry(sec, "metrics"),
			       *se = cfg_entry(sec, "spool");
	const char *queue = base->serve.queue;
	if (queue && *queue && sqs_url_check(queue, why, sizeof why) != 0) {
		diag_add(d, "%s:%d: [serve] queue: %s", path, qe ? qe->line : 0, why);
		bad++;
	}
	const char *m = base->serve.metrics;
	if (m && *m && http_check_address("metrics", m, true, why, sizeof why) != 0) {
		diag_add(d, "%s:%d: [serve] %s", path, me ? me->line : 0, why);
		bad++;
	}
	const char *env = getenv("VMPIPE_SPOOL"), *spool = env && *env ? env : base->serve.spool;
	if (!spool || !*spool)
		return bad;
	char dir[PATH_MAX], state[PATH_MAX + 8];
	if (spool[0] == '/' || spool == env)
		snprintf(dir, sizeof dir, "%s", spool);
	else
		snprintf(dir, sizeof dir, "%.*s/%s", PATH_MAX / 2, base->dir, spool);
	const char *from = spool == env ? "$VMPIPE_SPOOL" : "[serve] spool";
	int line = spool == env || !se ? 0 : se->line;
	if (vm_dir_check(dir, why, sizeof why) != 0) {
		diag_add(d, "%s:%d: %s %s cannot be used: %s", path, line, from, dir, why);
		bad++;
	} else if (!(base->set.state && *base->set.state) && serve_state_dir(dir, state, sizeof state) == 0 &&
		   vm_dir_check(state, why, sizeof why) != 0) {
		diag_add(d, "%s:%d: the state directory %s (in the spool) cannot be used: %s", path, line, state,
			 why);
		bad++;
	}
	return bad;
}

static int cmd_check(int argc, char **argv, const struct globals *g)
{
	const char *config = getenv("VMPIPE_PIPELINE");
	int i = command_opts(argc, argv, usage_check, &config, NULL);
	if (i < 0)
		return i == -2 ? 0 : EXIT_USAGE;
	if (i != argc) {
		fputs(usage_check, stderr);
		return EXIT_USAGE;
	}
	pipeline_check_only(true); /* validate, create nothing */
	pipeline_check_hook(check_serve);
	struct tenants *ts = open_tenants(config, g);
	if (!ts)
		return EXIT_CONFIG;
	const struct pipeline *base = tenants_base(ts);
	print_pipeline(base->cfg.path, base);
	int rc = check_tenants(ts);
	tenants_close(ts);
	return rc;
}

static int cmd_plugins(int argc, char **argv, const struct globals *g)
{
	const char *config = NULL, *dir = NULL;
	int i = command_opts(argc, argv, usage_plugins, &config, &dir);
	if (i < 0)
		return i == -2 ? 0 : EXIT_USAGE;
	if (i != argc || (config && dir)) {
		fputs(usage_plugins, stderr);
		return EXIT_USAGE;
	}
	setup_logging(g, NULL);
	char *pdir = NULL;
	if (config) {
		struct pipeline *p = load(config, g);
		if (!p)
			return EXIT_CONFIG;
		pdir = strdup(p->plugin_dir);
		pipeline_free(p);
	} else {
		pdir = dir ? strdup(dir) : default_plugin_dir();
	}
	int rc = plugins_list(stdout, pdir);
	free(pdir);
	return rc;
}

static const char usage_lambda[] =
	"usage: vmpipe lambda [-c PIPELINE]\n"
	"\n"
	"Serve AWS Lambda invocations from the Runtime API (AWS_LAMBDA_RUNTIME_API) until\n"
	"it goes away.  The pipeline is -c, else $VMPIPE_PIPELINE, else\n"
	"$LAMBDA_TASK_ROOT/etc/pipeline.ini; it is loaded once per container.  See\n"
	"docs/lambda.md.\n";

static int cmd_lambda(int argc, char **argv, const struct globals *g)
{
	const char *config = NULL;
	int i = command_opts(argc, argv, usage_lambda, &config, NULL);
	if (i < 0)
		return i == -2 ? 0 : EXIT_USAGE;
	if (i != argc) {
		fputs(usage_lambda, stderr);
		return EXIT_USAGE;
	}
	setup_logging(g, NULL);
	char *pdir = default_plugin_dir();
	int rc = lambda_main(config, pdir);
	free(pdir);
	return rc;
}

static int cmd_presign(int argc, char **argv, const struct globals *g)
{
	static const struct option longopts[] = {
		{"expires", required_argument, NULL, 'e'},
		{"region", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int64_t expires_ms = 3600 * 1000;
	const char *region = NULL;
	int c;
	optind = 1;
	setup_logging(g, NULL);
	while ((c = getopt_long(argc, argv, "+e:r:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'e':
			if (parse_duration(optarg, &expires_ms) != 0) {
				fprintf(stderr, "vmpipe presign: --expires '%s' is not a duration (70s, 5m, 7d)\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'r': region = optarg; break;
		case 'h': fputs(usage_presign, stdout); return 0;
		default: fputs(usage_presign, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fputs(usage_presign, stderr);
		return EXIT_USAGE;
	}
	const char *uri = argv[optind], *key;
	char bucket[64], err[512];
	if (parse_s3_uri(uri, bucket, sizeof bucket, &key) != 0) {
		fprintf(stderr, "vmpipe presign: '%s' is not s3://BUCKET/KEY\n", uri);
		return EXIT_USAGE;
	}
	int64_t expires_s = (expires_ms + 999) / 1000;
	if (expires_s < 1 || expires_s > 604800) {
		fprintf(stderr, "vmpipe presign: --expires must be between 1s and 7d (604800 s), S3's limit\n");
		return EXIT_USAGE;
	}
	char *url = aws_s3_presign(region, bucket, key, NULL, expires_s, err, sizeof err);
	if (!url) {
		log_msg(NULL, "presign", VM_LOG_ERROR, "%s", err);
		return EXIT_CONFIG;
	}
	puts(url);
	free(url);
	return 0;
}

int main(int argc, char **argv)
{
	struct globals g = {0, NULL};
	/* Free the AWS credential chain and pooled connections however we leave. */
	atexit(aws_host_shutdown);
	/* Tests and the time-scaled benchmark replace the clock. */
	if (clock_from_env() != 0) {
		fprintf(stderr, "vmpipe: VMPIPE_CLOCK must be fake, scaled:N[@ORIGIN_MS] or system\n");
		return EXIT_USAGE;
	}
	if (sendmail_invoked(argv[0])) /* vmpipe-sendmail: sendmail's options, not ours */
		return cmd_sendmail(argc, argv, 0, NULL);
	static const struct option longopts[] = {
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"log-format", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "+vqhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'v': g.verbosity = g.verbosity < 0 ? 1 : g.verbosity + 1; break;
		case 'q': g.verbosity = -1; break;
		case 'F':
			if (log_format_parse(optarg) < 0) {
				fprintf(stderr, "vmpipe: --log-format must be text or json, not '%s'\n", optarg);
				return EXIT_USAGE;
			}
			g.log_format = optarg;
			break;
		case 'h': fputs(usage_main, stdout); return 0;
		case 'V': printf("vmpipe %s (plugin ABI %u)\n", VMPIPE_VERSION, VMPIPE_ABI_VERSION); return 0;
		default: fputs(usage_main, stderr); return EXIT_USAGE;
		}
	}
	if (lambda_autodetect(argv[0], optind < argc)) {
		static char *lambda_argv[] = {"lambda", NULL};
		return cmd_lambda(1, lambda_argv, &g);
	}
	if (optind >= argc) {
		fputs(usage_main, stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[optind];
	int cargc = argc - optind;
	char **cargv = argv + optind;
	setup_logging(&g, NULL);
	if (strcmp(cmd, "run") == 0)
		return cmd_run(cargc, cargv, &g);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(cargc, cargv, &g);
	if (strcmp(cmd, "plugins") == 0)
		return cmd_plugins(cargc, cargv, &g);
	if (strcmp(cmd, "presign") == 0)
		return cmd_presign(cargc, cargv, &g);
	if (strcmp(cmd, "enqueue") == 0)
		return cmd_enqueue(cargc, cargv, &g);
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(cargc, cargv, &g);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(cargc, cargv, &g);
	if (strcmp(cmd, "retry") == 0)
		return cmd_retry(cargc, cargv, &g);
	if (strcmp(cmd, "show") == 0)
		return cmd_show(cargc, cargv, &g);
	if (strcmp(cmd, "delete") == 0)
		return cmd_delete(cargc, cargv, &g);
	if (strcmp(cmd, "requeue") == 0)
		return cmd_requeue(cargc, cargv, &g);
	if (strcmp(cmd, "config") == 0)
		return cmd_config(cargc, cargv, &g);
	if (strcmp(cmd, "lambda") == 0)
		return cmd_lambda(cargc, cargv, &g);
	if (strcmp(cmd, "sendmail") == 0)
		return cmd_sendmail(cargc, cargv, g.verbosity, g.log_format);
	if (strcmp(cmd, "help") == 0) {
		fputs(usage_main, stdout);
		return 0;
	}
	fprintf(stderr, "vmpipe: unknown command '%s'\n\n%s", cmd, usage_main);
	return EXIT_USAGE;
}
