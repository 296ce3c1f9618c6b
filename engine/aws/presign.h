/*
 * Presigned S3 GET URLs (what `vmpipe presign` and the notifiers' links use).
 * Owner: sigv4.
 */
#ifndef VMPIPE_AWS_PRESIGN_H
#define VMPIPE_AWS_PRESIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "creds.h"

/*
 * A presigned GET URL for s3://bucket/key, valid `expires_s` seconds (1 to
 * 604800) from `now_s` (epoch seconds).
 *
 * endpoint: NULL for AWS (https://BUCKET.s3.REGION.amazonaws.com/KEY), or
 * "scheme://host[:port][/prefix]" (AWS_ENDPOINT_URL_S3 and the like).
 * path_style: put the bucket in the path (https://HOST/BUCKET/KEY): what
 * custom endpoints (s3rver, MinIO) need.  A bucket that is not a plain DNS
 * label (dots, upper case, underscores) goes in the path anyway, like the
 * SDKs do, since it cannot be a TLS host name.
 *
 * query: more query parameters to sign, already encoded ("a=b&c=d"), or NULL:
 * e.g. response-content-type, so a browser plays the audio instead of saving it.
 *
 * Returns a malloc()ed URL the caller frees, or NULL with a message in err.
 * The URL carries the signature and any session token: do not log it whole.
 */
char *aws_presign_s3_url(const char *endpoint, const char *region, const char *bucket,
                         const char *key, const char *query, int64_t expires_s, int64_t now_s,
                         const struct aws_credentials *creds, bool path_style, char *err,
                         size_t errsz);

#endif /* VMPIPE_AWS_PRESIGN_H */
