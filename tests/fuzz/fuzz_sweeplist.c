/*
 * libFuzzer: the sweeper's ListObjectsV2 reader (engine/runtime/lambda/
 * sweep.c: sweep_listing_page), on any answer S3, a proxy or an
 * AWS_ENDPOINT_URL pointed elsewhere could send.
 *
 * Input: one byte choosing the prefix ("" when even, "vmpipe/" when odd),
 * then up to three pages separated by NUL bytes (XML holds none), added to
 * one listing as sweep_run() adds them.
 *
 * Properties, besides no crash, leak or UB (the engine's XML walker,
 * engine/aws/xml.c, serves as the second reader):
 *  - every checkpoint listed is the text of a <Contents><Key> of a page that
 *    parsed, equal to prefix + ID + ".json", its ID a plain name (a safe S3
 *    key and job id), with a LastModified after 1970;
 *  - a page that does not parse adds nothing;
 *  - the listing says it is truncated only with a token, and the token is
 *    the text of the page's <NextContinuationToken>.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/xml.h"
#include "core/util.h"
#include "fuzz.h"
#include "runtime/lambda/sweep.h"

#define MAX_PAGES 3
#define MAX_SEEN 4096

struct seen {
	char *keys[MAX_SEEN];
	size_t nkeys;
	char *tokens[MAX_SEEN];
	size_t ntokens;
};

static int leaf(void *arg, const char *parent, const char *name, const char *text, size_t len)
{
	struct seen *s = arg;
	if (strcmp(name, "Key") == 0 && strcmp(parent, "Contents") == 0 && s->nkeys < MAX_SEEN) {
		s->keys[s->nkeys] = strndup(text, len);
		CHECK(s->keys[s->nkeys], "out of memory");
		s->nkeys++;
	} else if (strcmp(name, "NextContinuationToken") == 0 && s->ntokens < MAX_SEEN) {
		s->tokens[s->ntokens] = strndup(text, len);
		CHECK(s->tokens[s->ntokens], "out of memory");
		s->ntokens++;
	}
	return 0;
}

static bool in(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static void forget(char **v, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free(v[i]);
	*n = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *prefix = data[0] & 1 ? "vmpipe/" : "";
	const char *p = (const char *)data + 1, *end = (const char *)data + size;
	struct sweep_listing l = {0};
	struct seen s = {0};
	for (int page = 0; page < MAX_PAGES && p <= end; page++) {
		const char *z = memchr(p, '\0', (size_t)(end - p));
		size_t len = (size_t)((z ? z : end) - p);
		size_t before = l.n;
		int rc = sweep_listing_page(&l, prefix, p, len);
		forget(s.tokens, &s.ntokens);
		int wrc = aws_xml_walk(p, len, leaf, &s);
		if (rc != 0) {
			CHECK(l.n == before && !l.truncated, "a page that did not parse added %zu", l.n - before);
			break; /* sweep_run() gives up on the listing */
		}
		for (size_t i = before; i < l.n; i++) {
			const char *id = l.v[i].id;
			CHECK(is_plain_name(id, 128), "id '%s' is not a plain name", id);
			CHECK(l.v[i].modified_ms > 0, "id '%s' without a LastModified", id);
			char key[1200];
			snprintf(key, sizeof key, "%s%s.json", prefix, id);
			if (wrc == 0)
				CHECK(in(s.keys, s.nkeys, key), "listed '%s', which no <Contents><Key> says", key);
		}
		if (l.truncated) {
			CHECK(l.token[0], "truncated without a token");
			if (wrc == 0)
				CHECK(in(s.tokens, s.ntokens, l.token), "token '%s' not the page's", l.token);
		}
		if (!z)
			break;
		p = z + 1;
	}
	forget(s.keys, &s.nkeys);
	forget(s.tokens, &s.ntokens);
	sweep_listing_free(&l);
	return 0;
}
