/*
 * The mail host API: vm_mail_init/fini/build/free (see vmpipe.h).  Parses
 * the notifier's addresses and templates once at load; per job it renders
 * the templates, fetches the attachment if asked, and assembles the message.
 */
#include "mail.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/job.h"
#include "address.h"
#include "allow.h"
#include "attach.h"
#include "default_templates.h"
#include "encode.h"
#include "mime.h"
#include "template.h"
#include "vars.h"
#include "core/plugin.h" /* struct vm_stage */
#include "core/util.h"

#define DEFAULT_FROM "Voicemail <voicemail@localhost>"
#define DEFAULT_SUBJECT "Voicemail message from: {{caller_display}}"

struct mail_priv {
	tpl *subject, *text, *html;
	mail_addrs from, to, cc, bcc, reply_to;
	mail_domains allowed; /* allowed_recipient_domains; empty: anyone */
	int attach_format;    /* attach_format: VM_PLAYABLE_* */
	bool need_rcpt;       /* vm_mail_require_recipient(): a sender, not a filer */
};

static void priv_free(struct mail_priv *p)
{
	if (!p)
		return;
	tpl_free(p->subject);
	tpl_free(p->text);
	tpl_free(p->html);
	addr_list_free(&p->from);
	addr_list_free(&p->to);
	addr_list_free(&p->cc);
	addr_list_free(&p->bcc);
	addr_list_free(&p->reply_to);
	mail_domains_free(&p->allowed);
	free(p);
}

