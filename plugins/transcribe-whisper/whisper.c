/*
 * transcribe-whisper: any server speaking OpenAI's speech-to-text API,
 * POST /v1/audio/transcriptions (whisper.cpp's server, faster-whisper
 * servers, vLLM, LocalAI; OpenAI and Groq).
 *
 * The recording is read through the host (vm_fetch: file:// or s3://) and
 * uploaded as it is, or converted to 16 kHz mono PCM WAV by the host's WAV
 * reader when a server might not take it or it is too large (audio.h).  One
 * synchronous request per attempt; the engine owns retries: 429 waits as
 * Retry-After says (VM_RETRY), 5xx, timeouts and resets are transient, any
 * other refusal is permanent with the server's message, and the owner is
 * still mailed.
 *
 * Record fields: transcript.status, .engine ("whisper:<model>"), .language,
 * .text, .preview, .speech_seconds (and .error when it failed);
 * recording.duration_seconds (and .truncated) when the recording is a WAV.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <vmpipe/vmpipe.h>

#include "answer.h"
#include "audio.h"
#include "lang.h"

#define ANSWER_MAX ((size_t)16 << 20)
#define CONNECT_TIMEOUT_MS 10000L
#define MIN_AUDIO_S 0.1 /* shorter audio is refused by OpenAI; nobody speaks in it */

struct whisper {
	const char *url;
	const char *model;
	const char *language;
	const char *language_attribute;
	const char *prompt;
	const char *temperature;
	int response_format; /* index into "verbose_json|json" */
	const char *api_key_env;
	int64_t timeout_ms;
	const char *ca_file;
	int64_t max_upload;
	int64_t max_bytes;
	int channel;         /* 0 all, 1 caller */
	int64_t caller_channel;
	int convert;         /* 0 auto, 1 always */
	int64_t preview_chars;
	/* set by init */
	char endpoint[2048];
	char shown[320];     /* the endpoint as logged: no user info, no query */
	char ca_path[4096];
	char *api_key;       /* the value of $api_key_env (never logged); fini frees it */
};

static const char *const formats[] = {"verbose_json", "json"};

static void engine_name(const struct whisper *w, const char *model, vm_job *job)
{
	char name[300];
	snprintf(name, sizeof name, "whisper:%s", model && *model ? model : w->model);
	vm_job_set_str(job, "transcript.engine", name);
}

/* A permanent failure: the record says why, the engine logs it and mails. */
static vm_status failed(const struct whisper *w, vm_job *job, const char *msg)
{
	vm_job_set_str(job, "transcript.status", "failed");
	engine_name(w, NULL, job);
	vm_job_set_str(job, "transcript.error", msg);
	return vm_fail(job, VM_PERMANENT, "%s", msg);
}

/* The language to ask for: the contact's attribute, else the option; NULL
 * lets the server detect it. */
static const char *pick_language(const struct whisper *w, vm_job *job)
{
	if (w->language_attribute && *w->language_attribute) {
		char path[200];
		snprintf(path, sizeof path, "contact.attributes.%s", w->language_attribute);
		const char *v = vm_job_get_str(job, path);
		if (v && wh_lang_ok(v))
			return v;
		if (v && *v)
			vm_log(job, VM_LOG_WARN, "contact attribute %s = '%.40s' is not a language code: "
			       "ignored", w->language_attribute, v);
	}
	return w->language && *w->language ? w->language : NULL;
}

