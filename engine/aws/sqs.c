/*
 * The SQS queue client of `vmpipe serve` (see sqs.h): a receiver thread, an
 * acknowledger thread, and the inbox and table of held messages they share
 * with the loop under one mutex.  Only the acknowledger frees messages, so a
 * message in a call outlives it whatever the loop does meanwhile.
 */
#include "sqs.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "region.h"
#include "request.h"
#include "core/clock.h"
#include "core/log.h"

#define BATCH 10                 /* entries per batch call, SQS's limit */
#define KEY_BUCKETS 1024
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define REMIND_MS 300000         /* a failure that goes on is said again this often */
#define CALL_TIMEOUT_MS 15000
#define HELD_LIMIT_MS (12LL * 3600 * 1000) /* SQS: no visibility past 12 h after the receive */
#define MAX_ANSWER (16u << 20)   /* ten messages of up to 1 MiB, and their envelope */

enum op { OP_NONE, OP_DELETE, OP_RETURN, OP_LEAVE };

struct sqs_msg {
	char *id, *body, *receipt, *key;
	size_t body_len;
	int receives;
	int64_t first;           /* monotonic ms when the receive was sent */
	int64_t expires;         /* ... and when it becomes visible unless extended */
	enum op op;
	int64_t delay_ms;        /* OP_RETURN */
	bool stuck;              /* cannot be extended any more (said in the log) */
	struct sqs_msg *prev, *next; /* every live message */
	struct sqs_msg *inbox_next;
	struct sqs_msg *key_next;
};

/* A call that keeps failing: said once, reminded, its end told; backoff. */
struct trouble {
	int failures;
	int64_t backoff_ms, until, next_remind;
};

struct sqs {
	char url[1024], name[128], region[AWS_REGION_MAX];
	int64_t wait_s, vis_s;
	size_t max_held;
	struct metrics *metrics;
	int efd;
	pthread_mutex_t mu;
	pthread_cond_t recv_cv, ack_cv;
	pthread_t recv_th, ack_th;
	bool recv_started, ack_started;
	atomic_bool stop_recv;
	/* Under mu from here on. */
	bool stop_ack;
	int64_t flush_until;
	/* A long poll abandoned by sqs_stop() may still be handed messages by
	 * SQS until its wait ends: nothing is given back visible before then. */
	int64_t poll_sent;       /* when the receive in flight was sent; 0: none */
	int64_t orphan_until;
	struct sqs_msg *all;
	struct sqs_msg *inbox_head, *inbox_tail;
	struct sqs_msg *keys[KEY_BUCKETS];
	size_t held;             /* received, not settled */
	struct trouble recv_t, ack_t;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait on `cv` until `until` (monotonic ms; < 0: until signalled). */
static void wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t until)
{
	if (until < 0) {
		pthread_cond_wait(cv, mu);
		return;
	}
	struct timespec ts = {(time_t)(until / 1000), (long)(until % 1000) * 1000000};
	pthread_cond_timedwait(cv, mu, &ts);
}

/* ------------------------------------------------------------ the URL */

