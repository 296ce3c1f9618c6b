/* Amazon Transcribe JSON 1.1 calls.  See api.h. */
#include "api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tx_job_clear(struct tx_job *j)
{
	free(j->status);
	free(j->transcript_uri);
	free(j->failure_reason);
	free(j->language);
	memset(j, 0, sizeof *j);
	j->language_score = -1;
}

static char *dup_str(json_t *v)
{
	const char *s = json_string_value(v);
	return s ? strdup(s) : NULL;
}

/* Read {"TranscriptionJob": {…}} into out; -1 when the answer lacks it. */
static int parse_job(const vm_aws_response *resp, struct tx_job *out)
{
	tx_job_clear(out);
	json_t *doc = resp->body ? json_loadb((const char *)resp->body, resp->body_len, 0, NULL) : NULL;
	json_t *tj = json_object_get(doc, "TranscriptionJob");
	int rc = -1;
	if (json_is_object(tj) && json_is_string(json_object_get(tj, "TranscriptionJobStatus"))) {
		out->status = dup_str(json_object_get(tj, "TranscriptionJobStatus"));
		out->transcript_uri =
			dup_str(json_object_get(json_object_get(tj, "Transcript"), "TranscriptFileUri"));
		out->failure_reason = dup_str(json_object_get(tj, "FailureReason"));
		out->language = dup_str(json_object_get(tj, "LanguageCode"));
		json_t *score = json_object_get(tj, "IdentifiedLanguageScore");
		if (json_is_number(score))
			out->language_score = json_number_value(score);
		rc = out->status ? 0 : -1;
	}
	json_decref(doc);
	return rc;
}

static vm_status call(vm_job *job, const char *region, const char *op, const char *body,
		      vm_aws_response *resp)
{
	char target[80];
	snprintf(target, sizeof target, "Transcribe.%s", op);
	const vm_aws_pair headers[] = {{"Content-Type", "application/x-amz-json-1.1"},
				       {"X-Amz-Target", target}};
	vm_aws_request req = {.service = "transcribe", .region = region, .method = "POST",
			      .path = "/", .headers = headers, .nheaders = 2, .body = body,
			      .body_len = strlen(body), .protocol = VM_AWS_JSON,
			      .max_response = 1 << 20};
	return vm_aws_send(job, &req, resp);
}

static char *name_body(const char *name)
{
	json_t *o = json_pack("{s:s}", "TranscriptionJobName", name);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

static bool is_code(const vm_aws_response *r, const char *code)
{
	return r->error_code && strcmp(r->error_code, code) == 0;
}

enum tx_result tx_start(vm_job *job, const char *region, const char *body, struct tx_job *out,
			vm_status *st)
{
	tx_job_clear(out);
	vm_aws_response resp;
	vm_status s = call(job, region, "StartTranscriptionJob", body, &resp);
	enum tx_result r = TX_OK;
	if (s == VM_DONE) {
		if (parse_job(&resp, out) != 0) {
			*st = vm_fail(job, VM_TRANSIENT, "transcribe: StartTranscriptionJob answer "
				      "lacks TranscriptionJob.TranscriptionJobStatus");
			r = TX_ERROR;
		}
	} else if (is_code(&resp, "ConflictException")) {
		r = TX_CONFLICT;
	} else {
		*st = s;
		r = TX_ERROR;
	}
	vm_aws_response_free(&resp);
	return r;
}

enum tx_result tx_get(vm_job *job, const char *region, const char *name, struct tx_job *out,
		      vm_status *st)
{
	tx_job_clear(out);
	char *body = name_body(name);
	if (!body) {
		*st = vm_fail(job, VM_TRANSIENT, "out of memory");
		return TX_ERROR;
	}
	vm_aws_response resp;
	vm_status s = call(job, region, "GetTranscriptionJob", body, &resp);
	free(body);
	enum tx_result r = TX_OK;
	if (s == VM_DONE) {
		if (parse_job(&resp, out) != 0) {
			*st = vm_fail(job, VM_TRANSIENT, "transcribe: GetTranscriptionJob answer lacks "
				      "TranscriptionJob.TranscriptionJobStatus");
			r = TX_ERROR;
		}
	} else if (is_code(&resp, "NotFoundException") ||
		   (is_code(&resp, "BadRequestException") && resp.error_message &&
		    strstr(resp.error_message, "couldn't be found"))) {
		r = TX_NOT_FOUND;
	} else {
		*st = s;
		r = TX_ERROR;
	}
	vm_aws_response_free(&resp);
	return r;
}

void tx_delete(vm_job *job, const char *region, const char *name)
{
	char *body = name_body(name);
	if (!body)
		return;
	vm_aws_response resp;
	if (call(job, region, "DeleteTranscriptionJob", body, &resp) != VM_DONE)
		vm_log(job, VM_LOG_WARN, "transcribe: could not delete job %s: %s", name,
		       resp.error_code ? resp.error_code : "no answer");
	vm_aws_response_free(&resp);
	free(body);
}