/* Parse a template from `file` (relative to `dir`) or the built-in `builtin`. */
static tpl *load_template(const char *dir, const char *option, const char *file,
			  const char *builtin, enum tpl_mode mode, char *err, size_t errsize)
{
	char msg[256];
	tpl *t;
	if (!file || !*file) {
		t = tpl_parse(builtin, strlen(builtin), mode, mail_var_names, VAR_COUNT, msg,
			      sizeof msg);
		if (!t)
			snprintf(err, errsize, "built-in %s: %s", option, msg);
		return t;
	}
	char path[4096];
	if (file[0] == '/' || !dir || !*dir)
		snprintf(path, sizeof path, "%s", file);
	else
		snprintf(path, sizeof path, "%s/%s", dir, file);
	char *data;
	size_t len;
	if (read_file(path, MAIL_TEMPLATE_MAX, &data, &len) != 0) {
		snprintf(err, errsize, "%s '%s': %s", option, path,
			 errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
		return NULL;
	}
	t = tpl_parse(data, len, mode, mail_var_names, VAR_COUNT, msg, sizeof msg);
	free(data);
	if (!t)
		snprintf(err, errsize, "%s '%s': %s", option, path, msg);
	return t;
}

static int parse_opt_addrs(const char *list, const char *what, mail_addrs *out, char *err,
			   size_t errsize)
{
	if (!list)
		return 0;
	return addr_parse_list(list, out, what, err, errsize);
}

int mail_setup(const char *config_dir, vm_mail_opts *opts, char *err, size_t errsize)
{
	opts->priv = NULL;
	struct mail_priv *p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	const char *subject = opts->subject ? opts->subject : DEFAULT_SUBJECT;
	char msg[256];
	if (!(p->subject = tpl_parse(subject, strlen(subject), TPL_HEADER, mail_var_names,
				     VAR_COUNT, msg, sizeof msg))) {
		snprintf(err, errsize, "subject: %s", msg);
		goto fail;
	}
	if (!(p->text = load_template(config_dir, "template_text", opts->template_text,
				      default_template_text, TPL_TEXT, err, errsize)) ||
	    !(p->html = load_template(config_dir, "template_html", opts->template_html,
				      default_template_html, TPL_HTML, err, errsize)))
		goto fail;
	if (parse_opt_addrs(opts->from ? opts->from : DEFAULT_FROM, "from", &p->from, err,
			    errsize) < 0 ||
	    parse_opt_addrs(opts->to, "to", &p->to, err, errsize) < 0 ||
	    parse_opt_addrs(opts->cc, "cc", &p->cc, err, errsize) < 0 ||
	    parse_opt_addrs(opts->bcc, "bcc", &p->bcc, err, errsize) < 0 ||
	    parse_opt_addrs(opts->reply_to, "reply_to", &p->reply_to, err, errsize) < 0)
		goto fail;
	if (p->from.n != 1) {
		snprintf(err, errsize, "from: exactly one address expected, got %zu", p->from.n);
		goto fail;
	}
	if (opts->attach == VM_ATTACH_SMALLER && opts->attach_max <= 0) {
		snprintf(err, errsize, "attach = smaller-than needs a positive attach_max");
		goto fail;
	}
	opts->priv = p;
	return 0;
fail:
	priv_free(p);
	return -1;
}

int mail_setup_allowed(vm_mail_opts *opts, const char *domains, char *err, size_t errsize)
{
	struct mail_priv *p = opts->priv;
	char why[300];
	if (!p) {
		snprintf(err, errsize, "mail options not loaded");
		return -1;
	}
	mail_domains_free(&p->allowed);
	if (mail_domains_parse(domains, &p->allowed, why, sizeof why) != 0) {
		snprintf(err, errsize, "option 'allowed_recipient_domains': %s", why);
		return -1;
	}
	/* Configured recipients must pass too: fail at load, not per call. */
	const struct {
		const char *option;
		const mail_addrs *list;
	} configured[] = {{"to", &p->to}, {"cc", &p->cc}, {"bcc", &p->bcc}};
	for (size_t i = 0; i < sizeof configured / sizeof *configured; i++) {
		for (size_t j = 0; j < configured[i].list->n; j++) {
			const char *a = configured[i].list->v[j].addr;
			if (mail_domain_allowed(&p->allowed, a))
				continue;
			mail_domains_join(&p->allowed, why, sizeof why);
			snprintf(err, errsize, "option '%s': %s is outside allowed_recipient_domains (%s)",
				 configured[i].option, a, why);
			return -1;
		}
	}
	return 0;
}

int mail_setup_attach_format(vm_mail_opts *opts, const char *format, char *err, size_t errsize)
{
	static const char *const names[] = {"auto", "original", "wav", "mp3"};
	struct mail_priv *p = opts->priv;
	for (int i = 0; i < 4; i++)
		if (!format || !*format || strcmp(format, names[i]) == 0) {
			p->attach_format = format && *format ? i : VM_PLAYABLE_AUTO;
			return 0;
		}
	snprintf(err, errsize, "option 'attach_format': '%.40s' is not auto, original, wav or mp3",
		 format);
	return -1;
}

int vm_mail_init(vm_stage *stage, vm_mail_opts *opts)
{
	char err[512];
	if (mail_setup(vm_stage_config_dir(stage), opts, err, sizeof err) < 0 ||
	    mail_setup_allowed(opts, vm_stage_option(stage, "allowed_recipient_domains"), err,
			       sizeof err) < 0 ||
	    mail_setup_attach_format(opts, vm_stage_option(stage, "attach_format"), err,
				     sizeof err) < 0) {
		vm_mail_fini(opts);
		vm_stage_error(stage, "%s", err);
		return -1;
	}
	/* The engine checks the recipients at intake against these rules. */
	stage->mail = opts;
	return 0;
}

void vm_mail_require_recipient(vm_mail_opts *opts)
{
	struct mail_priv *p = opts ? opts->priv : NULL;
	if (p)
		p->need_rcpt = true;
}

void vm_mail_fini(vm_mail_opts *opts)
{
	if (!opts)
		return;
	priv_free(opts->priv);
	opts->priv = NULL;
}

void vm_mail_free(vm_mail *mail)
{
	if (!mail)
		return;
	free(mail->data);
	free(mail->message_id);
	free(mail->envelope_from);
	if (mail->rcpt)
		for (char **r = mail->rcpt; *r; r++)
			free(*r);
	free(mail->rcpt);
	memset(mail, 0, sizeof *mail);
}

/* To + Cc + Bcc, each address once (compared case-insensitively). */
static char **envelope_rcpt(const mail_addrs *const *lists, size_t nlists)
{
	size_t total = 0;
	for (size_t i = 0; i < nlists; i++)
		total += lists[i]->n;
	char **r = calloc(total + 1, sizeof *r);
	if (!r)
		return NULL;
	size_t n = 0;
	for (size_t i = 0; i < nlists; i++) {
		for (size_t j = 0; j < lists[i]->n; j++) {
			const char *a = lists[i]->v[j].addr;
			size_t k = 0;
			while (k < n && strcasecmp(r[k], a) != 0)
				k++;
			if (k < n)
				continue;
			if (!(r[n++] = strdup(a))) {
				for (k = 0; k < n; k++)
					free(r[k]);
				free(r);
				return NULL;
			}
		}
	}
	return r;
}

/* The To list of this job: recipient.email (and recipient.name), else `to`.
 * 0, -1 with the reason in err (a bad address: permanent), -2 out of memory. */
static int job_recipients(const vm_job *job, const struct mail_priv *p, mail_addrs *to, char *err,
			  size_t errsize)
{
	const char *email = vm_job_get_str(job, "recipient.email");
	if (!email || !*email) {
		for (size_t i = 0; i < p->to.n; i++)
			if (addr_push(to, p->to.v[i].name, p->to.v[i].addr) < 0)
				return -2;
		return 0;
	}
	if (addr_parse_list(email, to, "recipient", err, errsize) < 0)
		return -1;
	const char *name = vm_job_get_str(job, "recipient.name");
	if (name && *name && to->n == 1 && !to->v[0].name) {
		to->v[0].name = text_clean(name, strlen(name), CLEAN_HEADER);
		if (!to->v[0].name)
			return -2;
	}
	return 0;
}

/*
 * The notifier's recipient rules on the envelope list: one is needed (when
 * the notifier sends), and every one inside allowed_recipient_domains, all or
 * nothing, so no one is mailed half a list.  0, or -1 with why in err.
 */
static int rules_refuse(const struct mail_priv *p, char *const *rcpt, char *err, size_t errsize)
{
	if (p->need_rcpt && !rcpt[0]) {
		snprintf(err, errsize, "no recipient: the event names none (recipient.email) and no 'to' "
				       "is configured");
		return -1;
	}
	for (size_t i = 0; rcpt[i]; i++) {
		if (mail_domain_allowed(&p->allowed, rcpt[i]))
			continue;
		char allowed[300];
		mail_domains_join(&p->allowed, allowed, sizeof allowed);
		snprintf(err, errsize, "recipient %s is outside allowed_recipient_domains (%s): nothing sent",
			 rcpt[i], allowed);
		return -1;
	}
	return 0;
}

static void rcpt_free(char **r)
{
	for (size_t i = 0; r && r[i]; i++)
		free(r[i]);
	free(r);
}

int mail_check_recipients(const vm_job *job, const vm_mail_opts *opts, char *err, size_t errsize)
{
	const struct mail_priv *p = opts ? opts->priv : NULL;
	if (!p)
		return 0;
	mail_addrs to = {0};
	int rc = job_recipients(job, p, &to, err, errsize);
	if (rc == 0) {
		const mail_addrs *lists[] = {&to, &p->cc, &p->bcc};
		char **rcpt = envelope_rcpt(lists, 3);
		rc = rcpt ? rules_refuse(p, rcpt, err, errsize) : -2;
		rcpt_free(rcpt);
	}
	addr_list_free(&to);
	if (rc == -2)
		snprintf(err, errsize, "out of memory");
	return rc;
}

/* "a@x, b@y" for {{recipient_email}}. */
static char *join_addrs(const mail_addrs *l)
{
	mbuf b = MBUF_INIT;
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			mbuf_puts(&b, ", ");
		mbuf_puts(&b, l->v[i].addr);
	}
	return mbuf_take(&b, NULL);
}

