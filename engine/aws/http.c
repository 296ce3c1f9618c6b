/*
 * libcurl transport.  Idle easy handles are kept in a pool (one mutex owns
 * it): a handle keeps its connection cache between uses, so back-to-back
 * calls to one endpoint reuse the connection, and no two threads ever use a
 * handle at once (curl does not support sharing connections across threads).
 */
#include "http.h"

#include <vmpipe/vmpipe.h>

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

#define POOL_MAX 8
#define DEFAULT_MAX_BODY ((size_t)64 << 20)

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static CURL *pool[POOL_MAX];
static size_t pool_n;
static bool curl_ok;

static const char *ca_file; /* set once by global_init */

/* The CA bundle: AWS_CA_BUNDLE as the SDKs honour it, else the first bundle
 * that exists.  Debian's libcurl looks only at Debian's path; Amazon Linux
 * (Lambda) keeps its bundle elsewhere. */
static const char *find_ca_bundle(void)
{
	static const char *const known[] = {
		"/etc/ssl/certs/ca-certificates.crt", /* Debian, Ubuntu */
		"/etc/pki/tls/certs/ca-bundle.crt",   /* Amazon Linux, Fedora, RHEL */
		"/etc/ssl/cert.pem",                  /* Alpine, macOS */
	};
	const char *env = getenv("AWS_CA_BUNDLE");
	if (env && *env)
		return env;
	for (size_t i = 0; i < sizeof known / sizeof *known; i++)
		if (access(known[i], R_OK) == 0)
			return known[i];
	return NULL;
}

static void global_init(void)
{
	curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
	ca_file = find_ca_bundle();
}

static CURL *handle_get(void)
{
	CURL *c = NULL;
	pthread_mutex_lock(&pool_mu);
	if (pool_n > 0)
		c = pool[--pool_n];
	pthread_mutex_unlock(&pool_mu);
	if (c)
		curl_easy_reset(c); /* keeps the connection and DNS caches */
	else
		c = curl_easy_init();
	return c;
}

static void handle_put(CURL *c)
{
	pthread_mutex_lock(&pool_mu);
	if (pool_n < POOL_MAX) {
		pool[pool_n++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&pool_mu);
	if (c)
		curl_easy_cleanup(c);
}

void aws_http_cleanup(void)
{
	pthread_mutex_lock(&pool_mu);
	while (pool_n > 0)
		curl_easy_cleanup(pool[--pool_n]);
	pthread_mutex_unlock(&pool_mu);
}

int aws_headers_add(struct aws_headers *h, const char *name, const char *value)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 8;
		struct aws_header *v = realloc(h->v, cap * sizeof *v);
		if (!v)
			return -1;
		h->v = v;
		h->cap = cap;
	}
	char *n = strdup(name), *val = strdup(value ? value : "");
	if (!n || !val) {
		free(n);
		free(val);
		return -1;
	}
	h->v[h->n].name = n;
	h->v[h->n].value = val;
	h->n++;
	return 0;
}

int aws_headers_set(struct aws_headers *h, const char *name, const char *value)
{
	size_t j = 0;
	for (size_t i = 0; i < h->n; i++) {
		if (strcasecmp(h->v[i].name, name) == 0) {
			free(h->v[i].name);
			free(h->v[i].value);
		} else {
			h->v[j++] = h->v[i];
		}
	}
	h->n = j;
	return aws_headers_add(h, name, value);
}

const char *aws_headers_get(const struct aws_headers *h, const char *name)
{
	for (size_t i = 0; h && i < h->n; i++)
		if (strcasecmp(h->v[i].name, name) == 0)
			return h->v[i].value;
	return NULL;
}

void aws_headers_clear(struct aws_headers *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->v[i].name);
		free(h->v[i].value);
	}
	free(h->v);
	memset(h, 0, sizeof *h);
}

void aws_http_resp_clear(struct aws_http_resp *r)
{
	aws_headers_clear(&r->headers);
	free(r->body);
	memset(r, 0, sizeof *r);
}

/* An error answer is read whole up to this size, whatever max_body says:
 * its code is what the caller needs. */
