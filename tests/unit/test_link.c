/*
 * Unit tests of engine/core/link.c: configuration from the environment, the link
 * format (a known answer computed with Python's hmac), verification of
 * forged, altered, expired and malformed links, key rotation, and
 * vm_recording_link() writing the job record in link mode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/job.h"
#include "core/link.h"
#include "testenv.h"

#define SECRET "0123456789abcdef0123456789abcdef-unit"
#define BASE "https://abc.lambda-url.us-east-1.on.aws"
#define KEY "ivr/2024/01/02/a b+c.wav"
#define EXP 1893456000LL /* 2030-01-01 */
/* base64url(HMAC-SHA256(SECRET, "14:vmpipe-link-v2,10:recordings,24:" KEY ",10:1893456000,")),
 * computed with Python's hmac module. */
#define KNOWN_SIG "rEoQrwO3f-fzGP7pgg87_22KPtQeXF-NVDkJvQEaC-o"
/* The same link in v1: base64url(HMAC-SHA256(SECRET, "vmpipe-link-v1\nrecordings\n" KEY "\n1893456000")). */
#define V1_SIG "E8Fc01BRZscsy2CXhUVyQlyb6QvdkiHhVppIVj7LGHU"
/* v1 of bucket "rec-bucket", key "x\nivr/a.wav": the audit's forgery presents it
 * as bucket "rec-bucket\nx", key "ivr/a.wav" (Python's hmac). */
#define V1_BOUNDARY_SIG "l5GCeYPAJM3sMaTNIdwaojoEtdofwNHTJ-tW81ymQzE"

static void clear_env(void)
{
	unsetenv("VMPIPE_LINK_BASE_URL");
	unsetenv("VMPIPE_LINK_SECRET");
	unsetenv("VMPIPE_LINK_SECRET_FILE");
	unsetenv("VMPIPE_LINK_SECRET_PREVIOUS");
	unsetenv("VMPIPE_LINK_REDIRECT_TTL");
}

static void load(struct link_cfg *c)
{
	clear_env();
	setenv("VMPIPE_LINK_BASE_URL", BASE "/", 1);
	setenv("VMPIPE_LINK_SECRET", SECRET, 1);
	char err[300] = "";
	if (link_config_from_env(c, err, sizeof err) != 0)
		fail_msg("config refused: %s", err);
	assert_true(c->enabled);
}

static void refuse_config(const char *base, const char *secret, const char *ttl, const char *want)
{
	clear_env();
	if (base)
		setenv("VMPIPE_LINK_BASE_URL", base, 1);
	if (secret)
		setenv("VMPIPE_LINK_SECRET", secret, 1);
	if (ttl)
		setenv("VMPIPE_LINK_REDIRECT_TTL", ttl, 1);
	struct link_cfg c;
	char err[300] = "";
	if (link_config_from_env(&c, err, sizeof err) == 0)
		fail_msg("accepted base=%s secret=%s ttl=%s", base, secret, ttl ? ttl : "-");
	assert_contains(err, want);
	assert_false(c.enabled);
}

static void test_config(void **s)
{
	(void)s;
	struct link_cfg c;
	char err[300] = "";
	clear_env();
	assert_int_equal(link_config_from_env(&c, err, sizeof err), 0);
	assert_false(c.enabled); /* nothing set: presigned URLs, as before */

	refuse_config(BASE, NULL, NULL, "VMPIPE_LINK_SECRET");
	refuse_config(BASE, "short", NULL, "32 to 511 bytes");
	refuse_config("http://example.com", SECRET, NULL, "https://");
	refuse_config(BASE, SECRET, "2d", "REDIRECT_TTL");
	refuse_config(BASE, SECRET, "soon", "REDIRECT_TTL");

	clear_env();
	setenv("VMPIPE_LINK_BASE_URL", BASE, 1);
	setenv("VMPIPE_LINK_SECRET_FILE", "/nonexistent/secret", 1);
	assert_int_equal(link_config_from_env(&c, err, sizeof err), -1);
	assert_contains(err, "/nonexistent/secret");

	/* A secret file: the trailing newline is not part of the key. */
	char *dir = test_tmpdir("link");
	char *path = test_write(dir, "secret", SECRET "\n");
	assert_non_null(path);
	setenv("VMPIPE_LINK_SECRET_FILE", path, 1);
	free(path);
	setenv("VMPIPE_LINK_REDIRECT_TTL", "2m", 1);
	assert_int_equal(link_config_from_env(&c, err, sizeof err), 0);
	assert_int_equal(c.secret_len, strlen(SECRET));
	assert_int_equal(c.redirect_ttl_s, 120);
	assert_string_equal(c.base_url, BASE);
	link_config_clear(&c);
	assert_int_equal(c.secret_len, 0);
	test_rmtree(dir);
	free(dir);
	clear_env();
}

