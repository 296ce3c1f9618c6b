/*
 * Unit tests of the PBX voicemail mail reader (engine/mail/pbxmail.c on
 * engine/mail/read.c).  The mails are built here the way the PBXs write
 * them: Asterisk's app_voicemail through its mailcmd (LF line ends, the
 * X-Asterisk-CallerID pair, Message-ID <Asterisk-N-RANDOM-MAILBOX-PID@HOST>,
 * msg0000.WAV / .gsm / .wav in base64 lines of 72, a lone "." after the
 * closing boundary), the X-Asterisk-VM-* set of its IMAP storage (CRLF,
 * Q-encoded names folded over lines), and FreeSWITCH's switch_simple_email
 * with the vanilla template (a multipart/alternative inside the
 * multipart/mixed, X-Voicemail-Length).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "mail/mbuf.h"
#include "mail/read.h"
#include "mail/pbxmail.h"
#include "testenv.h"

/* 100 bytes standing in for the audio: a RIFF header and some data. */
static unsigned char audio[100];

static int setup(void **st)
{
	(void)st;
	memcpy(audio, "RIFF\x5c\0\0\0WAVEfmt ", 16);
	for (size_t i = 16; i < sizeof audio; i++)
		audio[i] = (unsigned char)(i * 37 + 11);
	return 0;
}

/* Base64 in lines of `line` characters, each ended by `eol`. */
static void b64(mbuf *b, const unsigned char *d, size_t n, size_t line, const char *eol)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t col = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? d[i + 1] : 0) << 8 | (i + 2 < n ? d[i + 2] : 0);
		char q[4] = {a[v >> 18 & 63], a[v >> 12 & 63], i + 1 < n ? a[v >> 6 & 63] : '=',
			     i + 2 < n ? a[v & 63] : '='};
		for (int k = 0; k < 4; k++) {
			mbuf_putc(b, q[k]);
			if (++col == line) {
				mbuf_puts(b, eol);
				col = 0;
			}
		}
	}
	if (col)
		mbuf_puts(b, eol);
}

/* What app_voicemail's make_email_file() writes for mailcmd (imap = 0), as
 * tests/integration/pbxsrc.py does (asterisk/asterisk f0c1c1a7): From:
 * unquoted, the boundary "----voicemail_" MSGNUM MAILBOX PID RANDOM, the body
 * with the raw caller name, the base64 ended by a line end. */
static char *asterisk_mail(const char *format, const char *mime, const char *cidnum, bool attach)
{
	mbuf b = MBUF_INIT;
	const char *bound = "----voicemail_1123442421804289383";
	mbuf_puts(&b, "Date: Sun, 29 Nov 2026 20:44:05 +0100\n"
		      "From: Asterisk PBX <asterisk@pbx.example.com>\n"
		      "To: \"Pat Owner\" <pat@example.com>\n"
		      "Subject: [PBX]: New message 1 in mailbox 1234\n"
		      "Message-ID: <Asterisk-1-1804289383-1234-4242@pbx.example.com>\n");
	if (cidnum)
		mbuf_printf(&b, "X-Asterisk-CallerID: %s\n", cidnum);
	mbuf_puts(&b, "X-Asterisk-CallerIDName: John Doe\nMIME-Version: 1.0\n");
	if (attach)
		mbuf_printf(&b, "Content-Type: multipart/mixed; boundary=\"%s\"\n\n\n"
				"This is a multi-part message in MIME format.\n\n--%s\n", bound, bound);
	mbuf_puts(&b, "Content-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: 8bit\n\n"
		      "Dear Pat Owner:\n\n\tJust wanted to let you know you were just left a 0:07 long message "
		      "(number 1)\nin mailbox 1234 from John Doe, on Sunday, November 29, 2026 at "
		      "08:44:05 PM so you might\nwant to check it when you get a chance.  Thanks!\n\n"
		      "\t\t\t\t--Asterisk\n\n");
	if (attach) {
		mbuf_printf(&b, "--%s\nContent-Type: %s; name=\"msg0000.%s\"\n"
				"Content-Transfer-Encoding: base64\n"
				"Content-Description: Voicemail sound attachment.\n"
				"Content-Disposition: attachment; filename=\"msg0000.%s\"\n\n",
			    bound, mime, format, format);
		b64(&b, audio, sizeof audio, 72, "\n");
		mbuf_printf(&b, "\n\n--%s--\n.\n", bound);
	}
	return mbuf_take(&b, NULL);
}

