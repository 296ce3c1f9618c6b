/* Job record -> template variables; see vars.h and docs/templates.md. */
#include "vars.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "encode.h"
#include "tzfile.h"
#include "core/job.h" /* job->timezone, job_get() */
#include "core/util.h" /* format_duration() */

#define PREVIEW_CHARS 700 /* the original system's preview length */

const char *const mail_var_names[VAR_COUNT] = {
	[VAR_ID] = "id",
	[VAR_CALLER] = "caller",
	[VAR_DIALED] = "dialed",
	[VAR_RECIPIENT_NAME] = "recipient_name",
	[VAR_RECIPIENT_EMAIL] = "recipient_email",
	[VAR_CONTACT_ID] = "contact_id",
	[VAR_TENANT] = "tenant",
	[VAR_DURATION] = "duration",
	[VAR_DURATION_SECONDS] = "duration_seconds",
	[VAR_TRANSCRIPT] = "transcript",
	[VAR_TRANSCRIPT_PREVIEW] = "transcript_preview",
	[VAR_TRANSCRIPT_STATUS] = "transcript_status",
	[VAR_NO_SPEECH] = "no_speech",
	[VAR_TRANSCRIPT_UNAVAILABLE] = "transcript_unavailable",
	[VAR_RECORDING_MISSING] = "recording_missing",
	[VAR_FOLLOWUP] = "followup",
	[VAR_LANGUAGE] = "language",
	[VAR_URL] = "url",
	[VAR_URL_EXPIRES_AT] = "url_expires_at",
	[VAR_RECEIVED_AT] = "received_at",
	[VAR_DATE] = "date",
	[VAR_ATTACHED] = "attached",
	[VAR_ATTACHMENT_TOO_LARGE] = "attachment_too_large",
	[VAR_ATTACHMENT_FAILED] = "attachment_failed",
	[VAR_ATTACH_MAX] = "attach_max",
	[VAR_CALLER_NAME] = "caller_name",
	[VAR_CALLER_DISPLAY] = "caller_display",
	[VAR_MAILBOX] = "mailbox",
	[VAR_INCOMPLETE] = "incomplete",
	[VAR_RECORDING_FILE] = "recording_file",
	[VAR_TIMEZONE] = "timezone",
	[VAR_RECORDING_NOT_SENT] = "recording_not_sent",
};

void format_human_date(int64_t ms, char *buf, size_t size)
{
	static const char *const months[] = {"January", "February", "March",     "April",
					     "May",     "June",     "July",      "August",
					     "September", "October", "November", "December"};
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (!gmtime_r(&t, &tm)) {
		snprintf(buf, size, "unknown date");
		return;
	}
	snprintf(buf, size, "%d %s %d, %02d:%02d UTC", tm.tm_mday, months[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
}

/*
 * A named zone is read from its zone file (tzfile.c), never by setting TZ:
 * other threads read the environment.  The host's zone is localtime_r()'s.
 */
bool format_human_date_tz(int64_t ms, const char *tz, char *buf, size_t size)
{
	static const char *const months[] = {"January", "February", "March",     "April",
					     "May",     "June",     "July",      "August",
					     "September", "October", "November", "December"};
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char zone[64] = "";
	bool ok;
	if (tz && *tz) {
		int32_t off;
		ok = tz_lookup(tz, (int64_t)t, &off, zone, sizeof zone) == 0;
		time_t local = t + off;
		ok = ok && gmtime_r(&local, &tm) != NULL;
	} else {
		ok = localtime_r(&t, &tm) != NULL;
		if (ok)
			strftime(zone, sizeof zone, "%Z", &tm);
	}
	if (!ok) {
		format_human_date(ms, buf, size);
		return false;
	}
	snprintf(buf, size, "%d %s %d, %02d:%02d %s", tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
		 tm.tm_hour, tm.tm_min, zone[0] ? zone : "UTC");
	return true;
}

bool parse_iso8601(const char *s, int64_t *ms)
{
	int y, mo, d, h, mi, sec, n = 0;
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return false;
	const char *p = s + n;
	int64_t frac = 0;
	if (*p == '.') {
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (digits++ < 3)
				frac = frac * 10 + (*p - '0');
		while (digits++ < 3)
			frac *= 10;
	}
	int64_t off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
			return false;
		off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return false;
	}
	if (*p)
		return false;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
			.tm_hour = h, .tm_min = mi, .tm_sec = sec};
	time_t t = timegm(&tm);
	*ms = ((int64_t)t - off) * 1000 + frac;
	return true;
}

/*
 * A cleaned copy of the job's string at `path`, or of `def` when absent.
 * These are one-line fields (numbers, names, URLs): line breaks and other
 * controls go, wherever the value is used.
 */
