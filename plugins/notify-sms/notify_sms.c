/*
 * notify-sms: tell the mailbox owner by SMS, as the AWS solution Voicemail
 * for Amazon Connect does beside its e-mail (amazon-connect/voicemail-for-
 * amazon-connect, notification.service.js sendTextMessage; per agent
 * extension there, here the contact attribute smsRecipient, or `to` per
 * pipeline/tenant, and allowed_prefixes for its availableSMSCountries): who called,
 * how long, the first words of the transcript and the recording link, in a
 * body that fits `max_segments` real SMS segments (segments.h).
 *
 * Sent with AWS End User Messaging SMS (pinpoint-sms-voice-v2
 * SendTextMessage, TRANSACTIONAL), or SNS Publish to a phone number for
 * accounts that still use it.  Destinations must be E.164; a job whose
 * numbers are not is refused at intake, before anything is located or
 * transcribed (vm_stage_intake_check()).  A number that opted out is a
 * permanent failure for that number, logged masked.  Neither service takes
 * an idempotency token for a text: like SES, a runner killed between the
 * send and the checkpoint sends again when resumed (it says so).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmpipe/vmpipe.h>

#include "phone.h"
#include "segments.h"
#include "send.h"

struct notify_sms {
	int service;
	const char *region;
	const char *origination_identity;
	const char *configuration_set;
	int message_type;
	const char *recipient_attribute;
	const char *to;
	const char *allowed_prefixes;
	const char *header;
	bool link;
	int64_t max_segments;
	/* from init */
	vm_text *header_t;
};

/* The job's numbers: the contact attribute, else `to`.  Count, or -1 with why. */
static int recipients(const struct notify_sms *ns, const vm_job *job, char out[][17], char *why,
		      size_t size)
{
	char path[200];
	snprintf(path, sizeof path, "contact.attributes.%s", ns->recipient_attribute);
	const char *list = vm_job_get_str(job, path);
	const char *from = ns->recipient_attribute;
	if (!list || !*list) {
		list = ns->to;
		from = "to";
	}
	char inner[200];
	int n = sms_recipients(list, out, inner, sizeof inner);
	if (n < 0 && strcmp(from, "to") == 0)
		snprintf(why, size, "option 'to': %s: nothing sent", inner);
	else if (n < 0)
		snprintf(why, size, "contact attribute %s: %s: nothing sent", from, inner);
	else if (n == 0)
		snprintf(why, size, "no SMS recipient: the contact attribute %s is not set and "
			 "neither is 'to'", ns->recipient_attribute);
	for (int i = 0; i < n; i++)
		if (!sms_prefix_allowed(out[i], ns->allowed_prefixes)) {
			char shown[40];
			sms_mask(out[i], shown, sizeof shown);
			snprintf(why, size, "SMS recipient %s is outside allowed_prefixes (%.100s): "
				 "nothing sent", shown, ns->allowed_prefixes);
			return -1;
		}
	return n == 0 ? -1 : n;
}

static int intake(const void *state, const vm_job *job, char *why, size_t size)
{
	char nums[SMS_RECIPIENTS_MAX][17];
	return recipients(state, job, nums, why, size) < 0 ? -1 : 0;
}

