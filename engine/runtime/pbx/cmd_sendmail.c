/*
 * `vmpipe sendmail` (see cmd_sendmail.h, docs/pbx.md).  Nothing the PBX sent
 * is lost: a mail that is not a voicemail is kept in rejected/ with the
 * reason (by serve, when this user may only drop), a voicemail's recording
 * is stored before its job runs, and a job the inline run could not finish
 * is left in the spool for `vmpipe serve`.
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
#include "runtime/pbx/handover.h"
#include "runtime/pbx/passthrough.h"
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
	"usage: vmpipe sendmail [-c PIPELINE] [--spool DIR] [--mta] [-t] [-i] [-f ADDR] [-F NAME] [-oX]\n"
	"                       [RECIPIENT...] < MAIL\n"
	"       vmpipe-sendmail ...  (the same, under the name a PBX expects)\n"
	"\n"
	"A PBX's mail command (Asterisk: mailcmd in voicemail.conf; FreeSWITCH:\n"
	"mailer-app).  Reads the voicemail e-mail on standard input and drops it\n"
	"into the spool for `vmpipe serve` when it runs there, else runs its job\n"
	"here through the pipeline.  A mail that is not a voicemail (a pager or notify mail, a\n"
	"voicemail mailed without its recording) goes on unchanged through [serve]\n"
	"passthrough with the PBX's own arguments; without passthrough it is\n"
	"refused (exit 65) and kept in the spool's rejected/ with the reason.\n"
	"sendmail's own options (-t -i -oi -odb -f -F -r -B -N -R -V -X -L -O -h\n"
	"-bm ...) are accepted; RECIPIENTs are used when the mail has no To header.\n"
	"See docs/pbx.md.\n"
	"\n"
	"  -c, --config FILE  the pipeline (default: $VMPIPE_PIPELINE); needed to run\n"
	"                     inline, and for its [serve] spool and passthrough\n"
	"  --spool DIR        the spool (default: $VMPIPE_SPOOL, else [serve] spool)\n"
	"  --mta              the caller is an MTA (Postfix pipe(8)) that retries and\n"
	"                     bounces itself: after 69 or 75 nothing is left in the\n"
	"                     spool, and only errors are logged (text)\n"
	"  -v, -q             more, less log output\n"
	"  --help             this help\n"
	"\n"
	"exit status: 0 taken (or passed on), 64 usage, 65 refused (kept in rejected/),\n"
	"             75 could not be stored, 78 no pipeline or spool; an inline run\n"
	"             that fails exits as `vmpipe run` does (its job stays in the spool\n"
	"             for `vmpipe serve`, unless --mta); a passthrough exits as its command\n";

bool sendmail_invoked(const char *argv0)
{
	const char *base = argv0 ? strrchr(argv0, '/') : NULL;
	base = base ? base + 1 : argv0;
	return base && strcmp(base, "vmpipe-sendmail") == 0;
}

struct opts {
	const char *config, *spool, *from;
	char **rcpt; /* NULL-terminated; points into argv */
	char **pbx_args; /* the arguments that were not ours, for passthrough; NULL-terminated */
	size_t n_pbx;
	int verbosity;
	bool help, mta;
	bool own; /* this user owns the spool; else it may only drop into it (handover.h) */
};

static void keep_arg(struct opts *o, char *a)
{
	o->pbx_args[o->n_pbx++] = a;
}

/* sendmail's option syntax: a value attached (-fADDR, -oi) or in the next word. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	static char *none[] = {NULL};
	o->rcpt = none;
	if (!(o->pbx_args = calloc((size_t)argc + 1, sizeof *o->pbx_args)))
		return -1;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (strcmp(a, "--") == 0 || a[0] != '-' || a[1] == '\0') {
			o->rcpt = argv + i + (strcmp(a, "--") == 0);
			for (int j = i; j < argc; j++)
				keep_arg(o, argv[j]);
			return 0;
		}
		if (strcmp(a, "--mta") == 0) {
			o->mta = true;
			continue;
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
			if (c == 'c') {
				o->config = val;
				continue;
			}
			if (c == 'f' || c == 'r')
				o->from = val;
			keep_arg(o, a);
			if (val != a + 2 && val)
				keep_arg(o, (char *)val);
			continue;
		}
		if (c == 'o' || !strchr(a, 'q'))
			keep_arg(o, a);
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
			else if (*f == 'q')
				o->verbosity = -1; /* vmpipe's quiet: errors only (a queue run makes no sense here) */
			else if (!strchr("timUne", *f)) {
				fprintf(stderr, "vmpipe sendmail: unknown option -%c\n", *f);
				return -1;
			}
		}
	}
	return 0;
}