static char *get(const vm_job *job, const char *path, const char *def)
{
	const char *v = vm_job_get_str(job, path);
	if (!v || !*v)
		v = def ? def : "";
	return text_clean(v, strlen(v), CLEAN_HEADER);
}

static char *dup_clean(const char *s)
{
	return text_clean(s, strlen(s), CLEAN_BODY);
}

/* Whitespace only counts as no transcript. */
static bool blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			return false;
	return true;
}

/* The first PREVIEW_CHARS characters of `text`, "…" appended when cut. */
static char *preview(const char *text)
{
	size_t i = 0, chars = 0;
	while (text[i] && chars < PREVIEW_CHARS) {
		i += utf8_seq_len((unsigned char)text[i]);
		chars++;
	}
	if (!text[i])
		return strdup(text);
	mbuf b = MBUF_INIT;
	mbuf_add(&b, text, i);
	mbuf_puts(&b, "\xE2\x80\xA6");
	return mbuf_take(&b, NULL);
}

int mail_vars_build(const vm_job *job, const char *recipient_email, const char *first_addr,
		    mail_vars *out)
{
	memset(out, 0, sizeof *out);
	char **v = out->v;
	char buf[64];

	v[VAR_ID] = get(job, "id", NULL);
	v[VAR_CALLER] = get(job, "contact.caller", "unknown");
	v[VAR_DIALED] = get(job, "contact.dialed", NULL);
	v[VAR_RECIPIENT_NAME] = get(job, "recipient.name", first_addr);
	v[VAR_RECIPIENT_EMAIL] = strdup(recipient_email ? recipient_email : ""); /* parsed */
	v[VAR_CONTACT_ID] = get(job, "contact.id", NULL);
	v[VAR_TENANT] = get(job, "tenant", NULL);

	double secs;
	bool have = vm_job_get_num(job, "recording.duration_seconds", &secs) ||
		    vm_job_get_num(job, "transcript.speech_seconds", &secs);
	if (have && secs >= 0 && isfinite(secs)) {
		format_duration(secs, buf, sizeof buf);
		v[VAR_DURATION] = strdup(buf);
		snprintf(buf, sizeof buf, "%lld", (long long)llround(secs < 1e12 ? secs : 0));
		v[VAR_DURATION_SECONDS] = strdup(buf);
	} else {
		v[VAR_DURATION] = strdup("unknown");
		v[VAR_DURATION_SECONDS] = strdup("");
	}

	const char *status = vm_job_get_str(job, "transcript.status");
	const char *text = vm_job_get_str(job, "transcript.text");
	bool has_text = text && !blank(text);
	v[VAR_TRANSCRIPT] = has_text ? dup_clean(text) : strdup("");
	const char *pv = vm_job_get_str(job, "transcript.preview");
	if (has_text && pv && !blank(pv))
		v[VAR_TRANSCRIPT_PREVIEW] = dup_clean(pv);
	else
		v[VAR_TRANSCRIPT_PREVIEW] = v[VAR_TRANSCRIPT] ? preview(v[VAR_TRANSCRIPT]) : NULL;
	v[VAR_TRANSCRIPT_STATUS] = get(job, "transcript.status", "none");
	bool completed = status && strcmp(status, "completed") == 0;
	v[VAR_NO_SPEECH] = strdup(!has_text && completed ? "yes" : "");
	v[VAR_TRANSCRIPT_UNAVAILABLE] = strdup(!has_text && !completed ? "yes" : "");
	v[VAR_LANGUAGE] = get(job, "transcript.language", NULL);
	/* The locate stage gave up: say so, the owner still learns who called. */
	const char *located = vm_job_get_str(job, "stages.locate");
	/* The PBX mailed no recording (attach=no): nothing was missing, none was sent. */
	bool not_sent = json_is_true(job_get(job, "contact.recording_not_sent"));
	v[VAR_RECORDING_NOT_SENT] = strdup(not_sent ? "yes" : "");
	v[VAR_RECORDING_MISSING] = strdup(!not_sent && located && strcmp(located, "failed") == 0 ? "yes" : "");
	/* A retried job whose owner was told of the failure (retry.h). */
	int64_t round = 0;
	v[VAR_FOLLOWUP] = strdup(vm_job_get_int(job, "round", &round) && round > 0 ? "yes" : "");

	/* A recording on this host with no link (no [serve] public_url): a
	 * file:// link would be dead in the owner's mail client, so the mail
	 * says where the file is kept instead. */
	const char *url = vm_job_get_str(job, "recording.url"), *uri = vm_job_get_str(job, "recording.uri");
	bool local = (!url || !*url) && uri && strncmp(uri, "file://", 7) == 0;
	v[VAR_URL] = local ? strdup("") : get(job, url && *url ? "recording.url" : "recording.uri", NULL);
	v[VAR_URL_EXPIRES_AT] = get(job, "recording.url_expires_at", NULL);
	v[VAR_RECEIVED_AT] = get(job, "received_at", NULL);

	/* When the message was left: the PBX's own time (its Date:), else when
	 * vmpipe received it; in the pipeline's zone (`timezone`), else the host's. */
	int64_t ms;
	if (!parse_iso8601(vm_job_get_str(job, "contact.date"), &ms) &&
	    !parse_iso8601(vm_job_get_str(job, "received_at"), &ms))
		ms = vm_now_ms();
	const char *tz = job->timezone;
	format_human_date_tz(ms, tz, buf, sizeof buf);
	v[VAR_DATE] = strdup(buf);
	v[VAR_TIMEZONE] = strdup(tz && *tz ? tz : "");

	v[VAR_CALLER_NAME] = get(job, "contact.caller_name", NULL);
	v[VAR_MAILBOX] = get(job, "contact.mailbox", NULL);
	/* "Robert Banker (+1 555 765 4321)", or whichever of the two is known. */
	const char *cn = v[VAR_CALLER_NAME], *num = vm_job_get_str(job, "contact.caller");
	mbuf disp = MBUF_INIT;
	if (cn && *cn && num && *num && strcmp(cn, v[VAR_CALLER]) != 0)
		mbuf_printf(&disp, "%s (%s)", cn, v[VAR_CALLER]);
	else
		mbuf_puts(&disp, cn && *cn ? cn : v[VAR_CALLER] ? v[VAR_CALLER] : "unknown");
	v[VAR_CALLER_DISPLAY] = mbuf_take(&disp, NULL);

	/* A cut recording: what was recorded and what arrived. */
	bool cut = false;
	double rec, got;
	/* contact.*: what the PBX's mail said (it survives the hand-over to
	 * serve); recording.truncated: what the transcriber found decoding it. */
	cut = json_is_true(job_get(job, "contact.mail_truncated")) ||
	      json_is_true(job_get(job, "recording.truncated"));
	if (cut && vm_job_get_num(job, "contact.recorded_seconds", &rec) &&
	    vm_job_get_num(job, "recording.duration_seconds", &got))
		snprintf(buf, sizeof buf, "%.1f s recorded, %.1f s received", rec, got);
	else
		snprintf(buf, sizeof buf, "%s", cut ? "the recording arrived incomplete" : "");
	v[VAR_INCOMPLETE] = strdup(buf);

	/* A recording only on this host (file://, no link to it): where it is, in words. */
	char path[4096] = "";
	if (local && vm_file_uri_path(uri, path, sizeof path) != 0)
		path[0] = '\0';
	v[VAR_RECORDING_FILE] = text_clean(path, strlen(path), CLEAN_HEADER);
	/* Known once the attachment is fetched: mail_vars_attachment(). */
	for (int k = VAR_ATTACHED; k <= VAR_ATTACH_MAX; k++)
		v[k] = strdup("");

	for (size_t i = 0; i < VAR_COUNT; i++) {
		if (!v[i]) {
			mail_vars_free(out);
			return -1;
		}
	}
	return 0;
}

