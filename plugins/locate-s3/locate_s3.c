/*
 * locate-s3: the recording is in S3, where Amazon Connect writes it.
 *
 * Connect uploads an IVR recording some seconds after the caller hangs up,
 * as {prefix}ivr/YYYY/MM/DD/{InitialContactId}_{YYYYMMDDTHH:MM}_UTC.wav
 * (the time is the recording's start, UTC).  Instead of guessing that
 * minute, the plugin lists the {InitialContactId}_ prefix of the contact's
 * day (and of the adjacent day near midnight, then of the ContactId when it
 * differs), first a few seconds after the invocation, then with a growing
 * backoff until `wait` has passed.  An S3 ObjectCreated event names the
 * object: one HEAD confirms it.
 *
 * Search state lives in the record (recording.search_started_at,
 * recording.search_attempts, recording.wait_until: when it gives up), so
 * another process can resume the search.
 * When found: recording.{uri, bucket, key, size, content_type} and the link
 * the notification carries (recording.url, url_expires_at) from the host's
 * vm_recording_link().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <vmpipe/vmpipe.h>

#include "keys.h"
#include "s3list.h"

#define MAX_PRESIGN_S 604800 /* S3 refuses presigned URLs valid longer (7 days) */

struct locate_s3 {
	const char *bucket;
	const char *prefix;
	const char *base_path;
	const char *layout;
	const char *region;
	int64_t initial_delay_ms;
	int64_t wait_ms;
	int64_t poll_ms;
	int64_t poll_max_ms;
	int64_t url_expires_ms;
	/* base_path split by init(); bucket and prefix then point here. */
	char base_bucket[64];
	char base_prefix[1024];
};

/* S3's own type when it says something; the key's extension otherwise
 * (uploads without a type are stored as binary/octet-stream). */
static const char *pick_type(const char *stored, const char *key)
{
	if (stored && *stored && strcasecmp(stored, "binary/octet-stream") != 0 &&
	    strcasecmp(stored, "application/octet-stream") != 0)
		return stored;
	const char *t = vm_audio_type(key);
	return t ? t : "application/octet-stream";
}

/* The growing delay before look number `n` (1-based): poll, 1.5 poll, then
 * each the sum of the two before (2 s, 3 s, 5 s, 8 s, …), capped. */
static int64_t backoff(const struct locate_s3 *ls, int64_t n)
{
	int64_t a = ls->poll_ms, b = ls->poll_ms + ls->poll_ms / 2;
	for (int64_t i = 1; i < n && a < ls->poll_max_ms; i++) {
		int64_t c = a + b;
		a = b;
		b = c;
	}
	return a < ls->poll_max_ms ? a : ls->poll_max_ms;
}

static vm_status found(const struct locate_s3 *ls, vm_job *job, const char *bucket,
		       const struct s3_found *f)
{
	char *uri = NULL;
	if (asprintf(&uri, "s3://%s/%s", bucket, f->key) < 0)
		return vm_fail(job, VM_TRANSIENT, "out of memory");
	int rc = vm_job_set_str(job, "recording.uri", uri) |
		 vm_job_set_str(job, "recording.bucket", bucket) |
		 vm_job_set_str(job, "recording.key", f->key) |
		 vm_job_set_str(job, "recording.content_type", pick_type(f->content_type, f->key));
	free(uri);
	if (f->size >= 0)
		rc |= vm_job_set_int(job, "recording.size", f->size);
	if (rc)
		return vm_fail(job, VM_PERMANENT, "recording key s3://%s/%.200s is not valid UTF-8",
			       bucket, f->key);
	if (vm_recording_link(job, bucket, f->key, ls->url_expires_ms / 1000) != 0)
		return vm_fail(job, VM_TRANSIENT, "cannot make the link to s3://%s/%.200s", bucket,
			       f->key);
	vm_job_set_str(job, "recording.search_started_at", NULL);
	vm_job_set_str(job, "recording.wait_until", NULL);
	vm_log(job, VM_LOG_INFO, "recording s3://%s/%s (%lld bytes)", bucket, f->key,
	       (long long)f->size);
	return vm_done(job);
}

