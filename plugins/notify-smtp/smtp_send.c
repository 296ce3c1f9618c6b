/*
 * The SMTP transaction on libcurl.  curl does the protocol (EHLO, STARTTLS,
 * AUTH, MAIL/RCPT/DATA and dot-stuffing); this file feeds it the message,
 * watches the server's replies through the debug callback (so a failure can
 * quote what the server said, not just curl's summary), and classifies the
 * outcome.  The debug callback is also the only place the conversation is
 * logged (trace level), and it logs client lines through a whitelist, so AUTH
 * data (PLAIN's initial response, LOGIN's user and password lines) never
 * reaches the log.
 */
#include "smtp_send.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static CURLcode init_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int smtp_global_init(void)
{
	pthread_once(&init_once, global_init);
	return init_rc == CURLE_OK ? 0 : -1;
}

/* Per-transaction state of the debug callback (on the sender's stack). */
struct convo {
	vm_job *job;
	bool trace;
	char line[320]; /* incoming line being assembled (longer ones are cut) */
	size_t n;
	char last[320];  /* last complete reply line */
	char error[320]; /* last reply line with a 4xx/5xx code */
	uint64_t size_limit; /* EHLO's SIZE, 0: none */
};

static long reply_code(const char *line)
{
	if (!isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]))
		return 0;
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

/* Copy a protocol line for a log or message: printable ASCII only. */
static void clean_copy(char *out, size_t size, const char *in, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < size; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (ch == '\r' || ch == '\n')
			continue;
		out[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	out[o] = '\0';
}

static void reply_line_done(struct convo *cv)
{
	char line[sizeof cv->line];
	clean_copy(line, sizeof line, cv->line, cv->n);
	cv->n = 0;
	if (!*line)
		return;
	snprintf(cv->last, sizeof cv->last, "%s", line);
	/* "250-SIZE 10240000" among the EHLO reply's lines (RFC 1870 §4). */
	if (reply_code(line) == 250 && (line[3] == '-' || line[3] == ' ') &&
	    strncasecmp(line + 4, "SIZE", 4) == 0 && (line[8] == ' ' || line[8] == '\0')) {
		char *end = line + 8;
		unsigned long long v = 0;
		if (line[8] == ' ' && isdigit((unsigned char)line[9]))
			v = strtoull(line + 9, &end, 10);
		cv->size_limit = *end == '\0' ? (uint64_t)v : 0;
	}
	if (reply_code(line) >= 400)
		snprintf(cv->error, sizeof cv->error, "%s", line);
	if (cv->trace)
		vm_log(cv->job, VM_LOG_TRACE, "smtp S: %s", line);
}

static bool verb_is(const char *line, size_t n, const char *verb)
{
	size_t v = strlen(verb);
	return n >= v && strncasecmp(line, verb, v) == 0 && (n == v || line[v] == ' ');
}

/*
 * Client commands are logged only when they cannot carry a secret.  AUTH keeps
 * its mechanism name; every other line (LOGIN's base64 user and password,
 * CRAM-MD5 answers, anything unknown) is replaced.
 */
static void log_client_line(const struct convo *cv, const char *line, size_t n)
{
	static const char *const safe[] = {"EHLO", "HELO", "STARTTLS", "MAIL", "RCPT", "DATA",
					   "QUIT", "RSET", "NOOP", "."};
	char out[300];
	const char *shown = NULL;
	for (size_t i = 0; i < sizeof safe / sizeof *safe && !shown; i++)
		if (verb_is(line, n, safe[i])) {
			clean_copy(out, sizeof out, line, n);
			shown = out;
		}
	if (!shown && verb_is(line, n, "AUTH")) {
		size_t m = 5;
		while (m < n && line[m] != ' ' && line[m] != '\r' && m < 30)
			m++;
		char mech[32];
		clean_copy(mech, sizeof mech, line + 5, m > 5 ? m - 5 : 0);
		snprintf(out, sizeof out, "AUTH %s%s", mech, m < n && line[m] == ' ' ? " [redacted]" : "");
		shown = out;
	}
	vm_log(cv->job, VM_LOG_TRACE, "smtp C: %s", shown ? shown : "[redacted]");
}

static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *userp)
{
	(void)h;
	struct convo *cv = userp;
	switch (type) {
	case CURLINFO_HEADER_IN:
		for (size_t i = 0; i < size; i++) {
			if (data[i] == '\n') {
				reply_line_done(cv);
			} else if (cv->n + 1 < sizeof cv->line) {
				cv->line[cv->n++] = data[i];
			}
		}
		break;
	case CURLINFO_HEADER_OUT:
		if (!cv->trace)
			break;
		for (size_t i = 0; i < size;) {
			size_t e = i;
			while (e < size && data[e] != '\n')
				e++;
			size_t n = e - i;
			if (n && data[i + n - 1] == '\r')
				n--;
			if (n)
				log_client_line(cv, data + i, n);
			i = e + 1;
		}
		break;
	case CURLINFO_TEXT:
		if (cv->trace) {
			char t[300];
			clean_copy(t, sizeof t, data, size);
			vm_log(cv->job, VM_LOG_TRACE, "smtp: %s", t);
		}
		break;
	default: /* the message itself and TLS records: not logged */
		break;
	}
	return 0;
}

