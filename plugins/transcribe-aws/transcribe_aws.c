/*
 * transcribe-aws: Amazon Transcribe batch jobs.
 *
 * The job is named after the contact ("vmpipe-" + contact id), so a second
 * invocation for the same voicemail (a Lambda retry, a resumed spool job)
 * finds the job already there (ConflictException) and follows it instead of
 * paying for another.  The plugin never waits: it starts the job, then asks
 * to be called again at intervals that follow the recording's length, reads
 * the finished transcript (TranscriptFileUri, or S3 when the transcript goes
 * to an output bucket) and fills transcript.*.  A FAILED job or one still
 * running after `wait` is a permanent failure with transcript.status =
 * failed: the engine then still notifies.
 *
 * Record fields: transcript.job, .job_started_at, .polls, .wait_until (when
 * it gives up), .output_uri while it runs; then .status, .engine, .language, .text, .preview,
 * .speech_seconds (and .error when it failed).
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <vmpipe/vmpipe.h>

#include "api.h"
#include "transcript.h"

#define ENGINE_NAME "aws-transcribe"
#define JOB_NAME_MAX 200 /* TranscriptionJobName: ^[0-9a-zA-Z._-]+, 1-200 */
#define MAX_LANG_OPTIONS 16
#define CONNECT_WAV_BYTES_PER_S 32000.0 /* 8 kHz, 16-bit, 2 channels */

struct transcribe_aws {
	const char *region;
	const char *language;
	const char *language_attribute;
	bool identify_language;
	const char *language_options;
	bool channel_identification;
	int64_t speaker_labels;
	const char *output_bucket;
	const char *output_key;
	const char *job_prefix;
	int64_t poll_min_ms;
	int64_t poll_max_ms;
	int64_t wait_ms;
	int64_t preview_chars;
	int64_t transcript_max;
	bool delete_job;
	/* set by init */
	char lang_opts[MAX_LANG_OPTIONS][16];
	size_t n_lang_opts;
};

/* "en-US", "zh-CN", "ast-ES": the shape of Transcribe's language codes. */
static bool language_ok(const char *s)
{
	size_t n = strlen(s), dash = strcspn(s, "-");
	if (dash < 2 || dash > 3 || n != dash + 3)
		return false;
	for (size_t i = 0; i < dash; i++)
		if (!islower((unsigned char)s[i]))
			return false;
	return isupper((unsigned char)s[dash + 1]) && isupper((unsigned char)s[dash + 2]);
}

static const char *media_format(const char *key, const char *ctype)
{
	static const struct { const char *ext, *fmt; } exts[] = {
		{".wav", "wav"}, {".mp3", "mp3"}, {".mp4", "mp4"}, {".m4a", "m4a"},
		{".flac", "flac"}, {".ogg", "ogg"}, {".opus", "ogg"}, {".amr", "amr"},
		{".webm", "webm"},
	};
	static const struct { const char *type, *fmt; } types[] = {
		{"audio/wav", "wav"}, {"audio/x-wav", "wav"}, {"audio/wave", "wav"},
		{"audio/vnd.wave", "wav"}, {"audio/mpeg", "mp3"}, {"audio/mp3", "mp3"},
		{"audio/mp4", "mp4"}, {"video/mp4", "mp4"}, {"audio/x-m4a", "m4a"},
		{"audio/flac", "flac"}, {"audio/x-flac", "flac"}, {"audio/ogg", "ogg"},
		{"audio/amr", "amr"}, {"audio/webm", "webm"},
	};
	const char *dot = strrchr(key, '.');
	if (dot && !strchr(dot, '/'))
		for (size_t i = 0; i < sizeof exts / sizeof *exts; i++)
			if (strcasecmp(dot, exts[i].ext) == 0)
				return exts[i].fmt;
	for (size_t i = 0; ctype && i < sizeof types / sizeof *types; i++)
		if (strncasecmp(ctype, types[i].type, strlen(types[i].type)) == 0)
			return types[i].fmt;
	return NULL;
}

/* Characters Transcribe accepts in a name or output key; others become '-'. */
static void sanitize(char *s, const char *extra)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			*s = '-';
}

static void job_name(const struct transcribe_aws *ta, vm_job *job, char *out, size_t size)
{
	const char *id = vm_job_get_str(job, "contact.id");
	snprintf(out, size, "%s%.*s", ta->job_prefix, JOB_NAME_MAX, id ? id : vm_job_id(job));
	out[JOB_NAME_MAX < size - 1 ? JOB_NAME_MAX : size - 1] = '\0';
	sanitize(out, "._-");
}

