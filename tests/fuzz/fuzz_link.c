/*
 * libFuzzer: the recording-link verifier (engine/core/link.c link_verify, and
 * link_click for the Function URL event around it), with a link
 * configuration of fixed secrets.  Written against the public functions
 * only, not the signature format: a new format keeps this target valid.
 *
 * Input, first byte even: a random query (the rest of the input), as a
 * click could send it; it must never verify (OK or EXPIRED both mean
 * "genuinely signed").  The Function URL event around it is answered 403 or
 * 404/405, never with a redirect.
 *
 * First byte odd: a genuine link, then edits.  The input is
 *   bucket NUL key NUL expiry(8 bytes, little-endian) edits...
 * link_make() signs bucket/key/expiry (or refuses); the unedited query must
 * verify, with exactly that bucket, key and expiry.  Then each edit (3 bytes:
 * what, where, a byte) changes the query: insert, delete, replace, a %XX
 * escape, a field boundary moved, a parameter repeated, dropped or swapped.
 * Property: whatever verifies (OK or EXPIRED) carries exactly the bucket,
 * key and expiry that were signed -- an edit may leave the meaning alone
 * (an unknown parameter, %61 for 'a'), never change it.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/link.h"
#include "runtime/lambda/link_click.h"
#include "core/log.h"
#include "fuzz.h"

#define NOW_S 1765000000LL /* 2025-12-06: a fixed "now" keeps runs reproducible */
#define QMAX 8192

static struct link_cfg cfg;

static void setup(void)
{
	log_setup(VM_LOG_ERROR + 0, LOG_FORMAT_JSON);
	/* Two fixed keys: the current one and a previous one still accepted. */
	setenv("VMPIPE_LINK_BASE_URL", "https://abcdefghij.lambda-url.eu-west-1.on.aws/", 1);
	setenv("VMPIPE_LINK_SECRET", "fuzz-secret-0123456789abcdef0123456789abcdef", 1);
	setenv("VMPIPE_LINK_SECRET_PREVIOUS", "fuzz-previous-secret-0123456789abcdef012345", 1);
	unsetenv("VMPIPE_LINK_SECRET_FILE");
	unsetenv("VMPIPE_LINK_REDIRECT_TTL");
	char err[300];
	CHECK(link_config_from_env(&cfg, err, sizeof err) == 0 && cfg.enabled,
	      "the fixed link configuration is refused: %s", err);
}

static bool genuine(enum link_verdict v) { return v == LINK_OK || v == LINK_EXPIRED; }

/* `s` on one line for a report (a newline as \n, other bytes as \xNN), in
 * one of five static buffers: a report shows up to five strings. */
static const char *shown(int slot, const char *s)
{
	static char buf[5][600];
	char *o = buf[slot % 5];
	size_t n = 0;
	const unsigned char *p = (const unsigned char *)(s ? s : "(null)");
	for (; *p && n + 5 < sizeof buf[0]; p++)
		n += (size_t)(*p == '\n' ? snprintf(o + n, 5, "\\n")
			      : *p < 0x20 || *p >= 0x7f ? snprintf(o + n, 5, "\\x%02x", *p)
							: snprintf(o + n, 5, "%c", *p));
	o[n] = '\0';
	return o;
}

