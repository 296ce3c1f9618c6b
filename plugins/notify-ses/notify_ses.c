/*
 * notify-ses: send the voicemail e-mail with Amazon SES v2 SendEmail.
 *
 * The message is the shared mail module's (vm_mail_build), sent as
 * Content.Raw, so SES and SMTP deliver the same bytes.  Recipients come from
 * the event (recipient.email, a comma-separated list is several) or `to`;
 * every one must be in allowed_recipient_domains when that is set, else
 * nothing is sent (the shared mail options hold that list: the engine checks
 * it, and that there is a recipient at all, before any stage runs).  The SES MessageId goes into the job record's
 * notifications, and a job that already carries one for this stage is not
 * mailed again.  Throttling and 5xx answers are transient (the engine backs
 * off and retries); everything SES refuses for good is permanent, with what
 * to fix in the message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmpipe/vmpipe.h>

#include "ses_body.h"

#define EXTRA_TAGS_MAX 10

struct notify_ses {
	const char *region;
	const char *configuration_set;
	bool tags;
	const char *extra_tags;
	const char *from_arn;
	vm_mail_opts mail;
	/* Filled by init, read-only afterwards. */
	char *extra_buf;         /* extra_tags split in place */
	struct ses_tag extra[EXTRA_TAGS_MAX];
	size_t nextra;
};

/* ------------------------------------------------------------------ init */

/* "app=voicemail, env=prod" -> extra[]; names and values must already be in
 * the tag charset: a typo in a config file is an error, not a silent fix. */
static int parse_extra_tags(vm_stage *stage, struct notify_ses *ns)
{
	if (!ns->extra_tags || !*ns->extra_tags)
		return 0;
	if (!(ns->extra_buf = strdup(ns->extra_tags))) {
		vm_stage_error(stage, "out of memory");
		return -1;
	}
	char *save = NULL;
	for (char *item = strtok_r(ns->extra_buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		while (*item == ' ' || *item == '\t')
			item++;
		char *end = item + strlen(item);
		while (end > item && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (!*item)
			continue;
		char *eq = strchr(item, '=');
		if (eq)
			*eq = '\0';
		if (!eq || !ses_tag_valid(item) || !ses_tag_valid(eq + 1)) {
			vm_stage_error(stage, "option 'extra_tags': '%s' is not NAME=VALUE with 1-256 of "
					      "A-Z a-z 0-9 _ - on each side", item);
			return -1;
		}
		if (strcmp(item, "contact_id") == 0 || strcmp(item, "tenant") == 0) {
			vm_stage_error(stage, "option 'extra_tags': '%s' is set per voicemail by 'tags'", item);
			return -1;
		}
		if (ns->nextra == EXTRA_TAGS_MAX) {
			vm_stage_error(stage, "option 'extra_tags': at most %d tags", EXTRA_TAGS_MAX);
			return -1;
		}
		ns->extra[ns->nextra++] = (struct ses_tag){item, eq + 1};
	}
	return 0;
}

/* SES configuration set names: letters, digits, '_' and '-', at most 64. */
static bool config_set_name_ok(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= 64 && ses_tag_valid(s);
}

static void fini(void *state);

/* The engine calls fini() only after a successful init(): undo a partial one here. */
static int setup(vm_stage *stage, struct notify_ses *ns)
{
	if (ns->configuration_set && *ns->configuration_set &&
	    !config_set_name_ok(ns->configuration_set)) {
		vm_stage_error(stage, "option 'configuration_set': '%s' is not a configuration set name "
				      "(1-64 of A-Z a-z 0-9 _ -)", ns->configuration_set);
		return -1;
	}
	if (ns->from_arn && *ns->from_arn && strncmp(ns->from_arn, "arn:", 4) != 0) {
		vm_stage_error(stage, "option 'from_arn': '%s' is not an ARN "
				      "(arn:aws:ses:REGION:ACCOUNT:identity/DOMAIN)", ns->from_arn);
		return -1;
	}
	if (parse_extra_tags(stage, ns) != 0)
		return -1;
	/* The allow-list (and the configured to/cc/bcc against it) is the mail
	 * module's: vm_mail_init() refuses what is outside it. */
	if (vm_mail_init(stage, &ns->mail) != 0)
		return -1;
	vm_mail_require_recipient(&ns->mail);
	const char *allowed = vm_stage_option(stage, "allowed_recipient_domains");
	if (!allowed || strspn(allowed, " \t,") == strlen(allowed))
		vm_log(NULL, VM_LOG_WARN,
		       "[%s] allowed_recipient_domains is empty: the event's recipient attribute may "
		       "name any address", vm_stage_name(stage));
	if (ns->configuration_set && *ns->configuration_set)
		vm_log(NULL, VM_LOG_INFO,
		       "[%s] configuration set %s: if it tracks clicks, SES rewrites the audio link",
		       vm_stage_name(stage), ns->configuration_set);
	return 0;
}

static int init(vm_stage *stage, void *state)
{
	if (setup(stage, state) == 0)
		return 0;
	fini(state);
	return -1;
}

static void fini(void *state)
{
	struct notify_ses *ns = state;
	vm_mail_fini(&ns->mail);
	free(ns->extra_buf);
	ns->extra_buf = NULL;
}

/* ------------------------------------------------------------------- run */

/* "a@x, b@y" (at most `size` bytes) for messages. */
static void join(char *const *v, char *out, size_t size)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; v && v[i] && o + 1 < size; i++) {
		int n = snprintf(out + o, size - o, "%s%s", i ? ", " : "", v[i]);
		if (n < 0)
			break;
		o += (size_t)n < size - o ? (size_t)n : size - o - 1;
	}
}

