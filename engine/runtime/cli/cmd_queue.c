/*
 * Looking after the queue, the way Postfix's postqueue/postcat/postsuper do:
 * delete, retry and requeue (status and show: cmd_status.c).
 * Every command finds the spool and the state directory by one rule (where.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include "core/job.h"
#include "core/log.h"
#include "core/sched.h"
#include "core/state.h"
#include "core/util.h"
#include "runtime/serve/spool.h"
#include "where.h"

static const char usage_delete[] =
	"usage: vmpipe delete [-c PIPELINE] [--spool DIR] (ID... | --failed)\n"
	"\n"
	"Remove jobs from the state directory, as `postsuper -d` does: their\n"
	"checkpoints and lock files.  A job that a runner holds right now is not\n"
	"removed (exit 75).  Recordings and mails already written are left alone.\n"
	"\n"
	"  -c, --config FILE  the pipeline ([pipeline] state, [serve] spool)\n"
	"  -s, --spool DIR    the spool (default: $VMPIPE_SPOOL, else [serve] spool)\n"
	"      --failed       every failed job\n";

static void collect_failed(void *ctx, vm_job *job, int64_t mtime)
{
	(void)mtime;
	const char *st = vm_job_get_str(job, "state");
	if (st && strcmp(st, "failed") == 0)
		json_array_append_new(ctx, json_string(vm_job_id(job)));
}

/* IDs from the operands, or every failed job with --failed.  NULL after
 * logging why (*rc set). */
static json_t *job_ids(int argc, char **argv, int first, bool failed, struct where *w, const char *cmd,
		       int *rc)
{
	json_t *ids = json_array();
	for (int i = first; i < argc; i++) {
		if (!is_plain_name(argv[i], 128)) {
			log_msg(NULL, cmd, VM_LOG_ERROR, "'%s' is not a job id", argv[i]);
			json_decref(ids);
			*rc = EXIT_USAGE;
			return NULL;
		}
		json_array_append_new(ids, json_string(argv[i]));
	}
	if (failed && state_list(w->p, collect_failed, ids) != 0) {
		log_msg(NULL, cmd, VM_LOG_ERROR, "cannot list the state directory %s: %s", w->state,
			errno == ENOTSUP ? "it is on S3 (name the jobs)" : strerror(errno));
		json_decref(ids);
		*rc = EXIT_CONFIG;
		return NULL;
	}
	for (size_t i = 1, n = failed ? where_places(w) : 1; i < n; i++) /* and the tenants' */
		if (state_list(where_place(w, i), collect_failed, ids) != 0)
			log_msg(NULL, cmd, VM_LOG_WARN, "cannot list the state of %s: %s", where_place(w, i)->cfg.path,
				errno == ENOTSUP ? "it is on S3 (name the jobs)" : strerror(errno));
	return ids;
}

int cmd_delete(int argc, char **argv, const struct globals *g)
{
	static const struct option longopts[] = {WHERE_OPTS, {"failed", no_argument, NULL, 'f'},
						 {NULL, 0, NULL, 0}};
	struct where_args wa = {0};
	bool failed = false;
	int rc = where_options(argc, argv, longopts, (struct where_opt[]){{'f', &failed, NULL}, {0}},
			       usage_delete, &wa);
	if (rc >= 0)
		return rc;
	if (failed == (optind < argc)) {
		fputs(usage_delete, stderr);
		return EXIT_USAGE;
	}
	struct where w;
	rc = where_find(wa.config, wa.spool, WHERE_STATE, g, &w);
	if (rc)
		return rc;
	json_t *ids = *w.state ? job_ids(argc, argv, optind, failed, &w, "delete", &rc) : NULL;
	if (!*w.state) {
		log_msg(NULL, "delete", VM_LOG_ERROR, "no state directory: give --spool DIR or -c PIPELINE");
		rc = EXIT_USAGE;
	}
	size_t i;
	json_t *id;
	json_array_foreach(ids, i, id)
	{
		const char *s = json_string_value(id);
		int d = state_delete(w.p, s), e = errno;
		for (size_t k = 1, n = d != 0 && e == ENOENT ? where_places(&w) : 1; k < n && d != 0 && e == ENOENT;
		     k++) { /* a tenant's job, kept where the tenant keeps them */
			d = state_delete(where_place(&w, k), s);
			e = errno;
		}
		if (d == 0) {
			printf("%s: deleted\n", s);
			continue;
		}
		log_msg(NULL, "delete", VM_LOG_ERROR, "%s: %s", s,
			e == ENOENT ? "no such job" : e == EBUSY ? "a runner holds it right now: not deleted"
			: e == ENOTSUP ? "the state is on S3: delete the object there" : strerror(e));
		int this = e == ENOENT ? EXIT_NO_RECORDING : e == EBUSY ? EXIT_TEMPFAIL : EXIT_CONFIG;
		if (this > rc)
			rc = this;
	}
	if (failed && ids && json_array_size(ids) == 0)
		printf("no failed jobs\n");
	json_decref(ids);
	where_free(&w);
	return rc;
}

