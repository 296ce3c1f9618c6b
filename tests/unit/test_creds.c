/*
 * The credential chain: precedence, the shared files, the container endpoint
 * (against a small HTTP server in a thread), caching and refresh before
 * expiry with an injected clock, and concurrent use.  Web identity and IMDS
 * are tested against their fakes in tests/integration/test_aws_creds.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aws/creds.h"
#include "aws/http.h"
#include "testenv.h"

static char *tmpdir; /* test_tmpdir() */

/* ------------------------------------------------------------ tiny server */

struct server {
	int fd, port;
	pthread_t th;
	atomic_int hits;
	atomic_bool stop;
	pthread_mutex_t mu; /* guards status, body, auth */
	int status;
	char body[2048];
	char auth[256];
};

static struct server srv;

static void *serve(void *arg)
{
	struct server *s = arg;
	while (!atomic_load(&s->stop)) {
		struct pollfd p = {s->fd, POLLIN, 0};
		if (poll(&p, 1, 50) <= 0)
			continue;
		int c = accept(s->fd, NULL, NULL);
		if (c < 0)
			continue;
		char req[4096];
		size_t n = 0;
		ssize_t r;
		while (n < sizeof req - 1 && (r = read(c, req + n, sizeof req - 1 - n)) > 0) {
			n += (size_t)r;
			req[n] = '\0';
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		req[n] = '\0';
		atomic_fetch_add(&s->hits, 1);
		pthread_mutex_lock(&s->mu);
		const char *a = strcasestr(req, "\r\nAuthorization: ");
		s->auth[0] = '\0';
		if (a)
			snprintf(s->auth, sizeof s->auth, "%.*s", (int)strcspn(a + 17, "\r\n"), a + 17);
		char resp[4096];
		int len = snprintf(resp, sizeof resp,
				   "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
				   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
				   s->status, strlen(s->body), s->body);
		pthread_mutex_unlock(&s->mu);
		if (write(c, resp, (size_t)len) < 0)
			perror("write");
		close(c);
	}
	return NULL;
}

static void server_answer(int status, const char *akid, const char *expiration)
{
	pthread_mutex_lock(&srv.mu);
	srv.status = status;
	snprintf(srv.body, sizeof srv.body,
		 "{\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"SECRET-%s\","
		 "\"Token\":\"TOKEN-%s\",\"Expiration\":\"%s\"}",
		 akid, akid, akid, expiration);
	pthread_mutex_unlock(&srv.mu);
}

static int server_start(void)
{
	srv.fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (srv.fd < 0 || bind(srv.fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    listen(srv.fd, 16) != 0 || getsockname(srv.fd, (struct sockaddr *)&a, &al) != 0)
		return -1;
	srv.port = ntohs(a.sin_port);
	pthread_mutex_init(&srv.mu, NULL);
	return pthread_create(&srv.th, NULL, serve, &srv);
}

static void server_stop(void)
{
	atomic_store(&srv.stop, true);
	pthread_join(srv.th, NULL);
	close(srv.fd);
	pthread_mutex_destroy(&srv.mu);
}

/* ------------------------------------------------------------ fixtures */

static const char *const aws_vars[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
	"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
	"AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
};

static int64_t fake_now;
static int64_t now_fn(void) { return __atomic_load_n(&fake_now, __ATOMIC_SEQ_CST); }

/* 2030-01-01T00:00:00Z */
#define T0 1893456000000LL

static int setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof aws_vars / sizeof aws_vars[0]; i++)
		unsetenv(aws_vars[i]);
	setenv("HOME", tmpdir, 1);
	/* Never wait for a real instance metadata service. */
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	fake_now = T0;
	atomic_store(&srv.hits, 0);
	server_answer(200, "AKIDC1", "2030-01-01T01:00:00Z");
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

static struct aws_creds_chain *chain_new(const char *profile)
{
	struct aws_creds_opts o = {.profile = profile, .now_ms = now_fn};
	struct aws_creds_chain *ch = aws_creds_chain_new(&o);
	assert_non_null(ch);
	return ch;
}

static void expect_creds(struct aws_creds_chain *ch, const char *akid, const char *secret,
			 const char *token, const char *source)
{
	struct aws_credentials c;
	const char *src = NULL;
	char err[600];
	if (aws_creds_get(ch, &c, &src, err, sizeof err) != 0)
		fail_msg("no credentials: %s", err);
	assert_string_equal(c.access_key_id, akid);
	assert_string_equal(c.secret_access_key, secret);
	if (token)
		assert_string_equal(c.session_token, token);
	else
		assert_null(c.session_token);
	assert_string_equal(src, source);
	aws_credentials_clear(&c);
}

/* rc: -1 (may pass later) or -2 (setup error). */
static void expect_error_rc(struct aws_creds_chain *ch, int rc, const char *needle)
{
	struct aws_credentials c;
	char err[600] = "";
	assert_int_equal(aws_creds_get(ch, &c, NULL, err, sizeof err), rc);
	assert_null(c.access_key_id);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

#define expect_error(ch, needle) expect_error_rc(ch, -1, needle)
#define expect_setup_error(ch, needle) expect_error_rc(ch, -2, needle)

/* ------------------------------------------------------------ tests */

static void test_env(void **state)
{
	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	struct aws_creds_chain *ch = chain_new(NULL);
	expect_creds(ch, "AKIDENV", "envsecret", NULL, "environment");
	aws_creds_chain_free(ch);
	setenv("AWS_SESSION_TOKEN", "envtoken", 1);
	ch = chain_new(NULL);
	expect_creds(ch, "AKIDENV", "envsecret", "envtoken", "environment");
	aws_creds_chain_free(ch);
}

static void test_env_partial_is_an_error(void **state)
{
	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	struct aws_creds_chain *ch = chain_new(NULL);
	expect_setup_error(ch, "AWS_SECRET_ACCESS_KEY is not");
	aws_creds_chain_free(ch);
}

static void test_profiles(void **state)
{
	(void)state;
	setenv("AWS_SHARED_CREDENTIALS_FILE",
	       write_file("credentials", "[default]\naws_access_key_id = AKIDDEF\n"
					 "aws_secret_access_key = defsecret\n"
					 "[dev]\naws_access_key_id=AKIDDEV\n"
					 "aws_secret_access_key=devsecret\naws_session_token=devtok\n"),
	       1);
	setenv("AWS_CONFIG_FILE",
	       write_file("config", "[profile cfgonly]\naws_access_key_id = AKIDCFG\n"
				    "aws_secret_access_key = cfgsecret\n[profile empty]\nregion=x\n"),
	       1);
	struct aws_creds_chain *ch = chain_new(NULL);
	expect_creds(ch, "AKIDDEF", "defsecret", NULL, "profile");
	aws_creds_chain_free(ch);

	setenv("AWS_PROFILE", "dev", 1);
	ch = chain_new(NULL);
	expect_creds(ch, "AKIDDEV", "devsecret", "devtok", "profile");
	aws_creds_chain_free(ch);

	ch = chain_new("cfgonly"); /* the option wins over AWS_PROFILE */
	expect_creds(ch, "AKIDCFG", "cfgsecret", NULL, "profile");
	aws_creds_chain_free(ch);

	ch = chain_new("missing");
	expect_setup_error(ch, "profile missing not found");
	aws_creds_chain_free(ch);

	/* The environment comes first. */
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	ch = chain_new(NULL);
	expect_creds(ch, "AKIDENV", "envsecret", NULL, "environment");
	aws_creds_chain_free(ch);
}

static void test_nothing_found(void **state)
{
	(void)state;
	struct aws_creds_chain *ch = chain_new(NULL);
	expect_setup_error(ch, "no AWS credentials found (tried environment, web-identity, profile, "
			 "container, imds)");
	aws_creds_chain_free(ch);
}

static void set_full_uri(const char *path)
{
	char url[200];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", srv.port, path);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
}

static void test_container_and_refresh(void **state)
{
	(void)state;
	set_full_uri("/v2/credentials/abc");
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "envauth", 1);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", write_file("tok", "fileauth\n"), 1);
	/* A profile without keys does not stop the chain. */
	setenv("AWS_SHARED_CREDENTIALS_FILE", write_file("c2", "[default]\nregion=x\n"), 1);
	struct aws_creds_chain *ch = chain_new(NULL);
	expect_creds(ch, "AKIDC1", "SECRET-AKIDC1", "TOKEN-AKIDC1", "container");
	assert_int_equal(atomic_load(&srv.hits), 1);
	assert_string_equal(srv.auth, "fileauth"); /* the file wins over the variable */

	/* Cached while far from expiry. */
	fake_now = T0 + 54 * 60000;
	server_answer(200, "AKIDC2", "2030-01-01T02:00:00.000Z");
	expect_creds(ch, "AKIDC1", "SECRET-AKIDC1", "TOKEN-AKIDC1", "container");
	assert_int_equal(atomic_load(&srv.hits), 1);

	/* Refreshed 5 minutes before expiry. */
	fake_now = T0 + 56 * 60000;
	expect_creds(ch, "AKIDC2", "SECRET-AKIDC2", "TOKEN-AKIDC2", "container");
	assert_int_equal(atomic_load(&srv.hits), 2);

	/* A failing refresh keeps the cached ones while they are valid... */
	server_answer(500, "X", "x");
	fake_now = T0 + 117 * 60000;
	expect_creds(ch, "AKIDC2", "SECRET-AKIDC2", "TOKEN-AKIDC2", "container");
	/* ...and fails once they expired, without naming a secret. */
	fake_now = T0 + 121 * 60000;
	expect_error(ch, "container credentials endpoint answered HTTP 500");
	aws_creds_chain_free(ch);
}

static void test_container_bad_answers(void **state)
{
	(void)state;
	set_full_uri("/creds");
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "envauth", 1);
	struct aws_creds_chain *ch = chain_new(NULL);
	server_answer(200, "", "2030-01-01T01:00:00Z");
	expect_error(ch, "without AccessKeyId");
	assert_string_equal(srv.auth, "envauth");
	server_answer(200, "AKID", "yesterday");
	expect_error(ch, "unreadable Expiration");
	aws_creds_chain_free(ch);

	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://203.0.113.9/creds", 1);
	ch = chain_new(NULL);
	expect_setup_error(ch, "must be https or name a loopback");
	aws_creds_chain_free(ch);

	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "a\r\nX-Evil: 1", 1);
	set_full_uri("/creds");
	ch = chain_new(NULL);
	expect_setup_error(ch, "line break");
	aws_creds_chain_free(ch);
}

