/*
 * The listen page a recording link opens, the same wherever vmpipe runs:
 * `vmpipe serve` (runtime/serve/listen.c) and Lambda's link mode
 * (runtime/lambda/link_click.c).  Who called, when, how long, the transcript,
 * an <audio> player and a download button; no script, no outside resource,
 * the style allowed by its hash in a strict Content-Security-Policy.
 * Rendered with the mail templates' escaping (template.h, TPL_HTML).
 */
#ifndef VMPIPE_LISTEN_PAGE_H
#define VMPIPE_LISTEN_PAGE_H

#include <stddef.h>

#include <vmpipe/vmpipe.h>

/*
 * The page of `job`; audio_url and download_url are absolute http(s) URLs
 * (NULL: the recording cannot be played, and the page says so); expires_s
 * the link's expiry (0: none shown).  malloc()ed, NULL when out of memory.
 */
char *listen_page(const vm_job *job, const char *audio_url, const char *download_url, int64_t expires_s,
		  size_t *len);

/* A plain page for a link that does not open (403, 404, 503): a title and one
 * sentence, nothing else.  malloc()ed. */
char *listen_error_page(const char *title, const char *text, size_t *len);

/*
 * The Content-Security-Policy of both pages: nothing but the page's own
 * style (by hash) and media from `media_src` ("'self'", or the origin of a
 * presigned URL).  Into buf; "" when it does not fit.
 */
void listen_csp(const char *media_src, char *buf, size_t size);

#endif
