/*
 * AWS Signature Version 4.  See sigv4.h for the contract.
 *
 * The canonical forms follow the AWS SigV4 documentation and the official
 * test suite (tests/data/sigv4), and agree with botocore, AWS's own
 * signer, on everything the suite leaves open (tests/integration checks it):
 *  - path: other services remove dot segments and empty segments, then
 *    percent-encode the wire path once more (so "%20" is signed as "%2520");
 *    S3 signs the wire path as it is;
 *  - query: each key and value is decoded and re-encoded with the RFC 3986
 *    unreserved set, then the pairs are sorted by key, then value; an empty
 *    segment ("a&&b") is skipped, a segment without '=' has an empty value;
 *  - headers: lower-case names, values trimmed with inner whitespace runs
 *    collapsed to one space, duplicates joined with ',' in request order.
 */
#include "sigv4.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "uri.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* ------------------------------------------------------------ string buffer */

/* A growable string; `failed` latches an allocation failure so callers check once. */
struct sbuf {
	char *s;
	size_t len, cap;
	bool failed;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->s, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_adds(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* Append `len` bytes of src percent-encoded (see uri.h). */
static void sb_add_encoded(struct sbuf *b, const char *src, size_t len, bool keep_slash)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		char tmp[4];
		size_t n = uri_encode_into(tmp, (const char *)&c, 1, keep_slash);
		sb_add(b, tmp, n);
	}
}

/* Take the string out of b (NULL if any append failed). */
static char *sb_take(struct sbuf *b)
{
	if (b->failed) {
		free(b->s);
		b->s = NULL;
	} else if (!b->s) {
		b->s = calloc(1, 1);
	}
	char *s = b->s;
	*b = (struct sbuf){0};
	return s;
}

static void sb_wipe_free(struct sbuf *b)
{
	if (b->s) {
		OPENSSL_cleanse(b->s, b->cap);
		free(b->s);
	}
	*b = (struct sbuf){0};
}

/* ------------------------------------------------------------------ crypto */

static void to_hex(const unsigned char *md, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[32];
	unsigned int n = 0;
	static const char empty[1] = "";
	EVP_Digest(data ? data : empty, len, md, &n, EVP_sha256(), NULL);
	to_hex(md, 32, hex);
}

static void hmac(const unsigned char *key, size_t keylen, const char *msg, size_t msglen,
                 unsigned char out[32])
{
	unsigned int n = 32;
	HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, msglen, out, &n);
}

/* ------------------------------------------------------ signing key cache */

/*
 * Deriving the key costs four HMACs; a daemon signs thousands of requests a
 * day with the same (secret, day, region, service), so the key is kept.  The
 * slot is found by a SHA-256 over those four, so the secret itself is not
 * retained.  Round-robin eviction: a handful of region/service pairs is the
 * whole working set.
 */
#define KEY_CACHE_SLOTS 16

struct key_slot {
	bool used;
	unsigned char id[32];
	unsigned char key[32];
};

static mtx_t key_cache_mu;
static once_flag key_cache_once = ONCE_FLAG_INIT;
static bool key_cache_ok;
static struct key_slot key_cache[KEY_CACHE_SLOTS];
static unsigned key_cache_next;

static void key_cache_init(void)
{
	key_cache_ok = mtx_init(&key_cache_mu, mtx_plain) == thrd_success;
}

/* False when the mutex could not be made: the cache is then bypassed. */
static bool key_cache_lock(void)
{
	call_once(&key_cache_once, key_cache_init);
	return key_cache_ok && mtx_lock(&key_cache_mu) == thrd_success;
}