/* Seconds of audio: the record's, else the size of Connect's WAV format. */
static double duration_estimate(vm_job *job)
{
	double d;
	int64_t size;
	if (vm_job_get_num(job, "recording.duration_seconds", &d) && d > 0)
		return d;
	const char *ct = vm_job_get_str(job, "recording.content_type");
	if (vm_job_get_int(job, "recording.size", &size) && size > 44 && ct &&
	    strstr(ct, "wav"))
		return (double)(size - 44) / CONNECT_WAV_BYTES_PER_S;
	return 30; /* unknown: a typical voicemail */
}

/*
 * The wait before status check n (1-based).  A batch job is queued and then
 * processed, so it is rarely done before about the audio's length: the first
 * check waits that long (within [poll_min, poll_max]); later checks come at
 * half the audio's length, growing by half each time.  A 20 s voicemail is
 * checked at 20, 30, 45, 67 s: three requests for a job of 45 s where a fixed
 * 3 s poll makes fifteen.
 */
static int64_t poll_interval(const struct transcribe_aws *ta, vm_job *job, int64_t n)
{
	double audio_ms = duration_estimate(job) * 1000.0;
	double ms = n == 1 ? audio_ms : audio_ms / 2.0;
	for (int64_t i = 2; i < n && ms < (double)ta->poll_max_ms; i++)
		ms *= 1.5;
	if (ms < (double)ta->poll_min_ms)
		ms = (double)ta->poll_min_ms;
	if (ms > (double)ta->poll_max_ms)
		ms = (double)ta->poll_max_ms;
	return (int64_t)ms;
}

