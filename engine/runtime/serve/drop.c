/*
 * A dropped file's bytes (drop.h).  A JSON object is an event or a retry
 * request; anything else must be a voicemail mail.
 */
#include "drop.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/event.h"
#include "core/util.h"

enum drop_kind drop_parse(const char *data, size_t len, struct drop *d, char *err, size_t errsize)
{
	memset(d, 0, sizeof *d);
	size_t i = 0;
	while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
		i++;
	if (i == len) {
		snprintf(err, errsize, "an empty file");
		return d->kind = DROP_BAD;
	}
	if (data[i] != '{') {
		if (pbxmail_parse(data, len, NULL, &d->mail, err, errsize) != 0) {
			char e[600];
			snprintf(e, sizeof e, "%s", err);
			snprintf(err, errsize, "neither a JSON event nor a voicemail mail: %s", e);
			return d->kind = DROP_BAD;
		}
		return d->kind = DROP_MAIL;
	}
	if (len > EVENT_MAX_BYTES) {
		snprintf(err, errsize, "bad event: %zu bytes; the limit is %d", len, EVENT_MAX_BYTES);
		return d->kind = DROP_BAD;
	}
	json_t *req = json_loadb(data, len, 0, NULL);
	json_t *r = json_object_get(req, "vmpipe_retry");
	if (r) {
		const char *id = json_string_value(r);
		if (!id || !is_plain_name(id, 128)) {
			snprintf(err, errsize, "a retry request names no plain job id");
			d->kind = DROP_BAD;
		} else {
			snprintf(d->retry_id, sizeof d->retry_id, "%s", id);
			d->kind = DROP_RETRY;
		}
		json_decref(req);
		return d->kind;
	}
	json_decref(req);
	char e[1024];
	d->job = event_to_job(data, len, e, sizeof e);
	if (!d->job) {
		snprintf(err, errsize, "bad event: %s", e);
		return d->kind = DROP_BAD;
	}
	return d->kind = DROP_EVENT;
}

void drop_free(struct drop *d)
{
	if (d->kind == DROP_MAIL)
		pbxmail_free(&d->mail);
	job_free(d->job);
	memset(d, 0, sizeof *d);
}