/* Not there (yet): look again after the backoff, or give up after `wait`. */
static vm_status not_yet(const struct locate_s3 *ls, vm_job *job, int64_t started,
			 int64_t attempts, const char *what)
{
	int64_t now = vm_now_ms();
	int64_t left = started + ls->wait_ms - now;
	if (left <= 0) {
		vm_job_set_str(job, "recording.error", "not found");
		return vm_fail(job, VM_PERMANENT,
			       "recording not found after %llds (%lld looks): %s",
			       (long long)((now - started) / 1000), (long long)attempts, what);
	}
	int64_t d = backoff(ls, attempts);
	return vm_retry(job, d < left ? d : left);
}

/* The search starts: when, and when it gives up (recording.wait_until, so
 * a runtime that lets an S3 event wake the job knows when to look by itself:
 * docs/lambda.md). */
static void mark_start(const struct locate_s3 *ls, vm_job *job, int64_t started)
{
	vm_job_set_int(job, "recording.search_started_at", started);
	vm_job_set_int(job, "recording.wait_until", started + ls->wait_ms);
}

/* Record the start of the search once; return it. */
static int64_t search_start(const struct locate_s3 *ls, vm_job *job, int64_t *attempts)
{
	int64_t started;
	if (!vm_job_get_int(job, "recording.search_started_at", &started)) {
		started = vm_now_ms();
		mark_start(ls, job, started);
	}
	*attempts = 0;
	vm_job_get_int(job, "recording.search_attempts", attempts);
	(*attempts)++;
	vm_job_set_int(job, "recording.search_attempts", *attempts);
	return started;
}

/* The event named the object (S3 ObjectCreated, a job record): confirm it. */
static vm_status confirm(const struct locate_s3 *ls, vm_job *job, const char *uri)
{
	const char *b = uri + 5, *slash = strchr(b, '/');
	if (!slash || slash == b || !slash[1])
		return vm_fail(job, VM_PERMANENT, "recording.uri '%.200s' is not s3://BUCKET/KEY", uri);
	size_t bl = (size_t)(slash - b);
	if (bl != strlen(ls->bucket) || strncmp(b, ls->bucket, bl) != 0)
		return vm_fail(job, VM_PERMANENT,
			       "recording.uri '%.200s' is outside bucket '%s': refused", uri, ls->bucket);
	int64_t attempts, started = search_start(ls, job, &attempts);
	struct s3_found f;
	vm_status st = VM_DONE;
	enum s3_look look = s3_head(job, ls->region, ls->bucket, slash + 1, &f, &st);
	if (look == S3_ERROR)
		return st;
	if (look == S3_ABSENT) {
		char what[1200];
		snprintf(what, sizeof what, "HEAD %.1100s answered 404", uri);
		return not_yet(ls, job, started, attempts, what);
	}
	st = found(ls, job, ls->bucket, &f);
	s3_found_clear(&f);
	return st;
}

