/*
 * notify-smtp: send the voicemail e-mail through any SMTP server (libcurl).
 *
 * The message is the mail module's (vm_mail_build), the same bytes every mail
 * notifier sends.  STARTTLS is required unless told otherwise; AUTH PLAIN or
 * LOGIN when a username is set.  A 4xx reply or a connection fault is
 * transient (the scheduler retries), a 5xx reply, refused credentials or an
 * untrusted certificate permanent; the message quotes the server's reply.
 * A job whose record already lists this stage's message is not sent again.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <vmpipe/vmpipe.h>

#include "smtp_send.h"

struct notify_smtp {
	const char *url;
	int tls;
	const char *username;
	const char *password;
	int auth;
	const char *ca_file;
	bool insecure;
	int64_t connect_timeout_ms;
	int64_t timeout_ms;
	const char *envelope_from;
	const char *helo;
	vm_mail_opts mail;
	/* Filled by init. */
	char where[300];         /* scheme://host:port for messages (no credentials) */
	char ca_path[PATH_MAX];  /* ca_file resolved against the pipeline's directory */
	char ehlo[256];          /* the name EHLO gives */
	char url_ehlo[2400];     /* url with the EHLO name as its path (how curl takes it) */
	struct smtp_conn conn;
};

static const char *const tls_names[] = {"required", "optional", "none"};

static bool is_loopback(const char *host)
{
	if (strcasecmp(host, "localhost") == 0)
		return true;
	char h[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof h) {
		memcpy(h, host + 1, n - 2);
		h[n - 2] = '\0';
	} else {
		snprintf(h, sizeof h, "%s", host);
	}
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, h, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, h, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* A bare address for MAIL FROM: something@something, nothing that could end
 * the command or add a parameter. */
static bool plain_address(const char *a)
{
	const char *at = strchr(a, '@');
	if (!at || at == a || !at[1] || strlen(a) > 254)
		return false;
	for (const char *p = a; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || strchr("<>()[],;:\"\\", *p))
			return false;
	return true;
}

/* Parse and vet `url`; fills ns->where.  0, or -1 after vm_stage_error(). */
static int check_url(vm_stage *stage, struct notify_smtp *ns, bool *loopback, bool *has_path)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *path = NULL;
	int rc = -1;
	if (!u || curl_url_set(u, CURLUPART_URL, ns->url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		vm_stage_error(stage, "option 'url': '%s' is not a URL (expected smtp://HOST[:PORT] or "
				      "smtps://HOST[:PORT])", ns->url);
		goto out;
	}
	if (strcmp(scheme, "smtp") != 0 && strcmp(scheme, "smtps") != 0) {
		vm_stage_error(stage, "option 'url': scheme '%s' is not smtp or smtps", scheme);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK && user) {
		vm_stage_error(stage, "option 'url': put credentials in 'username' and 'password', not in "
				      "the URL (URLs end up in log lines)");
		goto out;
	}
	curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
	snprintf(ns->where, sizeof ns->where, "%s://%s:%s", scheme, host, port ? port : "?");
	if (strcmp(scheme, "smtps") == 0 && ns->tls == SMTP_TLS_NONE) {
		vm_stage_error(stage, "option 'tls': 'none' contradicts an smtps:// URL (implicit TLS)");
		goto out;
	}
	*loopback = is_loopback(host);
	*has_path = curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && path &&
		    strcmp(path, "/") != 0 && *path;
	rc = 0;
out:
	curl_free(path);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(user);
	curl_url_cleanup(u);
	return rc;
}

/* A domain name (letters, digits, '-', '.') or an address literal ("[192.0.2.1]",
 * "[IPv6:2001:db8::1]"): what EHLO may carry (RFC 5321 §4.1.1.1). */
static bool ehlo_ok(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len > 253)
		return false;
	if (n[0] == '[')
		return n[len - 1] == ']' && strspn(n + 1, "0123456789abcdefABCDEFIPv6:.") == len - 2;
	return strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == len &&
	       n[0] != '.' && n[0] != '-';
}

/*
 * The host's fully-qualified name: the canonical name of gethostname() as the
 * resolver gives it (getaddrinfo AI_CANONNAME: /etc/hosts, DNS), as Postfix's
 * myhostname and `hostname -f` take it.  0, or -1 when the host has none
 * (a name without a dot).
 */
