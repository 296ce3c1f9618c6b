/*
 * One POST of OpenAI's transcription form (multipart/form-data, built with
 * libcurl's MIME API): file, model, language, prompt, response_format,
 * temperature; the key as "Authorization: Bearer".  One attempt: the engine
 * owns retries and time.  This file knows nothing of the job record.
 */
#ifndef TRANSCRIBE_WHISPER_HTTP_H
#define TRANSCRIBE_WHISPER_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "audio.h"

struct wh_request {
	const char *url;             /* the endpoint, already complete */
	const char *api_key;         /* NULL: no Authorization header */
	const char *ca_file;         /* NULL: the host's bundle (vm_ca_bundle()) */
	long timeout_ms;             /* the whole exchange */
	const struct wh_upload *audio;
	const char *model;
	const char *language;        /* NULL or "": not sent (the server detects it) */
	const char *prompt;          /* NULL or "": not sent */
	const char *response_format; /* "verbose_json" or "json" */
	const char *temperature;     /* "0", "0.2" */
	size_t max_answer;           /* bytes of answer read at most */
};

/* What went wrong below HTTP; decides whether a retry may help. */
enum wh_net {
	WH_NET_OK = 0,
	WH_NET_TRANSIENT, /* refused, unreachable, reset, timed out */
	WH_NET_TLS,       /* the server's certificate is not trusted */
	WH_NET_TOO_LARGE, /* the answer is larger than max_answer */
	WH_NET_OTHER,     /* anything else (out of memory, a bad URL) */
};

struct wh_response {
	long status;               /* HTTP status; 0 when no answer came */
	char *body;                /* malloc()ed, NUL-terminated (len excludes it), or NULL */
	size_t len;
	char content_type[128];
	char retry_after[128];     /* the Retry-After header, "" when absent */
	char retry_after_ms[32];   /* OpenAI's retry-after-ms header, "" when absent */
	char model[128];           /* an openai-model header, "" when absent */
	enum wh_net net;
	char net_msg[300];         /* curl's explanation when net != WH_NET_OK */
};

/* 0 when an HTTP answer arrived (any status), -1 with out->net set.
 * Release out with wh_response_free(). */
int wh_post(const struct wh_request *req, struct wh_response *out);
void wh_response_free(struct wh_response *resp);

/*
 * The wait a Retry-After header asks for, in ms from `now_ms`: delta-seconds
 * ("120") or an HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT"); OpenAI's
 * retry-after-ms wins when set.  -1 when neither is there or readable.
 */
int64_t wh_retry_after(const char *retry_after, const char *retry_after_ms, int64_t now_ms);

#endif
