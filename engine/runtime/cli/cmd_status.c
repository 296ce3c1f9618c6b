/*
 * Seeing the queue: `vmpipe status` (postqueue -p: counts, or the jobs that
 * match filters) and `vmpipe show ID` (postcat -q: one job in full).
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
#include "core/job.h"
#include "core/log.h"
#include "core/sched.h"
#include "core/state.h"
#include "core/util.h"
#include "runtime/serve/spool.h"
#include "where.h"

/* Was the owner told of the failure (every notifier said the recording could
 * not be found)?  The record's outcome says so (retry.h); a record written
 * before there was one: whether anything was sent. */
static bool owner_told(vm_job *job)
{
	const char *o = vm_job_get_str(job, "outcome");
	if (o)
		return strcmp(o, "no_recording") == 0;
	return json_array_size(job_get(job, "notifications")) > 0;
}

/* The stage a job stands at: the first stage of its checkpoint that is not
 * done, else that of its last error; NULL when none is known. */
static const char *job_stage(vm_job *job)
{
	const char *k;
	json_t *v;
	json_object_foreach(job_get(job, "stages"), k, v)
	{
		const char *s = json_string_value(v);
		if (!s || strcmp(s, "done") != 0)
			return k;
	}
	json_t *errs = job_get(job, "errors");
	size_t n = json_array_size(errs);
	return n ? json_string_value(json_object_get(json_array_get(errs, n - 1), "stage")) : NULL;
}

static const char *last_error(vm_job *job)
{
	json_t *errs = job_get(job, "errors");
	size_t n = json_array_size(errs);
	return n ? json_string_value(json_object_get(json_array_get(errs, n - 1), "message")) : NULL;
}

/* "failed" splits in two: an owner who was told (e.g. that the recording
 * could not be found) and one who heard nothing. */
static const char *state_label(vm_job *job)
{
	const char *st = vm_job_get_str(job, "state");
	if (!st)
		return "?";
	if (strcmp(st, "failed") == 0)
		return owner_told(job) ? "failed-told" : "failed";
	if (strcmp(st, "pending") == 0)
		return "waiting";
	return st;
}

static void age(int64_t ms, char *buf, size_t size)
{
	int64_t now = clock_now_ms();
	format_duration((double)(now > ms ? now - ms : 0) / 1000.0, buf, size);
}

struct filter {
	bool failed, waiting, any;
	const char *stage;
	int64_t older_ms; /* 0: no bound */
};

struct tally {
	const struct filter *f;
	size_t pending, failed, told, done;
	char oldest_id[130];
	int64_t oldest_ms;
	json_t *list; /* matching (or, without filters, failed) jobs */
};

static bool matches(const struct filter *f, vm_job *job, int64_t mtime)
{
	const char *st = vm_job_get_str(job, "state");
	if (f->failed && !(st && strcmp(st, "failed") == 0))
		return false;
	if (f->waiting && !(st && strcmp(st, "pending") == 0))
		return false;
	if (f->stage) {
		const char *s = job_stage(job);
		if (!s || strcmp(s, f->stage) != 0)
			return false;
	}
	if (f->older_ms && clock_now_ms() - mtime < f->older_ms)
		return false;
	return true;
}

static void count_job(void *ctx, vm_job *job, int64_t mtime)
{
	struct tally *t = ctx;
	const char *st = vm_job_get_str(job, "state");
	bool done = st && strcmp(st, "done") == 0, failed = st && strcmp(st, "failed") == 0;
	if (done)
		t->done++;
	else if (failed)
		t->failed++, t->told += owner_told(job);
	else
		t->pending++;
	if (!done && !failed && (!t->oldest_ms || mtime < t->oldest_ms)) {
		t->oldest_ms = mtime;
		snprintf(t->oldest_id, sizeof t->oldest_id, "%s", vm_job_id(job));
	}
	if (t->f->any ? !matches(t->f, job, mtime) : !failed)
		return;
	json_array_append_new(t->list, json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:b, s:I}", "id", vm_job_id(job),
						 "state", state_label(job), "received_at",
						 vm_job_get_str(job, "received_at"), "stage", job_stage(job),
						 "error", last_error(job), "owner_told", owner_told(job),
						 "updated_ms", (json_int_t)mtime));
}

/* Files in SPOOL/SUB (not dot files nor .why) and the oldest one's mtime. */
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

static void print_list(json_t *list)
{
	size_t i;
	json_t *f;
	char a[64];
	json_array_foreach(list, i, f)
	{
		age(json_integer_value(json_object_get(f, "updated_ms")), a, sizeof a);
		printf("%-40s %-12s %-12s %8s  %s\n", json_string_value(json_object_get(f, "id")),
		       json_string_value(json_object_get(f, "state")),
		       json_string_value(json_object_get(f, "stage")) ?: "-", a,
		       json_string_value(json_object_get(f, "error")) ?: "");
	}
}

