/*
 * libFuzzer: the AWS answer readers of engine/aws: the expat walker
 * (xml.c: aws_xml_walk, aws_xml_text) and the error parser (errors.c:
 * aws_error_parse) for the four protocols, on any body a service or a
 * man in the middle could send.
 *
 * Input: a protocol byte (0 REST-XML, 1 query, 2 JSON 1.1, 3 REST-JSON), two
 * bytes of HTTP status (big-endian, taken modulo 600), then up to two
 * NUL-terminated header values (x-amz-request-id, then x-amzn-ErrorType;
 * absent when their NUL is missing), then the body.
 *
 * Properties, besides no crash, leak or UB:
 *  - the walker reports elements by local name (no ':' left), a NUL-terminated
 *    text of the length it says, never more elements than the document has
 *    room for, and refuses documents deeper than AWS sends (an answer that
 *    parsed has its closing tags, so every leaf was reported);
 *  - aws_xml_text() finds what a walk of a well-formed document finds first;
 *  - an error always has a non-empty code, the request id of the header when
 *    one was sent, and the standard retry mode's classification: 5xx
 *    (500/502/503/504) and throttling are retryable, 429 is throttling.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/errors.h"
#include "aws/xml.h"
#include "fuzz.h"

struct tally {
	size_t leaves;
	size_t doc_len;
	char *first_code; /* text of the first <Code>, as aws_xml_text(…, NULL, "Code") sees it */
	bool have_code;
};

static int leaf(void *arg, const char *parent, const char *name, const char *text, size_t len)
{
	struct tally *t = arg;
	CHECK(parent && name && text, "NULL argument");
	CHECK(!strchr(name, ':') && !strchr(parent, ':'), "prefixed name '%s' / '%s'", name, parent);
	CHECK(strlen(text) == len, "text of %zu bytes reported as %zu", strlen(text), len);
	CHECK(len <= t->doc_len, "%zu bytes of text in a %zu-byte document", len, t->doc_len);
	t->leaves++;
	/* "<a/>" is the shortest element. */
	CHECK(t->leaves <= t->doc_len / 4 + 1, "%zu elements in %zu bytes", t->leaves, t->doc_len);
	if (!t->have_code && strcmp(name, "Code") == 0) {
		t->first_code = strndup(text, len);
		t->have_code = true;
	}
	return 0;
}

static void check_xml(const char *body, size_t len)
{
	struct tally t = {0, len, NULL, false};
	int rc = aws_xml_walk(body, len, leaf, &t);
	CHECK(rc == 0 || rc == -1, "walk returned %d", rc);
	char *code = aws_xml_text(body, len, NULL, "Code");
	if (rc == 0 && t.have_code)
		CHECK(code && strcmp(code, t.first_code) == 0, "aws_xml_text found '%s', the walk '%s'",
		      code ? code : "(none)", t.first_code);
	if (rc == 0 && !t.have_code)
		CHECK(!code, "aws_xml_text found a Code the walk did not see");
	free(code);
	free(t.first_code);
}

static bool transient_status(long s) { return s == 500 || s == 502 || s == 503 || s == 504; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	enum aws_protocol proto = (enum aws_protocol)(data[0] % 4);
	long status = (long)((data[1] << 8 | data[2]) % 600);
	const char *p = (const char *)data + 3, *end = (const char *)data + size;

	/* Up to two NUL-terminated header values, then the body (which may hold NULs). */
	char *hdr[2] = {NULL, NULL};
	for (int i = 0; i < 2; i++) {
		const char *z = memchr(p, '\0', (size_t)(end - p));
		if (!z)
			break;
		hdr[i] = strndup(p, (size_t)(z - p));
		CHECK(hdr[i], "out of memory");
		p = z + 1;
	}
	const char *request_id = hdr[0], *error_type = hdr[1];
	const char *body = p;
	size_t body_len = (size_t)(end - p);

	if (proto == AWS_PROTO_REST_XML || proto == AWS_PROTO_QUERY)
		check_xml(body, body_len);

	struct aws_error e;
	int rc = aws_error_parse(proto, status, request_id, error_type, body, body_len, &e);
	CHECK(rc == 0, "aws_error_parse failed (%d) without running out of memory", rc);
	CHECK(e.code && *e.code, "empty error code");
	CHECK(e.status == status, "status %ld, sent %ld", e.status, status);
	if (request_id && *request_id)
		CHECK(e.request_id && strcmp(e.request_id, request_id) == 0,
		      "request id '%s', the header said '%s'", e.request_id ? e.request_id : "(none)",
		      request_id);
	if (transient_status(status))
		CHECK(e.retryable, "HTTP %ld is not retryable", status);
	if (status == 429)
		CHECK(e.throttling, "HTTP 429 is not throttling");
	if (e.throttling)
		CHECK(e.retryable, "throttling (%s) is not retryable", e.code);
	CHECK(e.throttling == (status == 429 || aws_error_code_throttling(e.code)),
	      "throttling flag disagrees with the code '%s'", e.code);
	aws_error_clear(&e);
	free(hdr[0]);
	free(hdr[1]);
	return 0;
}
