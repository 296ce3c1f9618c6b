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
#include "runtime/pbx/handover.h"

/* The envelope lines `vmpipe sendmail` puts before a mail (handover.h):
 * each value into `out` (at most `max`), the rest of the mail after them. */
static bool take_line(const char **p, const char *end, const char *head, char *out, size_t max)
{
	size_t h = strlen(head);
	if ((size_t)(end - *p) < h || memcmp(*p, head, h) != 0)
		return false;
	const char *v = *p + h, *nl = memchr(v, '\n', (size_t)(end - v));
	if (!nl)
		return false;
	size_t n = (size_t)(nl - v);
	if (n >= max)
		n = max - 1;
	memcpy(out, v, n);
	out[n] = '\0';
	*p = nl + 1;
	return true;
}

#define RCPT_MAX 16

/* A mail: sendmail's envelope lines off, then what pbxmail makes of it. */
static enum drop_kind mail(const char *data, size_t len, struct drop *d, char *err, size_t errsize)
{
	const char *p = data, *end = data + len;
	char refused[600] = "", from[320] = "", to[RCPT_MAX][320];
	char *rcpt[RCPT_MAX + 1] = {0};
	size_t nr = 0;
	for (;;) {
		if (take_line(&p, end, HANDOVER_REFUSED, refused, sizeof refused) ||
		    take_line(&p, end, HANDOVER_FROM, from, sizeof from))
			continue;
		if (nr < RCPT_MAX && take_line(&p, end, HANDOVER_TO, to[nr], sizeof to[nr])) {
			rcpt[nr] = to[nr];
			nr++;
			continue;
		}
		break;
	}
	if (*refused) {
		snprintf(err, errsize, "refused by vmpipe sendmail: %s", refused);
		return d->kind = DROP_BAD;
	}
	enum pbxmail_kind k = pbxmail_parse(p, (size_t)(end - p), rcpt, *from ? from : NULL, &d->mail, err,
					    errsize);
	if (k != PBXMAIL_VOICEMAIL) {
		char e[600];
		snprintf(e, sizeof e, "%s", err);
		snprintf(err, errsize, "%s: %s", k == PBXMAIL_OTHER ? "not a voicemail" : "a broken voicemail mail",
			 e);
		return d->kind = DROP_BAD;
	}
	return d->kind = DROP_MAIL;
}

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
	if (data[i] != '{')
		return mail(data, len, d, err, errsize);
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