static bool in_list(const mail_addrs *l, const char *addr)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcasecmp(l->v[i].addr, addr) == 0)
			return true;
	return false;
}

int vm_mail_recipient_kind(const vm_mail_opts *opts, const char *addr)
{
	const struct mail_priv *p = opts ? opts->priv : NULL;
	if (!p || !addr)
		return VM_RCPT_TO;
	if (in_list(&p->cc, addr))
		return VM_RCPT_CC;
	return in_list(&p->bcc, addr) ? VM_RCPT_BCC : VM_RCPT_TO;
}

/* The Message-IDs this stage sent in earlier rounds, oldest first and
 * separated by spaces (malloc()ed), or NULL: none, or the first round. */
static char *earlier_mails(const vm_job *job)
{
	json_t *r = job_get(job, "round");
	json_int_t round = json_integer_value(r);
	if (round <= 0 || !job->stage)
		return NULL;
	char *out = NULL;
	size_t len = 0, i;
	json_t *n;
	json_array_foreach(job_get(job, "notifications"), i, n)
	{
		const char *st = json_string_value(json_object_get(n, "stage"));
		const char *id = json_string_value(json_object_get(n, "message_id"));
		if (!st || strcmp(st, job->stage) != 0 || json_integer_value(json_object_get(n, "round")) >= round ||
		    !id || id[0] != '<' || strpbrk(id, " \t\r\n") || id[strlen(id) - 1] != '>')
			continue;
		size_t k = strlen(id);
		char *grown = realloc(out, len + k + 2);
		if (!grown)
			break;
		out = grown;
		if (len)
			out[len++] = ' ';
		memcpy(out + len, id, k + 1);
		len += k;
	}
	return out;
}