static const char usage_status[] =
	"usage: vmpipe status [-c PIPELINE] [--spool DIR] [--json]\n"
	"                     [--failed] [--waiting] [--stage NAME] [--older-than DURATION] [--ids]\n"
	"\n"
	"What the spool and the state directory hold, as `postqueue -p` shows a mail\n"
	"queue: events queued (new/), jobs in flight (cur/), rejected events, and the\n"
	"jobs by state (waiting, failed with the owner not told, failed after the\n"
	"owner was told, done), the oldest unfinished one and the failed ones with\n"
	"their last error.  With a filter, one line per matching job instead:\n"
	"ID, state, stage, time since its last checkpoint, last error.\n"
	"\n"
	"  -c, --config FILE      the pipeline ([pipeline] state, [serve] spool)\n"
	"  -s, --spool DIR        the spool (default: $VMPIPE_SPOOL, else [serve] spool)\n"
	"      --failed           failed jobs only\n"
	"      --waiting          unfinished jobs only (waiting for a stage)\n"
	"      --stage NAME       jobs standing at stage NAME (locate, transcribe, notify...)\n"
	"      --older-than DUR   jobs whose last checkpoint is older (70s, 5m, 2h, 7d)\n"
	"      --ids              only the matching jobs' ids, one a line (scripts, completion)\n"
	"      --json             one JSON object instead of text\n";

