/*
 * The listen page of a recording link (see listen_page.h).
 */
#include "listen_page.h"

#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/job.h" /* job->timezone */
#include "core/util.h"
#include "template.h"
#include "vars.h"

/* Small, readable on a phone, no fonts from elsewhere. */
#define STYLE                                                                                                  \
	"body{margin:0;background:#f2f4f7;color:#1f2933;font:16px/1.5 system-ui,-apple-system,'Segoe UI',"   \
	"Roboto,Arial,sans-serif}"                                                                             \
	"main{max-width:36em;margin:0 auto;padding:1.25em 1em 2em;background:#fff;min-height:100vh;"         \
	"box-sizing:border-box}"                                                                               \
	"h1{font-size:1.35em;margin:0 0 .75em;color:#1e4e8c}h2{font-size:1.05em;margin:1.5em 0 .5em;"        \
	"color:#1e4e8c}"                                                                                        \
	".from{font-size:1.15em;margin:0 0 .25em}.num{color:#52606d}"                                           \
	"dl{display:grid;grid-template-columns:auto 1fr;gap:.2em 1em;margin:.75em 0 1.25em;color:#52606d}"  \
	"dd{margin:0;color:#1f2933}"                                                                           \
	"audio{display:block;width:100%;margin:0 0 1em}"                                                       \
	".button{display:inline-block;padding:.7em 1.4em;border-radius:6px;background:#1e4e8c;color:#fff;"   \
	"text-decoration:none;font-weight:600}"                                                                \
	".transcript{white-space:pre-wrap;background:#f5f7fa;border-left:4px solid #1e4e8c;padding:.75em 1em;"\
	"margin:0}"                                                                                            \
	".note{color:#52606d;font-style:italic}footer{margin-top:2em;font-size:.85em;color:#7b8794}"

static const char page_src[] =
	"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<meta name=\"referrer\" content=\"no-referrer\">\n"
	"<title>Voicemail from {{who}}</title>\n<style>" STYLE "</style>\n</head>\n<body>\n<main>\n"
	"<h1>Voicemail</h1>\n"
	"<p class=\"from\">{{#caller_name}}<strong>{{caller_name}}</strong><br>{{/caller_name}}"
	"<span class=\"num\">{{caller}}</span></p>\n"
	"<dl><dt>Left at</dt><dd>{{date}}</dd><dt>Length</dt><dd>{{duration}}</dd>"
	"{{#dialed}}<dt>Called</dt><dd>{{dialed}}</dd>{{/dialed}}</dl>\n"
	"{{#audio_url}}<audio controls preload=\"metadata\" src=\"{{audio_url}}\">"
	"Your browser cannot play the recording here; download it below.</audio>\n"
	"<p><a class=\"button\" href=\"{{download_url}}\" download>Download the recording</a></p>\n"
	"{{/audio_url}}"
	"{{^audio_url}}<p class=\"note\">The recording of this call is not available.</p>\n{{/audio_url}}"
	"<h2>Transcript</h2>\n"
	"{{#transcript}}<p class=\"transcript\">{{transcript}}</p>\n{{/transcript}}"
	"{{^transcript}}<p class=\"note\">{{transcript_note}}</p>\n{{/transcript}}"
	"<footer>{{#expires}}This link works until {{expires}}. {{/expires}}Sent by vmpipe.</footer>\n"
	"</main>\n</body>\n</html>\n";

static const char error_src[] =
	"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<title>{{title}}</title>\n<style>" STYLE "</style>\n</head>\n<body>\n<main>\n"
	"<h1>{{title}}</h1>\n<p>{{text}}</p>\n</main>\n</body>\n</html>\n";

enum { P_WHO, P_CALLER_NAME, P_CALLER, P_DATE, P_DURATION, P_DIALED, P_AUDIO, P_DOWNLOAD, P_TRANSCRIPT,
       P_TRANSCRIPT_NOTE, P_EXPIRES, P_N };