static void test_known_answer(void **s)
{
	(void)s;
	struct link_cfg c;
	load(&c);
	char *url = link_make(&c, "recordings", KEY, EXP);
	assert_non_null(url);
	assert_string_equal(url, BASE "/voicemail?v=2&bucket=recordings&key=ivr%2F2024%2F01%2F02%2Fa%20b%2Bc.wav"
				 "&expires=1893456000&sig=" KNOWN_SIG);
	char *b, *k;
	int64_t exp;
	assert_int_equal(link_verify(&c, strchr(url, '?') + 1, EXP - 10, &b, &k, &exp), LINK_OK);
	assert_string_equal(b, "recordings");
	assert_string_equal(k, KEY);
	assert_int_equal(exp, EXP);
	free(b);
	free(k);
	free(url);
	link_config_clear(&c);
}

static enum link_verdict verify(const struct link_cfg *c, const char *q, int64_t now)
{
	char *b, *k;
	int64_t exp;
	enum link_verdict v = link_verify(c, q, now, &b, &k, &exp);
	if (v == LINK_OK || v == LINK_EXPIRED) {
		assert_non_null(b);
		assert_non_null(k);
	} else {
		assert_null(b);
		assert_null(k);
	}
	free(b);
	free(k);
	return v;
}

#define Q_OK "v=2&bucket=recordings&key=ivr%2F2024%2F01%2F02%2Fa%20b%2Bc.wav&expires=1893456000&sig=" KNOWN_SIG

static void test_refusals(void **s)
{
	(void)s;
	struct link_cfg c;
	load(&c);
	assert_int_equal(verify(&c, Q_OK, EXP - 1), LINK_OK);
	assert_int_equal(verify(&c, Q_OK "&utm_source=mail", EXP - 1), LINK_OK); /* extra params are harmless */
	assert_int_equal(verify(&c, Q_OK, EXP + 1), LINK_EXPIRED);
	/* Altered: the expiry, the key, the bucket, the signature. */
	assert_int_equal(verify(&c, "v=2&bucket=recordings&key=ivr%2F2024%2F01%2F02%2Fa%20b%2Bc.wav"
				    "&expires=1893456001&sig=" KNOWN_SIG, EXP - 1), LINK_FORGED);
	assert_int_equal(verify(&c, "v=2&bucket=recordings&key=ivr%2F2024%2F01%2F02%2Fa%20b%20c.wav"
				    "&expires=1893456000&sig=" KNOWN_SIG, EXP - 1), LINK_FORGED);
	assert_int_equal(verify(&c, "v=2&bucket=recording&key=ivr%2F2024%2F01%2F02%2Fa%20b%2Bc.wav"
				    "&expires=1893456000&sig=" KNOWN_SIG, EXP - 1), LINK_FORGED);
	assert_int_equal(verify(&c, "v=2&bucket=recordings&key=ivr%2F2024%2F01%2F02%2Fa%20b%2Bc.wav"
				    "&expires=1893456000&sig=F8Fc01BRZscsy2CXhUVyQlyb6QvdkiHhVppIVj7LGHU", EXP - 1),
			 LINK_FORGED);
	assert_int_equal(verify(&c, Q_OK "x", EXP - 1), LINK_FORGED);
	/* A forged link with an expiry in the past reads as forged, not expired. */
	assert_int_equal(verify(&c, "v=2&bucket=recordings&key=k&expires=1000&sig=" KNOWN_SIG, EXP), LINK_FORGED);
	/* Malformed: missing, repeated, empty, undecodable parameters. */
	assert_int_equal(verify(&c, "", EXP), LINK_MALFORMED);
	assert_int_equal(verify(&c, "bucket=recordings&key=k&expires=1893456000", EXP), LINK_MALFORMED);
	assert_int_equal(verify(&c, Q_OK "&key=other", EXP - 1), LINK_MALFORMED);
	assert_int_equal(verify(&c, "bucket=&key=k&expires=1&sig=x", EXP), LINK_MALFORMED);
	assert_int_equal(verify(&c, "bucket=r&key=a%zz&expires=1&sig=x", EXP), LINK_MALFORMED);
	assert_int_equal(verify(&c, "bucket=r&key=a%00b&expires=1&sig=x", EXP), LINK_MALFORMED);
	assert_int_equal(verify(&c, "bucket=r&key=a%2&expires=1&sig=x", EXP), LINK_MALFORMED);
	assert_int_equal(verify(&c, "bucket=r&key=k&expires=soon&sig=x", EXP), LINK_MALFORMED);
	assert_int_equal(verify(&c, "bucket=r&key=k&expires=-5&sig=x", EXP), LINK_MALFORMED);
	assert_int_equal(verify(&c, "v=3&bucket=r&key=k&expires=1&sig=x", EXP), LINK_MALFORMED);
	assert_int_equal(verify(&c, Q_OK "&v=2", EXP - 1), LINK_MALFORMED);
	/* Link mode off: nothing verifies. */
	struct link_cfg off = {0};
	assert_int_equal(verify(&off, Q_OK, EXP - 1), LINK_FORGED);
	link_config_clear(&c);
}