static struct pbxmail parse_ok(const char *mail, char *const *rcpt)
{
	struct pbxmail m;
	char err[512] = "";
	if (pbxmail_parse(mail, strlen(mail), rcpt, NULL, &m, err, sizeof err) != PBXMAIL_VOICEMAIL)
		fail_msg("refused (%s):\n%s", err, mail);
	return m;
}

static const char *str(const struct pbxmail *m, const char *path)
{
	const char *s = vm_job_get_str(m->job, path);
	return s ? s : "(absent)";
}

static void asterisk_wav49(void **st)
{
	(void)st;
	char *mail = asterisk_mail("WAV", "audio/x-WAV", "5551234", true);
	struct pbxmail m = parse_ok(mail, NULL);
	assert_string_equal(str(&m, "source"), "asterisk");
	assert_string_equal(str(&m, "id"), "Asterisk-1-1804289383-1234-4242_pbx.example.com");
	assert_string_equal(str(&m, "contact.caller"), "5551234");
	assert_string_equal(str(&m, "contact.caller_name"), "John Doe");
	assert_string_equal(str(&m, "contact.mailbox"), "1234");
	assert_string_equal(str(&m, "contact.dialed"), "1234");
	int64_t n;
	assert_true(vm_job_get_int(m.job, "contact.message_num", &n));
	assert_int_equal(n, 1);
	assert_string_equal(str(&m, "recipient.email"), "pat@example.com");
	assert_string_equal(str(&m, "recipient.name"), "Pat Owner");
	assert_string_equal(str(&m, "contact.date"), "2026-11-29T19:44:05Z");
	assert_string_equal(m.audio_name, "msg0000.WAV");
	assert_string_equal(str(&m, "recording.content_type"), "audio/wav");
	assert_true(vm_job_get_int(m.job, "recording.size", &n));
	assert_int_equal(n, sizeof audio);
	assert_int_equal(m.audio_len, sizeof audio);
	assert_memory_equal(m.audio, audio, sizeof audio);
	/* The sendmail path writes no duration header; the default body says
	 * "left a 0:07 long message" (the fixture's 100 bytes are no audio to probe). */
	double d;
	assert_true(vm_job_get_num(m.job, "recording.duration_seconds", &d));
	assert_true(d == 7.0);
	pbxmail_free(&m);

	/* The same mail again: the same id (a checkpointed pipeline mails it once). */
	m = parse_ok(mail, NULL);
	assert_string_equal(str(&m, "id"), "Asterisk-1-1804289383-1234-4242_pbx.example.com");
	pbxmail_free(&m);
	free(mail);
}

static void asterisk_gsm_and_wav(void **st)
{
	(void)st;
	char *mail = asterisk_mail("gsm", "audio/x-gsm", "+15555550123", true);
	struct pbxmail m = parse_ok(mail, NULL);
	assert_string_equal(m.audio_name, "msg0000.gsm");
	assert_string_equal(str(&m, "recording.content_type"), "audio/x-gsm");
	assert_string_equal(str(&m, "contact.caller"), "+15555550123");
	pbxmail_free(&m);
	free(mail);

	mail = asterisk_mail("wav", "audio/x-wav", NULL, true);
	m = parse_ok(mail, NULL);
	assert_string_equal(m.audio_name, "msg0000.wav");
	assert_string_equal(str(&m, "contact.caller"), "(absent)"); /* no caller id */
	pbxmail_free(&m);
	free(mail);
}