int cmd_status(int argc, char **argv, const struct globals *g)
{
	static const struct option longopts[] = {
		WHERE_OPTS, {"json", no_argument, NULL, 'j'}, {"failed", no_argument, NULL, 'f'},
		{"waiting", no_argument, NULL, 'w'}, {"stage", required_argument, NULL, 'S'},
		{"older-than", required_argument, NULL, 'o'}, {"ids", no_argument, NULL, 'i'},
		{NULL, 0, NULL, 0},
	};
	struct where_args wa = {0};
	bool as_json = false, ids = false;
	struct filter f = {0};
	const char *older = NULL;
	int rc = where_options(argc, argv, longopts,
			       (struct where_opt[]){{'j', &as_json, NULL}, {'i', &ids, NULL}, {'f', &f.failed, NULL},
						    {'w', &f.waiting, NULL}, {'S', NULL, &f.stage},
						    {'o', NULL, &older}, {0}},
			       usage_status, &wa);
	if (rc >= 0)
		return rc;
	if (older && (parse_duration(older, &f.older_ms) != 0 || f.older_ms <= 0)) {
		fprintf(stderr, "vmpipe status: --older-than '%s' is not a duration (70s, 5m, 7d)\n", older);
		return EXIT_USAGE;
	}
	f.any = ids || f.failed || f.waiting || f.stage || older;
	if (optind != argc || (f.failed && f.waiting)) {
		fputs(usage_status, stderr);
		return EXIT_USAGE;
	}
	struct where w;
	rc = where_find(wa.config, wa.spool, WHERE_SPOOL | WHERE_STATE, g, &w);
	if (rc)
		return rc;
	struct stat st;
	if (stat(w.spool, &st) != 0 || !S_ISDIR(st.st_mode)) {
		log_msg(NULL, NULL, VM_LOG_ERROR, "%s is not a spool directory%s", w.spool,
			errno == ENOENT ? " (it is made when `vmpipe serve` or `vmpipe enqueue` first runs)" : "");
		where_free(&w);
		return EXIT_NO_RECORDING;
	}
	struct tally t = {.f = &f, .list = json_array()};
	int64_t old_new, old_cur, old_rej;
	size_t queued = spool_count(w.spool, "new", &old_new);
	size_t inflight = spool_count(w.spool, "cur", &old_cur);
	size_t rejected = spool_count(w.spool, "rejected", &old_rej);
	bool running = spool_serve_running(w.spool);
	int listed = state_list(w.p, count_job, &t);
	int e = errno;
	/* And where tenants keep theirs (one tally: a job is a job). */
	json_t *also = json_array();
	for (size_t i = 1, n = listed == 0 ? where_places(&w) : 1; i < n; i++) {
		char place[PATH_MAX + 80];
		const struct pipeline *tp = where_place(&w, i);
		state_place(tp, place, sizeof place);
		json_array_append_new(also, json_string(place));
		if (state_list(tp, count_job, &t) != 0)
			log_msg(NULL, "status", VM_LOG_WARN, "state %s (%s): %s", place, tp->cfg.path,
				errno == ENOTSUP ? "on S3: not listed here" : strerror(errno));
	}
	char args[2 * PATH_MAX + 20];
	where_args(&w, args, sizeof args);
	if (as_json) {
		json_t *o = json_pack("{s:s, s:s?, s:b, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I}, s:s, s:s?}", "spool",
				      w.spool, "pipeline", *w.config ? w.config : NULL, "serve_running", running,
				      "queued", "count", (json_int_t)queued, "oldest_ms", (json_int_t)old_new,
				      "in_flight", "count", (json_int_t)inflight, "oldest_ms", (json_int_t)old_cur,
				      "rejected", "count", (json_int_t)rejected, "state", w.state, "state_from",
				      w.state_from);
		if (json_array_size(also))
			json_object_set(o, "tenant_states", also);
		if (listed == 0) {
			json_object_set_new(o, "jobs", json_pack("{s:I, s:I, s:I, s:I}", "pending",
								(json_int_t)t.pending, "failed", (json_int_t)t.failed,
								"failed_owner_told", (json_int_t)t.told, "done",
								(json_int_t)t.done));
			json_object_set(o, f.any ? "matching" : "failed", t.list);
			if (*t.oldest_id)
				json_object_set_new(o, "oldest_unfinished",
						    json_pack("{s:s, s:I}", "id", t.oldest_id, "updated_ms",
							      (json_int_t)t.oldest_ms));
		}
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s ? s : "{}");
		free(s);
		json_decref(o);
	} else if (f.any) {
		size_t i;
		json_t *j;
		if (listed == 0 && ids)
			json_array_foreach(t.list, i, j)
			puts(json_string_value(json_object_get(j, "id")));
		else if (listed == 0)
			print_list(t.list);
		else
			log_msg(NULL, NULL, VM_LOG_ERROR, "state %s: %s", w.state,
				e == ENOTSUP ? "on S3: not listed here" : strerror(e));
		rc = listed == 0 ? 0 : EXIT_CONFIG;
	} else {
		char a[64];
		printf("spool %s: vmpipe serve is %s\n", w.spool, running ? "running" : "not running");
		age(old_new, a, sizeof a);
		printf("  queued     %6zu  (new/%s%s%s)\n", queued, old_new ? "; oldest " : "", old_new ? a : "",
		       old_new ? " ago" : "");
		age(old_cur, a, sizeof a);
		printf("  in flight  %6zu  (cur/%s%s%s)\n", inflight, old_cur ? "; oldest " : "", old_cur ? a : "",
		       old_cur ? " ago" : "");
		printf("  rejected   %6zu  (rejected/, each with its .why)\n", rejected);
		if (listed == 0) {
			printf("state %s (%s):\n", w.state, w.state_from);
			size_t k;
			json_t *pl;
			json_array_foreach(also, k, pl)
			printf("  and %s (a tenant's)\n", json_string_value(pl));
			printf("  waiting    %6zu\n  failed     %6zu  (%zu of them after the owner was told)\n"
			       "  done       %6zu\n", t.pending, t.failed, t.told, t.done);
			if (*t.oldest_id) {
				age(t.oldest_ms, a, sizeof a);
				printf("  oldest unfinished: %s (last checkpoint %s ago)\n", t.oldest_id, a);
			}
			print_list(t.list);
			if (t.failed)
				printf("(`vmpipe show%s ID` shows one; `vmpipe retry%s --failed` runs them again)\n",
				       args, args);
		} else {
			printf("state %s: %s\n", w.state, e == ENOTSUP ? "on S3: not listed here" : strerror(e));
		}
		if (rejected)
			printf("(`vmpipe requeue%s --rejected` takes the rejected events again once their cause "
			       "is fixed)\n", args);
	}
	json_decref(t.list);
	json_decref(also);
	where_free(&w);
	return rc;
}

/* -------------------------------------------------------------- show */

