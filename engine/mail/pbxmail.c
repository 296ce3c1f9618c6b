/*
 * PBX voicemail mail -> job record + audio (see pbxmail.h).  The generic
 * reading is engine/mail/read.c; this file only knows what each PBX writes.
 */
#include "pbxmail.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "address.h"
#include "pbxaudio.h"
#include "mbuf.h"
#include "read.h"
#include "core/event_limits.h"
#include "core/util.h"

#define PBXMAIL_HEADER_MAX 65536 /* any header of the top block */
#define ID_MAX 100 /* event.c allows 128; leave room for what others append */

/* A header's text (RFC 2047 decoded), or NULL when absent or blank. malloc()ed. */
static char *text_of(const mr_headers *h, const char *name)
{
	const char *v = mr_get(h, name);
	if (!v)
		return NULL;
	char *t = mr_decode_words(v);
	if (t && !*t) {
		free(t);
		return NULL;
	}
	return t;
}

/* The first of several headers that is present. */
static char *first_of(const mr_headers *h, const char *const *names)
{
	for (; *names; names++) {
		char *t = text_of(h, *names);
		if (t)
			return t;
	}
	return NULL;
}

static bool has_prefix(const mr_headers *h, const char *prefix)
{
	size_t n = strlen(prefix);
	for (size_t i = 0; i < h->n; i++)
		if (strncasecmp(h->v[i].name, prefix, n) == 0)
			return true;
	return false;
}

/* Asterisk writes "an unknown caller" (VM_CIDNUM) and FreeSWITCH "UNKNOWN" or
 * "0000000000" when there is no caller id: not a number to call back. */
static bool unknown_caller(const char *s)
{
	return !s || !*s || strcasecmp(s, "an unknown caller") == 0 || strcasecmp(s, "unknown") == 0 ||
	       strcasecmp(s, "anonymous") == 0 || strspn(s, "0") == strlen(s);
}

static void set_owned(vm_job *job, const char *path, char *v)
{
	if (v && *v)
		vm_job_set_str(job, path, v);
	free(v);
}

/* Whole seconds >= 0 from "42" (or "42.5"); -1 otherwise. */
static double seconds_of(const char *s)
{
	char *end;
	double v = s ? strtod(s, &end) : -1;
	if (!s || end == s || v < 0 || v > 86400.0 * 7)
		return -1;
	while (*end == ' ')
		end++;
	return *end ? -1 : v;
}

/* RFC 5322 date ("[Day, ]29 Nov 2026 19:44:00 +0100") -> ms since the epoch; 0 when unreadable. */
static int64_t rfc5322_date(const char *s)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	if (!s)
		return 0;
	const char *comma = strchr(s, ',');
	if (comma)
		s = comma + 1;
	int d, y, hh, mm, ss = 0, n = 0;
	char mon[4], zone[8] = "";
	if (sscanf(s, " %d %3s %d %d:%d%n", &d, mon, &y, &hh, &mm, &n) != 5)
		return 0;
	s += n;
	if (*s == ':' && sscanf(s, ":%d%n", &ss, &n) == 1)
		s += n;
	if (sscanf(s, " %7s", zone) != 1)
		zone[0] = '\0';
	const char *m = strstr(months, mon);
	if (!m || strlen(mon) != 3 || (m - months) % 3 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60)
		return 0;
	if (y < 100)
		y += y < 50 ? 2000 : 1900;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = (int)((m - months) / 3), .tm_mday = d,
			.tm_hour = hh, .tm_min = mm, .tm_sec = ss};
	int64_t t = (int64_t)timegm(&tm);
	if ((zone[0] == '+' || zone[0] == '-') && isdigit((unsigned char)zone[1]) && strlen(zone) == 5) {
		int z = atoi(zone + 1);
		int off = (z / 100) * 3600 + (z % 100) * 60;
		t -= zone[0] == '+' ? off : -off;
	}
	return t > 0 ? t * 1000 : 0;
}

