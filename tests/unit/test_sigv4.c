/*
 * SigV4 against the official AWS test suite (tests/data/sigv4, one
 * cmocka test per case, header and query forms compared byte for byte), plus
 * the signer's own rules: expiry limits, Host required, S3 paths, key cache.
 *
 * The repository root comes from VMPIPE_ROOT, else the working directory
 * (the test runner starts unit tests from the root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <time.h>

#include "aws/sigv4.h"
#include "aws/uri.h"

/* ------------------------------------------------------------ small helpers */

static char *slurp(const char *dir, const char *name, size_t *lenp)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2) {
			char *p = realloc(buf, cap *= 2);
			if (!p) {
				free(buf);
				buf = NULL;
			}
			buf = p;
		}
	}
	fclose(f);
	if (buf)
		buf[len] = '\0';
	if (lenp)
		*lenp = len;
	return buf;
}

/* Compare and, on a difference, print both texts in full. */
static int same_text(const char *what, const char *expected, const char *got)
{
	if (expected && got && strcmp(expected, got) == 0)
		return 1;
	print_error("%s differs.\n--- expected ---\n%s\n--- got ---\n%s\n--- end ---\n", what,
	            expected ? expected : "(missing file)", got ? got : "(nothing)");
	return 0;
}

/* ------------------------------------------------------ request.txt parsing */

struct parsed {
	char *method, *path, *query, *version, *first_line;
	char **raw_lines; /* header lines exactly as in the file (continuations too) */
	size_t nraw;
	char **names, **values;
	struct sigv4_header *headers;
	size_t nheaders;
	char *body;
	size_t body_len;
};

static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	assert_non_null(d);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/*
 * "METHOD TARGET VERSION" where TARGET may hold spaces (get-space-*), then
 * header lines; a line starting with blanks continues the previous value
 * (kept with its newline: the signer's whitespace folding must handle it);
 * an empty line, then the body.
 */
static void parse_request(const char *text, size_t len, struct parsed *r)
{
	memset(r, 0, sizeof *r);
	const char *end = text + len, *p = text;
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *le = nl ? nl : end;
	r->first_line = dupn(p, (size_t)(le - p));
	const char *sp1 = memchr(r->first_line, ' ', strlen(r->first_line));
	const char *sp2 = strrchr(r->first_line, ' ');
	assert_non_null(sp1);
	assert_true(sp2 > sp1);
	r->method = dupn(r->first_line, (size_t)(sp1 - r->first_line));
	r->version = strdup(sp2 + 1);
	char *target = dupn(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	char *q = strchr(target, '?');
	if (q) {
		r->query = strdup(q + 1);
		*q = '\0';
	}
	r->path = target;
	p = nl ? nl + 1 : end;

	size_t cap = 16;
	r->raw_lines = calloc(cap, sizeof *r->raw_lines);
	r->names = calloc(cap, sizeof *r->names);
	r->values = calloc(cap, sizeof *r->values);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		le = nl ? nl : end;
		if (le == p) { /* blank line: the body follows */
			p = nl ? nl + 1 : end;
			break;
		}
		char *line = dupn(p, (size_t)(le - p));
		assert_true(r->nraw < cap);
		r->raw_lines[r->nraw++] = line;
		if (line[0] == ' ' || line[0] == '\t') {
			assert_true(r->nheaders > 0);
			char **v = &r->values[r->nheaders - 1];
			size_t a = strlen(*v), b = strlen(line);
			*v = realloc(*v, a + b + 2);
			(*v)[a] = '\n';
			memcpy(*v + a + 1, line, b + 1);
		} else {
			char *colon = strchr(line, ':');
			assert_non_null(colon);
			r->names[r->nheaders] = dupn(line, (size_t)(colon - line));
			r->values[r->nheaders++] = strdup(colon + 1);
		}
		p = nl ? nl + 1 : end;
	}
	r->body_len = (size_t)(end - p);
	r->body = dupn(p, r->body_len);
	r->headers = calloc(r->nheaders + 1, sizeof *r->headers);
	for (size_t i = 0; i < r->nheaders; i++)
		r->headers[i] = (struct sigv4_header){r->names[i], r->values[i]};
}

static void parsed_free(struct parsed *r)
{
	for (size_t i = 0; i < r->nraw; i++)
		free(r->raw_lines[i]);
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->names[i]);
		free(r->values[i]);
	}
	free(r->raw_lines);
	free(r->names);
	free(r->values);
	free(r->headers);
	free(r->method);
	free(r->path);
	free(r->query);
	free(r->version);
	free(r->first_line);
	free(r->body);
}