struct reader {
	const char *data;
	size_t len, off;
};

static size_t on_read(char *buf, size_t size, size_t nitems, void *userp)
{
	struct reader *r = userp;
	size_t room = size * nitems, left = r->len - r->off;
	size_t n = left < room ? left : room;
	memcpy(buf, r->data + r->off, n);
	r->off += n;
	return n;
}

static struct curl_slist *rcpt_list(char *const *rcpt)
{
	struct curl_slist *l = NULL;
	for (size_t i = 0; rcpt[i]; i++) {
		char a[600];
		snprintf(a, sizeof a, "<%s>", rcpt[i]);
		struct curl_slist *nl = curl_slist_append(l, a);
		if (!nl) {
			curl_slist_free_all(l);
			return NULL;
		}
		l = nl;
	}
	return l;
}

int smtp_send(vm_job *job, const struct smtp_conn *c, const char *from, char *const *rcpt,
	      const char *data, size_t len, struct smtp_result *res)
{
	memset(res, 0, sizeof *res);
	res->curl_code = CURLE_FAILED_INIT;
	struct convo cv = {.job = job, .trace = vm_log_enabled(VM_LOG_TRACE)};
	struct reader rd = {data, len, 0};
	char sender[600], errbuf[CURL_ERROR_SIZE] = "";
	snprintf(sender, sizeof sender, "<%s>", from);
	struct curl_slist *to = rcpt_list(rcpt);
	CURL *h = curl_easy_init();
	if (!h || !to) {
		snprintf(res->curl_err, sizeof res->curl_err, "out of memory");
		curl_slist_free_all(to);
		curl_easy_cleanup(h);
		return -1;
	}
	static const long use_ssl[] = {CURLUSESSL_ALL, CURLUSESSL_TRY, CURLUSESSL_NONE};
	curl_easy_setopt(h, CURLOPT_URL, c->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
	curl_easy_setopt(h, CURLOPT_USE_SSL, use_ssl[c->tls]);
	if (c->username) {
		curl_easy_setopt(h, CURLOPT_USERNAME, c->username);
		curl_easy_setopt(h, CURLOPT_PASSWORD, c->password ? c->password : "");
		static const char *const mech[] = {NULL, "AUTH=PLAIN", "AUTH=LOGIN"};
		if (mech[c->auth])
			curl_easy_setopt(h, CURLOPT_LOGIN_OPTIONS, mech[c->auth]);
	}
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, sender);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, to);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &rd);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	/* VERBOSE only routes events to on_debug; curl itself prints nothing. */
	curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
	curl_easy_setopt(h, CURLOPT_DEBUGDATA, &cv);
	curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);

	CURLcode rc = curl_easy_perform(h);
	res->curl_code = (int)rc;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->code);
	/* A failure quotes the server's refusal even if a later line came in. */
	const char *reply = rc != CURLE_OK && *cv.error ? cv.error : cv.last;
	snprintf(res->reply, sizeof res->reply, "%s", reply);
	res->size_limit = cv.size_limit;
	if (rc != CURLE_OK && reply_code(reply) >= 400)
		res->code = reply_code(reply);
	if (rc != CURLE_OK)
		snprintf(res->curl_err, sizeof res->curl_err, "%s",
			 *errbuf ? errbuf : curl_easy_strerror(rc));
	cv.trace = false; /* QUIT at cleanup: nothing more worth a line */
	curl_easy_cleanup(h);
	curl_slist_free_all(to);
	return rc == CURLE_OK ? 0 : -1;
}

vm_status smtp_classify(const struct smtp_result *res)
{
	if (res->code >= 500 && res->code < 600)
		return VM_PERMANENT;
	if (res->code >= 400 && res->code < 500)
		return VM_TRANSIENT;
	switch ((CURLcode)res->curl_code) {
	/* Configuration or trust problems: the same attempt fails the same way. */
	case CURLE_LOGIN_DENIED:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_USE_SSL_FAILED:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
		return VM_PERMANENT;
	default: /* connection refused or reset, timeouts, name resolution */
		return VM_TRANSIENT;
	}
}
