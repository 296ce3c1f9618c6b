/*
 * The credential chain.  Each source is a function that answers: found (1),
 * not configured here (0: try the next), or configured but failing (stop, as
 * the CLI does, rather than silently using other credentials): -1 when it may
 * work later (an endpoint down), -2 when the setup is wrong.
 */
#include "creds.h"

#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <vmpipe/vmpipe.h>

#include "http.h"
#include "profile.h"
#include "region.h"
#include "request.h"
#include "uri.h"
#include "xml.h"
#include "core/clock.h"

#define REFRESH_EARLY_MS (5 * 60 * 1000)
#define TOKEN_FILE_MAX 16384

struct aws_creds_chain {
	pthread_mutex_t mu; /* guards everything below */
	char *profile, *sts_region, *container_origin;
	int64_t refresh_early_ms;
	int64_t (*now_ms)(void);
	long timeout_ms;
	struct aws_credentials cached;
	bool have;
	int source; /* index into sources[] of `cached` */
};

typedef int (*source_fn)(struct aws_creds_chain *ch, struct aws_credentials *out, char *err,
			 size_t errsz);

/* ------------------------------------------------------------ helpers */

void aws_credentials_clear(struct aws_credentials *c)
{
	if (c->secret_access_key)
		explicit_bzero(c->secret_access_key, strlen(c->secret_access_key));
	if (c->session_token)
		explicit_bzero(c->session_token, strlen(c->session_token));
	free(c->access_key_id);
	free(c->secret_access_key);
	free(c->session_token);
	memset(c, 0, sizeof *c);
}

int aws_credentials_copy(struct aws_credentials *dst, const struct aws_credentials *src)
{
	memset(dst, 0, sizeof *dst);
	dst->access_key_id = strdup(src->access_key_id ? src->access_key_id : "");
	dst->secret_access_key = strdup(src->secret_access_key ? src->secret_access_key : "");
	dst->session_token = src->session_token ? strdup(src->session_token) : NULL;
	dst->expires_ms = src->expires_ms;
	if (!dst->access_key_id || !dst->secret_access_key ||
	    (src->session_token && !dst->session_token)) {
		aws_credentials_clear(dst);
		return -1;
	}
	return 0;
}

static int set_creds(struct aws_credentials *out, const char *akid, const char *secret,
		     const char *token, int64_t expires_ms)
{
	struct aws_credentials in = {(char *)akid, (char *)secret,
				     (char *)(token && *token ? token : NULL), expires_ms};
	return aws_credentials_copy(out, &in);
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* "2024-12-11T15:30:05Z", "2024-12-11T15:30:05.123Z", "…+00:00" -> epoch ms; -1. */
static int64_t parse_iso8601(const char *s)
{
	struct tm tm = {0};
	int n = 0;
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	int64_t t = (int64_t)timegm(&tm) * 1000;
	const char *p = s + n;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			;
	int oh, om;
	if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2)
		t -= (*p == '+' ? 1 : -1) * ((int64_t)oh * 60 + om) * 60000;
	return t;
}

/* Read a small file (a token), trailing whitespace trimmed; NULL with err. */
static char *read_small_file(const char *path, const char *what, char *err, size_t errsz)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errsz, "cannot read %s %s", what, path);
		return NULL;
	}
	char *buf = malloc(TOKEN_FILE_MAX + 1);
	size_t n = buf ? fread(buf, 1, TOKEN_FILE_MAX + 1, f) : 0;
	fclose(f);
	if (!buf || n > TOKEN_FILE_MAX) {
		snprintf(err, errsz, "%s %s is larger than %d bytes", what, path, TOKEN_FILE_MAX);
		free(buf);
		return NULL;
	}
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		n--;
	buf[n] = '\0';
	if (n == 0) {
		snprintf(err, errsz, "%s %s is empty", what, path);
		free(buf);
		return NULL;
	}
	return buf;
}