/* Asterisk's Message-ID: <Asterisk-MSGNUM-RANDOM-MAILBOX-PID@HOST>. */
static bool asterisk_msgid(const char *id, char *mailbox, size_t msize, long *msgnum)
{
	if (!id || strncmp(id, "<Asterisk-", 10) != 0)
		return false;
	const char *p = id + 10, *at = strchr(p, '@');
	char *end;
	long num = strtol(p, &end, 10);
	if (!at || *end != '-')
		return false;
	const char *rnd = end + 1, *mb = strchr(rnd, '-');
	const char *pid = at;
	while (pid > p && pid[-1] != '-')
		pid--;
	if (!mb || pid - 1 <= mb + 1)
		return false;
	snprintf(mailbox, msize, "%.*s", (int)(pid - 1 - (mb + 1)), mb + 1);
	*msgnum = num;
	return true;
}

/* s made plain for an id or file name: [A-Za-z0-9._-], others '_'. */
static void plain(const char *s, char *out, size_t size)
{
	size_t n = 0;
	for (; s && *s && n + 1 < size; s++) {
		unsigned char c = (unsigned char)*s;
		out[n++] = isalnum(c) || c == '.' || c == '-' ? (char)c : '_';
	}
	out[n] = '\0';
}

static void sha_hex(const void *data, size_t len, char *out, size_t hexchars)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < mdlen && 2 * i + 1 < hexchars; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

/*
 * The job id: the PBX's own message id where it writes one, else the mail's
 * Message-ID, else a digest of the whole mail.  The same mail handed in
 * twice gets the same id, so a pipeline with [pipeline] state mails it once.
 */
static void make_id(const char *source, const mr_headers *h, const char *audio_name, const char *mail,
		    size_t len, char *id, size_t size)
{
	const char *own = strcmp(source, "asterisk") == 0   ? mr_get(h, "X-Asterisk-VM-Message-ID")
			  : strcmp(source, "freeswitch") == 0 ? mr_get(h, "X-Voicemail-UUID")
							      : NULL;
	/* FreeSWITCH names the file after the message: msg_UUID.EXT (mod_voicemail.c). */
	char uuid[64];
	const char *dot = audio_name ? strrchr(audio_name, '.') : NULL;
	if (!own && strcmp(source, "freeswitch") == 0 && dot && strncmp(audio_name, "msg_", 4) == 0 &&
	    dot - audio_name - 4 == 36) {
		snprintf(uuid, sizeof uuid, "%.36s", audio_name + 4);
		own = uuid;
	}
	const char *msgid = mr_get(h, "Message-ID");
	char buf[256], p[256];
	if (own && *own) {
		plain(own, p, sizeof p);
		snprintf(buf, sizeof buf, "%s-%.200s", source, p);
	} else if (msgid && *msgid) {
		size_t n = strlen(msgid);
		const char *s = msgid[0] == '<' ? msgid + 1 : msgid;
		snprintf(p, sizeof p, "%.*s", (int)(n - (size_t)(s - msgid) - (msgid[n - 1] == '>')), s);
		char q[256];
		plain(p, q, sizeof q);
		snprintf(buf, sizeof buf, "%s", q);
	} else {
		buf[0] = '\0';
	}
	if (!buf[0] || strlen(buf) > ID_MAX || !is_plain_name(buf, ID_MAX)) {
		char hex[33];
		const char *what = msgid && *msgid ? msgid : mail;
		sha_hex(what, what == mail ? len : strlen(what), hex, sizeof hex);
		snprintf(buf, sizeof buf, "%s-%s", source, hex);
	}
	snprintf(id, size, "%.*s", ID_MAX, buf); /* buf is at most ID_MAX here */
}

/* recipient.email / .name from To (names decoded), else the command line's. */
static void recipients(vm_job *job, const mr_headers *h, char *const *rcpt)
{
	mail_addrs to = {0};
	char err[256];
	const char *v = mr_get(h, "To");
	if (v)
		addr_parse_list(v, &to, "To", err, sizeof err);
	for (size_t i = 0; !v && rcpt && rcpt[i]; i++)
		addr_parse_list(rcpt[i], &to, "recipient", err, sizeof err);
	mbuf list = MBUF_INIT;
	for (size_t i = 0; i < to.n; i++)
		mbuf_printf(&list, "%s%s", i ? ", " : "", to.v[i].addr);
	char *s = mbuf_take(&list, NULL);
	set_owned(job, "recipient.email", s);
	if (to.n && to.v[0].name)
		set_owned(job, "recipient.name", mr_decode_words(to.v[0].name));
	addr_list_free(&to);
}

/* ------------------------------------------------------------- the audio */

/* Every audio part (pbxaudio.c) into out; the part types in out->note when
 * there is none.  0, or -1 with err. */
