/*
 * Error parsing for REST-XML / query (expat), JSON 1.1 and REST-JSON
 * (jansson), and the retry classification of the SDKs' standard mode.
 */
#include "errors.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xml.h"

/* As listed by the SDKs' standard retry mode (botocore retries/standard.py). */
static const char *const throttling_codes[] = {
	"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
	"TooManyRequestsException", "ProvisionedThroughputExceededException",
	"TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
	"LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
	"EC2ThrottledException", NULL,
};

static const char *const transient_codes[] = {
	"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete", NULL,
};

static bool in_list(const char *const *list, const char *code)
{
	if (!code)
		return false;
	for (; *list; list++)
		if (strcmp(*list, code) == 0)
			return true;
	return false;
}

bool aws_error_code_throttling(const char *code) { return in_list(throttling_codes, code); }
bool aws_error_code_transient(const char *code) { return in_list(transient_codes, code); }

bool aws_status_transient(long status)
{
	return status == 500 || status == 502 || status == 503 || status == 504;
}

void aws_error_clear(struct aws_error *e)
{
	free(e->code);
	free(e->message);
	free(e->request_id);
	memset(e, 0, sizeof *e);
}

/* Only for codes we make up from the status when the body is silent. */
static const char *status_code_name(long status)
{
	switch (status) {
	case 301: return "PermanentRedirect";
	case 304: return "NotModified";
	case 400: return "BadRequest";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "NotFound";
	case 405: return "MethodNotAllowed";
	case 409: return "Conflict";
	case 412: return "PreconditionFailed";
	case 413: return "RequestEntityTooLarge";
	case 429: return "TooManyRequests";
	case 500: return "InternalError";
	case 502: return "BadGateway";
	case 503: return "ServiceUnavailable";
	case 504: return "GatewayTimeout";
	default: return NULL;
	}
}

struct xml_err {
	char *code, *message, *request_id;
};

static int xml_err_leaf(void *arg, const char *parent, const char *name, const char *text,
			size_t len)
{
	struct xml_err *x = arg;
	/* S3: <Error><Code>; query: <ErrorResponse><Error><Code>; both put the
	 * request id next to or inside <Error>. */
	bool in_error = strcmp(parent, "Error") == 0;
	/* An empty <Code> (or one holding elements) names nothing: the status does. */
	if (in_error && !x->code && len > 0 && strcmp(name, "Code") == 0)
		x->code = strndup(text, len);
	else if (in_error && !x->message && strcmp(name, "Message") == 0)
		x->message = strndup(text, len);
	else if (!x->request_id && strcmp(name, "RequestId") == 0)
		x->request_id = strndup(text, len);
	return 0;
}

/* "com.amazonaws.transcribe#ConflictException" or "ConflictException:http://…"
 * -> "ConflictException" (as botocore reads __type and x-amzn-ErrorType). */
static char *clean_type(const char *t)
{
	const char *h = strrchr(t, '#');
	if (h)
		t = h + 1;
	size_t n = strcspn(t, ":");
	return n ? strndup(t, n) : NULL;
}

static void parse_json(const char *body, size_t len, char **code, char **message)
{
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		return;
	}
	const char *t = json_string_value(json_object_get(root, "__type"));
	if (!t)
		t = json_string_value(json_object_get(root, "code"));
	if (!t)
		t = json_string_value(json_object_get(root, "Code"));
	if (t && !*code)
		*code = clean_type(t);
	const char *m = json_string_value(json_object_get(root, "message"));
	if (!m)
		m = json_string_value(json_object_get(root, "Message"));
	if (!m)
		m = json_string_value(json_object_get(root, "errorMessage"));
	if (m && !*message)
		*message = strdup(m);
	json_decref(root);
}

int aws_error_parse(enum aws_protocol proto, long status, const char *request_id,
		    const char *error_type, const char *body, size_t len, struct aws_error *out)
{
	memset(out, 0, sizeof *out);
	out->status = status;
	struct xml_err x = {0};

	switch (proto) {
	case AWS_PROTO_REST_XML:
	case AWS_PROTO_QUERY:
		if (body && len > 0 && aws_xml_walk(body, len, xml_err_leaf, &x) != 0) {
			/* A half-parsed document is not trusted. */
			free(x.code), free(x.message), free(x.request_id);
			memset(&x, 0, sizeof x);
		}
		break;
	case AWS_PROTO_REST_JSON:
		/* REST-JSON services name the error in a header first. */
		if (error_type && *error_type)
			x.code = clean_type(error_type);
		/* fall through */
	case AWS_PROTO_JSON:
		if (body && len > 0)
			parse_json(body, len, &x.code, &x.message);
		if (!x.code && error_type && *error_type)
			x.code = clean_type(error_type);
		break;
	}

	if (!x.code) {
		const char *n = status_code_name(status);
		char buf[32];
		if (!n) {
			snprintf(buf, sizeof buf, "HTTP %ld", status);
			n = buf;
		}
		x.code = strdup(n);
	}
	if (request_id && *request_id) {
		free(x.request_id);
		x.request_id = strdup(request_id);
	}
	out->code = x.code;
	out->message = x.message;
	out->request_id = x.request_id;
	if (!out->code)
		return -1;
	out->throttling = status == 429 || aws_error_code_throttling(out->code);
	out->retryable = out->throttling || aws_error_code_transient(out->code) ||
			 aws_status_transient(status);
	return 0;
}
