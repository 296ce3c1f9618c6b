/*
 * HMAC-signed recording links (see link.h) and vm_recording_link(), the step
 * that puts the notification's link into the job record.
 */
#include "link.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmpipe/vmpipe.h>

#include "aws/creds.h"
#include "aws/host.h"
#include "clock.h"
#include "util.h"

#define SIG_B64_LEN 43 /* base64url of 32 bytes, unpadded */
#define DEFAULT_REDIRECT_TTL_S 300

static bool local_http(const char *url)
{
	static const char *const ok[] = {"http://127.0.0.1:", "http://127.0.0.1/",
					 "http://localhost:", "http://localhost/"};
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
		if (strncmp(url, ok[i], strlen(ok[i])) == 0)
			return true;
	return false;
}

static int load_secret(const char *value, const char *file, unsigned char *out, size_t *len,
		       const char *what, char *err, size_t errsz)
{
	char *data = NULL;
	size_t n = 0;
	if (value && *value) {
		n = strlen(value);
		if (n < LINK_SECRET_MAX)
			memcpy(out, value, n);
	} else if (file && *file) {
		if (read_file(file, LINK_SECRET_MAX * 2, &data, &n) != 0) {
			snprintf(err, errsz, "%s_FILE %s: %s", what, file, strerror(errno));
			return -1;
		}
		while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r'))
			n--;
		if (n < LINK_SECRET_MAX)
			memcpy(out, data, n);
		OPENSSL_cleanse(data, n);
		free(data);
	} else {
		*len = 0;
		return 0;
	}
	if (n < LINK_SECRET_MIN || n >= LINK_SECRET_MAX) {
		snprintf(err, errsz, "%s must be %d to %d bytes long (it is %zu)", what,
			 LINK_SECRET_MIN, LINK_SECRET_MAX - 1, n);
		OPENSSL_cleanse(out, LINK_SECRET_MAX);
		return -1;
	}
	*len = n;
	return 0;
}

int link_config_from_env(struct link_cfg *c, char *err, size_t errsz)
{
	memset(c, 0, sizeof *c);
	c->redirect_ttl_s = DEFAULT_REDIRECT_TTL_S;
	const char *base = getenv("VMPIPE_LINK_BASE_URL");
	if (!base || !*base)
		return 0;
	size_t bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	if (bl == 0 || bl >= sizeof c->base_url) {
		snprintf(err, errsz, "VMPIPE_LINK_BASE_URL is empty or too long");
		return -1;
	}
	if (strncmp(base, "https://", 8) != 0 && !local_http(base)) {
		snprintf(err, errsz, "VMPIPE_LINK_BASE_URL must be an https:// URL (the function URL)");
		return -1;
	}
	memcpy(c->base_url, base, bl);
	c->base_url[bl] = '\0';
	if (load_secret(getenv("VMPIPE_LINK_SECRET"), getenv("VMPIPE_LINK_SECRET_FILE"), c->secret,
			&c->secret_len, "VMPIPE_LINK_SECRET", err, errsz) != 0 ||
	    load_secret(getenv("VMPIPE_LINK_SECRET_PREVIOUS"), NULL, c->previous, &c->previous_len,
			"VMPIPE_LINK_SECRET_PREVIOUS", err, errsz) != 0) {
		link_config_clear(c);
		return -1;
	}
	if (c->secret_len == 0) {
		snprintf(err, errsz, "VMPIPE_LINK_BASE_URL is set but neither VMPIPE_LINK_SECRET nor "
			 "VMPIPE_LINK_SECRET_FILE is");
		link_config_clear(c);
		return -1;
	}
	const char *ttl = getenv("VMPIPE_LINK_REDIRECT_TTL");
	if (ttl && *ttl) {
		int64_t ms;
		if (parse_duration(ttl, &ms) != 0 || ms < 1000 || ms > 3600 * 1000) {
			snprintf(err, errsz, "VMPIPE_LINK_REDIRECT_TTL must be a duration from 1s to 1h");
			link_config_clear(c);
			return -1;
		}
		c->redirect_ttl_s = ms / 1000;
	}
	c->enabled = true;
	return 0;
}

