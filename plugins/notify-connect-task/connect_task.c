/*
 * notify-connect-task: deliver the voicemail as an Amazon Connect Task
 * (connect:StartTaskContact), to a queue or an agent, the way Voicemail
 * Express (VMX3, Code/sub_connect_task.py) does: the transcript as the
 * description and a reference, the recording link as a URL reference, the
 * caller and the routing in the task's attributes, PreviousContactId the
 * voice contact.
 *
 * Once only: the ClientToken is the stage's notification key (the job id and
 * the stage name, the same on every attempt and on every host), and
 * StartTaskContact is idempotent on it: a runner that resumes after a crash
 * between the call and the checkpoint gets the same task back, not a second
 * one.  This closes the window SES leaves open (docs/aws-plugins.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "connect_task.h"

/* ------------------------------------------------------------------ init */

static const char *field_type(const char *var)
{
	if (strcmp(var, "url") == 0)
		return "URL";
	if (strcmp(var, "duration_seconds") == 0)
		return "NUMBER";
	return "STRING";
}

/* "Callback number=caller, Recording=url": a template's fields, each filled
 * with a template variable (or a {{…}} text). */
static int parse_fields(vm_stage *stage, struct connect_task *ct)
{
	if (!ct->template_fields || !*ct->template_fields)
		return 0;
	char *copy = strdup(ct->template_fields), *save = NULL;
	if (!copy) {
		vm_stage_error(stage, "out of memory");
		return -1;
	}
	int rc = 0;
	for (char *it = strtok_r(copy, ",", &save); it && rc == 0; it = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(it, '=');
		while (*it == ' ')
			it++;
		if (!eq || eq == it) {
			vm_stage_error(stage, "option 'template_fields': '%s' is not FIELD=VARIABLE", it);
			rc = -1;
			break;
		}
		char *end = eq;
		while (end > it && end[-1] == ' ')
			end--;
		*end = '\0';
		char *var = eq + 1;
		while (*var == ' ')
			var++;
		for (char *e = var + strlen(var); e > var && e[-1] == ' ';)
			*--e = '\0';
		if (ct->nfields == CT_FIELDS_MAX) {
			vm_stage_error(stage, "option 'template_fields': at most %d fields", CT_FIELDS_MAX);
			rc = -1;
			break;
		}
		char src[300], err[200];
		snprintf(src, sizeof src, strstr(var, "{{") ? "%s" : "{{%s}}", var);
		struct ct_field *f = &ct->fields[ct->nfields];
		if (!(f->value = vm_text_parse(src, true, err, sizeof err))) {
			vm_stage_error(stage, "option 'template_fields': field '%s': %s", it, err);
			rc = -1;
			break;
		}
		f->name = strdup(it);
		f->type = field_type(var);
		ct->nfields++;
		if (!f->name) {
			vm_stage_error(stage, "out of memory");
			rc = -1;
		}
	}
	free(copy);
	return rc;
}

static int id_option(vm_stage *stage, const char *name, const char *v, char *buf, size_t size)
{
	if (!v || !*v)
		return 0;
	if (ct_resource_id(v, buf, size) != 0) {
		vm_stage_error(stage, "option '%s': '%s' is not an id or ARN (1-%d of A-Z a-z 0-9 _ : / . -)",
			       name, v, CT_ID_MAX);
		return -1;
	}
	return 0;
}

/* Intake: a job whose instance cannot be known would fail at the end. */
static int intake(const void *state, const vm_job *job, char *why, size_t size)
{
	const struct connect_task *ct = state;
	char id[CT_ID_MAX + 1];
	if (ct->instance[0] || ct_arn_instance(vm_job_get_str(job, "contact.instance_arn"), id,
					       sizeof id) == 0)
		return 0;
	snprintf(why, size, "no Amazon Connect instance for the task: the event carries no "
		 "InstanceARN and instance_id is not set");
	return -1;
}

static void fini(void *state);

