/*
 * `vmpipe serve`: events from Amazon SQS.
 */
#include "serve_int.h"

#include "core/event.h"
#include "core/log.h"
#include "runtime/lambda/sqs_event.h"

/* ------------------------------------------------------------ SQS intake */

/*
 * Events from an Amazon SQS queue ([serve] queue, --queue; sqs.h receives on
 * threads of its own).  A message is admitted like a spool event: its job is
 * claimed and checkpointed before anything else happens to the message.
 * Then:
 *  - the job starts (or was in flight here already: a duplicate): the
 *    message is held under the job id, invisible to other hosts, its
 *    visibility extended while the job runs, and deleted when the job ends
 *    (done, no recording, or failed and kept in the state store for `vmpipe
 *    retry`).  If this host dies first, the message comes back and another
 *    host (or this one, restarted) resumes the job from its checkpoint;
 *  - the job is done already: the message is deleted;
 *  - another runner holds the job: the message is given back, visible again
 *    after queue_visibility times its receive count (a lease that outlives
 *    its dead holder is waited out);
 *  - the state store cannot be reached: the message is kept (invisible) and
 *    admitted again with the next scan;
 *  - S3's test event: deleted, with a log line;
 *  - anything vmpipe does not take: logged with its MessageId and left, not
 *    deleted: it comes back after its visibility timeout, and the queue's
 *    redrive policy moves it to the dead-letter queue after maxReceiveCount.
 * On SIGTERM the messages of unfinished jobs are given back after their
 * checkpoints are saved (visible at once, or once the long poll stopping
 * abandoned has ended: see sqs_free()); a job another runner took over
 * leaves its message to come back by itself.
 */

#define QUEUE_FLUSH_MS 10000   /* on exit: how long pending deletes may take */
#define QUEUE_TAKE_MAX 64      /* messages admitted per turn of the loop */

struct queue_later {
	struct sqs_msg *m;
	struct queue_later *next;
};

int queue_open(struct srv *v)
{
	const struct serve_settings *ss = &tenants_base(v->gen->ts)->serve;
	const char *url = v->o->queue && *v->o->queue ? v->o->queue : ss->queue;
	if (!url || !*url)
		return 0;
	char err[600];
	struct sqs_opts so = {.url = url, .wait_ms = ss->queue_wait_ms,
			      .visibility_ms = ss->queue_visibility_ms, .metrics = v->m};
	v->queue = sqs_new(&so, err, sizeof err);
	if (!v->queue) {
		log_msg(NULL, "serve", VM_LOG_ERROR, "%s: %s", v->o->queue && *v->o->queue ? "--queue" : "[serve] queue",
			err);
		return EXIT_CONFIG;
	}
	v->queue_vis_ms = ss->queue_visibility_ms;
	log_msg(NULL, "serve", VM_LOG_INFO, "taking events from the SQS queue %s too (long poll %lld s; a "
		"message is held invisible %lld s at a time, extended while its job runs)", url,
		(long long)(ss->queue_wait_ms / 1000), (long long)((ss->queue_visibility_ms + 999) / 1000));
	return 0;
}

/* The id the event's job will have (admit() makes it the same way). */
static int queue_event_id(const char *text, size_t len, char *id, size_t size, char *err, size_t errsize)
{
	json_t *req = json_loadb(text, len, 0, NULL);
	const char *retry = json_string_value(json_object_get(req, "vmpipe_retry"));
	if (retry)
		snprintf(id, size, "%s", retry);
	json_decref(req);
	if (retry)
		return 0;
	vm_job *job = event_to_job(text, len, err, errsize);
	if (!job)
		return -1;
	snprintf(id, size, "%s", vm_job_id(job));
	job_free(job);
	return 0;
}

