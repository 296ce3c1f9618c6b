/*
 * mail_tool: build one message with the engine's mail module, for the
 * integration tests (tests/integration/test_mail.py compiles it against the
 * engine objects).
 *
 *   mail_tool JOB.json [--meta FILE] [--config-dir DIR] [KEY=VALUE ...]
 *
 * KEY is a mail option (from, to, cc, bcc, reply_to, subject, template_text,
 * template_html, attach=no|yes|smaller-than, attach_max=BYTES).  The message
 * goes to stdout; --meta writes {"message_id", "envelope_from", "rcpt"} as
 * JSON.  Exit 0, 1 when the build fails (the reason on stderr), 2 for a bad
 * set-up (vm_mail_init's reason on stderr).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmpipe/vmpipe.h>

#include "core/job.h"
#include "core/log.h"
#include "mail/mail.h"
#include "core/util.h"

static int set_opt(vm_mail_opts *o, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq)
		return -1;
	size_t n = (size_t)(eq - kv);
	const char *v = eq + 1;
#define IS(name) (n == strlen(name) && strncmp(kv, name, n) == 0)
	if (IS("from"))
		o->from = v;
	else if (IS("to"))
		o->to = v;
	else if (IS("cc"))
		o->cc = v;
	else if (IS("bcc"))
		o->bcc = v;
	else if (IS("reply_to"))
		o->reply_to = v;
	else if (IS("subject"))
		o->subject = v;
	else if (IS("template_text"))
		o->template_text = v;
	else if (IS("template_html"))
		o->template_html = v;
	else if (IS("attach"))
		o->attach = parse_enum(v, "no|yes|smaller-than");
	else if (IS("attach_max"))
		return parse_size(v, &o->attach_max);
	else
		return -1;
#undef IS
	return o->attach < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	const char *meta = NULL, *config_dir = NULL, *job_path = NULL;
	vm_mail_opts o = {.attach_max = 10 * 1024 * 1024};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--meta") == 0 && i + 1 < argc)
			meta = argv[++i];
		else if (strcmp(argv[i], "--config-dir") == 0 && i + 1 < argc)
			config_dir = argv[++i];
		else if (!job_path && !strchr(argv[i], '='))
			job_path = argv[i];
		else if (set_opt(&o, argv[i]) != 0) {
			fprintf(stderr, "mail_tool: bad argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!job_path) {
		fprintf(stderr, "usage: mail_tool JOB.json [--meta FILE] [--config-dir DIR] [KEY=VALUE...]\n");
		return 2;
	}
	log_setup(VM_LOG_INFO, LOG_FORMAT_TEXT);
	char *text;
	size_t len;
	if (read_file(job_path, 1 << 24, &text, &len) != 0) {
		perror(job_path);
		return 2;
	}
	char err[512];
	vm_job *job = job_from_string(text, err, sizeof err);
	free(text);
	if (!job) {
		fprintf(stderr, "mail_tool: %s\n", err);
		return 2;
	}
	if (mail_setup(config_dir, &o, err, sizeof err) != 0) {
		fprintf(stderr, "mail_tool: %s\n", err);
		job_free(job);
		return 2;
	}
	vm_mail m;
	int rc = 0;
	if (vm_mail_build(job, &o, &m) != VM_DONE) {
		fprintf(stderr, "mail_tool: %s\n", job->fail_msg ? job->fail_msg : "failed");
		rc = 1;
	} else {
		fwrite(m.data, 1, m.len, stdout);
		if (meta) {
			json_t *r = json_array();
			for (char **p = m.rcpt; *p; p++)
				json_array_append_new(r, json_string(*p));
			json_t *j = json_pack("{s:s, s:s, s:o}", "message_id", m.message_id,
					      "envelope_from", m.envelope_from, "rcpt", r);
			if (!j || json_dump_file(j, meta, 0) != 0)
				rc = 2;
			json_decref(j);
		}
		vm_mail_free(&m);
	}
	vm_mail_fini(&o);
	job_free(job);
	return rc;
}
