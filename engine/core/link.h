/*
 * Recording links that outlive the Lambda role's session.  Owner: lambda.
 *
 * A presigned S3 URL dies with the temporary credentials that signed it
 * (hours on Lambda), not after the days the mail promises.  In link mode the
 * mail carries instead an HMAC-SHA256-signed link to the function's own
 * Lambda Function URL:
 *
 *   {VMPIPE_LINK_BASE_URL}/voicemail?v=2&bucket=B&key=K[&job=ID]&expires=EPOCH_S&sig=SIG
 *
 * SIG = base64url(HMAC-SHA256(secret, N("vmpipe-link-v2") N(B) N(K) [N(ID)] N(EPOCH_S)))
 * where N(s) is the netstring LEN ":" s "," (LEN: decimal byte count), so a
 * byte of B or K can never move a field boundary.  EPOCH_S is accepted only
 * in canonical form (digits, no sign, no leading zero); decoded B and K hold
 * no control characters.  Links of v1 (no "v"; a "\n"-joined message) are
 * refused as LINK_OLD.
 * A concatenation of netstrings parses one way only, so a link with the job
 * and one without can never share a message.  On click (link_click.h) the
 * function verifies it and answers the listen page (mail/listen_page.h),
 * whose player fetches a fresh presigned URL valid for minutes.
 *
 * Configuration (environment, read once per process):
 *   VMPIPE_LINK_BASE_URL      the Function URL (https://…lambda-url….on.aws/);
 *                             unset: link mode off, presigned URLs as before
 *   VMPIPE_LINK_SECRET        the key, at least 32 bytes, or
 *   VMPIPE_LINK_SECRET_FILE   a file holding it (trailing newline ignored)
 *   VMPIPE_LINK_SECRET_PREVIOUS  an older key still accepted on click (rotation)
 *   VMPIPE_LINK_REDIRECT_TTL  lifetime of the presigned URL a click gets (5m)
 */
#ifndef VMPIPE_LINK_H
#define VMPIPE_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LINK_SECRET_MIN 32
#define LINK_SECRET_MAX 512
/* Longest link lifetime accepted (S3's own cap for presigned URLs is 7 days). */
#define LINK_MAX_LIFETIME_S (366LL * 24 * 3600)
#define LINK_PATH "/voicemail"
#define LINK_VERSION "2"
#define LINK_VERSION_TAG "vmpipe-link-v2"

struct link_cfg {
	bool enabled;
	char base_url[512];        /* without the trailing '/' */
	unsigned char secret[LINK_SECRET_MAX];
	size_t secret_len;
	unsigned char previous[LINK_SECRET_MAX];
	size_t previous_len;       /* 0: none */
	int64_t redirect_ttl_s;
};

/*
 * Read the configuration from the environment into `c`.  0 (c->enabled says
 * whether link mode is on), or -1 with err when it is half-configured: a base
 * URL without a usable secret, an unreadable secret file, a secret shorter
 * than LINK_SECRET_MIN, a base URL that is not https:// (http:// only for
 * 127.0.0.1/localhost, for tests), a bad redirect TTL.
 */
int link_config_from_env(struct link_cfg *c, char *err, size_t errsz);
/* Wipe the secrets. */
void link_config_clear(struct link_cfg *c);

/*
 * The process-wide configuration (loaded from the environment on first use;
 * owned by link.c, read-only afterwards).  NULL with err when it is
 * half-configured; check ->enabled otherwise.
 */
const struct link_cfg *link_config(char *err, size_t errsz);

/* A signed link to s3://bucket/key valid until `expires_at_s` (epoch s).
 * malloc()ed; NULL when out of memory or link mode is off. */
char *link_make(const struct link_cfg *c, const char *bucket, const char *key,
		int64_t expires_at_s);
/* The same naming the job too (&job=ID, signed as a fifth netstring before
 * the expiry), so the listen page can show the job's record; job_id NULL:
 * link_make(). */
char *link_make_for(const struct link_cfg *c, const char *bucket, const char *key, const char *job_id,
		    int64_t expires_at_s);

enum link_verdict {
	LINK_OK = 0,
	LINK_MALFORMED, /* not a link: parameters missing, repeated, undecodable, a
			 * control character, an expiry not in canonical form */
	LINK_FORGED,    /* the signature does not match (any key) */
	LINK_EXPIRED,   /* genuine, but past its expiry */
	LINK_OLD,       /* a v1 link (no "v" parameter): no longer accepted */
};

/*
 * Check the query string of a click (raw, still percent-encoded).  The
 * signature is compared in constant time (CRYPTO_memcmp) and checked before
 * the expiry, so an altered expiry reads as forged.  On LINK_OK and
 * LINK_EXPIRED, *bucket and *key are malloc()ed (caller frees) and
 * *expires_at_s set; otherwise they are NULL.
 */
enum link_verdict link_verify(const struct link_cfg *c, const char *raw_query, int64_t now_s,
			      char **bucket, char **key, int64_t *expires_at_s);
/* The same, with the job a link names (*job malloc()ed, NULL when the link
 * names none; job may be NULL to ignore it). */
enum link_verdict link_verify_for(const struct link_cfg *c, const char *raw_query, int64_t now_s, char **bucket,
				  char **key, char **job, int64_t *expires_at_s);

/*
 * Listen links (`vmpipe serve`, docs/serve.md): the same construction for a
 * job instead of an object,
 *
 *   {public_url}l/{what}?v=2&job=ID&expires=EPOCH_S&sig=SIG
 *   SIG = base64url(HMAC-SHA256(key, N("vmpipe-listen-v2") N(ID) N(EPOCH_S)))
 *
 * Its own tag keeps the two kinds apart (no bucket link verifies as a job
 * link).  ID is a plain name (letters, digits, '-', '_', '.'; no "..").
 * `what` is "" for the page, "audio" for the recording.
 */
#define LINK_JOB_TAG "vmpipe-listen-v2"
#define LINK_JOB_PATH "l/"
#define LINK_JOB_ID_MAX 128

/* malloc()ed; NULL when out of memory or given what would not verify. */
char *link_make_job(const unsigned char *secret, size_t slen, const char *base, const char *what,
		    const char *job_id, int64_t expires_at_s);
/* As link_verify(), for a job link: *job_id malloc()ed on LINK_OK and
 * LINK_EXPIRED.  No "v" is LINK_MALFORMED (there never was a v1). */
enum link_verdict link_verify_job(const unsigned char *secret, size_t slen, const char *raw_query, int64_t now_s,
				  char **job_id, int64_t *expires_at_s);

#endif
