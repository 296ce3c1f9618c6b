/*
 * notify-sms: one text to one number, through AWS End User Messaging SMS
 * (pinpoint-sms-voice-v2 SendTextMessage, JSON 1.0) or Amazon SNS (Publish
 * to PhoneNumber, query protocol), as botocore's models of those services
 * define the requests, answers and errors.
 */
#ifndef NOTIFY_SMS_SEND_H
#define NOTIFY_SMS_SEND_H

#include <vmpipe/vmpipe.h>

enum sms_service { SMS_VIA_END_USER_MESSAGING, SMS_VIA_SNS };

struct sms_send {
	enum sms_service via;
	const char *region;        /* NULL: the default chain */
	const char *to;            /* E.164 */
	const char *body;
	const char *origination;   /* OriginationIdentity (SNS: origination number or sender id) */
	const char *config_set;    /* ConfigurationSetName (End User Messaging only) */
	bool promotional;          /* MessageType PROMOTIONAL instead of TRANSACTIONAL */
	const char *context_keys[5], *context_values[5]; /* Context (End User Messaging only) */
};

/*
 * Send; VM_DONE with the MessageId (malloc()ed) in *id.  Otherwise the kind
 * (throttling and 5xx VM_TRANSIENT, opted out and everything else
 * VM_PERMANENT) and in `msg` what to say, naming the service, the error and
 * (masked) the number; `msg` is empty when there was no answer at all
 * (vm_aws_send() has then called vm_fail() with the reason).
 */
vm_status sms_send(vm_job *job, const struct sms_send *s, char **id, char *msg, size_t size);

#endif
