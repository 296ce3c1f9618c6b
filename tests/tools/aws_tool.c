/*
 * Drive the AWS client (engine/aws) from the integration tests and the
 * benchmark: one command per run, one JSON line per result on stdout, logs on
 * stderr.  Built by tests/integration/aws_common.py against the engine's
 * objects of the build under test (so the SAN build tests the SAN code).
 *
 *   aws_tool [-v] [--fake-clock] creds [--profile P] [--container-origin URL]
 *   aws_tool [-v] [--fake-clock] region [--arn ARN]
 *   aws_tool [-v] [--fake-clock] send --service S --method M [--bucket B] [--path P]
 *            [--query NAME=VALUE]... [--header NAME:VALUE]... [--body TEXT | --body-file F]
 *            [--protocol rest-xml|query|json|rest-json] [--region R] [--arn ARN]
 *            [--max N] [--repeat N]
 *   aws_tool [-v] [--fake-clock] s3get BUCKET KEY MAX
 *   aws_tool [-v] [--fake-clock] presign BUCKET KEY EXPIRES [--arn ARN]
 *
 * --fake-clock: the engine's virtual clock (starting now), so retry backoff
 * does not wait; "waited_ms" reports the virtual time that passed.
 * `creds` prints the secrets on stdout: it is a test tool.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmpipe/vmpipe.h>

#include "aws/creds.h"
#include "aws/host.h"
#include "aws/sigv4.h"
#include "core/clock.h"
#include "core/job.h"
#include "core/log.h"

static void print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	printf("%s\n", s ? s : "null");
	fflush(stdout);
	free(s);
	json_decref(o);
}

static const char *opt(int argc, char **argv, const char *name)
{
	for (int i = 0; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	if (b)
		b[n] = '\0';
	*len = (size_t)n;
	return b;
}

static vm_job *make_job(const char *arn)
{
	vm_job *job = job_new("tool-job");
	if (job && arn)
		vm_job_set_str(job, "contact.instance_arn", arn);
	return job;
}

static int cmd_creds(int argc, char **argv)
{
	struct aws_creds_opts o = {.profile = opt(argc, argv, "--profile"),
				   .container_origin = opt(argc, argv, "--container-origin")};
	struct aws_creds_chain *ch = aws_creds_chain_new(&o);
	struct aws_credentials c;
	const char *src = NULL;
	char err[600];
	int rc = aws_creds_get(ch, &c, &src, err, sizeof err);
	if (rc == 0)
		print_json(json_pack("{s:s, s:s, s:s, s:s?, s:I}", "source", src, "access_key_id",
				     c.access_key_id, "secret_access_key", c.secret_access_key,
				     "session_token", c.session_token, "expires_ms",
				     (json_int_t)c.expires_ms));
	else
		print_json(json_pack("{s:s}", "error", err));
	aws_credentials_clear(&c);
	aws_creds_chain_free(ch);
	return rc == 0 ? 0 : 1;
}

static int cmd_region(int argc, char **argv)
{
	vm_job *job = make_job(opt(argc, argv, "--arn"));
	char region[64], err[400];
	int rc = aws_host_region(job, opt(argc, argv, "--region"), region, sizeof region, err,
				 sizeof err);
	print_json(rc == 0 ? json_pack("{s:s}", "region", region) : json_pack("{s:s}", "error", err));
	job_free(job);
	return rc == 0 ? 0 : 1;
}

static vm_aws_protocol protocol_of(const char *p)
{
	if (!p || strcmp(p, "rest-xml") == 0)
		return VM_AWS_REST_XML;
	if (strcmp(p, "query") == 0)
		return VM_AWS_QUERY;
	if (strcmp(p, "json") == 0)
		return VM_AWS_JSON;
	return VM_AWS_REST_JSON;
}

/* NAME=VALUE / NAME:VALUE pairs of repeated options (strings point into argv). */
static size_t pairs(int argc, char **argv, const char *name, char sep, vm_aws_pair *out,
		    size_t max)
{
	size_t n = 0;
	for (int i = 0; i + 1 < argc && n < max; i++) {
		if (strcmp(argv[i], name) != 0)
			continue;
		char *v = strchr(argv[i + 1], sep);
		if (v)
			*v++ = '\0';
		out[n].name = argv[i + 1];
		out[n].value = v ? v : "";
		n++;
	}
	return n;
}

static const char *status_name(vm_status s)
{
	return s == VM_DONE ? "done" : s == VM_TRANSIENT ? "transient"
				   : s == VM_PERMANENT ? "permanent" : "retry";
}

