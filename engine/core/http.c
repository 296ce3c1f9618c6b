/*
 * vm_http_get(): an unsigned GET for documents a service points to (Amazon
 * Transcribe's TranscriptFileUri, a presigned S3 URL).  It rides on the AWS
 * client's libcurl path (aws/http.h), the engine's one HTTP path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <vmpipe/vmpipe.h>

#include "aws/http.h"

/* Only loopback may be spoken to in clear text: tests serve transcripts on
 * 127.0.0.1; anything on a network must be https. */
static bool loopback_http(const char *url)
{
	static const char *const ok[] = {"http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:",
					 "http://localhost/", "http://[::1]:", "http://[::1]/"};
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
		if (strncasecmp(url, ok[i], strlen(ok[i])) == 0)
			return true;
	return false;
}

/* "scheme://host/path" without the query: what may be logged of a URL. */
static void shown(const char *url, char *buf, size_t size)
{
	size_t n = strcspn(url, "?#");
	if (n > 300)
		n = 300;
	snprintf(buf, size, "%.*s%s", (int)n, url, url[n] ? "?…" : "");
}

static long env_ms(const char *name)
{
	const char *v = getenv(name);
	long ms = v ? strtol(v, NULL, 10) : 0;
	return ms > 0 ? ms : 0;
}

vm_status vm_http_get(vm_job *job, const char *url, size_t max_bytes, vm_buf *out)
{
	memset(out, 0, sizeof *out);
	char show[340];
	if (!url || !*url)
		return vm_fail(job, VM_PERMANENT, "http: no URL");
	shown(url, show, sizeof show);
	if (strncasecmp(url, "https://", 8) != 0 && !loopback_http(url))
		return vm_fail(job, VM_PERMANENT, "http: refusing %s: only https:// (or http:// to "
			       "loopback) is fetched", show);
	if (strpbrk(url, " \r\n\t"))
		return vm_fail(job, VM_PERMANENT, "http: %s is not an encoded URL", show);
	struct aws_http_req req = {.method = "GET", .url = url, .max_body = max_bytes,
				   .timeout_ms = env_ms("VMPIPE_AWS_TIMEOUT_MS"),
				   .connect_timeout_ms = env_ms("VMPIPE_AWS_CONNECT_TIMEOUT_MS")};
	struct aws_http_resp resp;
	memset(&resp, 0, sizeof resp);
	vm_status st;
	if (aws_http_perform(&req, &resp) != 0) {
		if (resp.net == AWS_NET_TOO_LARGE)
			st = vm_fail(job, VM_PERMANENT, "http: %s is larger than %zu bytes", show, max_bytes);
		else
			st = vm_fail(job, resp.net == AWS_NET_OTHER || resp.net == AWS_NET_TLS ? VM_PERMANENT
											       : VM_TRANSIENT,
				     "http: GET %s: %s", show, resp.net_msg);
	} else if (resp.status >= 200 && resp.status < 300) {
		out->data = resp.body ? resp.body : calloc(1, 1);
		out->len = resp.body ? resp.body_len : 0;
		resp.body = NULL;
		st = out->data ? vm_done(job) : vm_fail(job, VM_TRANSIENT, "http: out of memory");
	} else {
		bool retry = resp.status >= 500 || resp.status == 429 || resp.status == 408;
		st = vm_fail(job, retry ? VM_TRANSIENT : VM_PERMANENT, "http: GET %s answered %ld", show,
			     resp.status);
	}
	vm_log(job, VM_LOG_DEBUG, "http: GET %s -> %ld", show, resp.status);
	aws_http_resp_clear(&resp);
	return st;
}
