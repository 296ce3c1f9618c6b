/* Recordings in the host API (engine/fetch.c): file URIs, audio types,
 * atomic writes, vm_fetch on file://. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "job.h"
#include "log.h"
#include "testenv.h"

static char *tmp;

static void test_file_uri_path(void **s)
{
	(void)s;
	char p[64];
	assert_int_equal(vm_file_uri_path("file:///var/spool/a%20b.wav", p, sizeof p), 0);
	assert_string_equal(p, "/var/spool/a b.wav");
	assert_int_equal(vm_file_uri_path("file://localhost/x.wav", p, sizeof p), 0);
	assert_string_equal(p, "/x.wav");
	assert_int_equal(vm_file_uri_path("file://relative/x.wav", p, sizeof p), -1);
	assert_int_equal(vm_file_uri_path("file:///a%00b", p, sizeof p), -1); /* no NUL smuggled in */
	assert_int_equal(vm_file_uri_path("file:///a%2", p, sizeof p), -1);
	assert_int_equal(vm_file_uri_path("file:///a%zz", p, sizeof p), -1);
	assert_int_equal(vm_file_uri_path("s3://b/k", p, sizeof p), -1);
	assert_int_equal(vm_file_uri_path("file:///0123456789012345678901234567890123456789012345678901234567890123",
					  p, sizeof p), -1);
}

static void test_audio_type(void **s)
{
	(void)s;
	assert_string_equal(vm_audio_type("ivr/a_20241211T15:30_UTC.wav"), "audio/wav");
	assert_string_equal(vm_audio_type("/x/y.MP3"), "audio/mpeg");
	assert_string_equal(vm_audio_type("v.opus"), "audio/ogg");
	assert_string_equal(vm_audio_type("v.m4a"), "audio/mp4");
	assert_string_equal(vm_audio_type("msg0000.gsm"), "audio/x-gsm"); /* Asterisk format=gsm */
	assert_string_equal(vm_audio_type("msg0000.WAV"), "audio/wav");   /* wav49 */
	assert_null(vm_audio_type("notes.txt"));
	assert_null(vm_audio_type("no-extension"));
	assert_null(vm_audio_type(NULL));
}

static void test_write_and_fetch(void **s)
{
	(void)s;
	char path[512], uri[600];
	snprintf(path, sizeof path, "%s/rec ording.wav", tmp);
	assert_int_equal(vm_write_file_atomic(path, "RIFFdata", 8), 0);
	assert_int_equal(vm_write_file_atomic(path, "RIFFnewer", 9), 0); /* replaces whole */
	snprintf(uri, sizeof uri, "file://%s", path);
	/* The space must be encoded in a URI; vm_fetch decodes it. */
	char *sp = strstr(uri, " ");
	memmove(sp + 3, sp + 1, strlen(sp + 1) + 1);
	memcpy(sp, "%20", 3);
	vm_job *job = job_new("f1");
	vm_buf b;
	assert_int_equal(vm_fetch(job, uri, 100, &b), VM_DONE);
	assert_int_equal(b.len, 9);
	assert_memory_equal(b.data, "RIFFnewer", 9);
	free(b.data);
	assert_int_equal(vm_fetch(job, uri, 4, &b), VM_PERMANENT);
	assert_contains(job->fail_msg, "larger than the 4-byte limit");
	assert_int_equal(vm_fetch(job, "file:///nonexistent/x.wav", 100, &b), VM_PERMANENT);
	assert_contains(job->fail_msg, "No such file");
	assert_int_equal(vm_fetch(job, "ftp://x/y", 100, &b), VM_PERMANENT);
	assert_contains(job->fail_msg, "expected file:// or s3://");
	job_free(job);
	snprintf(path, sizeof path, "%s/no-such-dir/x", tmp);
	assert_int_equal(vm_write_file_atomic(path, "x", 1), -1);
}

static int setup(void **s)
{
	(void)s;
	log_setup(VM_LOG_ERROR, LOG_FORMAT_TEXT);
	tmp = test_tmpdir("fetch");
	return tmp ? 0 : -1;
}

static int teardown(void **s)
{
	(void)s;
	test_rmtree(tmp);
	free(tmp);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_uri_path),
		cmocka_unit_test(test_audio_type),
		cmocka_unit_test(test_write_and_fetch),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
