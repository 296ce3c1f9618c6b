/*
 * notify-connect-task: the plugin's state (filled from its option table) and
 * what its files share.
 */
#ifndef NOTIFY_CONNECT_TASK_H
#define NOTIFY_CONNECT_TASK_H

#include <stdbool.h>

#include <vmpipe/vmpipe.h>

#include "task_text.h"

enum ct_link { CT_LINK_PREVIOUS, CT_LINK_RELATED, CT_LINK_NONE };

#define CT_FIELDS_MAX 20

struct ct_field {
	char *name;   /* the template's field name: the reference key */
	vm_text *value;
	const char *type; /* "URL", "NUMBER" or "STRING" */
};

struct connect_task {
	/* options */
	const char *region;
	const char *instance_id;
	const char *contact_flow_id;
	const char *default_queue;
	const char *quick_connect_id;
	const char *task_template_id;
	const char *template_fields;
	const char *name;
	const char *description;
	const char *agent_attribute;
	const char *queue_attribute;
	const char *target_attribute;
	const char *flow_attribute;
	bool copy_attributes;
	bool vmx3_attributes;
	bool references;
	int link;
	/* from init, read-only afterwards */
	vm_text *name_t, *description_t;
	char flow_id[CT_ID_MAX + 1], quick_connect[CT_ID_MAX + 1], template_id[CT_ID_MAX + 1];
	char instance[CT_ID_MAX + 1];
	struct ct_field fields[CT_FIELDS_MAX];
	size_t nfields;
};

/* Where the task goes, as route.c decided it for one job. */
struct ct_route {
	char target[8];          /* "agent", "queue", or "" (the flow's own routing) */
	char agent_id[CT_ID_MAX + 1];
	char queue_arn[400];     /* the voicemail's queue (standard) */
	char route_arn[400];     /* where the task flow should put it: the agent's queue or queue_arn */
	char flow_id[CT_ID_MAX + 1];
};

/* The first non-empty value among the contact attributes named in `names`
 * (a comma list, "taskAgent,vmx3_preferred_agent"), or NULL. */
const char *ct_attribute(const vm_job *job, const char *names);

/*
 * Decide the route for `job` (the instance is `instance`); may call
 * connect:SearchUsers for an agent named by login (the answer is kept in the
 * record, task.agent_login / task.agent_id, so a resumed job does not ask
 * again).  VM_DONE with `out` filled, or a vm_fail() status.
 */
vm_status ct_route_job(const struct connect_task *ct, vm_job *job, const char *instance,
		       const char *region, struct ct_route *out);

/* The permanent-or-transient verdict on a failed Connect call; `action` is
 * the IAM action ("connect:StartTaskContact"). */
vm_status ct_failure(vm_job *job, vm_status st, const vm_aws_response *r, const char *action,
		     const char *what);

#endif
