/* ListObjectsV2 / HEAD for locate-s3.  See s3list.h. */
#include "s3list.h"

#include <errno.h>
#include <expat.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A recording's prefix ({id}_) matches a handful of objects; more pages than
 * this means the layout is wrong, not that we should keep paging. */
#define MAX_PAGES 5
#define TEXT_MAX 2048

void s3_found_clear(struct s3_found *f)
{
	free(f->key);
	free(f->content_type);
	memset(f, 0, sizeof *f);
}

struct s3_listing {
	int depth;
	bool in_contents;
	char text[TEXT_MAX];
	size_t tlen;
	bool overflow;
	char cur_key[TEXT_MAX];
	int64_t cur_size;
	/* results */
	char *best_key;
	int64_t best_size;
	bool truncated;
	char next_token[TEXT_MAX];
	bool oom;
};

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	(void)attrs;
	struct s3_listing *l = ud;
	l->depth++;
	l->tlen = 0;
	l->overflow = false;
	if (l->depth == 2 && strcmp(name, "Contents") == 0) {
		l->in_contents = true;
		l->cur_key[0] = '\0';
		l->cur_size = -1;
	}
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	struct s3_listing *l = ud;
	if (len <= 0)
		return;
	if (l->tlen + (size_t)len >= sizeof l->text) {
		l->overflow = true;
		return;
	}
	memcpy(l->text + l->tlen, s, (size_t)len);
	l->tlen += (size_t)len;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct s3_listing *l = ud;
	l->text[l->tlen] = '\0';
	if (l->in_contents && l->depth == 3 && !l->overflow) {
		if (strcmp(name, "Key") == 0)
			snprintf(l->cur_key, sizeof l->cur_key, "%s", l->text);
		else if (strcmp(name, "Size") == 0)
			l->cur_size = strtoll(l->text, NULL, 10);
	} else if (l->depth == 2 && strcmp(name, "Contents") == 0) {
		l->in_contents = false;
		size_t n = strlen(l->cur_key);
		/* "folder/" markers made by consoles are not recordings. */
		if (n && l->cur_key[n - 1] != '/' &&
		    (!l->best_key || strcmp(l->cur_key, l->best_key) > 0)) {
			char *k = strdup(l->cur_key);
			if (!k) {
				l->oom = true;
			} else {
				free(l->best_key);
				l->best_key = k;
				l->best_size = l->cur_size;
			}
		}
	} else if (l->depth == 2 && !l->overflow) {
		if (strcmp(name, "IsTruncated") == 0)
			l->truncated = strcmp(l->text, "true") == 0;
		else if (strcmp(name, "NextContinuationToken") == 0)
			snprintf(l->next_token, sizeof l->next_token, "%s", l->text);
	}
	l->tlen = 0;
	l->depth--;
}

struct s3_listing *s3_listing_new(void)
{
	return calloc(1, sizeof(struct s3_listing));
}

void s3_listing_free(struct s3_listing *l)
{
	if (!l)
		return;
	free(l->best_key);
	free(l);
}

const char *s3_listing_latest(const struct s3_listing *l, int64_t *size)
{
	if (size)
		*size = l->best_key ? l->best_size : -1;
	return l->best_key;
}

const char *s3_listing_next(const struct s3_listing *l)
{
	return l->truncated && l->next_token[0] ? l->next_token : NULL;
}

int s3_listing_page(struct s3_listing *l, const unsigned char *body, size_t len)
{
	if (len > INT_MAX)
		return -1;
	XML_Parser p = XML_ParserCreate("UTF-8");
	if (!p)
		return -1;
	l->depth = 0;
	l->truncated = false;
	l->next_token[0] = '\0';
	XML_SetUserData(p, l);
	XML_SetElementHandler(p, on_start, on_end);
	XML_SetCharacterDataHandler(p, on_text);
	int ok = XML_Parse(p, (const char *)body, (int)len, 1) == XML_STATUS_OK;
	XML_ParserFree(p);
	return ok && !l->oom ? 0 : -1;
}

enum s3_look s3_list_latest(vm_job *job, const char *region, const char *bucket,
			    const char *prefix, struct s3_found *out, vm_status *st)
{
	memset(out, 0, sizeof *out);
	struct s3_listing *l = s3_listing_new();
	if (!l) {
		*st = vm_fail(job, VM_TRANSIENT, "out of memory");
		return S3_ERROR;
	}
	enum s3_look result = S3_ABSENT;
	for (int page = 0; page < MAX_PAGES; page++) {
		vm_aws_pair q[3] = {{"list-type", "2"}, {"prefix", prefix}, {"continuation-token", NULL}};
		size_t nq = 2;
		if (page > 0) {
			q[2].value = l->next_token;
			nq = 3;
		}
		vm_aws_request req = {.service = "s3", .region = region, .method = "GET",
				      .bucket = bucket, .path = "/", .query = q, .nquery = nq,
				      .protocol = VM_AWS_REST_XML, .max_response = 4 << 20};
		vm_aws_response resp;
		vm_status s = vm_aws_send(job, &req, &resp);
		if (s != VM_DONE) {
			const char *code = resp.error_code ? resp.error_code : "";
			if (strcmp(code, "AccessDenied") == 0)
				*st = vm_fail(job, VM_PERMANENT,
					      "listing s3://%s/%s: access denied (the role needs s3:ListBucket "
					      "on the bucket and s3:GetObject on the recordings)",
					      bucket, prefix);
			else
				*st = s;
			vm_aws_response_free(&resp);
			result = S3_ERROR;
			break;
		}
		int rc = s3_listing_page(l, resp.body, resp.body_len);
		vm_aws_response_free(&resp);
		if (rc != 0) {
			*st = vm_fail(job, VM_TRANSIENT, "listing s3://%s/%s: unreadable XML answer",
				      bucket, prefix);
			result = S3_ERROR;
			break;
		}
		if (!s3_listing_next(l))
			break;
	}
	int64_t size;
	const char *key = s3_listing_latest(l, &size);
	if (result != S3_ERROR && key) {
		if ((out->key = strdup(key))) {
			out->size = size;
			result = S3_FOUND;
		} else {
			*st = vm_fail(job, VM_TRANSIENT, "out of memory");
			result = S3_ERROR;
		}
	}
	s3_listing_free(l);
	return result;
}

enum s3_look s3_head(vm_job *job, const char *region, const char *bucket, const char *key,
		     struct s3_found *out, vm_status *st)
{
	memset(out, 0, sizeof *out);
	vm_aws_request req = {.service = "s3", .region = region, .method = "HEAD",
			      .bucket = bucket, .path = key, .protocol = VM_AWS_REST_XML};
	vm_aws_response resp;
	vm_status s = vm_aws_send(job, &req, &resp);
	enum s3_look result = S3_FOUND;
	if (s != VM_DONE) {
		const char *code = resp.error_code ? resp.error_code : "";
		if (resp.status == 404 || strcmp(code, "NoSuchKey") == 0 ||
		    strcmp(code, "NotFound") == 0) {
			result = S3_ABSENT; /* not written yet: the caller decides */
		} else {
			*st = s;
			result = S3_ERROR;
		}
	} else {
		const char *len = vm_aws_response_header(&resp, "content-length");
		const char *ct = vm_aws_response_header(&resp, "content-type");
		out->key = strdup(key);
		out->size = len ? strtoll(len, NULL, 10) : -1;
		out->content_type = ct && *ct ? strdup(ct) : NULL;
		if (!out->key) {
			*st = vm_fail(job, VM_TRANSIENT, "out of memory");
			result = S3_ERROR;
		}
	}
	vm_aws_response_free(&resp);
	return result;
}
