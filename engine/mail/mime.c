/* Message assembly; see mime.h. */
#include "mime.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <vmpipe/vmpipe.h>

#include "encode.h"
#include "header.h"
#include "mbuf.h"

#define B64_LINE 76

int mime_random_hex(char *buf, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[64];
	if (n > sizeof raw)
		return -1;
	size_t got = 0;
	while (got < n) {
		ssize_t r = getrandom(raw + got, n - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)r;
	}
	for (size_t i = 0; i < n; i++) {
		buf[2 * i] = hex[raw[i] >> 4];
		buf[2 * i + 1] = hex[raw[i] & 15];
	}
	buf[2 * n] = '\0';
	return 0;
}

void mime_format_date(int64_t ms, char *buf, size_t size)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof tm), tm.tm_year = 70, tm.tm_mday = 1, tm.tm_wday = 4;
	/* Fixed names, not strftime(): the locale must not leak into headers. */
	snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
		 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		 tm.tm_sec);
}

char *mime_message_id(const char *key, const char *from_addr)
{
	char hex[33];
	if (!key && mime_random_hex(hex, 16) < 0)
		return NULL;
	if (key)
		snprintf(hex, sizeof hex, "%s", key);
	const char *at = from_addr ? strrchr(from_addr, '@') : NULL;
	const char *domain = at && at[1] ? at + 1 : "vmpipe.invalid";
	mbuf b = MBUF_INIT;
	mbuf_printf(&b, "<%s@%s>", hex, domain);
	return mbuf_take(&b, NULL);
}

static bool token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$&^_.+-", c));
}

int mime_valid_type(const char *ct)
{
	const char *slash = ct ? strchr(ct, '/') : NULL;
	if (!slash || slash == ct || !slash[1] || strlen(ct) > 100)
		return 0;
	for (const char *p = ct; *p; p++)
		if (p != slash && !token_char(*p))
			return 0;
	return 1;
}

/* Base64 when most of the text is not ASCII (QP would triple it). */
static bool want_base64(const char *s, size_t len)
{
	size_t high = 0;
	for (size_t i = 0; i < len; i++)
		high += (unsigned char)s[i] >= 0x80;
	return high > len / 4;
}

static void text_part(mbuf *b, const char *type, const char *body)
{
	size_t len = strlen(body);
	bool b64 = want_base64(body, len);
	mbuf_printf(b, "Content-Type: %s; charset=utf-8\r\n", type);
	mbuf_printf(b, "Content-Transfer-Encoding: %s\r\n\r\n", b64 ? "base64" : "quoted-printable");
	if (!b64) {
		qp_encode(b, body, len);
		return;
	}
	/* Text is base64-encoded in its canonical form, CRLF line ends. */
	mbuf canon = MBUF_INIT;
	for (size_t i = 0; i < len; i++) {
		if (body[i] == '\r' || body[i] == '\n') {
			mbuf_add(&canon, "\r\n", 2);
			if (body[i] == '\r' && body[i + 1] == '\n')
				i++;
		} else {
			mbuf_putc(&canon, body[i]);
		}
	}
	if (canon.oom)
		b->oom = true;
	else
		b64_encode(b, canon.data ? canon.data : "", canon.len, B64_LINE);
	mbuf_free(&canon);
}

static void alternative(mbuf *b, const mime_msg *m, const char *boundary)
{
	mbuf_printf(b, "--%s\r\n", boundary);
	text_part(b, "text/plain", m->text);
	mbuf_printf(b, "--%s\r\n", boundary);
	text_part(b, "text/html", m->html);
	mbuf_printf(b, "--%s--\r\n", boundary);
}

char *mime_build(const mime_msg *m, size_t *len)
{
	char alt[40], mix[40], hex[17];
	if (mime_random_hex(hex, 8) < 0)
		return NULL;
	/* "=_" cannot occur in quoted-printable or base64 text, so the
	 * boundaries never collide with a body. */
	snprintf(alt, sizeof alt, "=_vmpipe_alt_%s", hex);
	snprintf(mix, sizeof mix, "=_vmpipe_mix_%s", hex);

	mbuf b = MBUF_INIT;
	char date[64];
	mime_format_date(m->date_ms, date, sizeof date);
	hdr_simple(&b, "Date", date);
	hdr_addresses(&b, "From", m->from);
	if (m->to && m->to->n)
		hdr_addresses(&b, "To", m->to);
	if (m->cc && m->cc->n)
		hdr_addresses(&b, "Cc", m->cc);
	if (m->reply_to && m->reply_to->n)
		hdr_addresses(&b, "Reply-To", m->reply_to);
	hdr_unstructured(&b, "Subject", m->subject);
	hdr_simple(&b, "Message-ID", m->message_id);
	/* RFC 5322 3.6.4: a follow-up threads under what it follows. */
	if (m->in_reply_to && *m->in_reply_to)
		hdr_simple(&b, "In-Reply-To", m->in_reply_to);
	if (m->references && *m->references)
		hdr_simple(&b, "References", m->references);
	hdr_simple(&b, "MIME-Version", "1.0");
	/* RFC 3834: a notification, so vacation responders stay quiet. */
	hdr_simple(&b, "Auto-Submitted", "auto-generated");
	hdr_simple(&b, "X-Mailer", "vmpipe/" VMPIPE_VERSION);

	if (!m->attachment) {
		mbuf_printf(&b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", alt);
		alternative(&b, m, alt);
		return mbuf_take(&b, len);
	}
	const mime_attachment *a = m->attachment;
	mbuf_printf(&b, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", mix);
	mbuf_puts(&b, "This is a multi-part message in MIME format.\r\n");
	mbuf_printf(&b, "--%s\r\n", mix);
	mbuf_printf(&b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", alt);
	alternative(&b, m, alt);
	mbuf_printf(&b, "--%s\r\n", mix);
	mbuf_printf(&b, "Content-Type: %s; name=\"%s\"\r\n", a->content_type, a->filename);
	mbuf_puts(&b, "Content-Transfer-Encoding: base64\r\n");
	mbuf_printf(&b, "Content-Disposition: attachment; filename=\"%s\"\r\n\r\n", a->filename);
	b64_encode(&b, a->data, a->len, B64_LINE);
	mbuf_printf(&b, "--%s--\r\n", mix);
	return mbuf_take(&b, len);
}
