/*
 * vmpipe host API: the functions the engine exports for plugins.
 *
 * Every public name starts with vm_.  Unless a comment says otherwise:
 *  - strings passed in are copied; the caller keeps ownership;
 *  - a `const char *` returned points into engine memory that stays valid
 *    until the same field is changed or the job/stage ends: copy it to keep it;
 *  - a `char *` returned is malloc()ed and the caller free()s it.
 * All functions are safe to call from several threads for different jobs.
 */
#ifndef VMPIPE_VMPIPE_H
#define VMPIPE_VMPIPE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VMPIPE_VERSION "0.1.0"

#if defined(__GNUC__)
#define VM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define VM_PRINTF(f, a)
#endif

/* ------------------------------------------------------------------ logging */

typedef enum vm_log_level {
	VM_LOG_ERROR = 0,
	VM_LOG_WARN = 1,
	VM_LOG_INFO = 2,
	VM_LOG_DEBUG = 3,
	VM_LOG_TRACE = 4,
} vm_log_level;

/*
 * Log one line to stderr.  `job` may be NULL; when set, the line carries the
 * job id and the stage currently running it.  Never log secrets (keys,
 * tokens, passwords, signatures): log lines are not redacted for you.
 */
void vm_log(const vm_job *job, vm_log_level level, const char *fmt, ...) VM_PRINTF(3, 4);
/* True when `level` would be printed: skip expensive formatting otherwise. */
bool vm_log_enabled(vm_log_level level);

/* ------------------------------------------------------------------- stages */

/* "locate", "transcribe", "notify", "notify.archive", … */
const char *vm_stage_name(const vm_stage *stage);
/* Directory of the pipeline file: resolve relative paths in options against it. */
const char *vm_stage_config_dir(const vm_stage *stage);
/* The raw (variable-expanded) text of an option, or NULL when not set. */
const char *vm_stage_option(const vm_stage *stage, const char *name);
/*
 * Explain why init() fails; init() then returns -1.  The engine prefixes the
 * pipeline file and section.
 */
void vm_stage_error(vm_stage *stage, const char *fmt, ...) VM_PRINTF(2, 3);
/*
 * True while the engine only validates (`vmpipe check`): init() must then
 * change nothing outside its own state (create no directory or file, send nothing, start no thread
 * that outlives fini) and report what would fail instead, e.g. a directory
 * that is missing and could not be created.  fini() is called as usual.
 */
bool vm_stage_checking(const vm_stage *stage);

/* -------------------------------------------------------------- job record */

/*
 * The job record is one JSON object (see vmpipe-pipeline(5) for the fields).
 * Paths are dotted: "contact.caller", "recording.uri", "transcript.text".
 * Setting a path creates the objects on the way.  The record of a job is only
 * touched by the thread running that job.
 */
const char *vm_job_id(const vm_job *job);

/* The string at `path`, or NULL if absent or not a string. */
const char *vm_job_get_str(const vm_job *job, const char *path);
/* Integer / number at `path` (a number or a numeric string); false if absent. */
bool vm_job_get_int(const vm_job *job, const char *path, int64_t *out);
bool vm_job_get_num(const vm_job *job, const char *path, double *out);
/* Boolean at `path`; `def` when absent. */
bool vm_job_get_bool(const vm_job *job, const char *path, bool def);

/*
 * Set a value.  Return 0, or -1 when `path` crosses a value that is not an
 * object, or `value` is not valid UTF-8 (vm_job_set_str).
 * vm_job_set_str(job, path, NULL) removes the field.
 */
int vm_job_set_str(vm_job *job, const char *path, const char *value);
int vm_job_set_int(vm_job *job, const char *path, int64_t value);
int vm_job_set_num(vm_job *job, const char *path, double value);
int vm_job_set_bool(vm_job *job, const char *path, bool value);

/* The whole record as compact JSON (malloc()ed; caller frees). */
char *vm_job_to_json(const vm_job *job);

/*
 * Notifier idempotency.  vm_job_notified() returns the message id this stage
 * (by stage name) already recorded in `notifications`, or NULL: a notifier that
 * finds one must not send again.  vm_job_add_notification() appends
 * { stage, transport, message_id, sent_at } for the running stage.
 */
const char *vm_job_notified(const vm_job *job);
int vm_job_add_notification(vm_job *job, const char *transport, const char *message_id);

/*
 * Once-only delivery.  The running notify stage's notification has a stable
 * identity: 32 hex digits derived from the job id and the stage name, the
 * same on every attempt, after a crash and on another host.  vm_mail_build()
 * makes the Message-ID from it (<KEY@domain-of-From>); a transport that can
 * look a delivery up by it (a file, an idempotency key) must not deliver
 * twice.  Written into buf (at least 33 bytes).
 */
