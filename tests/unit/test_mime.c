/*
 * Unit tests of the MIME side of the mail module: quoted-printable, base64,
 * UTF-8 clean-up, encoded-words and folding, address lists, message
 * assembly, and vm_mail_build() on job records (recipients, header
 * injection, attachments).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/job.h"
#include "mail/address.h"
#include "mail/encode.h"
#include "mail/header.h"
#include "mail/mail.h"
#include "mail/mbuf.h"
#include "mail/mime.h"
#include "testenv.h"

/* ------------------------------------------------------------ decoders
 * Independent, deliberately simple decoders: what a mail reader does. */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* QP decode; fails the test on malformed input. */
static char *qp_decode(const char *s, size_t *outlen)
{
	char *out = malloc(strlen(s) + 1);
	size_t o = 0;
	assert_non_null(out);
	for (size_t i = 0; s[i];) {
		if (s[i] == '=') {
			if (s[i + 1] == '\r' && s[i + 2] == '\n') {
				i += 3;
				continue;
			}
			int hi = hexval(s[i + 1]), lo = hi < 0 ? -1 : hexval(s[i + 2]);
			assert_true(hi >= 0 && lo >= 0);
			out[o++] = (char)(hi * 16 + lo);
			i += 3;
		} else {
			out[o++] = s[i++];
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

static int b64val(char c)
{
	const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(t, c) : NULL;
	return p ? (int)(p - t) : -1;
}

static unsigned char *b64_decode(const char *s, size_t n, size_t *outlen)
{
	unsigned char *out = malloc(n + 1);
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	assert_non_null(out);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '=')
			continue;
		int v = b64val(s[i]);
		assert_true(v >= 0);
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* Every line ends with CRLF, no bare CR or LF, no line longer than `max`. */
static void assert_lines(const char *s, size_t len, size_t max)
{
	size_t col = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\r') {
			assert_true(i + 1 < len && s[i + 1] == '\n');
			if (col > max)
				fail_msg("line of %zu > %zu chars: %.80s", col, max, s + i - col);
			col = 0;
			i++;
		} else {
			assert_int_not_equal(s[i], '\n');
			col++;
		}
	}
	assert_int_equal(col, 0);
}

/* A header's value, unfolded: the text after "Name: " up to the next line
 * that does not start with whitespace.  Returns NULL when absent. */
static char *header_value(const char *msg, const char *name)
{
	size_t nl = strlen(name);
	const char *p = msg;
	for (;;) {
		if (strncmp(p, "\r\n", 2) == 0)
			return NULL; /* end of header section */
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':')
			break;
		p = strstr(p, "\r\n");
		if (!p)
			return NULL;
		p += 2;
	}
	p += nl + 1;
	char *out = malloc(strlen(p) + 1);
	size_t o = 0;
	assert_non_null(out);
	for (;;) {
		if (p[0] == '\r' && p[1] == '\n') {
			if (p[2] != ' ' && p[2] != '\t')
				break;
			p += 2; /* unfold: drop the CRLF only */
			continue;
		}
		out[o++] = *p++;
	}
	out[o] = '\0';
	return out;
}

/* Decode an unstructured header value: encoded-words (B, UTF-8) with the
 * whitespace between adjacent ones dropped (RFC 2047 6.2).  Each encoded
 * word must decode to valid UTF-8 on its own: no split characters. */
static char *decode_unstructured(const char *v)
{
	mbuf out = MBUF_INIT;
	const char *p = v;
	while (*p == ' ')
		p++;
	bool prev_ew = false;
	while (*p) {
		if (strncmp(p, "=?UTF-8?B?", 10) == 0) {
			const char *e = strstr(p + 10, "?=");
			assert_non_null(e);
			assert_true((size_t)(e + 2 - p) <= 75);
			size_t n;
			unsigned char *d = b64_decode(p + 10, (size_t)(e - p - 10), &n);
			char *again = text_clean((char *)d, n, CLEAN_UTF8);
			assert_non_null(again);
			assert_memory_equal(again, d, n); /* valid UTF-8 by itself */
			free(again);
			mbuf_add(&out, d, n);
			free(d);
			p = e + 2;
			prev_ew = true;
			continue;
		}
		size_t ws = strspn(p, " \t");
		if (ws && prev_ew && strncmp(p + ws, "=?UTF-8?B?", 10) == 0) {
			p += ws;
			continue;
		}
		prev_ew = false;
		mbuf_putc(&out, *p++);
	}
	return mbuf_take(&out, NULL);
}

/* ---------------------------------------------------- quoted-printable */

static char *qp(const char *in)
{
	mbuf b = MBUF_INIT;
	qp_encode(&b, in, strlen(in));
	return mbuf_take(&b, NULL);
}