static void no_audio_is_refused(void **st)
{
	(void)st;
	/* attach=no: still Asterisk's voicemail mail (its Message-ID and caller
	 * headers), without the recording: a job with no audio. */
	char *mail = asterisk_mail("WAV", "audio/x-WAV", "5551234", false);
	struct pbxmail m;
	char err[512];
	assert_int_equal(pbxmail_parse(mail, strlen(mail), NULL, NULL, &m, err, sizeof err), PBXMAIL_VOICEMAIL);
	assert_null(m.audio);
	assert_contains(m.note, "no audio attachment (parts: text/plain)");
	assert_string_equal(str(&m, "contact.caller"), "5551234");
	pbxmail_free(&m);
	free(mail);

	const char *plain = "From: someone@example.com\nTo: x@example.com\nSubject: hi\n\nhello\n";
	assert_int_equal(pbxmail_parse(plain, strlen(plain), NULL, NULL, &m, err, sizeof err), PBXMAIL_OTHER);
	assert_contains(err, "not a voicemail: no audio attachment (parts: text/plain)");
	assert_null(m.job);

	const char *pdf = "To: x@example.com\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
			  "Content-Type: text/plain\n\nsee attached\n--b\nContent-Type: application/pdf; "
			  "name=a.pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0=\n--b--\n";
	assert_int_equal(pbxmail_parse(pdf, strlen(pdf), NULL, NULL, &m, err, sizeof err), PBXMAIL_OTHER);
	assert_contains(err, "(parts: text/plain, application/pdf)");

	const char *garbage = "\x89PNG\r\n\x1a\n\0\0\0";
	assert_int_equal(pbxmail_parse(garbage, 11, NULL, NULL, &m, err, sizeof err), PBXMAIL_BAD);
	assert_contains(err, "not a mail");

	const char *noboundary = "To: x@example.com\nContent-Type: multipart/mixed\n\nbody\n";
	assert_int_equal(pbxmail_parse(noboundary, strlen(noboundary), NULL, NULL, &m, err, sizeof err), PBXMAIL_BAD);
	assert_contains(err, "without a usable boundary");

	const char *badb64 = "To: x@example.com\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
			     "Content-Type: audio/x-wav; name=msg0000.wav\nContent-Transfer-Encoding: base64\n\n"
			     "UklG*RiQ=\n--b--\n";
	assert_int_equal(pbxmail_parse(badb64, strlen(badb64), NULL, NULL, &m, err, sizeof err), PBXMAIL_BAD);
	assert_contains(err, "msg0000.wav is not valid base64");

	const char *empty = "To: x@example.com\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
			    "Content-Type: audio/x-wav; name=msg0000.wav\nContent-Transfer-Encoding: base64\n\n"
			    "\n--b--\n";
	assert_int_equal(pbxmail_parse(empty, strlen(empty), NULL, NULL, &m, err, sizeof err), PBXMAIL_BAD);
	assert_contains(err, "msg0000.wav is empty");
}

/* The IMAP storage's header set, CRLF, a Q-encoded name folded over two lines
 * with a character split between the two words, as ast_str_encode_mime does. */