/* `q` with `from` replaced by `to` (the first occurrence); malloc()ed. */
static char *swap(const char *q, const char *from, const char *to)
{
	const char *at = strstr(q, from);
	assert_non_null(at);
	char *out = NULL;
	assert_true(asprintf(&out, "%.*s%s%s", (int)(at - q), q, to, at + strlen(from)) > 0);
	return out;
}

/* The audit's findings: a field boundary moved by a decoded "\n", and an
 * expiry that reads as the same number but is not the signed text. */
static void test_boundaries_and_canonical_numbers(void **s)
{
	(void)s;
	struct link_cfg c;
	load(&c);
	assert_int_equal(verify(&c, "v=2&bucket=rec-bucket%0Ax&key=ivr%2Fa.wav&expires=1893456000&sig="
				    V1_BOUNDARY_SIG, EXP - 1), LINK_MALFORMED);
	assert_int_equal(verify(&c, "bucket=rec-bucket%0Ax&key=ivr%2Fa.wav&expires=1893456000&sig="
				    V1_BOUNDARY_SIG, EXP - 1), LINK_MALFORMED);
	/* Without any separator byte: moving a boundary changes the signed lengths. */
	char *url = link_make(&c, "rec-bucket", "xkey.wav", EXP);
	assert_non_null(url);
	char *moved = swap(strchr(url, '?') + 1, "bucket=rec-bucket&key=xkey.wav", "bucket=rec-bucketx&key=key.wav");
	assert_int_equal(verify(&c, moved, EXP - 1), LINK_FORGED);
	free(moved);
	free(url);
	/* Control characters are never signed and never accepted. */
	assert_null(link_make(&c, "recordings", "a\nb.wav", EXP));
	assert_null(link_make(&c, "rec\tbucket", "a.wav", EXP));
	/* An expiry the verifier would not read back (more than 18 digits) is not signed. */
	assert_null(link_make(&c, "recordings", KEY, 2163416714065216354LL));
	const char *const controls[] = {"%0A", "%0D", "%09", "%1F", "%7F"};
	for (size_t i = 0; i < sizeof controls / sizeof *controls; i++) {
		char *q = swap(Q_OK, "a%20b", controls[i]);
		if (verify(&c, q, EXP - 1) != LINK_MALFORMED)
			fail_msg("accepted a key with %s: %s", controls[i], q);
		free(q);
	}
	/* The expiry: the signed digits and nothing else. */
	url = link_make(&c, "recordings", KEY, EXP);
	const char *const variants[] = {"expires=+1893456000", "expires=%2B1893456000",
					"expires=01893456000", "expires=%201893456000",
					"expires=1893456000%20", "expires=1893456000.0",
					"expires=0x70DBD880"};
	for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
		char *q = swap(strchr(url, '?') + 1, "expires=1893456000", variants[i]);
		if (verify(&c, q, EXP - 1) != LINK_MALFORMED)
			fail_msg("accepted %s", variants[i]);
		free(q);
	}
	free(url);
	link_config_clear(&c);
}

