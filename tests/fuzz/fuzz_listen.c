/*
 * libFuzzer: what a listen-page request hands the server from outside
 * (engine/runtime/serve/range.c http_range, engine/core/link.c
 * link_verify_job), with a fixed key.
 *
 * First byte % 3:
 *   0  a Range header: the rest is the header, the file size the first 4
 *      bytes of it read little-endian (then the header follows).  Property:
 *      a range answered lies inside the file and is not empty.
 *   1  a random query: it never verifies (OK and EXPIRED both mean signed).
 *   2  a genuine job link, then edits: id NUL expiry(8 bytes, LE) edits...;
 *      link_make_job() signs id/expiry (or refuses); the unedited query
 *      verifies to exactly that; each edit (2 bytes: where, a byte) replaces,
 *      inserts or deletes one byte; whatever still verifies carries exactly
 *      the id and expiry that were signed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/link.h"
#include "fuzz.h"
#include "runtime/serve/range.h"

#define NOW_S 1765000000LL
#define KEY "fuzz-listen-key-0123456789abcdef0123456789"
#define QMAX 4096

static const unsigned char *key = (const unsigned char *)KEY;
#define KEYLEN (sizeof KEY - 1)

static void range(const uint8_t *d, size_t n)
{
	if (n < 4)
		return;
	uint64_t size = (uint64_t)d[0] | (uint64_t)d[1] << 8 | (uint64_t)d[2] << 16 | (uint64_t)d[3] << 24;
	char *h = strndup((const char *)d + 4, n - 4);
	CHECK(h, "out of memory");
	uint64_t off = 0, len = 0;
	int rc = http_range(h, size, &off, &len);
	CHECK(rc >= -1 && rc <= 1, "answer %d", rc);
	if (rc == 1)
		CHECK(len > 0 && off < size && len <= size - off, "'%s' on %llu: %llu+%llu", h,
		      (unsigned long long)size, (unsigned long long)off, (unsigned long long)len);
	free(h);
}

static void random_query(const uint8_t *d, size_t n)
{
	char *q = strndup((const char *)d, n);
	CHECK(q, "out of memory");
	char *id = (char *)1;
	int64_t exp = 0;
	enum link_verdict v = link_verify_job(key, KEYLEN, q, NOW_S, &id, &exp);
	CHECK(v != LINK_OK && v != LINK_EXPIRED, "a random query verified: %s", q);
	CHECK(!id, "refused, yet an id was returned");
	free(q);
}

static void genuine(const uint8_t *d, size_t n)
{
	const uint8_t *nul = memchr(d, 0, n);
	if (!nul || (size_t)(nul - d) + 9 > n)
		return;
	char *want = strndup((const char *)d, (size_t)(nul - d));
	CHECK(want, "out of memory");
	int64_t want_exp = 0;
	memcpy(&want_exp, nul + 1, 8);
	const uint8_t *e = nul + 9, *end = d + n;
	char *url = link_make_job(key, KEYLEN, "https://vm.example.com/", "", want, want_exp);
	if (!url) {
		free(want);
		return;
	}
	char q[QMAX];
	const char *qs = strchr(url, '?');
	CHECK(qs && strlen(qs + 1) < QMAX / 2, "a link without a query: %s", url);
	strcpy(q, qs + 1);
	free(url);
	char *id;
	int64_t exp;
	enum link_verdict v = link_verify_job(key, KEYLEN, q, NOW_S, &id, &exp);
	CHECK(v == LINK_OK || v == LINK_EXPIRED, "a genuine link refused (%d): %s", v, q);
	CHECK(strcmp(id, want) == 0 && exp == want_exp, "verified as another job");
	free(id);
	for (; e + 2 <= end; e += 2) {
		size_t ql = strlen(q), at = ql ? e[0] % (ql + 1) : 0;
		char c = (char)e[1];
		if (c == 0 && at < ql) { /* delete */
			memmove(q + at, q + at + 1, ql - at);
		} else if ((e[0] & 1) && ql + 1 < QMAX && c) { /* insert */
			memmove(q + at + 1, q + at, ql - at + 1);
			q[at] = c;
		} else if (at < ql && c) { /* replace */
			q[at] = c;
		}
		v = link_verify_job(key, KEYLEN, q, NOW_S, &id, &exp);
		if (v == LINK_OK || v == LINK_EXPIRED) {
			CHECK(strcmp(id, want) == 0 && exp == want_exp, "an edited link verified as job '%s' "
			      "expiring %lld (signed: '%s', %lld): %s", id, (long long)exp, want, (long long)want_exp, q);
			free(id);
		} else {
			CHECK(!id, "refused, yet an id was returned");
		}
	}
	free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0: range(data + 1, size - 1); break;
	case 1: random_query(data + 1, size - 1); break;
	default: genuine(data + 1, size - 1); break;
	}
	return 0;
}