static int key_id(const char *secret, const char *day, const char *region, const char *service,
                  unsigned char id[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 32;
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	         EVP_DigestUpdate(ctx, secret, strlen(secret) + 1) &&
	         EVP_DigestUpdate(ctx, day, strlen(day) + 1) &&
	         EVP_DigestUpdate(ctx, region, strlen(region) + 1) &&
	         EVP_DigestUpdate(ctx, service, strlen(service) + 1) &&
	         EVP_DigestFinal_ex(ctx, id, &n);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

static int derive_key(const char *secret, const char *day, const char *region,
                      const char *service, unsigned char key[32])
{
	size_t slen = strlen(secret);
	unsigned char *ksecret = malloc(slen + 4);
	unsigned char a[32], b[32];
	if (!ksecret)
		return -1;
	memcpy(ksecret, "AWS4", 4);
	memcpy(ksecret + 4, secret, slen);
	hmac(ksecret, slen + 4, day, strlen(day), a);
	hmac(a, 32, region, strlen(region), b);
	hmac(b, 32, service, strlen(service), a);
	hmac(a, 32, "aws4_request", 12, key);
	OPENSSL_cleanse(ksecret, slen + 4);
	OPENSSL_cleanse(a, sizeof a);
	OPENSSL_cleanse(b, sizeof b);
	free(ksecret);
	return 0;
}

static int signing_key(const char *secret, const char *day, const char *region,
                       const char *service, unsigned char key[32])
{
	unsigned char id[32];
	if (key_id(secret, day, region, service, id) < 0)
		return -1;
	if (!key_cache_lock())
		return derive_key(secret, day, region, service, key);
	for (size_t i = 0; i < KEY_CACHE_SLOTS; i++) {
		if (key_cache[i].used && memcmp(key_cache[i].id, id, 32) == 0) {
			memcpy(key, key_cache[i].key, 32);
			mtx_unlock(&key_cache_mu);
			return 0;
		}
	}
	mtx_unlock(&key_cache_mu);

	/* Derive outside the lock: two threads may both derive once; harmless. */
	if (derive_key(secret, day, region, service, key) < 0)
		return -1;
	if (!key_cache_lock())
		return 0;
	struct key_slot *s = &key_cache[key_cache_next++ % KEY_CACHE_SLOTS];
	s->used = true;
	memcpy(s->id, id, 32);
	memcpy(s->key, key, 32);
	mtx_unlock(&key_cache_mu);
	return 0;
}

void sigv4_key_cache_clear(void)
{
	if (!key_cache_lock())
		return;
	OPENSSL_cleanse(key_cache, sizeof key_cache);
	memset(key_cache, 0, sizeof key_cache);
	key_cache_next = 0;
	mtx_unlock(&key_cache_mu);
}

/* ------------------------------------------------------------------- path */

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/*
 * RFC 3986 dot-segment removal as the AWS SDKs do it: empty segments ("//")
 * go too, "/" stays first, and a trailing '/' survives when anything is left.
 */
static void add_normalized_path(struct sbuf *b, const char *path)
{
	size_t len = strlen(path);
	const char **seg = malloc((len / 2 + 2) * sizeof *seg);
	size_t *seglen = malloc((len / 2 + 2) * sizeof *seglen);
	size_t nseg = 0;
	if (!seg || !seglen) {
		b->failed = true;
		free(seg);
		free(seglen);
		return;
	}
	for (const char *p = path; p <= path + len;) {
		const char *e = memchr(p, '/', (size_t)(path + len - p));
		size_t n = e ? (size_t)(e - p) : (size_t)(path + len - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (nseg)
				nseg--;
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			seg[nseg] = p;
			seglen[nseg++] = n;
		}
		if (!e)
			break;
		p = e + 1;
	}
	if (path[0] == '/')
		sb_add(b, "/", 1);
	for (size_t i = 0; i < nseg; i++) {
		if (i)
			sb_add(b, "/", 1);
		sb_add_encoded(b, seg[i], seglen[i], false);
	}
	if (nseg && path[len - 1] == '/')
		sb_add(b, "/", 1);
	free(seg);
	free(seglen);
}

static void add_canonical_path(struct sbuf *b, const char *path, const struct sigv4_params *p)
{
	if (!path || !*path)
		path = "/";
	if (p->s3_rules)
		sb_adds(b, path);
	else if (p->no_normalize)
		sb_add_encoded(b, path, strlen(path), true);
	else
		add_normalized_path(b, path);
}

/* ------------------------------------------------------------------ query */

struct qparam {
	char *key;   /* canonically encoded */
	char *value; /* canonically encoded */
};

struct qlist {
	struct qparam *v;
	size_t n, cap;
	bool failed;
};

/* Decode then re-encode `len` bytes, so "%e1%88%b4", "ሴ" and "%E1%88%B4" agree. */
static char *canon_component(const char *s, size_t len)
{
	char *dec = malloc(len + 1);
	char *enc = dec ? malloc(URI_ENCODED_MAX(len)) : NULL;
	if (enc) {
		size_t n = uri_decode_into(dec, s, len);
		uri_encode_into(enc, dec, n, false);
	}
	free(dec);
	return enc;
}

static void ql_push(struct qlist *q, char *key, char *value)
{
	if (!q->failed && q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		struct qparam *v = realloc(q->v, cap * sizeof *v);
		if (v) {
			q->v = v;
			q->cap = cap;
		} else {
			q->failed = true;
		}
	}
	if (q->failed || !key || !value) {
		q->failed = true;
		free(key);
		free(value);
		return;
	}
	q->v[q->n++] = (struct qparam){key, value};
}

static void ql_add_raw(struct qlist *q, const char *query)
{
	if (!query)
		return;
	const char *p = query;
	while (*p) {
		size_t n = strcspn(p, "&");
		if (n > 0) {
			const char *eq = memchr(p, '=', n);
			size_t klen = eq ? (size_t)(eq - p) : n;
			const char *v = eq ? eq + 1 : p + n;
			size_t vlen = eq ? n - klen - 1 : 0;
			ql_push(q, canon_component(p, klen), canon_component(v, vlen));
		}
		p += n;
		if (*p == '&')
			p++;
	}
}

/* Add a parameter given in clear (not yet encoded). */
static void ql_add_plain(struct qlist *q, const char *key, const char *value)
{
	ql_push(q, uri_encode_query_value(key), uri_encode_query_value(value));
}

static int qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : strcmp(x->value, y->value);
}

static void ql_free(struct qlist *q)
{
	for (size_t i = 0; i < q->n; i++) {
		/* Values may carry the session token. */
		OPENSSL_cleanse(q->v[i].value, strlen(q->v[i].value));
		free(q->v[i].key);
		free(q->v[i].value);
	}
	free(q->v);
	*q = (struct qlist){0};
}

static void add_canonical_query(struct sbuf *b, struct qlist *q)
{
	if (q->n > 1)
		qsort(q->v, q->n, sizeof *q->v, qparam_cmp);
	for (size_t i = 0; i < q->n; i++) {
		if (i)
			sb_add(b, "&", 1);
		sb_adds(b, q->v[i].key);
		sb_add(b, "=", 1);
		sb_adds(b, q->v[i].value);
	}
}

/* ---------------------------------------------------------------- headers */

struct hentry {
	char *name;        /* lower case, owned */
	const char *value; /* borrowed, untrimmed */
	size_t order;      /* keeps duplicates in request order through qsort */
};

static int hentry_cmp(const void *a, const void *b)
{
	const struct hentry *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static char *lower_dup(const char *s)
{
	size_t n = strlen(s);
	char *d = malloc(n + 1);
	if (!d)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		d[i] = (char)tolower((unsigned char)s[i]);
	return d;
}

/* Trimall: strip both ends, collapse inner whitespace runs to one space. */
static void add_trimmed(struct sbuf *b, const char *v)
{
	bool pending_space = false, any = false;
	for (const char *p = v; *p; p++) {
		if (is_ws(*p)) {
			pending_space = any;
			continue;
		}
		if (pending_space)
			sb_add(b, " ", 1);
		sb_add(b, p, 1);
		pending_space = false;
		any = true;
	}
}

static bool header_skipped(const char *lname, bool drop_content_sha)
{
	static const char *const never[] = {
		"authorization", "x-amz-date", "x-amz-security-token",
		/* changed on the way by proxies and HTTP layers; the SDKs skip them */
		"user-agent", "expect", "x-amzn-trace-id",
	};
	for (size_t i = 0; i < sizeof never / sizeof *never; i++)
		if (strcmp(lname, never[i]) == 0)
			return true;
	return drop_content_sha && strcmp(lname, "x-amz-content-sha256") == 0;
}

/* --------------------------------------------------------------- signing */

enum mode { MODE_HEADER, MODE_QUERY };

struct ctx {
	const struct sigv4_request *req;
	const struct sigv4_params *p;
	enum mode mode;
	int64_t expires_s;
	char amzdate[17]; /* 20150830T123600Z */
	char day[9];
	char payload[65];
	bool token;        /* a session token is present */
	bool sign_token;   /* ... and goes into what is signed */
	bool sha_header;   /* x-amz-content-sha256 is sent */
	struct hentry *h;
	size_t nh;
	char *signed_headers;
	char *scope; /* day/region/service/aws4_request */
};

static int fail(char *err, size_t errsz, const char *msg)
{
	if (err && errsz)
		snprintf(err, errsz, "sigv4: %s", msg);
	return -1;
}

static bool empty(const char *s)
{
	return !s || !*s;
}

static int check_inputs(const struct sigv4_request *req, const struct sigv4_params *p, char *err,
                        size_t errsz)
{
	if (!req || !p || empty(req->method))
		return fail(err, errsz, "request has no method");
	if (empty(p->region) || empty(p->service))
		return fail(err, errsz, "region and service are required");
	if (strchr(p->region, '/') || strchr(p->service, '/'))
		return fail(err, errsz, "region and service may not contain '/'");
	if (!p->creds || empty(p->creds->access_key_id) || empty(p->creds->secret_access_key))
		return fail(err, errsz, "no credentials (access key id and secret key required)");
	/* Four-digit years only: the date stamp has a fixed width. */
	if (p->now_s < 0 || p->now_s > 253402300799)
		return fail(err, errsz, "signing time out of range");
	if (req->payload_hash && strlen(req->payload_hash) != 64 &&
	    strcmp(req->payload_hash, UNSIGNED_PAYLOAD) != 0)
		return fail(err, errsz, "payload_hash must be 64 hex digits");
	if (req->nheaders && !req->headers)
		return fail(err, errsz, "nheaders set without headers");
	for (size_t i = 0; i < req->nheaders; i++)
		if (empty(req->headers[i].name) || !req->headers[i].value)
			return fail(err, errsz, "header without a name or a value");
	return 0;
}

/* Collect the headers to sign, sorted; the ones the signer adds included. */
static int collect_headers(struct ctx *c, const char *token)
{
	size_t max = c->req->nheaders + 3, n = 0;
	bool host = false;
	c->h = calloc(max, sizeof *c->h);
	if (!c->h)
		return -1;
	for (size_t i = 0; i < c->req->nheaders; i++) {
		char *l = lower_dup(c->req->headers[i].name);
		if (!l)
			return -1;
		if (header_skipped(l, c->sha_header)) {
			free(l);
			continue;
		}
		host = host || strcmp(l, "host") == 0;
		c->h[n++] = (struct hentry){l, c->req->headers[i].value, i};
	}
	if (c->mode == MODE_HEADER) {
		const char *extra[3][2] = {{"x-amz-date", c->amzdate}, {NULL, NULL}, {NULL, NULL}};
		if (c->sign_token) {
			extra[1][0] = "x-amz-security-token";
			extra[1][1] = token;
		}
		if (c->sha_header) {
			extra[2][0] = "x-amz-content-sha256";
			extra[2][1] = c->payload;
		}
		for (size_t i = 0; i < 3; i++) {
			if (!extra[i][0])
				continue;
			char *l = strdup(extra[i][0]);
			if (!l)
				return -1;
			c->h[n++] = (struct hentry){l, extra[i][1], c->req->nheaders + i};
		}
	}
	c->nh = n;
	if (!host)
		return -2;
	qsort(c->h, n, sizeof *c->h, hentry_cmp);

	struct sbuf sh = {0};
	for (size_t i = 0; i < n; i++) {
		if (i && strcmp(c->h[i].name, c->h[i - 1].name) == 0)
			continue;
		if (sh.len)
			sb_add(&sh, ";", 1);
		sb_adds(&sh, c->h[i].name);
	}
	c->signed_headers = sb_take(&sh);
	return c->signed_headers ? 0 : -1;
}

static void add_canonical_headers(struct sbuf *b, const struct ctx *c)
{
	for (size_t i = 0; i < c->nh; i++) {
		bool dup = i && strcmp(c->h[i].name, c->h[i - 1].name) == 0;
		if (dup) {
			sb_add(b, ",", 1);
		} else {
			if (i)
				sb_add(b, "\n", 1);
			sb_adds(b, c->h[i].name);
			sb_add(b, ":", 1);
		}
		add_trimmed(b, c->h[i].value);
	}
	sb_add(b, "\n", 1);
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static void add_out_header(struct sigv4_result *out, const char *name, char *value, bool *nomem)
{
	char *n = strdup(name);
	if (!n || !value) {
		*nomem = true;
		free(n);
		if (value) {
			OPENSSL_cleanse(value, strlen(value));
			free(value);
		}
		return;
	}
	out->add[out->nadd++] = (struct sigv4_added_header){n, value};
}

/* Build the presigned query: the request's own, then ours in the order AWS's C signer uses. */
static char *presigned_query(const struct ctx *c, const char *token)
{
	const struct aws_credentials *cr = c->p->creds;
	struct sbuf b = {0};
	char num[32];
	if (!empty(c->req->query)) {
		sb_adds(&b, c->req->query);
		sb_add(&b, "&", 1);
	}
	sb_adds(&b, "X-Amz-Algorithm=" ALGORITHM "&X-Amz-Credential=");
	sb_add_encoded(&b, cr->access_key_id, strlen(cr->access_key_id), false);
	sb_add(&b, "%2F", 3);
	sb_add_encoded(&b, c->scope, strlen(c->scope), false);
	sb_adds(&b, "&X-Amz-Date=");
	sb_adds(&b, c->amzdate);
	sb_adds(&b, "&X-Amz-SignedHeaders=");
	sb_add_encoded(&b, c->signed_headers, strlen(c->signed_headers), false);
	snprintf(num, sizeof num, "&X-Amz-Expires=%lld", (long long)c->expires_s);
	sb_adds(&b, num);
	if (c->token) {
		sb_adds(&b, "&X-Amz-Security-Token=");
		sb_add_encoded(&b, token, strlen(token), false);
	}
	sb_adds(&b, "&X-Amz-Signature=");
	return b.failed ? (sb_wipe_free(&b), NULL) : sb_take(&b);
}

static int sign_common(struct ctx *c, struct sigv4_result *out, char *err, size_t errsz)
{
	const struct sigv4_request *req = c->req;
	const struct sigv4_params *p = c->p;
	const struct aws_credentials *cr = p->creds;
	const char *token = cr->session_token;
	struct sbuf cr_buf = {0}, sts = {0};
	struct qlist q = {0};
	unsigned char key[32], sig[32];
	int rc = -1, hrc;
	char num[32];

	memset(out, 0, sizeof *out);
	time_t t = (time_t)p->now_s;
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(c->amzdate, sizeof c->amzdate, "%Y%m%dT%H%M%SZ", &tm) != 16)
		return fail(err, errsz, "cannot format the signing time");
	memcpy(c->day, c->amzdate, 8);
	c->day[8] = '\0';

	c->token = !empty(token);
	c->sign_token = c->token && !p->omit_session_token;
	c->sha_header = c->mode == MODE_HEADER && (p->s3_rules || p->sign_body || p->unsigned_payload);
	if (p->unsigned_payload || (c->mode == MODE_QUERY && p->s3_rules))
		snprintf(c->payload, sizeof c->payload, "%s", UNSIGNED_PAYLOAD);
	else if (req->payload_hash)
		snprintf(c->payload, sizeof c->payload, "%s", req->payload_hash);
	else
		sigv4_sha256_hex(req->body, req->body_len, c->payload);

	c->scope = xprintf("%s/%s/%s/aws4_request", c->day, p->region, p->service);
	if (!c->scope)
		goto oom;
	hrc = collect_headers(c, token);
	if (hrc == -2) {
		fail(err, errsz, "request has no Host header");
		goto done;
	}
	if (hrc < 0)
		goto oom;

	/* Canonical request. */
	sb_adds(&cr_buf, req->method);
	sb_add(&cr_buf, "\n", 1);
	add_canonical_path(&cr_buf, req->path, p);
	sb_add(&cr_buf, "\n", 1);
	ql_add_raw(&q, req->query);
	if (c->mode == MODE_QUERY) {
		char *cred = xprintf("%s/%s", cr->access_key_id, c->scope);
		snprintf(num, sizeof num, "%lld", (long long)c->expires_s);
		ql_add_plain(&q, "X-Amz-Algorithm", ALGORITHM);
		if (cred)
			ql_add_plain(&q, "X-Amz-Credential", cred);
		else
			q.failed = true;
		free(cred);
		ql_add_plain(&q, "X-Amz-Date", c->amzdate);
		ql_add_plain(&q, "X-Amz-Expires", num);
		ql_add_plain(&q, "X-Amz-SignedHeaders", c->signed_headers);
		if (c->sign_token)
			ql_add_plain(&q, "X-Amz-Security-Token", token);
	}
	if (q.failed)
		goto oom;
	add_canonical_query(&cr_buf, &q);
	sb_add(&cr_buf, "\n", 1);
	add_canonical_headers(&cr_buf, c);
	sb_add(&cr_buf, "\n", 1);
	sb_adds(&cr_buf, c->signed_headers);
	sb_add(&cr_buf, "\n", 1);
	sb_adds(&cr_buf, c->payload);
	if (cr_buf.failed)
		goto oom;

	/* String to sign. */
	char crhash[65];
	sigv4_sha256_hex(cr_buf.s, cr_buf.len, crhash);
	sb_adds(&sts, ALGORITHM "\n");
	sb_adds(&sts, c->amzdate);
	sb_add(&sts, "\n", 1);
	sb_adds(&sts, c->scope);
	sb_add(&sts, "\n", 1);
	sb_adds(&sts, crhash);
	if (sts.failed)
		goto oom;

	if (signing_key(cr->secret_access_key, c->day, p->region, p->service, key) < 0)
		goto oom;
	hmac(key, 32, sts.s, sts.len, sig);
	OPENSSL_cleanse(key, sizeof key);
	to_hex(sig, 32, out->signature);

	bool nomem = false;
	if (c->mode == MODE_HEADER) {
		if (c->token)
			add_out_header(out, "X-Amz-Security-Token", xstrdup(token), &nomem);
		add_out_header(out, "X-Amz-Date", xstrdup(c->amzdate), &nomem);
		if (c->sha_header)
			add_out_header(out, "x-amz-content-sha256", xstrdup(c->payload), &nomem);
		add_out_header(out, "Authorization",
		               xprintf(ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		                       cr->access_key_id, c->scope, c->signed_headers, out->signature),
		               &nomem);
	} else {
		char *base = presigned_query(c, token);
		out->query = base ? xprintf("%s%s", base, out->signature) : NULL;
		if (base) {
			OPENSSL_cleanse(base, strlen(base));
			free(base);
		}
		nomem = !out->query;
	}
	out->canonical_request = sb_take(&cr_buf);
	out->string_to_sign = sb_take(&sts);
	if (nomem || !out->canonical_request || !out->string_to_sign) {
		sigv4_result_free(out);
		goto oom;
	}
	rc = 0;
	goto done;
oom:
	fail(err, errsz, "out of memory");
done:
	sb_wipe_free(&cr_buf);
	sb_wipe_free(&sts);
	ql_free(&q);
	for (size_t i = 0; i < c->nh; i++)
		free(c->h[i].name);
	free(c->h);
	free(c->signed_headers);
	free(c->scope);
	return rc;
}

int sigv4_sign(const struct sigv4_request *req, const struct sigv4_params *params,
               struct sigv4_result *out, char *err, size_t errsz)
{
	if (!out)
		return fail(err, errsz, "no result struct");
	memset(out, 0, sizeof *out);
	if (check_inputs(req, params, err, errsz) < 0)
		return -1;
	struct ctx c = {.req = req, .p = params, .mode = MODE_HEADER};
	return sign_common(&c, out, err, errsz);
}

int sigv4_presign(const struct sigv4_request *req, const struct sigv4_params *params,
                  int64_t expires_s, struct sigv4_result *out, char *err, size_t errsz)
{
	if (!out)
		return fail(err, errsz, "no result struct");
	memset(out, 0, sizeof *out);
	if (check_inputs(req, params, err, errsz) < 0)
		return -1;
	if (expires_s < 1 || expires_s > SIGV4_MAX_EXPIRES) {
		if (err && errsz)
			snprintf(err, errsz, "sigv4: presigned URL lifetime %lld s is outside 1..%d s (7 days)",
			         (long long)expires_s, SIGV4_MAX_EXPIRES);
		return -1;
	}
	struct ctx c = {.req = req, .p = params, .mode = MODE_QUERY, .expires_s = expires_s};
	return sign_common(&c, out, err, errsz);
}

static void wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void sigv4_result_free(struct sigv4_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nadd; i++) {
		free(r->add[i].name);
		wipe_free(r->add[i].value);
	}
	wipe_free(r->query);
	wipe_free(r->canonical_request);
	wipe_free(r->string_to_sign);
	OPENSSL_cleanse(r->signature, sizeof r->signature);
	memset(r, 0, sizeof *r);
}