void link_config_clear(struct link_cfg *c)
{
	OPENSSL_cleanse(c, sizeof *c);
	memset(c, 0, sizeof *c);
}

/* The process-wide configuration: written once under pthread_once. */
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static struct link_cfg global_cfg;
static int global_rc;
static char global_err[300];

static void global_load(void)
{
	global_rc = link_config_from_env(&global_cfg, global_err, sizeof global_err);
}

const struct link_cfg *link_config(char *err, size_t errsz)
{
	pthread_once(&global_once, global_load);
	if (global_rc != 0) {
		snprintf(err, errsz, "%s", global_err);
		return NULL;
	}
	return &global_cfg;
}

static void b64url(const unsigned char *in, size_t n, char *out)
{
	unsigned char tmp[64];
	int len = EVP_EncodeBlock(tmp, in, (int)n);
	int j = 0;
	for (int i = 0; i < len; i++) {
		char ch = (char)tmp[i];
		if (ch == '=')
			break;
		out[j++] = ch == '+' ? '-' : ch == '/' ? '_' : ch;
	}
	out[j] = '\0';
}

/* Append the netstring "LEN:s," of [s, s+n) to buf at *o; -1 when it does not fit. */
static int netstring(char *buf, size_t size, size_t *o, const char *s, size_t n)
{
	int w = snprintf(buf + *o, size - *o, "%zu:", n);
	if (w < 0 || (size_t)w + n + 1 >= size - *o)
		return -1;
	*o += (size_t)w;
	memcpy(buf + *o, s, n);
	*o += n;
	buf[(*o)++] = ',';
	buf[*o] = '\0';
	return 0;
}

/*
 * base64url(HMAC-SHA256(secret, message)) into out[SIG_B64_LEN + 1]; 0 or -1.
 * The message is netstrings (a version tag naming the kind of link, then the
 * fields, the expiry last): each field carries its length, so no byte in a
 * field can move a boundary, as "\n" could in v1's "vmpipe-link-v1\nB\nK\nEXP".
 */
static int sign_fields(const unsigned char *secret, size_t slen, const char *tag, const char *const *f,
		       size_t nf, int64_t exp, char *out)
{
	char num[24], *msg;
	size_t size = strlen(tag) + 128, n = 0;
	for (size_t i = 0; i < nf; i++)
		size += strlen(f[i]) + 24;
	snprintf(num, sizeof num, "%lld", (long long)exp);
	if (!(msg = malloc(size)))
		return -1;
	int bad = netstring(msg, size, &n, tag, strlen(tag));
	for (size_t i = 0; i < nf && !bad; i++)
		bad = netstring(msg, size, &n, f[i], strlen(f[i]));
	if (bad || netstring(msg, size, &n, num, strlen(num)) != 0) {
		free(msg);
		return -1;
	}
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	unsigned char *r = HMAC(EVP_sha256(), secret, (int)slen, (const unsigned char *)msg, n, mac,
				&maclen);
	free(msg);
	if (!r || maclen != 32)
		return -1;
	b64url(mac, maclen, out);
	OPENSSL_cleanse(mac, sizeof mac);
	return 0;
}

/* No control characters (C0, DEL): they have no place in a bucket or key a
 * link names, and a decoded one is someone testing the parser. */
static bool printable(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* The largest expiry a link carries: what canonical_number() reads back. */
#define EXPIRES_DIGITS_MAX 18
#define EXPIRES_MAX 999999999999999999LL

/* A canonical positive decimal: digits only, no sign, space or leading zero. */
static bool canonical_number(const char *s, int64_t *v)
{
	size_t n = strspn(s, "0123456789");
	if (n == 0 || n > EXPIRES_DIGITS_MAX || s[n] != '\0' || s[0] == '0')
		return false;
	return parse_int(s, v) == 0 && *v > 0;
}

/* Percent-encode everything but RFC 3986 unreserved characters. */
static char *pct_encode(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(n * 3 + 1), *o = out;
	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~')
			*o++ = (char)*p;
		else
			o += sprintf(o, "%%%02X", *p);
	}
	*o = '\0';
	return out;
}