/* A link of the old format is refused as such, even when genuine. */
static void test_old_links_are_refused(void **s)
{
	(void)s;
	struct link_cfg c;
	load(&c);
	assert_int_equal(verify(&c, "bucket=recordings&key=ivr%2F2024%2F01%2F02%2Fa%20b%2Bc.wav"
				    "&expires=1893456000&sig=" V1_SIG, EXP - 1), LINK_OLD);
	/* v=2 on a v1 signature: forged. */
	assert_int_equal(verify(&c, "v=2&bucket=recordings&key=ivr%2F2024%2F01%2F02%2Fa%20b%2Bc.wav"
				    "&expires=1893456000&sig=" V1_SIG, EXP - 1), LINK_FORGED);
	link_config_clear(&c);
}

static void test_rotation(void **s)
{
	(void)s;
	struct link_cfg c;
	load(&c);
	/* Links signed with the old key... */
	char *url = link_make(&c, "recordings", KEY, EXP);
	clear_env();
	setenv("VMPIPE_LINK_BASE_URL", BASE, 1);
	setenv("VMPIPE_LINK_SECRET", "a-brand-new-secret-that-is-long-enough", 1);
	struct link_cfg next;
	char err[300];
	assert_int_equal(link_config_from_env(&next, err, sizeof err), 0);
	/* ...die with a new key alone, and live when the old one is kept as previous. */
	assert_int_equal(verify(&next, strchr(url, '?') + 1, EXP - 1), LINK_FORGED);
	setenv("VMPIPE_LINK_SECRET_PREVIOUS", SECRET, 1);
	assert_int_equal(link_config_from_env(&next, err, sizeof err), 0);
	assert_int_equal(verify(&next, strchr(url, '?') + 1, EXP - 1), LINK_OK);
	free(url);
	link_config_clear(&c);
	link_config_clear(&next);
	clear_env();
}

/* Runs with the process-wide configuration main() set up (link mode on). */
static void test_recording_link_writes_the_record(void **s)
{
	(void)s;
	vm_job *job = job_new("job-1");
	assert_int_equal(vm_recording_link(job, "recordings", KEY, 30LL * 86400), 0);
	const char *url = vm_job_get_str(job, "recording.url");
	assert_non_null(url);
	assert_true(strncmp(url, BASE "/voicemail?v=2&bucket=recordings&key=", strlen(BASE) + 37) == 0);
	assert_string_equal(vm_job_get_str(job, "recording.url_kind"), "link");
	/* 30 days: longer than a presigned URL could ever live. */
	const char *until = vm_job_get_str(job, "recording.url_expires_at");
	assert_non_null(until);
	char want[32];
	vm_format_time(vm_now_ms() + 30LL * 86400 * 1000, want, sizeof want);
	assert_memory_equal(until, want, 10); /* the same day */
	char err[100];
	const struct link_cfg *g = link_config(err, sizeof err);
	char *b, *k;
	int64_t exp;
	assert_int_equal(link_verify(g, strchr(url, '?') + 1, vm_now_ms() / 1000, &b, &k, &exp), LINK_OK);
	assert_string_equal(k, KEY);
	free(b);
	free(k);
	job_free(job);
}

/* Job links (listen pages): a known answer from Python's hmac, refusals,
 * and no cross-over with bucket links. */
#define JOB_SIG "8JFUbSeUUtLGYX6pEBP2aGI5kY9t8_hmDBnfB0XhgW4"