/* Credentials from a container/IMDS JSON document. */
static int creds_from_json(const char *body, size_t len, const char *what,
			   struct aws_credentials *out, char *err, size_t errsz)
{
	json_t *o = json_loadb(body, len, 0, NULL);
	const char *akid = json_string_value(json_object_get(o, "AccessKeyId"));
	const char *secret = json_string_value(json_object_get(o, "SecretAccessKey"));
	const char *token = json_string_value(json_object_get(o, "Token"));
	const char *exp = json_string_value(json_object_get(o, "Expiration"));
	const char *code = json_string_value(json_object_get(o, "Code"));
	int rc = -1;
	if (code && strcmp(code, "Success") != 0)
		snprintf(err, errsz, "%s answered Code %.60s", what, code);
	else if (!akid || !secret || !*akid || !*secret)
		snprintf(err, errsz, "%s answered without AccessKeyId/SecretAccessKey", what);
	else if (exp && parse_iso8601(exp) < 0)
		snprintf(err, errsz, "%s answered an unreadable Expiration", what);
	else if (set_creds(out, akid, secret, token, exp ? parse_iso8601(exp) : 0) != 0)
		snprintf(err, errsz, "out of memory");
	else
		rc = 1;
	json_decref(o);
	return rc;
}

/* ------------------------------------------------------------ sources */