char *link_make_for(const struct link_cfg *c, const char *bucket, const char *key, const char *job_id,
		    int64_t expires_at_s)
{
	if (!c || !c->enabled || !bucket || !*bucket || !key || !*key || !printable(bucket) ||
	    !printable(key) || expires_at_s <= 0 || expires_at_s > EXPIRES_MAX ||
	    (job_id && !is_plain_name(job_id, LINK_JOB_ID_MAX)))
		return NULL; /* a link that would not verify is not made */
	char sig[SIG_B64_LEN + 1];
	const char *f[] = {bucket, key, job_id};
	if (sign_fields(c->secret, c->secret_len, LINK_VERSION_TAG, f, job_id ? 3 : 2, expires_at_s, sig) != 0)
		return NULL;
	char *eb = pct_encode(bucket), *ek = pct_encode(key), *url = NULL;
	if (eb && ek && asprintf(&url, "%s" LINK_PATH "?v=" LINK_VERSION "&bucket=%s&key=%s%s%s&expires=%lld&sig=%s",
				 c->base_url, eb, ek, job_id ? "&job=" : "", job_id ? job_id : "",
				 (long long)expires_at_s, sig) < 0)
		url = NULL;
	free(eb);
	free(ek);
	return url;
}

char *link_make(const struct link_cfg *c, const char *bucket, const char *key, int64_t expires_at_s)
{
	return link_make_for(c, bucket, key, NULL, expires_at_s);
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Decode [s, s+n); NULL on a bad escape or an embedded NUL. */
static char *pct_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
			int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(out);
				return NULL;
			}
			*o++ = (char)(hi * 16 + lo);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

enum { P_VERSION, P_BUCKET, P_KEY, P_EXPIRES, P_SIG, P_N, P_JOB = P_N, P_ALL };

/* The parameters `names` (np of them) into v[]: each decoded, printable,
 * given once; others are ignored.  names[1..nreq) must be there ("v", the
 * first, is checked by the caller; those from nreq on are optional). */
static enum link_verdict parse_query(const char *q, const char *const *names, int np, int nreq, char **v)
{
	while (q && *q) {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', len);
		if (eq) {
			size_t nl = (size_t)(eq - q);
			for (int i = 0; i < np; i++) {
				if (strlen(names[i]) != nl || memcmp(q, names[i], nl) != 0)
					continue;
				if (v[i]) /* a repeated parameter: someone is playing games */
					return LINK_MALFORMED;
				v[i] = pct_decode(eq + 1, len - nl - 1);
				if (!v[i] || !*v[i] || !printable(v[i]))
					return LINK_MALFORMED;
			}
		}
		q = amp ? amp + 1 : NULL;
	}
	for (int i = 1; i < nreq; i++)
		if (!v[i])
			return LINK_MALFORMED;
	return LINK_OK;
}

static bool sig_matches(const unsigned char *secret, size_t slen, const char *bucket,
			const char *key, const char *job, int64_t exp, const char *given)
{
	char want[SIG_B64_LEN + 1];
	const char *f[] = {bucket, key, job};
	if (slen == 0 || sign_fields(secret, slen, LINK_VERSION_TAG, f, job ? 3 : 2, exp, want) != 0)
		return false;
	/* The length is public (always 43); the bytes are compared in constant time. */
	bool ok = strlen(given) == SIG_B64_LEN && CRYPTO_memcmp(want, given, SIG_B64_LEN) == 0;
	OPENSSL_cleanse(want, sizeof want);
	return ok;
}