static void test_job_links(void **st)
{
	(void)st;
	const unsigned char *k = (const unsigned char *)SECRET;
	size_t kl = strlen(SECRET);
	char *url = link_make_job(k, kl, "https://vm.example.com/", "", "job-1", EXP);
	assert_non_null(url);
	assert_string_equal(url, "https://vm.example.com/l/?v=2&job=job-1&expires=1893456000&sig=" JOB_SIG);
	free(url);
	url = link_make_job(k, kl, "https://vm.example.com", "audio", "job-1", EXP);
	assert_string_equal(url, "https://vm.example.com/l/audio?v=2&job=job-1&expires=1893456000&sig=" JOB_SIG);
	free(url);
	assert_null(link_make_job(k, kl, "https://x/", "", "../etc", EXP));
	assert_null(link_make_job(k, 8, "https://x/", "", "job-1", EXP));

	char *id;
	int64_t exp;
	const char *q = "v=2&job=job-1&expires=1893456000&sig=" JOB_SIG;
	assert_int_equal(link_verify_job(k, kl, q, EXP - 1, &id, &exp), LINK_OK);
	assert_string_equal(id, "job-1");
	assert_int_equal(exp, EXP);
	free(id);
	assert_int_equal(link_verify_job(k, kl, q, EXP + 1, &id, &exp), LINK_EXPIRED);
	free(id);
	static const struct {
		const char *q;
		enum link_verdict v;
	} bad[] = {
		{"v=2&job=job-2&expires=1893456000&sig=" JOB_SIG, LINK_FORGED},
		{"v=2&job=job-1&expires=1893456001&sig=" JOB_SIG, LINK_FORGED},
		{"v=2&job=job-1&expires=01893456000&sig=" JOB_SIG, LINK_MALFORMED},
		{"job=job-1&expires=1893456000&sig=" JOB_SIG, LINK_MALFORMED},
		{"v=2&job=job-1&job=job-1&expires=1893456000&sig=" JOB_SIG, LINK_MALFORMED},
		{"v=2&job=..&expires=1893456000&sig=" JOB_SIG, LINK_MALFORMED},
		{"v=2&job=a%2Fb&expires=1893456000&sig=" JOB_SIG, LINK_MALFORMED},
		{"", LINK_MALFORMED},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(link_verify_job(k, kl, bad[i].q, EXP - 1, &id, &exp), bad[i].v);
		assert_null(id);
	}
	/* A bucket link's signature never opens a job ("recordings" as the id). */
	struct link_cfg c;
	setenv("VMPIPE_LINK_BASE_URL", BASE, 1);
	setenv("VMPIPE_LINK_SECRET", SECRET, 1);
	char err[300];
	assert_int_equal(link_config_from_env(&c, err, sizeof err), 0);
	char *bl = link_make(&c, "job-1", "x", EXP);
	const char *sig = strstr(bl, "sig=") + 4;
	char jq[300];
	snprintf(jq, sizeof jq, "v=2&job=job-1&expires=1893456000&sig=%s", sig);
	assert_int_equal(link_verify_job(k, kl, jq, EXP - 1, &id, &exp), LINK_FORGED);
	free(bl);
	/* A bucket link naming its job: the job is signed too. */
	char *b, *kk, *jb;
	bl = link_make_for(&c, "recordings", KEY, "job-1", EXP);
	assert_non_null(strstr(bl, "&job=job-1&expires="));
	assert_int_equal(link_verify_for(&c, strchr(bl, '?') + 1, EXP - 1, &b, &kk, &jb, &exp), LINK_OK);
	assert_string_equal(b, "recordings");
	assert_string_equal(kk, KEY);
	assert_string_equal(jb, "job-1");
	free(b);
	free(kk);
	free(jb);
	snprintf(jq, sizeof jq, "%s", strchr(bl, '?') + 1);
	char *at = strstr(jq, "job-1");
	at[4] = '2';
	assert_int_equal(link_verify_for(&c, jq, EXP - 1, &b, &kk, &jb, &exp), LINK_FORGED);
	char *j = strstr(jq, "&job=");
	memmove(j, j + 10, strlen(j + 10) + 1);
	assert_int_equal(link_verify_for(&c, jq, EXP - 1, &b, &kk, &jb, &exp), LINK_FORGED);
	assert_null(jb);
	free(bl);
	assert_null(link_make_for(&c, "recordings", KEY, "../x", EXP));
	link_config_clear(&c);
	unsetenv("VMPIPE_LINK_BASE_URL");
	unsetenv("VMPIPE_LINK_SECRET");
}

int main(void)
{
	/* The process-wide configuration is read once: fix it before any test. */
	setenv("VMPIPE_LINK_BASE_URL", BASE, 1);
	setenv("VMPIPE_LINK_SECRET", SECRET, 1);
	char err[300];
	if (!link_config(err, sizeof err) || !link_config(err, sizeof err)->enabled) {
		fprintf(stderr, "link_config: %s\n", err);
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_known_answer),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_boundaries_and_canonical_numbers),
		cmocka_unit_test(test_old_links_are_refused),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_recording_link_writes_the_record),
		cmocka_unit_test(test_job_links),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