/* SES's documented SendEmail errors and what to do about them. */
static const struct {
	const char *code;
	vm_status kind;
	const char *hint;
} ses_errors[] = {
	{"MessageRejected", VM_PERMANENT, NULL},
	{"MailFromDomainNotVerifiedException", VM_PERMANENT,
	 "the sending identity's custom MAIL FROM domain is not verified"},
	{"AccountSuspendedException", VM_PERMANENT,
	 "this account may no longer send e-mail through SES"},
	{"SendingPausedException", VM_PERMANENT,
	 "sending is paused for this account or configuration set"},
	{"NotFoundException", VM_PERMANENT, "does 'configuration_set' name an existing set?"},
	{"BadRequestException", VM_PERMANENT, NULL},
	{"TooManyRequestsException", VM_TRANSIENT, NULL},
	{"LimitExceededException", VM_TRANSIENT, NULL},
};

static vm_status failure(vm_job *job, vm_status st, const vm_aws_response *r, const char *rcpts)
{
	if (!r->error_code) /* no answer: vm_aws_send()'s message says why */
		return st;
	vm_status kind = r->retryable ? VM_TRANSIENT : VM_PERMANENT;
	const char *hint = NULL;
	for (size_t i = 0; i < sizeof ses_errors / sizeof ses_errors[0]; i++)
		if (strcmp(r->error_code, ses_errors[i].code) == 0) {
			kind = ses_errors[i].kind;
			hint = ses_errors[i].hint;
		}
	const char *msg = r->error_message ? r->error_message : "";
	if (strcmp(r->error_code, "MessageRejected") == 0 && strstr(msg, "not verified"))
		hint = "verify the From identity in SES in this region; while the account is in the SES "
		       "sandbox every recipient must be verified too";
	if (r->status >= 500)
		kind = VM_TRANSIENT;
	return vm_fail(job, kind, "SES SendEmail to %s: HTTP %ld %s: %s%s%s%s", rcpts, r->status,
		       r->error_code, msg, hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
}

/* rcpt split into Destination lists: an address of the cc or bcc option goes
 * there, every other one is a To recipient.  The header lines come from the
 * raw message; for SES the Destination is the envelope. */
static int split_rcpt(const struct notify_ses *ns, char *const *rcpt, char ***to, char ***cc,
		      char ***bcc)
{
	size_t n = 0;
	while (rcpt[n])
		n++;
	*to = calloc(n + 1, sizeof **to);
	*cc = calloc(n + 1, sizeof **cc);
	*bcc = calloc(n + 1, sizeof **bcc);
	if (!*to || !*cc || !*bcc)
		return -1;
	size_t nt = 0, nc = 0, nb = 0;
	for (size_t i = 0; i < n; i++) {
		switch (vm_mail_recipient_kind(&ns->mail, rcpt[i])) {
		case VM_RCPT_CC: (*cc)[nc++] = rcpt[i]; break;
		case VM_RCPT_BCC: (*bcc)[nb++] = rcpt[i]; break;
		default: (*to)[nt++] = rcpt[i]; break;
		}
	}
	return 0;
}

static vm_status send_mail(vm_job *job, const struct notify_ses *ns, const vm_mail *mail,
			   const char *rcpts)
{
	char contact[SES_TAG_MAX + 1], tenant[SES_TAG_MAX + 1];
	struct ses_tag tags[EXTRA_TAGS_MAX + 2];
	size_t ntags = 0;
	if (ns->tags) {
		if (ses_tag_clean(vm_job_get_str(job, "contact.id"), contact, sizeof contact))
			tags[ntags++] = (struct ses_tag){"contact_id", contact};
		if (ses_tag_clean(vm_job_get_str(job, "tenant"), tenant, sizeof tenant))
			tags[ntags++] = (struct ses_tag){"tenant", tenant};
	}
	for (size_t i = 0; i < ns->nextra; i++)
		tags[ntags++] = ns->extra[i];

	char **to = NULL, **cc = NULL, **bcc = NULL;
	char *body = NULL;
	size_t body_len = 0;
	vm_status st;
	if (split_rcpt(ns, mail->rcpt, &to, &cc, &bcc) == 0) {
		struct ses_send s = {
			.from = mail->envelope_from, .from_arn = ns->from_arn,
			.to = to, .cc = cc, .bcc = bcc,
			.data = mail->data, .len = mail->len,
			.config_set = ns->configuration_set, .tags = tags, .ntags = ntags,
		};
		body = ses_body_build(&s, &body_len);
	}
	free(to);
	free(cc);
	free(bcc);
	if (!body)
		return vm_fail(job, VM_TRANSIENT, "out of memory building the SES request");

	static const vm_aws_pair headers[] = {{"Content-Type", "application/json"}};
	vm_aws_request req = {
		.service = "sesv2", .region = ns->region && *ns->region ? ns->region : NULL,
		.method = "POST", .path = "/v2/email/outbound-emails",
		.headers = headers, .nheaders = 1,
		.body = body, .body_len = body_len,
		.protocol = VM_AWS_REST_JSON, .max_response = 64 * 1024,
	};
	vm_aws_response r;
	vm_log(job, VM_LOG_DEBUG, "SendEmail: %zu-byte message to %s", mail->len, rcpts);
	st = vm_aws_send(job, &req, &r);
	free(body);
	if (st != VM_DONE) {
		st = failure(job, st, &r, rcpts);
		vm_aws_response_free(&r);
		return st;
	}
	char *id = ses_message_id(r.body, r.body_len);
	if (!id)
		vm_log(job, VM_LOG_WARN, "SES accepted the message but sent no MessageId; "
					 "recording the Message-ID header instead");
	vm_job_add_notification(job, "ses", id ? id : mail->message_id);
	vm_log(job, VM_LOG_INFO, "sent to %s: SES MessageId %s (%d attempt%s)", rcpts,
	       id ? id : "(none)", r.attempts, r.attempts == 1 ? "" : "s");
	free(id);
	vm_aws_response_free(&r);
	return vm_done(job);
}

static vm_status run(const void *state, vm_job *job)
{
	const struct notify_ses *ns = state;
	const char *done = vm_job_notified(job);
	if (done) {
		vm_log(job, VM_LOG_INFO, "already sent (SES MessageId %s): not again", done);
		return vm_done(job);
	}
	if (vm_job_maybe_sent(job))
		vm_log(job, VM_LOG_WARN, "an earlier attempt was cut off while sending; SES cannot be asked "
		       "whether it delivered (no idempotency token), so this may be a second copy "
		       "(same Message-ID)");
	vm_mail mail;
	vm_status st = vm_mail_build(job, &ns->mail, &mail);
	if (st != VM_DONE)
		return st;
	char rcpts[400];
	size_t n = 0;
	while (mail.rcpt && mail.rcpt[n])
		n++;
	join(mail.rcpt, rcpts, sizeof rcpts);
	size_t b64 = ses_b64_len(mail.len);
	/* vm_mail_build() refused a job without recipients or outside the allow-list. */
	if (n > SES_MAX_RECIPIENTS)
		st = vm_fail(job, VM_PERMANENT, "%zu recipients: SES takes at most %d per message", n,
			     SES_MAX_RECIPIENTS);
	else if (b64 > SES_MAX_MESSAGE_B64)
		st = vm_fail(job, VM_PERMANENT,
			     "the message is %zu bytes (%zu in base64); SES takes at most 40 MB: "
			     "set attach = smaller-than or no", mail.len, b64);
	else
		st = send_mail(job, ns, &mail, rcpts);
	vm_mail_free(&mail);
	return st;
}

#define O(f) offsetof(struct notify_ses, f)
static const vm_option options[] = {
	{"region", VM_OPT_STRING, NULL, false, O(region),
	 "SES region (default: AWS_REGION, the profile, else the Connect instance's region)", NULL},
	{"configuration_set", VM_OPT_STRING, NULL, false, O(configuration_set),
	 "SES configuration set (off by default: click tracking would rewrite the audio link)", NULL},
	{"tags", VM_OPT_BOOL, "yes", false, O(tags),
	 "tag each message with contact_id and tenant (for SES event publishing)", NULL},
	{"extra_tags", VM_OPT_STRING, NULL, false, O(extra_tags),
	 "more message tags: NAME=VALUE, … (A-Z a-z 0-9 _ -)", NULL},
	{"from_arn", VM_OPT_STRING, NULL, false, O(from_arn),
	 "FromEmailAddressIdentityArn, for sending authorization (another account's identity)", NULL},
	VM_MAIL_OPTIONS(struct notify_ses, mail),
	{NULL, 0, NULL, false, 0, NULL, NULL},
};

const vm_plugin vmpipe_plugin = {
	.abi_version = VMPIPE_ABI_VERSION,
	.kind = VM_STAGE_NOTIFY,
	.name = "notify-ses",
	.summary = "send the e-mail with Amazon SES v2 SendEmail (raw MIME, same bytes as SMTP)",
	.options = options,
	.state_size = sizeof(struct notify_ses),
	.init = init,
	.run = run,
	.fini = fini,
};
