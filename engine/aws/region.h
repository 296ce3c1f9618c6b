/*
 * Region and endpoint resolution, as the AWS SDKs do it.  Owner: awsnet.
 */
#ifndef VMPIPE_AWS_REGION_H
#define VMPIPE_AWS_REGION_H

#include <stdbool.h>
#include <stddef.h>

/* Longest region name we accept ("ap-southeast-1", "us-gov-west-1", …). */
#define AWS_REGION_MAX 64

/*
 * The region: AWS_REGION, else AWS_DEFAULT_REGION, else the profile's
 * `region` (AWS_PROFILE), else `fallback` (the engine passes the region of
 * the event's Connect instance ARN).  Writes it to buf and returns 0; -1 when
 * none is known or the one found is not a region name (err says which).
 */
int aws_region_resolve(const char *fallback, char *buf, size_t size, char *err, size_t errsz);

/* True for a syntactically valid region ("us-east-1"): it ends up in a host name. */
bool aws_region_valid(const char *region);

/* The region field of an ARN ("arn:aws:connect:eu-west-2:…" -> "eu-west-2");
 * 0, or -1 when `arn` has none. */
int aws_arn_region(const char *arn, char *buf, size_t size);

/*
 * Service ids as the SDKs name them, lower case: "s3", "transcribe",
 * "sesv2", "sts"; others map to <id>.<region>.amazonaws.com.
 * The SigV4 signing name ("sesv2" signs as "ses").
 */
const char *aws_signing_name(const char *service);

/* Where to send a request. Strings malloc()ed, freed by aws_endpoint_clear(). */
struct aws_endpoint {
	char *origin;    /* "https://s3.eu-west-2.amazonaws.com", "http://127.0.0.1:9000" */
	char *host;      /* Host header value: host[:port] */
	char *base_path; /* prepended to the request path: "" or "/bucket" (path-style) */
	bool custom;     /* from AWS_ENDPOINT_URL[_SERVICE] or the profile */
};

/*
 * Resolve the endpoint of `service` in `region`: AWS_ENDPOINT_URL_<SERVICE>
 * (service id upper-cased, spaces and dashes to underscores), else
 * AWS_ENDPOINT_URL, else the profile's endpoint_url, else AWS's default host
 * (AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true skips the overrides).  For S3 with
 * a `bucket`, the bucket goes in the host (virtual-hosted style) on AWS's
 * endpoint when it is DNS-safe, in the path otherwise and always on a custom
 * endpoint.  0, or -1 with err.
 */
int aws_endpoint_resolve(const char *service, const char *region, const char *bucket,
			 struct aws_endpoint *out, char *err, size_t errsz);
void aws_endpoint_clear(struct aws_endpoint *e);

/* An endpoint a service named (Kinesis Video's GetDataEndpoint):
 * "https://host[:port][/path]".  0, or -1 with err. */
int aws_endpoint_from_url(const char *url, struct aws_endpoint *out, char *err, size_t errsz);

#endif