static vm_status store(const struct whisper *w, vm_job *job, const struct wh_answer *a,
		       const char *asked, const char *header_model)
{
	char *preview = wh_preview(a->text, (size_t)w->preview_chars);
	if (!preview)
		return vm_fail(job, VM_TRANSIENT, "out of memory");
	char lang[64] = "";
	if (asked)
		snprintf(lang, sizeof lang, "%s", asked);
	else if (a->language)
		wh_lang_code(a->language, lang, sizeof lang);
	int rc = vm_job_set_str(job, "transcript.text", a->text) |
		 vm_job_set_str(job, "transcript.preview", preview);
	free(preview);
	if (rc != 0)
		return failed(w, job, "the server's transcript is not valid UTF-8");
	double speech = a->speech_seconds;
	double dur = -1;
	if (!vm_job_get_num(job, "recording.duration_seconds", &dur) && a->duration > 0) {
		vm_job_set_num(job, "recording.duration_seconds", a->duration);
		dur = a->duration;
	}
	if (speech > dur && dur > 0) /* the last segment may end past the audio */
		speech = dur;
	if (speech >= 0)
		vm_job_set_num(job, "transcript.speech_seconds", speech);
	if (*lang)
		vm_job_set_str(job, "transcript.language", lang);
	vm_job_set_str(job, "transcript.status", "completed");
	engine_name(w, a->model ? a->model : header_model, job);
	vm_job_set_str(job, "transcript.error", NULL);
	if (a->segments)
		vm_log(job, VM_LOG_INFO, "transcribed: %zu segment(s), %.1f s of speech%s%s", a->segments,
		       speech > 0 ? speech : 0, *lang ? ", language " : "", lang);
	else
		vm_log(job, VM_LOG_INFO, "transcribed: %zu characters%s%s", strlen(a->text),
		       *lang ? ", language " : "", lang);
	return vm_done(job);
}

/* What a refusal may need from the operator. */
static const char *hint(long status, bool have_key)
{
	switch (status) {
	case 401: return have_key ? " (check the key in api_key_env)"
				  : " (the server wants a key: set api_key_env)";
	case 403: return " (the key may not use this model or server)";
	case 404: return " (check url and model)";
	case 413: return " (the server takes less: lower max_upload)";
	default: return status >= 300 && status < 400 ? " (a redirect: set url to where it points)"
						     : "";
	}
}

/* A failure worth another attempt.  transcript.error says it already, so a
 * job whose time runs out tells the owner why ("could not connect to …"), not
 * only that it timed out; a later success clears it. */
static vm_status transient(vm_job *job, const char *msg)
{
	vm_job_set_str(job, "transcript.error", msg);
	return vm_fail(job, VM_TRANSIENT, "%s", msg);
}

static vm_status refused(const struct whisper *w, vm_job *job, const vm_http_response *r)
{
	char msg[400], code[64], text[1000];
	wh_error_message(r->body, r->len, msg, sizeof msg, code, sizeof code);
	snprintf(text, sizeof text, "%s answered HTTP %ld%s%s%s", w->shown, r->status,
		 *msg ? ": " : "", msg, hint(r->status, w->api_key != NULL));
	bool quota = strcmp(code, "insufficient_quota") == 0;
	/* 429 (rate limit) and 503 (overloaded, RFC 9110 §10.2.3) may say when to
	 * come back. */
	if ((r->status == 429 && !quota) || r->status == 503) {
		int64_t wait = wh_retry_after(vm_http_response_header(r, "retry-after"),
					      vm_http_response_header(r, "retry-after-ms"),
					      vm_now_ms());
		if (wait >= 0) {
			if (wait < 1000) /* never a hot loop, whatever the server says */
				wait = 1000;
			vm_log(job, VM_LOG_WARN, "%s; trying again in %lld s as Retry-After asks", text,
			       (long long)((wait + 999) / 1000));
			vm_job_set_str(job, "transcript.error", text);
			return vm_retry(job, wait);
		}
		return transient(job, text);
	}
	if (r->status >= 500 || r->status == 408 || r->status == 425 || r->status == 499)
		return transient(job, text);
	return failed(w, job, text);
}

/* What went wrong when no answer came, as the owner's mail may say it. */
static void no_answer(const struct whisper *w, const vm_http_response *r, char *msg, size_t size)
{
	switch (r->net) {
	case VM_HTTP_NET_CONNECT:
		snprintf(msg, size, "could not connect to %s: %s", w->shown, r->net_msg);
		break;
	case VM_HTTP_NET_TIMEOUT:
		snprintf(msg, size, "%s did not answer within %lld s: %s", w->shown,
			 (long long)(w->timeout_ms / 1000), r->net_msg);
		break;
	case VM_HTTP_NET_RESET:
		snprintf(msg, size, "the connection to %s broke: %s", w->shown, r->net_msg);
		break;
	case VM_HTTP_NET_TLS:
		snprintf(msg, size, "POST %s: %s (not trusted: set ca_file to the CA that signed the "
			 "server's certificate)", w->shown, r->net_msg);
		break;
	default:
		snprintf(msg, size, "POST %s: %s", w->shown, r->net_msg);
		break;
	}
}