static const char usage_retry[] =
	"usage: vmpipe retry [-c PIPELINE] [--spool DIR] (ID... | --failed)\n"
	"\n"
	"Run failed jobs again: each is handed to `vmpipe serve` through the spool,\n"
	"which clears the stages that failed and resumes the job from its checkpoint\n"
	"(stages that were done are not run again, so nobody is mailed twice).  Works\n"
	"whether or not serve is running (it is taken when it starts).  An ID that is\n"
	"not in the state directory (exit 66), or a job that is not failed (exit 65),\n"
	"is refused here.\n"
	"\n"
	"  -c, --config FILE  the pipeline ([pipeline] state, [serve] spool)\n"
	"  -s, --spool DIR    the spool (default: $VMPIPE_SPOOL, else [serve] spool)\n"
	"      --failed       every failed job in the state directory\n";

/* Hand a retry request for `id` to serve; 0 or an exit status. */
static int request_retry(struct where *w, const char *id, bool check)
{
	if (check) {
		vm_job *job = NULL;
		char place[PATH_MAX + 80];
		int r = where_load_job(w, id, &job, place, sizeof place);
		if (r <= 0) {
			if (r == 0)
				log_msg(NULL, "retry", VM_LOG_ERROR, "%s: no such job in %s%s", id, w->state,
					w->p->set.tenant_dir ? " (nor where a tenant keeps its checkpoints)" : "");
			else
				log_msg(NULL, "retry", VM_LOG_ERROR, "%s: cannot read its checkpoint in %s: %s", id,
					place, strerror(errno));
			return r == 0 ? EXIT_NO_RECORDING : EXIT_TEMPFAIL;
		}
		const char *st = vm_job_get_str(job, "state");
		bool ok = st && strcmp(st, "failed") == 0;
		if (!ok)
			log_msg(NULL, "retry", VM_LOG_ERROR, "%s: the job is %s, not failed: nothing to retry", id,
				st ? st : "without a state");
		job_free(job);
		if (!ok)
			return EXIT_BAD_EVENT;
	}
	char *req = NULL, name[SPOOL_NAME_MAX], err[600];
	if (asprintf(&req, "{\"vmpipe_retry\": \"%s\"}\n", id) < 0)
		return EXIT_SOFTWARE;
	int rc = 0;
	if (spool_enqueue(w->spool, req, strlen(req), name, sizeof name, err, sizeof err) != 0) {
		log_msg(NULL, "retry", VM_LOG_ERROR, "%s: %s", id, err);
		rc = EXIT_TEMPFAIL;
	} else {
		printf("%s: retry requested (%s)\n", id, name);
	}
	free(req);
	return rc;
}

int cmd_retry(int argc, char **argv, const struct globals *g)
{
	static const struct option longopts[] = {WHERE_OPTS, {"failed", no_argument, NULL, 'f'},
						 {NULL, 0, NULL, 0}};
	struct where_args wa = {0};
	bool failed = false;
	int rc = where_options(argc, argv, longopts, (struct where_opt[]){{'f', &failed, NULL}, {0}},
			       usage_retry, &wa);
	if (rc >= 0)
		return rc;
	if (failed == (optind < argc)) {
		fputs(usage_retry, stderr);
		return EXIT_USAGE;
	}
	struct where w;
	rc = where_find(wa.config, wa.spool, WHERE_SPOOL | WHERE_STATE, g, &w);
	if (rc)
		return rc;
	json_t *ids = job_ids(argc, argv, optind, failed, &w, "retry", &rc);
	size_t i;
	json_t *id;
	json_array_foreach(ids, i, id)
	{
		int r = request_retry(&w, json_string_value(id), !failed);
		if (r > rc)
			rc = r;
	}
	if (failed && ids && rc == 0 && json_array_size(ids) == 0)
		printf("no failed jobs\n");
	else if (ids && json_array_size(ids) && !spool_serve_running(w.spool))
		printf("(vmpipe serve is not running: the retries run when it starts)\n");
	json_decref(ids);
	where_free(&w);
	return rc;
}

static const char usage_requeue[] =
	"usage: vmpipe requeue [-c PIPELINE] [--spool DIR] (NAME... | --rejected | --failed)\n"
	"\n"
	"Put things back in the queue once their cause is fixed, as `postsuper -r`:\n"
	"an event kept in SPOOL/rejected/NAME goes back to SPOOL/new/NAME (its .why is\n"
	"removed; it is refused again, with a new .why, if the cause remains), and a\n"
	"NAME that is a failed job's id is retried (`vmpipe retry`).\n"
	"\n"
	"  -c, --config FILE  the pipeline ([pipeline] state, [serve] spool)\n"
	"  -s, --spool DIR    the spool (default: $VMPIPE_SPOOL, else [serve] spool)\n"
	"      --rejected     everything in SPOOL/rejected/\n"
	"      --failed       every failed job\n";