#define ERROR_BODY_MAX 65536

struct sink {
	CURL *c;
	struct aws_http_resp *r;
	size_t cap, max;
	bool too_large, oom;
	const struct aws_http_req *req;
	bool stopped, refused; /* on_body said enough (1) or no (-1) */
};

/* A 2xx answer's body to the caller's reader, bounded by max. */
static size_t to_reader(struct sink *s, const char *p, size_t n)
{
	if (n > s->max - s->r->streamed) {
		s->too_large = true;
		return 0;
	}
	s->r->streamed += n;
	int rc = s->req->on_body(s->req->body_ctx, (const unsigned char *)p, n);
	if (rc == 0)
		return n;
	if (rc > 0)
		s->stopped = true;
	else
		s->refused = true;
	return 0; /* ends the transfer */
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t n = size * nmemb;
	struct aws_http_resp *r = s->r;
	if (s->req->on_body) {
		long status = 0;
		curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && status < 300)
			return to_reader(s, p, n);
	}
	if (r->body_len + n > s->max) {
		long status = 0;
		curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &status);
		if (status < 300 || r->body_len + n > ERROR_BODY_MAX) {
			s->too_large = true;
			return 0;
		}
	}
	if (r->body_len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < r->body_len + n + 1)
			cap *= 2;
		unsigned char *b = realloc(r->body, cap);
		if (!b) {
			s->oom = true;
			return 0;
		}
		r->body = b;
		s->cap = cap;
	}
	memcpy(r->body + r->body_len, p, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t n = size * nmemb;
	/* A new status line (after 100 Continue): forget earlier headers. */
	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		aws_headers_clear(&s->r->headers);
		return n;
	}
	const char *colon = memchr(p, ':', n);
	if (!colon)
		return n;
	char name[128], value[8192];
	size_t nn = (size_t)(colon - p), vn;
	if (nn == 0 || nn >= sizeof name)
		return n;
	for (size_t i = 0; i < nn; i++)
		name[i] = (char)tolower((unsigned char)p[i]);
	name[nn] = '\0';
	const char *v = colon + 1, *end = p + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	vn = (size_t)(end - v);
	if (vn >= sizeof value)
		vn = sizeof value - 1;
	memcpy(value, v, vn);
	value[vn] = '\0';
	if (aws_headers_add(&s->r->headers, name, value) != 0)
		s->oom = true;
	return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return atomic_load((const atomic_bool *)ud) ? 1 : 0;
}

static enum aws_net_error classify(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK: return AWS_NET_OK;
	case CURLE_OPERATION_TIMEDOUT: return AWS_NET_TIMEOUT;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY: return AWS_NET_CONNECT;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR: return AWS_NET_RESET;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE: return AWS_NET_TLS;
	default: return AWS_NET_OTHER;
	}
}

/* A form part's bytes, read from memory as curl sends them (no copy). */
struct cursor {
	const unsigned char *data;
	size_t len, pos;
};

static size_t read_part(char *buf, size_t size, size_t nitems, void *arg)
{
	struct cursor *c = arg;
	size_t n = size * nitems, left = c->len - c->pos;
	if (n > left)
		n = left;
	memcpy(buf, c->data + c->pos, n);
	c->pos += n;
	return n;
}