static int setup(vm_stage *stage, struct connect_task *ct)
{
	char err[200];
	if (id_option(stage, "instance_id", ct->instance_id, ct->instance, sizeof ct->instance) ||
	    id_option(stage, "contact_flow_id", ct->contact_flow_id, ct->flow_id, sizeof ct->flow_id) ||
	    id_option(stage, "quick_connect_id", ct->quick_connect_id, ct->quick_connect,
		      sizeof ct->quick_connect) ||
	    id_option(stage, "task_template_id", ct->task_template_id, ct->template_id,
		      sizeof ct->template_id))
		return -1;
	if (ct->instance_id && strncmp(ct->instance_id, "arn:", 4) == 0 &&
	    ct_arn_instance(ct->instance_id, ct->instance, sizeof ct->instance) != 0) {
		vm_stage_error(stage, "option 'instance_id': '%s' is not an instance ARN", ct->instance_id);
		return -1;
	}
	if (!ct->flow_id[0] && !ct->quick_connect[0] && !ct->template_id[0]) {
		vm_stage_error(stage, "set contact_flow_id (the task flow that routes the voicemail), "
				      "quick_connect_id or task_template_id");
		return -1;
	}
	if (ct->default_queue && *ct->default_queue && strstr(ct->default_queue, "/queue/") == NULL) {
		vm_stage_error(stage, "option 'default_queue': '%s' is not a queue ARN "
				      "(arn:aws:connect:REGION:ACCOUNT:instance/ID/queue/ID)", ct->default_queue);
		return -1;
	}
	if (ct->nfields == 0 && ct->template_fields && *ct->template_fields && !ct->template_id[0]) {
		vm_stage_error(stage, "option 'template_fields' needs task_template_id");
		return -1;
	}
	if (!(ct->name_t = vm_text_parse(ct->name, true, err, sizeof err))) {
		vm_stage_error(stage, "option 'name': %s", err);
		return -1;
	}
	if (!(ct->description_t = vm_text_parse(ct->description, false, err, sizeof err))) {
		vm_stage_error(stage, "option 'description': %s", err);
		return -1;
	}
	if (parse_fields(stage, ct) != 0)
		return -1;
	vm_stage_intake_check(stage, intake);
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
	struct connect_task *ct = state;
	vm_text_free(ct->name_t);
	vm_text_free(ct->description_t);
	ct->name_t = ct->description_t = NULL;
	for (size_t i = 0; i < ct->nfields; i++) {
		free(ct->fields[i].name);
		vm_text_free(ct->fields[i].value);
	}
	ct->nfields = 0;
}

/* ------------------------------------------------------------- failures */

/* StartTaskContact's documented errors (botocore connect model) and what to fix. */
static const struct {
	const char *code;
	const char *hint;
} hints[] = {
	{"ResourceNotFoundException", "check instance_id, the task flow (contact_flow_id or the "
				      "contact's flow attribute), quick_connect_id and task_template_id"},
	{"ServiceQuotaExceededException", "the instance's quota of concurrent active tasks is "
					  "reached: raise it in Service Quotas or close tasks"},
	{"InvalidParameterException", NULL},
	{"InvalidRequestException", NULL},
};