void vm_job_notification_key(const vm_job *job, char *buf, size_t size);
/*
 * True when an earlier attempt of the running notify stage may have
 * delivered: a checkpoint says it got as far as sending and never finished
 * (the runner died, or another runner's attempt was cut off).  A notifier
 * that can check for its own delivery does so (notify-file); one that cannot
 * sends again and says so in its log (SES and SMTP have no idempotency).
 */
bool vm_job_maybe_sent(const vm_job *job);

/* ---------------------------------------------------------- status helpers */

/* return vm_done(job);  — the stage finished. */
vm_status vm_done(vm_job *job);
/* return vm_retry(job, 2000);  — not ready, call again in about delay_ms. */
vm_status vm_retry(vm_job *job, int64_t delay_ms);
/*
 * return vm_fail(job, VM_TRANSIENT, "HTTP %ld from %s", code, host);
 * `kind` is VM_TRANSIENT or VM_PERMANENT.  The message is what the engine
 * logs and appends to the record's errors; make it name what went wrong.
 */
vm_status vm_fail(vm_job *job, vm_status kind, const char *fmt, ...) VM_PRINTF(3, 4);

/* ---------------------------------------------------------------- the clock */

/* Wall-clock milliseconds since the epoch from the engine's clock (tests may
 * replace it).  Plugins use this, never time(). */
int64_t vm_now_ms(void);
/*
 * When the running stage must be done (vm_now_ms() time; 0: no deadline).
 * Work a plugin does inside one run() call that can take long (decoding,
 * recognition) looks at it and stops, returning VM_TRANSIENT: the engine then
 * ends the stage as timed out.
 */
int64_t vm_job_deadline_ms(const vm_job *job);
/* Format `ms` as "2024-12-11T15:30:05Z" into buf (at least 32 bytes). */
void vm_format_time(int64_t ms, char *buf, size_t size);

/* ------------------------------------------------------------- recordings */

typedef struct vm_buf {
	unsigned char *data; /* malloc()ed; free(data) */
	size_t len;
} vm_buf;

/*
 * Read a recording into memory.  `uri` is file:///abs/path or s3://bucket/key.
 * More than `max_bytes` is a permanent failure (the limit is named).  Returns
 * VM_DONE with `out` filled, or the status of vm_fail() on error (not found,
 * unreadable: VM_PERMANENT; network faults: VM_TRANSIENT).
 * A file:// URI is opened once, never through a final symbolic link, must be
 * a regular file, and is read through that descriptor; when it is the job's
 * recording.uri and the locate stage recorded the file it found
 * (vm_recording_file_id), another file there now, or that file changed, is
 * refused (VM_PERMANENT, naming the path).
 */
vm_status vm_fetch(vm_job *job, const char *uri, size_t max_bytes, vm_buf *out);

/*
 * A locate stage that found a local recording calls this with the file open
 * (O_NOFOLLOW; checked to be the regular file it means): it records
 * recording.file_id (device, inode, size, modification time), so that
 * vm_fetch() later reads that file as it was found and no other, even if the
 * path is swapped in between.  0, or -1 with errno (EINVAL: not a regular
 * file).
 */
int vm_recording_file_id(vm_job *job, int fd);

/*
 * The audio MIME type of a recording's file name or key, from its extension
 * (".wav" -> "audio/wav", ".mp3" -> "audio/mpeg", …), or NULL when it is not
 * a known audio extension.  Static string.
 */
const char *vm_audio_type(const char *name);

/* file:///a%20b.wav -> "/a b.wav" into buf.  0, or -1 when `uri` is not an
 * absolute file URI or does not fit. */
int vm_file_uri_path(const char *uri, char *buf, size_t size);
/* The inverse: "/a b.wav" -> "file:///a%20b.wav" (everything but RFC 3986's
 * unreserved characters and '/' percent-encoded) into buf.  0, or -1 when
 * `path` is not absolute or the URI does not fit. */
int vm_file_uri(const char *path, char *buf, size_t size);

/*
 * Write `data` to `path` so that a reader sees the old file or the whole new
 * one, never a part, and it survives a crash: a temporary file in the same
 * directory (".<name>.tmp-<random>", created exclusively, never through a
 * symbolic link), fsync, rename, fsync of the directory.  Temporary files
 * older than 15 minutes that killed writers left in that directory are
 * removed on the way.  0, or -1 with errno.
 */
int vm_write_file_atomic(const char *path, const void *data, size_t len);