static int seek_part(void *arg, curl_off_t offset, int origin)
{
	struct cursor *c = arg;
	if (origin != SEEK_SET || offset < 0 || (size_t)offset > c->len)
		return CURL_SEEKFUNC_CANTSEEK;
	c->pos = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

/* The form of req (cursors: one per part, alive until the exchange ends). */
static curl_mime *build_form(CURL *c, const struct aws_http_req *req, struct cursor *cur)
{
	curl_mime *m = curl_mime_init(c);
	bool ok = m != NULL;
	for (size_t i = 0; ok && i < req->nform; i++) {
		const struct aws_form_part *p = &req->form[i];
		curl_mimepart *part = curl_mime_addpart(m);
		cur[i] = (struct cursor){p->data, p->len, 0};
		ok = part && curl_mime_name(part, p->name) == CURLE_OK &&
		     curl_mime_data_cb(part, (curl_off_t)p->len, read_part, seek_part, NULL,
				       &cur[i]) == CURLE_OK &&
		     (!p->filename || curl_mime_filename(part, p->filename) == CURLE_OK) &&
		     (!p->content_type || curl_mime_type(part, p->content_type) == CURLE_OK);
	}
	if (!ok) {
		curl_mime_free(m);
		return NULL;
	}
	return m;
}

int aws_http_perform(const struct aws_http_req *req, struct aws_http_resp *resp)
{
	memset(resp, 0, sizeof *resp);
	pthread_once(&init_once, global_init);
	CURL *c = curl_ok ? handle_get() : NULL;
	if (!c) {
		resp->net = AWS_NET_OTHER;
		snprintf(resp->net_msg, sizeof resp->net_msg, "cannot initialise libcurl");
		return -1;
	}
	struct sink s = {c, resp, 0, req->max_body ? req->max_body : DEFAULT_MAX_BODY, false, false, req, false, false};
	struct curl_slist *hl = NULL;
	bool oom = false;
	/* Exactly the headers that were signed, and none curl would add by
	 * itself ("Name:" removes curl's default). */
	static const char *const suppress[] = {"Expect", "Content-Type", "Accept"};
	for (size_t i = 0; i < sizeof suppress / sizeof suppress[0]; i++) {
		if (aws_headers_get(req->headers, suppress[i]))
			continue;
		if (req->form && i == 1) /* the form's boundary is in it */
			continue;
		char line[32];
		snprintf(line, sizeof line, "%s:", suppress[i]);
		struct curl_slist *t = curl_slist_append(hl, line);
		oom |= !t;
		hl = t ? t : hl;
	}
	for (size_t i = 0; req->headers && i < req->headers->n; i++) {
		char *line;
		const struct aws_header *h = &req->headers->v[i];
		/* "Name;" sends a header with an empty value; "Name:" would drop it. */
		if (asprintf(&line, *h->value ? "%s: %s" : "%s;", h->name, h->value) < 0) {
			oom = true;
			continue;
		}
		struct curl_slist *t = curl_slist_append(hl, line);
		free(line);
		oom |= !t;
		hl = t ? t : hl;
	}
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 3000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 30000L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	if (req->ca_file || ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, req->ca_file ? req->ca_file : ca_file);
	if (req->cancel) {
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)req->cancel);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	}
	const char *m = req->method;
	curl_mime *form = NULL;
	struct cursor *cur = NULL;
	if (req->form) {
		cur = calloc(req->nform ? req->nform : 1, sizeof *cur);
		form = cur ? build_form(c, req, cur) : NULL;
		oom |= !form;
		curl_easy_setopt(c, CURLOPT_MIMEPOST, form);
	} else if (strcmp(m, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(m, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		if (strcmp(m, "POST") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
	}

	CURLcode rc = oom ? CURLE_OUT_OF_MEMORY : curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_slist_free_all(hl);
	if (form) /* not after the handle is reused: it points into the form */
		curl_easy_setopt(c, CURLOPT_MIMEPOST, NULL);
	curl_mime_free(form);
	free(cur);
	handle_put(c);

	if ((rc == CURLE_OK || s.stopped) && !s.oom)
		return 0; /* a reader that had enough ended a good answer */
	resp->net = s.too_large ? AWS_NET_TOO_LARGE : s.oom || s.refused ? AWS_NET_OTHER : classify(rc);
	if (s.refused)
		snprintf(resp->net_msg, sizeof resp->net_msg, "stopped by the reader");
	else if (s.too_large)
		snprintf(resp->net_msg, sizeof resp->net_msg, "answer larger than %zu bytes", s.max);
	else
		snprintf(resp->net_msg, sizeof resp->net_msg, "%s",
			 *errbuf ? errbuf : curl_easy_strerror(rc));
	resp->status = 0;
	return -1;
}

/* ---- CA bundle for plugins (owner: whisper) ---- */

const char *vm_ca_bundle(void)
{
	pthread_once(&init_once, global_init);
	return ca_file;
}