static void asterisk_vm_headers_crlf(void **st)
{
	(void)st;
	mbuf b = MBUF_INIT;
	mbuf_puts(&b, "Date: Mon, 30 Nov 2026 09:00:00 -0500\r\n"
		      "From: =?UTF-8?Q?Voicemail_=C3=A0_la?=\r\n =?UTF-8?Q?_maison?= <vm@pbx.example.com>\r\n"
		      "To: =?UTF-8?Q?Zo=C3=AB_=C3?=\r\n =?UTF-8?Q?=9Cnal?= <zoe@example.com>\r\n"
		      "Subject: [PBX]: New message 3 in mailbox 2001\r\n"
		      "Message-ID: <Asterisk-3-846930886-2001-99@pbx>\r\n"
		      "X-Asterisk-VM-Message-Num: 3\r\n"
		      "X-Asterisk-VM-Server-Name: \r\n"
		      "X-Asterisk-VM-Context: sales\r\n"
		      "X-Asterisk-VM-Extension: 2001\r\n"
		      "X-Asterisk-VM-Flag: \r\n"
		      "X-Asterisk-VM-Priority: 2\r\n"
		      "X-Asterisk-VM-Caller-ID-Num: 0612345678\r\n"
		      "X-Asterisk-VM-Caller-ID-Name: Ren\xc3\xa9\r\n"
		      "X-Asterisk-VM-Duration: 7\r\n"
		      "X-Asterisk-VM-Category: \r\n"
		      "X-Asterisk-VM-Message-Type: Message\r\n"
		      "X-Asterisk-VM-Orig-date: Monday, November 30, 2026 at 09:00:00 AM\r\n"
		      "X-Asterisk-VM-Orig-time: 1796126400\r\n"
		      "X-Asterisk-VM-Message-ID: 1796047200-00000003\r\n"
		      "MIME-Version: 1.0\r\n"
		      "Content-Type: multipart/mixed;\r\n\tboundary=\"----voicemail_3200199\"\r\n\r\n\r\n"
		      "This is a multi-part message in MIME format.\r\n\r\n"
		      "------voicemail_3200199\r\nContent-Type: text/plain; charset=UTF-8\r\n"
		      "Content-Transfer-Encoding: 8bit\r\n\r\nDear Zo\xc3\xab\r\n\r\n"
		      "------voicemail_3200199\r\nContent-Type: audio/x-WAV; name=\"msg0002.WAV\"\r\n"
		      "Content-Transfer-Encoding: base64\r\n"
		      "Content-Disposition: attachment; filename=\"msg0002.WAV\"\r\n\r\n");
	b64(&b, audio, sizeof audio, 72, "\r\n");
	mbuf_puts(&b, "\r\n\r\n------voicemail_3200199--\r\n");
	char *mail = mbuf_take(&b, NULL);
	struct pbxmail m = parse_ok(mail, NULL);
	assert_string_equal(str(&m, "id"), "asterisk-1796047200-00000003");
	assert_string_equal(str(&m, "recipient.name"), "Zo\xc3\xab \xc3\x9cnal");
	assert_string_equal(str(&m, "recipient.email"), "zoe@example.com");
	assert_string_equal(str(&m, "contact.caller"), "0612345678");
	assert_string_equal(str(&m, "contact.caller_name"), "Ren\xc3\xa9");
	assert_string_equal(str(&m, "contact.mailbox"), "2001");
	assert_string_equal(str(&m, "contact.context"), "sales");
	int64_t n;
	assert_true(vm_job_get_int(m.job, "contact.message_num", &n));
	assert_int_equal(n, 3);
	double d;
	assert_true(vm_job_get_num(m.job, "recording.duration_seconds", &d));
	assert_true(d == 7.0);
	/* Orig-time wins over Date (which is 14:00Z). */
	assert_string_equal(str(&m, "contact.date"), "2026-12-01T12:00:00Z");
	assert_string_equal(m.audio_name, "msg0002.WAV");
	assert_memory_equal(m.audio, audio, sizeof audio);
	pbxmail_free(&m);
	free(mail);
}

/* switch_simple_email() with the vanilla voicemail.tpl plus the headers
 * docs/pbx.md offers (signalwire/freeswitch cc93a683): an empty Date:, wav
 * typed audio/x-wave (conf/vanilla/mime.types). */