static void queue_admit(struct srv *v, struct sqs_msg *m)
{
	size_t blen, len = 0;
	const char *body = sqs_msg_body(m, &blen), *mid = sqs_msg_id(m);
	char *text = NULL, why[PATH_MAX + 1500], err[1024], id[200] = "";
	enum sqs_event k = sqs_event_unwrap(body, blen, &text, &len, why, sizeof why);
	if (k == SQS_EVENT_TEST) {
		log_msg(NULL, "intake", VM_LOG_INFO, "message %s: %s: nothing to run; deleted", mid, why);
		sqs_settle(v->queue, m, SQS_DELETE, 0);
		return;
	}
	if (k == SQS_EVENT_JOB && queue_event_id(text, len, id, sizeof id, err, sizeof err) != 0) {
		snprintf(why, sizeof why, "bad event: %s", err);
		k = SQS_EVENT_BAD;
	}
	if (k == SQS_EVENT_JOB && json_object_get(v->ids, id)) {
		log_msg(NULL, "intake", VM_LOG_INFO, "message %s: job %s is in flight here already: the message "
			"is held with it and deleted when it ends", mid, id);
		sqs_hold(v->queue, m, id);
		free(text);
		return;
	}
	struct held *h = NULL;
	enum admit r = k == SQS_EVENT_JOB ? admit(v, text, len, &h, why, sizeof why) : ADMIT_REFUSED;
	free(text);
	int n = sqs_msg_receives(m);
	int64_t delay = v->queue_vis_ms * (n > 1 ? n : 1);
	switch (r) {
	case ADMIT_STARTED:
		log_msg(NULL, "intake", VM_LOG_DEBUG, "message %s: job %s", mid, id);
		sqs_hold(v->queue, m, id);
		break;
	case ADMIT_DONE:
		log_msg(NULL, "intake", VM_LOG_INFO, "message %s: %s; the message is deleted", mid, why);
		sqs_settle(v->queue, m, SQS_DELETE, 0);
		break;
	case ADMIT_SKIP:
	case ADMIT_DEFER:
		if (delay > SQS_MAX_VISIBILITY_MS)
			delay = SQS_MAX_VISIBILITY_MS;
		log_msg(NULL, "intake", VM_LOG_INFO, "message %s: %s; given back to the queue, visible again in "
			"%lld s", mid, why, (long long)((delay + 999) / 1000));
		sqs_settle(v->queue, m, SQS_RETURN, delay);
		break;
	case ADMIT_LATER: {
		struct queue_later *l = malloc(sizeof *l);
		if (!l) {
			sqs_settle(v->queue, m, SQS_RETURN, v->queue_vis_ms);
			break;
		}
		log_msg(NULL, "intake", VM_LOG_WARN, "message %s: %s; tried again in %d s (the message is kept "
			"meanwhile)", mid, why, LATER_MS / 1000);
		l->m = m;
		l->next = v->later;
		v->later = l;
		if (v->next_scan > mono_ms() + LATER_MS)
			v->next_scan = mono_ms() + LATER_MS;
		break;
	}
	case ADMIT_REFUSED:
		log_msg(NULL, "intake", VM_LOG_ERROR, "message %s (received %d time%s): %s: not deleted; it comes "
			"back after its visibility timeout, and the queue's redrive policy moves it to the "
			"dead-letter queue", mid, n, n == 1 ? "" : "s", why);
		metrics_queue(v->m, "unparsed");
		sqs_settle(v->queue, m, SQS_LEAVE, 0);
		break;
	}
}

void queue_take(struct srv *v)
{
	struct sqs_msg *m;
	for (int i = 0; i < QUEUE_TAKE_MAX && !v->stopping && (m = sqs_next(v->queue)); i++)
		queue_admit(v, m);
}

/* Messages that waited for the state store: admitted again. */
void queue_retry_later(struct srv *v)
{
	struct queue_later *l = v->later;
	v->later = NULL;
	while (l) {
		struct queue_later *nx = l->next;
		queue_admit(v, l->m);
		free(l);
		l = nx;
	}
}

void queue_job_ended(struct srv *v, const char *id, const struct sched_end *e)
{
	if (!v->queue || !id)
		return;
	if (!e->abandoned)
		sqs_settle_key(v->queue, id, SQS_DELETE, 0);
	else if (e->lost)
		sqs_settle_key(v->queue, id, SQS_LEAVE, 0);
	else
		sqs_settle_key(v->queue, id, SQS_RETURN, 0); /* stopping: its checkpoint is saved */
}

/* Stopping: no more receives; what waited for the store goes back. */
void queue_stop_intake(struct srv *v)
{
	if (!v->queue)
		return;
	sqs_stop(v->queue);
	while (v->later) {
		struct queue_later *l = v->later;
		v->later = l->next;
		sqs_settle(v->queue, l->m, SQS_RETURN, 0);
		free(l);
	}
}

/* After the drain: what is held goes back, pending deletes are sent. */
void queue_close(struct srv *v)
{
	queue_stop_intake(v);
	sqs_free(v->queue, QUEUE_FLUSH_MS);
	v->queue = NULL;
}

