/*
 * notify-webhook: an example of a vmpipe plugin built OUTSIDE the vmpipe tree,
 * against the installed headers only (`pkg-config --cflags vmpipe`).
 *
 * POSTs to a URL either the whole job record (format = record) or a chat
 * message in the Slack/Microsoft Teams incoming-webhook shape
 * (format = text: {"text": "..."}), with `text` a template whose {dotted.path}
 * placeholders are fields of the job record.
 *
 * It links libcurl itself; the engine provides every vm_* function.  What it
 * shows: an option table with offsets (no parsing code), init/fini, a run()
 * that never sleeps and reports done / transient / permanent, idempotency
 * through vm_job_notified(), and logging without secrets.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <vmpipe/vmpipe.h>

enum { FORMAT_RECORD = 0, FORMAT_TEXT = 1 };

struct webhook {
	const char *url;
	int format;
	const char *text;
	const char *header;     /* one extra header, e.g. "Authorization: Bearer ${TOKEN}" */
	int64_t timeout_ms;
	struct curl_slist *headers; /* built by init, read-only afterwards */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* A growing string; every function leaves it NUL-terminated. */
struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *np = realloc(b->p, cap);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Append `s` as the inside of a JSON string. */
static void sb_json(struct sbuf *b, const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		char esc[8];
		if (*c == '"' || *c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*c;
			sb_add(b, esc, 2);
		} else if (*c == '\n') {
			sb_add(b, "\\n", 2);
		} else if (*c < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", *c);
			sb_add(b, esc, 6);
		} else {
			sb_add(b, (const char *)c, 1);
		}
	}
}

/* {"text": "<template with {path} replaced by job fields>"} */
static char *chat_message(const struct webhook *w, vm_job *job)
{
	struct sbuf b = {0};
	sb_add(&b, "{\"text\": \"", 10);
	for (const char *t = w->text; *t;) {
		const char *open = strchr(t, '{'), *close = open ? strchr(open, '}') : NULL;
		if (!open || !close || close - open > 100) {
			sb_json(&b, t);
			break;
		}
		char lit[512], path[104];
		size_t n = (size_t)(open - t) < sizeof lit - 1 ? (size_t)(open - t) : sizeof lit - 1;
		memcpy(lit, t, n);
		lit[n] = '\0';
		sb_json(&b, lit);
		snprintf(path, sizeof path, "%.*s", (int)(close - open - 1), open + 1);
		const char *v = vm_job_get_str(job, path);
		sb_json(&b, v ? v : "");
		t = close + 1;
	}
	sb_add(&b, "\"}", 2);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
	(void)p;
	(void)u;
	return size * n;
}

static vm_status run(const void *state, vm_job *job)
{
	const struct webhook *w = state;
	const char *done = vm_job_notified(job);
	if (done) {
		vm_log(job, VM_LOG_INFO, "already posted (%s): not again", done);
		return vm_done(job);
	}
	char *body = w->format == FORMAT_RECORD ? vm_job_to_json(job) : chat_message(w, job);
	if (!body)
		return vm_fail(job, VM_TRANSIENT, "out of memory building the request");
	CURL *h = curl_easy_init();
	if (!h) {
		free(body);
		return vm_fail(job, VM_TRANSIENT, "curl_easy_init failed");
	}
	char err[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_URL, w->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, w->headers);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)w->timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
	CURLcode rc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	free(body);
	/* The URL may carry a token (Slack's do): log only where it goes, not it. */
	if (rc != CURLE_OK)
		return vm_fail(job, VM_TRANSIENT, "webhook: %s", *err ? err : curl_easy_strerror(rc));
	if (status == 408 || status == 429 || status >= 500)
		return vm_fail(job, VM_TRANSIENT, "webhook answered HTTP %ld", status);
	if (status < 200 || status > 299)
		return vm_fail(job, VM_PERMANENT, "webhook answered HTTP %ld", status);
	char id[200];
	snprintf(id, sizeof id, "webhook-%s-%lld", vm_job_id(job), (long long)vm_now_ms());
	vm_job_add_notification(job, "webhook", id);
	vm_log(job, VM_LOG_INFO, "posted (%s, HTTP %ld)", w->format == FORMAT_RECORD ? "job record" : "text",
	       status);
	return vm_done(job);
}

static int init(vm_stage *stage, void *state)
{
	struct webhook *w = state;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		vm_stage_error(stage, "libcurl failed to initialise");
		return -1;
	}
	if (strncmp(w->url, "http://", 7) != 0 && strncmp(w->url, "https://", 8) != 0) {
		vm_stage_error(stage, "option 'url': expected http:// or https://");
		return -1;
	}
	if (w->timeout_ms <= 0) {
		vm_stage_error(stage, "option 'timeout' must be positive");
		return -1;
	}
	w->headers = curl_slist_append(NULL, "Content-Type: application/json; charset=utf-8");
	if (w->headers && w->header && *w->header) {
		if (!strchr(w->header, ':') || strpbrk(w->header, "\r\n")) {
			vm_stage_error(stage, "option 'header': expected one 'Name: value' line");
			return -1;
		}
		struct curl_slist *l = curl_slist_append(w->headers, w->header);
		if (l)
			w->headers = l;
	}
	return w->headers ? 0 : -1;
}

static void fini(void *state)
{
	struct webhook *w = state;
	curl_slist_free_all(w->headers);
	w->headers = NULL;
}

#define O(f) offsetof(struct webhook, f)
static const vm_option options[] = {
	{"url", VM_OPT_STRING, NULL, true, O(url), "http(s) URL to POST to", NULL},
	{"format", VM_OPT_ENUM, "record", false, O(format),
	 "record: the job record as JSON; text: {\"text\": ...} for Slack/Teams webhooks", "record|text"},
	{"text", VM_OPT_STRING,
	 "Voicemail from {contact.caller} for {recipient.name}: {transcript.preview} {recording.url}",
	 false, O(text), "format = text: the message; {dotted.path} is a job record field", NULL},
	{"header", VM_OPT_STRING, NULL, false, O(header),
	 "one extra request header, e.g. Authorization: Bearer ${TOKEN}", NULL},
	{"timeout", VM_OPT_DURATION, "10s", false, O(timeout_ms), "bound on one request", NULL},
	{NULL, 0, NULL, false, 0, NULL, NULL},
};

const vm_plugin vmpipe_plugin = {
	.abi_version = VMPIPE_ABI_VERSION,
	.kind = VM_STAGE_NOTIFY,
	.name = "notify-webhook",
	.summary = "POST the job record, or a Slack/Teams-style text message, to a URL",
	.options = options,
	.state_size = sizeof(struct webhook),
	.init = init,
	.run = run,
	.fini = fini,
};