static const char *const page_names[P_N] = {"who", "caller_name", "caller", "date", "duration", "dialed",
					     "audio_url", "download_url", "transcript", "transcript_note",
					     "expires"};
static const char *const error_names[] = {"title", "text"};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static tpl *page_tpl, *error_tpl;
static char style_hash[64]; /* base64 of SHA-256, 44 characters */

static void init(void)
{
	char err[200];
	page_tpl = tpl_parse(page_src, sizeof page_src - 1, TPL_HTML, page_names, P_N, err, sizeof err);
	error_tpl = tpl_parse(error_src, sizeof error_src - 1, TPL_HTML, error_names, 2, err, sizeof err);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (EVP_Digest(STYLE, sizeof STYLE - 1, md, &n, EVP_sha256(), NULL) == 1)
		EVP_EncodeBlock((unsigned char *)style_hash, md, (int)n);
}

void listen_csp(const char *media_src, char *buf, size_t size)
{
	pthread_once(&once, init);
	int n = snprintf(buf, size,
			 "default-src 'none'; style-src 'sha256-%s'; media-src %s; base-uri 'none'; "
			 "form-action 'none'; frame-ancestors 'none'",
			 style_hash, media_src);
	if (n < 0 || (size_t)n >= size)
		*buf = '\0';
}

static const char *str(const vm_job *job, const char *path)
{
	const char *v = vm_job_get_str(job, path);
	return v ? v : "";
}

char *listen_page(const vm_job *job, const char *audio_url, const char *download_url, int64_t expires_s,
		  size_t *len)
{
	pthread_once(&once, init);
	if (!page_tpl)
		return NULL;
	const char *v[P_N] = {0};
	v[P_CALLER_NAME] = str(job, "contact.caller_name");
	v[P_CALLER] = *str(job, "contact.caller") ? str(job, "contact.caller") : "an unknown number";
	v[P_WHO] = *v[P_CALLER_NAME] ? v[P_CALLER_NAME] : v[P_CALLER];
	v[P_DIALED] = str(job, "contact.dialed");
	char date[64], duration[64] = "unknown", expires[64] = "";
	/* When it was left, as the mail says it (vars.c): the PBX's own time,
	 * else when vmpipe received it, in the pipeline's zone. */
	int64_t ms;
	if (!parse_iso8601(vm_job_get_str(job, "contact.date"), &ms) &&
	    !parse_iso8601(vm_job_get_str(job, "received_at"), &ms))
		ms = 0;
	if (ms)
		format_human_date_tz(ms, job->timezone, date, sizeof date);
	else
		snprintf(date, sizeof date, "unknown");
	v[P_DATE] = date;
	double secs;
	if ((vm_job_get_num(job, "recording.duration_seconds", &secs) ||
	     vm_job_get_num(job, "transcript.speech_seconds", &secs)) && secs >= 0 && isfinite(secs))
		format_duration(secs, duration, sizeof duration);
	v[P_DURATION] = duration;
	v[P_AUDIO] = audio_url;
	v[P_DOWNLOAD] = download_url;
	const char *text = str(job, "transcript.text"), *status = str(job, "transcript.status");
	bool blank = strspn(text, " \t\r\n") == strlen(text);
	v[P_TRANSCRIPT] = blank ? "" : text;
	v[P_TRANSCRIPT_NOTE] = strcmp(status, "completed") == 0 ? "No speech was recognised in this message."
								 : "The transcription is unavailable for this message.";
	if (expires_s > 0)
		format_human_date(expires_s * 1000, expires, sizeof expires);
	v[P_EXPIRES] = expires;
	return tpl_render(page_tpl, v, len);
}

char *listen_error_page(const char *title, const char *text, size_t *len)
{
	pthread_once(&once, init);
	if (!error_tpl)
		return NULL;
	const char *v[] = {title, text};
	return tpl_render(error_tpl, v, len);
}