/* The input with every line end as CRLF and a final CRLF (what QP gives back). */
static char *crlf(const char *in)
{
	mbuf b = MBUF_INIT;
	size_t n = strlen(in);
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\n' || in[i] == '\r') {
			mbuf_puts(&b, "\r\n");
			if (in[i] == '\r' && in[i + 1] == '\n')
				i++;
		} else {
			mbuf_putc(&b, in[i]);
		}
	}
	if (n && in[n - 1] != '\n' && in[n - 1] != '\r')
		mbuf_puts(&b, "\r\n");
	return mbuf_take(&b, NULL);
}

static void roundtrip_qp(const char *in)
{
	char *enc = qp(in);
	assert_non_null(enc);
	assert_lines(enc, strlen(enc), 76);
	/* No whitespace before a line end, hard or soft. */
	for (const char *p = strstr(enc, "\r\n"); p; p = strstr(p + 1, "\r\n"))
		if (p > enc)
			assert_true(p[-1] != ' ' && p[-1] != '\t');
	size_t n;
	char *dec = qp_decode(enc, &n);
	char *want = crlf(in);
	assert_string_equal(dec, want);
	free(dec);
	free(want);
	free(enc);
}

static void test_qp_long_line(void **st)
{
	(void)st;
	char line[1000];
	for (size_t i = 0; i < sizeof line - 1; i++)
		line[i] = (char)('a' + i % 26);
	line[sizeof line - 1] = '\0';
	char *enc = qp(line);
	assert_non_null(strstr(enc, "=\r\n")); /* soft breaks */
	free(enc);
	roundtrip_qp(line);
}

static void test_qp_trailing_whitespace_and_equals(void **st)
{
	(void)st;
	char *enc = qp("hello  \nworld\t\na=b");
	assert_string_equal(enc, "hello =20\r\nworld=09\r\na=3Db\r\n");
	free(enc);
	roundtrip_qp("trailing space at a soft break                                    x   "
		     "                                    y");
}

static void test_qp_utf8_from_and_dot(void **st)
{
	(void)st;
	char *enc = qp("caf\xC3\xA9\nFrom me\n.\nFromage\n");
	assert_string_equal(enc, "caf=C3=A9\r\n=46rom me\r\n=2E\r\nFromage\r\n");
	free(enc);
}

/* Soft breaks never split an =XX escape, whatever lands at column 73-76. */
static void test_qp_escape_at_every_column(void **st)
{
	(void)st;
	for (size_t pre = 60; pre < 90; pre++) {
		char in[200];
		memset(in, 'x', pre);
		strcpy(in + pre, "=\xC3\xA9 . From =");
		roundtrip_qp(in);
	}
	/* And a seeded random mix. */
	srand(42);
	for (int round = 0; round < 300; round++) {
		char in[400];
		size_t n = (size_t)(rand() % 399);
		const char alphabet[] = "ab =\t.\nF\xC3\xA9rom\r";
		for (size_t i = 0; i < n; i++)
			in[i] = alphabet[rand() % (int)(sizeof alphabet - 1)];
		in[n] = '\0';
		roundtrip_qp(in);
	}
}

/* --------------------------------------------------------------- base64 */

static void test_base64_lines(void **st)
{
	(void)st;
	unsigned char data[1000];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (unsigned char)(i * 37 + 11);
	for (size_t len = 0; len <= sizeof data; len += 97) {
		mbuf b = MBUF_INIT;
		b64_encode(&b, data, len, 76);
		char *enc = mbuf_take(&b, NULL);
		assert_lines(enc, strlen(enc), 76);
		/* All lines but the last are exactly 76 characters. */
		size_t full = 0;
		for (const char *p = enc; *p;) {
			const char *e = strstr(p, "\r\n");
			if (e[2])
				assert_int_equal(e - p, 76), full++;
			p = e + 2;
		}
		assert_int_equal(full, (len + 2) / 3 * 4 / 76 - ((len + 2) / 3 * 4 % 76 == 0 && len));
		size_t n;
		unsigned char *dec = b64_decode(enc, strlen(enc), &n);
		assert_int_equal(n, len);
		assert_memory_equal(dec, data, len);
		free(dec);
		free(enc);
	}
	mbuf b = MBUF_INIT;
	b64_encode(&b, "Ma", 2, 0);
	char *s = mbuf_take(&b, NULL);
	assert_string_equal(s, "TWE=");
	free(s);
}

/* --------------------------------------------------------- text clean-up */