static vm_status search(const struct locate_s3 *ls, vm_job *job)
{
	int64_t now = vm_now_ms(), received = now;
	if (keys_parse_time(vm_job_get_str(job, "received_at"), &received) != 0 || received > now)
		received = now;
	int64_t started;
	/* Connect needs a few seconds after hang-up to upload: no point asking
	 * before.  Counted from the invocation, once. */
	if (!vm_job_get_int(job, "recording.search_started_at", &started) &&
	    received + ls->initial_delay_ms > now) {
		mark_start(ls, job, now);
		return vm_retry(job, received + ls->initial_delay_ms - now);
	}
	int64_t attempts;
	started = search_start(ls, job, &attempts);

	char prefixes[KEYS_MAX_PREFIXES][KEYS_PREFIX_MAX];
	size_t n = keys_candidates(ls->prefix, ls->layout, received,
				   vm_job_get_str(job, "contact.initial_id"),
				   vm_job_get_str(job, "contact.id"), prefixes, KEYS_MAX_PREFIXES);
	if (n == 0)
		return vm_fail(job, VM_PERMANENT, "the job has no contact id to search s3://%s for",
			       ls->bucket);
	char what[KEYS_MAX_PREFIXES * (KEYS_PREFIX_MAX + 80)] = "listed";
	size_t wl = strlen(what);
	for (size_t i = 0; i < n; i++) {
		struct s3_found f;
		vm_status st = VM_DONE;
		enum s3_look look = s3_list_latest(job, ls->region, ls->bucket, prefixes[i], &f, &st);
		if (look == S3_ERROR)
			return st;
		if (look == S3_FOUND) {
			st = found(ls, job, ls->bucket, &f);
			s3_found_clear(&f);
			return st;
		}
		int w = snprintf(what + wl, sizeof what - wl, "%s s3://%s/%s*", i ? "," : "",
				 ls->bucket, prefixes[i]);
		if (w > 0 && (size_t)w < sizeof what - wl)
			wl += (size_t)w;
	}
	vm_job_set_str(job, "recording.searched", what + 7);
	return not_yet(ls, job, started, attempts, what);
}

static vm_status run(const void *state, vm_job *job)
{
	const struct locate_s3 *ls = state;
	const char *uri = vm_job_get_str(job, "recording.uri");
	/* A contact record (source "ctr") says what became of the recording:
	 * no search can find what it says is not there. */
	const char *status = vm_job_get_str(job, "recording.status");
	if (!uri && status && strcmp(status, "deleted") == 0) {
		const char *why = vm_job_get_str(job, "recording.deletion_reason");
		vm_job_set_str(job, "recording.error", "deleted");
		return vm_fail(job, VM_PERMANENT, "the contact record says the recording was deleted%s%.300s",
			       why ? ": " : "", why ? why : "");
	}
	if (!uri && status && strcmp(status, "none") == 0) {
		vm_job_set_str(job, "recording.error", "not recorded");
		return vm_fail(job, VM_PERMANENT, "the contact record names no audio recording "
			       "(was recording or media streaming on in the contact flow?)");
	}
	if (!uri && vm_job_get_str(job, "recording.stream_arn"))
		return vm_fail(job, VM_PERMANENT, "the contact record names a Kinesis video stream (%.200s), "
			       "not an S3 recording: [locate] plugin = locate-kvs reads it",
			       vm_job_get_str(job, "recording.stream_arn"));
	if (uri && strncmp(uri, "s3://", 5) == 0)
		return confirm(ls, job, uri);
	if (uri)
		return vm_fail(job, VM_PERMANENT,
			       "recording.uri '%.200s' is not an s3:// URI (locate-s3 reads S3)", uri);
	return search(ls, job);
}

static bool bucket_name_ok(const char *b)
{
	size_t n = strlen(b);
	if (n < 3 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '-' ||
		      b[i] == '.'))
			return false;
	return true;
}

/*
 * The original Lambda's BASE_PATH: "BUCKET/PREFIX" (or s3://BUCKET/PREFIX),
 * '/' trimmed at both ends, split at the first '/'.  Taking it as it is keeps
 * an existing deployment's environment unchanged.
 */
static int split_base_path(struct locate_s3 *ls, vm_stage *stage)
{
	char err[300];
	if (vm_s3_base_path(ls->base_path, ls->base_bucket, sizeof ls->base_bucket, ls->base_prefix,
			    sizeof ls->base_prefix, err, sizeof err) != 0) {
		vm_stage_error(stage, "option 'base_path': %s", err);
		return -1;
	}
	ls->bucket = ls->base_bucket;
	ls->prefix = ls->base_prefix;
	return 0;
}

