/*
 * notify-connect-task: which queue or agent a voicemail goes to, the way
 * Voicemail Express (VMX3) decides it (Code/sub_build_data_payload.py and
 * its example task flow in CloudFormation/vmx3-contactflows.yaml): the
 * contact names a target (agent or queue), a queue ARN, and for an agent a
 * login (VMX3 looks it up with connect:SearchUsers, Username EXACT) or, here,
 * the agent's id directly.  An agent that cannot be found leaves the
 * voicemail in the queue, as VMX3 does ("Failed to find agent", then the
 * queue).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "connect_task.h"

const char *ct_attribute(const vm_job *job, const char *names)
{
	if (!names)
		return NULL;
	char path[300];
	const char *p = names;
	while (*p) {
		while (*p == ',' || *p == ' ')
			p++;
		size_t n = strcspn(p, ", ");
		if (n && n < sizeof path - 20) {
			snprintf(path, sizeof path, "contact.attributes.%.*s", (int)n, p);
			const char *v = vm_job_get_str(job, path);
			if (v && *v)
				return v;
		}
		p += n;
	}
	return NULL;
}

/* The user id of login `login` (SearchUsers, Username EXACT), into id.
 * VM_DONE (id "" when there is no such user), or a vm_fail() status. */
static vm_status search_user(vm_job *job, const char *instance, const char *region,
			     const char *login, char *id, size_t size)
{
	id[0] = '\0';
	json_t *q = json_pack("{s:s, s:i, s:{s:[{s:{s:s, s:s, s:s}}]}}", "InstanceId", instance,
			      "MaxResults", 1, "SearchCriteria", "OrConditions", "StringCondition",
			      "FieldName", "Username", "Value", login, "ComparisonType", "EXACT");
	char *body = q ? json_dumps(q, JSON_COMPACT) : NULL;
	json_decref(q);
	if (!body)
		return vm_fail(job, VM_TRANSIENT, "out of memory building SearchUsers");
	static const vm_aws_pair headers[] = {{"Content-Type", "application/json"}};
	vm_aws_request req = {
		.service = "connect", .region = region, .method = "POST", .path = "/search-users",
		.headers = headers, .nheaders = 1, .body = body, .body_len = strlen(body),
		.protocol = VM_AWS_REST_JSON, .max_response = 1024 * 1024,
	};
	vm_aws_response r;
	vm_status st = vm_aws_send(job, &req, &r);
	free(body);
	if (st != VM_DONE) {
		st = ct_failure(job, st, &r, "connect:SearchUsers", "SearchUsers");
		vm_aws_response_free(&r);
		return st;
	}
	json_t *a = json_loadb((const char *)r.body, r.body_len, 0, NULL);
	json_t *users = json_object_get(a, "Users");
	for (size_t i = 0; i < json_array_size(users); i++) {
		json_t *u = json_array_get(users, i);
		const char *name = json_string_value(json_object_get(u, "Username"));
		const char *uid = json_string_value(json_object_get(u, "Id"));
		/* EXACT, but the answer is checked, not trusted. */
		if (name && uid && strcmp(name, login) == 0 && ct_id_ok(uid)) {
			snprintf(id, size, "%s", uid);
			break;
		}
	}
	json_decref(a);
	vm_aws_response_free(&r);
	return VM_DONE;
}

/* A login as Connect allows it (AgentUsername: 1-100 characters), and fit for a log line. */
static bool login_ok(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f)
			return false;
	return n > 0 && n <= 100;
}

static vm_status agent_of(vm_job *job, const char *instance, const char *region, const char *agent,
			  struct ct_route *out)
{
	if (ct_is_uuid(agent)) {
		snprintf(out->agent_id, sizeof out->agent_id, "%s", agent);
		return VM_DONE;
	}
	if (!login_ok(agent)) {
		vm_log(job, VM_LOG_WARN, "agent attribute is neither a user id nor a login: "
					 "the voicemail goes to the queue");
		return VM_DONE;
	}
	const char *cached = vm_job_get_str(job, "task.agent_login");
	const char *cached_id = vm_job_get_str(job, "task.agent_id");
	if (cached && cached_id && strcmp(cached, agent) == 0) {
		snprintf(out->agent_id, sizeof out->agent_id, "%s", cached_id);
		return VM_DONE;
	}
	vm_status st = search_user(job, instance, region, agent, out->agent_id, sizeof out->agent_id);
	if (st != VM_DONE)
		return st;
	if (!out->agent_id[0]) {
		vm_log(job, VM_LOG_WARN, "no agent with login '%s' in instance %s: the voicemail "
					 "goes to the queue (as VMX3 does)", agent, instance);
		return VM_DONE;
	}
	vm_job_set_str(job, "task.agent_login", agent);
	vm_job_set_str(job, "task.agent_id", out->agent_id);
	return VM_DONE;
}