enum link_verdict link_verify_for(const struct link_cfg *c, const char *raw_query, int64_t now_s, char **bucket,
				  char **key, char **job, int64_t *expires_at_s)
{
	*bucket = *key = NULL;
	if (job)
		*job = NULL;
	*expires_at_s = 0;
	/* "job" is optional: the names before P_N are required (but "v"). */
	static const char *const names[P_ALL] = {"v", "bucket", "key", "expires", "sig", "job"};
	char *v[P_ALL] = {0};
	enum link_verdict verdict = parse_query(raw_query, names, P_ALL, P_N, v);
	int64_t exp = 0;
	if (verdict == LINK_OK && !canonical_number(v[P_EXPIRES], &exp))
		verdict = LINK_MALFORMED;
	if (verdict == LINK_OK && v[P_JOB] && !is_plain_name(v[P_JOB], LINK_JOB_ID_MAX))
		verdict = LINK_MALFORMED;
	/* v1 links (no "v") signed an ambiguous message: refused, and said so. */
	if (verdict == LINK_OK && !v[P_VERSION])
		verdict = LINK_OLD;
	if (verdict == LINK_OK && strcmp(v[P_VERSION], LINK_VERSION) != 0)
		verdict = LINK_MALFORMED;
	if (verdict == LINK_OK && (!c || !c->enabled))
		verdict = LINK_FORGED;
	if (verdict == LINK_OK &&
	    !sig_matches(c->secret, c->secret_len, v[P_BUCKET], v[P_KEY], v[P_JOB], exp, v[P_SIG]) &&
	    !sig_matches(c->previous, c->previous_len, v[P_BUCKET], v[P_KEY], v[P_JOB], exp, v[P_SIG]))
		verdict = LINK_FORGED;
	if (verdict == LINK_OK && exp < now_s)
		verdict = LINK_EXPIRED;
	if (verdict == LINK_OK || verdict == LINK_EXPIRED) {
		*bucket = v[P_BUCKET];
		*key = v[P_KEY];
		v[P_BUCKET] = v[P_KEY] = NULL;
		if (job) {
			*job = v[P_JOB];
			v[P_JOB] = NULL;
		}
		*expires_at_s = exp;
	}
	for (int i = 0; i < P_ALL; i++)
		free(v[i]);
	return verdict;
}

enum link_verdict link_verify(const struct link_cfg *c, const char *raw_query, int64_t now_s,
			      char **bucket, char **key, int64_t *expires_at_s)
{
	return link_verify_for(c, raw_query, now_s, bucket, key, NULL, expires_at_s);
}

/* ------------------------------------------------ listen links (a job) */

static bool job_id_ok(const char *id)
{
	return is_plain_name(id, LINK_JOB_ID_MAX);
}

char *link_make_job(const unsigned char *secret, size_t slen, const char *base, const char *what,
		    const char *job_id, int64_t expires_at_s)
{
	if (!secret || slen < LINK_SECRET_MIN || !job_id || !job_id_ok(job_id) || expires_at_s <= 0 ||
	    expires_at_s > EXPIRES_MAX)
		return NULL;
	char sig[SIG_B64_LEN + 1];
	const char *f[] = {job_id};
	if (sign_fields(secret, slen, LINK_JOB_TAG, f, 1, expires_at_s, sig) != 0)
		return NULL;
	size_t bl = strlen(base);
	char *url = NULL;
	if (asprintf(&url, "%s%s" LINK_JOB_PATH "%s?v=" LINK_VERSION "&job=%s&expires=%lld&sig=%s", base,
		     bl && base[bl - 1] == '/' ? "" : "/", what ? what : "", job_id, (long long)expires_at_s,
		     sig) < 0)
		url = NULL;
	return url;
}

