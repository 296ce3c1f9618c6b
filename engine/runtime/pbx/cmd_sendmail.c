/*
 * `vmpipe sendmail` (see cmd_sendmail.h, docs/pbx.md).  Nothing the PBX sent
 * is lost: a mail that is not a voicemail is kept in rejected/ with the
 * reason, a voicemail's recording is in recordings/ before the job exists,
 * and a job the inline run could not finish is left in the spool for
 * `vmpipe serve`.
 */
#include "cmd_sendmail.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/cli/cli.h"
#include "core/job.h"
#include "core/log.h"
#include "mail/pbxmail.h"
#include "core/pipeline.h"
#include "core/sched.h"
#include "runtime/serve/spool.h"
#include "core/state.h"
#include "core/tenant.h"
#include "core/util.h"

static const char usage[] =
	"usage: vmpipe sendmail [-c PIPELINE] [--spool DIR] [-t] [-i] [-f ADDR] [-F NAME] [-oX]\n"
	"                       [RECIPIENT...] < MAIL\n"
	"       vmpipe-sendmail ...  (the same, under the name a PBX expects)\n"
	"\n"
	"A PBX's mail command (Asterisk: mailcmd in voicemail.conf; FreeSWITCH:\n"
	"mailer-app).  Reads the voicemail e-mail on standard input, stores the\n"
	"recording in the spool's recordings/ and creates the job: handed to\n"
	"`vmpipe serve` when it runs on the spool, else run here through the\n"
	"pipeline.  A mail without audio is refused (exit 65) and kept in the\n"
	"spool's rejected/ with the reason.  sendmail's own options (-t -i -oi\n"
	"-odb -f -F -r -B -N -R -V -X -L -O -h -bm ...) are accepted and ignored;\n"
	"RECIPIENTs are used when the mail has no To header.  See docs/pbx.md.\n"
	"\n"
	"  -c, --config FILE  the pipeline (default: $VMPIPE_PIPELINE); needed to run\n"
	"                     inline, and for its [serve] spool\n"
	"  --spool DIR        the spool (default: $VMPIPE_SPOOL, else [serve] spool)\n"
	"  -v                 more log output\n"
	"  --help             this help\n"
	"\n"
	"exit status: 0 taken, 64 usage, 65 not a voicemail (kept in rejected/),\n"
	"             75 could not be stored, 78 no pipeline or spool; an inline run\n"
	"             that fails exits as `vmpipe run` does (its job stays in the spool)\n";

bool sendmail_invoked(const char *argv0)
{
	const char *base = argv0 ? strrchr(argv0, '/') : NULL;
	base = base ? base + 1 : argv0;
	return base && strcmp(base, "vmpipe-sendmail") == 0;
}

struct opts {
	const char *config, *spool, *from;
	char **rcpt; /* NULL-terminated; points into argv */
	int verbosity;
	bool help;
};

/* sendmail's option syntax: a value attached (-fADDR, -oi) or in the next word. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	static char *none[] = {NULL};
	o->rcpt = none;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (strcmp(a, "--") == 0 || a[0] != '-' || a[1] == '\0') {
			o->rcpt = argv + i + (strcmp(a, "--") == 0);
			return 0;
		}
		if (strncmp(a, "--", 2) == 0) {
			const char *eq = strchr(a, '=');
			size_t n = eq ? (size_t)(eq - a) : strlen(a);
			const char **dst = n == 8 && !strncmp(a, "--config", n) ? &o->config
					   : n == 7 && !strncmp(a, "--spool", n) ? &o->spool : NULL;
			if (strcmp(a, "--help") == 0) {
				o->help = true;
				continue;
			}
			if (!dst) {
				fprintf(stderr, "vmpipe sendmail: unknown option '%s'\n", a);
				return -1;
			}
			if (!eq && i + 1 >= argc) {
				fprintf(stderr, "vmpipe sendmail: %s needs a value\n", a);
				return -1;
			}
			*dst = eq ? eq + 1 : argv[++i];
			continue;
		}
		char c = a[1];
		const char *val = a[2] ? a + 2 : NULL;
		if (strchr("cfFrBNRVXLOhpd", c)) {
			/* Options with a value; -d (debug) and -p (protocol) may stand alone. */
			if (!val && !strchr("dp", c)) {
				if (i + 1 >= argc) {
					fprintf(stderr, "vmpipe sendmail: -%c needs a value\n", c);
					return -1;
				}
				val = argv[++i];
			}
			if (c == 'c')
				o->config = val;
			else if (c == 'f' || c == 'r')
				o->from = val;
			continue;
		}
		if (c == 'o')
			continue; /* -oi, -odb, -oem ...: queueing and error modes, not ours */
		if (c == 'b') {
			if (strcmp(a, "-bm") == 0)
				continue; /* deliver mail: what we do */
			fprintf(stderr, "vmpipe sendmail: mode '%s' is not supported (only -bm, delivering a mail)\n", a);
			return -1;
		}
		/* Flag clusters: -t, -i, -ti, -U, -m, -v, -n, -e... */
		for (const char *f = a + 1; *f; f++) {
			if (*f == 'v')
				o->verbosity++;
			else if (!strchr("timUne", *f)) {
				fprintf(stderr, "vmpipe sendmail: unknown option -%c\n", *f);
				return -1;
			}
		}
	}
	return 0;
}

