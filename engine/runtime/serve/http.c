/*
 * The HTTP server of `vmpipe serve` on libmicrohttpd (see http.h).
 *
 * Why these settings: the server used to be answered on the serve loop, so
 * one client trickling a byte a second, or a few thousand idle ones, held
 * every job.  Here a small pool of libmicrohttpd threads (epoll) owns the
 * connections; a full table closes new ones at accept; a request's headers
 * must fit in CONN_MEMORY; an idle connection is closed after the timeout.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"

#define POOL_THREADS 2
#define CONN_MEMORY (32 * 1024) /* request line + headers of one connection */
#define BACKLOG 128

struct http {
	struct MHD_Daemon *d;
	int fd;
	char what[32];
	struct http_route *routes;
	size_t nroutes;
};

static bool loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}

/* HOST:PORT resolved (and on a loopback address when asked): 0 with *out
 * (freeaddrinfo), or -1 with the reason in err. */
static int resolve(const char *what, const char *hostport, bool loopback_only, struct addrinfo **out,
		   char *err, size_t errsize)
{
	char host[256];
	const char *colon = hostport ? strrchr(hostport, ':') : NULL;
	if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof host || !colon[1]) {
		snprintf(err, errsize, "%s '%s': expected HOST:PORT (e.g. 127.0.0.1:%s)", what,
			 hostport ? hostport : "", loopback_only ? "9464" : "8025");
		return -1;
	}
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
	int rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errsize, "%s '%s': %s", what, hostport, gai_strerror(rc));
		return -1;
	}
	if (loopback_only && !loopback(ai->ai_addr)) {
		snprintf(err, errsize, "%s '%s': not a loopback address (%s are served to this host only)", what,
			 hostport, what);
		freeaddrinfo(ai);
		return -1;
	}
	*out = ai;
	return 0;
}

int http_check_address(const char *what, const char *hostport, bool loopback_only, char *err, size_t errsize)
{
	struct addrinfo *ai;
	if (resolve(what, hostport, loopback_only, &ai, err, errsize) != 0)
		return -1;
	freeaddrinfo(ai);
	return 0;
}

/* A listening socket on HOST:PORT, or -1 with the reason in err. */
static int bind_hostport(const char *what, const char *hostport, bool loopback_only, char *err, size_t errsize)
{
	struct addrinfo *ai;
	if (resolve(what, hostport, loopback_only, &ai, err, errsize) != 0)
		return -1;
	int fd = -1;
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errsize, "%s '%s': socket: %s", what, hostport, strerror(errno));
	} else {
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, BACKLOG) != 0) {
			snprintf(err, errsize, "%s '%s': %s", what, hostport, strerror(errno));
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	return fd;
}

void http_common_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cache-Control", "no-store");
}

enum MHD_Result http_reply(struct MHD_Connection *c, unsigned status, const char *content_type,
			   const char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	http_common_headers(r);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result plain(struct MHD_Connection *c, unsigned status, const char *text)
{
	return http_reply(c, status, "text/plain; charset=utf-8", text, strlen(text));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	(void)version;
	(void)upload;
	struct http *h = cls;
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0, head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	if (!get && !head) {
		/* Answered before any body is read; the connection is then closed. */
		*upload_size = 0;
		struct MHD_Response *r = MHD_create_response_from_buffer(
			sizeof "only GET and HEAD here\n" - 1, (void *)"only GET and HEAD here\n", MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
		http_common_headers(r);
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
		enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
		MHD_destroy_response(r);
		return ret;
	}
	(void)con_cls;
	for (size_t i = 0; i < h->nroutes; i++) {
		const struct http_route *rt = &h->routes[i];
		size_t n = strlen(rt->path);
		bool prefix = n > 1 && rt->path[n - 1] == '/';
		if (prefix ? strncmp(url, rt->path, n) == 0 : strcmp(url, rt->path) == 0)
			return rt->fn(rt->ctx, c, method, url);
	}
	return plain(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	const struct http *h = cls;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_msg(NULL, "http", VM_LOG_DEBUG, "%s: %s", h->what, msg);
}

struct http *http_start(const struct http_opts *o, char *err, size_t errsize)
{
	struct http *h = calloc(1, sizeof *h);
	if (!h || !(h->routes = calloc(o->nroutes ? o->nroutes : 1, sizeof *h->routes))) {
		snprintf(err, errsize, "%s: out of memory", o->what);
		free(h);
		return NULL;
	}
	snprintf(h->what, sizeof h->what, "%s", o->what);
	memcpy(h->routes, o->routes, o->nroutes * sizeof *h->routes);
	h->nroutes = o->nroutes;
	h->fd = bind_hostport(o->what, o->hostport, o->loopback_only, err, errsize);
	if (h->fd < 0) {
		http_stop(h);
		return NULL;
	}
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
				on_request, h, MHD_OPTION_LISTEN_SOCKET, h->fd, MHD_OPTION_THREAD_POOL_SIZE,
				(unsigned)POOL_THREADS, MHD_OPTION_CONNECTION_LIMIT, o->conn_limit,
				MHD_OPTION_CONNECTION_TIMEOUT, o->idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
				(size_t)CONN_MEMORY, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_END);
	if (!h->d) {
		snprintf(err, errsize, "%s '%s': the HTTP server (libmicrohttpd) did not start", o->what, o->hostport);
		http_stop(h);
		return NULL;
	}
	h->fd = -1; /* the daemon's now: MHD_stop_daemon() closes it */
	return h;
}

void http_stop(struct http *h)
{
	if (!h)
		return;
	if (h->d)
		MHD_stop_daemon(h->d);
	if (h->fd >= 0)
		close(h->fd);
	free(h->routes);
	free(h);
}
