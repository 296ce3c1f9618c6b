#include "event.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "ctr.h"
#include "event_limits.h"
#include "log.h"
#include "util.h"

#define EXPECTED                                                                           \
	"expected an Amazon Connect contact-flow event (Details.ContactData.ContactId), an Amazon " \
	"Connect contact record (ContactId, Recordings), an S3 ObjectCreated notification "        \
	"(Records[].s3) or a vmpipe job record (id, contact, …)"

/* Ids end up in file names and S3 keys: keep them plain. */
#define ID_MAX 128

static const char *str_at(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);
	if (b)
		v = json_object_get(v, b);
	return json_string_value(v);
}

static void set_if(vm_job *job, const char *path, const char *v)
{
	if (v && *v)
		vm_job_set_str(job, path, v);
}

/* The region is the fourth field of arn:aws:connect:REGION:ACCOUNT:instance/ID. */
static void set_region_from_arn(vm_job *job, const char *arn)
{
	if (!arn || strncmp(arn, "arn:", 4) != 0)
		return;
	const char *p = arn;
	for (int i = 0; i < 3 && p; i++)
		p = strchr(p + 1, ':');
	if (!p)
		return;
	const char *e = strchr(p + 1, ':');
	if (!e || e - p - 1 <= 0 || e - p - 1 > 30)
		return;
	char region[32];
	snprintf(region, sizeof region, "%.*s", (int)(e - p - 1), p + 1);
	vm_job_set_str(job, "contact.region", region);
}

/* The fields of a Connect event the engine takes, and what each may be. */
static const struct connect_field {
	const char *a, *b; /* Details.ContactData.a(.b) */
	const char *field; /* for messages */
	enum ev_kind kind;
} connect_fields[] = {
	{"InstanceARN", NULL, "Details.ContactData.InstanceARN", EV_ARN},
	{"CustomerEndpoint", "Address", "Details.ContactData.CustomerEndpoint.Address", EV_CALLER},
	{"SystemEndpoint", "Address", "Details.ContactData.SystemEndpoint.Address", EV_CALLER},
	{"Attributes", "emailRecipient", "Details.ContactData.Attributes.emailRecipient", EV_RECIPIENTS},
	{"Attributes", "RecipientName", "Details.ContactData.Attributes.RecipientName", EV_NAME},
	{"Attributes", "tenant", "Details.ContactData.Attributes.tenant", EV_TENANT},
	{"Attributes", NULL, "Details.ContactData.Attributes", EV_ATTRIBUTES}, /* the rest, as a whole */
};

/* cd.a(.b) into *v (NULL when absent or null); -1 when cd.a is there but
 * not an object to look b up in. */
static int connect_value(json_t *cd, const struct connect_field *f, json_t **v, char *err,
			 size_t errsize)
{
	json_t *a = json_object_get(cd, f->a);
	if (!f->b || !a || json_is_null(a)) {
		*v = f->b ? NULL : a;
		return 0;
	}
	if (!json_is_object(a)) {
		snprintf(err, errsize, "Details.ContactData.%s must be an object", f->a);
		return -1;
	}
	*v = json_object_get(a, f->b);
	return 0;
}