static vm_status transcribe(const struct whisper *w, vm_job *job, const struct wh_upload *up)
{
	const char *asked = pick_language(w, job);
	char lang[8] = "";
	if (asked)
		wh_lang_request(asked, lang, sizeof lang);
	/* OpenAI's form: the file, then text fields (an empty one is not sent). */
	const char *fmt = formats[w->response_format];
	const char *text[][2] = {{"model", w->model}, {"language", lang}, {"prompt", w->prompt},
				 {"response_format", fmt}, {"temperature", w->temperature}};
	vm_http_part parts[6] = {{"file", up->data, up->len, up->filename, up->content_type}};
	size_t np = 1;
	for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
		if (text[i][1] && *text[i][1])
			parts[np++] = (vm_http_part){text[i][0], text[i][1], strlen(text[i][1]), NULL,
						     NULL};
	/* The key lives in this header only: never in a log line or the record. */
	char *auth = NULL;
	if (w->api_key && asprintf(&auth, "Authorization: Bearer %s", w->api_key) < 0)
		return vm_fail(job, VM_TRANSIENT, "out of memory");
	const char *headers[] = {"Accept: application/json", "User-Agent: vmpipe/" VMPIPE_VERSION,
				 auth, NULL};
	vm_http_form q = {
		.url = w->endpoint, .headers = headers, .parts = parts, .nparts = np,
		.ca_file = *w->ca_path ? w->ca_path : NULL, .connect_timeout_ms = CONNECT_TIMEOUT_MS,
		.timeout_ms = (long)w->timeout_ms, .max_answer = ANSWER_MAX,
	};
	vm_log(job, VM_LOG_INFO, "sending %zu bytes (%s%s) to %s, model %s%s%s", up->len,
	       up->converted ? "converted to 16 kHz mono WAV: " : "the recording as it is",
	       up->converted ? up->why : "", w->shown, w->model, *lang ? ", language " : "", lang);
	vm_http_response r;
	int rc = vm_http_post_form(&q, &r);
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	if (rc != 0) {
		char msg[1000];
		no_answer(w, &r, msg, sizeof msg);
		bool again = r.net == VM_HTTP_NET_CONNECT || r.net == VM_HTTP_NET_TIMEOUT ||
			     r.net == VM_HTTP_NET_RESET;
		vm_http_response_free(&r);
		return again ? transient(job, msg) : failed(w, job, msg);
	}
	const char *ctype = vm_http_response_header(&r, "content-type");
	const char *header_model = vm_http_response_header(&r, "openai-model");
	vm_log(job, VM_LOG_DEBUG, "%s answered %ld (%zu bytes, %s)", w->shown, r.status, r.len,
	       ctype ? ctype : "no content type");
	vm_status st;
	if (r.status >= 200 && r.status < 300) {
		struct wh_answer a;
		char err[300], msg[1000];
		if (wh_answer_parse(r.body ? r.body : "", r.len, ctype ? ctype : "", &a, err,
				    sizeof err) != 0) {
			snprintf(msg, sizeof msg, "%s answered %ld but no transcript: %s", w->shown,
				 r.status, err);
			st = failed(w, job, msg);
		} else {
			st = store(w, job, &a, asked, header_model);
			wh_answer_clear(&a);
		}
	} else {
		st = refused(w, job, &r);
	}
	vm_http_response_free(&r);
	return st;
}