void mail_vars_free(mail_vars *vars)
{
	for (size_t i = 0; i < VAR_COUNT; i++) {
		free(vars->v[i]);
		vars->v[i] = NULL;
	}
}

void format_size(int64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"KB", "MB", "GB", "TB"};
	if (bytes < 1024) {
		snprintf(buf, size, "%lld bytes", (long long)(bytes > 0 ? bytes : 0));
		return;
	}
	double v = (double)bytes / 1024;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof units / sizeof *units) {
		v /= 1024;
		u++;
	}
	/* One decimal, none when it is .0: "10 MB", "1.5 KB". */
	double tenths = round(v * 10) / 10;
	if (tenths == floor(tenths))
		snprintf(buf, size, "%.0f %s", tenths, units[u]);
	else
		snprintf(buf, size, "%.1f %s", tenths, units[u]);
}

int mail_vars_attachment(mail_vars *vars, enum mail_attach_outcome outcome, int64_t limit)
{
	char buf[32] = "";
	if (limit > 0 && outcome != ATTACH_NONE)
		format_size(limit, buf, sizeof buf);
	const struct {
		enum mail_var k;
		const char *v;
	} set[] = {
		{VAR_ATTACHED, outcome == ATTACH_DONE ? "yes" : ""},
		{VAR_ATTACHMENT_TOO_LARGE, outcome == ATTACH_TOO_LARGE ? "yes" : ""},
		{VAR_ATTACHMENT_FAILED, outcome == ATTACH_FAILED ? "yes" : ""},
		{VAR_ATTACH_MAX, buf},
	};
	for (size_t i = 0; i < sizeof set / sizeof *set; i++) {
		free(vars->v[set[i].k]);
		if (!(vars->v[set[i].k] = strdup(set[i].v))) {
			mail_vars_free(vars);
			return -1;
		}
	}
	return 0;
}
