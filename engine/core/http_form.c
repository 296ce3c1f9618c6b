/*
 * vm_http_post_form(): a multipart/form-data POST for a plugin that talks to
 * a service of its own (transcribe-whisper's /v1/audio/transcriptions).  It
 * rides on the AWS client's libcurl path (aws/http.h), the engine's one HTTP
 * path: pooled connections, one CA bundle, one error classification.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <vmpipe/vmpipe.h>

#include "aws/http.h"

static int net_code(enum aws_net_error e)
{
	switch (e) {
	case AWS_NET_OK: return VM_HTTP_NET_OK;
	case AWS_NET_TIMEOUT: return VM_HTTP_NET_TIMEOUT;
	case AWS_NET_CONNECT: return VM_HTTP_NET_CONNECT;
	case AWS_NET_RESET: return VM_HTTP_NET_RESET;
	case AWS_NET_TOO_LARGE: return VM_HTTP_NET_TOO_LARGE;
	case AWS_NET_TLS: return VM_HTTP_NET_TLS;
	default: return VM_HTTP_NET_OTHER;
	}
}

/* "Name: value" -> the header list; -1 for a line without a colon. */
static int add_line(struct aws_headers *h, const char *line)
{
	const char *colon = strchr(line, ':');
	if (!colon || colon == line)
		return -1;
	char name[128];
	size_t n = (size_t)(colon - line);
	if (n >= sizeof name)
		return -1;
	memcpy(name, line, n);
	name[n] = '\0';
	const char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	return aws_headers_add(h, name, v);
}

int vm_http_post_form(const vm_http_form *f, vm_http_response *out)
{
	memset(out, 0, sizeof *out);
	struct aws_headers hdrs = {0};
	int rc = -1;
	for (const char *const *l = f->headers; l && *l; l++) {
		if (add_line(&hdrs, *l) != 0) {
			out->net = VM_HTTP_NET_OTHER;
			snprintf(out->net_msg, sizeof out->net_msg, "a header line without a name");
			goto done;
		}
	}
	struct aws_form_part *parts = calloc(f->nparts ? f->nparts : 1, sizeof *parts);
	if (!parts) {
		out->net = VM_HTTP_NET_OTHER;
		snprintf(out->net_msg, sizeof out->net_msg, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < f->nparts; i++)
		parts[i] = (struct aws_form_part){f->parts[i].name, f->parts[i].data, f->parts[i].len,
						  f->parts[i].filename, f->parts[i].content_type};
	struct aws_http_req req = {
		.method = "POST", .url = f->url, .headers = &hdrs, .form = parts, .nform = f->nparts,
		.ca_file = f->ca_file, .connect_timeout_ms = f->connect_timeout_ms,
		.timeout_ms = f->timeout_ms, .max_body = f->max_answer,
	};
	struct aws_http_resp resp;
	rc = aws_http_perform(&req, &resp);
	free(parts);
	out->status = resp.status;
	out->net = net_code(resp.net);
	snprintf(out->net_msg, sizeof out->net_msg, "%s", resp.net_msg);
	out->body = (char *)resp.body;
	out->len = resp.body_len;
	resp.body = NULL;
	/* The header strings change hands; the list's array is the engine's. */
	if (resp.headers.n) {
		out->headers = calloc(resp.headers.n, sizeof *out->headers);
		if (out->headers) {
			for (size_t i = 0; i < resp.headers.n; i++)
				out->headers[i] = (vm_http_header){resp.headers.v[i].name,
								   resp.headers.v[i].value};
			out->nheaders = resp.headers.n;
			resp.headers.n = 0;
		}
	}
	aws_http_resp_clear(&resp);
done:
	/* An Authorization header's value does not outlive the request. */
	for (size_t i = 0; i < hdrs.n; i++)
		explicit_bzero(hdrs.v[i].value, strlen(hdrs.v[i].value));
	aws_headers_clear(&hdrs);
	return rc;
}

const char *vm_http_response_header(const vm_http_response *r, const char *name)
{
	for (size_t i = 0; r && i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

void vm_http_response_free(vm_http_response *r)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	free(r->body);
	memset(r, 0, sizeof *r);
}
