/* A transcription server's answer; see answer.h. */
#include "answer.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* A larger "end" is no time in seconds (a day is 86400 s) but in Go's
 * nanoseconds, as LocalAI writes them. */
#define NANOSECONDS_ABOVE 1e5

static char *trimmed(const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return strndup(s, n);
}

/* A number, or a string holding one (vLLM's "duration"); -1 otherwise. */
static double number(json_t *v)
{
	if (json_is_number(v))
		return json_number_value(v);
	if (json_is_string(v)) {
		char *end;
		const char *s = json_string_value(v);
		double d = strtod(s, &end);
		if (end != s && !*end)
			return d;
	}
	return -1;
}

static char *str_dup(json_t *v)
{
	const char *s = json_string_value(v);
	return s && *s ? strdup(s) : NULL;
}

/* The segments' words when the answer has no "text" of its own. */
static char *join_segments(json_t *segs)
{
	size_t i, len = 0;
	json_t *seg;
	json_array_foreach(segs, i, seg)
		len += json_string_length(json_object_get(seg, "text")) + 1;
	char *s = malloc(len + 1), *p = s;
	if (!s)
		return NULL;
	json_array_foreach(segs, i, seg) {
		const char *t = json_string_value(json_object_get(seg, "text"));
		if (t) {
			size_t n = strlen(t);
			memcpy(p, t, n);
			p += n;
		}
	}
	*p = '\0';
	char *t = trimmed(s, (size_t)(p - s));
	free(s);
	return t;
}

static int parse_json(json_t *doc, struct wh_answer *out, char *err, size_t errsz)
{
	if (!json_is_object(doc)) {
		snprintf(err, errsz, "the answer is not a JSON object");
		return -1;
	}
	json_t *text = json_object_get(doc, "text"), *segs = json_object_get(doc, "segments");
	if (!json_is_string(text) && !json_is_array(segs)) {
		snprintf(err, errsz, "the answer has no \"text\"");
		return -1;
	}
	if (json_is_array(segs)) {
		size_t i;
		json_t *seg;
		double last = -1;
		json_array_foreach(segs, i, seg) {
			double end = number(json_object_get(seg, "end"));
			if (end > last)
				last = end;
		}
		out->segments = json_array_size(segs);
		if (last > NANOSECONDS_ABOVE)
			last /= 1e9;
		/* No segment: nobody spoke.  Segments without times: not known. */
		out->speech_seconds = out->segments == 0 ? 0 : last >= 0 ? last : -1;
	}
	out->text = json_is_string(text) ? trimmed(json_string_value(text), json_string_length(text))
					 : join_segments(segs);
	out->duration = number(json_object_get(doc, "duration"));
	out->language = str_dup(json_object_get(doc, "language"));
	out->model = str_dup(json_object_get(doc, "model"));
	if (!out->text) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	return 0;
}

int wh_answer_parse(const char *body, size_t len, const char *ctype, struct wh_answer *out,
                    char *err, size_t errsz)
{
	memset(out, 0, sizeof *out);
	out->duration = out->speech_seconds = -1;
	if (ctype && strncasecmp(ctype, "text/plain", 10) == 0) {
		out->text = trimmed(body ? body : "", body ? len : 0);
		if (!out->text)
			snprintf(err, errsz, "out of memory");
		return out->text ? 0 : -1;
	}
	json_error_t je;
	json_t *doc = json_loadb(body ? body : "", body ? len : 0, 0, &je);
	if (!doc) {
		snprintf(err, errsz, "the answer is not JSON (%s, content type %s)", je.text,
			 ctype && *ctype ? ctype : "not given");
		return -1;
	}
	int rc = parse_json(doc, out, err, errsz);
	json_decref(doc);
	if (rc != 0)
		wh_answer_clear(out);
	return rc;
}

void wh_answer_clear(struct wh_answer *a)
{
	free(a->text);
	free(a->language);
	free(a->model);
	memset(a, 0, sizeof *a);
}

/* Only printable text of a message, one line, at most size-1 bytes. */
static void clean(const char *s, size_t n, char *buf, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '\n' || ch == '\r' || ch == '\t')
			ch = ' ';
		if (ch >= 0x20 && ch != 0x7f)
			buf[o++] = (char)ch;
	}
	while (o && buf[o - 1] == ' ')
		o--;
	buf[o] = '\0';
}

void wh_error_message(const char *body, size_t len, char *msg, size_t msgsz, char *code,
                      size_t codesz)
{
	msg[0] = code[0] = '\0';
	if (!body || !len)
		return;
	json_t *doc = json_loadb(body, len, 0, NULL);
	if (doc) {
		json_t *e = json_object_get(doc, "error");
		json_t *m = json_is_object(e) ? json_object_get(e, "message")
			    : json_is_string(e) ? e
			    : json_is_string(json_object_get(doc, "detail")) ? json_object_get(doc, "detail")
			    : json_object_get(doc, "message");
		if (json_is_string(m))
			clean(json_string_value(m), json_string_length(m), msg, msgsz);
		json_t *c = json_is_object(e) ? json_object_get(e, "code") : NULL;
		if (json_is_string(c))
			clean(json_string_value(c), json_string_length(c), code, codesz);
		json_decref(doc);
		return;
	}
	/* Not JSON: a proxy's or a plain server's text (never a whole HTML page). */
	if (len < 400 && !memchr(body, '<', len))
		clean(body, strcspn(body, "\r\n") < len ? strcspn(body, "\r\n") : len, msg, msgsz);
}

/* Bytes of the first `chars` UTF-8 characters of s (never splits one). */
static size_t utf8_prefix(const char *s, size_t chars)
{
	size_t i = 0;
	for (size_t c = 0; s[i] && c < chars; c++) {
		i++;
		while (((unsigned char)s[i] & 0xC0) == 0x80)
			i++;
	}
	return i;
}

char *wh_preview(const char *text, size_t chars)
{
	char *p = malloc(strlen(text) + 1), *o = p;
	if (!p)
		return NULL;
	for (const char *s = text; *s;) {
		if (isspace((unsigned char)*s)) {
			while (isspace((unsigned char)*s))
				s++;
			if (o != p && *s)
				*o++ = ' ';
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	p[utf8_prefix(p, chars)] = '\0';
	return p;
}

int64_t wh_retry_after(const char *ra, const char *ra_ms, int64_t now_ms)
{
	char *end;
	if (ra_ms && *ra_ms) {
		errno = 0;
		double ms = strtod(ra_ms, &end);
		if (errno == 0 && end != ra_ms && !*end && ms >= 0 && ms < 1e12)
			return (int64_t)ms;
	}
	if (!ra || !*ra)
		return -1;
	if (isdigit((unsigned char)*ra)) {
		errno = 0;
		unsigned long long s = strtoull(ra, &end, 10);
		if (errno || *end || s > 1000000000ULL)
			return -1;
		return (int64_t)s * 1000;
	}
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *rest = strptime(ra, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!rest || *rest)
		return -1;
	time_t when = timegm(&tm);
	if (when == (time_t)-1)
		return -1;
	int64_t ms = (int64_t)when * 1000 - now_ms;
	return ms > 0 ? ms : 0;
}