enum link_verdict link_verify_job(const unsigned char *secret, size_t slen, const char *raw_query, int64_t now_s,
				  char **job_id, int64_t *expires_at_s)
{
	enum { J_VERSION, J_JOB, J_EXPIRES, J_SIG, J_N };
	static const char *const names[J_N] = {"v", "job", "expires", "sig"};
	*job_id = NULL;
	*expires_at_s = 0;
	char *v[J_N] = {0};
	enum link_verdict verdict = parse_query(raw_query, names, J_N, J_N, v);
	int64_t exp = 0;
	if (verdict == LINK_OK && (!v[J_VERSION] || strcmp(v[J_VERSION], LINK_VERSION) != 0 ||
				   !canonical_number(v[J_EXPIRES], &exp) || !job_id_ok(v[J_JOB])))
		verdict = LINK_MALFORMED;
	char want[SIG_B64_LEN + 1];
	const char *f[] = {v[J_JOB]};
	if (verdict == LINK_OK &&
	    (slen < LINK_SECRET_MIN || sign_fields(secret, slen, LINK_JOB_TAG, f, 1, exp, want) != 0 ||
	     strlen(v[J_SIG]) != SIG_B64_LEN || CRYPTO_memcmp(want, v[J_SIG], SIG_B64_LEN) != 0))
		verdict = LINK_FORGED;
	OPENSSL_cleanse(want, sizeof want);
	if (verdict == LINK_OK && exp < now_s)
		verdict = LINK_EXPIRED;
	if (verdict == LINK_OK || verdict == LINK_EXPIRED) {
		*job_id = v[J_JOB];
		v[J_JOB] = NULL;
		*expires_at_s = exp;
	}
	for (int i = 0; i < J_N; i++)
		free(v[i]);
	return verdict;
}

/* When the credentials that would sign a presigned URL stop working (0: never). */
static int64_t session_end_ms(void)
{
	struct aws_creds_chain *ch = aws_host_creds();
	struct aws_credentials cr = {0};
	char err[300];
	int64_t end = 0;
	if (ch && aws_creds_get(ch, &cr, NULL, err, sizeof err) == 0)
		end = cr.expires_ms;
	aws_credentials_clear(&cr);
	return end;
}

int vm_recording_link(vm_job *job, const char *bucket, const char *key, int64_t expires_s)
{
	char err[300];
	const struct link_cfg *c = link_config(err, sizeof err);
	if (!c) {
		vm_log(job, VM_LOG_ERROR, "link mode: %s", err);
		return -1;
	}
	if (expires_s < 1)
		expires_s = 1;
	int64_t now = clock_now_ms();
	char *url;
	int64_t until_ms;
	const char *kind;
	if (c->enabled) {
		if (expires_s > LINK_MAX_LIFETIME_S)
			expires_s = LINK_MAX_LIFETIME_S;
		until_ms = now + expires_s * 1000;
		/* The job's id rides along, signed: the listen page finds its record. */
		const char *id = vm_job_id(job);
		url = link_make_for(c, bucket, key, id && is_plain_name(id, LINK_JOB_ID_MAX) ? id : NULL,
				    until_ms / 1000);
		kind = "link";
	} else {
		if (expires_s > 604800)
			expires_s = 604800;
		url = vm_s3_presign(job, bucket, key, expires_s);
		until_ms = now + expires_s * 1000;
		/* A presigned URL dies with the session that signed it: say so. */
		int64_t end = url ? session_end_ms() : 0;
		if (end > 0 && end < until_ms)
			until_ms = end;
		kind = "presigned";
	}
	if (!url) {
		if (c->enabled)
			vm_log(job, VM_LOG_ERROR, "link for s3://%s/%s: cannot build it", bucket ? bucket : "",
			       key ? key : "");
		return -1;
	}
	char ts[32];
	vm_format_time(until_ms, ts, sizeof ts);
	int rc = vm_job_set_str(job, "recording.url", url) | vm_job_set_str(job, "recording.url_expires_at", ts) |
		 vm_job_set_str(job, "recording.url_kind", kind);
	free(url);
	return rc ? -1 : 0;
}
