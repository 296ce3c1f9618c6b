/* The transcription POST with libcurl's MIME API; see http.h. */
#include "http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <vmpipe/vmpipe.h>

#define CONNECT_TIMEOUT_MS 10000L

/* The file part is read from memory as curl sends it (no copy of the audio). */
struct cursor {
	const unsigned char *data;
	size_t len, pos;
};

static size_t read_audio(char *buf, size_t size, size_t nitems, void *arg)
{
	struct cursor *c = arg;
	size_t n = size * nitems, left = c->len - c->pos;
	if (n > left)
		n = left;
	memcpy(buf, c->data + c->pos, n);
	c->pos += n;
	return n;
}

static int seek_audio(void *arg, curl_off_t offset, int origin)
{
	struct cursor *c = arg;
	if (origin != SEEK_SET || offset < 0 || (size_t)offset > c->len)
		return CURL_SEEKFUNC_CANTSEEK;
	c->pos = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

struct sink {
	struct wh_response *r;
	size_t cap, max;
	bool too_large, oom;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;
	if (s->r->len + n > s->max) {
		s->too_large = true;
		return 0;
	}
	if (s->r->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->r->len + n + 1)
			cap *= 2;
		char *b = realloc(s->r->body, cap);
		if (!b) {
			s->oom = true;
			return 0;
		}
		s->r->body = b;
		s->cap = cap;
	}
	memcpy(s->r->body + s->r->len, p, n);
	s->r->len += n;
	s->r->body[s->r->len] = '\0';
	return n;
}

/* Keep the value of header `name` (case-insensitive) from the line p[0..n). */
static void keep(const char *p, size_t n, const char *name, char *dst, size_t size)
{
	size_t nl = strlen(name);
	if (n <= nl || strncasecmp(p, name, nl) != 0 || p[nl] != ':')
		return;
	const char *v = p + nl + 1, *end = p + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	snprintf(dst, size, "%.*s", (int)(end - v), v);
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct wh_response *r = arg;
	size_t n = size * nmemb;
	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new answer (after 100 Continue) */
		r->content_type[0] = r->retry_after[0] = r->retry_after_ms[0] = r->model[0] = '\0';
		return n;
	}
	keep(p, n, "content-type", r->content_type, sizeof r->content_type);
	keep(p, n, "retry-after", r->retry_after, sizeof r->retry_after);
	keep(p, n, "retry-after-ms", r->retry_after_ms, sizeof r->retry_after_ms);
	keep(p, n, "openai-model", r->model, sizeof r->model);
	return n;
}

static enum wh_net classify(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return WH_NET_TRANSIENT;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return WH_NET_TLS;
	default:
		return WH_NET_OTHER;
	}
}

/* A text field of the form; nothing when value is NULL or empty. */
static bool field(curl_mime *m, const char *name, const char *value)
{
	if (!value || !*value)
		return true;
	curl_mimepart *p = curl_mime_addpart(m);
	return p && curl_mime_name(p, name) == CURLE_OK &&
	       curl_mime_data(p, value, CURL_ZERO_TERMINATED) == CURLE_OK;
}

static curl_mime *build_form(CURL *c, const struct wh_request *q, struct cursor *audio)
{
	curl_mime *m = curl_mime_init(c);
	if (!m)
		return NULL;
	curl_mimepart *f = curl_mime_addpart(m);
	bool ok = f && curl_mime_name(f, "file") == CURLE_OK &&
		  curl_mime_data_cb(f, (curl_off_t)audio->len, read_audio, seek_audio, NULL,
				    audio) == CURLE_OK &&
		  curl_mime_filename(f, q->audio->filename) == CURLE_OK &&
		  curl_mime_type(f, q->audio->content_type) == CURLE_OK;
	ok = ok && field(m, "model", q->model) && field(m, "language", q->language) &&
	     field(m, "prompt", q->prompt) && field(m, "response_format", q->response_format) &&
	     field(m, "temperature", q->temperature);
	if (!ok) {
		curl_mime_free(m);
		return NULL;
	}
	return m;
}

int wh_post(const struct wh_request *q, struct wh_response *r)
{
	memset(r, 0, sizeof *r);
	CURL *c = curl_easy_init();
	if (!c) {
		r->net = WH_NET_OTHER;
		snprintf(r->net_msg, sizeof r->net_msg, "cannot initialise libcurl");
		return -1;
	}
	struct cursor audio = {q->audio->data, q->audio->len, 0};
	struct sink s = {r, 0, q->max_answer, false, false};
	struct curl_slist *hl = NULL, *t;
	char *auth = NULL;
	bool oom = false;
	/* No "Expect: 100-continue": it costs a round trip (or a one-second
	 * wait on servers that ignore it) for every upload. */
	const char *fixed[] = {"Expect:", "Accept: application/json"};
	for (size_t i = 0; i < 2; i++) {
		oom |= !(t = curl_slist_append(hl, fixed[i]));
		hl = t ? t : hl;
	}
	if (q->api_key) {
		/* The key lives in this header only: never in a log line or the record. */
		if (asprintf(&auth, "Authorization: Bearer %s", q->api_key) < 0) {
			auth = NULL;
			oom = true;
		} else {
			oom |= !(t = curl_slist_append(hl, auth));
			hl = t ? t : hl;
		}
	}
	curl_mime *form = build_form(c, q, &audio);
	oom |= !form;

	char errbuf[CURL_ERROR_SIZE] = "";
	const char *ca = q->ca_file ? q->ca_file : vm_ca_bundle();
	curl_easy_setopt(c, CURLOPT_URL, q->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, q->timeout_ms);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "vmpipe/" VMPIPE_VERSION);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_MIMEPOST, form);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	/* A redirect is a wrong url, not something to follow with the key. */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	if (ca)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca);

	CURLcode rc = oom ? CURLE_OUT_OF_MEMORY : curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_mime_free(form);
	curl_slist_free_all(hl);
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	curl_easy_cleanup(c);
	if (rc == CURLE_OK && !s.oom)
		return 0;
	r->net = s.too_large ? WH_NET_TOO_LARGE : s.oom ? WH_NET_OTHER : classify(rc);
	if (s.too_large)
		snprintf(r->net_msg, sizeof r->net_msg, "answer larger than %zu bytes", s.max);
	else
		snprintf(r->net_msg, sizeof r->net_msg, "%s", *errbuf ? errbuf : curl_easy_strerror(rc));
	r->status = 0;
	return -1;
}

void wh_response_free(struct wh_response *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

int64_t wh_retry_after(const char *ra, const char *ra_ms, int64_t now_ms)
{
	char *end;
	if (ra_ms && *ra_ms) {
		errno = 0;
		double ms = strtod(ra_ms, &end);
		if (errno == 0 && end != ra_ms && !*end && ms >= 0 && ms < 1e12)
			return (int64_t)ms;
	}
	if (!ra || !*ra)
		return -1;
	if (isdigit((unsigned char)*ra)) {
		errno = 0;
		unsigned long long s = strtoull(ra, &end, 10);
		if (errno || *end || s > 1000000000ULL)
			return -1;
		return (int64_t)s * 1000;
	}
	time_t when = curl_getdate(ra, NULL);
	if (when == -1)
		return -1;
	int64_t ms = (int64_t)when * 1000 - now_ms;
	return ms > 0 ? ms : 0;
}