/*
 * Would `path` work as a directory this process writes into, without
 * creating anything (for init() under vm_stage_checking())?  0 when it is a
 * writable directory, or when it is missing and its nearest existing parent is
 * a writable directory (mkdir -p would make it); -1 with the reason in `why`.
 */
int vm_dir_check(const char *path, char *why, size_t size);

/* -------------------------------------------------------------------- mail */

/*
 * Options every e-mail notifier shares.  Put a `vm_mail_opts mail;` in your
 * state, list VM_MAIL_OPTIONS(your_state, mail) in your option table, call
 * vm_mail_init() from init() and vm_mail_fini() from fini().
 */
typedef struct vm_mail_opts {
	const char *from;          /* "Voicemail <vm@example.com>" */
	const char *to;            /* recipients when the job has none (comma list) */
	const char *cc;
	const char *bcc;
	const char *reply_to;
	const char *subject;       /* template text */
	const char *template_text; /* file; NULL: built-in */
	const char *template_html; /* file; NULL: built-in */
	int attach;                /* VM_ATTACH_* */
	int64_t attach_max;        /* bytes, for VM_ATTACH_SMALLER */
	void *priv;                /* engine-owned: loaded templates */
} vm_mail_opts;

enum { VM_ATTACH_NO = 0, VM_ATTACH_YES = 1, VM_ATTACH_SMALLER = 2 };

#define VM_MAIL_OPTIONS(T, F)                                                         \
	{"from", VM_OPT_STRING, "Voicemail <voicemail@localhost>", false,                  \
	 offsetof(T, F.from), "From header: display name and address", NULL},              \
	{"to", VM_OPT_STRING, NULL, false, offsetof(T, F.to),                               \
	 "recipients when the event names none (comma-separated)", NULL},                  \
	{"cc", VM_OPT_STRING, NULL, false, offsetof(T, F.cc), "Cc recipients", NULL},      \
	{"bcc", VM_OPT_STRING, NULL, false, offsetof(T, F.bcc), "Bcc recipients", NULL},   \
	{"reply_to", VM_OPT_STRING, NULL, false, offsetof(T, F.reply_to),                   \
	 "Reply-To header", NULL},                                                          \
	{"subject", VM_OPT_STRING, "Voicemail message from: {{caller_display}}", false,             \
	 offsetof(T, F.subject), "subject template", NULL},                                 \
	{"template_text", VM_OPT_STRING, NULL, false, offsetof(T, F.template_text),         \
	 "plain-text body template file (default: built in)", NULL},                       \
	{"template_html", VM_OPT_STRING, NULL, false, offsetof(T, F.template_html),         \
	 "HTML body template file (default: built in)", NULL},                             \
	{"attach", VM_OPT_ENUM, "no", false, offsetof(T, F.attach),                         \
	 "attach the audio: no, yes, or smaller-than attach_max", "no|yes|smaller-than"},   \
	{"attach_max", VM_OPT_SIZE, "10M", false, offsetof(T, F.attach_max),                \
	 "largest recording attached", NULL},                                               \
	{"attach_format", VM_OPT_ENUM, "auto", false, VM_OPT_NOSTORE,                       \
	 "the attachment's form: auto (MP3 for GSM, mu-law, A-law; else as recorded), "     \
	 "original, wav (16-bit PCM) or mp3", "auto|original|wav|mp3"},                     \
	{"allowed_recipient_domains", VM_OPT_STRING, NULL, false, VM_OPT_NOSTORE,           \
	 "comma list of domains (*.example.com: subdomains) recipients must be in; "       \
	 "empty: any", NULL}

/*
 * Load the templates named in `opts` (relative to the pipeline file) or the
 * built-in ones, and the recipient allow-list (allowed_recipient_domains,
 * read from the stage: it is not stored in vm_mail_opts, whose layout stays
 * as plugins built against older headers know it); configured to, cc and
 * bcc outside it are an error here.  The engine keeps the stage's rules and
 * checks each job's recipients against them before any stage runs.
 * Returns 0, or -1 after vm_stage_error().
 */
int vm_mail_init(vm_stage *stage, vm_mail_opts *opts);
void vm_mail_fini(vm_mail_opts *opts);

/*
 * Call after vm_mail_init() in a notifier that sends the message (SMTP, SES),
 * not one that files it: a job with no recipient at all (none in the event,
 * no `to`) cannot be notified.  vm_mail_build() then fails it (VM_PERMANENT,
 * "no recipient: …"), and the engine refuses such a job before any stage runs
 * when no other notifier could take it (nothing located, nothing transcribed).
 */
void vm_mail_require_recipient(vm_mail_opts *opts);