static int host_fqdn(char *out, size_t size)
{
	char host[256];
	if (gethostname(host, sizeof host) != 0)
		return -1;
	host[sizeof host - 1] = '\0';
	if (strchr(host, '.') && ehlo_ok(host)) {
		snprintf(out, size, "%s", host);
		return 0;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_flags = AI_CANONNAME};
	struct addrinfo *ai = NULL;
	int rc = -1;
	if (getaddrinfo(host, NULL, &hints, &ai) == 0 && ai && ai->ai_canonname &&
	    strchr(ai->ai_canonname, '.') && ehlo_ok(ai->ai_canonname)) {
		snprintf(out, size, "%s", ai->ai_canonname);
		rc = 0;
	}
	if (ai)
		freeaddrinfo(ai);
	if (rc != 0)
		snprintf(out, size, "%s", host);
	return rc;
}

/*
 * The EHLO name: `helo`, else the host's FQDN (curl would send the short host
 * name, which servers with reject_non_fqdn_helo_hostname refuse).  curl takes
 * it as the URL's path; a path already in `url` is the older way to set it.
 */
static int ehlo_name(vm_stage *stage, struct notify_smtp *ns, bool has_path)
{
	if (ns->helo && *ns->helo) {
		if (has_path) {
			vm_stage_error(stage, "option 'helo': the url's path sets the EHLO name too: "
					      "keep one");
			return -1;
		}
		if (!ehlo_ok(ns->helo)) {
			vm_stage_error(stage, "option 'helo': '%s' is not a host name or an address "
					      "literal like [192.0.2.1]", ns->helo);
			return -1;
		}
		snprintf(ns->ehlo, sizeof ns->ehlo, "%s", ns->helo);
	} else if (has_path) {
		return 0;
	} else if (host_fqdn(ns->ehlo, sizeof ns->ehlo) != 0) {
		vm_log(NULL, VM_LOG_WARN, "[%s] this host's name '%s' is not fully qualified (no "
		       "domain in /etc/hosts or DNS): servers that require one refuse the mail; set "
		       "helo = a name the server knows", vm_stage_name(stage), ns->ehlo);
		if (!ehlo_ok(ns->ehlo))
			return 0; /* curl's own default then */
	}
	const char *sep = ns->url[strlen(ns->url) - 1] == '/' ? "" : "/";
	if ((size_t)snprintf(ns->url_ehlo, sizeof ns->url_ehlo, "%s%s%s", ns->url, sep, ns->ehlo) >=
	    sizeof ns->url_ehlo) {
		vm_stage_error(stage, "option 'url': too long");
		return -1;
	}
	return 0;
}

static int init(vm_stage *stage, void *state)
{
	struct notify_smtp *ns = state;
	if (smtp_global_init() != 0) {
		vm_stage_error(stage, "libcurl failed to initialise");
		return -1;
	}
	bool loopback = false, has_path = false;
	if (check_url(stage, ns, &loopback, &has_path) != 0 || ehlo_name(stage, ns, has_path) != 0)
		return -1;
	if (ns->password && *ns->password && !(ns->username && *ns->username)) {
		vm_stage_error(stage, "option 'password' is set but 'username' is not");
		return -1;
	}
	if (ns->username && *ns->username && !ns->password) {
		vm_stage_error(stage, "option 'username' is set but 'password' is not "
				      "(use password = ${SMTP_PASSWORD} to take it from the environment)");
		return -1;
	}
	if (ns->envelope_from && !plain_address(ns->envelope_from)) {
		vm_stage_error(stage, "option 'envelope_from': '%s' is not a bare address like "
				      "bounces@example.com", ns->envelope_from);
		return -1;
	}
	if (ns->ca_file && *ns->ca_file) {
		if (ns->ca_file[0] == '/')
			snprintf(ns->ca_path, sizeof ns->ca_path, "%s", ns->ca_file);
		else
			snprintf(ns->ca_path, sizeof ns->ca_path, "%s/%s", vm_stage_config_dir(stage),
				 ns->ca_file);
		if (access(ns->ca_path, R_OK) != 0) {
			vm_stage_error(stage, "option 'ca_file': cannot read %s", ns->ca_path);
			return -1;
		}
	}
	if (ns->connect_timeout_ms <= 0 || ns->timeout_ms <= 0) {
		vm_stage_error(stage, "options 'connect_timeout' and 'timeout' must be positive");
		return -1;
	}
	if (ns->tls != SMTP_TLS_REQUIRED && !loopback)
		vm_log(NULL, VM_LOG_WARN,
		       "[%s] tls = %s: mail%s may cross the network to %s in clear text",
		       vm_stage_name(stage), tls_names[ns->tls],
		       ns->username && *ns->username ? " and the password" : "", ns->where);
	if (ns->insecure)
		vm_log(NULL, VM_LOG_WARN, "[%s] insecure = yes: the certificate of %s is not verified",
		       vm_stage_name(stage), ns->where);
	ns->conn = (struct smtp_conn){
		.url = *ns->url_ehlo ? ns->url_ehlo : ns->url,
		.tls = ns->tls,
		.username = ns->username && *ns->username ? ns->username : NULL,
		.password = ns->password,
		.auth = ns->auth,
		.ca_file = *ns->ca_path ? ns->ca_path : NULL,
		.insecure = ns->insecure,
		.connect_timeout_ms = ns->connect_timeout_ms,
		.timeout_ms = ns->timeout_ms,
	};
	if (vm_mail_init(stage, &ns->mail) != 0)
		return -1;
	vm_mail_require_recipient(&ns->mail); /* a mail with nobody to send it to cannot go */
	return 0;
}

