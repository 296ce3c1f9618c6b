/*
 * The sweeper of suspend mode (see sweep.h): one LIST per state prefix, the few checkpoints
 * that went quiet, a wake-up for any that was stranded.
 */
#include "sweep.h"

#include <jansson.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "aws/xml.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/state.h"
#include "core/util.h"

#define MAX_PAGES 20

/* ------------------------------------------------------------ the listing */

struct walk {
	struct sweep_listing *l;
	const char *prefix;
	char key[1025];
	bool key_ok;
	int64_t modified;
	bool oom;
};

/* S3's LastModified: 2009-10-12T17:50:30.000Z (the fraction optional). */
static int parse_modified(const char *s, int64_t *ms)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	int frac = 0, digits = 0;
	if (!p)
		return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 3)
				frac = frac * 10 + (*p - '0');
	for (int d = digits; d < 3; d++)
		frac *= 10;
	if (strcmp(p, "Z") != 0)
		return -1;
	*ms = (int64_t)timegm(&tm) * 1000 + frac;
	return 0;
}

/* prefix + ID + ".json", ID plain: the checkpoint's id in `id`. */
static bool checkpoint_id(const char *prefix, const char *key, char *id, size_t idsz)
{
	size_t pn = strlen(prefix), kn = strlen(key);
	if (kn < pn + 6 || strncmp(key, prefix, pn) != 0 || strcmp(key + kn - 5, ".json") != 0)
		return false;
	size_t n = kn - pn - 5;
	if (n >= idsz)
		return false;
	memcpy(id, key + pn, n);
	id[n] = '\0';
	return is_plain_name(id, 128);
}

static int on_leaf(void *arg, const char *parent, const char *name, const char *text, size_t len)
{
	struct walk *w = arg;
	struct sweep_listing *l = w->l;
	if (strcmp(parent, "Contents") == 0) {
		if (strcmp(name, "Key") == 0) {
			w->key_ok = len < sizeof w->key && strlen(text) == len;
			snprintf(w->key, sizeof w->key, "%s", w->key_ok ? text : "");
		} else if (strcmp(name, "LastModified") == 0 && parse_modified(text, &w->modified) != 0) {
			w->modified = 0;
		}
		return 0;
	}
	if (strcmp(parent, "ListBucketResult") != 0)
		return 0;
	if (strcmp(name, "Contents") == 0) {
		char id[129];
		if (w->key_ok && w->modified > 0 && checkpoint_id(w->prefix, w->key, id, sizeof id)) {
			if (l->n == l->cap) {
				size_t cap = l->cap ? l->cap * 2 : 64;
				struct sweep_entry *v = realloc(l->v, cap * sizeof *v);
				if (!v) {
					w->oom = true;
					return 1;
				}
				l->v = v;
				l->cap = cap;
			}
			snprintf(l->v[l->n].id, sizeof l->v[l->n].id, "%s", id);
			l->v[l->n].modified_ms = w->modified;
			l->n++;
		}
		w->key_ok = false;
		w->key[0] = '\0';
		w->modified = 0;
	} else if (strcmp(name, "IsTruncated") == 0) {
		l->truncated = strcmp(text, "true") == 0;
	} else if (strcmp(name, "NextContinuationToken") == 0) {
		if (len < sizeof l->token && strlen(text) == len)
			snprintf(l->token, sizeof l->token, "%s", text);
	}
	return 0;
}

int sweep_listing_page(struct sweep_listing *l, const char *prefix, const char *xml, size_t len)
{
	struct walk w = {.l = l, .prefix = prefix};
	size_t before = l->n;
	l->truncated = false;
	l->token[0] = '\0';
	if (aws_xml_walk(xml, len, on_leaf, &w) != 0 || w.oom) {
		l->n = before; /* nothing of a page that does not parse */
		l->truncated = false;
		l->token[0] = '\0';
		return -1;
	}
	if (!l->token[0])
		l->truncated = false; /* nothing to go on with */
	return 0;
}

