/*
 * Region and endpoint resolution.
 */
#include "region.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "profile.h"

bool aws_region_valid(const char *r)
{
	size_t n = r ? strlen(r) : 0;
	if (n == 0 || n >= AWS_REGION_MAX || r[0] == '-' || r[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)r[i]) || isdigit((unsigned char)r[i]) || r[i] == '-'))
			return false;
	return true;
}

int aws_arn_region(const char *arn, char *buf, size_t size)
{
	/* arn:partition:service:region:account:resource */
	if (!arn || strncmp(arn, "arn:", 4) != 0)
		return -1;
	const char *p = arn;
	for (int i = 0; i < 3; i++) {
		p = strchr(p, ':');
		if (!p)
			return -1;
		p++;
	}
	size_t n = strcspn(p, ":");
	if (n == 0 || p[n] != ':' || n >= size)
		return -1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return aws_region_valid(buf) ? 0 : -1;
}

static int take(const char *src, const char *what, char *buf, size_t size, char *err,
		size_t errsz)
{
	if (!aws_region_valid(src) || strlen(src) >= size) {
		snprintf(err, errsz, "%s is not a region name: \"%.64s\"", what, src);
		return -1;
	}
	snprintf(buf, size, "%s", src);
	return 0;
}

int aws_region_resolve(const char *fallback, char *buf, size_t size, char *err, size_t errsz)
{
	const char *v = getenv("AWS_REGION");
	if (v && *v)
		return take(v, "AWS_REGION", buf, size, err, errsz);
	v = getenv("AWS_DEFAULT_REGION");
	if (v && *v)
		return take(v, "AWS_DEFAULT_REGION", buf, size, err, errsz);
	struct aws_profile p;
	char perr[300] = "";
	if (aws_profile_load(NULL, &p, perr, sizeof perr) == 0) {
		if (p.region && *p.region) {
			char what[320];
			snprintf(what, sizeof what, "region of profile %.200s", p.name);
			int rc = take(p.region, what, buf, size, err, errsz);
			aws_profile_clear(&p);
			return rc;
		}
		aws_profile_clear(&p);
	}
	if (fallback && *fallback)
		return take(fallback, "the event's region", buf, size, err, errsz);
	snprintf(err, errsz, "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or region "
			     "in the AWS config profile)%s%s",
		 *perr ? "; " : "", perr);
	return -1;
}

static const struct service {
	const char *id;       /* lower-case SDK service id */
	const char *env;      /* AWS_ENDPOINT_URL_<env> */
	const char *signing;  /* SigV4 service name */
	const char *host;     /* first label of the default host */
} services[] = {
	{"s3", "S3", "s3", "s3"},
	{"transcribe", "TRANSCRIBE", "transcribe", "transcribe"},
	{"sesv2", "SESV2", "ses", "email"},
	{"ses", "SES", "ses", "email"},
	{"sts", "STS", "sts", "sts"},
	/* Kinesis Video Streams: the control plane, and GetMedia on the data
	 * endpoint GetDataEndpoint names (both sign as "kinesisvideo"). */
	{"kinesisvideo", "KINESIS_VIDEO", "kinesisvideo", "kinesisvideo"},
	{"kinesis-video-media", "KINESIS_VIDEO_MEDIA", "kinesisvideo", "kinesisvideo"},
	{"connect", "CONNECT", "connect", "connect"},
	/* AWS End User Messaging SMS (botocore's pinpoint-sms-voice-v2 model:
	 * endpointPrefix and signingName "sms-voice"). */
	{"pinpoint-sms-voice-v2", "PINPOINT_SMS_VOICE_V2", "sms-voice", "sms-voice"},
	{"sns", "SNS", "sns", "sns"},
};

static const struct service *find_service(const char *id)
{
	for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
		if (strcasecmp(services[i].id, id) == 0)
			return &services[i];
	return NULL;
}

const char *aws_signing_name(const char *service)
{
	const struct service *s = find_service(service);
	return s ? s->signing : service;
}

void aws_endpoint_clear(struct aws_endpoint *e)
{
	free(e->origin);
	free(e->host);
	free(e->base_path);
	memset(e, 0, sizeof *e);
}

static bool env_true(const char *name)
{
	const char *v = getenv(name);
	return v && strcasecmp(v, "true") == 0;
}

