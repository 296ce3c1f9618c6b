/* Kinesis Video Streams calls of locate-kvs (see kvs_api.h). */
#include "kvs_api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void kvs_cache_init(struct kvs_endpoint_cache *c)
{
	memset(c, 0, sizeof *c);
	pthread_mutex_init(&c->mu, NULL);
}

void kvs_cache_fini(struct kvs_endpoint_cache *c)
{
	pthread_mutex_destroy(&c->mu);
}

static bool cached(struct kvs_endpoint_cache *c, const char *arn, char *url, size_t size)
{
	bool hit = false;
	int64_t now = vm_now_ms();
	pthread_mutex_lock(&c->mu);
	for (unsigned i = 0; i < KVS_ENDPOINTS && !hit; i++)
		if (*c->v[i].arn && strcmp(c->v[i].arn, arn) == 0 && now - c->v[i].at < KVS_ENDPOINT_TTL_MS) {
			snprintf(url, size, "%s", c->v[i].url);
			hit = true;
		}
	pthread_mutex_unlock(&c->mu);
	return hit;
}

static void remember(struct kvs_endpoint_cache *c, const char *arn, const char *url)
{
	pthread_mutex_lock(&c->mu);
	unsigned i = c->next++ % KVS_ENDPOINTS;
	snprintf(c->v[i].arn, sizeof c->v[i].arn, "%s", arn);
	snprintf(c->v[i].url, sizeof c->v[i].url, "%s", url);
	c->v[i].at = vm_now_ms();
	pthread_mutex_unlock(&c->mu);
}

/* Signed requests go only to Kinesis Video's own hosts, unless the control
 * plane itself was pointed elsewhere (AWS_ENDPOINT_URL_KINESIS_VIDEO: tests,
 * a VPC endpoint), whose answer is then trusted as much as it is. */
static bool endpoint_ok(const char *url)
{
	const char *ov = getenv("AWS_ENDPOINT_URL_KINESIS_VIDEO");
	if (!ov || !*ov)
		ov = getenv("AWS_ENDPOINT_URL");
	if (ov && *ov)
		return strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0;
	if (strncmp(url, "https://", 8) != 0)
		return false;
	const char *host = url + 8;
	size_t hn = strcspn(host, ":/");
	static const char *const suffixes[] = {".amazonaws.com", ".amazonaws.com.cn"};
	for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
		size_t sn = strlen(suffixes[i]);
		if (hn > sn && strncasecmp(host + hn - sn, suffixes[i], sn) == 0 &&
		    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") >= hn)
			return true;
	}
	return false;
}

vm_status kvs_data_endpoint(vm_job *job, struct kvs_endpoint_cache *c, const char *region, const char *arn,
			    char *url, size_t size)
{
	if (cached(c, arn, url, size))
		return VM_DONE;
	json_t *b = json_pack("{s:s, s:s}", "StreamARN", arn, "APIName", "GET_MEDIA");
	char *body = b ? json_dumps(b, JSON_COMPACT) : NULL;
	json_decref(b);
	if (!body)
		return vm_fail(job, VM_TRANSIENT, "out of memory");
	const vm_aws_pair headers[] = {{"Content-Type", "application/json"}};
	vm_aws_request req = {.service = "kinesisvideo", .region = region, .method = "POST",
			      .path = "/getDataEndpoint", .headers = headers, .nheaders = 1, .body = body,
			      .body_len = strlen(body), .protocol = VM_AWS_REST_JSON, .max_response = 65536};
	vm_aws_response resp;
	vm_status st = vm_aws_send(job, &req, &resp);
	free(body);
	if (st == VM_DONE) {
		json_t *doc = json_loadb((const char *)resp.body, resp.body_len, 0, NULL);
		const char *ep = json_string_value(json_object_get(doc, "DataEndpoint"));
		if (!ep || strlen(ep) >= size || !endpoint_ok(ep))
			st = vm_fail(job, VM_PERMANENT, "kinesisvideo: GetDataEndpoint answered no usable DataEndpoint "
				     "('%.200s')", ep ? ep : "");
		else {
			snprintf(url, size, "%s", ep);
			remember(c, arn, ep);
		}
		json_decref(doc);
	} else if (resp.error_code && strcmp(resp.error_code, "ResourceNotFoundException") == 0) {
		st = vm_fail(job, VM_PERMANENT, "the contact's video stream %.300s does not exist (any more)", arn);
	}
	vm_aws_response_free(&resp);
	return st;
}

struct reading {
	struct kvs_audio *a;
	bool failed;
};

static int on_body(void *ctx, const unsigned char *data, size_t len)
{
	struct reading *r = ctx;
	int rc = kvs_audio_feed(r->a, data, len);
	if (rc < 0)
		r->failed = true;
	return rc;
}

vm_status kvs_get_media(vm_job *job, const char *region, const char *endpoint, const char *arn, const char *start,
			uint64_t max_bytes, struct kvs_audio *a)
{
	json_t *b = json_pack("{s:s, s:{s:s, s:s}}", "StreamARN", arn, "StartSelector", "StartSelectorType",
			      "FRAGMENT_NUMBER", "AfterFragmentNumber", start);
	char *body = b ? json_dumps(b, JSON_COMPACT) : NULL;
	json_decref(b);
	if (!body)
		return vm_fail(job, VM_TRANSIENT, "out of memory");
	const vm_aws_pair headers[] = {{"Content-Type", "application/json"}};
	vm_aws_request req = {.service = "kinesis-video-media", .region = region, .method = "POST",
			      .path = "/getMedia", .headers = headers, .nheaders = 1, .body = body,
			      .body_len = strlen(body), .protocol = VM_AWS_REST_JSON,
			      .max_response = (size_t)max_bytes};
	struct reading r = {a, false};
	vm_aws_response resp;
	vm_status st = vm_aws_send_stream(job, &req, endpoint, on_body, &r, &resp);
	free(body);
	if (r.failed)
		st = vm_fail(job, VM_PERMANENT, "the media stream of %.300s: %s", arn, kvs_audio_error(a));
	else if (st != VM_DONE && resp.error_code && strcmp(resp.error_code, "InvalidArgumentException") == 0)
		st = vm_fail(job, VM_PERMANENT, "GetMedia refused fragment %s of %.300s: %s", start, arn,
			     resp.error_message ? resp.error_message : resp.error_code);
	vm_aws_response_free(&resp);
	return st;
}
