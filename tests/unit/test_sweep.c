/*
 * Unit tests of the sweeper's listing reader (engine/runtime/lambda/sweep.c:
 * sweep_listing_page): which keys of a ListObjectsV2 answer are checkpoints,
 * S3's LastModified (with and without its fraction), continuation, and a
 * page that does not parse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"
#include "runtime/lambda/sweep.h"

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
	     "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>vm-state</Name>"

static int page(struct sweep_listing *l, const char *prefix, const char *xml)
{
	return sweep_listing_page(l, prefix, xml, strlen(xml));
}

static void test_checkpoints_only(void **s)
{
	(void)s;
	struct sweep_listing l = {0};
	assert_int_equal(page(&l, "vmpipe/", HEAD "<Prefix>vmpipe/</Prefix><IsTruncated>false</IsTruncated>"
			      "<Contents><Key>vmpipe/5e1f0c2a-3b4d.json</Key>"
			      "<LastModified>2026-12-07T21:43:48.871Z</LastModified><Size>2</Size></Contents>"
			      "<Contents><Key>vmpipe/b.json</Key><LastModified>2026-12-07T21:43:49Z</LastModified>"
			      "</Contents>"
			      "<Contents><Key>vmpipe/notes.txt</Key><LastModified>2026-12-07T21:43:48Z</LastModified>"
			      "</Contents>"
			      "<Contents><Key>vmpipe/.json</Key><LastModified>2026-12-07T21:43:48Z</LastModified>"
			      "</Contents>"
			      "<Contents><Key>other/c.json</Key><LastModified>2026-12-07T21:43:48Z</LastModified>"
			      "</Contents>"
			      "<Contents><Key>vmpipe/d.json</Key><LastModified>yesterday</LastModified></Contents>"
			      "<CommonPrefixes><Prefix>vmpipe/wake/</Prefix></CommonPrefixes></ListBucketResult>"),
			 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].id, "5e1f0c2a-3b4d");
	assert_int_equal(l.v[0].modified_ms, 1796679828871LL);
	assert_string_equal(l.v[1].id, "b");
	assert_int_equal(l.v[1].modified_ms, 1796679829000LL);
	assert_false(l.truncated);
	sweep_listing_free(&l);
}

static void test_pages_and_refusals(void **s)
{
	(void)s;
	struct sweep_listing l = {0};
	assert_int_equal(page(&l, "", HEAD "<IsTruncated>true</IsTruncated><NextContinuationToken>tok1"
			      "</NextContinuationToken><Contents><Key>a.json</Key><LastModified>"
			      "2026-01-01T00:00:00.5Z</LastModified></Contents></ListBucketResult>"),
			 0);
	assert_true(l.truncated);
	assert_string_equal(l.token, "tok1");
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].modified_ms % 1000, 500);
	/* Truncated without a token: nothing to go on with. */
	assert_int_equal(page(&l, "", HEAD "<IsTruncated>true</IsTruncated></ListBucketResult>"), 0);
	assert_false(l.truncated);
	/* A page that does not parse adds nothing, even what it listed before breaking. */
	assert_int_equal(page(&l, "", HEAD "<Contents><Key>b.json</Key><LastModified>2026-01-01T00:00:00Z"
			      "</LastModified></Contents><Contents>"),
			 -1);
	assert_int_equal(l.n, 1);
	assert_false(l.truncated);
	sweep_listing_free(&l);
}

int main(void)
{
	log_setup(VM_LOG_ERROR, LOG_FORMAT_TEXT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checkpoints_only),
		cmocka_unit_test(test_pages_and_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
