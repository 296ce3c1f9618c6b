/*
 * The oracle of the mail fuzz target (tests/fuzz/mail_check.c) is itself
 * tested: a message vm_mail_build() makes passes it, and each kind of damage
 * the fuzz target is there to catch fails it, naming the problem.  A checker
 * that never says no would make the fuzz target prove nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/job.h"
#include "mail/default_templates.h"
#include "mail/mail.h"
#include "testenv.h"

#include "../fuzz/mail_check.c"

#define SUBJECT "Voicemail message from: +14155550123"

struct fixture {
	vm_mail_opts opts;
	vm_job *job;
	vm_mail mail;
	struct mail_expect e;
};

static int setup(void **st)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->opts.from = "Voicemail <voicemail@pbx.example.com>";
	f->opts.cc = "ops@example.org";
	f->opts.bcc = "archive@records.example.net";
	char err[256];
	if (mail_setup(NULL, &f->opts, err, sizeof err) != 0)
		fail_msg("mail_setup: %s", err);
	f->job = job_from_string("{\"id\":\"j1\",\"contact\":{\"caller\":\"+14155550123\"},"
				 "\"recipient\":{\"email\":\"jane.doe@example.com\",\"name\":\"Jane Doe\"},"
				 "\"transcript\":{\"status\":\"completed\",\"text\":\"Call me back.\"},"
				 "\"recording\":{\"url\":\"https://example.com/r.wav?a=1&b=2\"}}",
				 err, sizeof err);
	assert_non_null(f->job);
	assert_int_equal(vm_mail_build(f->job, &f->opts, &f->mail), VM_DONE);
	f->e = (struct mail_expect){SUBJECT, default_template_html, -1, f->mail.rcpt,
				    "archive@records.example.net", false};
	*st = f;
	return 0;
}

static int teardown(void **st)
{
	struct fixture *f = *st;
	vm_mail_free(&f->mail);
	job_free(f->job);
	vm_mail_fini(&f->opts);
	free(f);
	return 0;
}

/* The message with the first `old` replaced by `new` (malloc()ed). */
static char *damage(const char *msg, const char *old, const char *new)
{
	const char *at = strstr(msg, old);
	if (!at)
		fail_msg("'%s' is not in the message", old);
	size_t a = (size_t)(at - msg), ol = strlen(old), nl = strlen(new), n = strlen(msg);
	char *out = malloc(n - ol + nl + 1);
	assert_non_null(out);
	memcpy(out, msg, a);
	memcpy(out + a, new, nl);
	memcpy(out + a + nl, at + ol, n - a - ol + 1);
	return out;
}

/* `msg` must fail the check with `why` in the reason. */
static void refused(const char *msg, const struct mail_expect *e, const char *why)
{
	char reason[512] = "";
	if (mail_check(msg, strlen(msg), e, reason, sizeof reason) == 0)
		fail_msg("the check passed a message that should fail with \"%s\"", why);
	assert_contains(reason, why);
}

static void test_built_message_passes(void **st)
{
	struct fixture *f = *st;
	char reason[512] = "";
	if (mail_check(f->mail.data, f->mail.len, &f->e, reason, sizeof reason) != 0)
		fail_msg("a message of vm_mail_build() fails: %s\n%s", reason, f->mail.data);
}

static void test_line_ends_and_length(void **st)
{
	struct fixture *f = *st;
	char *m = damage(f->mail.data, "MIME-Version: 1.0\r\n", "MIME-Version: 1.0\n");
	refused(m, &f->e, "bare LF");
	free(m);
	m = damage(f->mail.data, "MIME-Version: 1.0\r\n", "MIME-Version: 1.0\r\r\n");
	refused(m, &f->e, "bare CR");
	free(m);
	char longer[1100] = "X-Mailer: ";
	memset(longer + 10, 'x', 1000);
	longer[1010] = '\0';
	m = damage(f->mail.data, "X-Mailer: vmpipe/" VMPIPE_VERSION, longer);
	refused(m, &f->e, "at most 998");
	free(m);
	m = damage(f->mail.data, "Call me back.", "Call m\xc3\xa9 back.");
	refused(m, &f->e, "7-bit");
	free(m);
	m = damage(f->mail.data, "MIME-Version: 1.0\r\n", "MIME-Version: 1.0\r\n.\r\n");
	refused(m, &f->e, "starts with '.'");
	free(m);
}

