/*
 * A failed job made runnable again (retry.h).
 */
#include "retry.h"

#include <string.h>

#include "exits.h"

int64_t job_round(const vm_job *job)
{
	json_t *r = job_get(job, "round");
	return json_is_integer(r) && json_integer_value(r) > 0 ? json_integer_value(r) : 0;
}

static bool is_notify_stage(const char *name)
{
	return strcmp(name, "notify") == 0 || strncmp(name, "notify.", 7) == 0;
}

/* Did a notifier of this round tell the owner of this failure?  Its locate
 * stage failed, and a notify stage is done. */
static bool owner_told_of_failure(vm_job *job)
{
	json_t *stages = job_get(job, "stages");
	const char *loc = json_string_value(json_object_get(stages, "locate"));
	if (!loc || strcmp(loc, "failed") != 0)
		return false;
	const char *k;
	json_t *v;
	json_object_foreach(stages, k, v)
	{
		const char *s = json_string_value(v);
		if (is_notify_stage(k) && s && (strcmp(s, "done") == 0 || strcmp(s, "told") == 0))
			return true;
	}
	return false;
}

bool retry_prepare(vm_job *job)
{
	json_t *stages = job_get(job, "stages");
	bool followup = owner_told_of_failure(job);
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(stages, tmp, k, v)
	{
		const char *s = json_string_value(v);
		bool told = s && strcmp(s, "told") == 0;
		if (followup && is_notify_stage(k) && s && (strcmp(s, "done") == 0 || told))
			json_object_set_new(stages, k, json_string("told"));
		else if (!(s && (strcmp(s, "done") == 0 || strcmp(s, "sending") == 0 || told)))
			json_object_del(stages, k);
	}
	if (json_is_object(job_get(job, "transcript")) && !json_object_get(stages, "transcribe")) {
		vm_job_set_str(job, "transcript.status", NULL);
		vm_job_set_str(job, "transcript.error", NULL);
	}
	if (!json_object_get(stages, "locate") && !vm_job_get_str(job, "recording.refused_uri"))
		vm_job_set_str(job, "recording.error", NULL);
	if (followup)
		job_set(job, "round", json_integer(job_round(job) + 1));
	vm_job_set_str(job, "outcome", NULL);
	return followup;
}

const char *job_outcome_name(int exit_status)
{
	return exit_status == EXIT_DONE ? "done" : exit_status == EXIT_NO_RECORDING ? "no_recording" : "not_notified";
}
