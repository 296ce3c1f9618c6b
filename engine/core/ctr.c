/* Contact trace records into jobs (see ctr.h). */
#include "ctr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_limits.h"
#include "util.h"

#define ID_MAX 128
#define S3_KEY_MAX 1024
#define FRAGMENT_MAX 128 /* RecordingInfo.FragmentStartNumber: at most 128 */

static const char *str_of(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

bool ctr_is(const json_t *ev)
{
	if (!json_is_object(ev) || !json_is_string(json_object_get(ev, "ContactId")) ||
	    json_object_get(ev, "Details") || json_object_get(ev, "id"))
		return false;
	return json_object_get(ev, "Recordings") || json_object_get(ev, "Recording") ||
	       json_object_get(ev, "Channel") || json_object_get(ev, "InitiationMethod");
}

const char *ctr_filter(void)
{
	const char *f = getenv("VMPIPE_CTR_FILTER");
	return f ? f : CTR_FILTER_DEFAULT;
}

/* The next term of `f` into term[]: its length, 0 at the end, -1 too long. */
static int next_term(const char **f, char *term, size_t size)
{
	while (**f == ',' || **f == ' ')
		(*f)++;
	size_t n = strcspn(*f, ",");
	while (n > 0 && (*f)[n - 1] == ' ')
		n--;
	if (n >= size)
		return -1;
	memcpy(term, *f, n);
	term[n] = '\0';
	*f += strcspn(*f, ",");
	return (int)n;
}

int ctr_filter_check(const char *filter, char *err, size_t errsize)
{
	char term[CTR_FILTER_MAX + 1];
	int n, terms = 0;
	if (!filter || strlen(filter) > CTR_FILTER_MAX) {
		snprintf(err, errsize, "VMPIPE_CTR_FILTER is longer than %d bytes", CTR_FILTER_MAX);
		return -1;
	}
	if (strcmp(filter, "*") == 0)
		return 0;
	for (const char *f = filter; (n = next_term(&f, term, sizeof term)) > 0; terms++) {
		char *eq = strchr(term, '=');
		if (eq)
			*eq = '\0';
		if (!*term || strlen(term) > EV_ATTR_KEY_MAX) {
			snprintf(err, errsize, "VMPIPE_CTR_FILTER term '%.60s%s': no attribute name (or one longer "
				 "than %d) before '='", term, eq ? "=…" : "", EV_ATTR_KEY_MAX);
			return -1;
		}
	}
	if (terms == 0) {
		snprintf(err, errsize, "VMPIPE_CTR_FILTER is empty: set NAME=VALUE terms (e.g. %s), or '*' for "
			 "every contact", CTR_FILTER_DEFAULT);
		return -1;
	}
	return 0;
}

bool ctr_wanted(const json_t *ev, const char *filter)
{
	char err[200];
	if (ctr_filter_check(filter, err, sizeof err) != 0)
		return false;
	if (strcmp(filter, "*") == 0)
		return true;
	json_t *attrs = json_object_get(ev, "Attributes");
	char term[CTR_FILTER_MAX + 1];
	for (const char *f = filter; next_term(&f, term, sizeof term) > 0;) {
		char *eq = strchr(term, '=');
		if (eq)
			*eq++ = '\0';
		const char *v = str_of(attrs, term);
		if (!v || (eq ? strcmp(v, eq) != 0 : !*v))
			return false;
	}
	return true;
}

/* "2024-12-11T15:30:05Z" or with a fraction ("…05.123Z"): ms, or -1. */
static int64_t ctr_time(const char *s)
{
	char buf[32];
	int64_t ms;
	if (!s || strlen(s) >= sizeof buf)
		return -1;
	snprintf(buf, sizeof buf, "%s", s);
	char *dot = strchr(buf, '.');
	int64_t frac = 0;
	if (dot) {
		size_t digits = strspn(dot + 1, "0123456789");
		if (digits == 0 || strcmp(dot + 1 + digits, "Z") != 0)
			return -1;
		for (size_t i = 0; i < 3; i++)
			frac = frac * 10 + (i < digits ? dot[1 + i] - '0' : 0);
		strcpy(dot, "Z");
	}
	if (parse_iso_ms(buf, &ms) != 0)
		return -1;
	return ms + frac;
}

/* How much an entry of Recordings[] is wanted: 0 not at all (not audio,
 * a chat transcript), then KVS, a call recording, the IVR recording. */
static int rank(const json_t *r)
{
	const char *media = str_of(r, "MediaStreamType"), *type = str_of(r, "Type");
	const char *storage = str_of(r, "StorageType"), *who = str_of(r, "ParticipantType");
	if ((media && strcmp(media, "AUDIO") != 0) || (type && strcmp(type, "AUDIO") != 0) ||
	    !str_of(r, "Location"))
		return 0;
	if (storage && strcmp(storage, "KINESIS_VIDEO_STREAM") == 0)
		return 1;
	if (storage && strcmp(storage, "S3") != 0)
		return 0;
	const char *status = str_of(r, "Status");
	int available = !status || strcmp(status, "DELETED") != 0 ? 4 : 0;
	return available + (who && strcmp(who, "IVR") == 0 ? 3 : 2);
}

static const json_t *pick_recording(const json_t *ev)
{
	const json_t *best = NULL;
	int best_rank = 0;
	json_t *recs = json_object_get(ev, "Recordings");
	for (size_t i = 0; json_is_array(recs) && i < json_array_size(recs) && i < CTR_RECORDINGS_MAX; i++) {
		int r = rank(json_array_get(recs, i));
		if (r > best_rank) {
			best = json_array_get(recs, i);
			best_rank = r;
		}
	}
	/* The older single Recording (Location, Status, Type), always in S3. */
	json_t *old = json_object_get(ev, "Recording");
	if (!best && json_is_object(old) && rank(old) > 0)
		best = old;
	return best;
}

static bool bucket_ok(const char *b, size_t n)
{
	return n >= 3 && n <= 63 &&
	       strspn(b, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") >= n;
}

static bool text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static int set_s3(vm_job *job, const json_t *r, char *err, size_t errsize)
{
	const char *loc = str_of(r, "Location");
	const char *status = str_of(r, "Status");
	if (status && strcmp(status, "DELETED") == 0) {
		const char *why = str_of(r, "DeletionReason");
		vm_job_set_str(job, "recording.status", "deleted");
		if (why && text_ok(why, 1024))
			vm_job_set_str(job, "recording.deletion_reason", why);
		return 0;
	}
	const char *slash = strchr(loc, '/');
	if (!slash || !bucket_ok(loc, (size_t)(slash - loc)) || !text_ok(slash + 1, S3_KEY_MAX)) {
		snprintf(err, errsize, "Recordings[].Location '%.200s' is not BUCKET/KEY (an S3 bucket name, "
			 "then a key of at most %d bytes)", loc, S3_KEY_MAX);
		return -1;
	}
	char uri[S3_KEY_MAX + 80];
	snprintf(uri, sizeof uri, "s3://%s", loc);
	if (vm_job_set_str(job, "recording.uri", uri) != 0) {
		snprintf(err, errsize, "Recordings[].Location is not valid UTF-8");
		return -1;
	}
	return 0;
}

static bool fragment_ok(const char *s)
{
	return s && *s && strlen(s) <= FRAGMENT_MAX && strspn(s, "0123456789") == strlen(s);
}

static int set_kvs(vm_job *job, const json_t *r, char *err, size_t errsize)
{
	const char *arn = str_of(r, "Location");
	const char *start = str_of(r, "FragmentStartNumber"), *stop = str_of(r, "FragmentStopNumber");
	if (strncmp(arn, "arn:", 4) != 0 || !strstr(arn, ":kinesisvideo:") || !strstr(arn, ":stream/") ||
	    !text_ok(arn, 1024) || strpbrk(arn, " \"\\")) {
		snprintf(err, errsize, "Recordings[].Location '%.200s' is not a Kinesis video stream ARN", arn);
		return -1;
	}
	if (!fragment_ok(start) || (stop && *stop && !fragment_ok(stop))) {
		snprintf(err, errsize, "Recordings[].FragmentStartNumber/FragmentStopNumber must be fragment "
			 "numbers (decimal digits, at most %d)", FRAGMENT_MAX);
		return -1;
	}
	vm_job_set_str(job, "recording.stream_arn", arn);
	vm_job_set_str(job, "recording.fragment_start", start);
	if (stop && *stop)
		vm_job_set_str(job, "recording.fragment_stop", stop);
	int64_t t = ctr_time(str_of(r, "StartTimestamp"));
	if (t >= 0)
		vm_job_set_int(job, "recording.stream_started_at", t);
	t = ctr_time(str_of(r, "StopTimestamp"));
	if (t >= 0)
		vm_job_set_int(job, "recording.stream_stopped_at", t);
	return 0;
}

/* The fields taken from a CTR, and what each may be. */
static const struct {
	const char *a, *b, *field;
	enum ev_kind kind;
} fields[] = {
	{"InitialContactId", NULL, "InitialContactId", EV_ID},
	{"InstanceARN", NULL, "InstanceARN", EV_ARN},
	{"CustomerEndpoint", "Address", "CustomerEndpoint.Address", EV_CALLER},
	{"SystemEndpoint", "Address", "SystemEndpoint.Address", EV_CALLER},
	{"Attributes", "emailRecipient", "Attributes.emailRecipient", EV_RECIPIENTS},
	{"Attributes", "RecipientName", "Attributes.RecipientName", EV_NAME},
	{"Attributes", "tenant", "Attributes.tenant", EV_TENANT},
	{"Attributes", NULL, "Attributes", EV_ATTRIBUTES},
};

static const char *field_str(const json_t *ev, size_t i)
{
	const json_t *v = json_object_get(ev, fields[i].a);
	return json_string_value(fields[i].b ? json_object_get(v, fields[i].b) : v);
}

static int check_fields(const json_t *ev, char *err, size_t errsize)
{
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		json_t *a = json_object_get(ev, fields[i].a), *v = a;
		if (fields[i].b && a && !json_is_null(a)) {
			if (!json_is_object(a)) {
				snprintf(err, errsize, "contact record field %s must be an object", fields[i].a);
				return -1;
			}
			v = json_object_get(a, fields[i].b);
		} else if (fields[i].b) {
			v = NULL;
		}
		if (ev_check(fields[i].kind, v, fields[i].field, err, errsize) != 0)
			return -1;
	}
	return 0;
}

/* The region is the fourth field of arn:aws:connect:REGION:ACCOUNT:instance/ID. */
static void set_region(vm_job *job, const char *arn)
{
	const char *p = arn && strncmp(arn, "arn:", 4) == 0 ? arn : NULL;
	for (int i = 0; i < 3 && p; i++)
		p = strchr(p + 1, ':');
	const char *e = p ? strchr(p + 1, ':') : NULL;
	if (!e || e - p - 1 <= 0 || e - p - 1 > 30)
		return;
	char region[32];
	snprintf(region, sizeof region, "%.*s", (int)(e - p - 1), p + 1);
	if (is_plain_name(region, 31))
		vm_job_set_str(job, "contact.region", region);
}

static void set_if(vm_job *job, const char *path, const char *v)
{
	if (v && *v)
		vm_job_set_str(job, path, v);
}

enum ctr_result ctr_to_job(const json_t *ev, const char *filter, vm_job **job, char *err, size_t errsize)
{
	*job = NULL;
	const char *id = str_of(ev, "ContactId");
	if (!id || !is_plain_name(id, ID_MAX)) {
		snprintf(err, errsize, "contact record's ContactId is not a plain id (letters, digits, '-', '_', "
			 "'.'; at most %d)", ID_MAX);
		return CTR_BAD;
	}
	if (ctr_filter_check(filter, err, errsize) != 0)
		return CTR_BAD;
	if (!ctr_wanted(ev, filter)) {
		snprintf(err, errsize, "contact record of %s: not a voicemail (its attributes do not match "
			 "VMPIPE_CTR_FILTER '%.200s')", id, filter);
		return CTR_SKIP;
	}
	json_t *attrs = json_object_get(ev, "Attributes");
	if (attrs && !json_is_null(attrs) && !json_is_object(attrs)) {
		snprintf(err, errsize, "contact record field Attributes must be an object");
		return CTR_BAD;
	}
	if (check_fields(ev, err, errsize) != 0)
		return CTR_BAD;
	vm_job *j = job_new(id);
	if (!j) {
		snprintf(err, errsize, "out of memory");
		return CTR_BAD;
	}
	const char *initial = field_str(ev, 0);
	vm_job_set_str(j, "source", "ctr");
	vm_job_set_str(j, "contact.id", id);
	vm_job_set_str(j, "contact.initial_id", initial && *initial ? initial : id);
	set_if(j, "contact.instance_arn", field_str(ev, 1));
	set_region(j, field_str(ev, 1));
	set_if(j, "contact.caller", field_str(ev, 2));
	set_if(j, "contact.dialed", field_str(ev, 3));
	set_if(j, "recipient.email", field_str(ev, 4));
	set_if(j, "recipient.name", field_str(ev, 5));
	set_if(j, "tenant", field_str(ev, 6));
	int64_t t = ctr_time(str_of(ev, "DisconnectTimestamp"));
	if (t >= 0)
		vm_job_set_int(j, "contact.disconnected_at", t);
	if (json_is_object(attrs)) {
		json_t *keep = json_object();
		const char *k;
		json_t *v;
		json_object_foreach(attrs, k, v) if (json_is_string(v)) json_object_set(keep, k, v);
		job_set(j, "contact.attributes", keep);
	}
	const json_t *r = pick_recording(ev);
	const char *storage = r ? str_of(r, "StorageType") : NULL;
	const char *status = r ? str_of(r, "Status") : NULL;
	int rc = 0;
	if (!r)
		vm_job_set_str(j, "recording.status", "none");
	else if (status && strcmp(status, "DELETED") == 0)
		rc = set_s3(j, r, err, errsize); /* says it was deleted, whatever held it */
	else if (storage && strcmp(storage, "KINESIS_VIDEO_STREAM") == 0)
		rc = set_kvs(j, r, err, errsize);
	else
		rc = set_s3(j, r, err, errsize);
	if (rc != 0) {
		job_free(j);
		return CTR_BAD;
	}
	*job = j;
	return CTR_JOB;
}
