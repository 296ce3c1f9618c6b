/* Kinesis records of contact trace records (see kinesis_event.h). */
#include "kinesis_event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/event.h"
#include "core/log.h"
#include "mail/read.h"

static const char *str_of(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

bool kinesis_is_batch(const json_t *ev)
{
	const char *src = str_of(json_array_get(json_object_get(ev, "Records"), 0), "eventSource");
	return src && strcmp(src, "aws:kinesis") == 0;
}

bool kinesis_is_record(const json_t *ev)
{
	const char *src = str_of(ev, "eventSource");
	return src && strcmp(src, "aws:kinesis") == 0 && !json_object_get(ev, "Records");
}

int kinesis_record_data(const json_t *rec, char **text, size_t *len, char *why, size_t whysize)
{
	*text = NULL;
	*len = 0;
	json_t *k = json_object_get(rec, "kinesis");
	json_t *data = json_object_get(json_is_object(k) ? k : rec, "data");
	if (json_is_object(data)) { /* EventBridge Pipes hands JSON data on as JSON */
		*text = json_dumps(data, JSON_COMPACT);
		if (!*text) {
			snprintf(why, whysize, "out of memory");
			return -1;
		}
		*len = strlen(*text);
		return 0;
	}
	if (!json_is_string(data) || json_string_length(data) == 0) {
		snprintf(why, whysize, "a Kinesis record without data (kinesis.data, a base64 string)");
		return -1;
	}
	if (json_string_length(data) > (KINESIS_DATA_MAX / 3 + 1) * 4) {
		snprintf(why, whysize, "a Kinesis record's data is larger than %d bytes", KINESIS_DATA_MAX);
		return -1;
	}
	size_t n = 0;
	unsigned char *raw = mr_base64(json_string_value(data), json_string_length(data), &n);
	char *t = raw ? realloc(raw, n + 1) : NULL;
	if (!t) {
		free(raw);
		snprintf(why, whysize, "a Kinesis record whose data is not base64");
		return -1;
	}
	t[n] = '\0';
	if (memchr(t, '\0', n)) {
		free(t);
		snprintf(why, whysize, "a Kinesis record whose data holds a NUL byte: not a contact record");
		return -1;
	}
	*text = t;
	*len = n;
	return 0;
}

/* One record: KINESIS_OK when it is done with (run, or not a voicemail). */
static enum kinesis_item one(const json_t *rec, const char *seq, kinesis_run_fn run, void *ctx)
{
	char *text = NULL, why[1024];
	size_t len = 0;
	if (kinesis_record_data(rec, &text, &len, why, sizeof why) != 0) {
		/* Reported: the mapping's retry policy ends at its on-failure destination. */
		log_msg(NULL, "intake", VM_LOG_ERROR, "Kinesis record %s: %s", seq, why);
		return KINESIS_AGAIN;
	}
	bool skipped = false;
	vm_job *job = event_to_job_or_skip(text, len, &skipped, why, sizeof why);
	free(text);
	if (skipped) {
		log_msg(NULL, "intake", VM_LOG_DEBUG, "Kinesis record %s: %s: acknowledged", seq, why);
		return KINESIS_OK;
	}
	if (!job) {
		log_msg(NULL, "intake", VM_LOG_ERROR, "Kinesis record %s: %s", seq, why);
		return KINESIS_AGAIN;
	}
	char owner[200];
	snprintf(owner, sizeof owner, "kinesis:%.180s", seq);
	log_msg(job, "intake", VM_LOG_INFO, "contact record (Kinesis record %s)", seq);
	return run(ctx, job, owner);
}

json_t *kinesis_batch(const json_t *ev, int64_t hard_ms, kinesis_run_fn run, void *ctx)
{
	json_t *failures = json_array();
	json_t *recs = json_object_get(ev, "Records");
	size_t i;
	json_t *rec;
	json_array_foreach(recs, i, rec)
	{
		const char *seq = str_of(json_object_get(rec, "kinesis"), "sequenceNumber");
		if (!seq || !*seq) {
			/* Nothing to name it by: Lambda takes an empty identifier as a
			 * failure of the whole batch, which is what it is. */
			log_msg(NULL, "intake", VM_LOG_ERROR, "Kinesis record %zu has no kinesis.sequenceNumber", i);
			json_array_append_new(failures, json_pack("{s:s}", "itemIdentifier", ""));
			continue;
		}
		enum kinesis_item it = KINESIS_AGAIN;
		if (hard_ms && clock_now_ms() >= hard_ms)
			log_msg(NULL, "intake", VM_LOG_WARN, "no time left for Kinesis record %s: it comes again", seq);
		else
			it = one(rec, seq, run, ctx);
		if (it == KINESIS_AGAIN)
			json_array_append_new(failures, json_pack("{s:s}", "itemIdentifier", seq));
	}
	return json_pack("{s:o}", "batchItemFailures", failures);
}