static int find_audio(const mr_parts *parts, struct pbxmail *out, char *err, size_t errsize)
{
	struct pbxaudio a;
	if (pbxaudio_collect(parts, &a, err, errsize) != 0)
		return -1;
	out->audio_parts = a.parts;
	if (!a.data) {
		snprintf(out->note, sizeof out->note, "no audio attachment (parts: %s)", a.seen);
		return 0;
	}
	out->audio = a.data;
	out->audio_len = a.len;
	snprintf(out->audio_name, sizeof out->audio_name, "%s", a.name);
	const char *ct = vm_audio_type(out->audio_name);
	vm_job_set_str(out->job, "recording.content_type", ct ? ct : a.type);
	vm_job_set_int(out->job, "recording.size", (int64_t)out->audio_len);
	if (a.parts > 1)
		vm_job_set_int(out->job, "contact.audio_parts", (int64_t)a.parts);
	return 0;
}

/* ------------------------------------------------------------- the record */

/*
 * Asterisk's default body (make_email_file()):
 *   "\tJust wanted to let you know you were just left a 0:42 long message (number 1)\n"
 *   "in mailbox 1234 from Jürgen Müller, on Sunday, ... so you might\n"
 * ("just forwarded a" for a forward).  It names the length, which the
 * mailcmd mail has in no header, and the caller's name as given: the header
 * went through strip_control_and_high(), which on x86-64 drops every byte
 * from 0x80.  The first text/plain part's first 4 KiB, NUL-terminated, into
 * buf; false when it is not that body.
 */
static bool asterisk_body(const mr_parts *parts, char *buf, size_t size)
{
	for (size_t i = 0; i < parts->n; i++) {
		char type[64];
		mr_media_type(mr_get(&parts->v[i].headers, "Content-Type"), type, sizeof type);
		if (strcmp(type, "text/plain") != 0)
			continue;
		size_t len = parts->v[i].len < size - 1 ? parts->v[i].len : size - 1;
		memcpy(buf, parts->v[i].body, len);
		buf[len] = '\0';
		return strstr(buf, "Just wanted to let you know you were just ") != NULL;
	}
	return false;
}

/* "left a 0:42 long message" -> 42; -1 when not there. */
static double asterisk_body_duration(const char *body)
{
	static const char *const leads[] = {"just left a ", "just forwarded a "};
	for (size_t k = 0; k < 2; k++) {
		const char *p = strstr(body, leads[k]);
		int m, sec, n = 0;
		if (p && sscanf(p + strlen(leads[k]), "%5d:%2d%n", &m, &sec, &n) == 2 && m >= 0 && sec >= 0 &&
		    sec < 60 && strncmp(p + strlen(leads[k]) + n, " long message", 13) == 0)
			return m * 60.0 + sec;
	}
	return -1;
}

/*
 * The caller's name as the body gives it, when the header's is that name
 * with its bytes from 0x80 dropped (x86-64): "Jürgen Müller" for "Jrgen
 * Mller".  UTF-8 bytes are taken as UTF-8, others as Latin-1.  malloc()ed,
 * or NULL.
 */
static char *asterisk_body_name(const char *body, const char *header)
{
	const char *in = strstr(body, "\nin mailbox ");
	const char *from = in ? strstr(in, " from ") : NULL;
	const char *on = from ? strstr(from, ", on ") : NULL;
	const char *eol = from ? strchr(from, '\n') : NULL;
	if (!on || (eol && eol < on) || !header)
		return NULL;
	const char *name = from + 6;
	size_t n = (size_t)(on - name), k = 0;
	bool high = false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		high |= c >= 0x80;
		if (c >= 32 && c < 0x80 && header[k++] != (char)c)
			return NULL;
	}
	if (!high || header[k])
		return NULL;
	char word[600];
	if (n > 250)
		return NULL;
	/* Through the encoded-word reader: its Latin-1 label and UTF-8 check. */
	size_t w = (size_t)snprintf(word, sizeof word, "=?ISO-8859-1?Q?");
	for (size_t i = 0; i < n; i++)
		w += (size_t)snprintf(word + w, sizeof word - w, "=%02X", (unsigned char)name[i]);
	snprintf(word + w, sizeof word - w, "?=");
	return mr_decode_words(word);
}