/* "a@x, b@y" (at most `size` bytes) for log lines. */
static void join(char *const *v, char *out, size_t size)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; v[i] && o + 1 < size; i++) {
		int n = snprintf(out + o, size - o, "%s%s", i ? ", " : "", v[i]);
		if (n < 0)
			break;
		o += (size_t)n < size - o ? (size_t)n : size - o - 1;
	}
}

static vm_status failure(vm_job *job, const struct notify_smtp *ns, const struct smtp_result *r)
{
	vm_status kind = smtp_classify(r);
	const char *hint = "";
	if (r->curl_code == CURLE_PEER_FAILED_VERIFICATION)
		hint = " (not trusted: set ca_file to the CA that signed it, or insecure = yes to skip "
		       "verification)";
	else if (r->curl_code == CURLE_LOGIN_DENIED)
		hint = " (check username and password)";
	else if (r->curl_code == CURLE_USE_SSL_FAILED)
		hint = " (the server offers no STARTTLS; tls = optional or none allows clear text)";
	if (*r->reply && r->code >= 400)
		return vm_fail(job, kind, "%s: server replied \"%s\" (%s)%s", ns->where, r->reply,
			       r->curl_err, hint);
	return vm_fail(job, kind, "%s: %s%s", ns->where, r->curl_err, hint);
}

/* The recording's size in bytes, -1 when not known. */
static int64_t recording_size(vm_job *job)
{
	int64_t size;
	if (vm_job_get_int(job, "recording.size", &size) && size >= 0)
		return size;
	const char *uri = vm_job_get_str(job, "recording.uri");
	char path[PATH_MAX];
	struct stat st;
	if (uri && vm_file_uri_path(uri, path, sizeof path) == 0 && stat(path, &st) == 0)
		return (int64_t)st.st_size;
	return -1;
}

/*
 * The message again, the recording not attached ({{attachment_too_large}}:
 * the body says so and keeps the link).  Its {{attach_max}} is the largest
 * recording the server would take: the SIZE limit less room for the body,
 * over base64's growth (57 bytes become a 76-character line and CRLF: 78),
 * or, when the server named no limit, less than this recording.
 */
static vm_status build_without_recording(vm_job *job, const struct notify_smtp *ns,
					 const struct smtp_result *r, size_t refused, vm_mail *out)
{
	enum { BODY_ROOM = 64 * 1024 };
	int64_t rec = recording_size(job);
	int64_t fits = r->size_limit > BODY_ROOM ? (int64_t)((r->size_limit - BODY_ROOM) / 78 * 57)
		       : (int64_t)(refused / 78 * 57);
	if (rec > 0 && fits >= rec)
		fits = rec - 1;
	if (fits < 1)
		fits = 1;
	vm_mail_opts o = ns->mail;
	o.attach = VM_ATTACH_YES;
	o.attach_max = fits;
	return vm_mail_build(job, &o, out);
}

