/*
 * libFuzzer: the mail builder (vm_mail_build: engine/mail/vars.c, template.c,
 * address.c, header.c, mime.c, encode.c) on any job record.
 *
 * Input: a flags byte, then the record's fields separated by NUL bytes, in
 * this order (a missing or empty one is not set):
 *   contact.caller, recipient.email, recipient.name, transcript.text,
 *   transcript.status, transcript.preview, recording.url,
 *   recording.url_expires_at, received_at, id, tenant, contact.id,
 *   contact.dialed, transcript.language, recording.content_type,
 *   recording.duration_seconds, transcript.speech_seconds
 * Every value is a string as JSON can hold it (invalid UTF-8 is repaired:
 * a record is JSON), but the last two, numbers: text for strtod(), or
 * exactly 8 bytes taken as the double (any a JSON number can be).
 * Flags: 1 attach the recording (a seed WAV of tests/fuzz/corpus/wav), 2 the
 * notifier has cc, bcc and reply_to, 4 the locate stage failed
 * (stages.locate), 8 attach only smaller than 64 bytes.
 *
 * A message that is built must pass mail_check() (mail_check.h): known
 * headers only, CRLF everywhere, no line over 998, the Subject that the
 * caller id gives, recipients where they belong, the MIME tree parsing back.
 * A refusal is a permanent failure with a message (a recipient that is not
 * an address), never a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/job.h"
#include "core/log.h"
#include "mail/default_templates.h"
#include "mail/encode.h"
#include "mail/mail.h"
#include "mail_check.h"
#include "fuzz.h"

enum { F_ATTACH = 1, F_COPIES = 2, F_MISSING = 4, F_SMALLER = 8 };

static const char *const paths[] = {
	"contact.caller",     "recipient.email",          "recipient.name",
	"transcript.text",    "transcript.status",        "transcript.preview",
	"recording.url",      "recording.url_expires_at", "received_at",
	"id",                 "tenant",                   "contact.id",
	"contact.dialed",     "transcript.language",      "recording.content_type",
	"recording.duration_seconds", "transcript.speech_seconds",
};
#define NPATHS (sizeof paths / sizeof paths[0])
#define NUMBERS_FROM 15 /* the last two are numbers */

#define BCC "archive-bcc@records.example.net"
#define SUBJECT_PREFIX "Voicemail message from: "

/* opts[copies][attach]: loaded once. */
static vm_mail_opts opts[2][3];
static char attach_uri[4200];
static long attach_len = -1;

static void setup(void)
{
	log_setup(VM_LOG_ERROR + 0, LOG_FORMAT_JSON);
	/* A small real recording to attach: run from the repository root (run.sh). */
	char path[4096];
	if (realpath("tests/fuzz/corpus/wav/connect-pcm16-8k.wav", path)) {
		struct stat st;
		if (stat(path, &st) == 0) {
			snprintf(attach_uri, sizeof attach_uri, "file://%s", path);
			attach_len = (long)st.st_size;
		}
	}
	for (int copies = 0; copies < 2; copies++) {
		for (int a = 0; a < 3; a++) {
			vm_mail_opts *o = &opts[copies][a];
			memset(o, 0, sizeof *o);
			o->from = "Voicemail <voicemail@pbx.example.com>";
			o->to = "Front Desk <frontdesk@example.com>"; /* when the job names none */
			if (copies) {
				o->cc = "\"Doe, Jane\" <jane.doe@example.com>, ops@example.org";
				o->bcc = BCC;
				o->reply_to = "Support <support@example.com>";
			}
			o->attach = a == 0 ? VM_ATTACH_NO : a == 1 ? VM_ATTACH_YES : VM_ATTACH_SMALLER;
			o->attach_max = a == 2 ? 64 : 10 << 20;
			char err[512];
			CHECK(mail_setup(NULL, o, err, sizeof err) == 0, "mail_setup: %s", err);
		}
	}
}

/* The Subject the default subject template gives for this record. */
static char *expected_subject(const vm_job *job)
{
	const char *caller = vm_job_get_str(job, "contact.caller");
	if (!caller || !*caller)
		caller = "unknown";
	char *clean = text_clean(caller, strlen(caller), CLEAN_HEADER);
	CHECK(clean, "out of memory");
	size_t n = strlen(SUBJECT_PREFIX) + strlen(clean);
	char *s = malloc(n + 1);
	CHECK(s, "out of memory");
	snprintf(s, n + 1, "%s%s", SUBJECT_PREFIX, clean);
	free(clean);
	while (n && s[n - 1] == ' ')
		s[--n] = '\0';
	return s;
}

/* Every string of the record, control characters left out as a header
 * drops them (text_clean_to: C0, DEL and C1, so "exampl\036archive-bcc@…"
 * and "….n\u0085et" show as "…archive-bcc@….net"), joined with spaces into
 * *buf; does the result hold `text` (any case)? */
