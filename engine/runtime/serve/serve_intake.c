/*
 * `vmpipe serve`: the admission every intake shares (claim, checkpoint,
 * start); serve_spool.c takes files from the spool, serve_queue.c messages
 * from SQS.
 */
#include "serve_int.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/state.h"
#include "core/retry.h"
#include "drop.h"

/* -------------------------------------------------------------- intake */

/* ADMIT_DONE: the job was done already (the queue deletes its message). */

/*
 * Claim, checkpoint and start `job` (owned).  `retry`: `vmpipe retry` asks,
 * through the spool ({"vmpipe_retry": "ID"}), for a failed job to run again:
 * the stages that failed are cleared and the job resumes from its checkpoint.
 */
/* A tenant's checkpoints are serve's alone, as the base's are (checked at
 * start): a tenant loaded since is checked before its first job runs. */
static bool state_private(const struct srv *v, const struct pipeline *p, char *why, size_t whysize)
{
	char err[1200];
	if (p == tenants_base(v->gen->ts) || state_check_private(p, err, sizeof err) == 0)
		return true;
	snprintf(why, whysize, "%s: state: %s", p->cfg.path, err);
	return false;
}

enum admit admit_job(struct srv *v, vm_job *job, bool retry, struct held **hp, char *why, size_t whysize)
{
	*hp = NULL;
	const struct pipeline *p = NULL;
	if (retry) {
		/* The id alone: the job runs on its tenant's pipeline, found
		 * where that keeps its checkpoints (the base's otherwise). */
		bool later = false;
		char w[700];
		p = tenants_for_job(v->gen->ts, vm_job_id(job), NULL, &later, w, sizeof w);
		if (!p) {
			snprintf(why, whysize, "retry: %s", w);
			job_free(job);
			return later ? ADMIT_LATER : ADMIT_REFUSED;
		}
	} else {
		struct diag d = {0};
		const char *tenant = vm_job_get_str(job, "tenant");
		p = tenants_get(v->gen->ts, tenant, &d);
		if (!p) {
			snprintf(why, whysize, "tenant '%s': pipeline refused%s%s", tenant ? tenant : "",
				 d.n ? ": " : "", d.n ? d.msgs[0] : "");
			diag_free(&d);
			job_free(job);
			return ADMIT_REFUSED;
		}
		diag_free(&d);
	}
	if (!state_private(v, p, why, whysize)) {
		job_free(job);
		return ADMIT_REFUSED;
	}
	const char *id = vm_job_id(job);
	if (json_object_get(v->ids, id)) {
		/* A retry asks for a run after this one: it waits for the job to
		 * end (it was dropped, and one sent the moment a job had failed,
		 * before the loop heard of the end, was lost). */
		snprintf(why, whysize, "job %s is %s in flight here", id, retry ? "still" : "already");
		job_free(job);
		return retry ? ADMIT_DEFER : ADMIT_SKIP;
	}
	struct claim *claim = NULL;
	vm_job *stored = NULL;
	int c = state_claim(p, job, id, v->owner, 0, &claim, &stored);
	if (c == STATE_BUSY) {
		snprintf(why, whysize, "job %s is held by another runner", id);
		job_free(job);
		return retry ? ADMIT_DEFER : ADMIT_SKIP;
	}
	if (c != STATE_OK) {
		snprintf(why, whysize, "job %s: the state store cannot be read", id);
		job_free(job);
		return ADMIT_LATER;
	}
	const char *st = stored ? vm_job_get_str(stored, "state") : NULL;
	if (retry) {
		if (!stored || !st || strcmp(st, "failed") != 0) {
			snprintf(why, whysize, "retry: job %s is %s, not failed", id,
				 stored ? (st ? st : "without a state") : "not in the state store");
			job_free(stored);
			job_free(job);
			state_release(p, claim, NULL);
			return ADMIT_REFUSED;
		}
		if (retry_prepare(stored))
			log_msg(stored, "serve", VM_LOG_INFO, "retry: the stages that failed run again; the owner "
				"was told of the failure, so the notifiers send the result as a follow-up");
		else
			log_msg(stored, "serve", VM_LOG_INFO, "retry: the stages that failed run again");
	}
	if (stored && st && strcmp(st, "done") == 0) {
		snprintf(why, whysize, "job %s is already done", id);
		job_free(stored);
		job_free(job);
		state_release(p, claim, NULL);
		return ADMIT_DONE;
	}
	if (stored) {
		job_free(job);
		job = stored;
		id = vm_job_id(job); /* the same id, now in the record that stays */
		state_prepare_resume(job);
	}
	/* Durable before the event leaves new/ (or the queue).  A job resumed
	 * from its checkpoint is durable already (on S3 the claim wrote it):
	 * a restart with thousands in flight does not rewrite them all. */
	int sv = stored && !retry ? STATE_OK : state_save(p, claim, job);
	if (sv != STATE_OK) {
		snprintf(why, whysize, "job %s: %s", id,
			 sv == STATE_LOST ? "taken by another runner" : "the checkpoint could not be written");
		job_free(job);
		state_release(p, claim, NULL);
		return sv == STATE_LOST ? ADMIT_SKIP : ADMIT_LATER;
	}
	struct held *h = calloc(1, sizeof *h);
	if (!h) {
		snprintf(why, whysize, "out of memory");
		job_free(job);
		state_release(p, claim, NULL);
		return ADMIT_LATER;
	}
	h->gen = v->gen;
	v->gen->refs++;
	h->accepted_ms = clock_now_ms();
	h->resumed = stored != NULL;
	json_object_set_new(v->ids, id, json_true());
	log_msg(job, "serve", VM_LOG_INFO, "%s", stored ? "resumed from its checkpoint" : "accepted");
	sched_add(v->s, p, job, claim, 0, h);
	*hp = h;
	return ADMIT_STARTED;
}

enum admit admit(struct srv *v, const char *text, size_t len, struct held **hp, char *why, size_t whysize)
{
	*hp = NULL;
	char err[1024];
	struct drop d;
	enum drop_kind k = drop_parse(text, len, &d, err, sizeof err);
	enum admit r = ADMIT_REFUSED;
	if (k == DROP_BAD) {
		snprintf(why, whysize, "%s", err);
	} else if (k == DROP_MAIL) {
		snprintf(why, whysize, "a voicemail mail is taken from the spool only");
	} else if (k == DROP_RETRY) {
		r = admit_job(v, job_new(d.retry_id), true, hp, why, whysize);
	} else {
		r = admit_job(v, d.job, false, hp, why, whysize);
		d.job = NULL;
	}
	drop_free(&d);
	return r;
}