static vm_status run(const void *state, vm_job *job)
{
	const struct whisper *w = state;
	const char *uri = vm_job_get_str(job, "recording.uri");
	if (!uri)
		return failed(w, job, "the job has no recording.uri (no locate stage ran?)");
	vm_buf rec;
	vm_status st = vm_fetch(job, uri, (size_t)w->max_bytes, &rec);
	if (st != VM_DONE) {
		/* vm_fetch() recorded the outcome; a permanent one also ends the transcript. */
		if (st == VM_PERMANENT) {
			vm_job_set_str(job, "transcript.status", "failed");
			engine_name(w, NULL, job);
			vm_job_set_str(job, "transcript.error", "the recording could not be read");
		}
		return st;
	}
	struct wh_audio_opts ao = {
		.max_upload = (size_t)w->max_upload,
		.channel = w->channel == 1 ? (int)w->caller_channel - 1 : -1,
		.always_convert = w->convert == 1,
	};
	struct wh_upload up;
	char err[400];
	int rc = wh_audio_prepare(rec.data, rec.len, uri, &ao, &up, err, sizeof err);
	if (rc != WH_AUDIO_OK) {
		free(rec.data);
		return rc == WH_AUDIO_NOMEM ? vm_fail(job, VM_TRANSIENT, "%s", err) : failed(w, job, err);
	}
	if (up.is_wav) {
		vm_job_set_num(job, "recording.duration_seconds", up.duration);
		if (up.truncated) {
			vm_job_set_bool(job, "recording.truncated", true);
			vm_log(job, VM_LOG_WARN, "recording is cut short: %.2fs of the %.2fs its header "
			       "claims; transcribing what is there", up.duration, up.claimed_duration);
		}
	}
	if (up.undecoded)
		vm_log(job, VM_LOG_WARN, "the host cannot decode this WAV (%s): the server gets it as "
		       "it is", up.why);
	if (up.channel_ignored)
		vm_log(job, VM_LOG_WARN, "channel = caller needs a recording the host can decode: %s "
		       "goes with all its channels", up.filename);
	if (up.is_wav && up.duration < MIN_AUDIO_S) {
		vm_log(job, VM_LOG_INFO, "%.2f s of audio: nothing to transcribe", up.duration);
		struct wh_answer none = {.text = "", .speech_seconds = 0, .duration = -1};
		st = store(w, job, &none, pick_language(w, job), NULL);
	} else {
		st = transcribe(w, job, &up);
	}
	wh_upload_free(&up);
	free(rec.data);
	return st;
}

/* ------------------------------------------------------------------ init */

static bool ends_with(const char *s, size_t n, const char *tail)
{
	size_t t = strlen(tail);
	return n >= t && strncasecmp(s + n - t, tail, t) == 0;
}

static bool loopback(const char *host, size_t n)
{
	static const char *const names[] = {"localhost", "[::1]"};
	for (size_t i = 0; i < 2; i++)
		if (n == strlen(names[i]) && strncasecmp(host, names[i], n) == 0)
			return true;
	return n > 4 && strncmp(host, "127.", 4) == 0;
}

/*
 * url -> the endpoint.  A base URL (no path, or a path ending in /v1, as
 * OpenAI's SDKs take it) gets the rest of /v1/audio/transcriptions; any
 * other path is the endpoint itself (whisper.cpp's /inference, a proxy's).
 */