vm_status vm_mail_build(vm_job *job, const vm_mail_opts *opts, vm_mail *out)
{
	memset(out, 0, sizeof *out);
	const struct mail_priv *p = opts ? opts->priv : NULL;
	if (!p)
		return vm_fail(job, VM_PERMANENT, "mail options not loaded (vm_mail_init not called)");

	vm_status st = VM_DONE;
	mail_addrs to = {0};
	mail_vars vars = {0};
	char *subject = NULL, *text = NULL, *html = NULL, *rcpt_list = NULL;
	vm_buf audio = {0};
	char fname[128];

	char why[512];
	int rr = job_recipients(job, p, &to, why, sizeof why);
	if (rr == -2)
		goto oom;
	if (rr == -1) {
		st = vm_fail(job, VM_PERMANENT, "%s", why);
		goto out;
	}
	/* Refused recipients cost nothing more: no template, no attachment. */
	const mail_addrs *lists[] = {&to, &p->cc, &p->bcc};
	if (!(out->rcpt = envelope_rcpt(lists, 3)))
		goto oom;
	if (rules_refuse(p, out->rcpt, why, sizeof why) != 0) {
		st = vm_fail(job, VM_PERMANENT, "%s", why);
		goto out;
	}
	/* Then the attachment: the body says whether the recording is in it. */
	const char *audio_type = NULL;
	enum mail_attach_outcome attached =
		mail_attachment(job, opts, p->attach_format, &audio, &audio_type);
	if (!(rcpt_list = join_addrs(&to)) ||
	    mail_vars_build(job, rcpt_list, to.n ? to.v[0].addr : NULL, &vars) < 0 ||
	    mail_vars_attachment(&vars, attached, opts->attach_max) < 0)
		goto oom;
	if (!(subject = tpl_render(p->subject, (const char *const *)vars.v, NULL)) ||
	    !(text = tpl_render(p->text, (const char *const *)vars.v, NULL)) ||
	    !(html = tpl_render(p->html, (const char *const *)vars.v, NULL)))
		goto oom;

	mime_attachment att = {0};
	if (attached == ATTACH_DONE) {
		att.content_type = audio_type;
		mail_attachment_name(job, att.content_type, fname, sizeof fname);
		att.filename = fname;
		att.data = audio.data;
		att.len = audio.len;
	}

	char key[33];
	vm_job_notification_key(job, key, sizeof key);
	if (!(out->message_id = mime_message_id(key, p->from.v[0].addr)) ||
	    !(out->envelope_from = strdup(p->from.v[0].addr)))
		goto oom;
	/* A follow-up (retry.h) answers the mails of earlier rounds of this stage. */
	char *refs = earlier_mails(job);
	const char *last = refs ? strrchr(refs, '<') : NULL;
	mime_msg m = {
		.in_reply_to = last,
		.references = refs,
		.from = &p->from,
		.to = &to,
		.cc = &p->cc,
		.reply_to = &p->reply_to,
		.subject = subject,
		.text = text,
		.html = html,
		.attachment = att.data ? &att : NULL,
		.date_ms = vm_now_ms(),
		.message_id = out->message_id,
	};
	out->data = mime_build(&m, &out->len);
	free(refs);
	if (!out->data)
		goto oom;
	goto out;
oom:
	st = vm_fail(job, VM_TRANSIENT, "out of memory (or no random bytes) building the message");
out:
	if (st != VM_DONE)
		vm_mail_free(out);
	addr_list_free(&to);
	mail_vars_free(&vars);
	free(rcpt_list);
	free(subject);
	free(text);
	free(html);
	free(audio.data);
	return st;
}
