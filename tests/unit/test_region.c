/*
 * Region and endpoint resolution: precedence of AWS_REGION, AWS_DEFAULT_REGION,
 * the profile and the fallback; AWS_ENDPOINT_URL[_SERVICE]; S3 addressing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/profile.h"
#include "aws/region.h"
#include "testenv.h"

static char *tmpdir; /* test_tmpdir() */

static const char *const aws_vars[] = {
	"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE",
	"AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
	"AWS_ENDPOINT_URL_SESV2", "AWS_ENDPOINT_URL_TRANSCRIBE", "AWS_ENDPOINT_URL_STS",
	"AWS_ENDPOINT_URL_MY_SERVICE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
};

static int setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof aws_vars / sizeof aws_vars[0]; i++)
		unsetenv(aws_vars[i]);
	/* No ~/.aws of the machine running the tests. */
	setenv("HOME", tmpdir, 1);
	return 0;
}

static const char *write_file(const char *name, const char *text)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void expect_region(const char *fallback, const char *want)
{
	char buf[AWS_REGION_MAX], err[300];
	int rc = aws_region_resolve(fallback, buf, sizeof buf, err, sizeof err);
	if (!want) {
		assert_int_equal(rc, -1);
		assert_true(strlen(err) > 0);
		return;
	}
	if (rc != 0)
		fail_msg("region: %s", err);
	assert_string_equal(buf, want);
}

static void test_region_precedence(void **state)
{
	(void)state;
	expect_region(NULL, NULL);
	expect_region("ap-south-1", "ap-south-1");
	setenv("AWS_CONFIG_FILE",
	       write_file("config", "[default]\nregion = eu-central-1\n"
				    "[profile other]\nregion=sa-east-1\n"),
	       1);
	expect_region("ap-south-1", "eu-central-1");
	setenv("AWS_PROFILE", "other", 1);
	expect_region(NULL, "sa-east-1");
	setenv("AWS_DEFAULT_REGION", "us-west-1", 1);
	expect_region("ap-south-1", "us-west-1");
	setenv("AWS_REGION", "eu-west-2", 1);
	expect_region("ap-south-1", "eu-west-2");
	/* A bad value is an error naming its source, not a host name. */
	setenv("AWS_REGION", "evil.com/x", 1);
	char buf[AWS_REGION_MAX], err[300];
	assert_int_equal(aws_region_resolve(NULL, buf, sizeof buf, err, sizeof err), -1);
	assert_non_null(strstr(err, "AWS_REGION"));
}

static void test_profile_files(void **state)
{
	(void)state;
	setenv("AWS_CONFIG_FILE",
	       write_file("config2", "[profile dev]\nregion = us-east-2\n"
				     "aws_access_key_id = CFGKEY\n"
				     "endpoint_url = http://127.0.0.1:1\n"),
	       1);
	setenv("AWS_SHARED_CREDENTIALS_FILE",
	       write_file("creds2", "[dev]\naws_access_key_id = CREDKEY\n"
				    "aws_secret_access_key = s3cr3t\n"
				    "[default]\naws_access_key_id = D\n"),
	       1);
	struct aws_profile p;
	char err[300];
	assert_int_equal(aws_profile_load("dev", &p, err, sizeof err), 0);
	assert_true(p.found);
	assert_string_equal(p.region, "us-east-2");
	assert_string_equal(p.aws_access_key_id, "CREDKEY"); /* credentials file wins */
	assert_string_equal(p.aws_secret_access_key, "s3cr3t");
	assert_string_equal(p.endpoint_url, "http://127.0.0.1:1");
	aws_profile_clear(&p);
	assert_int_equal(aws_profile_load("nope", &p, err, sizeof err), 0);
	assert_false(p.found);
	aws_profile_clear(&p);
	setenv("AWS_CONFIG_FILE", write_file("bad", "[default\nregion = x\n"), 1);
	assert_int_equal(aws_profile_load(NULL, &p, err, sizeof err), -1);
	assert_non_null(strstr(err, "line 1"));
}

static void test_arn_region(void **state)
{
	(void)state;
	char buf[AWS_REGION_MAX];
	assert_int_equal(aws_arn_region("arn:aws:connect:eu-west-2:123456789012:instance/abc",
					buf, sizeof buf), 0);
	assert_string_equal(buf, "eu-west-2");
	assert_int_equal(aws_arn_region("arn:aws:s3:::bucket", buf, sizeof buf), -1);
	assert_int_equal(aws_arn_region("connect:eu-west-2", buf, sizeof buf), -1);
	assert_int_equal(aws_arn_region("arn:aws:connect:EU_WEST:1:x", buf, sizeof buf), -1);
	assert_int_equal(aws_arn_region(NULL, buf, sizeof buf), -1);
}

static void expect_endpoint(const char *service, const char *region, const char *bucket,
			    const char *origin, const char *host, const char *base, bool custom)
{
	struct aws_endpoint e;
	char err[300];
	if (aws_endpoint_resolve(service, region, bucket, &e, err, sizeof err) != 0)
		fail_msg("endpoint %s: %s", service, err);
	assert_string_equal(e.origin, origin);
	assert_string_equal(e.host, host);
	assert_string_equal(e.base_path, base);
	assert_int_equal(e.custom, custom);
	aws_endpoint_clear(&e);
}

