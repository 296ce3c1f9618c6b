/*
 * One HTTP exchange with libcurl: the single HTTP path of the AWS client.
 * Owner: awsnet.  No signing, no retries (request.h does those); the
 * credential providers use this directly for their unsigned local endpoints.
 */
#ifndef VMPIPE_AWS_HTTP_H
#define VMPIPE_AWS_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct aws_header {
	char *name;  /* malloc()ed */
	char *value; /* malloc()ed */
};

/* A growable header list; names compare case-insensitively. */
struct aws_headers {
	struct aws_header *v;
	size_t n, cap;
};

/* Append a copy (0, or -1 when out of memory). */
int aws_headers_add(struct aws_headers *h, const char *name, const char *value);
/* Replace every header of that name with one (or append). */
int aws_headers_set(struct aws_headers *h, const char *name, const char *value);
/* First value of `name`, or NULL (borrowed). */
const char *aws_headers_get(const struct aws_headers *h, const char *name);
void aws_headers_clear(struct aws_headers *h);

/* What went wrong below HTTP; decides whether a retry may help. */
enum aws_net_error {
	AWS_NET_OK = 0,
	AWS_NET_TIMEOUT,   /* connect or total timeout */
	AWS_NET_CONNECT,   /* refused, unreachable, DNS */
	AWS_NET_RESET,     /* connection reset, closed early, nothing received */
	AWS_NET_TOO_LARGE, /* the answer exceeded max_body */
	AWS_NET_OTHER,     /* bad URL, … (not retried) */
	AWS_NET_TLS,       /* the server's certificate is not trusted (not retried) */
};

/* One part of a multipart/form-data body (vm_http_post_form). */
struct aws_form_part {
	const char *name;
	const void *data;          /* read from memory as curl sends it: not copied */
	size_t len;
	const char *filename;      /* NULL: a text field */
	const char *content_type;  /* NULL: none */
};

struct aws_http_req {
	const char *method; /* "GET", "HEAD", "PUT", "POST", "DELETE" */
	const char *url;    /* already encoded */
	const struct aws_headers *headers; /* sent as they are (may be NULL) */
	const void *body;
	size_t body_len;
	/* A POST of multipart/form-data instead of `body` (curl's MIME API
	 * writes the boundary and the Content-Type). */
	const struct aws_form_part *form;
	size_t nform;
	const char *ca_file;     /* NULL: the engine's bundle (vm_ca_bundle()) */
	long connect_timeout_ms; /* 0: 3 s */
	long timeout_ms;         /* 0: 30 s */
	size_t max_body;         /* 0: 64 MiB */
	/* When it becomes true (another thread sets it), the exchange is given up
	 * within about a second (AWS_NET_OTHER, "aborted"): a long poll that a
	 * stopping service no longer waits for.  NULL: never. */
	const atomic_bool *cancel;
	/* When set, a 2xx answer's body goes here as it arrives instead of into
	 * resp->body (max_body bounds what is handed over): return 0 to go on,
	 * 1 to end the exchange early (a success: 0 is returned), -1 to abort it
	 * (AWS_NET_OTHER, "stopped by the reader").  Error answers are read
	 * into resp->body as usual. */
	int (*on_body)(void *ctx, const unsigned char *data, size_t len);
	void *body_ctx;
};

struct aws_http_resp {
	long status;                /* 0 when no answer */
	struct aws_headers headers; /* names lower-cased */
	unsigned char *body;        /* malloc()ed, NUL-terminated (len excludes it), or NULL */
	size_t body_len;
	enum aws_net_error net;
	char net_msg[256];          /* curl's explanation when net != AWS_NET_OK */
	size_t streamed;            /* bytes handed to req->on_body */
};

/*
 * Perform the exchange.  0 when an HTTP answer arrived (any status), -1 with
 * resp->net set otherwise.  Connections are reused across calls and threads
 * (a small pool of curl handles).  Free resp with aws_http_resp_clear().
 */
int aws_http_perform(const struct aws_http_req *req, struct aws_http_resp *resp);
void aws_http_resp_clear(struct aws_http_resp *resp);

/* Close pooled connections (at exit; keeps valgrind quiet). */
void aws_http_cleanup(void);

#endif