/* rejected/NAME back to new/NAME.  1 moved, 0 no such file, -1 error, -2 a
 * PBX mail, not an event (both logged). */
static int unreject(const struct where *w, const char *name)
{
	const char *spool = w->spool;
	char from[PATH_MAX + 300], to[PATH_MAX + 300], why[PATH_MAX + 310];
	snprintf(from, sizeof from, "%s/rejected/%s", spool, name);
	snprintf(to, sizeof to, "%s/new/%s", spool, name);
	snprintf(why, sizeof why, "%s.why", from);
	struct stat st;
	if (lstat(from, &st) != 0)
		return 0;
	size_t n = strlen(name);
	if (n > 4 && strcmp(name + n - 4, ".eml") == 0) { /* a PBX's mail, not an event */
		log_msg(NULL, "requeue", VM_LOG_ERROR, "%s is a PBX's mail, not an event: once the PBX is fixed, "
			"feed it again with `vmpipe-sendmail %s %s -t < %s`", name, *w->config ? "-c" : "--spool",
			*w->config ? w->config : spool, from);
		return -2;
	}
	if (!S_ISREG(st.st_mode)) {
		log_msg(NULL, "requeue", VM_LOG_ERROR, "%s is not a regular file: left alone", from);
		return -1;
	}
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) != 0) {
		log_msg(NULL, "requeue", VM_LOG_ERROR, "%s -> %s: %s", from, to, strerror(errno));
		return -1;
	}
	fsync_parent(to);
	unlink(why);
	fsync_parent(why);
	printf("%s: requeued (new/%s)\n", name, name);
	return 1;
}

static int rejected_file(const struct dirent *e)
{
	size_t n = strlen(e->d_name);
	return e->d_name[0] != '.' && !(n > 4 && strcmp(e->d_name + n - 4, ".why") == 0);
}

int cmd_requeue(int argc, char **argv, const struct globals *g)
{
	static const struct option longopts[] = {WHERE_OPTS, {"failed", no_argument, NULL, 'f'},
						 {"rejected", no_argument, NULL, 'r'}, {NULL, 0, NULL, 0}};
	struct where_args wa = {0};
	bool failed = false, rejected = false;
	int rc = where_options(argc, argv, longopts,
			       (struct where_opt[]){{'f', &failed, NULL}, {'r', &rejected, NULL}, {0}},
			       usage_requeue, &wa);
	if (rc >= 0)
		return rc;
	if ((failed || rejected) == (optind < argc)) {
		fputs(usage_requeue, stderr);
		return EXIT_USAGE;
	}
	struct where w;
	rc = where_find(wa.config, wa.spool, WHERE_SPOOL | WHERE_STATE, g, &w);
	if (rc)
		return rc;
	char dir[PATH_MAX + 16];
	snprintf(dir, sizeof dir, "%s/new", w.spool);
	if (mkdir(dir, 0770) != 0 && errno != EEXIST)
		log_msg(NULL, "requeue", VM_LOG_WARN, "cannot create %s: %s", dir, strerror(errno));
	size_t asked = 0;
	if (rejected) {
		struct dirent **ents;
		snprintf(dir, sizeof dir, "%s/rejected", w.spool);
		int n = scandir(dir, &ents, rejected_file, alphasort);
		for (int k = 0; k < n; k++) {
			int r = unreject(&w, ents[k]->d_name);
			if (r == -1)
				rc = EXIT_TEMPFAIL;
			free(ents[k]);
		}
		if (n >= 0)
			free(ents);
		asked += n > 0 ? (size_t)n : 0;
	}
	for (int i = optind; i < argc; i++) {
		if (!is_plain_name(argv[i], 128)) {
			log_msg(NULL, "requeue", VM_LOG_ERROR, "'%s' is neither a rejected event's name nor a job id",
				argv[i]);
			rc = EXIT_USAGE;
			continue;
		}
		int r = unreject(&w, argv[i]);
		asked++;
		if (r != 0) {
			if (r < 0 && rc < (r == -2 ? EXIT_BAD_EVENT : EXIT_TEMPFAIL))
				rc = r == -2 ? EXIT_BAD_EVENT : EXIT_TEMPFAIL;
			continue;
		}
		r = request_retry(&w, argv[i], true);
		if (r == EXIT_NO_RECORDING)
			log_msg(NULL, "requeue", VM_LOG_ERROR, "%s: not in %s/rejected/ either", argv[i], w.spool);
		if (r > rc)
			rc = r;
	}
	if (failed) {
		json_t *ids = job_ids(argc, argv, argc, true, &w, "requeue", &rc);
		size_t i;
		json_t *id;
		json_array_foreach(ids, i, id)
		{
			int r = request_retry(&w, json_string_value(id), false);
			asked++;
			if (r > rc)
				rc = r;
		}
		json_decref(ids);
	}
	if (!asked)
		printf("nothing to requeue\n");
	else if (!spool_serve_running(w.spool))
		printf("(vmpipe serve is not running: it takes them when it starts)\n");
	where_free(&w);
	return rc;
}