static int make_endpoint(vm_stage *stage, struct whisper *w)
{
	const char *u = w->url, *scheme_end = strstr(u, "://");
	size_t slen = scheme_end ? (size_t)(scheme_end - u) : 0;
	if (!scheme_end || !((slen == 4 && strncasecmp(u, "http", 4) == 0) ||
			     (slen == 5 && strncasecmp(u, "https", 5) == 0))) {
		vm_stage_error(stage, "option 'url': '%.*s' is not an http:// or https:// URL",
			       (int)(strcspn(u, "?#") < 200 ? strcspn(u, "?#") : 200), u);
		return -1;
	}
	const char *auth = scheme_end + 3;
	size_t alen = strcspn(auth, "/?#");
	if (memchr(auth, '@', alen)) { /* not echoed: it holds a password */
		vm_stage_error(stage, "option 'url': holds a user name or password: give the key in "
			       "the environment variable named by api_key_env");
		return -1;
	}
	if (alen == 0 || strpbrk(u, " \t\r\n")) {
		vm_stage_error(stage, "option 'url': '%.*s' has no host or holds white space",
			       (int)(strcspn(u, "?#") < 200 ? strcspn(u, "?#") : 200), u);
		return -1;
	}
	size_t n = strcspn(u, "?#"); /* the query stays at the end */
	while (n > (size_t)(auth - u) + alen && u[n - 1] == '/')
		n--;
	const char *add = n == (size_t)(auth - u) + alen ? "/v1/audio/transcriptions"
			  : ends_with(u, n, "/v1") ? "/audio/transcriptions" : "";
	if ((size_t)snprintf(w->endpoint, sizeof w->endpoint, "%.*s%s%s", (int)n, u, add,
			     u + strcspn(u, "?#")) >= sizeof w->endpoint) {
		vm_stage_error(stage, "option 'url': too long");
		return -1;
	}
	snprintf(w->shown, sizeof w->shown, "%.*s%s", (int)(n < 290 ? n : 290), u, add);
	if (w->api_key && slen == 4 && !loopback(auth, strcspn(auth, ":/?#")))
		vm_log(NULL, VM_LOG_WARN, "%s: the API key goes to %s in clear text: use https",
		       vm_stage_name(stage), w->shown);
	return 0;
}

static int read_key(vm_stage *stage, struct whisper *w)
{
	const char *name = w->api_key_env;
	if (!name || !*name)
		return 0;
	bool ok = isalpha((unsigned char)*name) || *name == '_';
	for (const char *p = name; *p; p++)
		ok &= isalnum((unsigned char)*p) || *p == '_';
	if (!ok) {
		/* Not echoed: a key pasted here by mistake must not reach the log. */
		vm_stage_error(stage, "option 'api_key_env': not an environment variable name (it "
			       "names the variable holding the key, e.g. OPENAI_API_KEY, not the key)");
		return -1;
	}
	const char *key = getenv(name);
	if (!key || !*key) {
		vm_stage_error(stage, "option 'api_key_env': the environment variable %s is not set",
			       name);
		return -1;
	}
	if (strpbrk(key, "\r\n")) {
		vm_stage_error(stage, "option 'api_key_env': the value of %s holds a line break", name);
		return -1;
	}
	w->api_key = strdup(key);
	if (!w->api_key) {
		vm_stage_error(stage, "out of memory");
		return -1;
	}
	return 0;
}

static int check_numbers(vm_stage *stage, struct whisper *w)
{
	char *end;
	double t = strtod(w->temperature, &end);
	if (end == w->temperature || *end || !(t >= 0 && t <= 1)) {
		vm_stage_error(stage, "option 'temperature': '%s' is not a number from 0 to 1",
			       w->temperature);
		return -1;
	}
	if (w->timeout_ms < 1000 || w->max_bytes <= 0 || w->preview_chars < 0) {
		vm_stage_error(stage, "options 'timeout' (at least 1s), 'max_bytes' (more than 0) "
			       "or 'preview_chars' (0 or more) out of range");
		return -1;
	}
	if (w->max_upload < 1024) {
		vm_stage_error(stage, "option 'max_upload': at least 1k");
		return -1;
	}
	if (w->caller_channel < 1 || w->caller_channel > 8) {
		vm_stage_error(stage, "option 'caller_channel': 1 (left) to 8");
		return -1;
	}
	return 0;
}

static int init(vm_stage *stage, void *state)
{
	struct whisper *w = state;
	if (read_key(stage, w) != 0 || make_endpoint(stage, w) != 0 || check_numbers(stage, w) != 0)
		return -1;
	if (!*w->model) {
		vm_stage_error(stage, "option 'model': empty (servers require one; whisper.cpp's "
			       "ignores it)");
		return -1;
	}
	if (w->language && *w->language && !wh_lang_ok(w->language)) {
		vm_stage_error(stage, "option 'language': '%s' is not a language code like en or "
			       "en-US", w->language);
		return -1;
	}
	if (w->ca_file && *w->ca_file) {
		int n = w->ca_file[0] == '/'
			    ? snprintf(w->ca_path, sizeof w->ca_path, "%s", w->ca_file)
			    : snprintf(w->ca_path, sizeof w->ca_path, "%s/%s",
				       vm_stage_config_dir(stage), w->ca_file);
		if (n < 0 || (size_t)n >= sizeof w->ca_path || access(w->ca_path, R_OK) != 0) {
			vm_stage_error(stage, "option 'ca_file': cannot read %s", w->ca_path);
			return -1;
		}
	}
	(void)vm_ca_bundle(); /* finds the system bundle once, before jobs run in threads */
	return 0;
}