typedef struct vm_mail {
	char *data;        /* the RFC 5322 message, CRLF line ends */
	size_t len;
	char *message_id;  /* "<…@…>" as in the Message-ID header */
	char *envelope_from; /* bare address of From */
	char **rcpt;       /* NULL-terminated bare addresses: To, Cc and Bcc (may be empty) */
} vm_mail;

/*
 * Render the message for `job`: the subject and both bodies with the job's
 * variables ({{caller}}, {{recipient_name}}, {{duration}}, {{transcript}},
 * {{url}}, … see vmpipe-pipeline(5)), text + HTML alternatives, the audio
 * attached when asked and small enough.  VM_DONE with `out` filled, or a
 * vm_fail() status.  A recipient outside allowed_recipient_domains fails it
 * (VM_PERMANENT, "recipient x is outside allowed_recipient_domains (…):
 * nothing sent"), before anything is rendered or fetched.  A job with no
 * recipient still gets a message (without a To header; out->rcpt is then
 * empty) unless vm_mail_require_recipient() was called: a notifier that
 * files the message (notify-file) still keeps it.
 */
vm_status vm_mail_build(vm_job *job, const vm_mail_opts *opts, vm_mail *out);
void vm_mail_free(vm_mail *mail);

enum { VM_RCPT_TO = 0, VM_RCPT_CC = 1, VM_RCPT_BCC = 2 };

/*
 * Which header a recipient of vm_mail.rcpt belongs to: VM_RCPT_CC or
 * VM_RCPT_BCC for an address of the `cc` or `bcc` option (case-insensitive),
 * else VM_RCPT_TO (the job's recipient, or the `to` option).  For a notifier
 * whose API wants the envelope split (SES's Destination).  The addresses and
 * the allow-list are the mail module's, parsed once by vm_mail_init().
 */
int vm_mail_recipient_kind(const vm_mail_opts *opts, const char *addr);

/* ---- audio (wav.c) ---- */

/*
 * A WAV recording decoded to mono 16-bit samples.  Speech engines want one
 * channel at one rate, whatever the PBX wrote: the decoder mixes channels
 * down (average) and resamples with a windowed-sinc filter.
 */
typedef struct vm_wav {
	int16_t *samples;      /* malloc()ed; release with vm_wav_free() */
	size_t nsamples;
	unsigned rate;         /* Hz of `samples` */
	unsigned src_rate;     /* Hz the file was recorded at */
	unsigned src_channels;
	unsigned src_bits;     /* bits per sample in the file */
	unsigned src_format;   /* 1 PCM, 3 IEEE float, 6 A-law, 7 mu-law, 0x31 GSM 6.10 (EXTENSIBLE resolved) */
	double duration;       /* seconds of audio present in the file */
	double claimed_duration; /* seconds the data chunk header claims (= duration unless truncated) */
	bool truncated;        /* the data chunk ends before its header says: what is there was decoded */
} vm_wav;

#define VM_WAV_RATE 16000u /* what vm_wav_decode() delivers: the rate speech models use */

/* Return codes; `err` then holds the detail (no prefix), e.g. `starts with "ID3"`. */
enum {
	VM_WAV_OK = 0,
	VM_WAV_NOT_WAV = -1,     /* no RIFF/WAVE header */
	VM_WAV_UNSUPPORTED = -2, /* a WAV, but a codec or layout we do not decode */
	VM_WAV_CORRUPT = -3,     /* header chunks inconsistent or cut before the audio */
	VM_WAV_NOMEM = -4,
	VM_WAV_TOO_LONG = -5,    /* longer than the limit, or more memory than a decode may take */
	VM_WAV_DEADLINE = -6,    /* the deadline passed while decoding (vm_wav_decode_limits) */
};

/* No decode delivers more than this much audio (one hour), whatever it asks. */
#define VM_WAV_MAX_SECONDS 3600.0

/*
 * Decode `data` (a whole .wav file) into `out`: mono at VM_WAV_RATE.
 * Accepts PCM 8/16/24/32-bit, 32-bit float, A-law and mu-law, any channel
 * count up to 8, WAVE_FORMAT_EXTENSIBLE, and any chunks around "data"; and
 * GSM 6.10, both in a WAV (format 0x0031, Asterisk's wav49) and as a raw
 * .gsm file of 33-byte frames (8 kHz; src_format 0x0031, src_bits 0).
 * A data chunk cut short is decoded as far as it goes (out->truncated).
 * Returns VM_WAV_OK or a negative code with a message in err (if errsz > 0);
 * on error `out` holds nothing to free.
 */
int vm_wav_decode(const unsigned char *data, size_t len, vm_wav *out, char *err, size_t errsz);
/* The same at `rate` Hz; rate 0 keeps the file's own rate. */
int vm_wav_decode_rate(const unsigned char *data, size_t len, unsigned rate, vm_wav *out,
                       char *err, size_t errsz);