/* http(s)://HOST/ACCOUNT/NAME: the host and the name into the buffers. */
static int parse_url(const char *url, char *host, size_t hsize, char *name, size_t nsize, char *err,
		     size_t errsz)
{
	const char *p = strncmp(url, "https://", 8) == 0 ? url + 8 : strncmp(url, "http://", 7) == 0 ? url + 7 : NULL;
	if (!p) {
		snprintf(err, errsz, "queue URL must start with https:// (or http:// for a local endpoint): "
			 "\"%.200s\"", url);
		return -1;
	}
	size_t hn = strcspn(p, "/?#");
	const char *acct = p + hn + 1;
	size_t an = strspn(acct, "0123456789");
	const char *qn = acct + an + 1;
	size_t nn = strspn(qn, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
	if (nn && strcmp(qn + nn, ".fifo") == 0)
		nn += 5;
	if (hn == 0 || hn >= hsize || p[hn] != '/' || an != 12 || acct[an] != '/' || nn == 0 || nn > 80 ||
	    qn[nn] != '\0' || strlen(url) >= 1024) {
		snprintf(err, errsz, "not an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME): "
			 "\"%.200s\"", url);
		return -1;
	}
	snprintf(host, hsize, "%.*s", (int)hn, p);
	snprintf(name, nsize, "%.*s", (int)nn, qn);
	return 0;
}

int sqs_url_check(const char *url, char *err, size_t errsz)
{
	char host[256], name[128];
	return parse_url(url, host, sizeof host, name, sizeof name, err, errsz);
}

/* The region a queue URL names: sqs.REGION.amazonaws.com[.cn],
 * REGION.queue.amazonaws.com, queue.amazonaws.com (us-east-1). */
static bool region_of_host(const char *host, char *buf, size_t size)
{
	char h[256];
	snprintf(h, sizeof h, "%.*s", (int)strcspn(host, ":"), host);
	for (char *c = h; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	size_t n = strlen(h);
	static const char *const suffixes[] = {".amazonaws.com", ".amazonaws.com.cn"};
	for (size_t i = 0; i < 2; i++) {
		size_t sn = strlen(suffixes[i]);
		if (n <= sn || strcmp(h + n - sn, suffixes[i]) != 0)
			continue;
		h[n - sn] = '\0';
		const char *r = NULL;
		size_t rn = 0;
		if (strcmp(h, "queue") == 0)
			r = "us-east-1", rn = 9;
		else if (strncmp(h, "sqs.", 4) == 0)
			r = h + 4, rn = strlen(h + 4);
		else if (strlen(h) > 6 && strcmp(h + strlen(h) - 6, ".queue") == 0)
			r = h, rn = strlen(h) - 6;
		if (!r || rn >= size)
			return false;
		memcpy(buf, r, rn);
		buf[rn] = '\0';
		return aws_region_valid(buf);
	}
	return false;
}

int sqs_url_region(const char *url, char *buf, size_t size)
{
	char host[256], name[128], err[300];
	if (parse_url(url, host, sizeof host, name, sizeof name, err, sizeof err) != 0)
		return -1;
	return region_of_host(host, buf, size) ? 0 : -1;
}

/* ------------------------------------------------------------ calls */

/*
 * One SQS action on our queue (`req` is taken; QueueUrl is added).  0 with
 * *out (the answer, an object), 1 when worth retrying, -1 when not; err says
 * why.  No retries inside: the threads own their backoff.
 */
static int call(struct sqs *q, const char *action, json_t *req, long timeout_ms, const atomic_bool *cancel,
		json_t **out, char *err, size_t errsz)
{
	*out = NULL;
	json_object_set_new(req, "QueueUrl", json_string(q->url));
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!body) {
		snprintf(err, errsz, "out of memory");
		return 1;
	}
	char target[64];
	snprintf(target, sizeof target, "AmazonSQS.%s", action);
	const struct aws_pair hdr[] = {{"Content-Type", "application/x-amz-json-1.0"}, {"X-Amz-Target", target}};
	static const struct aws_retry_policy once = {.max_attempts = 1};
	struct aws_creds_chain *creds = aws_host_creds();
	struct aws_call c = {
		.service = "sqs", .region = q->region, .method = "POST", .path = "/",
		.headers = hdr, .nheaders = 2, .body = body, .body_len = strlen(body),
		.protocol = AWS_PROTO_JSON, .creds = creds, .timeout_ms = timeout_ms,
		.max_body = MAX_ANSWER, .retry = &once, .cancel = cancel,
	};
	struct aws_result r;
	int rc = creds ? aws_request(&c, &r) : -1;
	if (!creds) {
		snprintf(err, errsz, "out of memory");
		free(body);
		return 1;
	}
	if (rc == 0) {
		json_error_t je;
		*out = r.body_len ? json_loadb((const char *)r.body, r.body_len, 0, &je) : json_object();
		if (!json_is_object(*out)) {
			json_decref(*out);
			*out = NULL;
			snprintf(err, errsz, "sqs: %s: the answer is not a JSON object", action);
			rc = 1;
		}
	} else {
		snprintf(err, errsz, "%s", r.message);
		rc = r.retryable ? 1 : -1;
	}
	aws_result_clear(&r);
	free(body);
	return rc;
}

static void trouble_fail(struct sqs *q, struct trouble *t, const char *what, const char *err)
{
	int64_t now = mono_ms();
	t->failures++;
	t->backoff_ms = t->backoff_ms ? t->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (t->backoff_ms > BACKOFF_MAX_MS)
		t->backoff_ms = BACKOFF_MAX_MS;
	/* Half fixed, half jitter: hosts that failed together do not retry together,
	 * and a retry never comes at once. */
	int64_t d = t->backoff_ms / 2 + clock_jitter(t->backoff_ms / 2 + 1);
	t->until = now + d;
	vm_log_level lvl = VM_LOG_DEBUG;
	if (t->failures == 1 || now >= t->next_remind) {
		lvl = VM_LOG_WARN;
		t->next_remind = now + REMIND_MS;
	}
	char times[40] = "";
	if (t->failures > 1)
		snprintf(times, sizeof times, " (%d times in a row)", t->failures);
	log_msg(NULL, "queue", lvl, "%s: %s failed%s: %s; trying again in %.1f s", q->name, what, times, err,
		(double)d / 1000.0);
}

static void trouble_ok(struct sqs *q, struct trouble *t, const char *what)
{
	if (t->failures)
		log_msg(NULL, "queue", VM_LOG_INFO, "%s: %s works again after %d failure%s", q->name, what,
			t->failures, t->failures == 1 ? "" : "s");
	memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------ messages */

static void msg_free(struct sqs *q, struct sqs_msg *m)
{
	if (m->prev)
		m->prev->next = m->next;
	else
		q->all = m->next;
	if (m->next)
		m->next->prev = m->prev;
	free(m->id);
	free(m->body);
	free(m->receipt);
	free(m->key);
	free(m);
}

static size_t key_slot(const char *key)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return (size_t)(h % KEY_BUCKETS);
}

static void key_unlink(struct sqs *q, struct sqs_msg *m)
{
	if (!m->key)
		return;
	for (struct sqs_msg **pp = &q->keys[key_slot(m->key)]; *pp; pp = &(*pp)->key_next) {
		if (*pp == m) {
			*pp = m->key_next;
			break;
		}
	}
	m->key_next = NULL;
}

static void settle_locked(struct sqs *q, struct sqs_msg *m, enum sqs_end how, int64_t delay_ms)
{
	if (m->op != OP_NONE)
		return;
	key_unlink(q, m);
	m->op = how == SQS_DELETE ? OP_DELETE : how == SQS_RETURN ? OP_RETURN : OP_LEAVE;
	m->delay_ms = delay_ms > 0 ? delay_ms : 0;
	if (q->held)
		q->held--;
	pthread_cond_signal(&q->recv_cv);
	pthread_cond_signal(&q->ack_cv);
}

static bool md5_matches(const char *body, size_t len, const char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (!hex)
		return true; /* not given: nothing to check */
	if (!EVP_Digest(body, len, md, &n, EVP_md5(), NULL) || strlen(hex) != 2 * (size_t)n)
		return false;
	for (unsigned int i = 0; i < n; i++) {
		char b[3];
		snprintf(b, sizeof b, "%02x", md[i]);
		if (tolower((unsigned char)hex[2 * i]) != b[0] || tolower((unsigned char)hex[2 * i + 1]) != b[1])
			return false;
	}
	return true;
}

/* What a ReceiveMessage answered (under mu); `sent` is when it was asked. */
static size_t take_messages(struct sqs *q, json_t *out, int64_t sent)
{
	json_t *list = json_object_get(out, "Messages");
	size_t i, added = 0;
	json_t *it;
	bool stopping = atomic_load(&q->stop_recv);
	json_array_foreach(list, i, it)
	{
		const char *id = json_string_value(json_object_get(it, "MessageId"));
		const char *rh = json_string_value(json_object_get(it, "ReceiptHandle"));
		json_t *jb = json_object_get(it, "Body");
		if (!id || !rh || !json_is_string(jb)) {
			log_msg(NULL, "queue", VM_LOG_WARN, "%s: a received message without MessageId, "
				"ReceiptHandle or Body (%.80s): it comes back after its visibility timeout", q->name,
				id ? id : "no id");
			continue;
		}
		const char *body = json_string_value(jb);
		size_t blen = json_string_length(jb);
		if (!md5_matches(body, blen, json_string_value(json_object_get(it, "MD5OfBody")))) {
			log_msg(NULL, "queue", VM_LOG_WARN, "%s: message %.100s: its body does not match its "
				"MD5OfBody (damaged on the way): not taken; it comes back after its visibility "
				"timeout", q->name, id);
			continue;
		}
		struct sqs_msg *m = calloc(1, sizeof *m);
		if (m) {
			m->id = strdup(id);
			m->receipt = strdup(rh);
			m->body = malloc(blen + 1);
		}
		if (!m || !m->id || !m->receipt || !m->body) {
			if (m) {
				free(m->id), free(m->receipt), free(m->body);
				free(m);
			}
			log_msg(NULL, "queue", VM_LOG_ERROR, "%s: out of memory taking message %.100s", q->name, id);
			continue;
		}
		memcpy(m->body, body, blen);
		m->body[blen] = '\0';
		m->body_len = blen;
		const char *rc = json_string_value(
			json_object_get(json_object_get(it, "Attributes"), "ApproximateReceiveCount"));
		m->receives = rc ? atoi(rc) : 0;
		m->first = sent;
		m->expires = sent + q->vis_s * 1000;
		m->next = q->all;
		if (q->all)
			q->all->prev = m;
		q->all = m;
		metrics_queue(q->metrics, "received");
		if (stopping) {
			/* Received as we stopped: straight back to the queue. */
			m->op = OP_RETURN;
			pthread_cond_signal(&q->ack_cv);
			continue;
		}
		q->held++;
		if (q->inbox_tail)
			q->inbox_tail->inbox_next = m;
		else
			q->inbox_head = m;
		q->inbox_tail = m;
		added++;
	}
	if (added) {
		uint64_t one = 1;
		if (write(q->efd, &one, sizeof one) != (ssize_t)sizeof one)
			log_msg(NULL, "queue", VM_LOG_DEBUG, "eventfd: %s", strerror(errno));
		pthread_cond_signal(&q->ack_cv); /* their heartbeats are due some day */
	}
	return added;
}

/* ------------------------------------------------------------ the receiver */

/* Once at start: say what becomes of messages vmpipe cannot take. */
static void check_queue(struct sqs *q)
{
	json_t *out = NULL;
	char err[700];
	int rc = call(q, "GetQueueAttributes",
		      json_pack("{s:[s,s]}", "AttributeNames", "RedrivePolicy", "VisibilityTimeout"),
		      CALL_TIMEOUT_MS, &q->stop_recv, &out, err, sizeof err);
	if (rc != 0) {
		if (!atomic_load(&q->stop_recv))
			log_msg(NULL, "queue", VM_LOG_WARN, "%s: its redrive policy could not be read (%s); "
				"receiving anyway", q->name, err);
		return;
	}
	json_t *attrs = json_object_get(out, "Attributes");
	const char *rp = json_string_value(json_object_get(attrs, "RedrivePolicy"));
	json_t *p = rp ? json_loads(rp, 0, NULL) : NULL;
	const char *dlq = json_string_value(json_object_get(p, "deadLetterTargetArn"));
	json_t *max = json_object_get(p, "maxReceiveCount"); /* a number, or a string of one */
	long long n = json_is_integer(max) ? (long long)json_integer_value(max)
					    : json_is_string(max) ? atoll(json_string_value(max)) : 0;
	if (dlq) {
		const char *name = strrchr(dlq, ':');
		log_msg(NULL, "queue", VM_LOG_INFO, "%s: a message received %lld times without being deleted "
			"goes to the dead-letter queue %s", q->name, n, name ? name + 1 : dlq);
	} else {
		log_msg(NULL, "queue", VM_LOG_WARN, "%s has no redrive policy: a message vmpipe cannot take "
			"comes back after every visibility timeout until the queue's retention period ends; "
			"give the queue a dead-letter queue (docs/serve.md)", q->name);
	}
	json_decref(p);
	json_decref(out);
}

static void *receiver(void *arg)
{
	struct sqs *q = arg;
	check_queue(q);
	pthread_mutex_lock(&q->mu);
	while (!atomic_load(&q->stop_recv)) {
		if (q->held >= q->max_held) {
			wait_until(&q->recv_cv, &q->mu, -1);
			continue;
		}
		if (mono_ms() < q->recv_t.until) {
			wait_until(&q->recv_cv, &q->mu, q->recv_t.until);
			continue;
		}
		size_t room = q->max_held - q->held;
		int n = room < BATCH ? (int)room : BATCH;
		int64_t sent = q->poll_sent = mono_ms();
		pthread_mutex_unlock(&q->mu);
		json_t *req = json_pack("{s:i, s:I, s:I, s:[s]}", "MaxNumberOfMessages", n, "WaitTimeSeconds",
					(json_int_t)q->wait_s, "VisibilityTimeout", (json_int_t)q->vis_s,
					"MessageSystemAttributeNames", "ApproximateReceiveCount");
		json_t *out = NULL;
		char err[700];
		int rc = call(q, "ReceiveMessage", req, (long)(q->wait_s * 1000 + CALL_TIMEOUT_MS), &q->stop_recv,
			      &out, err, sizeof err);
		pthread_mutex_lock(&q->mu);
		q->poll_sent = 0;
		if (rc != 0) {
			if (!atomic_load(&q->stop_recv))
				trouble_fail(q, &q->recv_t, "ReceiveMessage", err);
			else
				q->orphan_until = sent + q->wait_s * 1000 + 1000;
			continue;
		}
		trouble_ok(q, &q->recv_t, "ReceiveMessage");
		size_t got = take_messages(q, out, sent);
		json_decref(out);
		if (!got && q->wait_s == 0)
			q->recv_t.until = mono_ms() + 1000; /* short polling: never spin */
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* ------------------------------------------------------------ the acknowledger */

/* Seconds of visibility for an extension of `m` now: the configured time,
 * but never past 12 h after its receive; 0 when nothing is left. */
static int64_t extension_s(const struct sqs *q, const struct sqs_msg *m, int64_t now)
{
	int64_t left = (m->first + HELD_LIMIT_MS - now) / 1000 - 1;
	return left < q->vis_s ? (left > 0 ? left : 0) : q->vis_s;
}

enum entry_kind { E_HEARTBEAT, E_RETURN };

struct batch {
	struct sqs_msg *m[BATCH];
	int64_t vis[BATCH];
	enum entry_kind kind[BATCH];
	size_t n;
};

static void entry_id(size_t i, char *buf, size_t size)
{
	snprintf(buf, size, "m%zu", i);
}

/* Which entry an answer's Id names, or -1. */
static int entry_of(const char *id, size_t n)
{
	if (!id || id[0] != 'm')
		return -1;
	char *end;
	long i = strtol(id + 1, &end, 10);
	return *end == '\0' && i >= 0 && (size_t)i < n ? (int)i : -1;
}

/* DeleteMessageBatch (mu held on entry and exit, released for the call). */
static void send_deletes(struct sqs *q, struct batch *b)
{
	json_t *entries = json_array();
	for (size_t i = 0; i < b->n; i++) {
		char id[24];
		entry_id(i, id, sizeof id);
		json_array_append_new(entries, json_pack("{s:s, s:s}", "Id", id, "ReceiptHandle", b->m[i]->receipt));
	}
	pthread_mutex_unlock(&q->mu);
	json_t *out = NULL;
	char err[700];
	int rc = call(q, "DeleteMessageBatch", json_pack("{s:o}", "Entries", entries), CALL_TIMEOUT_MS, NULL,
		      &out, err, sizeof err);
	pthread_mutex_lock(&q->mu);
	if (rc != 0) {
		trouble_fail(q, &q->ack_t, "DeleteMessageBatch", err);
		return;
	}
	trouble_ok(q, &q->ack_t, "acknowledging");
	bool done[BATCH] = {false};
	size_t i;
	json_t *it;
	json_array_foreach(json_object_get(out, "Successful"), i, it)
	{
		int k = entry_of(json_string_value(json_object_get(it, "Id")), b->n);
		if (k >= 0)
			done[k] = true;
	}
	json_array_foreach(json_object_get(out, "Failed"), i, it)
	{
		int k = entry_of(json_string_value(json_object_get(it, "Id")), b->n);
		if (k < 0 || !json_is_true(json_object_get(it, "SenderFault")))
			continue; /* SQS's fault: tried again */
		const char *code = json_string_value(json_object_get(it, "Code"));
		const char *msg = json_string_value(json_object_get(it, "Message"));
		log_msg(NULL, "queue", VM_LOG_WARN, "%s: message %s could not be deleted (%s: %s): when it comes "
			"back, its job is found done and it is deleted then", q->name, b->m[k]->id,
			code ? code : "?", msg ? msg : "");
		msg_free(q, b->m[k]);
		b->m[k] = NULL;
	}
	for (size_t k = 0; k < b->n; k++) {
		if (done[k] && b->m[k]) {
			log_msg(NULL, "queue", VM_LOG_DEBUG, "%s: message %s deleted", q->name, b->m[k]->id);
			metrics_queue(q->metrics, "deleted");
			msg_free(q, b->m[k]);
		}
	}
	json_decref(out);
}

/* ChangeMessageVisibilityBatch: heartbeats and messages given back. */
static void send_visibility(struct sqs *q, struct batch *b)
{
	json_t *entries = json_array();
	for (size_t i = 0; i < b->n; i++) {
		char id[24];
		entry_id(i, id, sizeof id);
		json_array_append_new(entries, json_pack("{s:s, s:s, s:I}", "Id", id, "ReceiptHandle",
							 b->m[i]->receipt, "VisibilityTimeout", (json_int_t)b->vis[i]));
	}
	pthread_mutex_unlock(&q->mu);
	int64_t sent = mono_ms();
	json_t *out = NULL;
	char err[700];
	int rc = call(q, "ChangeMessageVisibilityBatch", json_pack("{s:o}", "Entries", entries), CALL_TIMEOUT_MS,
		      NULL, &out, err, sizeof err);
	pthread_mutex_lock(&q->mu);
	if (rc != 0) {
		trouble_fail(q, &q->ack_t, "ChangeMessageVisibilityBatch", err);
		return;
	}
	trouble_ok(q, &q->ack_t, "acknowledging");
	size_t i;
	json_t *it;
	json_array_foreach(json_object_get(out, "Successful"), i, it)
	{
		int k = entry_of(json_string_value(json_object_get(it, "Id")), b->n);
		if (k < 0 || !b->m[k])
			continue;
		if (b->kind[k] == E_RETURN) {
			log_msg(NULL, "queue", VM_LOG_DEBUG, "%s: message %s given back (visible in %lld s)", q->name,
				b->m[k]->id, (long long)b->vis[k]);
			msg_free(q, b->m[k]);
		} else {
			b->m[k]->expires = sent + b->vis[k] * 1000;
		}
		b->m[k] = NULL;
	}
	json_array_foreach(json_object_get(out, "Failed"), i, it)
	{
		int k = entry_of(json_string_value(json_object_get(it, "Id")), b->n);
		if (k < 0 || !b->m[k] || !json_is_true(json_object_get(it, "SenderFault")))
			continue;
		const char *code = json_string_value(json_object_get(it, "Code"));
		const char *msg = json_string_value(json_object_get(it, "Message"));
		if (b->kind[k] == E_RETURN) {
			log_msg(NULL, "queue", VM_LOG_INFO, "%s: message %s could not be given back (%s: %s): it "
				"comes back after its visibility timeout", q->name, b->m[k]->id, code ? code : "?",
				msg ? msg : "");
			msg_free(q, b->m[k]);
		} else {
			b->m[k]->stuck = true;
			log_msg(NULL, "queue", VM_LOG_WARN, "%s: message %s: its visibility could not be extended "
				"(%s: %s): it may be delivered again; the job's claim keeps a second delivery from "
				"running it twice", q->name, b->m[k]->id, code ? code : "?", msg ? msg : "");
		}
		b->m[k] = NULL;
	}
	json_decref(out);
}

/* The next batch to send (under mu): deletes, or visibility changes (what
 * is given back, and heartbeats once one is due, with those nearly due).
 * Frees what was left.  *next_due: when a heartbeat falls due (-1: none). */
static void next_batches(struct sqs *q, int64_t now, struct batch *del, struct batch *vis, int64_t *next_due,
			 bool *pending)
{
	int64_t v = q->vis_s * 1000;
	bool due = false;
	int64_t orphan = q->orphan_until;
	if (q->poll_sent && atomic_load(&q->stop_recv)) /* being abandoned now */
		orphan = q->poll_sent + q->wait_s * 1000 + 1000;
	*next_due = -1;
	*pending = false;
	del->n = vis->n = 0;
	for (struct sqs_msg *m = q->all, *nx; m; m = nx) {
		nx = m->next;
		if (m->op == OP_LEAVE) {
			log_msg(NULL, "queue", VM_LOG_DEBUG, "%s: message %s left to come back", q->name, m->id);
			msg_free(q, m);
			continue;
		}
		if (m->op == OP_DELETE || m->op == OP_RETURN)
			*pending = true;
		if (m->op == OP_DELETE && del->n < BATCH) {
			del->m[del->n++] = m;
		} else if (m->op == OP_RETURN && vis->n < BATCH) {
			int64_t d = m->delay_ms > orphan - now ? m->delay_ms : orphan - now;
			int64_t s = (d + 999) / 1000, most = extension_s(q, m, now);
			vis->kind[vis->n] = E_RETURN;
			vis->vis[vis->n] = s < most ? s : most;
			vis->m[vis->n++] = m;
		} else if (m->op == OP_NONE && !m->stuck && !q->stop_ack) {
			int64_t at = m->expires - v / 2;
			if (at <= now)
				due = true;
			if (*next_due < 0 || at < *next_due)
				*next_due = at;
		}
	}
	if (!due)
		return;
	for (struct sqs_msg *m = q->all; m && vis->n < BATCH; m = m->next) {
		if (m->op != OP_NONE || m->stuck || m->expires - now > v * 3 / 4)
			continue;
		int64_t s = extension_s(q, m, now);
		if (s <= 0) {
			m->stuck = true;
			log_msg(NULL, "queue", VM_LOG_WARN, "%s: message %s has been held for 12 hours, SQS's limit: "
				"it becomes visible again (its job keeps its claim)", q->name, m->id);
			continue;
		}
		vis->kind[vis->n] = E_HEARTBEAT;
		vis->vis[vis->n] = s;
		vis->m[vis->n++] = m;
	}
}

static void *acker(void *arg)
{
	struct sqs *q = arg;
	bool deletes_first = true;
	struct batch del, vis;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		int64_t now = mono_ms(), next_due;
		bool pending;
		next_batches(q, now, &del, &vis, &next_due, &pending);
		if (q->stop_ack && (!pending || now >= q->flush_until)) {
			size_t left = 0;
			for (struct sqs_msg *m = q->all; m; m = m->next)
				left += m->op == OP_DELETE || m->op == OP_RETURN;
			if (left)
				log_msg(NULL, "queue", VM_LOG_WARN, "%s: %zu message%s not acknowledged before exit: "
					"they come back after their visibility timeout", q->name, left,
					left == 1 ? "" : "s");
			break;
		}
		int64_t until = q->stop_ack ? q->flush_until : next_due;
		if (!del.n && !vis.n) {
			wait_until(&q->ack_cv, &q->mu, until);
			continue;
		}
		if (now < q->ack_t.until) {
			wait_until(&q->ack_cv, &q->mu, until >= 0 && until < q->ack_t.until ? until : q->ack_t.until);
			continue;
		}
		if (del.n && (deletes_first || !vis.n))
			send_deletes(q, &del);
		else
			send_visibility(q, &vis);
		deletes_first = !deletes_first;
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* ------------------------------------------------------------ the loop's side */

struct sqs *sqs_new(const struct sqs_opts *o, char *err, size_t errsz)
{
	char host[256], name[128], region[AWS_REGION_MAX];
	if (parse_url(o->url, host, sizeof host, name, sizeof name, err, errsz) != 0)
		return NULL;
	if (o->wait_ms < 0 || o->wait_ms > SQS_MAX_WAIT_MS) {
		snprintf(err, errsz, "the long poll (queue_wait) must be 0 to 20 s, not %lld ms",
			 (long long)o->wait_ms);
		return NULL;
	}
	if (o->visibility_ms < 1000 || o->visibility_ms > SQS_MAX_VISIBILITY_MS) {
		snprintf(err, errsz, "the visibility timeout (queue_visibility) must be 1 s to 12 h, not %lld ms",
			 (long long)o->visibility_ms);
		return NULL;
	}
	if (!region_of_host(host, region, sizeof region) &&
	    aws_region_resolve(NULL, region, sizeof region, err, errsz) != 0)
		return NULL;
	struct sqs *q = calloc(1, sizeof *q);
	if (!q) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	snprintf(q->url, sizeof q->url, "%s", o->url);
	snprintf(q->name, sizeof q->name, "%s", name);
	snprintf(q->region, sizeof q->region, "%s", region);
	q->wait_s = o->wait_ms / 1000;
	q->vis_s = (o->visibility_ms + 999) / 1000;
	q->max_held = o->max_held ? o->max_held : SQS_MAX_HELD;
	q->metrics = o->metrics;
	atomic_init(&q->stop_recv, false);
	pthread_mutex_init(&q->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->recv_cv, &ca);
	pthread_cond_init(&q->ack_cv, &ca);
	pthread_condattr_destroy(&ca);
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0) {
		snprintf(err, errsz, "eventfd: %s", strerror(errno));
		sqs_free(q, 0);
		return NULL;
	}
	q->ack_started = pthread_create(&q->ack_th, NULL, acker, q) == 0;
	q->recv_started = q->ack_started && pthread_create(&q->recv_th, NULL, receiver, q) == 0;
	if (!q->recv_started) {
		snprintf(err, errsz, "cannot start the queue's threads");
		sqs_free(q, 0);
		return NULL;
	}
	return q;
}

int sqs_fd(const struct sqs *q)
{
	return q ? q->efd : -1;
}

struct sqs_msg *sqs_next(struct sqs *q)
{
	pthread_mutex_lock(&q->mu);
	struct sqs_msg *m = q->inbox_head;
	if (m) {
		q->inbox_head = m->inbox_next;
		if (!q->inbox_head)
			q->inbox_tail = NULL;
		m->inbox_next = NULL;
	}
	if (!q->inbox_head) {
		uint64_t n;
		if (read(q->efd, &n, sizeof n) < 0 && errno != EAGAIN)
			log_msg(NULL, "queue", VM_LOG_DEBUG, "eventfd: %s", strerror(errno));
	}
	pthread_mutex_unlock(&q->mu);
	return m;
}

const char *sqs_msg_id(const struct sqs_msg *m)
{
	return m->id;
}

const char *sqs_msg_body(const struct sqs_msg *m, size_t *len)
{
	*len = m->body_len;
	return m->body;
}

int sqs_msg_receives(const struct sqs_msg *m)
{
	return m->receives;
}

void sqs_settle(struct sqs *q, struct sqs_msg *m, enum sqs_end how, int64_t delay_ms)
{
	pthread_mutex_lock(&q->mu);
	settle_locked(q, m, how, delay_ms);
	pthread_mutex_unlock(&q->mu);
}

void sqs_hold(struct sqs *q, struct sqs_msg *m, const char *key)
{
	pthread_mutex_lock(&q->mu);
	if (m->op == OP_NONE && !m->key && (m->key = strdup(key))) {
		size_t s = key_slot(key);
		m->key_next = q->keys[s];
		q->keys[s] = m;
	}
	pthread_mutex_unlock(&q->mu);
}

void sqs_settle_key(struct sqs *q, const char *key, enum sqs_end how, int64_t delay_ms)
{
	pthread_mutex_lock(&q->mu);
	struct sqs_msg *m = q->keys[key_slot(key)];
	while (m) {
		struct sqs_msg *nx = m->key_next;
		if (strcmp(m->key, key) == 0)
			settle_locked(q, m, how, delay_ms);
		m = nx;
	}
	pthread_mutex_unlock(&q->mu);
}

void sqs_stop(struct sqs *q)
{
	atomic_store(&q->stop_recv, true);
	pthread_mutex_lock(&q->mu);
	pthread_cond_broadcast(&q->recv_cv);
	pthread_mutex_unlock(&q->mu);
}

void sqs_free(struct sqs *q, int64_t flush_ms)
{
	if (!q)
		return;
	sqs_stop(q);
	if (q->recv_started)
		pthread_join(q->recv_th, NULL);
	pthread_mutex_lock(&q->mu);
	size_t back = 0;
	for (struct sqs_msg *m = q->all; m; m = m->next) {
		if (m->op == OP_NONE) {
			settle_locked(q, m, SQS_RETURN, 0);
			back++;
		}
	}
	q->inbox_head = q->inbox_tail = NULL;
	if (back)
		log_msg(NULL, "queue", VM_LOG_INFO, "%s: giving %zu message%s back to the queue", q->name, back,
			back == 1 ? "" : "s");
	q->stop_ack = true;
	q->flush_until = mono_ms() + flush_ms;
	pthread_cond_signal(&q->ack_cv);
	pthread_mutex_unlock(&q->mu);
	if (q->ack_started)
		pthread_join(q->ack_th, NULL);
	while (q->all)
		msg_free(q, q->all);
	if (q->efd >= 0)
		close(q->efd);
	pthread_cond_destroy(&q->recv_cv);
	pthread_cond_destroy(&q->ack_cv);
	pthread_mutex_destroy(&q->mu);
	free(q);
}