static void test_default_endpoints(void **state)
{
	(void)state;
	expect_endpoint("s3", "eu-west-1", "my-bucket", "https://my-bucket.s3.eu-west-1.amazonaws.com",
			"my-bucket.s3.eu-west-1.amazonaws.com", "", false);
	/* Dots would break the TLS wildcard: path style. */
	expect_endpoint("s3", "eu-west-1", "my.bucket", "https://s3.eu-west-1.amazonaws.com",
			"s3.eu-west-1.amazonaws.com", "/my.bucket", false);
	expect_endpoint("s3", "us-east-1", NULL, "https://s3.us-east-1.amazonaws.com",
			"s3.us-east-1.amazonaws.com", "", false);
	expect_endpoint("transcribe", "us-west-2", NULL, "https://transcribe.us-west-2.amazonaws.com",
			"transcribe.us-west-2.amazonaws.com", "", false);
	expect_endpoint("sesv2", "eu-west-1", NULL, "https://email.eu-west-1.amazonaws.com",
			"email.eu-west-1.amazonaws.com", "", false);
	expect_endpoint("sts", "ap-southeast-2", NULL, "https://sts.ap-southeast-2.amazonaws.com",
			"sts.ap-southeast-2.amazonaws.com", "", false);
	expect_endpoint("transcribe", "cn-north-1", NULL,
			"https://transcribe.cn-north-1.amazonaws.com.cn",
			"transcribe.cn-north-1.amazonaws.com.cn", "", false);
	/* The notifiers' services (botocore models: endpointPrefix, signingName). */
	expect_endpoint("connect", "eu-central-1", NULL, "https://connect.eu-central-1.amazonaws.com",
			"connect.eu-central-1.amazonaws.com", "", false);
	expect_endpoint("pinpoint-sms-voice-v2", "us-east-1", NULL,
			"https://sms-voice.us-east-1.amazonaws.com", "sms-voice.us-east-1.amazonaws.com",
			"", false);
	expect_endpoint("sns", "us-east-1", NULL, "https://sns.us-east-1.amazonaws.com",
			"sns.us-east-1.amazonaws.com", "", false);
	assert_string_equal(aws_signing_name("sesv2"), "ses");
	assert_string_equal(aws_signing_name("s3"), "s3");
	assert_string_equal(aws_signing_name("polly"), "polly");
	assert_string_equal(aws_signing_name("connect"), "connect");
	assert_string_equal(aws_signing_name("pinpoint-sms-voice-v2"), "sms-voice");
	assert_string_equal(aws_signing_name("sns"), "sns");
}

static void test_endpoint_overrides(void **state)
{
	(void)state;
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/", 1);
	expect_endpoint("s3", "eu-west-1", "my-bucket", "http://127.0.0.1:9000", "127.0.0.1:9000",
			"/my-bucket", true);
	expect_endpoint("sesv2", "eu-west-1", NULL, "http://127.0.0.1:9000", "127.0.0.1:9000", "",
			true);
	setenv("AWS_ENDPOINT_URL_SESV2", "http://LocalHost:7000/ses", 1);
	expect_endpoint("sesv2", "eu-west-1", NULL, "http://LocalHost:7000", "localhost:7000",
			"/ses", true);
	setenv("AWS_ENDPOINT_URL_S3", "https://minio.example:9443/base", 1);
	expect_endpoint("s3", "eu-west-1", "b", "https://minio.example:9443", "minio.example:9443",
			"/base/b", true);
	/* Unknown service ids: upper-cased, dashes and spaces to underscores. */
	setenv("AWS_ENDPOINT_URL_MY_SERVICE", "http://127.0.0.1:1", 1);
	expect_endpoint("my-service", "eu-west-1", NULL, "http://127.0.0.1:1", "127.0.0.1:1", "",
			true);
	/* AWS_ENDPOINT_URL_<SERVICE> as the SDKs name it: the service id upper-cased,
	 * dashes to underscores. */
	setenv("AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2", "http://127.0.0.1:2", 1);
	expect_endpoint("pinpoint-sms-voice-v2", "eu-west-1", NULL, "http://127.0.0.1:2",
			"127.0.0.1:2", "", true);
	unsetenv("AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2");
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
	expect_endpoint("sesv2", "eu-west-1", NULL, "https://email.eu-west-1.amazonaws.com",
			"email.eu-west-1.amazonaws.com", "", false);
	unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");

	struct aws_endpoint e;
	char err[300];
	setenv("AWS_ENDPOINT_URL_STS", "ftp://x", 1);
	assert_int_equal(aws_endpoint_resolve("sts", "eu-west-1", NULL, &e, err, sizeof err), -1);
	assert_non_null(strstr(err, "http"));
	setenv("AWS_ENDPOINT_URL_STS", "http://user:pw@host/", 1);
	assert_int_equal(aws_endpoint_resolve("sts", "eu-west-1", NULL, &e, err, sizeof err), -1);
	assert_int_equal(aws_endpoint_resolve("s3", "eu west", NULL, &e, err, sizeof err), -1);
	assert_int_equal(aws_endpoint_resolve("s3", "eu-west-1", "bad/bucket", &e, err, sizeof err),
			 -1);
}

static void test_endpoint_from_profile(void **state)
{
	(void)state;
	setenv("AWS_CONFIG_FILE", write_file("config3", "[default]\nendpoint_url = http://127.0.0.1:4566\n"),
	       1);
	expect_endpoint("s3", "us-east-1", "bkt", "http://127.0.0.1:4566", "127.0.0.1:4566", "/bkt",
			true);
}

int main(void)
{
	if (!(tmpdir = test_tmpdir("region")))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_region_precedence, setup),
		cmocka_unit_test_setup(test_profile_files, setup),
		cmocka_unit_test_setup(test_arn_region, setup),
		cmocka_unit_test_setup(test_default_endpoints, setup),
		cmocka_unit_test_setup(test_endpoint_overrides, setup),
		cmocka_unit_test_setup(test_endpoint_from_profile, setup),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	test_rmtree(tmpdir);
	free(tmpdir);
	return rc;
}