/* {job} {contact_id} {recording_dir} {recording_name} in output_key. */
static int output_key(const struct transcribe_aws *ta, vm_job *job, const char *name,
		      const char *media_key, char *out, size_t size)
{
	const char *slash = strrchr(media_key, '/');
	const char *base = slash ? slash + 1 : media_key;
	const char *dot = strrchr(base, '.');
	char dir[1024], stem[1024];
	snprintf(dir, sizeof dir, "%.*s", (int)(slash ? slash - media_key + 1 : 0), media_key);
	snprintf(stem, sizeof stem, "%.*s", (int)(dot ? dot - base : (long)strlen(base)), base);
	const char *cid = vm_job_get_str(job, "contact.id");
	size_t n = 0;
	for (const char *p = ta->output_key ? ta->output_key : ""; *p && n + 1 < size;) {
		const char *v = NULL;
		size_t skip = 0;
		if (strncmp(p, "{job}", 5) == 0)
			v = name, skip = 5;
		else if (strncmp(p, "{contact_id}", 12) == 0)
			v = cid ? cid : "", skip = 12;
		else if (strncmp(p, "{recording_dir}", 15) == 0)
			v = dir, skip = 15;
		else if (strncmp(p, "{recording_name}", 16) == 0)
			v = stem, skip = 16;
		if (v) {
			n += (size_t)snprintf(out + n, size - n, "%s", v);
			if (n >= size)
				return -1;
			p += skip;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	const char *tail = n == 0 || out[n - 1] == '/' ? name : "";
	size_t l = strlen(out);
	bool has_json = l >= 5 && strcmp(out + l - 5, ".json") == 0 && !*tail;
	if ((size_t)snprintf(out + n, size - n, "%s%s", tail, has_json ? "" : ".json") >= size - n)
		return -1;
	sanitize(out, "-_.!*'()/");
	return 0;
}

/* The language for this contact: its attribute, else the configured one. */
static const char *pick_language(const struct transcribe_aws *ta, vm_job *job)
{
	if (ta->language_attribute && *ta->language_attribute) {
		char path[200];
		snprintf(path, sizeof path, "contact.attributes.%s", ta->language_attribute);
		const char *v = vm_job_get_str(job, path);
		if (v && language_ok(v))
			return v;
		if (v && *v)
			vm_log(job, VM_LOG_WARN, "contact attribute %s = '%.40s' is not a language code: "
			       "ignored", ta->language_attribute, v);
	}
	return ta->language && *ta->language ? ta->language : NULL;
}

/* The StartTranscriptionJob body (malloc()ed JSON) or NULL with err. */
static char *start_body(const struct transcribe_aws *ta, vm_job *job, const char *name,
			const char *uri, const char *key, const char *out_key, char *err,
			size_t errsz)
{
	const char *fmt = media_format(key, vm_job_get_str(job, "recording.content_type"));
	if (!fmt) {
		snprintf(err, errsz, "cannot tell the media format of %.300s (content type %s)", uri,
			 vm_job_get_str(job, "recording.content_type") ? vm_job_get_str(job, "recording.content_type") : "unknown");
		return NULL;
	}
	json_t *o = json_pack("{s:s, s:{s:s}, s:s}", "TranscriptionJobName", name, "Media",
			      "MediaFileUri", uri, "MediaFormat", fmt);
	const char *lang = pick_language(ta, job);
	if (lang) {
		json_object_set_new(o, "LanguageCode", json_string(lang));
	} else if (ta->identify_language) {
		json_object_set_new(o, "IdentifyLanguage", json_true());
		if (ta->n_lang_opts) {
			json_t *a = json_array();
			for (size_t i = 0; i < ta->n_lang_opts; i++)
				json_array_append_new(a, json_string(ta->lang_opts[i]));
			json_object_set_new(o, "LanguageOptions", a);
		}
	} else {
		json_decref(o);
		snprintf(err, errsz, "no language: set 'language', the contact attribute '%s', or "
			 "identify_language", ta->language_attribute ? ta->language_attribute : "");
		return NULL;
	}
	json_t *settings = json_object();
	if (ta->channel_identification)
		json_object_set_new(settings, "ChannelIdentification", json_true());
	if (ta->speaker_labels > 0) {
		json_object_set_new(settings, "ShowSpeakerLabels", json_true());
		json_object_set_new(settings, "MaxSpeakerLabels", json_integer(ta->speaker_labels));
	}
	json_object_set_new(o, "Settings", settings);
	if (ta->output_bucket && *ta->output_bucket) {
		json_object_set_new(o, "OutputBucketName", json_string(ta->output_bucket));
		json_object_set_new(o, "OutputKey", json_string(out_key));
	}
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		snprintf(err, errsz, "out of memory");
	return s;
}

static vm_status failed(vm_job *job, const char *fmt, const char *a, const char *b)
{
	char msg[700];
	snprintf(msg, sizeof msg, fmt, a, b);
	vm_job_set_str(job, "transcript.status", "failed");
	vm_job_set_str(job, "transcript.engine", ENGINE_NAME);
	vm_job_set_str(job, "transcript.error", msg);
	return vm_fail(job, VM_PERMANENT, "%s", msg);
}

static void clear_progress(vm_job *job)
{
	vm_job_set_str(job, "transcript.job_started_at", NULL);
	vm_job_set_str(job, "transcript.polls", NULL);
	vm_job_set_str(job, "transcript.wait_until", NULL);
}

/* COMPLETED: read the transcript, fill the record. */
static vm_status completed(const struct transcribe_aws *ta, vm_job *job, const char *name,
			   const struct tx_job *tj)
{
	const char *out_uri = vm_job_get_str(job, "transcript.output_uri");
	vm_buf buf;
	vm_status st;
	if (out_uri)
		st = vm_fetch(job, out_uri, (size_t)ta->transcript_max, &buf);
	else if (tj->transcript_uri)
		st = vm_http_get(job, tj->transcript_uri, (size_t)ta->transcript_max, &buf);
	else
		return vm_fail(job, VM_TRANSIENT, "transcribe: job %s is COMPLETED without a "
			       "TranscriptFileUri", name);
	if (st != VM_DONE)
		return st;
	struct tx_transcript t;
	char err[200];
	int rc = tx_transcript_parse((const char *)buf.data, buf.len, (size_t)ta->preview_chars, &t,
				     err, sizeof err);
	free(buf.data);
	if (rc != 0)
		return failed(job, "transcript of job %s is unreadable: %s", name, err);
	const char *lang = tj->language ? tj->language : pick_language(ta, job);
	rc = vm_job_set_str(job, "transcript.text", t.text) |
	     vm_job_set_str(job, "transcript.preview", t.preview);
	if (t.speech_seconds >= 0)
		vm_job_set_num(job, "transcript.speech_seconds", t.speech_seconds);
	tx_transcript_clear(&t);
	if (rc)
		return failed(job, "transcript of job %s is not valid UTF-8%s", name, "");
	if (lang)
		vm_job_set_str(job, "transcript.language", lang);
	if (tj->language_score >= 0)
		vm_job_set_num(job, "transcript.language_score", tj->language_score);
	vm_job_set_str(job, "transcript.engine", ENGINE_NAME);
	vm_job_set_str(job, "transcript.status", "completed");
	vm_job_set_str(job, "transcript.error", NULL);
	clear_progress(job);
	if (ta->delete_job)
		tx_delete(job, ta->region, name);
	vm_log(job, VM_LOG_INFO, "transcribed by job %s", name);
	return vm_done(job);
}

/* Ask Transcribe how the job is doing and act on it. */
static vm_status follow(const struct transcribe_aws *ta, vm_job *job, const char *name)
{
	struct tx_job tj = {0};
	vm_status st = VM_DONE;
	enum tx_result r = tx_get(job, ta->region, name, &tj, &st);
	if (r == TX_ERROR) {
		tx_job_clear(&tj);
		return st;
	}
	if (r == TX_NOT_FOUND) {
		/* Deleted behind our back, or expired: start it again, once. */
		int64_t restarts = 0;
		vm_job_get_int(job, "transcript.restarts", &restarts);
		tx_job_clear(&tj);
		if (restarts >= 1)
			return failed(job, "transcription job %s disappeared twice%s", name, "");
		vm_job_set_int(job, "transcript.restarts", restarts + 1);
		clear_progress(job);
		vm_log(job, VM_LOG_WARN, "transcribe: job %s is gone; starting it again", name);
		return vm_retry(job, 1);
	}
	if (strcmp(tj.status, "COMPLETED") == 0) {
		st = completed(ta, job, name, &tj);
	} else if (strcmp(tj.status, "FAILED") == 0) {
		st = failed(job, "transcription job %s FAILED: %s", name,
			    tj.failure_reason ? tj.failure_reason : "no reason given");
	} else {
		int64_t started = vm_now_ms(), polls = 0, now = vm_now_ms();
		vm_job_get_int(job, "transcript.job_started_at", &started);
		vm_job_get_int(job, "transcript.polls", &polls);
		vm_job_set_int(job, "transcript.polls", ++polls);
		int64_t left = started + ta->wait_ms - now;
		if (left <= 0) {
			char secs[32];
			snprintf(secs, sizeof secs, "%llds", (long long)(ta->wait_ms / 1000));
			st = failed(job, "timed out: transcription job %s still running after %s", name, secs);
		} else {
			int64_t d = poll_interval(ta, job, polls + 1);
			st = vm_retry(job, d < left ? d : left);
		}
	}
	tx_job_clear(&tj);
	return st;
}

static vm_status run(const void *state, vm_job *job)
{
	const struct transcribe_aws *ta = state;
	const char *uri = vm_job_get_str(job, "recording.uri");
	if (!uri || strncmp(uri, "s3://", 5) != 0 || !strchr(uri + 5, '/'))
		return failed(job, "transcribe-aws needs the recording in S3, not '%.200s'%s",
			      uri ? uri : "(none)", "");
	const char *key = strchr(uri + 5, '/') + 1;
	char name[JOB_NAME_MAX + 1];
	job_name(ta, job, name, sizeof name);
	int64_t started;
	if (vm_job_get_int(job, "transcript.job_started_at", &started))
		return follow(ta, job, name);

	char out_key[1100] = "", err[400];
	if (ta->output_bucket && *ta->output_bucket &&
	    output_key(ta, job, name, key, out_key, sizeof out_key) != 0)
		return failed(job, "output_key for job %s is longer than S3 allows%s", name, "");
	char *body = start_body(ta, job, name, uri, key, out_key, err, sizeof err);
	if (!body)
		return failed(job, "%s%s", err, "");
	struct tx_job tj = {0};
	vm_status st = VM_DONE;
	enum tx_result r = tx_start(job, ta->region, body, &tj, &st);
	free(body);
	tx_job_clear(&tj);
	if (r == TX_ERROR) {
		/* The API refused the request itself: nothing will change on retry. */
		if (st == VM_PERMANENT) {
			vm_job_set_str(job, "transcript.status", "failed");
			vm_job_set_str(job, "transcript.engine", ENGINE_NAME);
		}
		return st;
	}
	int64_t now = vm_now_ms();
	vm_job_set_str(job, "transcript.job", name);
	vm_job_set_int(job, "transcript.job_started_at", now);
	/* When it gives up: a runtime that lets Transcribe's EventBridge event
	 * wake the job looks by itself then (docs/lambda.md). */
	vm_job_set_int(job, "transcript.wait_until", now + ta->wait_ms);
	vm_job_set_int(job, "transcript.polls", 0);
	if (out_key[0]) {
		char ouri[1200];
		snprintf(ouri, sizeof ouri, "s3://%s/%s", ta->output_bucket, out_key);
		vm_job_set_str(job, "transcript.output_uri", ouri);
	}
	if (r == TX_CONFLICT) {
		vm_log(job, VM_LOG_INFO, "transcribe: job %s exists already: following it", name);
		return follow(ta, job, name);
	}
	vm_log(job, VM_LOG_INFO, "transcribe: started job %s", name);
	return vm_retry(job, poll_interval(ta, job, 1));
}

static int parse_language_options(vm_stage *stage, struct transcribe_aws *ta)
{
	const char *p = ta->language_options;
	while (p && *p) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t n = strcspn(p, ", ");
		if (!n)
			break;
		if (ta->n_lang_opts == MAX_LANG_OPTIONS || n >= sizeof ta->lang_opts[0]) {
			vm_stage_error(stage, "option 'language_options': at most %d codes like en-US",
				       MAX_LANG_OPTIONS);
			return -1;
		}
		memcpy(ta->lang_opts[ta->n_lang_opts], p, n);
		ta->lang_opts[ta->n_lang_opts][n] = '\0';
		if (!language_ok(ta->lang_opts[ta->n_lang_opts])) {
			vm_stage_error(stage, "option 'language_options': '%s' is not a language code "
				       "like en-US", ta->lang_opts[ta->n_lang_opts]);
			return -1;
		}
		ta->n_lang_opts++;
		p += n;
	}
	if (ta->n_lang_opts == 1) {
		vm_stage_error(stage, "option 'language_options': give at least two languages "
			       "(Transcribe's rule), or set 'language' instead");
		return -1;
	}
	if (ta->n_lang_opts && !ta->identify_language) {
		vm_stage_error(stage, "option 'language_options' needs identify_language = yes");
		return -1;
	}
	return 0;
}

static bool output_key_ok(const char *k)
{
	for (const char *p = k; *p; p++) {
		if (*p == '{') {
			static const char *const ph[] = {"{job}", "{contact_id}", "{recording_dir}",
							 "{recording_name}"};
			size_t i;
			for (i = 0; i < 4 && strncmp(p, ph[i], strlen(ph[i])) != 0; i++)
				;
			if (i == 4)
				return false;
			p += strlen(ph[i]) - 1;
		} else if (!isalnum((unsigned char)*p) && !strchr("-_.!*'()/", *p)) {
			return false;
		}
	}
	return true;
}

static int init(vm_stage *stage, void *state)
{
	struct transcribe_aws *ta = state;
	bool have_lang = ta->language && *ta->language;
	if (have_lang && !language_ok(ta->language)) {
		vm_stage_error(stage, "option 'language': '%s' is not a language code like en-US",
			       ta->language);
		return -1;
	}
	if (have_lang && ta->identify_language) {
		vm_stage_error(stage, "options 'language' and 'identify_language' exclude each other "
			       "(Transcribe refuses LanguageCode with IdentifyLanguage): leave "
			       "language empty to identify it");
		return -1;
	}
	if (!have_lang && !ta->identify_language) {
		vm_stage_error(stage, "set 'language' (e.g. en-US; DEFAULT_LANGUAGE) or "
			       "identify_language = yes");
		return -1;
	}
	if (parse_language_options(stage, ta) != 0)
		return -1;
	if (ta->speaker_labels != 0 && (ta->speaker_labels < 2 || ta->speaker_labels > 30)) {
		vm_stage_error(stage, "option 'speaker_labels': 0 (off) or 2 to 30 speakers");
		return -1;
	}
	if (ta->speaker_labels && ta->channel_identification) {
		vm_stage_error(stage, "options 'speaker_labels' and 'channel_identification' exclude "
			       "each other (Transcribe refuses both): set channel_identification = no "
			       "to label speakers");
		return -1;
	}
	bool have_out = ta->output_bucket && *ta->output_bucket;
	if (ta->output_key && *ta->output_key && !have_out) {
		vm_stage_error(stage, "option 'output_key' needs 'output_bucket'");
		return -1;
	}
	if (ta->output_key && !output_key_ok(ta->output_key)) {
		vm_stage_error(stage, "option 'output_key': '%s' may hold letters, digits, -_.!*'()/ "
			       "and {job}, {contact_id}, {recording_dir}, {recording_name}",
			       ta->output_key);
		return -1;
	}
	size_t pl = strlen(ta->job_prefix);
	for (size_t i = 0; i < pl; i++) {
		if (!isalnum((unsigned char)ta->job_prefix[i]) && !strchr("._-", ta->job_prefix[i])) {
			vm_stage_error(stage, "option 'job_prefix': '%s' may hold letters, digits, "
				       "'.', '_' and '-' only", ta->job_prefix);
			return -1;
		}
	}
	if (pl > 64) {
		vm_stage_error(stage, "option 'job_prefix': at most 64 characters");
		return -1;
	}
	if (ta->poll_min_ms < 100 || ta->poll_max_ms < ta->poll_min_ms || ta->wait_ms <= 0) {
		vm_stage_error(stage, "options 'poll_min' (at least 100ms), 'poll_max' (at least "
			       "poll_min) and 'wait' (positive) are inconsistent");
		return -1;
	}
	if (ta->preview_chars < 0 || ta->transcript_max < 1024) {
		vm_stage_error(stage, "options 'preview_chars' (0 or more) or 'transcript_max' "
			       "(1k or more) out of range");
		return -1;
	}
	return 0;
}

#define O(f) offsetof(struct transcribe_aws, f)
static const vm_option options[] = {
	{"region", VM_OPT_STRING, NULL, false, O(region),
	 "Transcribe's region (default: AWS_REGION, the profile, the Connect instance)", NULL},
	{"language", VM_OPT_STRING, NULL, false, O(language),
	 "language code, e.g. en-US (DEFAULT_LANGUAGE); a contact attribute overrides it", NULL},
	{"language_attribute", VM_OPT_STRING, "languageCode", false, O(language_attribute),
	 "contact attribute naming the caller's language (empty: none)", NULL},
	{"identify_language", VM_OPT_BOOL, "no", false, O(identify_language),
	 "let Transcribe identify the language (leave 'language' empty)", NULL},
	{"language_options", VM_OPT_STRING, NULL, false, O(language_options),
	 "languages to identify among, comma-separated (at least two)", NULL},
	{"channel_identification", VM_OPT_BOOL, "yes", false, O(channel_identification),
	 "transcribe each channel (Connect records caller and system apart)", NULL},
	{"speaker_labels", VM_OPT_INT, "0", false, O(speaker_labels),
	 "label up to this many speakers (2-30; needs channel_identification = no)", NULL},
	{"output_bucket", VM_OPT_STRING, NULL, false, O(output_bucket),
	 "keep the transcript JSON in this bucket (default: Transcribe's own, for 90 days)", NULL},
	{"output_key", VM_OPT_STRING, NULL, false, O(output_key),
	 "key in output_bucket: {recording_dir}, {recording_name}, {job}, {contact_id}; "
	 "a trailing / is a folder", NULL},
	{"job_prefix", VM_OPT_STRING, "vmpipe-", false, O(job_prefix),
	 "the job is named this plus the contact id", NULL},
	{"poll_min", VM_OPT_DURATION, "2s", false, O(poll_min_ms),
	 "shortest interval between status checks", NULL},
	{"poll_max", VM_OPT_DURATION, "30s", false, O(poll_max_ms),
	 "longest interval; between the two it follows the recording's length", NULL},
	{"wait", VM_OPT_DURATION, "10m", false, O(wait_ms),
	 "give up on a job still running after this (the mail goes out without transcript)", NULL},
	{"preview_chars", VM_OPT_INT, "700", false, O(preview_chars),
	 "characters of transcript.preview", NULL},
	{"transcript_max", VM_OPT_SIZE, "16M", false, O(transcript_max),
	 "largest transcript document read", NULL},
	{"delete_job", VM_OPT_BOOL, "no", false, O(delete_job),
	 "delete the job once its transcript is in the record", NULL},
	{NULL, 0, NULL, false, 0, NULL, NULL},
};

const vm_plugin vmpipe_plugin = {
	.abi_version = VMPIPE_ABI_VERSION,
	.kind = VM_STAGE_TRANSCRIBE,
	.name = "transcribe-aws",
	.summary = "Amazon Transcribe batch jobs, named after the contact and followed by polling",
	.options = options,
	.state_size = sizeof(struct transcribe_aws),
	.init = init,
	.run = run,
};