/*
 * The same, bounded: audio longer than `max_seconds` (0, or more than
 * VM_WAV_MAX_SECONDS: that cap) is refused with VM_WAV_TOO_LONG before
 * anything is allocated, and the decode stops with VM_WAV_DEADLINE once
 * vm_now_ms() reaches `deadline_ms` (0: none; pass vm_job_deadline_ms()).
 * Sample rates from 4000 to 192000 Hz are decoded (others: VM_WAV_UNSUPPORTED).
 * vm_wav_decode() and vm_wav_decode_rate() apply VM_WAV_MAX_SECONDS.
 */
int vm_wav_decode_limits(const unsigned char *data, size_t len, unsigned rate, double max_seconds,
                         int64_t deadline_ms, vm_wav *out, char *err, size_t errsz);
/* Free out->samples and zero the struct; NULL and zeroed structs are fine. */
void vm_wav_free(vm_wav *wav);

/*
 * The header only: format, rate, channels and duration of a WAV file without
 * decoding its samples (the file may be hours long).  `head` is the start of
 * the file, `len` bytes of it (the first 64 KiB hold the header of any usual
 * recording; the whole file works too), and `file_size` the size of the
 * whole file (0: `len`).  On VM_WAV_OK `out` is filled as vm_wav_decode_rate()
 * with rate 0 would fill it, except that out->samples is NULL (nothing to
 * free) and out->nsamples counts the frames in the file.  The formats are
 * those vm_wav_decode() reads.  Otherwise a negative code with the reason in
 * err (a header that does not end within `head` is VM_WAV_CORRUPT, saying so).
 */
int vm_wav_probe(const unsigned char *head, size_t len, uint64_t file_size, vm_wav *out,
                 char *err, size_t errsz);

/* ---- AWS (engine/aws) ---- */

/*
 * One AWS call, signed with SigV4 and sent with the SDKs' standard retry mode
 * (3 attempts, full-jitter backoff, bounded to a few seconds in total inside
 * one call).  Credentials come from the AWS CLI's chain (environment, web
 * identity, shared files, container, IMDSv2); endpoints honour AWS_ENDPOINT_URL
 * and AWS_ENDPOINT_URL_<SERVICE>.  Nothing here logs a secret.
 */

/* How the service shapes its errors, so they can be parsed. */
typedef enum vm_aws_protocol {
	VM_AWS_REST_XML = 0,  /* S3 */
	VM_AWS_QUERY = 1,     /* STS, SNS, … (XML <ErrorResponse>) */
	VM_AWS_JSON = 2,      /* JSON 1.1 with X-Amz-Target (Transcribe): "__type" */
	VM_AWS_REST_JSON = 3, /* SES v2: x-amzn-ErrorType header, "message" */
} vm_aws_protocol;

/* A name/value pair: a header, or a query parameter (NOT encoded: the host
 * encodes it). */
typedef struct vm_aws_pair {
	const char *name;
	const char *value;
} vm_aws_pair;

typedef struct vm_aws_request {
	/* The SDK service id in lower case: "s3", "transcribe", "sesv2", "sts", …;
	 * it picks the endpoint, AWS_ENDPOINT_URL_<SERVICE> and the signing name. */
	const char *service;
	/* NULL: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else the
	 * region of the job's contact.instance_arn. */
	const char *region;
	const char *method;  /* "GET", "HEAD", "PUT", "POST", "DELETE" */
	/* S3: the bucket (virtual-hosted or path style is chosen for you); NULL
	 * for other services. */
	const char *bucket;
	/* The path, NOT percent-encoded: "/transcriptionjobs/x" or, with a bucket,
	 * the object key ("ivr/2024/a b.wav"; a leading '/' is optional). */
	const char *path;
	const vm_aws_pair *query;   /* sent in this order; may be NULL */
	size_t nquery;
	const vm_aws_pair *headers; /* Content-Type, X-Amz-Target, …; may be NULL */
	size_t nheaders;
	const void *body;
	size_t body_len;
	vm_aws_protocol protocol;
	size_t max_response;        /* bytes; 0: 64 MiB */
} vm_aws_request;