static void freeswitch_template(void **st)
{
	(void)st;
	mbuf b = MBUF_INIT;
	mbuf_puts(&b, "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XXXX_boundary_XXXX\"\n"
		      "From: \"Jane Caller\" <5551000@pbx.example.org>\n"
		      "Date: \n" /* ${RFC2822_DATE} is set nowhere: empty */
		      "To: owner@example.org\n"
		      "Subject: Voicemail from \"Jane Caller\" <5551000> 00:00:12\n"
		      "X-Priority: 3\n"
		      "X-Mailer: FreeSWITCH\n"
		      "X-Voicemail-Caller-ID-Number: 5551000\n"
		      "X-Voicemail-Caller-ID-Name: Jane Caller\n"
		      "X-Voicemail-Account: 1000\n"
		      "X-Voicemail-Domain: pbx.example.org\n"
		      "X-Voicemail-UUID: 3f2a9c1e-7d7b-4a8e-9b51-0c2d4e6f8a90\n"
		      "X-Voicemail-Length: 12\n\n"
		      "--XXXX_boundary_XXXX\n"
		      "Content-Type: multipart/alternative; \n\tboundary=\"000XXX000\"\n\n"
		      "--000XXX000\nContent-Type: text/plain; charset=ISO-8859-1; Format=Flowed\n"
		      "Content-Disposition: inline\nContent-Transfer-Encoding: 7bit\n\n"
		      "Created: Tuesday, December 01 2026, 10 15 AM\nDuration: 00:00:12\n"
		      "Account: 1000@pbx.example.org\n\n"
		      "--000XXX000\nContent-Type: text/html; charset=ISO-8859-1\n"
		      "Content-Disposition: inline\nContent-Transfer-Encoding: 7bit\n\n<html></html>\n"
		      "--000XXX000--\n\n"
		      "--XXXX_boundary_XXXX\n"
		      "Content-Type: audio/x-wave; name=\"msg_3f2a9c1e-7d7b-4a8e-9b51-0c2d4e6f8a90.wav\"\n"
		      "Content-ID: <ATTACHED@freeswitch.org>\n"
		      "Content-Transfer-Encoding: base64\n"
		      "Content-Description: Sound attachment.\n"
		      "Content-Disposition: attachment; filename=\"msg_3f2a9c1e-7d7b-4a8e-9b51-0c2d4e6f8a90.wav\"\n\n");
	b64(&b, audio, sizeof audio, 72, "\n");
	mbuf_puts(&b, "\n\n--XXXX_boundary_XXXX--\n.\n");
	char *mail = mbuf_take(&b, NULL);
	struct pbxmail m = parse_ok(mail, NULL);
	assert_string_equal(str(&m, "source"), "freeswitch");
	assert_string_equal(str(&m, "id"), "freeswitch-3f2a9c1e-7d7b-4a8e-9b51-0c2d4e6f8a90");
	assert_string_equal(str(&m, "contact.caller"), "5551000");
	assert_string_equal(str(&m, "contact.caller_name"), "Jane Caller");
	assert_string_equal(str(&m, "contact.mailbox"), "1000");
	assert_string_equal(str(&m, "contact.context"), "pbx.example.org");
	assert_string_equal(str(&m, "recipient.email"), "owner@example.org");
	assert_string_equal(str(&m, "recipient.name"), "(absent)");
	assert_string_equal(str(&m, "contact.date"), "(absent)");
	double d;
	assert_true(vm_job_get_num(m.job, "recording.duration_seconds", &d));
	assert_true(d == 12.0);
	assert_string_equal(m.audio_name, "msg_3f2a9c1e-7d7b-4a8e-9b51-0c2d4e6f8a90.wav");
	assert_memory_equal(m.audio, audio, sizeof audio);
	pbxmail_free(&m);
	free(mail);
}

