/*
 * The job record (engine side).  The host API in vmpipe.h is the plugins'
 * view; this adds what only the engine does: create, load, checkpoint, and
 * carry the outcome of the stage that just ran.
 */
#ifndef VMPIPE_JOB_H
#define VMPIPE_JOB_H

#include <jansson.h>
#include <vmpipe/vmpipe.h>

struct vm_job {
	json_t *rec;            /* the record; owned */
	const char *stage;      /* name of the stage running now, or NULL */
	int64_t retry_ms;       /* set by vm_retry() */
	char *fail_msg;         /* set by vm_fail(); owned */
	vm_status fail_kind;
	int64_t deadline_ms;    /* when the running stage must end (clock ms); 0: none.
				 * Set by the scheduler before it calls a stage. */
	bool maybe_sent;        /* the running notify stage was "sending" in a checkpoint */
	const char *timezone;   /* the pipeline's `timezone` for times in messages (borrowed;
				 * NULL: the host's).  Set by the scheduler with deadline_ms. */
};

/* A new record with id, received_at and state = "pending".  NULL: out of memory. */
vm_job *job_new(const char *id);
/* Take ownership of `rec` (a JSON object); NULL if it is not one. */
vm_job *job_from_json(json_t *rec);
/* Parse a job record from text; NULL with *err (static text or malloc()ed into errbuf). */
vm_job *job_from_string(const char *json, char *errbuf, size_t errsize);
void job_free(vm_job *job);

/* json_t at a dotted path, or NULL (borrowed). */
json_t *job_get(const vm_job *job, const char *path);
/* Set a dotted path, stealing `value`.  0 or -1. */
int job_set(vm_job *job, const char *path, json_t *value);

/* Append { stage, kind, message, at } to errors. */
void job_add_error(vm_job *job, const char *stage, const char *kind, const char *msg);
/* Clear the outcome fields before a stage runs. */
void job_reset_outcome(vm_job *job);

#endif