/* A random query: never genuine; the click gets no redirect. */
static void random_query(const uint8_t *data, size_t size)
{
	char *q = strndup((const char *)data, size);
	CHECK(q, "out of memory");
	char *bucket = (char *)1, *key = (char *)1;
	int64_t exp = 1;
	enum link_verdict v = link_verify(&cfg, q, NOW_S, &bucket, &key, &exp);
	CHECK(!genuine(v), "a random query verified: \"%s\" (bucket '%s', key '%s', expires %lld)",
	      shown(0, q), shown(1, bucket), shown(2, key), (long long)exp);
	CHECK(!bucket && !key, "refused, yet bucket/key were returned");

	/* The click around it (no network: nothing genuine reaches S3). */
	json_t *ev = json_pack("{s:s, s:s, s:s, s:{s:{s:s}}}", "version", "2.0", "rawPath",
			       size && data[0] == '/' ? "/other" : LINK_PATH, "rawQueryString", "",
			       "requestContext", "http", "method", size > 1 && data[1] == 'P' ? "POST" : "GET");
	CHECK(ev, "out of memory");
	json_t *qs = json_string(q);
	if (qs) { /* not UTF-8: Function URLs only deliver strings, skip */
		json_object_set_new(ev, "rawQueryString", qs);
		int status = 0;
		char *answer = link_click(&cfg, NULL, ev, NOW_S * 1000, &status);
		CHECK(answer, "no answer (out of memory?)");
		CHECK(status == 403 || status == 404 || status == 405, "a random click got HTTP %d", status);
		CHECK(!strstr(answer, "\"Location\""), "a random click was redirected: %s", answer);
		free(answer);
	}
	json_decref(ev);
	free(q);
}

/* The query of a link: what follows '?'. */
static const char *query_of(const char *url)
{
	const char *q = strchr(url, '?');
	return q ? q + 1 : url + strlen(url);
}

/* Apply one 3-byte edit to q (NUL-terminated, room for QMAX). */
static void edit(char *q, const uint8_t *e)
{
	size_t n = strlen(q);
	size_t at = n ? e[1] % (n + 1) : 0;
	char c = (char)e[2];
	static const char hex[] = "0123456789ABCDEF";
	switch (e[0] % 8) {
	case 0: /* insert a byte */
		if (n + 1 < QMAX && c) {
			memmove(q + at + 1, q + at, n - at + 1);
			q[at] = c;
		}
		break;
	case 1: /* delete a byte */
		if (at < n)
			memmove(q + at, q + at + 1, n - at);
		break;
	case 2: /* replace a byte */
		if (at < n && c)
			q[at] = c;
		break;
	case 3: /* insert a %XX escape of the byte */
		if (n + 3 < QMAX) {
			memmove(q + at + 3, q + at, n - at + 1);
			q[at] = '%';
			q[at + 1] = hex[(uint8_t)c >> 4];
			q[at + 2] = hex[(uint8_t)c & 15];
		}
		break;
	case 4: { /* move a field boundary: the '&' nearest `at` goes c%16 - 8 places */
		char *amp = strchr(q + at, '&');
		if (!amp)
			amp = strrchr(q, '&');
		if (!amp)
			break;
		int shift = (int)((uint8_t)c % 16) - 8;
		size_t from = (size_t)(amp - q);
		size_t name = strcspn(amp + 1, "=&") + 1; /* "&key=" moves as one */
		if (amp[name] == '=')
			name++;
		if ((shift < 0 && from < (size_t)-shift) || from + name + (size_t)(shift > 0 ? shift : 0) > n)
			break;
		char tmp[64];
		if (name > sizeof tmp)
			break;
		memcpy(tmp, amp, name);
		if (shift < 0) {
			size_t to = from - (size_t)-shift;
			memmove(q + to + name, q + to, from - to);
			memcpy(q + to, tmp, name);
		} else {
			memmove(q + from, q + from + name, (size_t)shift);
			memcpy(q + from + (size_t)shift, tmp, name);
		}
		break;
	}
	case 5: { /* repeat the parameter at `at` at the end */
		size_t b = at;
		while (b > 0 && q[b - 1] != '&')
			b--;
		size_t l = strcspn(q + b, "&");
		if (n + 1 + l < QMAX) {
			char *copy = strndup(q + b, l);
			if (copy) {
				q[n] = '&';
				memcpy(q + n + 1, copy, l);
				q[n + 1 + l] = '\0';
				free(copy);
			}
		}
		break;
	}
	case 6: { /* drop the parameter at `at` */
		size_t b = at;
		while (b > 0 && q[b - 1] != '&')
			b--;
		size_t l = strcspn(q + b, "&");
		memmove(q + b, q + b + l + (q[b + l] ? 1 : 0), n - b - l + (q[b + l] ? 0 : 1));
		break;
	}
	default: { /* swap the first parameter with the one at `at` */
		size_t b = at;
		while (b > 0 && q[b - 1] != '&')
			b--;
		size_t l0 = strcspn(q, "&"), l = strcspn(q + b, "&");
		if (b == 0 || b < l0 + 1)
			break;
		char *buf = malloc(n + 1);
		if (!buf)
			break;
		/* first | middle | this | rest  ->  this | middle | first | rest */
		size_t mid = b - l0;
		memcpy(buf, q + b, l);
		memcpy(buf + l, q + l0, mid);
		memcpy(buf + l + mid, q, l0);
		memcpy(buf + l + mid + l0, q + b + l, n - b - l + 1);
		memcpy(q, buf, n + 1);
		free(buf);
		break;
	}
	}
}