static void test_headers(void **st)
{
	struct fixture *f = *st;
	char *m = damage(f->mail.data, "MIME-Version: 1.0\r\n",
			 "MIME-Version: 1.0\r\nBcc: x@evil.example\r\n");
	refused(m, &f->e, "unexpected header field 'Bcc'");
	free(m);
	m = damage(f->mail.data, "MIME-Version: 1.0\r\n", "MIME-Version: 1.0\r\nMIME-Version: 1.0\r\n");
	refused(m, &f->e, "twice");
	free(m);
	m = damage(f->mail.data, "MIME-Version: 1.0\r\n", "");
	refused(m, &f->e, "no 'MIME-Version' field");
	free(m);
	m = damage(f->mail.data, "MIME-Version: 1.0\r\n", "MIME-Version: 1.0\r\n \t\r\n");
	refused(m, &f->e, "whitespace-only");
	free(m);

	struct mail_expect other = f->e;
	other.subject = "Voicemail message from: someone else";
	refused(f->mail.data, &other, "Subject decodes to");
	m = damage(f->mail.data, "Subject: " SUBJECT, "Subject: =?UTF-8?B?!!!!?=");
	refused(m, &f->e, "not base64 of UTF-8");
	free(m);
	m = damage(f->mail.data, "Subject: " SUBJECT, "Subject: Voicemail=?UTF-8?B?QQ==?=");
	refused(m, &f->e, "'=?' inside a word");
	free(m);
}

static void test_recipients(void **st)
{
	struct fixture *f = *st;
	struct mail_expect e = f->e;
	char *jane[] = {"jane.doe@example.com", NULL};
	e.rcpt = jane;
	e.bcc = "jane.doe@example.com"; /* shown in To */
	refused(f->mail.data, &e, "the Bcc jane.doe@example.com shows in To");
	char *ghosts[] = {"jane.doe@example.com", "ghost@example.com", NULL};
	e = f->e;
	e.rcpt = ghosts;
	refused(f->mail.data, &e, "ghost@example.com is in neither To nor Cc");
}

static void test_mime_tree(void **st)
{
	struct fixture *f = *st;
	/* The HTML part gains markup no template has: a value got through. */
	const char *html = strstr(f->mail.data, "Content-Type: text/html; charset=utf-8\r\n"
						"Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	assert_non_null(html);
	char *m = damage(f->mail.data, "Content-Transfer-Encoding: quoted-printable\r\n\r\n<!DOCTYPE",
			 "Content-Transfer-Encoding: quoted-printable\r\n\r\n<script>x</script>\r\n<!DOCTYPE");
	refused(m, &f->e, "a tag its template does not: <script>");
	free(m);
	/* A quote out of the link's href: an attribute no template has. */
	m = damage(f->mail.data, "r.wav?a=3D1&amp;b=3D2\"", "r.wav\" onclick=3D\"x\"");
	refused(m, &f->e, "onclick=\"\"");
	free(m);
	m = damage(f->mail.data, "l me back.</div>", "l me > back.</div>");
	refused(m, &f->e, "a '>' outside any tag");
	free(m);
	m = damage(f->mail.data, "Call me back.", "Call me =ZZback.");
	refused(m, &f->e, "bad quoted-printable escape");
	free(m);
	const char *b = strstr(f->mail.data, "boundary=\"") + 10;
	char line[80];
	snprintf(line, sizeof line, "\r\n--%.*sX\r\n", (int)strcspn(b, "\""), b);
	m = damage(f->mail.data, "\r\nCall me back.", line);
	refused(m, &f->e, "starts with the boundary");
	free(m);
	m = damage(f->mail.data, "Content-Type: text/html; charset=utf-8", "Content-Type: text/html");
	refused(m, &f->e, "where 'text/html' belongs");
	free(m);
	struct mail_expect e = f->e;
	e.attachment_len = 285;
	refused(f->mail.data, &e, "no attachment");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_built_message_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_ends_and_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recipients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mime_tree, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