/* arn:aws:connect:R:A:instance/I/queue/Q -> its instance id, or -1. */
static int queue_arn_ok(const char *arn, char *instance, size_t size)
{
	if (ct_arn_instance(arn, instance, size) != 0)
		return -1;
	const char *q = strstr(arn, "/queue/");
	return q && q[7] && !strchr(q + 7, ' ') ? 0 : -1;
}

vm_status ct_route_job(const struct connect_task *ct, vm_job *job, const char *instance,
		       const char *region, struct ct_route *out)
{
	memset(out, 0, sizeof *out);
	const char *flow = ct_attribute(job, ct->flow_attribute);
	if (flow && ct_resource_id(flow, out->flow_id, sizeof out->flow_id) != 0)
		return vm_fail(job, VM_PERMANENT, "contact attribute %s: '%.100s' is not a contact "
			       "flow id or ARN", ct->flow_attribute, flow);
	if (!flow)
		snprintf(out->flow_id, sizeof out->flow_id, "%s", ct->flow_id);

	const char *target = ct_attribute(job, ct->target_attribute);
	if (target && strcasecmp(target, "agent") != 0 && strcasecmp(target, "queue") != 0) {
		vm_log(job, VM_LOG_WARN, "contact attribute %s is '%.40s', not agent or queue: ignored",
		       ct->target_attribute, target);
		target = NULL;
	}
	const char *queue = ct_attribute(job, ct->queue_attribute);
	if (!queue || !*queue)
		queue = ct->default_queue;
	if (queue && *queue) {
		char qi[CT_ID_MAX + 1];
		if (queue_arn_ok(queue, qi, sizeof qi) != 0)
			return vm_fail(job, VM_PERMANENT, "queue '%.300s' is not a queue ARN "
				       "(arn:aws:connect:REGION:ACCOUNT:instance/ID/queue/ID)", queue);
		if (strcmp(qi, instance) != 0)
			return vm_fail(job, VM_PERMANENT, "queue %.300s is in instance %s, the task "
				       "would be in %s", queue, qi, instance);
		snprintf(out->queue_arn, sizeof out->queue_arn, "%s", queue);
	}
	const char *agent = target && strcasecmp(target, "queue") == 0 ? NULL
			    : ct_attribute(job, ct->agent_attribute);
	if (agent) {
		vm_status st = agent_of(job, instance, region, agent, out);
		if (st != VM_DONE)
			return st;
	} else if (target && strcasecmp(target, "agent") == 0) {
		vm_log(job, VM_LOG_WARN, "target is agent but no agent attribute (%s) is set: the "
					 "voicemail goes to the queue", ct->agent_attribute);
	}
	if (out->agent_id[0]) {
		snprintf(out->target, sizeof out->target, "agent");
		/* Every agent has a queue of its own: …/instance/I/queue/agent/AGENT. */
		const char *base = out->queue_arn[0] ? out->queue_arn
				   : vm_job_get_str(job, "contact.instance_arn");
		const char *cut = base ? strstr(base, "/queue/") : NULL;
		int n = base ? (cut ? (int)(cut - base) : (int)strlen(base)) : 0;
		if (base && strncmp(base, "arn:", 4) == 0)
			snprintf(out->route_arn, sizeof out->route_arn, "%.*s/queue/agent/%s", n, base,
				 out->agent_id);
	} else if (out->queue_arn[0]) {
		snprintf(out->target, sizeof out->target, "queue");
		snprintf(out->route_arn, sizeof out->route_arn, "%s", out->queue_arn);
	}
	if (!out->flow_id[0] && !ct->quick_connect[0] && !ct->template_id[0])
		return vm_fail(job, VM_PERMANENT, "no task flow: set contact_flow_id (or the contact "
			       "attribute %s, quick_connect_id or task_template_id)", ct->flow_attribute);
	vm_job_set_str(job, "task.target", out->target[0] ? out->target : NULL);
	vm_job_set_str(job, "task.queue_arn", out->route_arn[0] ? out->route_arn : NULL);
	return VM_DONE;
}