static void fini(void *state)
{
	struct whisper *w = state;
	if (w->api_key) {
		explicit_bzero(w->api_key, strlen(w->api_key));
		free(w->api_key);
		w->api_key = NULL;
	}
}

#define O(f) offsetof(struct whisper, f)
static const vm_option options[] = {
	{"url", VM_OPT_STRING, NULL, true, O(url),
	 "server base URL (http://host:8080, https://api.openai.com/v1) or the full endpoint URL", NULL},
	{"model", VM_OPT_STRING, "whisper-1", false, O(model),
	 "model name the server knows (whisper-1, whisper-large-v3-turbo, Systran/faster-whisper-small)",
	 NULL},
	{"language", VM_OPT_STRING, NULL, false, O(language),
	 "language code (en, en-US; sent as en); empty: the server detects it", NULL},
	{"language_attribute", VM_OPT_STRING, "languageCode", false, O(language_attribute),
	 "contact attribute naming the caller's language, which wins over 'language' (empty: none)",
	 NULL},
	{"prompt", VM_OPT_STRING, NULL, false, O(prompt),
	 "text to guide the model: names, spellings, the style of the transcript", NULL},
	{"temperature", VM_OPT_STRING, "0", false, O(temperature),
	 "sampling temperature, 0 to 1 (0: the most likely words)", NULL},
	{"response_format", VM_OPT_ENUM, "verbose_json", false, O(response_format),
	 "verbose_json (segments: speech_seconds, language) or json (text only)", "verbose_json|json"},
	{"api_key_env", VM_OPT_STRING, NULL, false, O(api_key_env),
	 "name of the environment variable holding the API key (sent as a Bearer token)", NULL},
	{"timeout", VM_OPT_DURATION, "5m", false, O(timeout_ms),
	 "longest wait for one transcription (upload, recognition, answer)", NULL},
	{"ca_file", VM_OPT_STRING, NULL, false, O(ca_file),
	 "PEM file of the CA that signed a private server's certificate (default: the system's)",
	 NULL},
	{"max_upload", VM_OPT_SIZE, "25M", false, O(max_upload),
	 "largest upload the server takes (OpenAI: 25M); a larger WAV is sent as 16 kHz mono", NULL},
	{"max_bytes", VM_OPT_SIZE, "100M", false, O(max_bytes),
	 "largest recording read; a larger one fails the transcript", NULL},
	{"channel", VM_OPT_ENUM, "all", false, O(channel),
	 "all channels, or only the caller's (Amazon Connect: the left channel)", "all|caller"},
	{"caller_channel", VM_OPT_INT, "1", false, O(caller_channel),
	 "the caller's channel for channel = caller: 1 left, 2 right", NULL},
	{"convert", VM_OPT_ENUM, "auto", false, O(convert),
	 "auto: convert WAVs a server may not take; always: every WAV to 16 kHz mono", "auto|always"},
	{"preview_chars", VM_OPT_INT, "700", false, O(preview_chars),
	 "characters of the transcript kept in transcript.preview", NULL},
	{NULL, 0, NULL, false, 0, NULL, NULL},
};

const vm_plugin vmpipe_plugin = {
	.abi_version = VMPIPE_ABI_VERSION,
	.kind = VM_STAGE_TRANSCRIBE,
	.name = "transcribe-whisper",
	.summary = "any OpenAI-compatible speech-to-text server (whisper.cpp, faster-whisper, vLLM, "
		   "OpenAI, Groq)",
	.options = options,
	.state_size = sizeof(struct whisper),
	.init = init,
	.run = run,
	.fini = fini,
};