static void job_texts(json_t *v, char **buf, size_t *len)
{
	const char *k;
	json_t *x;
	size_t i;
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *grown = realloc(*buf, *len + strlen(s) + 2);
		if (!grown)
			return;
		*buf = grown;
		for (; *s; s++) {
			unsigned char c = (unsigned char)*s;
			if (c == 0xc2 && (unsigned char)s[1] >= 0x80 && (unsigned char)s[1] <= 0x9f)
				s++; /* a C1 control (U+0080-U+009F) */
			else if (c >= 0x20 && c != 0x7f)
				grown[(*len)++] = *s;
		}
		grown[(*len)++] = ' ';
		grown[*len] = '\0';
	} else if (json_is_object(v)) {
		json_object_foreach(v, k, x)
		job_texts(x, buf, len);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x)
		job_texts(x, buf, len);
	}
}

static bool job_holds_text(json_t *rec, const char *text)
{
	char *buf = NULL;
	size_t len = 0;
	job_texts(rec, &buf, &len);
	bool found = buf && strcasestr(buf, text);
	free(buf);
	return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		setup();
		ready = true;
	}
	if (size < 1)
		return 0;
	unsigned flags = data[0];
	const char *p = (const char *)data + 1, *end = (const char *)data + size;

	vm_job *job = job_new("fuzz-job");
	CHECK(job, "out of memory");
	vm_job_set_str(job, "received_at", NULL);
	const char *email = NULL;
	for (size_t i = 0; i < NPATHS && p <= end; i++) {
		const char *z = memchr(p, '\0', (size_t)(end - p));
		size_t n = (size_t)((z ? z : end) - p);
		if (n) {
			char *v = text_clean(p, n, CLEAN_UTF8);
			CHECK(v, "out of memory");
			if (i >= NUMBERS_FROM) {
				/* Text, or 8 bytes taken as the double itself: a JSON
				 * number can be any finite double. */
				char *e;
				double d = strtod(v, &e);
				if (n == sizeof d)
					memcpy(&d, p, sizeof d);
				if (n == sizeof d || (e != v && !*e))
					vm_job_set_num(job, paths[i], d);
			} else {
				CHECK(vm_job_set_str(job, paths[i], v) == 0, "cannot set %s", paths[i]);
			}
			free(v);
		}
		if (!z)
			break;
		p = z + 1;
	}
	email = vm_job_get_str(job, "recipient.email");
	if (flags & F_MISSING)
		vm_job_set_str(job, "stages.locate", "failed");
	bool attach = (flags & F_ATTACH) && attach_len >= 0;
	if (attach)
		vm_job_set_str(job, "recording.uri", attach_uri);
	int a = !attach ? 0 : (flags & F_SMALLER) ? 2 : 1;
	const vm_mail_opts *o = &opts[(flags & F_COPIES) ? 1 : 0][a];

	vm_mail m;
	vm_status st = vm_mail_build(job, o, &m);
	if (st != VM_DONE) {
		CHECK(st == VM_PERMANENT, "status %d (only a bad recipient is refused)", st);
		CHECK(job->fail_msg && strstr(job->fail_msg, "recipient"),
		      "refused without naming the recipient: %s", job->fail_msg ? job->fail_msg : "(none)");
		CHECK(email && *email, "refused a job without a recipient: %s", job->fail_msg);
		CHECK(!m.data && !m.rcpt, "a refusal left a message");
		job_free(job);
		return 0;
	}
	CHECK(m.data && m.len == strlen(m.data), "message of %zu bytes, strlen %zu", m.len,
	      m.data ? strlen(m.data) : 0);
	CHECK(m.rcpt && m.message_id && m.envelope_from, "incomplete vm_mail");

	char *subject = expected_subject(job);
	/* The Bcc is no recipient To or Cc must show.  The job may hold its
	 * text (as a To, or in a caller "x@evil.examplarchive-bcc@…", and inside
	 * another address): headers then show that text by right and are not
	 * searched for it. */
	bool bcc_hidden = flags & F_COPIES;
	bool bcc_text_in_job = job_holds_text(job->rec, BCC);
	struct mail_expect e = {
		.subject = subject,
		.html_template = default_template_html,
		.attachment_len = attach && a == 1 ? attach_len : -1,
		.rcpt = m.rcpt,
		.bcc = bcc_hidden ? BCC : NULL,
		.bcc_text_in_job = bcc_text_in_job,
	};
	char why[512];
	if (mail_check(m.data, m.len, &e, why, sizeof why) != 0) {
		fprintf(stderr, "---- message ----\n%.*s\n---- end ----\n", (int)(m.len < 20000 ? m.len : 20000),
			m.data);
		CHECK(0, "%s", why);
	}
	free(subject);
	vm_mail_free(&m);
	job_free(job);
	return 0;
}