static void test_container_relative_uri(void **state)
{
	(void)state;
	char origin[64];
	snprintf(origin, sizeof origin, "http://127.0.0.1:%d", srv.port);
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/rel", 1);
	struct aws_creds_opts o = {.now_ms = now_fn, .container_origin = origin};
	struct aws_creds_chain *ch = aws_creds_chain_new(&o);
	expect_creds(ch, "AKIDC1", "SECRET-AKIDC1", "TOKEN-AKIDC1", "container");
	assert_string_equal(srv.auth, "");
	aws_creds_chain_free(ch);
}

static void *getter(void *arg)
{
	struct aws_creds_chain *ch = arg;
	for (int i = 0; i < 20; i++) {
		struct aws_credentials c;
		char err[300];
		if (aws_creds_get(ch, &c, NULL, err, sizeof err) != 0 ||
		    strcmp(c.access_key_id, "AKIDC1") != 0)
			return (void *)1;
		aws_credentials_clear(&c);
	}
	return NULL;
}

static void test_concurrent_gets_fetch_once(void **state)
{
	(void)state;
	set_full_uri("/c");
	struct aws_creds_chain *ch = chain_new(NULL);
	pthread_t th[8];
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&th[i], NULL, getter, ch), 0);
	for (int i = 0; i < 8; i++) {
		void *rv;
		pthread_join(th[i], &rv);
		assert_null(rv);
	}
	assert_int_equal(atomic_load(&srv.hits), 1);
	aws_creds_chain_free(ch);
}

