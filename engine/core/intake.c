/* Refusing at intake what every notifier would refuse; see intake.h. */
#include "intake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mail/mail.h"
#include "plugin.h"
#include "exits.h"

#define MSG_MAX 512

static bool delivered(const vm_job *job, const char *stage)
{
	const char *s = json_string_value(json_object_get(json_object_get(job->rec, "stages"), stage));
	return s && strcmp(s, "done") == 0;
}

/* stages.<name> = "failed": the name is one key ([notify.archive] holds a '.'). */
static void mark_failed(vm_job *job, const char *stage)
{
	json_t *stages = json_object_get(job->rec, "stages");
	if (!json_is_object(stages)) {
		stages = json_object();
		if (json_object_set_new(job->rec, "stages", stages) != 0)
			return;
	}
	json_object_set_new(stages, stage, json_string("failed"));
}

int intake_check(const struct pipeline *p, vm_job *job, char *err, size_t errsize)
{
	if (errsize)
		err[0] = '\0';
	char (*why)[MSG_MAX] = calloc(p->n_stages ? p->n_stages : 1, sizeof *why);
	if (!why)
		return 0; /* no memory to judge: let the stages find out */
	size_t waiting = 0;
	bool refused_by_all = true;
	for (size_t i = 0; i < p->n_stages && refused_by_all; i++) {
		const vm_stage *st = p->stages[i];
		if (st->kind != VM_STAGE_NOTIFY || delivered(job, st->name))
			continue;
		waiting++;
		/* Unknown rules or acceptable: it may deliver. */
		bool refuses = false;
		if (st->mail)
			refuses = mail_check_recipients(job, st->mail, why[i], MSG_MAX) == -1;
		else if (st->intake && st->inited)
			refuses = st->intake(st->state, job, why[i], MSG_MAX) == -1;
		if (!refuses)
			refused_by_all = false;
		else if (!why[i][0])
			snprintf(why[i], MSG_MAX, "[%s] refuses this job", st->name);
	}
	if (waiting == 0 || !refused_by_all) {
		free(why);
		return 0;
	}
	for (size_t i = 0; i < p->n_stages; i++) {
		const vm_stage *st = p->stages[i];
		if (!why[i][0])
			continue;
		log_msg(job, st->name, VM_LOG_ERROR, "%s", why[i]);
		job_add_error(job, st->name, "permanent", why[i]);
		mark_failed(job, st->name);
		if (errsize && !err[0])
			snprintf(err, errsize, "%s", why[i]);
	}
	free(why);
	vm_job_set_str(job, "state", "failed");
	log_msg(job, NULL, VM_LOG_WARN,
		"failed before any stage ran: no notifier would take it (exit %d)", EXIT_UNAVAILABLE);
	return EXIT_UNAVAILABLE;
}