/* The signed request as the suite writes it: the request, our additions, the body. */
static char *render_signed(const struct parsed *r, const struct sigv4_result *res, bool query)
{
	size_t cap = 65536, len = 0;
	char *out = malloc(cap);
	assert_non_null(out);
#define ADD(...) (len += (size_t)snprintf(out + len, cap - len, __VA_ARGS__), assert_true(len < cap))
	if (query)
		ADD("%s %s?%s %s\n", r->method, r->path, res->query, r->version);
	else
		ADD("%s\n", r->first_line);
	for (size_t i = 0; i < r->nraw; i++)
		ADD("%s\n", r->raw_lines[i]);
	for (size_t i = 0; i < res->nadd; i++)
		ADD("%s:%s\n", res->add[i].name, res->add[i].value);
	ADD("\n");
#undef ADD
	assert_true(len + r->body_len < cap);
	memcpy(out + len, r->body, r->body_len);
	out[len + r->body_len] = '\0';
	return out;
}

/* ------------------------------------------------------------ suite runner */

static char suite_dir[4096];

static const char *root_dir(void)
{
	const char *r = getenv("VMPIPE_ROOT");
	return r && *r ? r : ".";
}

static int64_t parse_iso(const char *s)
{
	struct tm tm = {0};
	const char *e = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	assert_non_null(e);
	return (int64_t)timegm(&tm);
}

static int check_form(const char *dir, const char *prefix, const struct parsed *r,
                      const struct sigv4_result *res, bool query)
{
	char name[64];
	int ok = 1;
	static const char *const parts[] = {"canonical-request", "string-to-sign", "signature",
	                                    "signed-request"};
	for (size_t i = 0; i < 4; i++) {
		snprintf(name, sizeof name, "%s-%s.txt", prefix, parts[i]);
		char *want = slurp(dir, name, NULL);
		char *got = i == 0   ? strdup(res->canonical_request)
		            : i == 1 ? strdup(res->string_to_sign)
		            : i == 2 ? strdup(res->signature)
		                     : render_signed(r, res, query);
		char what[4200];
		snprintf(what, sizeof what, "%s/%s", dir, name);
		ok &= same_text(what, want, got);
		free(want);
		free(got);
	}
	return ok;
}

static void test_suite_case(void **state)
{
	const char *dir = *state;
	size_t rlen;
	char *req_text = slurp(dir, "request.txt", &rlen);
	char *ctx_text = slurp(dir, "context.json", NULL);
	assert_non_null(req_text);
	assert_non_null(ctx_text);

	json_error_t jerr;
	json_t *ctx = json_loads(ctx_text, 0, &jerr);
	assert_non_null(ctx);
	json_t *cj = json_object_get(ctx, "credentials");
	struct aws_credentials creds = {
		.access_key_id = (char *)json_string_value(json_object_get(cj, "access_key_id")),
		.secret_access_key = (char *)json_string_value(json_object_get(cj, "secret_access_key")),
		.session_token = (char *)json_string_value(json_object_get(cj, "token")),
	};
	struct sigv4_params params = {
		.region = json_string_value(json_object_get(ctx, "region")),
		.service = json_string_value(json_object_get(ctx, "service")),
		.now_s = parse_iso(json_string_value(json_object_get(ctx, "timestamp"))),
		.creds = &creds,
		.no_normalize = !json_is_true(json_object_get(ctx, "normalize")),
		.sign_body = json_is_true(json_object_get(ctx, "sign_body")),
		.omit_session_token = json_is_true(json_object_get(ctx, "omit_session_token")),
	};
	json_int_t expires = json_integer_value(json_object_get(ctx, "expiration_in_seconds"));

	struct parsed r;
	parse_request(req_text, rlen, &r);
	struct sigv4_request req = {
		.method = r.method, .path = r.path, .query = r.query,
		.headers = r.headers, .nheaders = r.nheaders,
		.body = r.body, .body_len = r.body_len,
	};
	struct sigv4_result res;
	char err[256];
	int ok = 1;

	assert_int_equal(sigv4_sign(&req, &params, &res, err, sizeof err), 0);
	ok &= check_form(dir, "header", &r, &res, false);
	sigv4_result_free(&res);

	/* Query signing never sends x-amz-content-sha256 (the suite agrees). */
	assert_int_equal(sigv4_presign(&req, &params, expires, &res, err, sizeof err), 0);
	ok &= check_form(dir, "query", &r, &res, true);
	sigv4_result_free(&res);

	parsed_free(&r);
	json_decref(ctx);
	free(req_text);
	free(ctx_text);
	if (!ok)
		fail_msg("%s: output differs from the official suite", dir);
}