static vm_job *from_connect(json_t *ev, char *err, size_t errsize)
{
	json_t *cd = json_object_get(json_object_get(ev, "Details"), "ContactData");
	if (!json_is_object(cd)) {
		snprintf(err, errsize, "Connect event has no Details.ContactData object; " EXPECTED);
		return NULL;
	}
	const char *id = str_at(cd, "ContactId", NULL);
	if (!id || !*id) {
		snprintf(err, errsize, "Connect event has no Details.ContactData.ContactId string");
		return NULL;
	}
	if (!is_plain_name(id, ID_MAX)) {
		snprintf(err, errsize, "Details.ContactData.ContactId is not a plain id (letters, digits, '-', '_', '.'; at most %d)",
			 ID_MAX);
		return NULL;
	}
	const char *initial = str_at(cd, "InitialContactId", NULL);
	if (initial && *initial && !is_plain_name(initial, ID_MAX)) {
		snprintf(err, errsize, "Details.ContactData.InitialContactId is not a plain id");
		return NULL;
	}
	json_t *attrs = json_object_get(cd, "Attributes");
	if (json_is_null(attrs))
		attrs = NULL;
	if (attrs && !json_is_object(attrs)) {
		snprintf(err, errsize, "Details.ContactData.Attributes must be an object");
		return NULL;
	}
	for (size_t i = 0; i < sizeof connect_fields / sizeof *connect_fields; i++) {
		const struct connect_field *f = &connect_fields[i];
		json_t *v = NULL;
		if (connect_value(cd, f, &v, err, errsize) != 0 || ev_check(f->kind, v, f->field, err, errsize) != 0)
			return NULL;
	}
	vm_job *job = job_new(id);
	if (!job)
		return NULL;
	vm_job_set_str(job, "source", "connect");
	vm_job_set_str(job, "contact.id", id);
	vm_job_set_str(job, "contact.initial_id", initial && *initial ? initial : id);
	const char *arn = str_at(cd, "InstanceARN", NULL);
	set_if(job, "contact.instance_arn", arn);
	set_region_from_arn(job, arn);
	set_if(job, "contact.caller", str_at(cd, "CustomerEndpoint", "Address"));
	set_if(job, "contact.dialed", str_at(cd, "SystemEndpoint", "Address"));
	set_if(job, "recipient.email", str_at(attrs, "emailRecipient", NULL));
	set_if(job, "recipient.name", str_at(attrs, "RecipientName", NULL));
	set_if(job, "tenant", str_at(attrs, "tenant", NULL)); /* a plain name: checked above */
	/* Keep the string attributes: plugins read e.g. a language code from them. */
	if (attrs) {
		json_t *keep = json_object();
		const char *k;
		json_t *v;
		json_object_foreach(attrs, k, v) if (json_is_string(v)) json_object_set(keep, k, v);
		job_set(job, "contact.attributes", keep);
	}
	return job;
}