static void generic_mail_and_fallbacks(void **st)
{
	(void)st;
	/* No To: the command line's recipients; no Message-ID: a digest of the mail;
	 * an unsafe attachment name is made plain. */
	const char *mail = "Subject: vm\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\n"
			   "Content-Type: application/octet-stream\n"
			   "Content-Disposition: attachment; filename*=UTF-8''..%2F..%2Fetc%2Fvm%20one.wav\n\n"
			   "RIFFdata\n--b--\n";
	char *rcpt[] = {"a@example.com", "b@example.com", NULL};
	struct pbxmail m = parse_ok(mail, rcpt);
	assert_string_equal(str(&m, "source"), "mail");
	assert_string_equal(str(&m, "recipient.email"), "a@example.com, b@example.com");
	assert_string_equal(m.audio_name, "vm_one.wav");
	assert_int_equal(m.audio_len, 8);
	assert_memory_equal(m.audio, "RIFFdata", 8);
	const char *id = vm_job_get_str(m.job, "id");
	assert_int_equal(strncmp(id, "mail-", 5), 0);
	assert_int_equal(strlen(id), 5 + 32);
	char first[64];
	snprintf(first, sizeof first, "%s", id);
	pbxmail_free(&m);
	m = parse_ok(mail, rcpt);
	assert_string_equal(vm_job_get_str(m.job, "id"), first);
	pbxmail_free(&m);

	/* "an unknown caller" is no number; a part with no name gets one from its type. */
	const char *anon = "To: x@example.com\nX-Asterisk-CallerID: an unknown caller\n"
			   "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: audio/x-gsm\n"
			   "Content-Transfer-Encoding: base64\n\n0AAA\n--b--\n";
	m = parse_ok(anon, NULL);
	assert_string_equal(str(&m, "contact.caller"), "(absent)");
	assert_string_equal(m.audio_name, "voicemail.gsm");
	pbxmail_free(&m);
}

static void encoded_words(void **st)
{
	(void)st;
	static const struct { const char *in, *out; } cases[] = {
		{"=?ISO-8859-1?Q?J=F6rg?= Schmidt", "J\xc3\xb6rg Schmidt"},
		{"=?utf-8?B?w4lsb8Ovc2U=?=", "\xc3\x89lo\xc3\xafse"},
		{"=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab"},         /* space between words dropped */
		{"=?UTF-8?Q?a?= plain =?UTF-8?Q?b?=", "a plain b"},
		{"no =?words here", "no =?words here"},
		{"=?UTF-8*en?Q?x_y?=", "x y"},
		{"tab\there", "tab here"},                 /* controls removed */
		{"bad \xff byte", "bad \xef\xbf\xbd byte"},   /* invalid UTF-8 repaired */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *s = mr_decode_words(cases[i].in);
		assert_non_null(s);
		assert_string_equal(s, cases[i].out);
		free(s);
	}
	char *p = mr_param("attachment; filename=\"a \\\"b\\\".wav\"; size=3", "filename");
	assert_string_equal(p, "a \"b\".wav");
	free(p);
	p = mr_param("audio/x-wav; NAME=msg0000.wav", "name");
	assert_string_equal(p, "msg0000.wav");
	free(p);
	assert_null(mr_param("audio/x-wav; filename=x", "name"));
}

/* CPU seconds mr_decode_words() takes on `n` bytes of "=?a?B?x" (the best of 3). */
static double decode_seconds(size_t n)
{
	char *h = malloc(n + 1);
	assert_non_null(h);
	for (size_t i = 0; i < n; i++)
		h[i] = "=?a?B?x"[i % 7];
	h[n] = '\0';
	double best = 1e9;
	for (int k = 0; k < 3; k++) {
		struct timespec a, b;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
		char *s = mr_decode_words(h);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
		assert_non_null(s);
		assert_int_equal(strlen(s), n); /* none of it is a word: kept as it is */
		free(s);
		double t = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
		if (t < best)
			best = t;
	}
	free(h);
	return best;
}

/* Each "=?" used to search the rest of the value for "?=": 4 MB took a
 * minute.  Linear: four times the input, about four times the time (a
 * quadratic decoder takes sixteen). */
static void encoded_words_are_linear(void **st)
{
	(void)st;
	double t4 = decode_seconds(4u << 20), t16 = decode_seconds(16u << 20);
	print_message("mr_decode_words: 4 MB %.3f s, 16 MB %.3f s (ratio %.1f)\n", t4, t16, t16 / t4);
	assert_true(t16 < 8 * t4 + 0.05);
	/* A word with a blank before its end is not a word; the next one still is. */
	char *s = mr_decode_words("=?UTF-8?Q?a b?= =?UTF-8?Q?c?=");
	assert_string_equal(s, "=?UTF-8?Q?a b?= c");
	free(s);
}

