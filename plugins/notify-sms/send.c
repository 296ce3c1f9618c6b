/* One SMS through End User Messaging or SNS; see send.h. */
#include "send.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "phone.h"
#include "sns_xml.h"

/* ------------------------------------------------------- End User Messaging */

static char *eum_body(const struct sms_send *s)
{
	json_t *b = json_pack("{s:s, s:s, s:s}", "DestinationPhoneNumber", s->to, "MessageBody",
			      s->body, "MessageType", s->promotional ? "PROMOTIONAL" : "TRANSACTIONAL");
	if (!b)
		return NULL;
	if (s->origination && *s->origination)
		json_object_set_new(b, "OriginationIdentity", json_string(s->origination));
	if (s->config_set && *s->config_set)
		json_object_set_new(b, "ConfigurationSetName", json_string(s->config_set));
	json_t *ctx = json_object();
	for (int i = 0; i < 5 && s->context_keys[i]; i++)
		if (s->context_values[i] && *s->context_values[i])
			json_object_set_new(ctx, s->context_keys[i], json_string(s->context_values[i]));
	if (json_object_size(ctx))
		json_object_set(b, "Context", ctx);
	json_decref(ctx);
	char *out = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	return out;
}

/* The Reason of a JSON error answer ("DESTINATION_PHONE_NUMBER_OPTED_OUT"), into buf. */
static void reason_of(const vm_aws_response *r, char *buf, size_t size)
{
	buf[0] = '\0';
	json_t *j = r->body ? json_loadb((const char *)r->body, r->body_len, 0, NULL) : NULL;
	const char *v = json_string_value(json_object_get(j, "Reason"));
	if (v)
		snprintf(buf, size, "%s", v);
	json_decref(j);
}

/* ---------------------------------------------------------------------- SNS */

/* RFC 3986 unreserved kept, everything else %XX: what AWS's query protocol wants. */
static int form_add(char **buf, size_t *len, size_t *cap, const char *k, const char *v)
{
	size_t need = *len + strlen(k) + 3 * strlen(v) + 3;
	if (need > *cap) {
		size_t nc = need * 2;
		char *nb = realloc(*buf, nc);
		if (!nb)
			return -1;
		*buf = nb, *cap = nc;
	}
	char *o = *buf + *len;
	if (*len)
		*o++ = '&';
	for (const char *p = k; *p; p++)
		*o++ = *p;
	*o++ = '=';
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~')
			*o++ = (char)*p;
		else
			o += sprintf(o, "%%%02X", *p);
	}
	*o = '\0';
	*len = (size_t)(o - *buf);
	return 0;
}

static char *sns_body(const struct sms_send *s, size_t *len)
{
	char *b = NULL;
	size_t cap = 0;
	*len = 0;
	int rc = form_add(&b, len, &cap, "Action", "Publish") |
		 form_add(&b, len, &cap, "Version", "2010-03-31") |
		 form_add(&b, len, &cap, "PhoneNumber", s->to) |
		 form_add(&b, len, &cap, "Message", s->body);
	/* SNS's SMS message attributes (SNS developer guide, "Publishing to a
	 * mobile phone"). */
	int n = 1;
	char k[80];
#define ATTR(NAME, VALUE)                                                                   \
	do {                                                                                \
		snprintf(k, sizeof k, "MessageAttributes.entry.%d.Name", n);                \
		rc |= form_add(&b, len, &cap, k, NAME);                                     \
		snprintf(k, sizeof k, "MessageAttributes.entry.%d.Value.DataType", n);      \
		rc |= form_add(&b, len, &cap, k, "String");                                 \
		snprintf(k, sizeof k, "MessageAttributes.entry.%d.Value.StringValue", n);   \
		rc |= form_add(&b, len, &cap, k, VALUE);                                    \
		n++;                                                                        \
	} while (0)
	ATTR("AWS.SNS.SMS.SMSType", s->promotional ? "Promotional" : "Transactional");
	if (s->origination && *s->origination)
		ATTR(s->origination[0] == '+' ? "AWS.MM.SMS.OriginationNumber" : "AWS.SNS.SMS.SenderID",
		     s->origination);
#undef ATTR
	if (rc) {
		free(b);
		return NULL;
	}
	return b;
}

/* ------------------------------------------------------------------ errors */

static bool opted_out(const char *code, const char *reason, const char *msg)
{
	return (code && strstr(code, "OptedOut")) || (reason && strstr(reason, "OPTED_OUT")) ||
	       (msg && (strstr(msg, "opted out") || strstr(msg, "opted-out")));
}

