/* Recordings in the host API (engine/core/fetch.c): file URIs, audio types,
 * atomic writes, vm_fetch on file://. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/job.h"
#include "core/log.h"
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

/* The inverse, and a round trip through both. */
static void test_file_uri(void **s)
{
	(void)s;
	char u[96], back[64];
	assert_int_equal(vm_file_uri("/var/spool/a b%+\xc3\xa9.wav", u, sizeof u), 0);
	assert_string_equal(u, "file:///var/spool/a%20b%25%2B%C3%A9.wav");
	assert_int_equal(vm_file_uri_path(u, back, sizeof back), 0);
	assert_string_equal(back, "/var/spool/a b%+\xc3\xa9.wav");
	assert_int_equal(vm_file_uri("relative/x.wav", u, sizeof u), -1);
	assert_int_equal(vm_file_uri("/0123456789", u, 12), -1); /* does not fit */
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

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A located recording is read only as the file locate found: not through a
 * link put in its place, not as another file renamed over it. */
static void test_fetch_reads_the_located_file(void **s)
{
	(void)s;
	char rec[512], secret[512], uri[600], other[512];
	snprintf(rec, sizeof rec, "%s/c1.wav", tmp);
	snprintf(secret, sizeof secret, "%s/secret", tmp);
	snprintf(other, sizeof other, "%s/other.wav", tmp);
	snprintf(uri, sizeof uri, "file://%s", rec);
	put(rec, "RIFF-the-recording");
	put(secret, "root:x:0:0");
	vm_job *job = job_new("f2");
	vm_job_set_str(job, "recording.uri", uri);
	int fd = open(rec, O_RDONLY | O_NOFOLLOW);
	assert_true(fd >= 0);
	assert_int_equal(vm_recording_file_id(job, fd), 0);
	close(fd);
	assert_non_null(vm_job_get_str(job, "recording.file_id"));
	vm_buf b;
	assert_int_equal(vm_fetch(job, uri, 100, &b), VM_DONE);
	assert_memory_equal(b.data, "RIFF-the-recording", b.len);
	free(b.data);

	/* The audit's swap: the path is now a link to another readable file. */
	assert_int_equal(unlink(rec), 0);
	assert_int_equal(symlink(secret, rec), 0);
	b.data = NULL;
	assert_int_equal(vm_fetch(job, uri, 100, &b), VM_PERMANENT);
	assert_null(b.data);
	assert_contains(job->fail_msg, "is a symbolic link: refused");
	assert_contains(job->fail_msg, rec);
	/* Even without a recorded identity (another locate plugin), no link is followed. */
	vm_job *bare = job_new("f3");
	assert_int_equal(vm_fetch(bare, uri, 100, &b), VM_PERMANENT);
	assert_contains(bare->fail_msg, "symbolic link");
	job_free(bare);

	/* Another regular file renamed over it: not the located one. */
	assert_int_equal(unlink(rec), 0);
	put(other, "root:x:0:0");
	assert_int_equal(rename(other, rec), 0);
	assert_int_equal(vm_fetch(job, uri, 100, &b), VM_PERMANENT);
	assert_contains(job->fail_msg, "is not the file the locate stage found (replaced or changed since): refused");
	/* The identity binds the job's recording only: other file:// reads go on. */
	char other_uri[600];
	snprintf(other_uri, sizeof other_uri, "file://%s", secret);
	assert_int_equal(vm_fetch(job, other_uri, 100, &b), VM_DONE);
	free(b.data);

	/* A FIFO there neither hangs the read nor is read. */
	assert_int_equal(unlink(rec), 0);
	assert_int_equal(mkfifo(rec, 0600), 0);
	assert_int_equal(vm_fetch(job, uri, 100, &b), VM_PERMANENT);
	assert_contains(job->fail_msg, "is not a regular file: refused");
	fd = open(rec, O_RDONLY | O_NONBLOCK);
	assert_int_equal(vm_recording_file_id(job, fd), -1); /* only regular files */
	close(fd);
	unlink(rec);
	unlink(secret);
	job_free(job);
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
		cmocka_unit_test(test_file_uri),
		cmocka_unit_test(test_audio_type),
		cmocka_unit_test(test_write_and_fetch),
		cmocka_unit_test(test_fetch_reads_the_located_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
