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
#include "mbuf.h"
#include "read.h"
#include "core/util.h"

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
static void make_id(const char *source, const mr_headers *h, const char *mail, size_t len, char *id,
		    size_t size)
{
	const char *own = strcmp(source, "asterisk") == 0   ? mr_get(h, "X-Asterisk-VM-Message-ID")
			  : strcmp(source, "freeswitch") == 0 ? mr_get(h, "X-Voicemail-UUID")
							      : NULL;
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

static bool is_audio(const char *type, const char *name)
{
	if (strncmp(type, "audio/", 6) == 0 || strcmp(type, "application/ogg") == 0)
		return true;
	return strcmp(type, "application/octet-stream") == 0 && name && vm_audio_type(name);
}

/* The extension a file of this media type gets when the mail names none. */
static const char *ext_for(const char *type)
{
	static const struct { const char *type, *ext; } t[] = {
		{"audio/x-gsm", "gsm"}, {"audio/gsm", "gsm"}, {"audio/mpeg", "mp3"},
		{"audio/ogg", "ogg"},   {"application/ogg", "ogg"}, {"audio/flac", "flac"},
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++)
		if (strcmp(type, t[i].type) == 0)
			return t[i].ext;
	return "wav";
}

static int take_audio(const mr_part *part, const char *type, struct pbxmail *out, char *err,
		      size_t errsize)
{
	const char *cd = mr_get(&part->headers, "Content-Disposition");
	char *name = mr_param(cd, "filename");
	if (!name)
		name = mr_param(mr_get(&part->headers, "Content-Type"), "name");
	char *dname = name ? mr_decode_words(name) : NULL;
	free(name);
	const char *base = dname ? dname : "";
	const char *slash = strrchr(base, '/');
	if (slash)
		base = slash + 1;
	slash = strrchr(base, '\\');
	if (slash)
		base = slash + 1;
	while (*base == '.')
		base++;
	char pn[64];
	plain(base, pn, sizeof pn);
	if (pn[0])
		snprintf(out->audio_name, sizeof out->audio_name, "%s", pn);
	else
		snprintf(out->audio_name, sizeof out->audio_name, "voicemail.%s", ext_for(type));
	free(dname);

	/* No Content-Transfer-Encoding: 7bit, the bytes as they are. */
	const char *enc = mr_get(&part->headers, "Content-Transfer-Encoding");
	char low[32];
	size_t k = 0;
	for (const char *c = enc ? enc : "binary"; *c && *c != ';' && *c != ' ' && k + 1 < sizeof low; c++)
		low[k++] = (char)tolower((unsigned char)*c);
	low[k] = '\0';
	if (strcmp(low, "base64") == 0) {
		out->audio = mr_base64(part->body, part->len, &out->audio_len);
		if (!out->audio) {
			snprintf(err, errsize, "the audio attachment %s is not valid base64", out->audio_name);
			return -1;
		}
	} else if (strcmp(low, "binary") == 0 || strcmp(low, "8bit") == 0 || strcmp(low, "7bit") == 0) {
		out->audio = malloc(part->len ? part->len : 1);
		if (!out->audio) {
			snprintf(err, errsize, "out of memory");
			return -1;
		}
		memcpy(out->audio, part->body, part->len);
		out->audio_len = part->len;
	} else {
		snprintf(err, errsize, "the audio attachment %s is in transfer encoding '%.30s' (base64 expected)",
			 out->audio_name, low);
		return -1;
	}
	if (out->audio_len == 0) {
		snprintf(err, errsize, "the audio attachment %s is empty", out->audio_name);
		return -1;
	}
	const char *ct = vm_audio_type(out->audio_name);
	vm_job_set_str(out->job, "recording.content_type", ct ? ct : type);
	vm_job_set_int(out->job, "recording.size", (int64_t)out->audio_len);
	return 0;
}

/* The first audio leaf; -1 with the types seen when there is none. */
static int find_audio(const mr_parts *parts, struct pbxmail *out, char *err, size_t errsize)
{
	mbuf seen = MBUF_INIT;
	for (size_t i = 0; i < parts->n; i++) {
		char type[128];
		const mr_headers *h = &parts->v[i].headers;
		mr_media_type(mr_get(h, "Content-Type"), type, sizeof type);
		char *name = mr_param(mr_get(h, "Content-Disposition"), "filename");
		if (!name)
			name = mr_param(mr_get(h, "Content-Type"), "name");
		bool audio = is_audio(type, name);
		free(name);
		if (audio) {
			mbuf_free(&seen);
			return take_audio(&parts->v[i], type, out, err, errsize);
		}
		mbuf_printf(&seen, "%s%s", i ? ", " : "", type);
	}
	char *s = mbuf_take(&seen, NULL);
	snprintf(err, errsize, "not a voicemail: no audio attachment (parts: %s)", s ? s : "?");
	free(s);
	return -1;
}

/* ------------------------------------------------------------- the record */

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

int pbxmail_parse(const char *mail, size_t len, char *const *rcpt, struct pbxmail *out, char *err,
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
		return -1;
	}
	if (mr_read_headers(mail, len, &h, &body, &blen, e, sizeof e) != 0) {
		snprintf(err, errsize, "not a mail: %s", e);
		return -1;
	}
	if (mr_parts_read(mail, len, &parts, e, sizeof e) != 0) {
		snprintf(err, errsize, "unreadable MIME structure: %s", e);
		mr_headers_free(&h);
		return -1;
	}
	const char *source = "mail";
	const char *mid = mr_get(&h, "Message-ID"), *mailer = mr_get(&h, "X-Mailer");
	if (has_prefix(&h, "X-Asterisk-") || (mid && strncmp(mid, "<Asterisk-", 10) == 0))
		source = "asterisk";
	else if (has_prefix(&h, "X-Voicemail-") || (mailer && strcasestr(mailer, "FreeSWITCH")))
		source = "freeswitch";
	char id[ID_MAX + 40];
	make_id(source, &h, mail, len, id, sizeof id);
	int rc = -1;
	if (!(out->job = job_new(id))) {
		snprintf(err, errsize, "out of memory");
		goto done;
	}
	vm_job_set_str(out->job, "contact.id", id);
	vm_job_set_str(out->job, "contact.initial_id", id);
	if (find_audio(&parts, out, err, errsize) != 0)
		goto done;
	pbx_fields(out->job, source, &h);
	recipients(out->job, &h, rcpt);
	rc = 0;
done:
	if (rc != 0)
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
