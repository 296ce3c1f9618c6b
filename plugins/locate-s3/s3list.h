/*
 * ListObjectsV2 and HEAD for locate-s3, on the host's AWS service.
 *
 * The listing answer is XML; it is read with expat (never string search),
 * keeping only what the search needs: each object's key and size.
 */
#ifndef LOCATE_S3_S3LIST_H
#define LOCATE_S3_S3LIST_H

#include <stddef.h>
#include <stdint.h>

#include <vmpipe/vmpipe.h>

/* The object a search found; key is malloc()ed (s3_found_clear frees it). */
struct s3_found {
	char *key;
	int64_t size;
	char *content_type; /* HEAD only; malloc()ed or NULL */
};

void s3_found_clear(struct s3_found *f);

/*
 * Outcome of one look.  S3_ERROR means vm_fail() was already called: return
 * the status stored in *st.
 */
enum s3_look { S3_FOUND, S3_ABSENT, S3_ERROR };

/*
 * List `prefix` in `bucket` (all pages, up to a few) and pick the object
 * whose key sorts last among those that are not folder markers: Connect puts
 * the recording's start time in its name, so the last is the newest.
 */
enum s3_look s3_list_latest(vm_job *job, const char *region, const char *bucket,
			    const char *prefix, struct s3_found *out, vm_status *st);

/*
 * The reader behind s3_list_latest(), on its own for tests and the fuzzer: a
 * ListObjectsV2 answer, page by page.  s3_listing_new() returns NULL when out
 * of memory; s3_listing_page() adds one page and returns 0, or -1 when it is
 * not well-formed XML (the listing is then not to be trusted).
 */
struct s3_listing;
struct s3_listing *s3_listing_new(void);
int s3_listing_page(struct s3_listing *l, const unsigned char *body, size_t len);
/* The key that sorts last among the objects listed so far that are not
 * folder markers ("…/"), and its Size (-1 when not given); NULL when there is
 * none.  Borrowed: valid until the next page or s3_listing_free(). */
const char *s3_listing_latest(const struct s3_listing *l, int64_t *size);
/* The last page's NextContinuationToken when it said IsTruncated, else NULL
 * (the listing is complete).  Borrowed, like s3_listing_latest(). */
const char *s3_listing_next(const struct s3_listing *l);
void s3_listing_free(struct s3_listing *l);

/* HEAD s3://bucket/key: size and content type when it exists. */
enum s3_look s3_head(vm_job *job, const char *region, const char *bucket, const char *key,
		     struct s3_found *out, vm_status *st);

#endif