typedef struct vm_aws_response {
	long status;                /* HTTP status of the last attempt; 0: no answer */
	vm_aws_pair *headers;       /* names lower-cased; owned by the response */
	size_t nheaders;
	unsigned char *body;        /* NUL-terminated (body_len excludes it), or NULL */
	size_t body_len;
	/* On a non-2xx answer: the parsed error ("NoSuchKey", "ConflictException",
	 * "ThrottlingException"; for an answer without a body a name made from the
	 * status: "NotFound", "Forbidden", …).  NULL on success. */
	char *error_code;
	char *error_message;
	char *request_id;           /* x-amz(n)-request-id or the body's RequestId */
	bool retryable;             /* worth retrying later (5xx, throttling, network) */
	int attempts;               /* HTTP attempts made (1-3) */
} vm_aws_response;

/*
 * Send `req` for `job` (job may be NULL: region and logging without it).
 * VM_DONE on a 2xx answer.  Otherwise the status of vm_fail(): VM_TRANSIENT
 * when the failure is retryable after this call's own retries, VM_PERMANENT
 * otherwise, with a message naming the service, error code and message.  In
 * every case `out` is filled (zeroed first) and must be released with
 * vm_aws_response_free(): on failure it still holds the status and the parsed
 * error so a plugin can act on it (e.g. treat NoSuchKey as "not yet", or
 * ConflictException as "already started") and return something else than
 * the vm_fail() status.
 */
vm_status vm_aws_send(vm_job *job, const vm_aws_request *req, vm_aws_response *out);
void vm_aws_response_free(vm_aws_response *resp);

/* A reader of a streamed answer: 0 (go on), 1 (enough: the call ends as a
 * success), -1 (stop: the call fails; say why in the job's log or record). */
typedef int (*vm_aws_body_fn)(void *ctx, const unsigned char *data, size_t len);

/*
 * vm_aws_send(), but the body of a 2xx answer is handed to `on_body` piece
 * by piece as it arrives (pieces of any size, not aligned to anything),
 * never held: out->body stays NULL.  An error answer is read and parsed as
 * vm_aws_send() does.  req->max_response bounds the bytes handed over (0:
 * 64 MiB; more fails the call).  Once anything was handed over the call is
 * not retried inside (the reader cannot take the same bytes twice): a
 * connection that breaks then is VM_TRANSIENT, and the stage starts its
 * reading again when the engine runs it again.  VM_DONE when the answer
 * ended or the reader said enough; VM_PERMANENT when the reader stopped it.
 * `endpoint` ("https://host[:port]"), when not NULL, is where to send it
 * instead of the service's usual endpoint: a data endpoint a service named
 * (Kinesis Video's GetDataEndpoint); check that it is the service's before.
 */
vm_status vm_aws_send_stream(vm_job *job, const vm_aws_request *req, const char *endpoint, vm_aws_body_fn on_body,
			     void *ctx, vm_aws_response *out);
/* A header of the response (name case-insensitive), or NULL. */
const char *vm_aws_response_header(const vm_aws_response *resp, const char *name);

/*
 * A presigned GET URL for s3://bucket/key valid for `expires_s` seconds (1 to
 * 604800, as S3 allows), like `aws s3 presign`.  The region is resolved as for
 * vm_aws_send().  malloc()ed; NULL on error (logged with the reason).
 */
char *vm_s3_presign(vm_job *job, const char *bucket, const char *key, int64_t expires_s);

/*
 * The original Lambda's BASE_PATH, "BUCKET/PREFIX" (or s3://BUCKET/PREFIX),
 * '/' trimmed at both ends, split at the first '/': how locate-s3 and
 * locate-kvs take their `base_path`, so an existing deployment's environment
 * works unchanged.  0 with both parts (prefix may be ""), or -1 with the
 * reason in err.
 */
int vm_s3_base_path(const char *base_path, char *bucket, size_t bucket_size, char *prefix, size_t prefix_size,
		    char *err, size_t errsize);

/* ---- end of AWS ---- */

/* ---- Recording links (engine/core/link.c; owner: lambda) ---- */

/*
 * Put the link a notification should carry for s3://bucket/key into the job
 * record: recording.url, recording.url_expires_at (ISO 8601 UTC) and
 * recording.url_kind.  A locate stage calls this instead of vm_s3_presign()
 * when it has found the recording.
 *
 *  - Link mode (VMPIPE_LINK_BASE_URL and a secret set; see docs/lambda.md):
 *    an HMAC-signed link to the function's Lambda Function URL valid
 *    `expires_s` (up to 366 days); a click is answered with a fresh presigned
 *    URL.  url_kind "link".
 *  - Otherwise: vm_s3_presign() for `expires_s` (capped at 7 days); the expiry
 *    recorded is the earlier of that and the end of the signing credentials'
 *    session, which is when the URL really stops working.  url_kind "presigned".
 *
 * 0, or -1 (logged with the reason; the record is unchanged).
 */
int vm_recording_link(vm_job *job, const char *bucket, const char *key, int64_t expires_s);

