/* Presigned S3 GET URLs.  See presign.h. */
#include "presign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"
#include "uri.h"

struct endpoint {
	char scheme[8];   /* "http" or "https" */
	char host[256];   /* host name or [v6] literal, without the port */
	char port[8];     /* "" when none was given */
	char prefix[512]; /* path before the bucket, no trailing '/' */
};

static int perr(char *err, size_t errsz, const char *msg)
{
	if (err && errsz)
		snprintf(err, errsz, "presign: %s", msg);
	return -1;
}

static int parse_endpoint(const char *url, struct endpoint *ep, char *err, size_t errsz)
{
	memset(ep, 0, sizeof *ep);
	const char *p = strstr(url, "://");
	if (!p || (size_t)(p - url) >= sizeof ep->scheme)
		return perr(err, errsz, "endpoint must look like https://host[:port]");
	memcpy(ep->scheme, url, (size_t)(p - url));
	if (strcmp(ep->scheme, "http") != 0 && strcmp(ep->scheme, "https") != 0)
		return perr(err, errsz, "endpoint scheme must be http or https");
	p += 3;
	size_t alen = strcspn(p, "/?#");
	const char *auth = p, *aend = p + alen;
	if (memchr(auth, '@', alen))
		return perr(err, errsz, "endpoint may not carry user information");
	const char *colon = NULL;
	if (*auth == '[') {
		const char *rb = memchr(auth, ']', alen);
		if (!rb)
			return perr(err, errsz, "endpoint has an unterminated [IPv6] host");
		colon = rb + 1 < aend && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(auth, ':', alen);
	}
	const char *hend = colon ? colon : aend;
	if (hend == auth || (size_t)(hend - auth) >= sizeof ep->host)
		return perr(err, errsz, "endpoint host is empty or too long");
	memcpy(ep->host, auth, (size_t)(hend - auth));
	if (colon) {
		size_t plen = (size_t)(aend - colon - 1);
		if (plen == 0 || plen >= sizeof ep->port || strspn(colon + 1, "0123456789") < plen)
			return perr(err, errsz, "endpoint port is not a number");
		memcpy(ep->port, colon + 1, plen);
	}
	if (*aend == '?' || *aend == '#')
		return perr(err, errsz, "endpoint may not have a query or fragment");
	size_t plen = strlen(aend);
	while (plen && aend[plen - 1] == '/')
		plen--;
	if (plen >= sizeof ep->prefix)
		return perr(err, errsz, "endpoint path too long");
	memcpy(ep->prefix, aend, plen);
	return 0;
}

/* A bucket usable as a DNS label in a TLS host name (no dots). */
static bool dns_bucket(const char *b)
{
	size_t n = strlen(b);
	if (n < 3 || n > 63 || b[0] == '-' || b[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '-'))
			return false;
	return true;
}

char *aws_presign_s3_url(const char *endpoint, const char *region, const char *bucket,
                         const char *key, const char *query, int64_t expires_s, int64_t now_s,
                         const struct aws_credentials *creds, bool path_style, char *err,
                         size_t errsz)
{
	struct endpoint ep;
	if (!region || !*region || !bucket || !*bucket || !key || !*key) {
		perr(err, errsz, "region, bucket and key are required");
		return NULL;
	}
	if (strchr(bucket, '/')) {
		perr(err, errsz, "bucket name may not contain '/'");
		return NULL;
	}
	if (endpoint && *endpoint) {
		if (parse_endpoint(endpoint, &ep, err, errsz) < 0)
			return NULL;
	} else {
		memset(&ep, 0, sizeof ep);
		strcpy(ep.scheme, "https");
		/* China's partition has its own suffix; the rest of "aws" shares one. */
		const char *suffix = strncmp(region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
		if ((size_t)snprintf(ep.host, sizeof ep.host, "s3.%s.%s", region, suffix) >= sizeof ep.host) {
			perr(err, errsz, "region name too long");
			return NULL;
		}
	}
	bool virt = !path_style && dns_bucket(bucket);

	char *ekey = uri_encode_s3_key(key);
	char *ebucket = uri_encode_query_value(bucket);
	char host[330];
	char *path = NULL, *url = NULL;
	struct sigv4_result res = {0};
	if (!ekey || !ebucket)
		goto oom;
	snprintf(host, sizeof host, "%s%s%s", virt ? bucket : "", virt ? "." : "", ep.host);
	/* The Host header leaves out the scheme's default port, as HTTP clients send it. */
	bool default_port = !*ep.port || (strcmp(ep.scheme, "https") == 0 && strcmp(ep.port, "443") == 0) ||
	                    (strcmp(ep.scheme, "http") == 0 && strcmp(ep.port, "80") == 0);
	char host_hdr[340];
	snprintf(host_hdr, sizeof host_hdr, "%s%s%s", host, default_port ? "" : ":",
	         default_port ? "" : ep.port);
	if (asprintf(&path, "%s/%s%s%s", ep.prefix, virt ? "" : ebucket, virt ? "" : "/", ekey) < 0) {
		path = NULL;
		goto oom;
	}

	const struct sigv4_header h[] = {{"Host", host_hdr}};
	struct sigv4_request req = {.method = "GET", .path = path, .query = query, .headers = h,
	                            .nheaders = 1};
	struct sigv4_params params = {.region = region, .service = "s3", .now_s = now_s,
	                              .creds = creds, .s3_rules = true};
	if (sigv4_presign(&req, &params, expires_s, &res, err, errsz) < 0)
		goto out;
	if (asprintf(&url, "%s://%s%s%s%s?%s", ep.scheme, host, *ep.port ? ":" : "", ep.port, path,
	             res.query) < 0) {
		url = NULL;
		goto oom;
	}
	goto out;
oom:
	perr(err, errsz, "out of memory");
out:
	sigv4_result_free(&res);
	free(ekey);
	free(ebucket);
	free(path);
	return url;
}