/* The local part and the domain of a bare address. */
static void split_addr(const char *addr, char *local, size_t lsize, char *domain, size_t dsize)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;
	snprintf(local, lsize, "%.*s", at ? (int)(at - addr) : 0, at ? addr : "");
	snprintf(domain, dsize, "%s", at ? at + 1 : "");
}

/*
 * FreeSWITCH without the X-Voicemail-Caller-ID-* headers: its stock template
 * (conf/vanilla/voicemail.tpl) names the caller in
 *   From: "NAME" <NUMBER@DOMAIN>
 *   Subject: Voicemail from "NAME" <NUMBER> HH:MM:SS
 * and mod_voicemail's built-in headers (no template) in
 *   From: FreeSWITCH mod_voicemail <ACCOUNT@DOMAIN>
 *   Subject: Voicemail from NAME NUMBER
 * The mailbox is the envelope sender: ACCOUNT@DOMAIN unless vm-mailfrom is
 * set (deliver_vm(): email-from, else "%s@%s" of account and domain).
 */
static void freeswitch_stock(vm_job *job, const mr_headers *h, const char *envelope_from)
{
	char *subj = text_of(h, "Subject"), *num = NULL, *name = NULL;
	const char *rest = subj && strncmp(subj, "Voicemail from ", 15) == 0 ? subj + 15 : NULL;
	if (rest && rest[0] == '"') {
		const char *q = strchr(rest + 1, '"');
		const char *lt = q ? strstr(q, " <") : NULL, *gt = lt ? strchr(lt, '>') : NULL;
		if (gt) {
			name = strndup(rest + 1, (size_t)(q - rest - 1));
			num = strndup(lt + 2, (size_t)(gt - lt - 2));
		}
	} else if (rest) {
		const char *sp = strrchr(rest, ' ');
		num = strdup(sp ? sp + 1 : rest);
		if (sp)
			name = strndup(rest, (size_t)(sp - rest));
	}
	free(subj);
	mail_addrs from = {0};
	char e[200], local[256], domain[256];
	const char *fv = mr_get(h, "From");
	bool builtin = false;
	if (fv && addr_parse_list(fv, &from, "From", e, sizeof e) == 0 && from.n == 1) {
		split_addr(from.v[0].addr, local, sizeof local, domain, sizeof domain);
		builtin = from.v[0].name && strcmp(from.v[0].name, "FreeSWITCH mod_voicemail") == 0;
		if (builtin) {
			if (!vm_job_get_str(job, "contact.mailbox")) {
				vm_job_set_str(job, "contact.mailbox", local);
				vm_job_set_str(job, "contact.dialed", local);
			}
			if (!vm_job_get_str(job, "contact.context") && domain[0])
				vm_job_set_str(job, "contact.context", domain);
		} else {
			if (!num && local[0])
				num = strdup(local);
			if (!name && from.v[0].name)
				name = mr_decode_words(from.v[0].name);
			if (!vm_job_get_str(job, "contact.context") && domain[0])
				vm_job_set_str(job, "contact.context", domain);
		}
	}
	addr_list_free(&from);
	if (!vm_job_get_str(job, "contact.caller") && !unknown_caller(num))
		vm_job_set_str(job, "contact.caller", num);
	if (!vm_job_get_str(job, "contact.caller_name") && !unknown_caller(name))
		vm_job_set_str(job, "contact.caller_name", name);
	free(num);
	free(name);
	if (!vm_job_get_str(job, "contact.mailbox") && envelope_from && strchr(envelope_from, '@')) {
		split_addr(envelope_from, local, sizeof local, domain, sizeof domain);
		if (local[0] && strcmp(local, "freeswitch") != 0) {
			vm_job_set_str(job, "contact.mailbox", local);
			vm_job_set_str(job, "contact.dialed", local);
		}
		if (!vm_job_get_str(job, "contact.context") && domain[0])
			vm_job_set_str(job, "contact.context", domain);
	}
}

/*
 * The intake's bounds (engine/core/event_limits.c), applied here as at every
 * intake: a 4 MB caller id or a To: of 3,000 addresses is refused while the
 * PBX (or the MTA) is still there to hear it, not later by `vmpipe serve`.
 */
