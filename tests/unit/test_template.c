/*
 * Unit tests of the template renderer and the job variables: escaping per
 * mode, sections, load-time errors, the built-in templates (equal to
 * etc/templates/, and their wording with and without a transcript).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/job.h"
#include "mail/default_templates.h"
#include "mail/mail.h"
#include "mail/template.h"
#include "mail/vars.h"
#include "core/plugin.h"
#include "core/util.h"
#include "testenv.h"

static const char *const NAMES[] = {"caller", "transcript", "url"};

static char *render(const char *src, enum tpl_mode mode, const char *caller,
		    const char *transcript, const char *url)
{
	char err[256];
	tpl *t = tpl_parse(src, strlen(src), mode, NAMES, 3, err, sizeof err);
	if (!t)
		fail_msg("parse: %s", err);
	const char *values[] = {caller, transcript, url};
	size_t len;
	char *out = tpl_render(t, values, &len);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	tpl_free(t);
	return out;
}

static void test_html_escaping(void **st)
{
	(void)st;
	char *s = render("<p>{{caller}}</p><a href=\"{{ url }}\">x</a>", TPL_HTML,
			 "<script>alert('x&y')</script>", NULL, "https://h/?a=1&b=\"2\"");
	assert_string_equal(s, "<p>&lt;script&gt;alert(&#39;x&amp;y&#39;)&lt;/script&gt;</p>"
			       "<a href=\"https://h/?a=1&amp;b=&quot;2&quot;\">x</a>");
	free(s);
}

/* A URL attribute only ever starts with https:, http: or file:; the audit's
 * record put javascript: into <a href>. */