static vm_status run(const void *state, vm_job *job)
{
	const struct notify_smtp *ns = state;
	const char *done = vm_job_notified(job);
	if (done) {
		vm_log(job, VM_LOG_INFO, "already sent (%s): not again", done);
		return vm_done(job);
	}
	if (vm_job_maybe_sent(job))
		vm_log(job, VM_LOG_WARN, "an earlier attempt was cut off while sending; SMTP cannot be asked "
		       "whether it delivered, so this may be a second copy (same Message-ID)");
	vm_mail mail;
	/* Refuses a job without recipients, or one outside allowed_recipient_domains. */
	vm_status s = vm_mail_build(job, &ns->mail, &mail);
	if (s != VM_DONE)
		return s;
	char rcpts[400];
	join(mail.rcpt, rcpts, sizeof rcpts);
	const char *from = ns->envelope_from ? ns->envelope_from : mail.envelope_from;
	vm_log(job, VM_LOG_DEBUG, "sending %zu bytes to %s via %s (tls %s)", mail.len, rcpts, ns->where,
	       tls_names[ns->tls]);
	struct smtp_result r;
	int rc = smtp_send(job, &ns->conn, from, mail.rcpt, mail.data, mail.len, &r);
	if (rc != 0 && r.code == 552 && ns->mail.attach != VM_ATTACH_NO) {
		/* Too large for the server (552, RFC 5321 §4.2.3; Postfix: "5.3.4 Message
		 * size exceeds fixed limit"), refused at MAIL FROM when it offers SIZE:
		 * the recording is what made it so.  Once more without it: the owner
		 * is told either way. */
		vm_mail smaller;
		s = build_without_recording(job, ns, &r, mail.len, &smaller);
		if (s != VM_DONE) {
			vm_mail_free(&mail);
			return s;
		}
		if (smaller.len < mail.len) {
			vm_log(job, VM_LOG_WARN, "%s refused %zu bytes as too large (\"%s\"%s): sending "
			       "%zu bytes without the recording", ns->where, mail.len, r.reply,
			       r.size_limit ? ", its SIZE limit is smaller" : "", smaller.len);
			vm_mail_free(&mail);
			mail = smaller;
			from = ns->envelope_from ? ns->envelope_from : mail.envelope_from;
			rc = smtp_send(job, &ns->conn, from, mail.rcpt, mail.data, mail.len, &r);
		} else {
			vm_mail_free(&smaller);
		}
	}
	if (rc != 0) {
		vm_mail_free(&mail);
		return failure(job, ns, &r);
	}
	vm_job_add_notification(job, "smtp", mail.message_id);
	vm_log(job, VM_LOG_INFO, "sent %s to %s via %s: %s", mail.message_id, rcpts, ns->where, r.reply);
	vm_mail_free(&mail);
	return vm_done(job);
}

static void fini(void *state)
{
	struct notify_smtp *ns = state;
	vm_mail_fini(&ns->mail);
}

#define O(f) offsetof(struct notify_smtp, f)
static const vm_option options[] = {
	{"url", VM_OPT_STRING, NULL, true, O(url),
	 "smtp://HOST[:PORT] (STARTTLS; 587 for submission) or smtps://HOST[:PORT] (implicit TLS, 465)",
	 NULL},
	{"tls", VM_OPT_ENUM, "required", false, O(tls),
	 "required: refuse to send without TLS; optional: STARTTLS if offered; none: clear text",
	 "required|optional|none"},
	{"username", VM_OPT_STRING, NULL, false, O(username), "AUTH user (PLAIN or LOGIN)", NULL},
	{"password", VM_OPT_STRING, NULL, false, O(password),
	 "AUTH password; write ${SMTP_PASSWORD} to take it from the environment", NULL},
	{"auth", VM_OPT_ENUM, "any", false, O(auth),
	 "SASL mechanism: any (the best the server offers), plain or login", "any|plain|login"},
	{"ca_file", VM_OPT_STRING, NULL, false, O(ca_file),
	 "PEM file of CAs to trust instead of the system store (relative: to the pipeline file)", NULL},
	{"insecure", VM_OPT_BOOL, "no", false, O(insecure),
	 "skip certificate and host name verification (testing only)", NULL},
	{"connect_timeout", VM_OPT_DURATION, "10s", false, O(connect_timeout_ms),
	 "give up connecting after this long (a transient failure)", NULL},
	{"timeout", VM_OPT_DURATION, "60s", false, O(timeout_ms),
	 "bound on one whole SMTP transaction (a transient failure)", NULL},
	{"helo", VM_OPT_STRING, NULL, false, O(helo),
	 "the name EHLO gives (default: this host's fully-qualified name, from the resolver)",
	 NULL},
	{"envelope_from", VM_OPT_STRING, NULL, false, O(envelope_from),
	 "envelope sender (MAIL FROM, where bounces go); default: the From address", NULL},
	VM_MAIL_OPTIONS(struct notify_smtp, mail),
	{NULL, 0, NULL, false, 0, NULL, NULL},
};

const vm_plugin vmpipe_plugin = {
	.abi_version = VMPIPE_ABI_VERSION,
	.kind = VM_STAGE_NOTIFY,
	.name = "notify-smtp",
	.summary = "send the e-mail through an SMTP server (STARTTLS, AUTH) with libcurl",
	.options = options,
	.state_size = sizeof(struct notify_smtp),
	.init = init,
	.run = run,
	.fini = fini,
};
