/*
 * The AWS client as the rest of the engine sees it: one process-wide
 * credential chain, region for a job, and S3 reads for vm_fetch().
 * Owner: awsnet.  The host API functions (vm_aws_*, vm_s3_presign) are in
 * include/vmpipe/vmpipe.h.
 *
 * Environment: VMPIPE_AWS_TIMEOUT_MS and VMPIPE_AWS_CONNECT_TIMEOUT_MS set
 * the per-attempt total and connect timeouts (default 30 s and 3 s).
 */
#ifndef VMPIPE_AWS_HOST_H
#define VMPIPE_AWS_HOST_H

#include <stddef.h>
#include <stdint.h>

#include <vmpipe/vmpipe.h>

/* The process-wide credential chain, created on first use (NULL: out of memory). */
struct aws_creds_chain *aws_host_creds(void);

/* Free the chain and close pooled connections; call once at exit, after the
 * last AWS call (the next call would create a new chain). */
void aws_host_shutdown(void);

/*
 * The region for a call: `explicit` when set, else AWS_REGION,
 * AWS_DEFAULT_REGION, the profile's region, else the region of the job's
 * contact.instance_arn (job may be NULL).  0, or -1 with err.
 */
int aws_host_region(const vm_job *job, const char *explicit_region, char *buf, size_t size,
		    char *err, size_t errsz);

/* aws_s3_get() results. */
enum {
	AWS_S3_OK = 0,
	AWS_S3_NOT_FOUND = -1, /* NoSuchKey, NoSuchBucket, 404 */
	AWS_S3_TOO_LARGE = -2, /* the object is larger than `max` */
	AWS_S3_TRANSIENT = -3, /* 5xx, throttling, network, no credentials yet: retry later */
	AWS_S3_PERMANENT = -4, /* access denied, bad bucket name, …: retrying cannot help */
};

/*
 * GET s3://bucket/key into memory (for vm_fetch).  On AWS_S3_OK *data is
 * malloc()ed (caller frees; NUL-terminated, *len excludes the NUL).  On error
 * err holds a message naming the object and the S3 error.  The region comes
 * from the environment/profile (us-east-1 when none), and a bucket that lives
 * elsewhere is followed once to the region S3 names (x-amz-bucket-region).
 */
int aws_s3_get(const char *bucket, const char *key, size_t max, unsigned char **data,
	       size_t *len, char *err, size_t errsz);

/*
 * Presigned GET URL (malloc()ed); region NULL resolves as
 * aws_host_region(NULL, …).  With a content_type, the URL asks S3 to answer
 * with that type, inline (a mail's audio link then plays in the browser).
 * NULL with err.
 */
char *aws_s3_presign(const char *region, const char *bucket, const char *key,
		     const char *content_type, int64_t expires_s, char *err, size_t errsz);

#endif