/* What went wrong, into msg; the kind.  (vm_fail() is the caller's: one
 * refused number among several is logged, not the end of the stage.) */
static vm_status failure(vm_status st, const struct sms_send *s, const vm_aws_response *r,
			 char *msg, size_t size)
{
	char shown[40], reason[80];
	sms_mask(s->to, shown, sizeof shown);
	const char *svc = s->via == SMS_VIA_SNS ? "SNS Publish" : "End User Messaging SendTextMessage";
	msg[0] = '\0';
	if (!r->error_code) /* no answer: vm_aws_send()'s vm_fail() says why */
		return st;
	reason_of(r, reason, sizeof reason);
	const char *m = r->error_message ? r->error_message : "";
	const char *sp = reason[0] ? " " : "";
	if (opted_out(r->error_code, reason, m)) {
		snprintf(msg, size, "%s to %s: the number has opted out of SMS (%s%s%s): not sent, and "
			 "not retried", svc, shown, r->error_code, sp, reason);
		return VM_PERMANENT;
	}
	if (r->status >= 500 || r->retryable) {
		snprintf(msg, size, "%s to %s: HTTP %ld %s: %s", svc, shown, r->status, r->error_code, m);
		return VM_TRANSIENT;
	}
	const char *action = s->via == SMS_VIA_SNS ? "sns:Publish" : "sms-voice:SendTextMessage";
	bool denied = r->status == 403 || strcmp(r->error_code, "AccessDeniedException") == 0 ||
		      strcmp(r->error_code, "AuthorizationError") == 0;
	if (denied && strcmp(reason, "ACCOUNT_DISABLED") != 0 &&
	    strcmp(reason, "INSUFFICIENT_ACCOUNT_REPUTATION") != 0)
		snprintf(msg, size, "%s to %s: HTTP %ld %s%s%s: %s (the role vmpipe runs as needs the "
			 "IAM action %s: deploy/template.yaml grants it when the pipeline uses "
			 "notify-sms)", svc, shown, r->status, r->error_code, sp, reason, m, action);
	else
		snprintf(msg, size, "%s to %s: HTTP %ld %s%s%s: %s", svc, shown, r->status,
			 r->error_code, sp, reason, m);
	return VM_PERMANENT;
}

vm_status sms_send(vm_job *job, const struct sms_send *s, char **id, char *msg, size_t size)
{
	msg[0] = '\0';
	*id = NULL;
	size_t len = 0;
	char *body;
	vm_aws_request req = {.region = s->region, .method = "POST", .path = "/",
			      .max_response = 64 * 1024};
	static const vm_aws_pair eum_headers[] = {
		{"Content-Type", "application/x-amz-json-1.0"},
		{"X-Amz-Target", "PinpointSMSVoiceV2.SendTextMessage"},
	};
	static const vm_aws_pair sns_headers[] = {
		{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
	};
	if (s->via == SMS_VIA_SNS) {
		body = sns_body(s, &len);
		req.service = "sns", req.protocol = VM_AWS_QUERY;
		req.headers = sns_headers, req.nheaders = 1;
	} else {
		body = eum_body(s);
		len = body ? strlen(body) : 0;
		req.service = "pinpoint-sms-voice-v2", req.protocol = VM_AWS_JSON;
		req.headers = eum_headers, req.nheaders = 2;
	}
	if (!body)
		return vm_fail(job, VM_TRANSIENT, "out of memory building the SMS request");
	req.body = body, req.body_len = len;
	vm_aws_response r;
	vm_status st = vm_aws_send(job, &req, &r);
	free(body);
	if (st != VM_DONE) {
		st = failure(st, s, &r, msg, size);
		vm_aws_response_free(&r);
		return st;
	}
	if (s->via == SMS_VIA_SNS) {
		*id = sms_sns_message_id(r.body, r.body_len);
	} else {
		json_t *j = json_loadb((const char *)r.body, r.body_len, 0, NULL);
		const char *v = json_string_value(json_object_get(j, "MessageId"));
		*id = v && *v ? strdup(v) : NULL;
		json_decref(j);
	}
	vm_aws_response_free(&r);
	if (!*id) {
		/* Accepted: sending again would be a second text. */
		vm_log(job, VM_LOG_WARN, "%s accepted the SMS but answered no MessageId",
		       s->via == SMS_VIA_SNS ? "SNS" : "End User Messaging");
		*id = strdup("unknown");
	}
	return VM_DONE;
}