static void test_href_schemes(void **st)
{
	(void)st;
	static const struct { const char *url, *href; } cases[] = {
		{"https://h.example/r.wav?X-Amz-Signature=abc", "https://h.example/r.wav?X-Amz-Signature=abc"},
		{"HTTP://h.example/r", "HTTP://h.example/r"},
		{"file:///var/spool/vm/c1.wav", "file:///var/spool/vm/c1.wav"},
		{"javascript:alert(1)", ""},
		{"JaVaScRiPt:alert(1)", ""},
		{" javascript:alert(1)", ""},
		{"data:text/html;base64,PHNjcmlwdD4=", ""},
		{"vbscript:msgbox", ""},
		{"evil-scheme://x", ""},
		{"//evil.example/login", ""},
		{"https:evil.example", ""},
		{"mailto:x@evil.example", ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *s = render("<a href=\"{{url}}\" title=\"{{url}}\">{{url}}</a>", TPL_HTML, NULL, NULL,
				 cases[i].url);
		char want[600];
		char *esc = render("{{url}}", TPL_HTML, NULL, NULL, cases[i].url); /* as text */
		snprintf(want, sizeof want, "<a href=\"%s\" title=\"%s\">%s</a>", cases[i].href, esc, esc);
		if (strcmp(s, want) != 0)
			fail_msg("url %s: got %s, want %s", cases[i].url, s, want);
		free(esc);
		free(s);
	}
	/* Every URL attribute, spaces around '=', single quotes, sections before the value. */
	char *s = render("<img src = '{{url}}'><form action=\"{{#url}}{{url}}{{/url}}\">"
			 "<td background=\" {{url}}\">", TPL_HTML, NULL, NULL, "javascript:x");
	assert_string_equal(s, "<img src = ''><form action=\"\"><td background=\" \">");
	free(s);
	/* A scheme the template fixes is the template's: the value is only escaped. */
	s = render("<a href=\"https://crm.example/?from={{caller}}\">", TPL_HTML, "javascript:x", NULL, NULL);
	assert_string_equal(s, "<a href=\"https://crm.example/?from=javascript:x\">");
	free(s);
	/* Quotes in an HTML comment or in another value do not confuse the context. */
	s = render("<!-- don't \"quote\" --><p title=\"it's > 1\"><a href=\"{{url}}\">{{caller}}</a>",
		   TPL_HTML, "c", NULL, "data:x");
	assert_string_equal(s, "<!-- don't \"quote\" --><p title=\"it's > 1\"><a href=\"\">c</a>");
	free(s);
	/* Plain text is text: a mail client does not follow it. */
	s = render("{{url}}", TPL_TEXT, NULL, NULL, "javascript:alert(1)");
	assert_string_equal(s, "javascript:alert(1)");
	free(s);
}

static void test_text_not_escaped(void **st)
{
	(void)st;
	char *s = render("From {{caller}}:\n{{transcript}}\n", TPL_TEXT, "<A & B>",
			 "line 1\nline 2", NULL);
	assert_string_equal(s, "From <A & B>:\nline 1\nline 2\n");
	free(s);
}

static void test_header_mode_strips_controls(void **st)
{
	(void)st;
	char *s = render("Voicemail message from: {{caller}}\n", TPL_HEADER,
			 "+1555\r\nBcc: x@evil\x1b", NULL, NULL);
	assert_string_equal(s, "Voicemail message from: +1555Bcc: x@evil");
	free(s);
	/* Invalid UTF-8 in values and in the template becomes U+FFFD. */
	s = render("caf\xE9 {{caller}}", TPL_HEADER, "J\xF6rg", NULL, NULL);
	assert_string_equal(s, "caf\xEF\xBF\xBD J\xEF\xBF\xBDrg");
	free(s);
}

static void test_sections(void **st)
{
	(void)st;
	const char *src = "A\n"
			  "{{#transcript}}\n"
			  "  T: {{transcript}}\n"
			  "{{/transcript}}\n"
			  "  {{^transcript}}\n"
			  "none{{#url}} ({{url}}){{/url}}\n"
			  "{{/transcript}}\n"
			  "{{! a comment }}\n"
			  "B {{#caller}}[{{caller}}]{{/caller}}\n";
	char *s = render(src, TPL_TEXT, "c", "hello", NULL);
	assert_string_equal(s, "A\n  T: hello\nB [c]\n");
	free(s);
	s = render(src, TPL_TEXT, "", "", "u");
	assert_string_equal(s, "A\nnone (u)\nB \n");
	free(s);
	s = render(src, TPL_TEXT, NULL, NULL, NULL);
	assert_string_equal(s, "A\nnone\nB \n");
	free(s);
}

static void expect_parse_error(const char *src, const char *msg)
{
	char err[256];
	tpl *t = tpl_parse(src, strlen(src), TPL_TEXT, NAMES, 3, err, sizeof err);
	assert_null(t);
	assert_string_equal(err, msg);
}

static void test_parse_errors(void **st)
{
	(void)st;
	expect_parse_error("ok\n\nHello {{calller}}", "line 3: unknown variable 'calller'");
	expect_parse_error("{{caller}} {{caller", "line 1: unterminated '{{'");
	expect_parse_error("{{#url}}x", "section 'url' is not closed");
	expect_parse_error("{{#url}}x{{/caller}}", "line 1: '{{/caller}}' closes no open section");
	expect_parse_error("x{{/url}}", "line 1: '{{/url}}' closes no open section");
	expect_parse_error("{{}}", "line 1: bad tag '{{}}'");
	expect_parse_error("{{{caller}}}", "line 1: unknown variable '{caller'");
	expect_parse_error("{{cal\nler}}", "line 1: unknown variable 'cal\\nler'");
}

/* Inside a tag, a value is safe only in a quoted attribute value. */
static void test_html_tag_context_errors(void **st)
{
	(void)st;
	char err[256];
	static const char *const bad[] = {"<a {{url}}>x</a>", "<a href={{url}}>x</a>",
					  "<p>\n<a\n  href=\"x\" {{caller}}>"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		tpl *t = tpl_parse(bad[i], strlen(bad[i]), TPL_HTML, NAMES, 3, err, sizeof err);
		if (t)
			fail_msg("accepted %s", bad[i]);
		assert_contains(err, "inside a tag must be in a quoted attribute value");
	}
	tpl *t = tpl_parse("<a {{url}}>", 11, TPL_TEXT, NAMES, 3, err, sizeof err);
	assert_non_null(t); /* text templates have no tags */
	tpl_free(t);
}

/* ----------------------------------------------- built-ins and job vars */

/* The repository root, from this file's path as the compiler saw it. */
static void src_path(const char *rel, char *out, size_t size)
{
	const char *env = getenv("VMPIPE_SRC");
	char root[1024];
	if (env) {
		snprintf(root, sizeof root, "%s", env);
	} else {
		snprintf(root, sizeof root, "%s", __FILE__);
		char *cut = strstr(root, "tests/unit/test_template.c");
		if (cut)
			*cut = '\0';
		if (!*root)
			snprintf(root, sizeof root, ".");
	}
	snprintf(out, size, "%s/%s", root, rel);
}

static void assert_file_equals(const char *rel, const char *builtin)
{
	char path[1200];
	src_path(rel, path, sizeof path);
	char *data;
	size_t len;
	if (read_file(path, 1 << 20, &data, &len) != 0)
		fail_msg("cannot read %s (set VMPIPE_SRC to the source tree)", path);
	if (len != strlen(builtin) || memcmp(data, builtin, len) != 0)
		fail_msg("%s differs from the built-in copy: run "
			 "/usr/bin/python3 tests/tools/gen_default_templates.py", rel);
	free(data);
}

static void test_builtins_equal_files(void **st)
{
	(void)st;
	assert_file_equals("etc/templates/voicemail.txt", default_template_text);
	assert_file_equals("etc/templates/voicemail.html", default_template_html);
}

static vm_job *job(const char *json)
{
	char err[256];
	vm_job *j = job_from_string(json, err, sizeof err);
	if (!j)
		fail_msg("bad job JSON: %s", err);
	return j;
}

static void test_vars(void **st)
{
	(void)st;
	clock_use_fake(1733931005000);
	vm_job *j = job("{\"id\":\"v1\",\"tenant\":\"acme\",\"received_at\":\"2024-12-11T15:30:05Z\","
			"\"contact\":{\"id\":\"cid\",\"caller\":\"+15555550123\",\"dialed\":\"+15555550100\"},"
			"\"recipient\":{\"name\":\"Pat\"},"
			"\"recording\":{\"duration_seconds\":65.4,\"uri\":\"s3://b/k\","
			"\"url\":\"https://b.s3/k?sig\",\"url_expires_at\":\"2024-12-18T15:30:05Z\"},"
			"\"transcript\":{\"status\":\"completed\",\"text\":\"Hello there.\","
			"\"language\":\"en-US\",\"speech_seconds\":3}}");
	mail_vars v;
	assert_int_equal(mail_vars_build(j, "a@x.org, b@y.org", "a@x.org", &v), 0);
	const struct {
		enum mail_var k;
		const char *want;
	} want[] = {
		{VAR_ID, "v1"}, {VAR_CALLER, "+15555550123"}, {VAR_DIALED, "+15555550100"},
		{VAR_RECIPIENT_NAME, "Pat"}, {VAR_RECIPIENT_EMAIL, "a@x.org, b@y.org"},
		{VAR_CONTACT_ID, "cid"}, {VAR_TENANT, "acme"}, {VAR_DURATION, "1m 5s"},
		{VAR_DURATION_SECONDS, "65"}, {VAR_TRANSCRIPT, "Hello there."},
		{VAR_TRANSCRIPT_PREVIEW, "Hello there."}, {VAR_TRANSCRIPT_STATUS, "completed"},
		{VAR_NO_SPEECH, ""}, {VAR_TRANSCRIPT_UNAVAILABLE, ""}, {VAR_RECORDING_MISSING, ""}, {VAR_FOLLOWUP, ""},
		{VAR_LANGUAGE, "en-US"},
		{VAR_URL, "https://b.s3/k?sig"}, {VAR_URL_EXPIRES_AT, "2024-12-18T15:30:05Z"},
		{VAR_RECEIVED_AT, "2024-12-11T15:30:05Z"}, {VAR_DATE, "11 December 2024, 15:30 UTC"},
		/* Empty until the notifier has tried to attach (mail_vars_attachment). */
		{VAR_ATTACHED, ""}, {VAR_ATTACHMENT_TOO_LARGE, ""}, {VAR_ATTACHMENT_FAILED, ""},
		{VAR_ATTACH_MAX, ""},
		{VAR_CALLER_NAME, ""}, {VAR_CALLER_DISPLAY, "+15555550123"}, {VAR_MAILBOX, ""},
		{VAR_INCOMPLETE, ""}, {VAR_RECORDING_FILE, ""}, {VAR_TIMEZONE, ""}, {VAR_RECORDING_NOT_SENT, ""},
	};
	assert_int_equal(sizeof want / sizeof want[0], VAR_COUNT);
	for (size_t i = 0; i < VAR_COUNT; i++)
		if (strcmp(v.v[want[i].k], want[i].want) != 0)
			fail_msg("%s: '%s' != '%s'", mail_var_names[want[i].k], v.v[want[i].k],
				 want[i].want);
	mail_vars_free(&v);
	job_free(j);

	/* Fallbacks: speech_seconds for the duration, the path for a file uri,
	 * the first address for the name, "unknown" caller, a 700-char preview. */
	char json[4096];
	char longtext[1500];
	memset(longtext, 'x', 1400);
	longtext[1400] = '\0';
	snprintf(json, sizeof json,
		 "{\"id\":\"v2\",\"recording\":{\"uri\":\"file:///r.wav\"},"
		 "\"transcript\":{\"status\":\"completed\",\"text\":\"%s\",\"speech_seconds\":3725}}",
		 longtext);
	j = job(json);
	assert_int_equal(mail_vars_build(j, NULL, "first@x.org", &v), 0);
	assert_string_equal(v.v[VAR_RECORDING_MISSING], "");
	assert_string_equal(v.v[VAR_DURATION], "1h 2m 5s");
	/* A file on the host and no link: no dead file:// link, its path. */
	assert_string_equal(v.v[VAR_URL], "");
	assert_string_equal(v.v[VAR_RECORDING_FILE], "/r.wav");
	assert_string_equal(v.v[VAR_RECIPIENT_NAME], "first@x.org");
	assert_string_equal(v.v[VAR_CALLER], "unknown");
	assert_string_equal(v.v[VAR_DATE], "11 December 2024, 15:30 UTC"); /* the clock */
	assert_int_equal(strlen(v.v[VAR_TRANSCRIPT_PREVIEW]), 700 + 3);
	assert_string_equal(v.v[VAR_TRANSCRIPT_PREVIEW] + 700, "\xE2\x80\xA6");
	mail_vars_free(&v);
	job_free(j);

	j = job("{\"id\":\"v3\"}");
	assert_int_equal(mail_vars_build(j, NULL, NULL, &v), 0);
	assert_string_equal(v.v[VAR_DURATION], "unknown");
	assert_string_equal(v.v[VAR_DURATION_SECONDS], "");
	assert_string_equal(v.v[VAR_TRANSCRIPT_STATUS], "none");
	assert_string_equal(v.v[VAR_TRANSCRIPT_UNAVAILABLE], "yes");
	assert_string_equal(v.v[VAR_RECIPIENT_NAME], "");
	mail_vars_free(&v);
	job_free(j);
	clock_set(NULL);

	int64_t ms;
	assert_true(parse_iso8601("2024-12-11T16:30:05.25+01:00", &ms));
	assert_int_equal(ms, 1733931005250);
	assert_false(parse_iso8601("2024-12-11 16:30:05", &ms));
	assert_false(parse_iso8601("yesterday", &ms));

	/* The locate stage gave up: the mail says the recording is missing. */
	j = job("{\"id\":\"v4\",\"stages\":{\"locate\":\"failed\"},"
		"\"transcript\":{\"status\":\"skipped\"}}");
	assert_int_equal(mail_vars_build(j, NULL, NULL, &v), 0);
	assert_string_equal(v.v[VAR_RECORDING_MISSING], "yes");
	assert_string_equal(v.v[VAR_TRANSCRIPT_UNAVAILABLE], "yes");
	mail_vars_free(&v);
	job_free(j);
}

static void test_attachment_vars(void **st)
{
	(void)st;
	vm_job *j = job("{\"id\":\"a1\"}");
	const struct {
		enum mail_attach_outcome o;
		int64_t limit;
		const char *attached, *too_large, *failed, *max;
	} cases[] = {
		{ATTACH_NONE, 10 << 20, "", "", "", ""},
		{ATTACH_DONE, 10 << 20, "yes", "", "", "10 MB"},
		{ATTACH_TOO_LARGE, 5 << 20, "", "yes", "", "5 MB"},
		{ATTACH_TOO_LARGE, 1536, "", "yes", "", "1.5 KB"},
		{ATTACH_FAILED, 1000, "", "", "yes", "1000 bytes"},
		{ATTACH_FAILED, 0, "", "", "yes", ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		mail_vars v;
		assert_int_equal(mail_vars_build(j, NULL, NULL, &v), 0);
		assert_int_equal(mail_vars_attachment(&v, cases[i].o, cases[i].limit), 0);
		assert_string_equal(v.v[VAR_ATTACHED], cases[i].attached);
		assert_string_equal(v.v[VAR_ATTACHMENT_TOO_LARGE], cases[i].too_large);
		assert_string_equal(v.v[VAR_ATTACHMENT_FAILED], cases[i].failed);
		assert_string_equal(v.v[VAR_ATTACH_MAX], cases[i].max);
		mail_vars_free(&v);
	}
	job_free(j);
	char buf[32];
	format_size(3 * 1024 * 1024 + 300 * 1024, buf, sizeof buf);
	assert_string_equal(buf, "3.3 MB");
	format_size((int64_t)2 << 30, buf, sizeof buf);
	assert_string_equal(buf, "2 GB");
}

/* Render both built-in bodies for a job; returns text and html. */
static void render_defaults(const char *json, char **text, char **html)
{
	vm_mail_opts o = {0};
	char err[256];
	if (mail_setup(NULL, &o, err, sizeof err) != 0)
		fail_msg("mail_setup: %s", err);
	vm_job *j = job(json);
	mail_vars v;
	assert_int_equal(mail_vars_build(j, NULL, NULL, &v), 0);
	char terr[256];
	tpl *tt = tpl_parse(default_template_text, strlen(default_template_text), TPL_TEXT,
			    mail_var_names, VAR_COUNT, terr, sizeof terr);
	tpl *th = tpl_parse(default_template_html, strlen(default_template_html), TPL_HTML,
			    mail_var_names, VAR_COUNT, terr, sizeof terr);
	assert_non_null(tt);
	assert_non_null(th);
	*text = tpl_render(tt, (const char *const *)v.v, NULL);
	*html = tpl_render(th, (const char *const *)v.v, NULL);
	tpl_free(tt);
	tpl_free(th);
	mail_vars_free(&v);
	job_free(j);
	vm_mail_fini(&o);
}

static void test_default_wording(void **st)
{
	(void)st;
	char *text, *html;
	render_defaults("{\"id\":\"d1\",\"contact\":{\"caller\":\"+1555 <b>&\"},"
			"\"recipient\":{\"name\":\"Pat O'Neil\"},"
			"\"recording\":{\"duration_seconds\":65,\"url\":\"https://x/?a=1&b=2\"},"
			"\"transcript\":{\"status\":\"completed\",\"text\":\"Call me <back>.\"}}",
			&text, &html);
	assert_non_null(strstr(text, "Voicemail for: Pat O'Neil\n"));
	assert_non_null(strstr(text, "There is a voicemail from +1555 <b>&."));
	assert_non_null(strstr(text, "Duration: 1m 5s\n"));
	assert_non_null(strstr(text, "Listen to the voicemail:\nhttps://x/?a=1&b=2\n"));
	assert_non_null(strstr(text, "Voicemail transcription\n-----------------------\nCall me <back>.\n"));
	assert_null(strstr(text, "unavailable"));
	assert_null(strstr(text, "{{"));
	assert_non_null(strstr(html, "Voicemail for: Pat O&#39;Neil"));
	assert_non_null(strstr(html, "There is a voicemail from <strong>+1555 &lt;b&gt;&amp;</strong>"));
	assert_non_null(strstr(html, "href=\"https://x/?a=1&amp;b=2\""));
	assert_non_null(strstr(html, ">Listen to the voicemail</a>"));
	assert_non_null(strstr(html, "<td>1m 5s</td>"));
	assert_non_null(strstr(html, ">Voicemail transcription</h2>"));
	assert_non_null(strstr(html, ">Call me &lt;back&gt;.</div>"));
	assert_null(strstr(html, "unavailable"));
	free(text);
	free(html);

	/* Failed or skipped transcription: the mail still says so. */
	const char *unavailable[] = {
		"{\"id\":\"d2\",\"transcript\":{\"status\":\"failed\"}}",
		"{\"id\":\"d3\",\"transcript\":{\"status\":\"skipped\",\"text\":\"\"}}",
		"{\"id\":\"d4\"}",
	};
	for (size_t i = 0; i < 3; i++) {
		render_defaults(unavailable[i], &text, &html);
		assert_non_null(strstr(text, "The transcription is unavailable for this message"));
		assert_non_null(strstr(html, "The transcription is unavailable for this message"));
		assert_null(strstr(text, "No speech"));
		assert_non_null(strstr(text, "Duration: unknown"));
		assert_null(strstr(text, "Listen to the voicemail")); /* no url, no button */
		free(text);
		free(html);
	}
	/* Completed with no words. */
	render_defaults("{\"id\":\"d5\",\"transcript\":{\"status\":\"completed\",\"text\":\"  \\n\"}}",
			&text, &html);
	assert_non_null(strstr(text, "No speech was recognised in this message."));
	assert_non_null(strstr(html, "No speech was recognised in this message."));
	assert_null(strstr(text, "unavailable"));
	free(text);
	free(html);
}

/* vm_mail_init(): a template file with a typo fails the stage, naming the
 * file and the variable. */
static void test_init_unknown_variable(void **st)
{
	(void)st;
	char *dir = test_tmpdir("template");
	assert_non_null(dir);
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/mail.html", dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("<p>{{caller}}</p>\n<p>{{transcipt}}</p>\n", fp);
	fclose(fp);

	struct vm_stage stage = {.name = "notify", .config_dir = dir};
	vm_mail_opts o = {.template_html = "mail.html"};
	assert_int_equal(vm_mail_init(&stage, &o), -1);
	char want[PATH_MAX + 128];
	snprintf(want, sizeof want, "template_html '%s': line 2: unknown variable 'transcipt'", path);
	assert_string_equal(stage.error, want);
	assert_null(o.priv);
	free(stage.error);
	stage.error = NULL;

	/* Absolute path and a subject typo. */
	o.template_html = path;
	o.subject = "Voicemail from {{caler}}";
	assert_int_equal(vm_mail_init(&stage, &o), -1);
	assert_string_equal(stage.error, "subject: line 1: unknown variable 'caler'");
	free(stage.error);
	stage.error = NULL;

	/* Fixed: loads. */
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("<p>{{caller}}</p>\n", fp);
	fclose(fp);
	o.subject = NULL;
	assert_int_equal(vm_mail_init(&stage, &o), 0);
	assert_non_null(o.priv);
	vm_mail_fini(&o);
	assert_null(o.priv);
	unlink(path);
	rmdir(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_html_escaping),
		cmocka_unit_test(test_href_schemes),
		cmocka_unit_test(test_html_tag_context_errors),
		cmocka_unit_test(test_text_not_escaped),
		cmocka_unit_test(test_header_mode_strips_controls),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_builtins_equal_files),
		cmocka_unit_test(test_vars),
		cmocka_unit_test(test_attachment_vars),
		cmocka_unit_test(test_default_wording),
		cmocka_unit_test(test_init_unknown_variable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