static int within_limits(const vm_job *job, char *err, size_t errsize)
{
	static const struct { const char *path, *what; enum ev_kind kind; } f[] = {
		{"contact.caller", "the caller id", EV_CALLER},
		{"contact.caller_name", "the caller's name", EV_NAME},
		{"contact.mailbox", "the mailbox", EV_CALLER},
		{"contact.context", "the mailbox's context or domain", EV_CALLER},
		{"recipient.email", "the mail's recipients (To:)", EV_RECIPIENTS},
		{"recipient.name", "the recipient's name", EV_NAME},
	};
	for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
		const char *v = vm_job_get_str(job, f[i].path);
		if (!v)
			continue;
		json_t *j = json_stringn_nocheck(v, strlen(v));
		int rc = j ? ev_check(f[i].kind, j, f[i].what, err, errsize) : 0;
		json_decref(j);
		if (rc != 0)
			return -1;
	}
	return 0;
}

static void pbx_fields(vm_job *job, const char *source, const mr_headers *h)
{
	static const char *const num[] = {"X-Asterisk-VM-Caller-ID-Num", "X-Asterisk-CallerID",
					   "X-Voicemail-Caller-ID-Number", NULL};
	static const char *const name[] = {"X-Asterisk-VM-Caller-ID-Name", "X-Asterisk-CallerIDName",
					    "X-Voicemail-Caller-ID-Name", NULL};
	static const char *const box[] = {"X-Asterisk-VM-Extension", "X-Voicemail-Account", NULL};
	static const char *const ctx[] = {"X-Asterisk-VM-Context", "X-Voicemail-Domain", NULL};
	static const char *const dur[] = {"X-Asterisk-VM-Duration", "X-Voicemail-Length", NULL};

	char *caller = first_of(h, num);
	if (unknown_caller(caller)) {
		free(caller);
		caller = NULL;
	}
	set_owned(job, "contact.caller", caller);
	char *cname = first_of(h, name);
	if (unknown_caller(cname)) {
		free(cname);
		cname = NULL;
	}
	set_owned(job, "contact.caller_name", cname);

	char mailbox[128] = "";
	long msgnum = -1;
	char *mb = first_of(h, box);
	if (mb)
		snprintf(mailbox, sizeof mailbox, "%s", mb);
	free(mb);
	char ambox[128];
	long anum;
	if (asterisk_msgid(mr_get(h, "Message-ID"), ambox, sizeof ambox, &anum)) {
		if (!mailbox[0])
			snprintf(mailbox, sizeof mailbox, "%s", ambox);
		msgnum = anum;
	}
	char *n = text_of(h, "X-Asterisk-VM-Message-Num");
	if (n)
		msgnum = atol(n);
	free(n);
	if (mailbox[0]) {
		vm_job_set_str(job, "contact.mailbox", mailbox);
		vm_job_set_str(job, "contact.dialed", mailbox);
	}
	if (msgnum >= 0)
		vm_job_set_int(job, "contact.message_num", msgnum);
	set_owned(job, "contact.context", first_of(h, ctx));

	char *d = first_of(h, dur);
	double secs = seconds_of(d);
	free(d);
	if (secs >= 0)
		vm_job_set_num(job, "recording.duration_seconds", secs);

	/* When the voicemail was left: Asterisk's Orig-time (epoch), else Date. */
	char *ot = text_of(h, "X-Asterisk-VM-Orig-time");
	int64_t ms = 0, v;
	if (ot && parse_int(ot, &v) == 0 && v > 0 && v < 32503680000LL)
		ms = v * 1000;
	free(ot);
	if (!ms)
		ms = rfc5322_date(mr_get(h, "Date"));
	if (ms) {
		char iso[32];
		vm_format_time(ms, iso, sizeof iso);
		vm_job_set_str(job, "contact.date", iso);
	}
	vm_job_set_str(job, "source", source);
}