static int from_env(struct aws_creds_chain *ch, struct aws_credentials *out, char *err,
		    size_t errsz)
{
	(void)ch;
	const char *akid = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
	if (!akid && !secret)
		return 0;
	if (!akid || !secret) {
		snprintf(err, errsz, "%s is set but %s is not",
			 akid ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			 akid ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		return -2;
	}
	if (set_creds(out, akid, secret, env("AWS_SESSION_TOKEN"), 0) != 0) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	return 1;
}

struct sts_creds {
	char *akid, *secret, *token, *exp;
};

static int sts_leaf(void *arg, const char *parent, const char *name, const char *text,
		    size_t len)
{
	struct sts_creds *c = arg;
	if (strcmp(parent, "Credentials") != 0)
		return 0;
	char **f = strcmp(name, "AccessKeyId") == 0       ? &c->akid
		   : strcmp(name, "SecretAccessKey") == 0 ? &c->secret
		   : strcmp(name, "SessionToken") == 0    ? &c->token
		   : strcmp(name, "Expiration") == 0      ? &c->exp
							  : NULL;
	if (f && !*f)
		*f = strndup(text, len);
	return 0;
}

static void sts_creds_clear(struct sts_creds *c)
{
	if (c->secret)
		explicit_bzero(c->secret, strlen(c->secret));
	if (c->token)
		explicit_bzero(c->token, strlen(c->token));
	free(c->akid), free(c->secret), free(c->token), free(c->exp);
}

static int assume_role_web_identity(struct aws_creds_chain *ch, const char *token_file,
				    const char *role_arn, const char *session,
				    struct aws_credentials *out, char *err, size_t errsz)
{
	char *token = read_small_file(token_file, "web identity token file", err, errsz);
	if (!token)
		return -1;
	char region[AWS_REGION_MAX] = "us-east-1";
	char rerr[200];
	if (ch->sts_region)
		snprintf(region, sizeof region, "%s", ch->sts_region);
	else if (aws_region_resolve(NULL, region, sizeof region, rerr, sizeof rerr) != 0)
		snprintf(region, sizeof region, "us-east-1"); /* STS is global there */
	char session_buf[64];
	if (!session) {
		snprintf(session_buf, sizeof session_buf, "vmpipe-%lld",
			 (long long)(ch->now_ms() / 1000));
		session = session_buf;
	}
	/* A form body is a query string: the same encoding. */
	char *e_role = uri_encode_query_value(role_arn);
	char *e_sess = uri_encode_query_value(session);
	char *e_tok = uri_encode_query_value(token);
	char *body = NULL;
	explicit_bzero(token, strlen(token));
	free(token);
	int n = (e_role && e_sess && e_tok)
			? asprintf(&body, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
					  "&RoleArn=%s&RoleSessionName=%s&WebIdentityToken=%s",
				   e_role, e_sess, e_tok)
			: -1;
	if (e_tok)
		explicit_bzero(e_tok, strlen(e_tok));
	free(e_role), free(e_sess), free(e_tok);
	if (n < 0) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	static const struct aws_pair hdrs[] = {
		{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
	};
	struct aws_call call = {
		.service = "sts", .region = region, .method = "POST", .path = "/",
		.headers = hdrs, .nheaders = 1, .body = body, .body_len = (size_t)n,
		.protocol = AWS_PROTO_QUERY, .creds = NULL,
	};
	struct aws_result res;
	int rc = aws_request(&call, &res);
	explicit_bzero(body, (size_t)n);
	free(body);
	if (rc != 0) {
		snprintf(err, errsz, "AssumeRoleWithWebIdentity for %.200s: %s", role_arn,
			 res.message);
		aws_result_clear(&res);
		return -1;
	}
	struct sts_creds c = {0};
	rc = -1;
	if (aws_xml_walk((const char *)res.body, res.body_len, sts_leaf, &c) != 0 || !c.akid ||
	    !c.secret || !c.token)
		snprintf(err, errsz, "AssumeRoleWithWebIdentity: unexpected answer");
	else if (set_creds(out, c.akid, c.secret, c.token, c.exp ? parse_iso8601(c.exp) : 0))
		snprintf(err, errsz, "out of memory");
	else
		rc = 1;
	sts_creds_clear(&c);
	aws_result_clear(&res);
	return rc;
}

static int from_web_identity(struct aws_creds_chain *ch, struct aws_credentials *out,
			     char *err, size_t errsz)
{
	const char *file = env("AWS_WEB_IDENTITY_TOKEN_FILE"), *role = env("AWS_ROLE_ARN");
	if (file && role)
		return assume_role_web_identity(ch, file, role, env("AWS_ROLE_SESSION_NAME"), out,
						err, errsz);
	struct aws_profile p;
	if (aws_profile_load(ch->profile, &p, err, errsz) != 0)
		return -1;
	int rc = 0;
	if (p.web_identity_token_file && p.role_arn)
		rc = assume_role_web_identity(ch, p.web_identity_token_file, p.role_arn,
					      p.role_session_name, out, err, errsz);
	aws_profile_clear(&p);
	return rc;
}

static int from_profile(struct aws_creds_chain *ch, struct aws_credentials *out, char *err,
			size_t errsz)
{
	struct aws_profile p;
	if (aws_profile_load(ch->profile, &p, err, errsz) != 0)
		return -2;
	int rc = 0;
	if (p.aws_access_key_id && p.aws_secret_access_key) {
		rc = set_creds(out, p.aws_access_key_id, p.aws_secret_access_key,
			       p.aws_session_token, 0) == 0 ? 1 : -1;
		if (rc < 0)
			snprintf(err, errsz, "out of memory");
	} else if ((ch->profile || env("AWS_PROFILE")) && !p.found) {
		/* A profile asked for by name must exist (the CLI: ProfileNotFound). */
		snprintf(err, errsz, "AWS profile %.100s not found", p.name);
		rc = -2;
	}
	if (p.aws_secret_access_key)
		explicit_bzero(p.aws_secret_access_key, strlen(p.aws_secret_access_key));
	if (p.aws_session_token)
		explicit_bzero(p.aws_session_token, strlen(p.aws_session_token));
	aws_profile_clear(&p);
	return rc;
}

/* http to these hosts only: the container agent's addresses and loopback. */
static bool container_host_allowed(const char *url)
{
	if (strncasecmp(url, "https://", 8) == 0)
		return true;
	if (strncasecmp(url, "http://", 7) != 0)
		return false;
	const char *h = url + 7;
	size_t n = strcspn(h, ":/");
	static const char *const ok[] = {"169.254.170.2", "169.254.170.23", "localhost"};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (strlen(ok[i]) == n && strncasecmp(h, ok[i], n) == 0)
			return true;
	if (h[0] == '[')
		return strncmp(h, "[::1]", 5) == 0 || strncasecmp(h, "[fd00:ec2::23]", 14) == 0;
	return strncmp(h, "127.", 4) == 0;
}

static int from_container(struct aws_creds_chain *ch, struct aws_credentials *out,
			  char *err, size_t errsz)
{
	const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	if (!full && !rel)
		return 0;
	char url[2048];
	if (rel)
		snprintf(url, sizeof url, "%s%s%s", ch->container_origin, rel[0] == '/' ? "" : "/",
			 rel);
	else if (!container_host_allowed(full)) {
		snprintf(err, errsz, "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https or name a "
				     "loopback or container-agent host");
		return -2;
	} else
		snprintf(url, sizeof url, "%s", full);

	struct aws_headers h = {0};
	char *auth = NULL;
	const char *tf = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	if (tf) {
		auth = read_small_file(tf, "container authorization token file", err, errsz);
		if (!auth)
			return -1;
	} else if (env("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
		auth = strdup(env("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
	}
	if (auth && strpbrk(auth, "\r\n")) {
		snprintf(err, errsz, "container authorization token contains a line break");
		explicit_bzero(auth, strlen(auth));
		free(auth);
		return -2;
	}
	if (auth)
		aws_headers_add(&h, "Authorization", auth);
	aws_headers_add(&h, "Accept", "application/json");
	struct aws_http_req req = {.method = "GET", .url = url, .headers = &h,
				   .connect_timeout_ms = ch->timeout_ms,
				   .timeout_ms = ch->timeout_ms * 2, .max_body = 65536};
	struct aws_http_resp resp = {0};
	int rc = -1;
	/* The container agent may be briefly busy: the SDKs try it 3 times. */
	for (int i = 0; i < 3; i++) {
		aws_http_resp_clear(&resp);
		rc = aws_http_perform(&req, &resp);
		if (rc == 0 && resp.status < 500)
			break;
	}
	if (rc != 0)
		snprintf(err, errsz, "container credentials endpoint: %s", resp.net_msg);
	else if (resp.status != 200)
		snprintf(err, errsz, "container credentials endpoint answered HTTP %ld",
			 resp.status);
	else
		rc = creds_from_json((const char *)resp.body, resp.body_len,
				     "container credentials endpoint", out, err, errsz);
	rc = rc == 1 ? 1 : -1;
	if (auth)
		explicit_bzero(auth, strlen(auth));
	free(auth);
	/* The answer holds the secret: wipe it. */
	if (resp.body)
		explicit_bzero(resp.body, resp.body_len);
	for (size_t i = 0; i < h.n; i++)
		explicit_bzero(h.v[i].value, strlen(h.v[i].value));
	aws_headers_clear(&h);
	aws_http_resp_clear(&resp);
	return rc;
}

static int imds_get(struct aws_creds_chain *ch, const char *origin, const char *path,
		    const char *token, struct aws_http_resp *resp)
{
	char url[2048];
	snprintf(url, sizeof url, "%s%s", origin, path);
	struct aws_headers h = {0};
	if (token)
		aws_headers_add(&h, "X-aws-ec2-metadata-token", token);
	struct aws_http_req req = {.method = "GET", .url = url, .headers = &h,
				   .connect_timeout_ms = ch->timeout_ms,
				   .timeout_ms = ch->timeout_ms, .max_body = 65536};
	int rc = aws_http_perform(&req, resp);
	aws_headers_clear(&h);
	return rc;
}

static int from_imds(struct aws_creds_chain *ch, struct aws_credentials *out, char *err,
		     size_t errsz)
{
	const char *dis = env("AWS_EC2_METADATA_DISABLED");
	if (dis && strcasecmp(dis, "true") == 0)
		return 0;
	char origin[1024];
	snprintf(origin, sizeof origin, "%s",
		 env("AWS_EC2_METADATA_SERVICE_ENDPOINT") ? env("AWS_EC2_METADATA_SERVICE_ENDPOINT")
							   : "http://169.254.169.254");
	size_t on = strlen(origin);
	while (on > 0 && origin[on - 1] == '/')
		origin[--on] = '\0';

	/* IMDSv2: a session token first. */
	char url[1100];
	snprintf(url, sizeof url, "%s/latest/api/token", origin);
	struct aws_headers h = {0};
	aws_headers_add(&h, "X-aws-ec2-metadata-token-ttl-seconds", "21600");
	struct aws_http_req treq = {.method = "PUT", .url = url, .headers = &h,
				    .connect_timeout_ms = ch->timeout_ms,
				    .timeout_ms = ch->timeout_ms, .max_body = 4096};
	struct aws_http_resp resp;
	int rc = aws_http_perform(&treq, &resp);
	aws_headers_clear(&h);
	if (rc != 0) {
		snprintf(err, errsz, "instance metadata (%s): %s", origin, resp.net_msg);
		aws_http_resp_clear(&resp);
		return -1;
	}
	char *token = NULL;
	if (resp.status == 200 && resp.body_len > 0 && !memchr(resp.body, '\n', resp.body_len))
		token = strdup((const char *)resp.body);
	else if (resp.status != 403 && resp.status != 404 && resp.status != 405) {
		/* 403/404/405: IMDSv1 only; fall back like the SDKs.  Anything else fails. */
		snprintf(err, errsz, "instance metadata token: HTTP %ld", resp.status);
		aws_http_resp_clear(&resp);
		return -1;
	}
	if (resp.body)
		explicit_bzero(resp.body, resp.body_len);
	aws_http_resp_clear(&resp);

	rc = -1;
	const char *base = "/latest/meta-data/iam/security-credentials/";
	if (imds_get(ch, origin, base, token, &resp) != 0)
		snprintf(err, errsz, "instance metadata: %s", resp.net_msg);
	else if (resp.status != 200 || resp.body_len == 0)
		snprintf(err, errsz, "instance metadata: no IAM role (HTTP %ld)", resp.status);
	else {
		char role[256];
		const char *b = (const char *)resp.body;
		size_t rn = strcspn(b, "\r\n");
		snprintf(role, sizeof role, "%.*s", (int)(rn < 255 ? rn : 255), b);
		bool safe = rn > 0 && rn < 255 && !strpbrk(role, "/?#% ");
		char path[512];
		snprintf(path, sizeof path, "%s%s", base, role);
		aws_http_resp_clear(&resp);
		if (!safe)
			snprintf(err, errsz, "instance metadata: unexpected role name");
		else if (imds_get(ch, origin, path, token, &resp) != 0)
			snprintf(err, errsz, "instance metadata: %s", resp.net_msg);
		else if (resp.status != 200)
			snprintf(err, errsz, "instance metadata: role credentials HTTP %ld",
				 resp.status);
		else
			rc = creds_from_json((const char *)resp.body, resp.body_len,
					     "instance metadata", out, err, errsz);
	}
	if (resp.body)
		explicit_bzero(resp.body, resp.body_len);
	aws_http_resp_clear(&resp);
	if (token)
		explicit_bzero(token, strlen(token));
	free(token);
	return rc == 1 ? 1 : -1;
}

static const struct {
	const char *name;
	source_fn fn;
} sources[] = {
	{"environment", from_env},   {"web-identity", from_web_identity},
	{"profile", from_profile},   {"container", from_container},
	{"imds", from_imds},
};
#define NSOURCES ((int)(sizeof sources / sizeof sources[0]))

/* ------------------------------------------------------------ the chain */

struct aws_creds_chain *aws_creds_chain_new(const struct aws_creds_opts *opts)
{
	static const struct aws_creds_opts none = {0};
	if (!opts)
		opts = &none;
	struct aws_creds_chain *ch = calloc(1, sizeof *ch);
	if (!ch)
		return NULL;
	pthread_mutex_init(&ch->mu, NULL);
	ch->profile = opts->profile ? strdup(opts->profile) : NULL;
	ch->sts_region = opts->sts_region ? strdup(opts->sts_region) : NULL;
	ch->container_origin =
		strdup(opts->container_origin ? opts->container_origin : "http://169.254.170.2");
	ch->refresh_early_ms = opts->refresh_early_ms > 0 ? opts->refresh_early_ms
							  : REFRESH_EARLY_MS;
	ch->now_ms = opts->now_ms ? opts->now_ms : clock_now_ms;
	ch->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 1000;
	ch->source = -1;
	if ((opts->profile && !ch->profile) || (opts->sts_region && !ch->sts_region) ||
	    !ch->container_origin) {
		aws_creds_chain_free(ch);
		return NULL;
	}
	return ch;
}

void aws_creds_chain_free(struct aws_creds_chain *ch)
{
	if (!ch)
		return;
	aws_credentials_clear(&ch->cached);
	pthread_mutex_destroy(&ch->mu);
	free(ch->profile);
	free(ch->sts_region);
	free(ch->container_origin);
	free(ch);
}

void aws_creds_invalidate(struct aws_creds_chain *ch)
{
	pthread_mutex_lock(&ch->mu);
	aws_credentials_clear(&ch->cached);
	ch->have = false;
	pthread_mutex_unlock(&ch->mu);
}

static bool fresh(const struct aws_creds_chain *ch, int64_t now)
{
	return ch->have &&
	       (ch->cached.expires_ms == 0 || now < ch->cached.expires_ms - ch->refresh_early_ms);
}

/* Walk the chain from the top, or refresh one source.  Called locked. */
static int resolve(struct aws_creds_chain *ch, int only, char *err, size_t errsz)
{
	char tried[400] = "";
	size_t tn = 0;
	for (int i = only >= 0 ? only : 0; i < NSOURCES; i++) {
		struct aws_credentials c = {0};
		char serr[400] = "";
		int rc = sources[i].fn(ch, &c, serr, sizeof serr);
		if (rc == 1) {
			aws_credentials_clear(&ch->cached);
			ch->cached = c;
			ch->have = true;
			ch->source = i;
			int64_t left = c.expires_ms ? (c.expires_ms - ch->now_ms()) / 1000 : -1;
			if (left >= 0)
				vm_log(NULL, VM_LOG_DEBUG,
				       "aws: credentials from %s, valid for %lld s", sources[i].name,
				       (long long)left);
			else
				vm_log(NULL, VM_LOG_DEBUG, "aws: credentials from %s",
				       sources[i].name);
			return 0;
		}
		aws_credentials_clear(&c);
		if (rc < 0) {
			snprintf(err, errsz, "credentials from %s: %s", sources[i].name, serr);
			return rc;
		}
		if (only >= 0)
			break;
		int w = snprintf(tried + tn, sizeof tried - tn, "%s%s", tn ? ", " : "",
				 sources[i].name);
		if (w > 0 && (size_t)w < sizeof tried - tn)
			tn += (size_t)w;
	}
	if (only >= 0) {
		snprintf(err, errsz, "credentials from %s are gone", sources[only].name);
		return -1;
	}
	snprintf(err, errsz, "no AWS credentials found (tried %s)", tried);
	return -2;
}

int aws_creds_get(struct aws_creds_chain *ch, struct aws_credentials *out, const char **source,
		  char *err, size_t errsz)
{
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&ch->mu);
	int64_t now = ch->now_ms();
	int rc = 0;
	if (!fresh(ch, now)) {
		int prev = ch->have ? ch->source : -1;
		char rerr[500];
		rc = resolve(ch, prev, rerr, sizeof rerr);
		if (rc != 0 && ch->have && now < ch->cached.expires_ms) {
			/* Not expired yet: keep using them until the next try. */
			vm_log(NULL, VM_LOG_WARN, "aws: refreshing credentials failed, using the "
						  "cached ones: %s", rerr);
			rc = 0;
		} else if (rc != 0) {
			snprintf(err, errsz, "%s", rerr);
			aws_credentials_clear(&ch->cached);
			ch->have = false;
		}
	}
	if (rc == 0 && aws_credentials_copy(out, &ch->cached) != 0) {
		snprintf(err, errsz, "out of memory");
		rc = -1;
	}
	if (rc == 0 && source)
		*source = sources[ch->source].name;
	pthread_mutex_unlock(&ch->mu);
	return rc;
}