static void genuine_link(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	const char *z1 = memchr(p, '\0', (size_t)(end - p));
	const char *z2 = z1 ? memchr(z1 + 1, '\0', (size_t)(end - z1 - 1)) : NULL;
	if (!z2 || end - (z2 + 1) < 8)
		return;
	const char *bucket = p, *key = z1 + 1;
	uint64_t raw = 0;
	for (int i = 7; i >= 0; i--)
		raw = raw << 8 | (uint8_t)z2[1 + i];
	/* An expiry is a positive epoch second (the past gives an expired link). */
	int64_t exp = 1 + (int64_t)(raw % ((uint64_t)1 << 62));
	const uint8_t *edits = (const uint8_t *)z2 + 9;
	size_t nedits = (size_t)((const uint8_t *)end - edits) / 3;

	char *url = link_make(&cfg, bucket, key, exp);
	if (!url)
		return; /* refused to sign it (empty, not UTF-8, …): nothing to verify */
	char *q = calloc(1, QMAX);
	CHECK(q, "out of memory");
	snprintf(q, QMAX, "%s", query_of(url));
	CHECK(strlen(query_of(url)) < QMAX, "a link of %zu bytes", strlen(url));

	char *b = NULL, *k = NULL;
	int64_t e = 0;
	enum link_verdict v = link_verify(&cfg, q, NOW_S, &b, &k, &e);
	CHECK(genuine(v), "a link just made does not verify (%d): %s", v, url);
	CHECK(b && k && strcmp(b, bucket) == 0 && strcmp(k, key) == 0 && e == exp,
	      "the link made for '%s' '%s' %lld verifies as '%s' '%s' %lld", shown(0, bucket),
	      shown(1, key), (long long)exp, shown(2, b), shown(3, k), (long long)e);
	CHECK((v == LINK_EXPIRED) == (exp < NOW_S), "verdict %d for expiry %lld", v, (long long)exp);
	free(b);
	free(k);

	for (size_t i = 0; i < nedits && i < 16; i++) {
		edit(q, edits + 3 * i);
		b = k = NULL;
		v = link_verify(&cfg, q, NOW_S, &b, &k, &e);
		if (genuine(v))
			CHECK(strcmp(b, bucket) == 0 && strcmp(k, key) == 0 && e == exp,
			      "forged: the link for bucket '%s' key '%s' expiry %lld, edited to \"%s\", "
			      "verifies as bucket '%s' key '%s' expiry %lld",
			      shown(0, bucket), shown(1, key), (long long)exp, shown(4, q), shown(2, b),
			      shown(3, k), (long long)e);
		else
			CHECK(!b && !k, "refused, yet bucket/key were returned");
		free(b);
		free(k);
	}
	free(q);
	free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		setup();
		ready = true;
	}
	if (size < 1)
		return 0;
	if (data[0] & 1)
		genuine_link(data + 1, size - 1);
	else
		random_query(data + 1, size - 1);
	return 0;
}
