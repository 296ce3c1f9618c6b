/*
 * AWS credentials.  Owner of this header: awsnet (credential chain in
 * creds.c).  The struct was put here first by sigv4 so the signer can use it.
 *
 * Every string is malloc()ed and owned by whoever owns the struct;
 * session_token may be NULL; expires_ms is 0 for credentials that do not
 * expire (epoch milliseconds otherwise).
 */
#ifndef VMPIPE_AWS_CREDS_H
#define VMPIPE_AWS_CREDS_H

#include <stdint.h>

struct aws_credentials {
	char *access_key_id;
	char *secret_access_key;
	char *session_token;
	int64_t expires_ms;
};


/* ---- the credential chain (awsnet) ---- */

#include <stdbool.h>
#include <stddef.h>

/*
 * The chain looks for credentials in the AWS CLI's order and stops at the
 * first source that has them:
 *
 *  1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY [+ AWS_SESSION_TOKEN]
 *  2. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
 *     [+ AWS_ROLE_SESSION_NAME] (or web_identity_token_file + role_arn in the
 *     profile) -> STS AssumeRoleWithWebIdentity (unsigned, query protocol)
 *  3. shared files: aws_access_key_id/aws_secret_access_key[/aws_session_token]
 *     of the profile (AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE)
 *  4. container: AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to a
 *     loopback / 169.254.170.2 / 169.254.170.23 host) or _RELATIVE_URI (on
 *     http://169.254.170.2), with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or
 *     AWS_CONTAINER_AUTHORIZATION_TOKEN as the Authorization header
 *  5. EC2 instance metadata, IMDSv2: PUT /latest/api/token, then
 *     /latest/meta-data/iam/security-credentials/[ROLE]
 *     (AWS_EC2_METADATA_SERVICE_ENDPOINT; AWS_EC2_METADATA_DISABLED=true skips)
 *
 * Credentials with an expiry are cached and fetched again `refresh_early_ms`
 * (5 minutes) before they expire; if that refresh fails while the cached ones
 * are still valid, the cached ones are used.  Static ones are resolved once.
 * A chain is safe to use from several threads (one mutex; a refresh holds it).
 */
struct aws_creds_chain;

struct aws_creds_opts {
	const char *profile;     /* NULL: AWS_PROFILE, else "default" */
	const char *sts_region;  /* region of the STS call; NULL: aws_region_resolve() */
	int64_t refresh_early_ms;/* 0: 5 minutes */
	int64_t (*now_ms)(void); /* NULL: the engine clock (clock.h) */
	/* Where _RELATIVE_URI points ("http://169.254.170.2"); tests override it. */
	const char *container_origin;
	long timeout_ms;         /* per metadata/container request; 0: 1 s as the SDKs */
};

/* NULL when out of memory.  `opts` may be NULL; its strings are copied. */
struct aws_creds_chain *aws_creds_chain_new(const struct aws_creds_opts *opts);
void aws_creds_chain_free(struct aws_creds_chain *chain);

/*
 * Current credentials, copied into `out` (free with aws_credentials_clear()).
 * `source` (may be NULL) receives the source's name: "environment",
 * "web-identity", "profile", "container", "imds".  0; -1 when a configured
 * source failed in a way that may pass later (an endpoint down, STS
 * refusing); -2 when the setup is wrong (no source at all, a partial
 * environment, a missing named profile, a refused container URI).  err names
 * what was tried, never a secret.
 */
int aws_creds_get(struct aws_creds_chain *chain, struct aws_credentials *out,
		  const char **source, char *err, size_t errsz);
/* Drop cached credentials (e.g. after ExpiredToken): the next get refetches. */
void aws_creds_invalidate(struct aws_creds_chain *chain);

/* Deep copy; 0 or -1 (then `dst` is cleared). */
int aws_credentials_copy(struct aws_credentials *dst, const struct aws_credentials *src);
/* Wipe the secrets, free the strings, zero the struct; safe on a zeroed one. */
void aws_credentials_clear(struct aws_credentials *c);

#endif /* VMPIPE_AWS_CREDS_H */