static int cmd_send(int argc, char **argv)
{
	vm_aws_pair query[32], headers[32];
	size_t body_len = 0;
	char *body = NULL;
	if (opt(argc, argv, "--body-file"))
		body = slurp(opt(argc, argv, "--body-file"), &body_len);
	else if (opt(argc, argv, "--body")) {
		body = strdup(opt(argc, argv, "--body"));
		body_len = strlen(body);
	}
	vm_aws_request req = {
		.service = opt(argc, argv, "--service"),
		.region = opt(argc, argv, "--region"),
		.method = opt(argc, argv, "--method"),
		.bucket = opt(argc, argv, "--bucket"),
		.path = opt(argc, argv, "--path"),
		.body = body,
		.body_len = body_len,
		.protocol = protocol_of(opt(argc, argv, "--protocol")),
		.max_response = opt(argc, argv, "--max") ? strtoull(opt(argc, argv, "--max"), NULL, 10) : 0,
	};
	req.nquery = pairs(argc, argv, "--query", '=', query, 32);
	req.query = query;
	req.nheaders = pairs(argc, argv, "--header", ':', headers, 32);
	req.headers = headers;
	int repeat = opt(argc, argv, "--repeat") ? atoi(opt(argc, argv, "--repeat")) : 1;
	vm_job *job = make_job(opt(argc, argv, "--arn"));
	int failures = 0;
	for (int i = 0; i < repeat; i++) {
		vm_aws_response r;
		int64_t t0 = clock_now_ms();
		vm_status st = vm_aws_send(job, &req, &r);
		int64_t waited = clock_now_ms() - t0;
		json_t *h = json_object();
		for (size_t k = 0; k < r.nheaders; k++)
			json_object_set_new(h, r.headers[k].name, json_string(r.headers[k].value));
		json_t *o = json_pack("{s:s, s:I, s:s?, s:s?, s:s?, s:b, s:i, s:I, s:o, s:s?}",
				      "vm_status", status_name(st), "status", (json_int_t)r.status,
				      "error_code", r.error_code, "error_message", r.error_message,
				      "request_id", r.request_id, "retryable", r.retryable,
				      "attempts", r.attempts, "waited_ms", (json_int_t)waited,
				      "headers", h, "fail", job->fail_msg);
		json_t *b = r.body ? json_stringn((const char *)r.body, r.body_len) : json_null();
		json_object_set_new(o, "body", b ? b : json_string("<binary>"));
		print_json(o);
		failures += st != VM_DONE;
		vm_aws_response_free(&r);
		job_reset_outcome(job);
	}
	free(body);
	job_free(job);
	return failures ? 1 : 0;
}

static int cmd_s3get(int argc, char **argv)
{
	if (argc < 4)
		return 64;
	unsigned char *data = NULL;
	size_t len = 0;
	char err[600] = "", hex[65] = "";
	int rc = aws_s3_get(argv[1], argv[2], strtoull(argv[3], NULL, 10), &data, &len, err,
			    sizeof err);
	if (rc == 0)
		sigv4_sha256_hex(data, len, hex);
	print_json(json_pack("{s:i, s:I, s:s, s:s}", "rc", rc, "len", (json_int_t)len, "sha256",
			     hex, "error", err));
	free(data);
	return rc == 0 ? 0 : 1;
}

static int cmd_presign(int argc, char **argv)
{
	if (argc < 4)
		return 64;
	vm_job *job = make_job(opt(argc, argv, "--arn"));
	char *url = vm_s3_presign(job, argv[1], argv[2], strtoll(argv[3], NULL, 10));
	if (url)
		printf("%s\n", url);
	free(url);
	job_free(job);
	return url ? 0 : 1;
}

int main(int argc, char **argv)
{
	vm_log_level level = VM_LOG_INFO;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-v") == 0)
			level = VM_LOG_TRACE;
		else if (strcmp(argv[i], "--fake-clock") == 0) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			clock_use_fake((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
		}
	}
	log_setup(level, LOG_FORMAT_TEXT);
	if (i >= argc) {
		fprintf(stderr, "usage: aws_tool [-v] [--fake-clock] creds|region|send|s3get|presign …\n");
		return 64;
	}
	const char *cmd = argv[i];
	argc -= i;
	argv += i;
	int rc;
	if (strcmp(cmd, "creds") == 0)
		rc = cmd_creds(argc, argv);
	else if (strcmp(cmd, "region") == 0)
		rc = cmd_region(argc, argv);
	else if (strcmp(cmd, "send") == 0)
		rc = cmd_send(argc, argv);
	else if (strcmp(cmd, "s3get") == 0)
		rc = cmd_s3get(argc, argv);
	else if (strcmp(cmd, "presign") == 0)
		rc = cmd_presign(argc, argv);
	else {
		fprintf(stderr, "aws_tool: unknown command %s\n", cmd);
		rc = 64;
	}
	aws_host_shutdown();
	return rc;
}