vm_status ct_failure(vm_job *job, vm_status st, const vm_aws_response *r, const char *action,
		     const char *what)
{
	if (!r->error_code) /* no answer: vm_aws_send()'s message says why */
		return st;
	const char *msg = r->error_message ? r->error_message : "";
	if (r->status >= 500 || r->retryable) {
		const char *ra = vm_aws_response_header(r, "retry-after");
		long secs = ra ? strtol(ra, NULL, 10) : 0;
		if (secs > 0 && secs <= 3600) {
			vm_log(job, VM_LOG_WARN, "Amazon Connect %s: HTTP %ld %s: %s; trying again in %ld s "
			       "as Retry-After asks", what, r->status, r->error_code, msg, secs);
			return vm_retry(job, secs * 1000);
		}
		return vm_fail(job, VM_TRANSIENT, "Amazon Connect %s: HTTP %ld %s: %s", what, r->status,
			       r->error_code, msg);
	}
	if (strcmp(r->error_code, "AccessDeniedException") == 0 || r->status == 403)
		return vm_fail(job, VM_PERMANENT, "Amazon Connect %s: HTTP %ld %s: %s (the role vmpipe "
			       "runs as needs the IAM action %s on the instance: deploy/template.yaml "
			       "grants it when the pipeline uses notify-connect-task)", what, r->status,
			       r->error_code, msg, action);
	const char *hint = NULL;
	for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
		if (strcmp(r->error_code, hints[i].code) == 0)
			hint = hints[i].hint;
	return vm_fail(job, VM_PERMANENT, "Amazon Connect %s: HTTP %ld %s: %s%s%s%s", what, r->status,
		       r->error_code, msg, hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
}

/* ------------------------------------------------------------------- run */

static int set_str(json_t *o, const char *k, const char *v)
{
	return json_object_set_new(o, k, json_string(v ? v : ""));
}

static int add_ref(json_t *refs, const char *key, const char *value, const char *type)
{
	if (!value || !*value)
		return 0;
	char *fit = ct_fit(value, CT_REFERENCE_MAX, " …(truncated)");
	json_t *r = fit ? json_pack("{s:s, s:s}", "Value", fit, "Type", type) : NULL;
	free(fit);
	return r ? json_object_set_new(refs, key, r) : -1;
}

static void duration_text(const vm_job *job, char *buf, size_t size)
{
	double secs;
	buf[0] = '\0';
	if (vm_job_get_num(job, "recording.duration_seconds", &secs) && secs >= 0 && secs < 1e9)
		snprintf(buf, size, "%.0f", secs);
}

static int add_attributes(const struct connect_task *ct, const vm_job *job,
			  const struct ct_route *rt, const char *transcript, json_t *attrs)
{
	char secs[32], date[40];
	duration_text(job, secs, sizeof secs);
	if (ct->copy_attributes) {
		char *all = vm_job_to_json(job);
		json_t *rec = all ? json_loads(all, 0, NULL) : NULL;
		free(all);
		json_t *own = json_object_get(json_object_get(rec, "contact"), "attributes");
		const char *k;
		json_t *v;
		json_object_foreach(own, k, v) if (json_is_string(v) && *k)
			json_object_set(attrs, k, v);
		json_decref(rec);
	}
	const char *caller = vm_job_get_str(job, "contact.caller");
	set_str(attrs, "vmpipe_job_id", vm_job_id(job));
	set_str(attrs, "vmpipe_recording_uri", vm_job_get_str(job, "recording.uri"));
	set_str(attrs, "vmpipe_duration", secs);
	set_str(attrs, "vmpipe_caller", caller);
	set_str(attrs, "vmpipe_target", rt->target);
	set_str(attrs, "vmpipe_agent_id", rt->agent_id);
	set_str(attrs, "vmpipe_queue_arn", rt->route_arn);
	if (ct->vmx3_attributes) {
		/* What VMX3's task flow and agents' views read (sub_connect_task.py). */
		const char *rec = vm_job_get_str(job, "received_at");
		vm_format_time(vm_now_ms(), date, sizeof date);
		char *short_tx = ct_fit(transcript, 2048, " ...(truncated)");
		set_str(attrs, "vmx3_callback_number", caller);
		set_str(attrs, "vmx3_timestamp", rec ? rec : date);
		set_str(attrs, "vmx3_transcript", short_tx);
		set_str(attrs, "vmx3_target", rt->target[0] ? rt->target : "queue");
		set_str(attrs, "vmx3_preferred_agent_id", rt->agent_id[0] ? rt->agent_id : "NONE");
		if (rt->queue_arn[0])
			set_str(attrs, "vmx3_queue_arn", rt->queue_arn);
		free(short_tx);
	}
	/* Connect keeps at most 32,768 UTF-8 bytes of attributes per contact. */
	size_t bytes = 0;
	const char *k;
	json_t *v;
	json_object_foreach(attrs, k, v) bytes += strlen(k) + strlen(json_string_value(v));
	return bytes <= CT_ATTRIBUTES_BYTES ? 0 : (int)(bytes > 0x7fffffff ? 0x7fffffff : bytes);
}

/* The StartTaskContact request (malloc()ed JSON), or NULL with *why set. */
static char *build(const struct connect_task *ct, const vm_job *job, const char *instance,
		   const struct ct_route *rt, const char *token, const char **why, int *over)
{
	json_t *b = json_object(), *attrs = json_object(), *refs = json_object();
	char *name = vm_text_render(ct->name_t, job);
	char *desc_full = vm_text_render(ct->description_t, job);
	char *name_fit = name ? ct_fit(name, CT_NAME_MAX, "…") : NULL;
	char *desc = desc_full ? ct_fit(desc_full, CT_DESCRIPTION_MAX,
					"\n…(truncated: the whole transcript is in the Transcript "
					"reference and the job record)") : NULL;
	const char *transcript = vm_job_get_str(job, "transcript.text");
	char *out = NULL;
	*why = "out of memory";
	if (!b || !attrs || !refs || !name_fit || !desc)
		goto done;
	set_str(b, "InstanceId", instance);
	set_str(b, "Name", name_fit);
	set_str(b, "Description", desc);
	set_str(b, "ClientToken", token);
	if (rt->flow_id[0])
		set_str(b, "ContactFlowId", rt->flow_id);
	if (ct->quick_connect[0])
		set_str(b, "QuickConnectId", ct->quick_connect);
	const char *voice = vm_job_get_str(job, "contact.id");
	if (voice && *voice && ct_id_ok(voice) && ct->link != CT_LINK_NONE)
		set_str(b, ct->link == CT_LINK_RELATED ? "RelatedContactId" : "PreviousContactId", voice);
	if ((*over = add_attributes(ct, job, rt, transcript ? transcript : "", attrs)) != 0) {
		*why = "attributes";
		goto done;
	}
	json_object_set(b, "Attributes", attrs);
	if (ct->template_id[0]) {
		set_str(b, "TaskTemplateId", ct->template_id);
		for (size_t i = 0; i < ct->nfields; i++) {
			char *v = vm_text_render(ct->fields[i].value, job);
			int rc = v ? add_ref(refs, ct->fields[i].name, v, ct->fields[i].type) : -1;
			free(v);
			if (rc != 0)
				goto done;
		}
	} else if (ct->references) {
		const char *url = vm_job_get_str(job, "recording.url");
		char secs[32];
		duration_text(job, secs, sizeof secs);
		if ((url && (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0) &&
		     strlen(url) <= CT_REFERENCE_MAX && add_ref(refs, "Recording", url, "URL") != 0) ||
		    add_ref(refs, "Caller", vm_job_get_str(job, "contact.caller"), "STRING") != 0 ||
		    add_ref(refs, "Duration", secs, "NUMBER") != 0 ||
		    add_ref(refs, "Transcript", transcript, "STRING") != 0)
			goto done;
	}
	if (json_object_size(refs))
		json_object_set(b, "References", refs);
	out = json_dumps(b, JSON_COMPACT);
done:
	json_decref(b);
	json_decref(attrs);
	json_decref(refs);
	free(name);
	free(name_fit);
	free(desc_full);
	free(desc);
	return out;
}

static vm_status start_task(const struct connect_task *ct, vm_job *job, const char *instance,
			    const char *region)
{
	struct ct_route rt;
	vm_status st = ct_route_job(ct, job, instance, region, &rt);
	if (st != VM_DONE)
		return st;
	char token[40];
	vm_job_notification_key(job, token, sizeof token);
	const char *why = NULL;
	int over = 0;
	char *body = build(ct, job, instance, &rt, token, &why, &over);
	if (!body && over)
		return vm_fail(job, VM_PERMANENT, "the task's attributes take %d bytes; Amazon Connect "
			       "keeps at most %d per contact: set copy_attributes = no or shorten the "
			       "contact's attributes", over, CT_ATTRIBUTES_BYTES);
	if (!body)
		return vm_fail(job, VM_TRANSIENT, "building the StartTaskContact request: %s", why);
	static const vm_aws_pair headers[] = {{"Content-Type", "application/json"}};
	vm_aws_request req = {
		.service = "connect", .region = region, .method = "PUT", .path = "/contact/task",
		.headers = headers, .nheaders = 1, .body = body, .body_len = strlen(body),
		.protocol = VM_AWS_REST_JSON, .max_response = 64 * 1024,
	};
	vm_aws_response r;
	vm_log(job, VM_LOG_DEBUG, "StartTaskContact: instance %s, %s%s%s, ClientToken %s", instance,
	       rt.target[0] ? rt.target : "the flow's routing", rt.target[0] ? " " : "",
	       rt.route_arn, token);
	st = vm_aws_send(job, &req, &r);
	free(body);
	if (st != VM_DONE) {
		st = ct_failure(job, st, &r, "connect:StartTaskContact", "StartTaskContact");
		vm_aws_response_free(&r);
		return st;
	}
	json_t *a = json_loadb((const char *)r.body, r.body_len, 0, NULL);
	const char *id = json_string_value(json_object_get(a, "ContactId"));
	if (!id || !*id) {
		json_decref(a);
		vm_aws_response_free(&r);
		return vm_fail(job, VM_TRANSIENT, "StartTaskContact answered without a ContactId");
	}
	vm_job_add_notification(job, "connect-task", id);
	vm_job_set_str(job, "task.contact_id", id);
	vm_log(job, VM_LOG_INFO, "task %s started in instance %s (%s%s%s; %d attempt%s)", id, instance,
	       rt.target[0] ? rt.target : "routed by the flow", rt.agent_id[0] ? " " : "", rt.agent_id,
	       r.attempts, r.attempts == 1 ? "" : "s");
	json_decref(a);
	vm_aws_response_free(&r);
	return vm_done(job);
}

static vm_status run(const void *state, vm_job *job)
{
	const struct connect_task *ct = state;
	const char *done = vm_job_notified(job);
	if (done) {
		vm_log(job, VM_LOG_INFO, "task already started (ContactId %s): not again", done);
		return vm_done(job);
	}
	if (vm_job_maybe_sent(job))
		vm_log(job, VM_LOG_INFO, "an earlier attempt was cut off while starting the task; the "
		       "same ClientToken makes Amazon Connect answer with that task, not a new one");
	char instance[CT_ID_MAX + 1], region[64] = "";
	const char *arn = vm_job_get_str(job, "contact.instance_arn");
	if (ct->instance[0])
		snprintf(instance, sizeof instance, "%s", ct->instance);
	else if (ct_arn_instance(arn, instance, sizeof instance) != 0)
		return vm_fail(job, VM_PERMANENT, "no Amazon Connect instance for the task: the event "
			       "carries no InstanceARN and instance_id is not set");
	/* Connect answers in the instance's own region. */
	if (ct->region && *ct->region)
		snprintf(region, sizeof region, "%s", ct->region);
	else if (arn && ct_arn_region(arn, region, sizeof region) != 0)
		region[0] = '\0';
	return start_task(ct, job, instance, region[0] ? region : NULL);
}

#define O(f) offsetof(struct connect_task, f)
static const vm_option options[] = {
	{"region", VM_OPT_STRING, NULL, false, O(region),
	 "the instance's region (default: that of the contact's InstanceARN, else AWS_REGION)", NULL},
	{"instance_id", VM_OPT_STRING, NULL, false, O(instance_id),
	 "Amazon Connect instance id or ARN (default: the contact's InstanceARN)", NULL},
	{"contact_flow_id", VM_OPT_STRING, NULL, false, O(contact_flow_id),
	 "the task flow that routes the voicemail (id or ARN); VMX3's default_task_flow", NULL},
	{"default_queue", VM_OPT_STRING, NULL, false, O(default_queue),
	 "queue ARN for a voicemail whose contact names none", NULL},
	{"quick_connect_id", VM_OPT_STRING, NULL, false, O(quick_connect_id),
	 "a quick connect (agent or queue) whose flow takes the task instead", NULL},
	{"task_template_id", VM_OPT_STRING, NULL, false, O(task_template_id),
	 "a Task template; its fields come from template_fields", NULL},
	{"template_fields", VM_OPT_STRING, NULL, false, O(template_fields),
	 "FIELD=VARIABLE, … : the template's fields filled from the job (url, caller, transcript, …)",
	 NULL},
	{"name", VM_OPT_STRING, "Voicemail from {{caller}}", false, O(name),
	 "task name template (at most 512 characters)", NULL},
	{"description", VM_OPT_STRING,
	 "Voicemail from {{caller}} on {{date}} ({{duration}}).\n\n{{transcript}}"
	 "{{#no_speech}}(no speech in the recording){{/no_speech}}"
	 "{{#transcript_unavailable}}(no transcript){{/transcript_unavailable}}", false,
	 O(description), "task description template (cut at 4096 characters with a note)", NULL},
	{"agent_attribute", VM_OPT_STRING, "taskAgent,vmx3_preferred_agent_id,vmx3_preferred_agent",
	 false, O(agent_attribute),
	 "contact attributes naming the agent (user id or login), first set wins", NULL},
	{"queue_attribute", VM_OPT_STRING, "taskQueue,vmx3_queue_arn", false, O(queue_attribute),
	 "contact attributes naming the queue ARN, first set wins", NULL},
	{"target_attribute", VM_OPT_STRING, "taskTarget,vmx3_target", false, O(target_attribute),
	 "contact attributes saying agent or queue (queue: the agent is ignored)", NULL},
	{"flow_attribute", VM_OPT_STRING, "taskFlow,vmx3_task_flow", false, O(flow_attribute),
	 "contact attributes naming another task flow for this voicemail", NULL},
	{"copy_attributes", VM_OPT_BOOL, "yes", false, O(copy_attributes),
	 "give the task the voice contact's own attributes", NULL},
	{"vmx3_attributes", VM_OPT_BOOL, "yes", false, O(vmx3_attributes),
	 "also set the vmx3_* attributes VMX3's task flow routes by", NULL},
	{"references", VM_OPT_BOOL, "yes", false, O(references),
	 "Recording (URL), Caller, Duration and Transcript references (without a template)", NULL},
	{"link", VM_OPT_ENUM, "previous", false, O(link),
	 "how the task points at the voice contact: PreviousContactId, RelatedContactId or none",
	 "previous|related|none"},
	{NULL, 0, NULL, false, 0, NULL, NULL},
};

const vm_plugin vmpipe_plugin = {
	.abi_version = VMPIPE_ABI_VERSION,
	.kind = VM_STAGE_NOTIFY,
	.name = "notify-connect-task",
	.summary = "an Amazon Connect Task to a queue or agent (StartTaskContact, idempotent ClientToken)",
	.options = options,
	.state_size = sizeof(struct connect_task),
	.init = init,
	.run = run,
	.fini = fini,
};