static void test_text_clean(void **st)
{
	(void)st;
	/* Invalid bytes, a cut sequence, an overlong LF, a surrogate. */
	const char in[] = "a\xFF" "b\xC3" "c\xC0\x8A" "d\xED\xA0\x80" "e\xC3\xA9";
	char *s = text_clean(in, sizeof in - 1, CLEAN_HEADER);
	assert_string_equal(s, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD"
			       "d\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "e\xC3\xA9");
	free(s);
	const char *inj = "+1555\r\nBcc: x@evil\t\x1b[1m\xC2\x85";
	s = text_clean(inj, strlen(inj), CLEAN_HEADER);
	assert_string_equal(s, "+1555Bcc: x@evil [1m");
	free(s);
	const char *body = "line1\r\nline2\tx\x07y";
	s = text_clean(body, strlen(body), CLEAN_BODY);
	assert_string_equal(s, "line1\r\nline2\txy");
	free(s);
	char shown[32];
	text_for_log("a\r\nb\x01\xC3\xA9", shown, sizeof shown);
	assert_string_equal(shown, "a\\r\\nb\\x01\\xC3\\xA9");
	text_for_log("0123456789012345678901234567890123456789", shown, 16);
	assert_string_equal(shown, "012345678901...");
}

/* ------------------------------------------------- headers and folding */

static char *one_header(const char *name, const char *value)
{
	mbuf b = MBUF_INIT;
	hdr_unstructured(&b, name, value);
	mbuf_puts(&b, "\r\n"); /* end of header section for header_value() */
	return mbuf_take(&b, NULL);
}

static void check_subject(const char *subject, bool expect_encoded)
{
	char *h = one_header("Subject", subject);
	assert_lines(h, strlen(h), 76);
	char *v = header_value(h, "Subject");
	assert_non_null(v);
	assert_int_equal(strstr(v, "=?UTF-8?B?") != NULL, expect_encoded);
	char *d = decode_unstructured(v);
	assert_string_equal(d, subject);
	free(d);
	free(v);
	free(h);
}

static void test_subject_encoded_words(void **st)
{
	(void)st;
	check_subject("Voicemail message from: +15555550123", false);
	check_subject("Voicemail message from: J\xC3\xB6rg M\xC3\xBCller", true);
	/* Long, all multi-byte: many encoded-words, none splitting a character. */
	mbuf b = MBUF_INIT;
	for (int i = 0; i < 60; i++)
		mbuf_puts(&b, i % 3 ? "\xE6\x97\xA5\xE6\x9C\xAC" : "\xF0\x9F\x93\x9E ");
	char *s = mbuf_take(&b, NULL);
	check_subject(s, true);
	free(s);
	/* ASCII that looks like an encoded-word must be encoded, not trusted. */
	check_subject("=?UTF-8?B?ZXZpbA==?= not decoded", true);
	/* Long ASCII folds at spaces and unfolds to the same text. */
	check_subject("A rather long subject line that goes on and on, well past the "
		      "seventy-eight character limit,  with  double  spaces too",
		      false);
	/* An unbreakable 120-character word: encoded so it can be folded. */
	char word[121];
	memset(word, 'w', 120);
	word[120] = '\0';
	check_subject(word, true);
}

static void test_address_header(void **st)
{
	(void)st;
	mail_addrs l = {0};
	char err[256];
	assert_int_equal(addr_parse_list("\"Doe, Jane\" <jane@example.com>, "
					 "J\xC3\xB6rg M\xC3\xBCller <joerg@example.de>, "
					 "bare@example.org, Pat Owner <pat@example.com>",
					 &l, "recipient", err, sizeof err),
			 0);
	mbuf b = MBUF_INIT;
	hdr_addresses(&b, "To", &l);
	char *h = mbuf_take(&b, NULL);
	assert_lines(h, strlen(h), 76);
	assert_non_null(strstr(h, "\"Doe, Jane\" <jane@example.com>,"));
	assert_non_null(strstr(h, "=?UTF-8?B?"));
	assert_non_null(strstr(h, "<joerg@example.de>,"));
	assert_non_null(strstr(h, " bare@example.org,"));
	assert_non_null(strstr(h, "Pat Owner <pat@example.com>"));
	free(h);
	addr_list_free(&l);
}

/* ------------------------------------------------------- address lists */

static void test_address_parse(void **st)
{
	(void)st;
	mail_addrs l = {0};
	char err[256];
	assert_int_equal(addr_parse_list(" a@x.org ,\"Smith, J. \\\"JJ\\\"\" <j@y.com>,,"
					 "Name <n@z.net> , <angle@only.io>",
					 &l, "recipient", err, sizeof err),
			 0);
	assert_int_equal(l.n, 4);
	assert_null(l.v[0].name);
	assert_string_equal(l.v[0].addr, "a@x.org");
	assert_string_equal(l.v[1].name, "Smith, J. \"JJ\"");
	assert_string_equal(l.v[1].addr, "j@y.com");
	assert_string_equal(l.v[2].name, "Name");
	assert_string_equal(l.v[2].addr, "n@z.net");
	assert_null(l.v[3].name);
	assert_string_equal(l.v[3].addr, "angle@only.io");
	addr_list_free(&l);

	static const struct {
		const char *in, *msg;
	} bad[] = {
		{"no-at-sign", "invalid recipient address 'no-at-sign': no '@'"},
		{"ok@x.org, x@evil\r\nBcc: y@evil",
		 "invalid recipient address 'x@evil\\r\\nBcc: y@evil': control character"},
		{"Name <a@b.c> trailing", "invalid recipient address 'Name <a@b.c> trailing': text after '>'"},
		{"\"unterminated <a@b.c>", "invalid recipient address '\"unterminated <a@b.c>': unterminated quoted name"},
		{"Name <a@b.c", "invalid recipient address 'Name <a@b.c': missing '>'"},
		{"@x.org", "invalid recipient address '@x.org': empty local part"},
		{"a@", "invalid recipient address 'a@': empty domain"},
		{"a b@x.org", "invalid recipient address 'a b@x.org': space in address"},
		{"a..b@x.org", "invalid recipient address 'a..b@x.org': misplaced '.' in local part"},
		{"a@x_y.org", "invalid recipient address 'a@x_y.org': character not allowed in domain"},
		{"j\xC3\xB6rg@x.de", "invalid recipient address 'j\\xC3\\xB6rg@x.de': non-ASCII address (not supported)"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		mail_addrs m = {0};
		assert_int_equal(addr_parse_list(bad[i].in, &m, "recipient", err, sizeof err), -1);
		assert_string_equal(err, bad[i].msg);
		assert_int_equal(m.n, 0); /* nothing half-added */
		addr_list_free(&m);
	}
}

/* ---------------------------------------------------- message assembly */

static void test_date_and_message_id(void **st)
{
	(void)st;
	char d[64];
	mime_format_date(0, d, sizeof d);
	assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 +0000");
	mime_format_date(1733931005123, d, sizeof d);
	assert_string_equal(d, "Wed, 11 Dec 2024 15:30:05 +0000");
	char *a = mime_message_id(NULL, "vm@example.com"), *b = mime_message_id(NULL, "vm@example.com");
	assert_int_equal(strlen(a), 1 + 32 + 1 + 11 + 1);
	assert_true(a[0] == '<' && strstr(a, "@example.com>"));
	assert_string_not_equal(a, b);
	free(a);
	free(b);
	a = mime_message_id("0123456789abcdef0123456789abcdef", "vm@example.com");
	assert_string_equal(a, "<0123456789abcdef0123456789abcdef@example.com>");
	free(a);
	assert_true(mime_valid_type("audio/x-wav"));
	assert_false(mime_valid_type("audio/wav\r\nBcc: x"));
	assert_false(mime_valid_type("audio"));
	assert_false(mime_valid_type("audio/wav; name=x"));
}

static void test_build_structure(void **st)
{
	(void)st;
	mail_addrs from = {0}, to = {0};
	char err[128];
	assert_int_equal(addr_parse_list("Voicemail <vm@example.com>", &from, "from", err, sizeof err), 0);
	assert_int_equal(addr_parse_list("a@example.com", &to, "to", err, sizeof err), 0);
	unsigned char audio[300];
	for (size_t i = 0; i < sizeof audio; i++)
		audio[i] = (unsigned char)i;
	mime_attachment att = {audio, sizeof audio, "audio/wav", "voicemail-1.wav"};
	mime_msg m = {.from = &from, .to = &to, .subject = "Hi", .text = "text\n",
		      .html = "<p>html</p>\n", .attachment = &att, .date_ms = 0,
		      .message_id = "<x@example.com>"};
	size_t len;
	char *msg = mime_build(&m, &len);
	assert_non_null(msg);
	assert_int_equal(strlen(msg), len);
	assert_lines(msg, len, 78);
	assert_true(strncmp(msg, "Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n", 39) == 0);
	assert_non_null(strstr(msg, "\r\nMIME-Version: 1.0\r\n"));
	assert_non_null(strstr(msg, "\r\nMessage-ID: <x@example.com>\r\n"));
	assert_non_null(strstr(msg, "\r\nContent-Type: multipart/mixed; boundary=\"=_vmpipe_mix_"));
	assert_non_null(strstr(msg, "\r\nContent-Type: multipart/alternative; boundary=\"=_vmpipe_alt_"));
	const char *plain = strstr(msg, "Content-Type: text/plain; charset=utf-8");
	const char *html = strstr(msg, "Content-Type: text/html; charset=utf-8");
	const char *wav = strstr(msg, "Content-Type: audio/wav; name=\"voicemail-1.wav\"");
	assert_true(plain && html && wav && plain < html && html < wav);
	assert_non_null(strstr(msg, "Content-Disposition: attachment; filename=\"voicemail-1.wav\""));
	/* The attachment decodes to the bytes. */
	const char *body = strstr(wav, "\r\n\r\n") + 4;
	const char *end = strstr(body, "--=_vmpipe_mix_");
	size_t n;
	unsigned char *dec = b64_decode(body, (size_t)(end - body), &n);
	assert_int_equal(n, sizeof audio);
	assert_memory_equal(dec, audio, n);
	free(dec);
	assert_null(strstr(msg, "\r\nCc:"));
	assert_null(strstr(msg, "\r\nReply-To:"));
	free(msg);

	/* Without attachment: multipart/alternative at the top; no To. */
	mail_addrs none = {0};
	m.attachment = NULL;
	m.to = &none;
	msg = mime_build(&m, &len);
	assert_non_null(strstr(msg, "\r\nContent-Type: multipart/alternative;"));
	assert_null(strstr(msg, "multipart/mixed"));
	assert_null(strstr(msg, "\r\nTo:"));
	free(msg);
	addr_list_free(&from);
	addr_list_free(&to);
}

/* Mostly non-ASCII text goes base64 (QP would triple it), the rest QP. */
static void test_build_transfer_encoding(void **st)
{
	(void)st;
	mail_addrs from = {0};
	char err[128];
	assert_int_equal(addr_parse_list("vm@example.com", &from, "from", err, sizeof err), 0);
	mbuf cjk = MBUF_INIT;
	for (int i = 0; i < 100; i++)
		mbuf_puts(&cjk, "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\n");
	char *text = mbuf_take(&cjk, NULL);
	mime_msg m = {.from = &from, .subject = "s", .text = text, .html = "<p>x</p>",
		      .message_id = "<x@y>"};
	char *msg = mime_build(&m, NULL);
	const char *plain = strstr(msg, "text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64");
	assert_non_null(plain);
	assert_non_null(strstr(msg, "text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"));
	/* The base64 text decodes to the text in canonical CRLF form. */
	const char *b = strstr(plain, "\r\n\r\n") + 4;
	const char *e = strstr(b, "--=_vmpipe_alt_");
	size_t n;
	unsigned char *dec = b64_decode(b, (size_t)(e - b), &n);
	char *want = crlf(text);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(dec, want, n);
	free(dec);
	free(want);
	free(msg);
	free(text);
	addr_list_free(&from);
}

/* ------------------------------------------------ vm_mail_build on jobs */

struct fixture {
	vm_mail_opts opts;
	char dir[200];
};

static int setup(void **st)
{
	struct fixture *f = calloc(1, sizeof *f);
	char *d = test_tmpdir("mime");
	assert_non_null(d);
	snprintf(f->dir, sizeof f->dir, "%s", d);
	free(d);
	f->opts.from = "Voicemail <vm@example.com>";
	f->opts.attach_max = 1024 * 1024;
	*st = f;
	return 0;
}

static int teardown(void **st)
{
	struct fixture *f = *st;
	vm_mail_fini(&f->opts);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

static vm_job *job(const char *json)
{
	char err[256];
	vm_job *j = job_from_string(json, err, sizeof err);
	if (!j)
		fail_msg("bad job JSON: %s", err);
	return j;
}

static void init_opts(struct fixture *f)
{
	char err[256];
	if (mail_setup(f->dir, &f->opts, err, sizeof err) != 0)
		fail_msg("mail_setup: %s", err);
}

static void test_mail_header_injection(void **st)
{
	struct fixture *f = *st;
	init_opts(f);
	vm_job *j = job("{\"id\":\"j1\",\"contact\":{\"caller\":\"+1555\\r\\nBcc: x@evil\"},"
			"\"recipient\":{\"email\":\"owner@example.com\","
			"\"name\":\"Pat\\r\\nX-Evil: 1\"}}");
	vm_mail m;
	assert_int_equal(vm_mail_build(j, &f->opts, &m), VM_DONE);
	assert_lines(m.data, m.len, 998);
	const char *hdr_end = strstr(m.data, "\r\n\r\n");
	assert_non_null(hdr_end);
	for (const char *p = m.data; p && p < hdr_end; p = strstr(p, "\r\n"), p = p ? p + 2 : p) {
		assert_true(strncasecmp(p, "Bcc:", 4) != 0);
		assert_true(strncasecmp(p, "X-Evil:", 7) != 0);
	}
	char *subj = header_value(m.data, "Subject");
	char *dec = decode_unstructured(subj);
	assert_string_equal(dec, "Voicemail message from: +1555Bcc: x@evil");
	free(dec);
	free(subj);
	assert_string_equal(m.rcpt[0], "owner@example.com");
	assert_null(m.rcpt[1]);
	assert_string_equal(m.envelope_from, "vm@example.com");
	vm_mail_free(&m);
	job_free(j);
}

static void test_mail_recipients(void **st)
{
	struct fixture *f = *st;
	f->opts.to = "fallback@example.com";
	f->opts.cc = "Cc Person <cc@example.com>";
	f->opts.bcc = "hidden@example.com, OWNER@example.com";
	f->opts.reply_to = "support@example.com";
	init_opts(f);

	vm_job *j = job("{\"id\":\"j2\",\"recipient\":{\"email\":\"owner@example.com, b@example.com\"}}");
	vm_mail m;
	assert_int_equal(vm_mail_build(j, &f->opts, &m), VM_DONE);
	char *to = header_value(m.data, "To");
	assert_string_equal(to, " owner@example.com, b@example.com");
	free(to);
	assert_null(header_value(m.data, "Bcc"));
	assert_null(strstr(m.data, "hidden@"));
	char *cc = header_value(m.data, "Cc");
	assert_string_equal(cc, " Cc Person <cc@example.com>");
	free(cc);
	char *rt = header_value(m.data, "Reply-To");
	assert_string_equal(rt, " support@example.com");
	free(rt);
	const char *want[] = {"owner@example.com", "b@example.com", "cc@example.com",
			      "hidden@example.com", NULL}; /* OWNER@ is a duplicate */
	for (size_t i = 0; want[i]; i++)
		assert_string_equal(m.rcpt[i], want[i]);
	assert_null(m.rcpt[4]);
	vm_mail_free(&m);
	job_free(j);

	/* No recipient in the job: the notifier's `to`. */
	j = job("{\"id\":\"j3\"}");
	assert_int_equal(vm_mail_build(j, &f->opts, &m), VM_DONE);
	to = header_value(m.data, "To");
	assert_string_equal(to, " fallback@example.com");
	free(to);
	vm_mail_free(&m);
	job_free(j);

	/* A bad recipient: permanent, named, sanitised. */
	j = job("{\"id\":\"j4\",\"recipient\":{\"email\":\"ok@example.com, evil\\r\\nBcc: x@y\"}}");
	assert_int_equal(vm_mail_build(j, &f->opts, &m), VM_PERMANENT);
	assert_string_equal(j->fail_msg,
			    "invalid recipient address 'evil\\r\\nBcc: x@y': control character");
	assert_null(m.data);
	job_free(j);
	j = job("{\"id\":\"j5\",\"recipient\":{\"email\":\"nobody\"}}");
	assert_int_equal(vm_mail_build(j, &f->opts, &m), VM_PERMANENT);
	assert_string_equal(j->fail_msg, "invalid recipient address 'nobody': no '@'");
	job_free(j);
}

static void test_mail_no_recipient(void **st)
{
	struct fixture *f = *st;
	init_opts(f);
	vm_job *j = job("{\"id\":\"j6\",\"contact\":{\"caller\":\"+15555550123\"}}");
	vm_mail m;
	assert_int_equal(vm_mail_build(j, &f->opts, &m), VM_DONE);
	assert_null(header_value(m.data, "To"));
	assert_non_null(m.rcpt);
	assert_null(m.rcpt[0]);
	assert_non_null(strstr(m.data, "\r\nFrom: Voicemail <vm@example.com>\r\n"));
	char *mid = header_value(m.data, "Message-ID");
	assert_non_null(mid);
	assert_string_equal(mid + 1, m.message_id);
	assert_non_null(strstr(m.message_id, "@example.com>"));
	free(mid);
	vm_mail_free(&m);
	job_free(j);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	fclose(fp);
}

/* The decoded text/plain body of a built message (malloc()ed). */
static char *plain_body(const vm_mail *m)
{
	const char *p = strstr(m->data, "Content-Type: text/plain");
	assert_non_null(p);
	const char *b = strstr(p, "\r\n\r\n");
	assert_non_null(b);
	b += 4;
	const char *e = strstr(b, "\r\n--=_vmpipe_alt_");
	assert_non_null(e);
	char *enc = strndup(b, (size_t)(e - b));
	size_t n;
	char *dec = qp_decode(enc, &n);
	free(enc);
	return dec;
}

/* The body says what became of the attachment: exactly one of the sentences. */
static void assert_attachment_note(const vm_mail *m, const char *want)
{
	static const char *const notes[] = {
		"The recording is attached to this message.",
		"The recording is too large to attach to this message (the limit is ",
		"The recording could not be attached to this message",
	};
	char *text = plain_body(m);
	for (size_t i = 0; i < sizeof notes / sizeof *notes; i++) {
		bool there = strstr(text, notes[i]) != NULL;
		if (there != (want && strcmp(want, notes[i]) == 0))
			fail_msg("'%s' %s in:\n%s", notes[i], there ? "unexpected" : "missing", text);
	}
	free(text);
}

static void test_mail_attachment(void **st)
{
	struct fixture *f = *st;
	char wav[256], json[768];
	snprintf(wav, sizeof wav, "%s/rec.wav", f->dir);
	unsigned char audio[5000];
	for (size_t i = 0; i < sizeof audio; i++)
		audio[i] = (unsigned char)(i * 7);
	write_file(wav, audio, sizeof audio);
	f->opts.attach = VM_ATTACH_YES;
	init_opts(f);
	snprintf(json, sizeof json,
		 "{\"id\":\"c-1/../x\",\"recipient\":{\"email\":\"a@example.com\"},"
		 "\"recording\":{\"uri\":\"file://%s\",\"content_type\":\"audio/x-wav\"}}", wav);
	vm_job *j = job(json);
	vm_mail m;
	assert_int_equal(vm_mail_build(j, &f->opts, &m), VM_DONE);
	assert_lines(m.data, m.len, 78);
	assert_non_null(strstr(m.data, "Content-Type: audio/x-wav; name=\"voicemail-c-1_.._x.wav\""));
	const char *b = strstr(strstr(m.data, "filename=\"voicemail-c-1_.._x.wav\""), "\r\n\r\n") + 4;
	const char *e = strstr(b, "--=_vmpipe_mix_");
	size_t n;
	unsigned char *dec = b64_decode(b, (size_t)(e - b), &n);
	assert_int_equal(n, sizeof audio);
	assert_memory_equal(dec, audio, n);
	free(dec);
	assert_attachment_note(&m, "The recording is attached to this message.");
	vm_mail_free(&m);
	job_free(j);

	/* A missing recording costs only the attachment, and the mail says so. */
	j = job("{\"id\":\"j7\",\"recording\":{\"uri\":\"file:///nonexistent/rec.wav\"}}");
	assert_int_equal(vm_mail_build(j, &f->opts, &m), VM_DONE);
	assert_null(j->fail_msg);
	assert_null(strstr(m.data, "multipart/mixed"));
	assert_attachment_note(&m, "The recording could not be attached to this message");
	char *text = plain_body(&m);
	/* A file:// recording is never offered as a link: the mail says where it is kept. */
	assert_null(strstr(text, "please use the link above"));
	assert_non_null(strstr(text, "It is kept on the voicemail server as /nonexistent/rec.wav"));
	free(text);
	vm_mail_free(&m);
	job_free(j);

	/* No recording at all (not found): nothing to say about an attachment. */
	j = job("{\"id\":\"j9\"}");
	assert_int_equal(vm_mail_build(j, &f->opts, &m), VM_DONE);
	assert_attachment_note(&m, NULL);
	vm_mail_free(&m);
	job_free(j);
	vm_mail_fini(&f->opts);

	/* yes: up to attach_max (5000 bytes fit 5000, not 4999), known size or not. */
	for (int64_t max = 4999; max <= 5000; max++) {
		f->opts.attach_max = max;
		init_opts(f);
		for (int with_size = 0; with_size < 2; with_size++) {
			snprintf(json, sizeof json,
				 "{\"id\":\"j6\",\"recording\":{\"uri\":\"file://%s\"%s}}", wav,
				 with_size ? ",\"size\":5000" : "");
			j = job(json);
			assert_int_equal(vm_mail_build(j, &f->opts, &m), VM_DONE);
			assert_null(j->fail_msg);
			assert_int_equal(strstr(m.data, "multipart/mixed") != NULL, max == 5000);
			assert_attachment_note(&m, max == 5000
				? "The recording is attached to this message."
				: "The recording is too large to attach to this message (the limit is ");
			vm_mail_free(&m);
			job_free(j);
		}
		vm_mail_fini(&f->opts);
	}

	/* smaller-than: 5000 bytes is not smaller than 5000, but is than 5001. */
	f->opts.attach = VM_ATTACH_SMALLER;
	for (int64_t max = 4999; max <= 5001; max++) {
		f->opts.attach_max = max;
		init_opts(f);
		for (int with_size = 0; with_size < 2; with_size++) {
			snprintf(json, sizeof json,
				 "{\"id\":\"j8\",\"recording\":{\"uri\":\"file://%s\"%s}}", wav,
				 with_size ? ",\"size\":5000" : "");
			j = job(json);
			assert_int_equal(vm_mail_build(j, &f->opts, &m), VM_DONE);
			assert_null(j->fail_msg);
			assert_int_equal(strstr(m.data, "multipart/mixed") != NULL, max > 5000);
			if (max > 5000)
				assert_non_null(strstr(m.data, "Content-Type: audio/wav; name=\"voicemail-j8.wav\""));
			assert_attachment_note(&m, max > 5000
				? "The recording is attached to this message."
				: "The recording is too large to attach to this message (the limit is ");
			if (max <= 5000) {
				char *body = plain_body(&m);
				/* A file:// recording: where it is kept, never "the link above". */
				assert_non_null(strstr(body, "(the limit is 4.9 KB)."));
				assert_non_null(strstr(body, "It is kept on the voicemail server as "));
				assert_null(strstr(body, "please use the link above"));
				free(body);
			}
			vm_mail_free(&m);
			job_free(j);
		}
		vm_mail_fini(&f->opts);
	}
}

static void test_mail_setup_errors(void **st)
{
	struct fixture *f = *st;
	char err[512];
	f->opts.from = "not an address";
	assert_int_equal(mail_setup(f->dir, &f->opts, err, sizeof err), -1);
	assert_string_equal(err, "invalid from address 'not an address': space in address");
	assert_null(f->opts.priv);
	f->opts.from = "a@example.com, b@example.com";
	assert_int_equal(mail_setup(f->dir, &f->opts, err, sizeof err), -1);
	assert_string_equal(err, "from: exactly one address expected, got 2");
	f->opts.from = NULL; /* the default */
	f->opts.cc = "bad@";
	assert_int_equal(mail_setup(f->dir, &f->opts, err, sizeof err), -1);
	assert_string_equal(err, "invalid cc address 'bad@': empty domain");
	f->opts.cc = NULL;
	f->opts.template_html = "missing.html";
	assert_int_equal(mail_setup(f->dir, &f->opts, err, sizeof err), -1);
	char want[512];
	snprintf(want, sizeof want, "template_html '%s/missing.html': No such file or directory", f->dir);
	assert_string_equal(err, want);
}

/* The recipient rules every mail notifier shares: what mail_check_recipients()
 * says at intake is what vm_mail_build() fails with, word for word. */
static void test_mail_recipient_rules(void **st)
{
	struct fixture *f = *st;
	char err[512], why[512];
	f->opts.cc = "Desk <desk@example.com>";
	init_opts(f);
	assert_int_equal(mail_setup_allowed(&f->opts, "x@example.com", err, sizeof err), -1);
	assert_string_equal(err, "option 'allowed_recipient_domains': 'x@example.com': write the domain "
				 "only, without a local part");
	assert_int_equal(mail_setup_allowed(&f->opts, "example.org", err, sizeof err), -1);
	assert_string_equal(err, "option 'cc': desk@example.com is outside allowed_recipient_domains "
				 "(example.org)");
	assert_int_equal(mail_setup_allowed(&f->opts, "Example.com, *.example.org", err, sizeof err), 0);

	static const struct { const char *email, *refusal; } cases[] = {
		{"owner@example.com", NULL},
		{"a@sales.example.org, b@EXAMPLE.com", NULL},
		{"owner@example.com, mallory@evil.example", "recipient mallory@evil.example is outside "
		 "allowed_recipient_domains (example.com, *.example.org): nothing sent"},
		{"x@example.org", "recipient x@example.org is outside allowed_recipient_domains "
		 "(example.com, *.example.org): nothing sent"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char json[256];
		snprintf(json, sizeof json, "{\"id\":\"r%zu\",\"recipient\":{\"email\":\"%s\"}}", i,
			 cases[i].email);
		vm_job *j = job(json);
		int rc = mail_check_recipients(j, &f->opts, why, sizeof why);
		vm_mail m;
		vm_status s = vm_mail_build(j, &f->opts, &m);
		if (!cases[i].refusal) {
			assert_int_equal(rc, 0);
			assert_int_equal(s, VM_DONE);
			vm_mail_free(&m);
		} else {
			assert_int_equal(rc, -1);
			assert_string_equal(why, cases[i].refusal);
			assert_int_equal(s, VM_PERMANENT);
			assert_string_equal(j->fail_msg, cases[i].refusal);
		}
		job_free(j);
	}
	/* No recipient: fine for a notifier that files the message, refused for one that sends. */
	vm_job *j = job("{\"id\":\"r9\"}");
	assert_int_equal(mail_check_recipients(j, &f->opts, why, sizeof why), 0); /* the cc is one */
	vm_mail_fini(&f->opts);
	f->opts.cc = NULL;
	init_opts(f);
	assert_int_equal(mail_check_recipients(j, &f->opts, why, sizeof why), 0);
	vm_mail_require_recipient(&f->opts);
	assert_int_equal(mail_check_recipients(j, &f->opts, why, sizeof why), -1);
	assert_string_equal(why, "no recipient: the event names none (recipient.email) and no 'to' is configured");
	vm_mail m;
	assert_int_equal(vm_mail_build(j, &f->opts, &m), VM_PERMANENT);
	assert_string_equal(j->fail_msg, why);
	job_free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qp_long_line),
		cmocka_unit_test(test_qp_trailing_whitespace_and_equals),
		cmocka_unit_test(test_qp_utf8_from_and_dot),
		cmocka_unit_test(test_qp_escape_at_every_column),
		cmocka_unit_test(test_base64_lines),
		cmocka_unit_test(test_text_clean),
		cmocka_unit_test(test_subject_encoded_words),
		cmocka_unit_test(test_address_header),
		cmocka_unit_test(test_address_parse),
		cmocka_unit_test(test_date_and_message_id),
		cmocka_unit_test(test_build_structure),
		cmocka_unit_test(test_build_transfer_encoding),
		cmocka_unit_test_setup_teardown(test_mail_header_injection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mail_recipients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mail_no_recipient, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mail_attachment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mail_setup_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mail_recipient_rules, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