static void show_text(FILE *out, const struct where *w, const char *place, vm_job *job)
{
	const char *id = vm_job_id(job);
	fprintf(out, "job %s\n", id);
	fprintf(out, "  state        %s%s\n", state_label(job),
		strcmp(state_label(job), "failed-told") == 0 ? " (the owner was told of the failure)"
		: strcmp(state_label(job), "failed") == 0   ? " (the owner was not told)"
							    : "");
	static const char *const fields[][2] = {
		{"tenant", "tenant"}, {"received_at", "received"}, {"contact.caller", "caller"},
		{"recipient.email", "recipient"}, {"recording.uri", "recording"},
		{"transcript.status", "transcript"}, {"timeout_at", "gives up at"},
	};
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		const char *v = vm_job_get_str(job, fields[i][0]);
		if (v && *v)
			fprintf(out, "  %-12s %s\n", fields[i][1], v);
	}
	const char *k;
	json_t *v;
	fprintf(out, "  checkpoint   attempts %lld\n", (long long)json_integer_value(job_get(job, "attempts")));
	json_object_foreach(job_get(job, "stages"), k, v)
	fprintf(out, "    [%s] %s\n", k, json_string_value(v) ?: "?");
	size_t i;
	json_t *n;
	json_array_foreach(job_get(job, "notifications"), i, n)
	fprintf(out, "  notified     [%s] %s %s at %s\n", json_string_value(json_object_get(n, "stage")) ?: "?",
		json_string_value(json_object_get(n, "transport")) ?: "",
		json_string_value(json_object_get(n, "message_id")) ?: "",
		json_string_value(json_object_get(n, "sent_at")) ?: "?");
	json_t *errs = job_get(job, "errors");
	if (json_array_size(errs))
		fprintf(out, "  errors (oldest first):\n");
	json_array_foreach(errs, i, n)
	fprintf(out, "    %zu. %s [%s] %s: %s\n", i + 1, json_string_value(json_object_get(n, "at")) ?: "?",
		json_string_value(json_object_get(n, "stage")) ?: "?",
		json_string_value(json_object_get(n, "kind")) ?: "?",
		json_string_value(json_object_get(n, "message")) ?: "");
	fprintf(out, "  files:\n");
	if (strstr(place, "://"))
		fprintf(out, "    checkpoint %s/%s.json\n", place, id);
	else
		fprintf(out, "    checkpoint %s/%s.json (lock %s/%s.lock while a runner holds it)\n", place, id,
			place, id);
	const char *rec = vm_job_get_str(job, "recording.uri");
	if (rec)
		fprintf(out, "    recording  %s\n", rec);
	if (*w->spool)
		fprintf(out, "    spool      %s\n", w->spool);
	char args[2 * PATH_MAX + 20];
	where_args(w, args, sizeof args);
	if (strcmp(vm_job_get_str(job, "state") ?: "", "failed") == 0 && *w->spool)
		fprintf(out, "(`vmpipe retry%s %s` runs it again; `vmpipe delete%s %s` removes it)\n", args, id,
			args, id);
}

static const char usage_show[] =
	"usage: vmpipe show [-c PIPELINE] [--spool DIR] [--json] ID\n"
	"\n"
	"One job, as `postcat -q` shows one message: its state (and whether its owner\n"
	"was told), where it stands in each stage (its checkpoint), its errors in the\n"
	"order they happened, and where its files are.  --json prints the checkpoint\n"
	"itself.\n"
	"\n"
	"  -c, --config FILE  the pipeline ([pipeline] state, [serve] spool)\n"
	"  -s, --spool DIR    the spool (default: $VMPIPE_SPOOL, else [serve] spool)\n"
	"      --json         the job record as JSON\n";

int cmd_show(int argc, char **argv, const struct globals *g)
{
	static const struct option longopts[] = {WHERE_OPTS, {"json", no_argument, NULL, 'j'},
						 {NULL, 0, NULL, 0}};
	struct where_args wa = {0};
	bool as_json = false;
	int rc = where_options(argc, argv, longopts, (struct where_opt[]){{'j', &as_json, NULL}, {0}},
			       usage_show, &wa);
	if (rc >= 0)
		return rc;
	if (optind != argc - 1) {
		fputs(usage_show, stderr);
		return EXIT_USAGE;
	}
	const char *id = argv[optind];
	if (!is_plain_name(id, 128)) {
		log_msg(NULL, "show", VM_LOG_ERROR, "'%s' is not a job id", id);
		return EXIT_USAGE;
	}
	struct where w;
	rc = where_find(wa.config, wa.spool, WHERE_STATE, g, &w);
	if (rc)
		return rc;
	if (!*w.state) {
		log_msg(NULL, "show", VM_LOG_ERROR, "no state directory: the pipeline sets no [pipeline] state "
			"and no spool is known (--spool DIR)");
		where_free(&w);
		return EXIT_USAGE;
	}
	vm_job *job = NULL;
	char place[PATH_MAX + 80];
	int r = where_load_job(&w, id, &job, place, sizeof place);
	if (r <= 0) {
		if (r == 0)
			log_msg(NULL, "show", VM_LOG_ERROR, "no job %s in %s%s", id, w.state,
				w.p->set.tenant_dir ? " (nor where a tenant keeps its checkpoints)" : "");
		else
			log_msg(NULL, "show", VM_LOG_ERROR, "cannot read job %s in %s: %s", id, place, strerror(errno));
		where_free(&w);
		return r == 0 ? EXIT_NO_RECORDING : EXIT_TEMPFAIL;
	}
	if (as_json) {
		char *s = json_dumps(job->rec, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
		puts(s ? s : "{}");
		free(s);
	} else {
		show_text(stdout, &w, place, job);
	}
	job_free(job);
	where_free(&w);
	return 0;
}

