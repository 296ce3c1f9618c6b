/*
 * One SMTP transaction over libcurl: connect, STARTTLS/implicit TLS, AUTH,
 * MAIL FROM, RCPT TO, DATA with the message as given (curl only dot-stuffs
 * it on the wire; the server stores exactly these bytes).
 */
#ifndef NOTIFY_SMTP_SEND_H
#define NOTIFY_SMTP_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmpipe/vmpipe.h>

enum smtp_tls { SMTP_TLS_REQUIRED = 0, SMTP_TLS_OPTIONAL = 1, SMTP_TLS_NONE = 2 };
enum smtp_auth { SMTP_AUTH_ANY = 0, SMTP_AUTH_PLAIN = 1, SMTP_AUTH_LOGIN = 2 };

/* Everything a transaction needs; all borrowed, read-only (shared by threads). */
struct smtp_conn {
	const char *url;      /* smtp://host[:port][/ehlo-name] or smtps://… */
	int tls;              /* enum smtp_tls */
	const char *username; /* NULL: no AUTH */
	const char *password; /* never logged */
	int auth;             /* enum smtp_auth */
	const char *ca_file;  /* NULL: the system store */
	bool insecure;        /* skip certificate and host name checks */
	int64_t connect_timeout_ms;
	int64_t timeout_ms;
};

/* What happened, for the caller's log line and failure message. */
struct smtp_result {
	long code;          /* last SMTP reply code (0: none received) */
	char reply[320];    /* last reply line from the server, "" if none */
	int curl_code;      /* CURLcode */
	char curl_err[256]; /* curl's error text, "" on success */
	/* The server's EHLO SIZE (RFC 1870): the largest message it takes, in
	 * bytes; 0 when it named none (no SIZE, or "SIZE" / "SIZE 0": no fixed
	 * limit).  curl declares the message's size in MAIL FROM (SIZE=n) when
	 * the server offers the extension, so a server refuses a message over
	 * its limit there, with 552, before any of it is sent. */
	uint64_t size_limit;
};

/* libcurl's global init, once per process (curl_global_init is not thread-safe). */
int smtp_global_init(void);

/*
 * Send `data` (len bytes, CRLF line ends) from envelope sender `from` to the
 * NULL-terminated bare addresses `rcpt`.  `job` is used for trace logging
 * only (the conversation at trace level, with AUTH data redacted).
 * Returns 0 when the server accepted the message (250 after DATA), else -1;
 * `res` is filled in both cases.
 */
int smtp_send(vm_job *job, const struct smtp_conn *c, const char *from, char *const *rcpt,
	      const char *data, size_t len, struct smtp_result *res);

/*
 * The failure class of a result: VM_TRANSIENT (4xx replies, connection and
 * timeout faults) or VM_PERMANENT (5xx replies, authentication refused,
 * certificate not trusted, STARTTLS missing when required).
 */
vm_status smtp_classify(const struct smtp_result *res);

#endif