/* Connect names recordings {InitialContactId}_{YYYYMMDDTHH:MM}_UTC.wav. */
static vm_job *from_s3(json_t *ev, char *err, size_t errsize)
{
	json_t *recs = json_object_get(ev, "Records");
	if (!json_is_array(recs) || json_array_size(recs) != 1) {
		snprintf(err, errsize, "S3 notification must carry exactly one record (got %zu)",
			 json_array_size(recs));
		return NULL;
	}
	json_t *r = json_array_get(recs, 0);
	const char *name = str_at(r, "eventName", NULL);
	if (!name || strncmp(name, "ObjectCreated:", 14) != 0) {
		snprintf(err, errsize, "S3 notification is not an ObjectCreated event (eventName '%.60s')",
			 name ? name : "");
		return NULL;
	}
	json_t *s3 = json_object_get(r, "s3");
	const char *bucket = str_at(s3, "bucket", "name");
	const char *key = str_at(s3, "object", "key");
	if (!bucket || !key || !*bucket || !*key) {
		snprintf(err, errsize, "S3 notification lacks s3.bucket.name or s3.object.key");
		return NULL;
	}
	/* S3's rules, with the legacy names (capitals, '_') a us-east-1 bucket may have. */
	size_t bl = strlen(bucket);
	if (bl > 63 || strspn(bucket, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != bl) {
		snprintf(err, errsize, "Records[0].s3.bucket.name is not an S3 bucket name (at most 63 of a-z 0-9 . - _)");
		return NULL;
	}
	if (ev_check(EV_REGION, json_object_get(r, "awsRegion"), "Records[0].awsRegion", err, errsize) != 0)
		return NULL;
	/* S3 event keys are URL-encoded with '+' for spaces.  Every '%' must start
	 * two hex digits (S3 writes a literal '%' as %25), never %00: a key cut at
	 * a NUL or read through sscanf's sign/space leniency is another key. */
	char dkey[1100]; /* S3 keys are at most 1024 bytes */
	size_t n = 0;
	for (const char *p = key; *p; p++) {
		if (n + 1 >= sizeof dkey) {
			snprintf(err, errsize, "S3 object key is longer than %zu bytes", sizeof dkey - 1);
			return NULL;
		}
		if (*p == '+')
			dkey[n++] = ' ';
		else if (*p == '%') {
			static const char hex[] = "0123456789abcdef";
			const char *hi = p[1] ? strchr(hex, tolower((unsigned char)p[1])) : NULL;
			const char *lo = hi && p[2] ? strchr(hex, tolower((unsigned char)p[2])) : NULL;
			int c = lo ? (int)((hi - hex) * 16 + (lo - hex)) : 0;
			if (c == 0) {
				snprintf(err, errsize, "S3 object key is badly URL-encoded");
				return NULL;
			}
			dkey[n++] = (char)c;
			p += 2;
		} else
			dkey[n++] = *p;
	}
	dkey[n] = '\0';
	const char *base = strrchr(dkey, '/');
	base = base ? base + 1 : dkey;
	char id[ID_MAX + 1];
	size_t idn = strcspn(base, "_.");
	if (idn == 0 || idn > ID_MAX) {
		snprintf(err, errsize, "cannot derive a contact id from S3 key '%.200s'", dkey);
		return NULL;
	}
	snprintf(id, sizeof id, "%.*s", (int)idn, base);
	if (!is_plain_name(id, ID_MAX)) {
		snprintf(err, errsize, "S3 key '%.200s' does not start with a plain contact id", dkey);
		return NULL;
	}
	vm_job *job = job_new(id);
	char uri[1200];
	snprintf(uri, sizeof uri, "s3://%s/%s", bucket, dkey);
	vm_job_set_str(job, "source", "s3");
	vm_job_set_str(job, "contact.id", id);
	vm_job_set_str(job, "contact.initial_id", id);
	vm_job_set_str(job, "recording.uri", uri);
	json_t *size = json_object_get(json_object_get(s3, "object"), "size");
	if (json_is_integer(size))
		vm_job_set_int(job, "recording.size", json_integer_value(size));
	const char *region = str_at(r, "awsRegion", NULL);
	set_if(job, "contact.region", region);
	return job;
}

/* Field types a job record must have when present. */
static const struct { const char *path; json_type type; } record_types[] = {
	{"contact", JSON_OBJECT}, {"recipient", JSON_OBJECT}, {"recording", JSON_OBJECT},
	{"transcript", JSON_OBJECT}, {"notifications", JSON_ARRAY}, {"errors", JSON_ARRAY},
	{"stages", JSON_OBJECT},
};

/* The fields a job record may set, and what each may be. */
static const struct { const char *path; enum ev_kind kind; } record_fields[] = {
	{"tenant", EV_TENANT}, {"received_at", EV_TIME},
	{"contact.id", EV_ID}, {"contact.initial_id", EV_ID},
	{"contact.instance_arn", EV_ARN}, {"contact.region", EV_REGION},
	{"contact.caller", EV_CALLER}, {"contact.dialed", EV_CALLER},
	/* what `vmpipe sendmail` reads from a PBX's mail (engine/mail/pbxmail.c) */
	{"contact.caller_name", EV_NAME}, {"contact.mailbox", EV_CALLER}, {"contact.context", EV_CALLER},
	{"contact.attributes", EV_ATTRIBUTES},
	{"recipient.email", EV_RECIPIENTS}, {"recipient.name", EV_NAME},
	{"recording.uri", EV_URI},
};

/*
 * What the pipeline derives is never taken from outside: the link in the mail
 * and its expiry, sizes, durations, transcripts, the record of what was sent
 * and of what failed.  A record names the call (contact, recipient, tenant,
 * received_at) and at most where the recording is (recording.uri, which the
 * locate stage checks); everything else under recording goes too, because
 * locate writes it (content type, the located file's identity, its own
 * bookkeeping).  Names of what was dropped go into `dropped` for the log.
 */
static const char *const derived_fields[] = {"transcript", "notifications", "errors", "stages",
					       "attempts", "state", "timeout_at", "suspended_until", "claim",
					       "round", "outcome"};

/* Append ", name" (or "name" first) to the list in buf; what does not fit is left out. */
static void note(char *buf, size_t size, const char *prefix, const char *name)
{
	size_t n = strlen(buf);
	snprintf(buf + n, size - n, "%s%s%.40s", n ? ", " : "", prefix, name);
}

static void drop_derived(vm_job *job, char *dropped, size_t size)
{
	dropped[0] = '\0';
	json_t *recording = job_get(job, "recording");
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(recording, tmp, k, v)
	{
		if (strcmp(k, "uri") == 0)
			continue;
		note(dropped, size, "recording.", k);
		json_object_del(recording, k);
	}
	for (size_t i = 0; i < sizeof derived_fields / sizeof *derived_fields; i++) {
		json_t *f = job_get(job, derived_fields[i]);
		/* The engine's own empty starting values are no news. */
		bool empty = (json_is_array(f) && json_array_size(f) == 0) ||
			     (json_is_integer(f) && json_integer_value(f) == 0) ||
			     (json_is_string(f) && strcmp(json_string_value(f), "pending") == 0);
		if (f && !empty)
			note(dropped, size, "", derived_fields[i]);
		job_set(job, derived_fields[i], NULL);
	}
}

static vm_job *from_record(json_t *ev, char *err, size_t errsize)
{
	const char *id = str_at(ev, "id", NULL);
	if (!id || !is_plain_name(id, ID_MAX)) {
		snprintf(err, errsize, "job record 'id' must be a plain id (letters, digits, '-', '_', '.'; at most %d)",
			 ID_MAX);
		return NULL;
	}
	vm_job *job = job_from_json(json_incref(ev));
	for (size_t i = 0; i < sizeof record_types / sizeof *record_types; i++) {
		json_t *v = job_get(job, record_types[i].path);
		if (v && json_typeof(v) != record_types[i].type) {
			snprintf(err, errsize, "job record field '%s' has the wrong type", record_types[i].path);
			job_free(job);
			return NULL;
		}
	}
	for (size_t i = 0; i < sizeof record_fields / sizeof *record_fields; i++) {
		char field[64];
		snprintf(field, sizeof field, "job record field '%s'", record_fields[i].path);
		json_t *v = job_get(job, record_fields[i].path);
		/* A record is written by a program: null is a mistake, not "unset". */
		if (json_is_null(v))
			snprintf(err, errsize, "%s must be %s (got null)", field,
				 record_fields[i].kind == EV_ATTRIBUTES ? "an object" : "a string");
		if (json_is_null(v) || ev_check(record_fields[i].kind, v, field, err, errsize) != 0) {
			job_free(job);
			return NULL;
		}
	}
	char dropped[400];
	drop_derived(job, dropped, sizeof dropped);
	if (*dropped)
		log_msg(job, "intake", VM_LOG_WARN,
			"job record: ignored what the pipeline derives itself (%s)", dropped);
	if (!job_get(job, "received_at")) {
		char ts[32];
		vm_format_time(vm_now_ms(), ts, sizeof ts);
		vm_job_set_str(job, "received_at", ts);
	}
	if (!job_get(job, "contact.id"))
		vm_job_set_str(job, "contact.id", id);
	if (!job_get(job, "contact.initial_id"))
		vm_job_set_str(job, "contact.initial_id", vm_job_get_str(job, "contact.id"));
	/* A record handed in from outside starts from the beginning: trusting its
	 * "stages" would let it skip locate, the only check on recording.uri, and
	 * its "notifications" would stop a mail that was never sent.  A record
	 * run again is not mailed twice because of the checkpoint ([pipeline]
	 * state), which is the engine's own. */
	job_set(job, "notifications", json_array());
	job_set(job, "errors", json_array());
	vm_job_set_int(job, "attempts", 0);
	vm_job_set_str(job, "state", "pending");
	return job;
}

vm_job *event_to_job(const char *text, size_t len, char *err, size_t errsize)
{
	return event_to_job_or_skip(text, len, NULL, err, errsize);
}

vm_job *event_to_job_or_skip(const char *text, size_t len, bool *skipped, char *err, size_t errsize)
{
	if (skipped)
		*skipped = false;
	if (len > EVENT_MAX_BYTES) {
		snprintf(err, errsize, "event is %zu bytes; the limit is %d", len, EVENT_MAX_BYTES);
		return NULL;
	}
	json_error_t e;
	json_t *ev = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
	if (!ev) {
		snprintf(err, errsize, "event is not valid JSON (line %d column %d: %s); " EXPECTED, e.line,
			 e.column, e.text);
		return NULL;
	}
	vm_job *job = NULL;
	if (!json_is_object(ev))
		snprintf(err, errsize, "event is not a JSON object; " EXPECTED);
	else if (ctr_is(ev)) {
		if (ctr_to_job(ev, ctr_filter(), &job, err, errsize) == CTR_SKIP && skipped)
			*skipped = true;
	} else if (json_object_get(ev, "Details"))
		job = from_connect(ev, err, errsize);
	else if (json_object_get(ev, "Records"))
		job = from_s3(ev, err, errsize);
	else if (json_object_get(ev, "id"))
		job = from_record(ev, err, errsize);
	else
		snprintf(err, errsize, "unrecognised event; " EXPECTED);
	json_decref(ev);
	if (job && !vm_job_get_str(job, "recipient.email"))
		log_msg(job, "intake", VM_LOG_WARN,
			"event names no recipient (Details.ContactData.Attributes.emailRecipient): "
			"notifiers use their configured 'to'");
	return job;
}