/* ------------------------------------------------------- the signer's rules */

static struct aws_credentials test_creds = {
	.access_key_id = "AKIDEXAMPLE",
	.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};

static const struct sigv4_header host_only[] = {{"Host", "examplebucket.s3.amazonaws.com"}};

static struct sigv4_params s3_params(void)
{
	return (struct sigv4_params){.region = "us-east-1", .service = "s3",
	                             .now_s = 1369353600 /* 2013-05-24 */, .creds = &test_creds,
	                             .s3_rules = true};
}

static void test_expires_limits(void **state)
{
	(void)state;
	struct sigv4_request req = {.method = "GET", .path = "/test.txt", .headers = host_only,
	                            .nheaders = 1};
	struct sigv4_params p = s3_params();
	struct sigv4_result res;
	char err[256] = "";
	assert_int_equal(sigv4_presign(&req, &p, 604801, &res, err, sizeof err), -1);
	assert_non_null(strstr(err, "604801"));
	assert_int_equal(sigv4_presign(&req, &p, 0, &res, err, sizeof err), -1);
	assert_int_equal(sigv4_presign(&req, &p, -5, &res, err, sizeof err), -1);
	assert_int_equal(sigv4_presign(&req, &p, 604800, &res, err, sizeof err), 0);
	assert_non_null(strstr(res.query, "X-Amz-Expires=604800&"));
	sigv4_result_free(&res);
	assert_int_equal(sigv4_presign(&req, &p, 1, &res, err, sizeof err), 0);
	sigv4_result_free(&res);
}

/*
 * The S3 presign example from the AWS S3 documentation ("Authenticating
 * Requests: Using Query Parameters"): GET /test.txt, 86400 s, 2013-05-24.
 */