/* ---- end of recording links ---- */

/* ---- Plain HTTPS GET (engine/core/http.c; owner: awspipe) ---- */

/*
 * GET `url` into `out` (the caller frees out->data; NUL-terminated, len
 * excludes the NUL): a document a service points to, such as Amazon
 * Transcribe's TranscriptFileUri.  https:// only, or http:// to a loopback
 * host (tests).  Not signed: such URLs carry their own authorization in the
 * query, so only scheme, host and path are ever logged.  One attempt (the
 * engine retries).  VM_DONE on 2xx; VM_TRANSIENT on 5xx, 429, timeouts and
 * resets; VM_PERMANENT otherwise (403 of an expired URL, 404, more than
 * `max_bytes`, a refused URL), each through vm_fail() with a message.
 */
vm_status vm_http_get(vm_job *job, const char *url, size_t max_bytes, vm_buf *out);

/* ---- end of plain HTTPS GET ---- */

/* ---- HTTP POST of a form (engine/core/http_form.c; owner: whisper) ---- */

/* One part of a multipart/form-data body. */
typedef struct vm_http_part {
	const char *name;
	const void *data;          /* borrowed: read as the request is sent, never copied */
	size_t len;
	const char *filename;      /* NULL: a text field; else the file part's name */
	const char *content_type;  /* NULL: none */
} vm_http_part;

typedef struct vm_http_form {
	const char *url;                 /* http:// or https://, already encoded */
	const char *const *headers;      /* "Name: value" lines, NULL-terminated, or NULL */
	const vm_http_part *parts;
	size_t nparts;
	const char *ca_file;             /* NULL: vm_ca_bundle() */
	long connect_timeout_ms;         /* 0: 3 s */
	long timeout_ms;                 /* the whole exchange; 0: 30 s */
	size_t max_answer;               /* bytes of a 2xx answer read at most; 0: 64 MiB */
} vm_http_form;

/* What went wrong below HTTP: decides whether a retry may help. */
enum {
	VM_HTTP_NET_OK = 0,
	VM_HTTP_NET_TIMEOUT,   /* no answer within the timeout (connect or whole) */
	VM_HTTP_NET_CONNECT,   /* refused, unreachable, a name that does not resolve */
	VM_HTTP_NET_RESET,     /* reset, closed early, nothing received */
	VM_HTTP_NET_TOO_LARGE, /* the answer is larger than max_answer */
	VM_HTTP_NET_TLS,       /* the server's certificate is not trusted */
	VM_HTTP_NET_OTHER,     /* a bad URL, out of memory */
};

typedef struct vm_http_header {
	char *name;  /* lower-case */
	char *value;
} vm_http_header;

typedef struct vm_http_response {
	long status;             /* HTTP status; 0 when no answer came */
	char *body;              /* malloc()ed, NUL-terminated (len excludes it), or NULL */
	size_t len;
	vm_http_header *headers; /* of the final answer */
	size_t nheaders;
	int net;                 /* VM_HTTP_NET_* */
	char net_msg[256];       /* libcurl's explanation when net != VM_HTTP_NET_OK */
} vm_http_response;

/*
 * POST `form` as multipart/form-data through the engine's HTTP path (libcurl,
 * pooled connections, the engine's CA bundle; no redirect followed, no
 * "Expect: 100-continue").  One attempt: the engine retries.  0 when an HTTP
 * answer arrived (any status), -1 with out->net and out->net_msg set.  A
 * header line holding a secret (Authorization) is never logged.  Release out
 * with vm_http_response_free() either way.
 */
int vm_http_post_form(const vm_http_form *form, vm_http_response *out);
/* The first value of header `name` (any case) in the answer, or NULL (borrowed). */
const char *vm_http_response_header(const vm_http_response *r, const char *name);
void vm_http_response_free(vm_http_response *r);

/* ---- end of HTTP POST of a form ---- */

/* ---- Playable audio (engine/audio/encode.c, mp3.c; owner: notify) ---- */

enum {
	VM_PLAYABLE_AUTO = 0,     /* MP3 for GSM 6.10, mu-law and A-law; anything else as it is */
	VM_PLAYABLE_ORIGINAL = 1, /* as it is */
	VM_PLAYABLE_WAV = 2,      /* 16-bit PCM mono WAV at the recording's rate */
	VM_PLAYABLE_MP3 = 3,      /* MP3 (LAME), mono, CBR for speech: 24 kbit/s up to 12 kHz,
				   * 32 at 16 kHz (higher rates go to 16 kHz) */
};
#define VM_PLAYABLE_KEPT 1 /* vm_audio_playable(): the original is the answer */