/* An endpoint override from the environment or profile, or NULL (malloc()ed). */
static char *configured_url(const char *service)
{
	if (env_true("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"))
		return NULL;
	char name[128] = "AWS_ENDPOINT_URL_";
	size_t n = strlen(name);
	for (const char *c = service; *c && n + 1 < sizeof name; c++)
		name[n++] = (*c == ' ' || *c == '-') ? '_' : (char)toupper((unsigned char)*c);
	name[n] = '\0';
	const struct service *s = find_service(service);
	if (s)
		snprintf(name, sizeof name, "AWS_ENDPOINT_URL_%s", s->env);
	const char *v = getenv(name);
	if (!v || !*v)
		v = getenv("AWS_ENDPOINT_URL");
	if (v && *v)
		return strdup(v);
	struct aws_profile p;
	char perr[300];
	char *url = NULL;
	if (aws_profile_load(NULL, &p, perr, sizeof perr) == 0) {
		if (p.endpoint_url && *p.endpoint_url)
			url = strdup(p.endpoint_url);
		aws_profile_clear(&p);
	}
	return url;
}

/* Lower-case letters, digits, dashes, 3-63 long, no dots: safe as a host label
 * under AWS's TLS wildcard certificate. */
static bool bucket_dns_safe(const char *b)
{
	size_t n = strlen(b);
	if (n < 3 || n > 63 || b[0] == '-' || b[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)b[i]) || isdigit((unsigned char)b[i]) || b[i] == '-'))
			return false;
	return true;
}

/* Characters S3 allows in bucket names, so the bucket can go in a path as is. */
static bool bucket_valid(const char *b)
{
	size_t n = strlen(b);
	if (n < 1 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)b[i]) || strchr("-._", b[i])))
			return false;
	return true;
}

static int split_url(const char *url, struct aws_endpoint *e, char *err, size_t errsz)
{
	const char *rest;
	if (strncasecmp(url, "https://", 8) == 0)
		rest = url + 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		rest = url + 7;
	else {
		snprintf(err, errsz, "endpoint URL must start with http:// or https://: \"%.200s\"",
			 url);
		return -1;
	}
	size_t hn = strcspn(rest, "/?#");
	if (hn == 0 || rest[hn] == '?' || rest[hn] == '#' || memchr(rest, '@', hn)) {
		snprintf(err, errsz, "bad endpoint URL \"%.200s\"", url);
		return -1;
	}
	e->origin = strndup(url, (size_t)(rest - url) + hn);
	e->host = strndup(rest, hn);
	/* A path in the endpoint URL prefixes every request; no trailing slash. */
	const char *path = rest + hn;
	size_t pn = strlen(path);
	while (pn > 0 && path[pn - 1] == '/')
		pn--;
	e->base_path = strndup(path, pn);
	for (char *h = e->host; h && *h; h++)
		*h = (char)tolower((unsigned char)*h);
	return e->origin && e->host && e->base_path ? 0 : -1;
}

int aws_endpoint_resolve(const char *service, const char *region, const char *bucket,
			 struct aws_endpoint *out, char *err, size_t errsz)
{
	memset(out, 0, sizeof *out);
	if (!aws_region_valid(region)) {
		snprintf(err, errsz, "not a region name: \"%.64s\"", region ? region : "");
		return -1;
	}
	bool is_s3 = strcasecmp(service, "s3") == 0;
	if (is_s3 && bucket && !bucket_valid(bucket)) {
		snprintf(err, errsz, "not an S3 bucket name: \"%.100s\"", bucket);
		return -1;
	}
	char *url = configured_url(service);
	int rc;
	if (url) {
		rc = split_url(url, out, err, errsz);
		out->custom = true;
		free(url);
	} else {
		const struct service *s = find_service(service);
		const char *suffix = strncmp(region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
		char origin[512];
		if (is_s3 && bucket && bucket_dns_safe(bucket)) {
			snprintf(origin, sizeof origin, "https://%s.s3.%s.%s", bucket, region, suffix);
			bucket = NULL; /* in the host: not in the path */
		} else {
			char id[64];
			snprintf(id, sizeof id, "%s", s ? s->host : service);
			for (char *c = id; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			snprintf(origin, sizeof origin, "https://%s.%s.%s", id, region, suffix);
		}
		rc = split_url(origin, out, err, errsz);
	}
	if (rc == 0 && is_s3 && bucket) {
		char *bp;
		if (asprintf(&bp, "%s/%s", out->base_path, bucket) < 0)
			rc = -1;
		else {
			free(out->base_path);
			out->base_path = bp;
		}
	}
	if (rc != 0)
		aws_endpoint_clear(out);
	return rc;
}

int aws_endpoint_from_url(const char *url, struct aws_endpoint *out, char *err, size_t errsz)
{
	memset(out, 0, sizeof *out);
	if (split_url(url, out, err, errsz) != 0)
		return -1;
	out->custom = true;
	return 0;
}