static int init(vm_stage *stage, void *state)
{
	struct notify_sms *ns = state;
	char err[200], nums[SMS_RECIPIENTS_MAX][17];
	if (ns->max_segments < 1 || ns->max_segments > SMS_MAX_SEGMENTS) {
		vm_stage_error(stage, "option 'max_segments': %lld is not 1 to %d",
			       (long long)ns->max_segments, SMS_MAX_SEGMENTS);
		return -1;
	}
	if (sms_prefixes_check(ns->allowed_prefixes, err, sizeof err) != 0) {
		vm_stage_error(stage, "option 'allowed_prefixes': %s", err);
		return -1;
	}
	int n = ns->to ? sms_recipients(ns->to, nums, err, sizeof err) : 0;
	if (n < 0) {
		vm_stage_error(stage, "option 'to': %s", err);
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (!sms_prefix_allowed(nums[i], ns->allowed_prefixes)) {
			vm_stage_error(stage, "option 'to': %s is outside allowed_prefixes (%s)", nums[i],
				       ns->allowed_prefixes);
			return -1;
		}
	if (!*ns->recipient_attribute || strchr(ns->recipient_attribute, '.')) {
		vm_stage_error(stage, "option 'recipient_attribute': '%s' is not an attribute name",
			       ns->recipient_attribute);
		return -1;
	}
	if (ns->service == SMS_VIA_SNS && ns->configuration_set && *ns->configuration_set) {
		vm_stage_error(stage, "option 'configuration_set' is End User Messaging's: SNS has none");
		return -1;
	}
	if (!(ns->header_t = vm_text_parse(ns->header, true, err, sizeof err))) {
		vm_stage_error(stage, "option 'header': %s", err);
		return -1;
	}
	vm_stage_intake_check(stage, intake);
	return 0;
}

static void fini(void *state)
{
	struct notify_sms *ns = state;
	vm_text_free(ns->header_t);
	ns->header_t = NULL;
}

/* Whitespace runs (line breaks, tabs: not all are GSM-7) to one space. */
static char *squeeze(const char *s)
{
	char *o = malloc(strlen(s ? s : "") + 1);
	size_t n = 0;
	if (!o)
		return NULL;
	for (const char *p = s ? s : ""; *p; p++) {
		bool ws = *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == '\f' || *p == '\v';
		if (!ws)
			o[n++] = *p;
		else if (n && o[n - 1] != ' ')
			o[n++] = ' ';
	}
	while (n && o[n - 1] == ' ')
		n--;
	o[n] = '\0';
	return o;
}

/* The body for job, or NULL with a vm_fail() status in *st. */
static char *body_for(const struct notify_sms *ns, vm_job *job, vm_status *st)
{
	char *head = vm_text_render(ns->header_t, job);
	char *text = squeeze(vm_job_get_str(job, "transcript.text"));
	/* What the mail says in a sentence (vars.c recording_missing, followup):
	 * a text of the header alone would not tell the owner why. */
	const char *located = vm_job_get_str(job, "stages.locate");
	int64_t round = 0;
	const char *say = located && strcmp(located, "failed") == 0 ? "The recording could not be found."
			  : vm_job_get_int(job, "round", &round) && round > 0
			  ? "The recording has been found since we texted:" : NULL;
	if (text && say) {
		size_t n = strlen(say) + 1 + strlen(text) + 1;
		char *t = malloc(n);
		if (t)
			snprintf(t, n, "%s%s%s", say, *text ? " " : "", text);
		free(text);
		text = t;
	}
	const char *url = vm_job_get_str(job, "recording.url");
	if (!ns->link || !url || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0))
		url = NULL;
	char *body = NULL;
	bool cut = false;
	*st = VM_TRANSIENT;
	if (head && text) {
		size_t max = (size_t)ns->max_segments;
		body = sms_fit(head, text, url, "\n", max, &cut);
		if (!body && url) {
			vm_log(job, VM_LOG_WARN, "the recording link (%zu characters) does not fit in %zu "
			       "SMS segment%s: sent without it (link mode makes short links: "
			       "docs/lambda.md)", strlen(url), max, max == 1 ? "" : "s");
			body = sms_fit(head, text, NULL, "\n", max, &cut);
		}
		if (!body)
			*st = vm_fail(job, VM_PERMANENT, "the SMS header alone takes more than %zu "
				      "segment%s: shorten 'header' or raise max_segments", max,
				      max == 1 ? "" : "s");
	} else {
		*st = vm_fail(job, VM_TRANSIENT, "out of memory building the SMS");
	}
	if (body) {
		struct sms_count c;
		sms_count(body, &c);
		vm_log(job, VM_LOG_DEBUG, "SMS body: %zu characters, %s, %zu segment%s%s", c.chars,
		       c.encoding == SMS_GSM7 ? "GSM-7" : "UCS-2", c.segments,
		       c.segments == 1 ? "" : "s", cut ? ", transcript cut" : "");
		vm_job_set_int(job, "sms.segments", (int64_t)c.segments);
		vm_job_set_str(job, "sms.encoding", c.encoding == SMS_GSM7 ? "gsm7" : "ucs2");
	}
	free(head);
	free(text);
	return body;
}