static void test_copy_and_clear(void **state)
{
	(void)state;
	struct aws_credentials a = {"AK", "SK", NULL, 5}, b;
	assert_int_equal(aws_credentials_copy(&b, &a), 0);
	assert_string_equal(b.secret_access_key, "SK");
	assert_null(b.session_token);
	assert_int_equal(b.expires_ms, 5);
	aws_credentials_clear(&b);
	assert_null(b.access_key_id);
	aws_credentials_clear(&b); /* twice is fine */
}

int main(void)
{
	if (!(tmpdir = test_tmpdir("creds")) || server_start() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_env, setup),
		cmocka_unit_test_setup(test_env_partial_is_an_error, setup),
		cmocka_unit_test_setup(test_profiles, setup),
		cmocka_unit_test_setup(test_nothing_found, setup),
		cmocka_unit_test_setup(test_container_and_refresh, setup),
		cmocka_unit_test_setup(test_container_bad_answers, setup),
		cmocka_unit_test_setup(test_container_relative_uri, setup),
		cmocka_unit_test_setup(test_concurrent_gets_fetch_once, setup),
		cmocka_unit_test_setup(test_copy_and_clear, setup),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	server_stop();
	aws_http_cleanup();
	test_rmtree(tmpdir);
	free(tmpdir);
	return rc;
}