/* ast_str_encode_mime() labels whatever bytes voicemail.conf holds with
 * `charset` (ISO-8859-1 unless set): UTF-8 names arrive as "Latin-1". */
static void latin1_label_on_utf8_bytes(void **st)
{
	(void)st;
	static const struct { const char *in, *out; } cases[] = {
		{"=?ISO-8859-1?Q?J=C3=BCrgen_M=C3=BCller?=", "J\xc3\xbcrgen M\xc3\xbcller"},
		{"=?ISO-8859-1?Q?J=FCrgen?=", "J\xc3\xbcrgen"},          /* real Latin-1 stays Latin-1 */
		{"=?ISO-8859-1?Q?=C3=A9t=E9?=", "\xc3\x83\xc2\xa9t\xc3\xa9"}, /* not valid UTF-8: Latin-1 */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *s = mr_decode_words(cases[i].in);
		assert_string_equal(s, cases[i].out);
		free(s);
	}
}

/* The intake's bounds (event_limits.c) apply here, before anything is stored. */
static void fields_over_the_limits_are_refused(void **st)
{
	(void)st;
	struct pbxmail m;
	char err[512];
	mbuf b = MBUF_INIT;
	mbuf_puts(&b, "To: pat@example.com\nMessage-ID: <Asterisk-1-2-1234-4@pbx>\nX-Asterisk-CallerID: ");
	for (int i = 0; i < 200; i++)
		mbuf_putc(&b, '5');
	mbuf_puts(&b, "\nContent-Type: audio/x-wav; name=msg0000.wav\nContent-Transfer-Encoding: base64\n\nUklGRg==\n");
	char *mail = mbuf_take(&b, NULL);
	assert_int_equal(pbxmail_parse(mail, strlen(mail), NULL, NULL, &m, err, sizeof err), PBXMAIL_BAD);
	assert_string_equal(err, "the caller id is 200 bytes; at most 128 (a caller id)");
	free(mail);

	mbuf_puts(&b, "Message-ID: <Asterisk-1-2-1234-4@pbx>\nX-Asterisk-CallerIDName: ");
	for (int i = 0; i < 300; i++)
		mbuf_putc(&b, 'n');
	mbuf_puts(&b, "\nTo: pat@example.com\nContent-Type: audio/x-wav; name=a.wav\nContent-Transfer-Encoding: base64\n\nUklGRg==\n");
	mail = mbuf_take(&b, NULL);
	assert_int_equal(pbxmail_parse(mail, strlen(mail), NULL, NULL, &m, err, sizeof err), PBXMAIL_BAD);
	assert_contains(err, "the caller's name is 300 bytes; at most 256");
	free(mail);

	mbuf_puts(&b, "Message-ID: <Asterisk-1-2-1234-4@pbx>\nTo: ");
	for (int i = 0; i < 3000; i++)
		mbuf_printf(&b, "%sa%d@example.com", i ? ", " : "", i);
	mbuf_puts(&b, "\nContent-Type: audio/x-wav; name=a.wav\nContent-Transfer-Encoding: base64\n\nUklGRg==\n");
	mail = mbuf_take(&b, NULL);
	assert_int_equal(pbxmail_parse(mail, strlen(mail), NULL, NULL, &m, err, sizeof err), PBXMAIL_BAD);
	assert_string_equal(err, "the mail's recipients (To:) names 3000 addresses; at most 50");
	assert_null(m.job);
	free(mail);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(asterisk_wav49),
		cmocka_unit_test(asterisk_gsm_and_wav),
		cmocka_unit_test(no_audio_is_refused),
		cmocka_unit_test(asterisk_vm_headers_crlf),
		cmocka_unit_test(freeswitch_template),
		cmocka_unit_test(generic_mail_and_fallbacks),
		cmocka_unit_test(encoded_words),
		cmocka_unit_test(encoded_words_are_linear),
		cmocka_unit_test(latin1_label_on_utf8_bytes),
		cmocka_unit_test(fields_over_the_limits_are_refused),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