enum pbxmail_kind pbxmail_parse(const char *mail, size_t len, char *const *rcpt,
				const char *envelope_from, struct pbxmail *out, char *err,
				size_t errsize)
{
	memset(out, 0, sizeof *out);
	mr_headers h;
	mr_parts parts;
	const char *body;
	size_t blen;
	char e[300];
	if (len > PBXMAIL_MAX_BYTES) {
		snprintf(err, errsize, "the mail is %zu bytes; the limit is %u", len, PBXMAIL_MAX_BYTES);
		return PBXMAIL_BAD;
	}
	if (mr_read_headers(mail, len, &h, &body, &blen, e, sizeof e) != 0) {
		snprintf(err, errsize, "not a mail: %s", e);
		return PBXMAIL_BAD;
	}
	if (mr_parts_read(mail, len, &parts, e, sizeof e) != 0) {
		snprintf(err, errsize, "unreadable MIME structure: %s", e);
		mr_headers_free(&h);
		return PBXMAIL_BAD;
	}
	/* No header this reads is longer than a few KiB in any real mail: a
	 * longer one is refused before it is decoded (the limits below are
	 * smaller still). */
	for (size_t i = 0; i < h.n; i++) {
		size_t vl = strlen(h.v[i].value);
		if (vl > PBXMAIL_HEADER_MAX) {
			snprintf(err, errsize, "the mail's %.60s header is %zu bytes; at most %d", h.v[i].name, vl,
				 PBXMAIL_HEADER_MAX);
			mr_parts_free(&parts);
			mr_headers_free(&h);
			return PBXMAIL_BAD;
		}
	}
	const char *source = "mail";
	const char *mid = mr_get(&h, "Message-ID"), *mailer = mr_get(&h, "X-Mailer");
	if (has_prefix(&h, "X-Asterisk-") || (mid && strncmp(mid, "<Asterisk-", 10) == 0))
		source = "asterisk";
	else if (has_prefix(&h, "X-Voicemail-") || (mailer && strcasestr(mailer, "FreeSWITCH")))
		source = "freeswitch";
	enum pbxmail_kind rc = PBXMAIL_BAD;
	if (!(out->job = job_new("pending"))) {
		snprintf(err, errsize, "out of memory");
		goto done;
	}
	if (find_audio(&parts, out, err, errsize) != 0)
		goto done;
	if (!out->audio && strcmp(source, "mail") == 0) {
		/* Asterisk's pager mail (sendpage(): no Message-ID, no X-Asterisk-*),
		 * or any other mail: not ours to read. */
		snprintf(err, errsize, "not a voicemail: %s", out->note);
		rc = PBXMAIL_OTHER;
		goto done;
	}
	char id[ID_MAX + 40];
	make_id(source, &h, out->audio ? out->audio_name : NULL, mail, len, id, sizeof id);
	vm_job_set_str(out->job, "id", id);
	vm_job_set_str(out->job, "contact.id", id);
	vm_job_set_str(out->job, "contact.initial_id", id);
	pbx_fields(out->job, source, &h);
	char abody[4096];
	if (strcmp(source, "asterisk") == 0 && asterisk_body(&parts, abody, sizeof abody)) {
		double secs;
		if (!vm_job_get_num(out->job, "recording.duration_seconds", &secs) &&
		    (secs = asterisk_body_duration(abody)) >= 0)
			vm_job_set_num(out->job, "recording.duration_seconds", secs);
		char *name = asterisk_body_name(abody, vm_job_get_str(out->job, "contact.caller_name"));
		set_owned(out->job, "contact.caller_name", name);
	}
	if (strcmp(source, "freeswitch") == 0)
		freeswitch_stock(out->job, &h, envelope_from);
	recipients(out->job, &h, rcpt);
	if (within_limits(out->job, err, errsize) != 0)
		goto done;
	if (out->audio) {
		double received, recorded, secs;
		bool cut = false;
		if (pbxaudio_probe(out->audio, out->audio_len, &received, &recorded, &cut)) {
			if (cut || !vm_job_get_num(out->job, "recording.duration_seconds", &secs))
				vm_job_set_num(out->job, "recording.duration_seconds", received);
			if (cut)
				vm_job_set_num(out->job, "contact.recorded_seconds", recorded);
		}
		out->truncated = cut || parts.unterminated > 0;
		if (out->truncated) {
			vm_job_set_bool(out->job, "contact.mail_truncated", true);
			snprintf(out->note, sizeof out->note, "the mail was cut short (%s): the recording is incomplete",
				 parts.unterminated ? "its MIME parts do not end" : "the audio ends before its header says");
		}
	}
	rc = PBXMAIL_VOICEMAIL;
done:
	if (rc != PBXMAIL_VOICEMAIL)
		pbxmail_free(out);
	mr_parts_free(&parts);
	mr_headers_free(&h);
	return rc;
}

void pbxmail_free(struct pbxmail *m)
{
	if (!m)
		return;
	job_free(m->job);
	free(m->audio);
	memset(m, 0, sizeof *m);
}