/*
 * The recording `data` (`len` bytes, a whole file as vm_fetch() reads it) in
 * a form mail clients and browsers play, for an attachment or a listen page.
 * The host's WAV reader decodes it (WAV in PCM, float, G.711 or GSM 6.10;
 * raw .gsm), within VM_WAV_MAX_SECONDS; the original is never changed.
 * 0: out->data (malloc()ed, caller frees) holds the new form and
 * *content_type says which ("audio/mpeg", "audio/wav"; static strings).
 * VM_PLAYABLE_KEPT: play the original (VM_PLAYABLE_ORIGINAL; or AUTO for a
 * PCM WAV or a file the host does not decode, such as an MP3); `out` empty.
 * Negative (VM_WAV_*): it cannot be made into the form asked for, with the
 * reason in err.  The MP3 carries LAME's Info tag up to 12 kHz, so decoders
 * that read it give back the recording's exact length (at 16 kHz, 53 ms more).
 */
int vm_audio_playable(const unsigned char *data, size_t len, int format, vm_buf *out,
                      const char **content_type, char *err, size_t errsz);

/*
 * A canonical 16-bit PCM mono WAV of `n` samples at `rate` Hz (44-byte
 * header).  malloc()ed (caller frees), *len set; NULL when out of memory or
 * too large for a RIFF size.
 */
unsigned char *vm_wav_write(const int16_t *samples, size_t n, unsigned rate, size_t *len);

/* ---- end of playable audio ---- */

/* ---- One channel of a WAV (engine/audio/wav.c; owner: whisper) ---- */

/*
 * As vm_wav_decode_rate(), but only channel `channel` (0 = the first, left;
 * 1 = the second, right) instead of the mixdown of all; -1 mixes all down.
 * A mono file's one channel is used whatever `channel` says (a PBX records
 * mono, Amazon Connect stereo with the caller on the left); a channel the
 * file does not have is VM_WAV_UNSUPPORTED.  The caps are vm_wav_decode_rate()'s
 * (VM_WAV_MAX_SECONDS and the decode memory limit, checked from the header
 * before anything is allocated: VM_WAV_TOO_LONG).
 */
int vm_wav_decode_channel(const unsigned char *data, size_t len, unsigned rate, int channel,
                          vm_wav *out, char *err, size_t errsz);

/* ---- end of one channel ---- */

/* ---- CA bundle (engine/aws/http.c; owner: whisper) ---- */

/*
 * The CA bundle the engine's own HTTPS uses (AWS_CA_BUNDLE, else the first
 * of Debian's, Amazon Linux's and Alpine's bundles that exists), for a
 * plugin that drives libcurl itself: CURLOPT_CAINFO.  NULL when none was
 * found (libcurl's built-in default then applies).  Static string.
 */
const char *vm_ca_bundle(void);

/* ---- end of CA bundle ---- */

/* ---- Text templates and intake checks (engine/mail/text.c, engine/core/intake.c; owner: connect) ---- */

/*
 * A text template with the job variables e-mail templates have
 * (docs/templates.md: {{caller}}, {{duration}}, {{date}}, {{transcript}},
 * {{url}}, {{recipient_name}}, {{tenant}}, …, and {{#name}}…{{/name}}
 * sections), for notifiers that send no e-mail (a task's name, an SMS).
 * Parse once in init(): an unknown variable is an error then ("line 1:
 * unknown variable 'calller'" in err), not an empty string at send time.
 * `one_line`: the result loses every control character (CR, LF, …).
 */
typedef struct vm_text vm_text;
vm_text *vm_text_parse(const char *src, bool one_line, char *err, size_t errsz);
/* The template rendered for `job` (malloc()ed, valid UTF-8), NULL when out of memory. */
char *vm_text_render(const vm_text *t, const vm_job *job);
void vm_text_free(vm_text *t);

/*
 * A notifier's check at intake, before any stage runs (the engine's own for
 * mail notifiers is the recipient allow-list): return 0 when this notifier
 * could deliver `job`, or -1 with the reason in `why` ("smsRecipient
 * '+1555' is not an E.164 number") when it would refuse it for certain.
 * When every notifier that has not yet delivered refuses, the job fails at
 * once (exit 69), each refusal in its errors, before anything is located,
 * transcribed or paid for.  `state` is the stage's (read-only) state.  Call
 * vm_stage_intake_check() from init().
 */
typedef int (*vm_intake_fn)(const void *state, const vm_job *job, char *why, size_t size);
void vm_stage_intake_check(vm_stage *stage, vm_intake_fn check);

/* ---- end of text templates and intake checks ---- */

#ifdef __cplusplus
}
#endif
#endif /* VMPIPE_VMPIPE_H */