static vm_status run(const void *state, vm_job *job)
{
	const struct notify_sms *ns = state;
	const char *done = vm_job_notified(job);
	if (done) {
		vm_log(job, VM_LOG_INFO, "SMS already sent (%s): not again", done);
		return vm_done(job);
	}
	if (vm_job_maybe_sent(job))
		vm_log(job, VM_LOG_WARN, "an earlier attempt was cut off while sending; SMS has no "
		       "idempotency token, so this may be a second copy");
	int64_t round = 0;
	if (!vm_job_get_int(job, "round", &round) || round < 0)
		round = 0;
	char nums[SMS_RECIPIENTS_MAX][17], why[300];
	int n = recipients(ns, job, nums, why, sizeof why);
	if (n < 0)
		return vm_fail(job, VM_PERMANENT, "%s", why);
	vm_status st;
	char *body = body_for(ns, job, &st);
	if (!body)
		return st;
	struct sms_send s = {
		.via = ns->service == SMS_VIA_SNS ? SMS_VIA_SNS : SMS_VIA_END_USER_MESSAGING,
		.region = ns->region && *ns->region ? ns->region : NULL,
		.body = body, .origination = ns->origination_identity,
		.config_set = ns->configuration_set, .promotional = ns->message_type == 1,
		.context_keys = {"vmpipe_job", "contact_id", "tenant"},
		.context_values = {vm_job_id(job), vm_job_get_str(job, "contact.id"),
				   vm_job_get_str(job, "tenant")},
	};
	char ids[SMS_RECIPIENTS_MAX * 80] = "", path[64], shown[40], msg[600], refused[600] = "";
	int sent = 0;
	st = VM_DONE;
	for (int i = 0; i < n; i++) {
		/* Per number, per round: a follow-up (a recording found late,
		 * retry.h) is texted to the numbers that had the first one. */
		if (round > 0)
			snprintf(path, sizeof path, "sms.round%lld.sent.%.16s", (long long)round, nums[i]);
		else
			snprintf(path, sizeof path, "sms.sent.%.16s", nums[i]);
		const char *had = vm_job_get_str(job, path);
		sms_mask(nums[i], shown, sizeof shown);
		if (had) { /* an earlier attempt reached this one before a later one failed */
			snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%s", sent ? "," : "", had);
			sent++;
			continue;
		}
		s.to = nums[i];
		char *id = NULL;
		vm_status one = sms_send(job, &s, &id, msg, sizeof msg);
		if (one == VM_DONE) {
			vm_job_set_str(job, path, id);
			snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%s", sent ? "," : "", id);
			vm_log(job, VM_LOG_INFO, "SMS sent to %s: MessageId %s", shown, id);
			sent++;
		} else if (one == VM_PERMANENT && msg[0]) {
			/* The others still get theirs. */
			if (n > 1)
				vm_log(job, VM_LOG_WARN, "%s", msg);
			snprintf(refused, sizeof refused, "%s", msg);
		} else {
			/* Retried later; the ones sent are in the record. */
			st = msg[0] ? vm_fail(job, one, "%s", msg) : one;
		}
		free(id);
		if (st != VM_DONE)
			break;
	}
	free(body);
	if (st != VM_DONE)
		return st;
	if (!sent)
		return vm_fail(job, VM_PERMANENT, "%s", refused);
	vm_job_add_notification(job, ns->service == SMS_VIA_SNS ? "sns-sms" : "sms", ids);
	return vm_done(job);
}

#define O(f) offsetof(struct notify_sms, f)
static const vm_option options[] = {
	{"service", VM_OPT_ENUM, "end-user-messaging", false, O(service),
	 "AWS End User Messaging SMS (SendTextMessage), or SNS Publish for accounts that use it",
	 "end-user-messaging|sns"},
	{"region", VM_OPT_STRING, NULL, false, O(region),
	 "region of the SMS service (default: AWS_REGION, the profile, else the Connect instance's)",
	 NULL},
	{"origination_identity", VM_OPT_STRING, NULL, false, O(origination_identity),
	 "phone number, sender id, pool id or ARN to send from (SNS: origination number or sender id)",
	 NULL},
	{"configuration_set", VM_OPT_STRING, NULL, false, O(configuration_set),
	 "End User Messaging configuration set (event destinations)", NULL},
	{"message_type", VM_OPT_ENUM, "transactional", false, O(message_type),
	 "MessageType (SNS: AWS.SNS.SMS.SMSType)", "transactional|promotional"},
	{"recipient_attribute", VM_OPT_STRING, "smsRecipient", false, O(recipient_attribute),
	 "contact attribute holding the E.164 number(s), comma-separated", NULL},
	{"to", VM_OPT_STRING, NULL, false, O(to),
	 "E.164 number(s) when the contact names none (comma-separated)", NULL},
	{"allowed_prefixes", VM_OPT_STRING, NULL, false, O(allowed_prefixes),
	 "E.164 prefixes texts may go to (+1, +44: calling codes); empty: any", NULL},
	{"header", VM_OPT_STRING, "Voicemail from {{caller}} ({{duration}}):", false, O(header),
	 "first line of the text (template); the transcript and the link follow", NULL},
	{"link", VM_OPT_BOOL, "yes", false, O(link),
	 "end with the recording link when it fits", NULL},
	{"max_segments", VM_OPT_INT, "3", false, O(max_segments),
	 "segments a text may take (1-10); the transcript is cut at a word to fit", NULL},
	{NULL, 0, NULL, false, 0, NULL, NULL},
};

const vm_plugin vmpipe_plugin = {
	.abi_version = VMPIPE_ABI_VERSION,
	.kind = VM_STAGE_NOTIFY,
	.name = "notify-sms",
	.summary = "a short SMS (AWS End User Messaging SMS, or SNS), cut to fit max_segments",
	.options = options,
	.state_size = sizeof(struct notify_sms),
	.init = init,
	.run = run,
	.fini = fini,
};
