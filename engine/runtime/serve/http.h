/*
 * The HTTP side of `vmpipe serve`: libmicrohttpd, off the serve loop, on its
 * own threads, with a bound on connections, on the memory one request may
 * use and on how long a connection may sit idle.  Nothing here reaches the
 * loop: a route that needs it (/healthz) asks through its own channel.
 *
 * A server answers GET and HEAD only, on a table of routes; everything else
 * gets a plain 404/405.  Routes are called on the server's threads, several
 * at once: what they read must be thread-safe.
 */
#ifndef VMPIPE_HTTP_H
#define VMPIPE_HTTP_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

/* Answer one request (queue a response on c): MHD_YES, or MHD_NO to drop
 * the connection.  `url` is the path, without the query string. */
typedef enum MHD_Result (*http_handler)(void *ctx, struct MHD_Connection *c, const char *method,
					const char *url);

struct http_route {
	const char *path;  /* exact ("/metrics", "/"), or a prefix when longer and ending in '/' ("/l/") */
	http_handler fn;
	void *ctx;
};

struct http_opts {
	const char *what;           /* "metrics", "listen": for messages */
	const char *hostport;       /* HOST:PORT, [V6]:PORT */
	bool loopback_only;         /* refuse any other address */
	const struct http_route *routes;
	size_t nroutes;
	unsigned conn_limit;        /* connections held at once (beyond: closed at accept) */
	unsigned idle_timeout_s;    /* a connection that sends or takes nothing this long is closed */
};

struct http;

/* Bind and start serving (the routes are copied; their ctx must outlive the
 * server).  NULL with the reason in err. */
struct http *http_start(const struct http_opts *o, char *err, size_t errsize);
/* What http_start() checks of the address before it binds (vmpipe check):
 * 0, or -1 with the reason in err. */
int http_check_address(const char *what, const char *hostport, bool loopback_only, char *err, size_t errsize);
/* Stop the threads and close every connection. */
void http_stop(struct http *h);

/* Headers every answer carries: no sniffing, no framing, no referrer. */
void http_common_headers(struct MHD_Response *r);
/* A small answer from memory (copied), with the common headers. */
enum MHD_Result http_reply(struct MHD_Connection *c, unsigned status, const char *content_type,
			   const char *body, size_t len);

#endif