/*
 * Standard input (the mail), at most `limit` bytes: *over is set when there
 * was more, which is left unread (a 500 MB mail costs no more memory than
 * the limit).  NULL with errno.
 */
static char *read_stdin(size_t limit, size_t *len, bool *over)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	*over = false;
	while (buf) {
		if (n == cap) {
			if (cap > limit) { /* one byte past the limit was read: too large */
				*over = true;
				break;
			}
			size_t ncap = cap * 2 > limit + 1 ? limit + 1 : cap * 2;
			char *nb = realloc(buf, ncap);
			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap = ncap;
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
 * pipeline file); and [serve] passthrough.  0, or EXIT_CONFIG after logging
 * why.  *passthrough is malloc()ed or NULL. */
static int find_settings(const struct opts *o, char *out, size_t size, char **passthrough)
{
	*passthrough = NULL;
	const char *s = o->spool && *o->spool ? o->spool : getenv("VMPIPE_SPOOL");
	if (s && *s)
		snprintf(out, size, "%s", s);
	if (o->config && *o->config) {
		char *pdir = default_plugin_dir();
		struct diag d = {0};
		state_disable(true); /* only settings are wanted: the state may be serve's */
		struct pipeline *p = pipeline_load(o->config, pdir, false, &d);
		state_disable(false);
		free(pdir);
		if (!p) {
			diag_print(&d);
			diag_free(&d);
			log_msg(NULL, "sendmail", VM_LOG_ERROR, "%s: pipeline refused", o->config);
			return EXIT_CONFIG;
		}
		diag_free(&d);
		const char *sp = p->serve.spool;
		if (!*out && sp && *sp)
			snprintf(out, size, "%s%s%s", sp[0] == '/' ? "" : p->dir, sp[0] == '/' ? "" : "/", sp);
		if (p->serve.passthrough && *p->serve.passthrough)
			*passthrough = strdup(p->serve.passthrough);
		pipeline_free(p);
	}
	if (*out)
		return 0;
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

/* The mail as it came, for a drop (handover.h). */
struct handover_mail {
	const char *data;
	size_t len;
};

/* A job sendmail could not finish, left for serve: as a record beside its
 * recording (this user owns the spool), else as the mail itself. */
static int leave_for_serve(const struct opts *o, const char *spool, vm_job *job, const struct handover_mail *mail,
			   const char *why)
{
	if (!mail)
		return enqueue(spool, job, why);
	char err[600], name[SPOOL_NAME_MAX];
	if (handover_drop_mail(spool, mail->data, mail->len, o->from, o->rcpt, NULL, name, sizeof name, err,
			       sizeof err) != 0) {
		log_msg(job, "sendmail", VM_LOG_ERROR, "could not drop the mail into the spool: %s", err);
		return -1;
	}
	log_msg(job, "sendmail", VM_LOG_INFO, "%s: the mail is dropped as %s/new/%s for vmpipe serve", why, spool,
		name);
	return 0;
}

/* Run the job here, as `vmpipe run` does.  Its exit status.  `mail`: when
 * the job cannot be left in the spool as a record (this user does not own
 * it), the mail is dropped for serve instead. */
static int run_inline(const struct opts *o, const char *spool, vm_job **job, const struct handover_mail *mail)
{
	const char *config = o->config;
	bool mta = o->mta;
	char *pdir = default_plugin_dir();
	struct diag d = {0};
	struct tenants *ts = tenants_open(config, pdir, &d);
	free(pdir);
	if (!ts) {
		diag_print(&d);
		diag_free(&d);
		log_msg(*job, "sendmail", VM_LOG_ERROR, "%s: pipeline refused", config);
		if (!mta)
			leave_for_serve(o, spool, *job, mail, "not run (bad pipeline)");
		return EXIT_CONFIG;
	}
	diag_free(&d);
	struct pipeline *p = tenants_base(ts);
	if (pipeline_has(p, "log_level") && !getenv("VMPIPE_LOG_LEVEL") && log_level() == VM_LOG_INFO)
		log_setup((vm_log_level)p->set.log_level, LOG_FORMAT_AUTO);
	int rc = job_run(p, job, 0);
	/* Not told: leave the job where `vmpipe serve` takes it (notifications
	 * already sent are in the record, so nobody is mailed twice).  An MTA
	 * caller retries or bounces the mail itself: a copy here would be
	 * retried by serve after the MTA bounced it, or run twice. */
	if ((rc == EXIT_UNAVAILABLE || rc == EXIT_TEMPFAIL) && !mta)
		leave_for_serve(o, spool, *job, mail, "owner not notified");
	tenants_close(ts);
	return rc;
}

/* Keep `data` in rejected/ with `why`: by this user when it owns the spool,
 * else dropped for serve to keep there.  `where` receives where it is
 * ("SPOOL/rejected/NAME").  0, or -1 logged. */
static int keep_rejected(const struct opts *o, const char *spool, const char *data, size_t len, const char *why,
			 char *where, size_t wheresize)
{
	char e[600], name[SPOOL_NAME_MAX + 8];
	spool_unique_name(name, SPOOL_NAME_MAX);
	strcat(name, ".eml");
	int k = o->own ? spool_reject(spool, name, data, len, why, e, sizeof e)
		       : handover_drop_mail(spool, data, len, o->from, o->rcpt, why, name, sizeof name, e, sizeof e);
	if (k != 0) {
		log_msg(NULL, "sendmail", VM_LOG_ERROR, "%s, and it could not be kept: %s", why, e);
		return -1;
	}
	if (o->own)
		snprintf(where, wheresize, "%s/rejected/%s", spool, name);
	else
		snprintf(where, wheresize, "%s/new/%s (vmpipe serve keeps it in rejected/)", spool, name);
	return 0;
}

/* A mail we do not take: on through passthrough, else refused into rejected/. */
static int not_ours(const struct opts *o, const char *spool, const char *passthrough, const char *mail,
		    size_t len, const char *why)
{
	char name[PATH_MAX + 100], res[400];
	if (passthrough) {
		int rc = passthrough_run(passthrough, o->pbx_args, mail, len, res, sizeof res);
		log_msg(NULL, "sendmail", rc ? VM_LOG_ERROR : VM_LOG_INFO, "%s: passed on unchanged (%s)", why, res);
		return rc;
	}
	if (keep_rejected(o, spool, mail, len, why, name, sizeof name) != 0)
		return EXIT_TEMPFAIL;
	log_msg(NULL, "sendmail", VM_LOG_ERROR,
		"refused: %s; kept as %s (set [serve] passthrough to send such mail on)", why, name);
	return EXIT_BAD_EVENT;
}

int cmd_sendmail(int argc, char **argv, int verbosity, const char *log_format)
{
	struct opts o = {.config = getenv("VMPIPE_PIPELINE"), .verbosity = verbosity};
	int rc = EXIT_USAGE;
	char *passthrough = NULL, *mail = NULL;
	struct pbxmail m = {0};
	if (parse_opts(argc, argv, &o) != 0) {
		fputs(usage, stderr);
		goto out;
	}
	rc = 0;
	if (o.help) {
		fputs(usage, stdout);
		goto out;
	}
	/* An MTA turns what we print into its bounce: the error alone, as text. */
	if (o.mta && o.verbosity == 0)
		o.verbosity = -1;
	struct globals g = {o.verbosity, o.mta && !log_format ? "text" : log_format};
	setup_logging(&g, NULL);
	char spool[PATH_MAX] = "";
	if ((rc = find_settings(&o, spool, sizeof spool, &passthrough)) != 0)
		goto out;
	/* The spool's owner keeps what it takes; anyone else (the PBX's user,
	 * beside a serve user) may only drop into it (handover.h). */
	o.own = access(spool, F_OK) != 0 || spool_owned(spool);

	size_t len;
	bool over;
	char err[700], name[PATH_MAX + 100], path[PATH_MAX] = "", priv[PATH_MAX] = "";
	if (!(mail = read_stdin(PBXMAIL_MAX_BYTES, &len, &over))) {
		log_msg(NULL, "sendmail", VM_LOG_ERROR, "cannot read the mail on standard input: %s",
			strerror(errno));
		rc = EXIT_TEMPFAIL;
		goto out;
	}
	if (over) {
		/* Not read further: its head is kept for the admin to see what it was. */
		snprintf(err, sizeof err, "the mail is larger than %u bytes (the limit); only its first 256 KiB are kept",
			 PBXMAIL_MAX_BYTES);
		rc = keep_rejected(&o, spool, mail, len < 262144 ? len : 262144, err, name, sizeof name) == 0
			     ? EXIT_BAD_EVENT : EXIT_TEMPFAIL;
		if (rc == EXIT_BAD_EVENT)
			log_msg(NULL, "sendmail", VM_LOG_ERROR, "refused: %s: kept as %s", err, name);
		goto out;
	}
	enum pbxmail_kind kind = pbxmail_parse(mail, len, o.rcpt, o.from, &m, err, sizeof err);
	if (kind == PBXMAIL_OTHER) {
		rc = not_ours(&o, spool, passthrough, mail, len, err);
		goto out;
	}
	if (kind == PBXMAIL_BAD) {
		rc = keep_rejected(&o, spool, mail, len, err, name, sizeof name) == 0 ? EXIT_BAD_EVENT : EXIT_TEMPFAIL;
		if (rc == EXIT_BAD_EVENT)
			log_msg(NULL, "sendmail", VM_LOG_ERROR, "refused: %s; kept as %s", err, name);
		goto out;
	}
	if (!m.audio && passthrough) {
		/* A voicemail mailed without its recording (attach=no): the PBX's
		 * own text says who called, when and for how long. */
		snprintf(err, sizeof err, "a voicemail without its recording (%s)", m.note);
		rc = not_ours(&o, spool, passthrough, mail, len, err);
		goto out;
	}
	if (m.truncated) {
		/* Still a voicemail: the owner hears what arrived, the admin finds the mail. */
		if (keep_rejected(&o, spool, mail, len, m.note, name, sizeof name) == 0)
			log_msg(m.job, "sendmail", VM_LOG_WARN, "%s; the mail is kept as %s", m.note, name);
	}
	struct handover_mail hm = {mail, len};
	/* serve runs (or no pipeline to run here): the whole mail is dropped
	 * for it, and serve takes the recording out into its recordings/. */
	if (spool_serve_running(spool) || !o.config || !*o.config) {
		if (!o.config || !*o.config)
			log_msg(m.job, "sendmail", VM_LOG_WARN,
				"vmpipe serve is not running and no pipeline was given (-c)");
		rc = leave_for_serve(&o, spool, m.job, &hm, spool_serve_running(spool) ? "vmpipe serve is running"
										      : "left for vmpipe serve") == 0
			     ? 0 : EXIT_TEMPFAIL;
		goto out;
	}

	/* Run here.  The recording first: a job never points at audio that is
	 * not there (in recordings/ as the spool's owner, else in a private
	 * directory for this run, handover.h). */
	if (m.audio) {
		int st = o.own ? handover_store_recording(spool, &m, path, sizeof path, err, sizeof err)
			       : handover_private_recording(&m, priv, sizeof priv, err, sizeof err);
		if (st != 0) {
			log_msg(m.job, "sendmail", VM_LOG_ERROR, "cannot store the recording: %s", err);
			rc = EXIT_TEMPFAIL;
			goto out;
		}
	} else {
		handover_no_recording(&m);
	}
	const char *caller = vm_job_get_str(m.job, "contact.caller");
	const char *to = vm_job_get_str(m.job, "recipient.email");
	log_msg(m.job, "sendmail", VM_LOG_INFO, "voicemail from %s for %s (%s, %zu bytes) %s%s%s",
		caller ? caller : "an unknown caller", to ? to : "(no recipient)",
		vm_job_get_str(m.job, "source"), m.audio_len, m.audio ? "stored as " : "without a recording",
		o.own ? path : priv, m.audio && !o.own ? " (for this run)" : "");
	log_msg(m.job, "sendmail", VM_LOG_INFO, "vmpipe serve is not running on %s: running the job here%s", spool,
		o.own ? "" : " (without checkpoints: the state store is the serve user's)");
	if (!o.own)
		state_disable(true);
	rc = run_inline(&o, spool, &m.job, o.own ? NULL : &hm);
	/* No recording was sent, so none was found: the owner was still told. */
	if (!m.audio && rc == EXIT_NO_RECORDING)
		rc = 0;
	handover_private_remove(priv);
	/* An MTA that retries hands the mail in again: no second copy of the audio. */
	if (rc != 0 && o.mta && path[0] && unlink(path) != 0)
		log_msg(m.job, "sendmail", VM_LOG_WARN, "cannot remove %s: %s", path, strerror(errno));
out:
	pbxmail_free(&m);
	free(mail);
	free(passthrough);
	free(o.pbx_args);
	return rc;
}
