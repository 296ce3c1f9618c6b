/*
 * libFuzzer: the ListObjectsV2 reader of locate-s3
 * (plugins/locate-s3/s3list.c: s3_listing_*), on any answer S3, a proxy or
 * an AWS_ENDPOINT_URL pointed elsewhere could send.
 *
 * Input: up to five pages separated by NUL bytes (XML holds none), read as
 * s3_list_latest() reads them: the next page only while the last one said
 * IsTruncated with a token.
 *
 * Properties, besides no crash, leak or UB (the engine's own XML walker,
 * engine/aws/xml.c, serves as the second reader):
 *  - the object picked is one a page listed: the text of a <Key> in a
 *    <Contents>; never empty, never a "folder/" marker, and once a page
 *    failed to parse nothing is picked from it;
 *  - the continuation token followed is the text of the page's
 *    <NextContinuationToken>, and only when the page said IsTruncated true.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/locate-s3/s3list.h"
#include "aws/xml.h"
#include "fuzz.h"

#define MAX_PAGES 5
#define MAX_KEYS 4096

/* What the second reader saw in the pages so far. */
struct seen {
	char *keys[MAX_KEYS];
	size_t nkeys;
	bool truncated_true; /* this page */
	char *tokens[MAX_KEYS]; /* this page's NextContinuationToken texts */
	size_t ntokens;
};

static int leaf(void *arg, const char *parent, const char *name, const char *text, size_t len)
{
	struct seen *s = arg;
	if (strcmp(name, "Key") == 0 && strcmp(parent, "Contents") == 0 && s->nkeys < MAX_KEYS) {
		s->keys[s->nkeys] = strndup(text, len);
		CHECK(s->keys[s->nkeys], "out of memory");
		s->nkeys++;
	} else if (strcmp(name, "IsTruncated") == 0 && strcmp(text, "true") == 0) {
		s->truncated_true = true;
	} else if (strcmp(name, "NextContinuationToken") == 0 && s->ntokens < MAX_KEYS) {
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

static void forget_tokens(struct seen *s)
{
	for (size_t i = 0; i < s->ntokens; i++)
		free(s->tokens[i]);
	s->ntokens = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct s3_listing *l = s3_listing_new();
	CHECK(l, "out of memory");
	struct seen s = {0};
	const char *p = (const char *)data, *end = p + size;
	const char *before = NULL; /* the pick before the current page */

	for (int page = 0; page < MAX_PAGES; page++) {
		const char *z = memchr(p, '\0', (size_t)(end - p));
		size_t len = (size_t)((z ? z : end) - p);
		char *prev = before ? strdup(before) : NULL;

		int rc = s3_listing_page(l, (const unsigned char *)p, len);
		s.truncated_true = false;
		forget_tokens(&s);
		int wrc = len ? aws_xml_walk(p, len, leaf, &s) : -1;

		if (rc != 0) {
			free(prev);
			break; /* s3_list_latest() gives up: nothing of this page is used */
		}
		int64_t obj_size;
		const char *key = s3_listing_latest(l, &obj_size);
		if (key) {
			size_t kl = strlen(key);
			CHECK(kl > 0 && key[kl - 1] != '/', "picked '%s'", key);
			/* The walker refuses some documents expat alone takes (a DTD
			 * with entities, deep nesting): then only the pick is checked. */
			if (wrc == 0)
				CHECK(in(s.keys, s.nkeys, key) || (prev && strcmp(prev, key) == 0),
				      "picked '%s', which no <Contents><Key> says", key);
		} else {
			CHECK(obj_size == -1, "size %lld without a key", (long long)obj_size);
			CHECK(!prev, "the pick '%s' of an earlier page was lost", prev);
		}
		if (prev && key)
			CHECK(strcmp(key, prev) >= 0, "the pick went from '%s' back to '%s'", prev, key);
		free(prev);
		before = key;

		const char *next = s3_listing_next(l);
		if (next && wrc == 0)
			CHECK(*next && s.truncated_true && in(s.tokens, s.ntokens, next),
			      "continuing with '%s' (the page said truncated=%d, %zu tokens)", next,
			      s.truncated_true, s.ntokens);
		if (!next || !z)
			break;
		p = z + 1;
	}
	for (size_t i = 0; i < s.nkeys; i++)
		free(s.keys[i]);
	forget_tokens(&s);
	s3_listing_free(l);
	return 0;
}