static int init(vm_stage *stage, void *state)
{
	struct locate_s3 *ls = state;
	char err[300];
	if (ls->base_path && *ls->base_path) {
		if (ls->bucket || *ls->prefix) {
			vm_stage_error(stage, "set either 'base_path' (BUCKET/PREFIX) or 'bucket' and "
					      "'prefix', not both");
			return -1;
		}
		if (split_base_path(ls, stage) != 0)
			return -1;
	} else if (!ls->bucket) {
		vm_stage_error(stage, "no bucket: set 'bucket' (and 'prefix'), or 'base_path' = BUCKET/PREFIX");
		return -1;
	}
	if (!bucket_name_ok(ls->bucket)) {
		vm_stage_error(stage, "option 'bucket': '%s' is not an S3 bucket name "
			       "(3-63 lower-case letters, digits, '-', '.'; no s3:// or key)", ls->bucket);
		return -1;
	}
	if (ls->prefix[0] == '/') {
		vm_stage_error(stage, "option 'prefix': S3 keys do not start with '/' ('%s')", ls->prefix);
		return -1;
	}
	if (keys_check_layout(ls->layout, err, sizeof err) != 0) {
		vm_stage_error(stage, "option 'layout': %s", err);
		return -1;
	}
	if (ls->url_expires_ms < 1000 || ls->url_expires_ms > MAX_PRESIGN_S * 1000LL) {
		vm_stage_error(stage, "option 'url_expires': %llds is outside 1s..7d: S3 refuses "
			       "presigned URLs valid longer than 7 days (604800 s)",
			       (long long)(ls->url_expires_ms / 1000));
		return -1;
	}
	if (ls->poll_ms < 100 || ls->poll_max_ms < ls->poll_ms) {
		vm_stage_error(stage, "options 'poll'/'poll_max': poll must be at least 100ms and "
			       "poll_max at least poll");
		return -1;
	}
	if (ls->wait_ms < 0 || ls->initial_delay_ms < 0) {
		vm_stage_error(stage, "options 'wait'/'initial_delay' must not be negative");
		return -1;
	}
	return 0;
}

#define O(f) offsetof(struct locate_s3, f)
static const vm_option options[] = {
	{"bucket", VM_OPT_STRING, NULL, false, O(bucket),
	 "bucket Amazon Connect writes recordings to (or base_path)", NULL},
	{"base_path", VM_OPT_STRING, NULL, false, O(base_path),
	 "BUCKET/PREFIX in one, as the original's BASE_PATH (instead of bucket and prefix)", NULL},
	{"prefix", VM_OPT_STRING, "", false, O(prefix),
	 "key prefix before the layout, e.g. connect/INSTANCE/CallRecordings", NULL},
	{"layout", VM_OPT_STRING, "ivr/{yyyy}/{mm}/{dd}/", false, O(layout),
	 "folder of a day's recordings under prefix: {yyyy}, {mm}, {dd} (UTC)", NULL},
	{"region", VM_OPT_STRING, NULL, false, O(region),
	 "the bucket's region (default: AWS_REGION, the profile, the Connect instance)", NULL},
	{"initial_delay", VM_OPT_DURATION, "3s", false, O(initial_delay_ms),
	 "first look this long after the invocation (Connect's upload takes seconds)", NULL},
	{"wait", VM_OPT_DURATION, "2m", false, O(wait_ms),
	 "give up when the recording is not there after this (RECORDING_WAIT_TIME; a ceiling)",
	 NULL},
	{"poll", VM_OPT_DURATION, "2s", false, O(poll_ms),
	 "first interval between looks; it grows 2s, 3s, 5s, 8s, …", NULL},
	{"poll_max", VM_OPT_DURATION, "15s", false, O(poll_max_ms), "longest interval between looks",
	 NULL},
	{"url_expires", VM_OPT_DURATION, "604800", false, O(url_expires_ms),
	 "lifetime of the link in the mail: seconds or 7d at most (URL_EXPIRATION)", NULL},
	{NULL, 0, NULL, false, 0, NULL, NULL},
};

const vm_plugin vmpipe_plugin = {
	.abi_version = VMPIPE_ABI_VERSION,
	.kind = VM_STAGE_LOCATE,
	.name = "locate-s3",
	.summary = "find the Amazon Connect recording in S3 (listing, or the S3 event's object)",
	.options = options,
	.state_size = sizeof(struct locate_s3),
	.init = init,
	.run = run,
};