static void test_s3_doc_presign_example(void **state)
{
	(void)state;
	struct aws_credentials c = {.access_key_id = "AKIAIOSFODNN7EXAMPLE",
	                            .secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"};
	struct sigv4_request req = {.method = "GET", .path = "/test.txt", .headers = host_only,
	                            .nheaders = 1};
	struct sigv4_params p = s3_params();
	p.creds = &c;
	struct sigv4_result res;
	char err[256];
	assert_int_equal(sigv4_presign(&req, &p, 86400, &res, err, sizeof err), 0);
	assert_string_equal(res.signature,
	                    "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	sigv4_result_free(&res);
}

/* The S3 header-signing example of the same documentation (GET object with Range). */
static void test_s3_doc_get_example(void **state)
{
	(void)state;
	struct aws_credentials c = {.access_key_id = "AKIAIOSFODNN7EXAMPLE",
	                            .secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"};
	const struct sigv4_header h[] = {{"Host", "examplebucket.s3.amazonaws.com"},
	                                 {"Range", "bytes=0-9"}};
	struct sigv4_request req = {.method = "GET", .path = "/test.txt", .headers = h, .nheaders = 2};
	struct sigv4_params p = s3_params();
	p.creds = &c;
	struct sigv4_result res;
	char err[256];
	assert_int_equal(sigv4_sign(&req, &p, &res, err, sizeof err), 0);
	assert_string_equal(res.signature,
	                    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	assert_int_equal(res.nadd, 3);
	assert_string_equal(res.add[0].name, "X-Amz-Date");
	assert_string_equal(res.add[1].name, "x-amz-content-sha256");
	assert_string_equal(res.add[1].value,
	                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_string_equal(res.add[2].name, "Authorization");
	sigv4_result_free(&res);
}

static void test_host_required(void **state)
{
	(void)state;
	const struct sigv4_header h[] = {{"X-Other", "1"}};
	struct sigv4_request req = {.method = "GET", .path = "/", .headers = h, .nheaders = 1};
	struct sigv4_params p = s3_params();
	struct sigv4_result res;
	char err[256] = "";
	assert_int_equal(sigv4_sign(&req, &p, &res, err, sizeof err), -1);
	assert_non_null(strstr(err, "Host"));
	p.creds = NULL;
	req.headers = host_only;
	assert_int_equal(sigv4_sign(&req, &p, &res, err, sizeof err), -1);
	assert_non_null(strstr(err, "credentials"));
	p = s3_params();
	p.region = "";
	assert_int_equal(sigv4_sign(&req, &p, &res, err, sizeof err), -1);
}

static const char *canonical_path_of(const char *path, bool s3, bool no_normalize)
{
	static char line[512];
	struct sigv4_request req = {.method = "GET", .path = path, .headers = host_only,
	                            .nheaders = 1};
	struct sigv4_params p = s3_params();
	p.s3_rules = s3;
	p.no_normalize = no_normalize;
	p.service = s3 ? "s3" : "transcribe";
	struct sigv4_result res;
	char err[256];
	assert_int_equal(sigv4_sign(&req, &p, &res, err, sizeof err), 0);
	const char *a = strchr(res.canonical_request, '\n') + 1;
	const char *b = strchr(a, '\n');
	snprintf(line, sizeof line, "%.*s", (int)(b - a), a);
	sigv4_result_free(&res);
	return line;
}

static void test_paths(void **state)
{
	(void)state;
	/* S3: as on the wire, even dot segments and double slashes. */
	assert_string_equal(canonical_path_of("/b/a%20b/../c//d", true, false), "/b/a%20b/../c//d");
	/* Other services: normalized, then the wire encoding encoded again. */
	assert_string_equal(canonical_path_of("/b/a%20b/../c//d", false, false), "/b/c/d");
	assert_string_equal(canonical_path_of("/a%20b/", false, false), "/a%2520b/");
	assert_string_equal(canonical_path_of("/a/./b/..", false, false), "/a");
	assert_string_equal(canonical_path_of("/../..", false, false), "/");
	assert_string_equal(canonical_path_of("", false, false), "/");
	assert_string_equal(canonical_path_of("/a+b~c", false, true), "/a%2Bb~c");
	assert_string_equal(canonical_path_of("/x/../y", false, true), "/x/../y");
}

static void test_query_and_headers(void **state)
{
	(void)state;
	const struct sigv4_header h[] = {
		{"Host", "sts.amazonaws.com"}, {"X-Multi", "  a   b \t c  "}, {"x-multi", "z"},
		{"User-Agent", "not signed"},  {"Authorization", "stale"},     {"X-Amz-Date", "stale"},
	};
	struct sigv4_request req = {.method = "POST", .path = "/",
	                            .query = "b=2&a=%7e&a=1&&c&e=x+y&d=%zz&%E1%88%b4=",
	                            .headers = h, .nheaders = 6};
	struct sigv4_params p = {.region = "us-east-1", .service = "sts", .now_s = 1440938160,
	                         .creds = &test_creds};
	struct sigv4_result res;
	char err[256];
	assert_int_equal(sigv4_sign(&req, &p, &res, err, sizeof err), 0);
	assert_string_equal(res.canonical_request,
	                    "POST\n/\n%E1%88%B4=&a=1&a=~&b=2&c=&d=%25zz&e=x%2By\n"
	                    "host:sts.amazonaws.com\nx-amz-date:20150830T123600Z\n"
	                    "x-multi:a b c,z\n\nhost;x-amz-date;x-multi\n"
	                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sigv4_result_free(&res);
}

static void test_unsigned_payload_and_hash(void **state)
{
	(void)state;
	struct sigv4_request req = {.method = "PUT", .path = "/k", .headers = host_only,
	                            .nheaders = 1, .body = "hello", .body_len = 5};
	struct sigv4_params p = s3_params();
	struct sigv4_result res;
	char err[256], hex[65];
	sigv4_sha256_hex("hello", 5, hex);
	assert_int_equal(sigv4_sign(&req, &p, &res, err, sizeof err), 0);
	assert_string_equal(res.add[1].value, hex);
	sigv4_result_free(&res);
	p.unsigned_payload = true;
	assert_int_equal(sigv4_sign(&req, &p, &res, err, sizeof err), 0);
	assert_string_equal(res.add[1].value, "UNSIGNED-PAYLOAD");
	assert_non_null(strstr(res.canonical_request, "\nUNSIGNED-PAYLOAD"));
	sigv4_result_free(&res);
	/* A precomputed hash wins over the body. */
	p.unsigned_payload = false;
	req.payload_hash = "0000000000000000000000000000000000000000000000000000000000000000";
	assert_int_equal(sigv4_sign(&req, &p, &res, err, sizeof err), 0);
	assert_string_equal(res.add[1].value, req.payload_hash);
	sigv4_result_free(&res);
}

/* Cold and cached keys must sign alike, from several threads at once. */
struct thr_arg {
	const char *want;
	int bad;
};

static int sign_many(void *a)
{
	struct thr_arg *t = a;
	struct sigv4_request req = {.method = "GET", .path = "/x", .headers = host_only,
	                            .nheaders = 1};
	struct sigv4_params p = s3_params();
	for (int i = 0; i < 300; i++) {
		struct sigv4_result res;
		char err[256];
		if (i % 50 == 0)
			sigv4_key_cache_clear();
		if (sigv4_sign(&req, &p, &res, err, sizeof err) != 0 || strcmp(res.signature, t->want))
			t->bad++;
		sigv4_result_free(&res);
	}
	return 0;
}

static void test_key_cache_threads(void **state)
{
	(void)state;
	struct sigv4_request req = {.method = "GET", .path = "/x", .headers = host_only,
	                            .nheaders = 1};
	struct sigv4_params p = s3_params();
	struct sigv4_result res;
	char err[256], want[65];
	sigv4_key_cache_clear();
	assert_int_equal(sigv4_sign(&req, &p, &res, err, sizeof err), 0);
	strcpy(want, res.signature);
	sigv4_result_free(&res);
	/* Another day or region must not reuse the key. */
	p.now_s += 86400;
	assert_int_equal(sigv4_sign(&req, &p, &res, err, sizeof err), 0);
	assert_string_not_equal(res.signature, want);
	sigv4_result_free(&res);

	thrd_t th[4];
	struct thr_arg args[4];
	for (int i = 0; i < 4; i++) {
		args[i] = (struct thr_arg){want, 0};
		assert_int_equal(thrd_create(&th[i], sign_many, &args[i]), thrd_success);
	}
	for (int i = 0; i < 4; i++) {
		thrd_join(th[i], NULL);
		assert_int_equal(args[i].bad, 0);
	}
}

static void test_uri_helpers(void **state)
{
	(void)state;
	char *k = uri_encode_s3_key("ivr/2024/12/11/abc_20241211T15:30_UTC.wav");
	assert_string_equal(k, "ivr/2024/12/11/abc_20241211T15%3A30_UTC.wav");
	free(k);
	k = uri_encode_s3_key("a b+c%d~e/\xe1\x88\xb4");
	assert_string_equal(k, "a%20b%2Bc%25d~e/%E1%88%B4");
	free(k);
	k = uri_encode_query_value("a/b=c&d");
	assert_string_equal(k, "a%2Fb%3Dc%26d");
	free(k);
	char buf[16];
	assert_int_equal(uri_decode_into(buf, "%41%4a%2", 8), 4);
	assert_string_equal(buf, "AJ%2");
}

/* ------------------------------------------------------------------- main */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	snprintf(suite_dir, sizeof suite_dir, "%s/tests/data/sigv4", root_dir());
	DIR *d = opendir(suite_dir);
	if (!d) {
		fprintf(stderr, "test_sigv4: cannot open the official suite at %s "
		                "(run from the repository root, or set VMPIPE_ROOT to it)\n", suite_dir);
		return 1;
	}
	char **dirs = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char probe[4400];
		snprintf(probe, sizeof probe, "%s/%s/request.txt", suite_dir, e->d_name);
		FILE *f = fopen(probe, "r");
		if (!f)
			continue;
		fclose(f);
		dirs = realloc(dirs, (n + 1) * sizeof *dirs);
		size_t len = strlen(suite_dir) + strlen(e->d_name) + 2;
		dirs[n] = malloc(len);
		snprintf(dirs[n++], len, "%s/%s", suite_dir, e->d_name);
	}
	closedir(d);
	if (n < 30) {
		fprintf(stderr, "test_sigv4: only %zu cases in %s\n", n, suite_dir);
		return 1;
	}
	qsort(dirs, n, sizeof *dirs, cmp_str);

	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_expires_limits),
		cmocka_unit_test(test_s3_doc_presign_example),
		cmocka_unit_test(test_s3_doc_get_example),
		cmocka_unit_test(test_host_required),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_query_and_headers),
		cmocka_unit_test(test_unsigned_payload_and_hash),
		cmocka_unit_test(test_key_cache_threads),
		cmocka_unit_test(test_uri_helpers),
	};
	size_t nfixed = sizeof fixed / sizeof *fixed;
	struct CMUnitTest *tests = calloc(n + nfixed, sizeof *tests);
	for (size_t i = 0; i < n; i++) {
		tests[i] = (struct CMUnitTest){.name = strrchr(dirs[i], '/') + 1,
		                               .test_func = test_suite_case,
		                               .initial_state = dirs[i]};
	}
	memcpy(tests + n, fixed, sizeof fixed);
	int rc = _cmocka_run_group_tests("sigv4", tests, n + nfixed, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);
	free(tests);
	return rc;
}