/* All of standard input (the mail); NULL with errno. */
static char *read_stdin(size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (n == cap) {
			/* Past the parser's limit it is refused, but still kept whole. */
			if (cap >= (size_t)1 << 30) {
				errno = EFBIG;
				free(buf);
				return NULL;
			}
			char *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
		ssize_t r = read(0, buf + n, cap - n);
		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			errno = e;
			return NULL;
		}
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

/* The spool: --spool, VMPIPE_SPOOL, else [serve] spool (relative to the
 * pipeline file).  0, or EXIT_CONFIG after logging why. */
static int find_spool(const struct opts *o, char *out, size_t size)
{
	const char *s = o->spool && *o->spool ? o->spool : getenv("VMPIPE_SPOOL");
	if (s && *s) {
		snprintf(out, size, "%s", s);
		return 0;
	}
	if (o->config && *o->config) {
		char *pdir = default_plugin_dir();
		struct diag d = {0};
		struct pipeline *p = pipeline_load(o->config, pdir, false, &d);
		free(pdir);
		if (!p) {
			diag_print(&d);
			diag_free(&d);
			log_msg(NULL, "sendmail", VM_LOG_ERROR, "%s: pipeline refused", o->config);
			return EXIT_CONFIG;
		}
		diag_free(&d);
		const char *sp = p->serve.spool;
		if (sp && *sp)
			snprintf(out, size, "%s%s%s", sp[0] == '/' ? "" : p->dir, sp[0] == '/' ? "" : "/", sp);
		pipeline_free(p);
		if (*out)
			return 0;
	}
	log_msg(NULL, "sendmail", VM_LOG_ERROR,
		"no spool: give --spool DIR, set VMPIPE_SPOOL, or set [serve] spool in the pipeline");
	return EXIT_CONFIG;
}

/* Hand the job to the spool (for `vmpipe serve`).  0, or -1 logged. */
static int enqueue(const char *spool, vm_job *job, const char *why)
{
	char *text = vm_job_to_json(job), err[600], name[SPOOL_NAME_MAX];
	int rc = text ? spool_enqueue(spool, text, strlen(text), name, sizeof name, err, sizeof err) : -1;
	if (rc != 0)
		log_msg(job, "sendmail", VM_LOG_ERROR, "could not hand the job to the spool: %s",
			text ? err : "out of memory");
	else
		log_msg(job, "sendmail", VM_LOG_INFO, "%s: job queued as %s/new/%s", why, spool, name);
	free(text);
	return rc;
}

/* Run the job here, as `vmpipe run` does.  Its exit status. */
static int run_inline(const char *config, const char *spool, vm_job **job)
{
	char *pdir = default_plugin_dir();
	struct diag d = {0};
	struct tenants *ts = tenants_open(config, pdir, &d);
	free(pdir);
	if (!ts) {
		diag_print(&d);
		diag_free(&d);
		log_msg(*job, "sendmail", VM_LOG_ERROR, "%s: pipeline refused", config);
		enqueue(spool, *job, "not run (bad pipeline)");
		return EXIT_CONFIG;
	}
	diag_free(&d);
	struct pipeline *p = tenants_base(ts);
	if (pipeline_has(p, "log_level") && !getenv("VMPIPE_LOG_LEVEL") && log_level() == VM_LOG_INFO)
		log_setup((vm_log_level)p->set.log_level, LOG_FORMAT_AUTO);
	int rc = job_run(p, job, 0);
	/* Not told: leave the job where `vmpipe serve` takes it (notifications
	 * already sent are in the record, so nobody is mailed twice). */
	if (rc == EXIT_UNAVAILABLE || rc == EXIT_TEMPFAIL)
		enqueue(spool, *job, "owner not notified");
	tenants_close(ts);
	return rc;
}

int cmd_sendmail(int argc, char **argv, int verbosity, const char *log_format)
{
	struct opts o = {.config = getenv("VMPIPE_PIPELINE"), .verbosity = verbosity};
	if (parse_opts(argc, argv, &o) != 0) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if (o.help) {
		fputs(usage, stdout);
		return 0;
	}
	struct globals g = {o.verbosity, log_format};
	setup_logging(&g, NULL);
	char spool[PATH_MAX] = "";
	int rc = find_spool(&o, spool, sizeof spool);
	if (rc)
		return rc;

	size_t len;
	char *mail = read_stdin(&len);
	if (!mail) {
		log_msg(NULL, "sendmail", VM_LOG_ERROR, "cannot read the mail on standard input: %s",
			strerror(errno));
		return EXIT_TEMPFAIL;
	}
	char err[700], name[SPOOL_NAME_MAX + 100], path[PATH_MAX];
	struct pbxmail m;
	if (pbxmail_parse(mail, len, o.rcpt, &m, err, sizeof err) != 0) {
		char e2[600];
		spool_unique_name(name, SPOOL_NAME_MAX);
		strcat(name, ".eml");
		if (spool_reject(spool, name, mail, len, err, e2, sizeof e2) != 0) {
			log_msg(NULL, "sendmail", VM_LOG_ERROR, "refused (%s), and it could not be kept: %s", err, e2);
			free(mail);
			return EXIT_TEMPFAIL;
		}
		log_msg(NULL, "sendmail", VM_LOG_ERROR, "refused: %s; kept as %s/rejected/%s", err, spool, name);
		free(mail);
		return EXIT_BAD_EVENT;
	}
	free(mail);

	/* The recording first: a job never points at audio that is not there. */
	spool_unique_name(name, SPOOL_NAME_MAX);
	size_t k = strlen(name);
	snprintf(name + k, sizeof name - k, "-%s", m.audio_name);
	if (spool_store(spool, "recordings", name, m.audio, m.audio_len, path, sizeof path, err,
			sizeof err) != 0) {
		log_msg(m.job, "sendmail", VM_LOG_ERROR, "cannot store the recording: %s", err);
		pbxmail_free(&m);
		return EXIT_TEMPFAIL;
	}
	char uri[PATH_MAX * 3 + 8];
	vm_file_uri(path, uri, sizeof uri); /* fits: sized for every byte encoded */
	vm_job_set_str(m.job, "recording.uri", uri);
	double secs;
	if (!vm_job_get_num(m.job, "recording.duration_seconds", &secs)) {
		/* Asterisk's mail names no duration: the audio has it. */
		vm_wav w;
		if (vm_wav_decode_rate(m.audio, m.audio_len, 0, &w, NULL, 0) == VM_WAV_OK) {
			vm_job_set_num(m.job, "recording.duration_seconds", w.duration);
			vm_wav_free(&w);
		}
	}
	const char *caller = vm_job_get_str(m.job, "contact.caller");
	log_msg(m.job, "sendmail", VM_LOG_INFO, "voicemail from %s for %s (%s, %zu bytes) stored as %s",
		caller ? caller : "an unknown caller",
		vm_job_get_str(m.job, "recipient.email") ? vm_job_get_str(m.job, "recipient.email") : "(no recipient)",
		vm_job_get_str(m.job, "source"), m.audio_len, path);

	if (spool_serve_running(spool)) {
		rc = enqueue(spool, m.job, "vmpipe serve is running") == 0 ? 0 : EXIT_TEMPFAIL;
	} else if (!o.config || !*o.config) {
		log_msg(m.job, "sendmail", VM_LOG_WARN, "vmpipe serve is not running and no pipeline was given (-c)");
		rc = enqueue(spool, m.job, "left for vmpipe serve") == 0 ? 0 : EXIT_TEMPFAIL;
	} else {
		log_msg(m.job, "sendmail", VM_LOG_INFO, "vmpipe serve is not running on %s: running the job here",
			spool);
		rc = run_inline(o.config, spool, &m.job);
	}
	pbxmail_free(&m);
	return rc;
}