void sweep_listing_free(struct sweep_listing *l)
{
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* ------------------------------------------------------------ the sweep */

/* Every checkpoint under s3://bucket/prefix ("" or "P/").  0, or -1 with err. */
static int list_all(const char *bucket, const char *prefix, struct sweep_listing *l, char *err, size_t errsz)
{
	for (int page = 0; page < MAX_PAGES; page++) {
		char token[sizeof l->token];
		snprintf(token, sizeof token, "%s", l->token);
		vm_aws_pair q[4] = {{"list-type", "2"}, {"prefix", prefix}, {"delimiter", "/"},
				    {"continuation-token", token}};
		vm_aws_request req = {.service = "s3", .method = "GET", .bucket = bucket, .path = "/", .query = q,
				      .nquery = page ? 4 : 3, .protocol = VM_AWS_REST_XML,
				      .max_response = 8 << 20};
		vm_aws_response resp;
		char why[600];
		if (state_aws_call(NULL, "sweep", &req, &resp, why, sizeof why) != VM_DONE) {
			snprintf(err, errsz, "listing s3://%s/%s: %s", bucket, prefix, why);
			vm_aws_response_free(&resp);
			return -1;
		}
		int rc = sweep_listing_page(l, prefix, resp.body ? (const char *)resp.body : "", resp.body_len);
		vm_aws_response_free(&resp);
		if (rc != 0) {
			snprintf(err, errsz, "listing s3://%s/%s: not a ListObjectsV2 answer", bucket, prefix);
			return -1;
		}
		if (!l->truncated)
			return 0;
	}
	log_msg(NULL, "sweep", VM_LOG_WARN, "more than %d pages of checkpoints: the rest waits for the next sweep",
		MAX_PAGES);
	return 0;
}

/* Look at one checkpoint that went quiet; wake it when it was stranded. */
static void examine(const struct wake_cfg *w, const struct pipeline *base, const struct sweep_entry *e,
		    int64_t now, struct sweep_result *r)
{
	vm_job *job = NULL;
	struct state_holder h;
	int l = state_load_held(base, NULL, e->id, &job, &h);
	r->examined++;
	if (l < 0)
		r->failed++;
	if (l <= 0)
		return;
	const char *st = vm_job_get_str(job, "state");
	int64_t due = 0;
	bool ended = st && (strcmp(st, "done") == 0 || strcmp(st, "failed") == 0);
	bool held = h.until_ms > now;
	bool waiting = parse_iso_ms(vm_job_get_str(job, "suspended_until"), &due) == 0 && due + SWEEP_LATE_MS > now;
	if (ended || held || waiting) {
		job_free(job);
		return;
	}
	char when[32] = "never";
	vm_format_time(e->modified_ms, when, sizeof when);
	struct wake_msg m = {.due_ms = now};
	const char *tenant = vm_job_get_str(job, "tenant");
	snprintf(m.job, sizeof m.job, "%s", e->id);
	snprintf(m.tenant, sizeof m.tenant, "%s", tenant ? tenant : "");
	vm_job_get_int(job, "attempts", &m.attempts);
	char err[800];
	if (wake_send(w, &m, err, sizeof err) != 0) {
		log_msg(job, "sweep", VM_LOG_ERROR, "stranded since %s, and its wake-up could not be sent: %s", when,
			err);
		r->failed++;
	} else {
		log_msg(job, "sweep", VM_LOG_WARN, "stranded: %s since %s with nothing to step it; woken",
			st ? st : "pending", when);
		r->woken++;
	}
	job_free(job);
}

/* Sweep one state prefix, that of `p` (bucket and prefix parsed). */
static int sweep_prefix(const struct wake_cfg *w, const struct pipeline *p, const char *bucket,
			const char *prefix, struct sweep_result *r, char *err, size_t errsz)
{
	struct sweep_listing l = {0};
	if (list_all(bucket, prefix, &l, err, errsz) != 0) {
		sweep_listing_free(&l);
		return -1;
	}
	int64_t now = clock_now_ms();
	int64_t newest = now - w->sweep_after_ms, oldest = newest - w->sweep_window_ms;
	r->listed += l.n;
	for (size_t i = 0; i < l.n; i++)
		if (l.v[i].modified_ms <= newest && l.v[i].modified_ms >= oldest)
			examine(w, p, &l.v[i], now, r);
	sweep_listing_free(&l);
	return 0;
}

/* "BUCKET\0PREFIX/" of an s3:// state, or -1. */
static int s3_place(const struct pipeline *p, char *bucket, size_t bsz, char *prefix, size_t psz)
{
	const char *rest = NULL;
	if (!p->set.state || strncmp(p->set.state, "s3://", 5) != 0 ||
	    parse_s3_uri(p->set.state, bucket, bsz, &rest) != 0)
		return -1;
	size_t rn = rest ? strlen(rest) : 0;
	while (rn && rest[rn - 1] == '/')
		rn--;
	snprintf(prefix, psz, "%.*s%s", (int)rn, rn ? rest : "", rn ? "/" : "");
	return 0;
}

int sweep_run(const struct wake_cfg *w, struct tenants *t, struct sweep_result *r, char *err, size_t errsz)
{
	memset(r, 0, sizeof *r);
	char bucket[64], prefix[1024];
	if (s3_place(tenants_base(t), bucket, sizeof bucket, prefix, sizeof prefix) != 0) {
		snprintf(err, errsz, "the sweeper needs [pipeline] state = s3://BUCKET/PREFIX");
		return -1;
	}
	/* Every tenant's checkpoints, each place once: a tenant that keeps its
	 * own state would otherwise have nobody to find its stranded jobs. */
	struct pipeline **places = NULL;
	size_t n = tenants_by_place(t, &places);
	if (!places) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		if (s3_place(places[i], bucket, sizeof bucket, prefix, sizeof prefix) == 0)
			rc = sweep_prefix(w, places[i], bucket, prefix, r, err, errsz);
	/* (a pipeline whose checkpoints are not on S3 has nothing suspended) */
	free(places);
	return rc;
}

/* CloudWatch's embedded metric format: a metric from a log line, no API call. */
void sweep_metric(size_t woken)
{
	const char *fn = getenv("AWS_LAMBDA_FUNCTION_NAME");
	json_t *o = json_pack("{s:{s:I, s:[{s:s, s:[[s]], s:[{s:s, s:s}]}]}, s:s, s:I}", "_aws", "Timestamp",
			      (json_int_t)clock_now_ms(), "CloudWatchMetrics", "Namespace", "vmpipe", "Dimensions",
			      "FunctionName", "Metrics", "Name", "StrandedVoicemails", "Unit", "Count", "FunctionName",
			      fn && *fn ? fn : "vmpipe", "StrandedVoicemails", (json_int_t)woken);
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (s)
		printf("%s\n", s);
	fflush(stdout);
	free(s);
	json_decref(o);
}
