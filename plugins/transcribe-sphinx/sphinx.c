/*
 * transcribe-sphinx: on-box speech-to-text with CMU PocketSphinx, the
 * embedded default transcriber.  No network, no account: the recording is
 * read through the host (vm_fetch), decoded to 16 kHz mono by the host's WAV
 * reader (vm_wav_decode) and recognised by a pool of decoders loaded once in
 * init (see decoder.h for why a pool).
 *
 * Telephone audio (8 kHz) is upsampled to 16 kHz for the 16 kHz en-us model.
 * Measured on the same eight flite voicemails (tests/bench/sphinx_bench.py):
 * upsampled WER 0.40 (16 kHz originals: 0.11); decoding natively at 8 kHz
 * (-samprate 8000 -nfft 256 -upperf 3500) WER 0.98, because the model's
 * cepstra were trained on a 130-6800 Hz filter bank and moving its edge
 * changes every coefficient; -remove_noise no 0.48; -dither yes 0.38 (within
 * noise, and random).  So the default is plain upsampling.
 *
 * Fills transcript.{status, engine, language, text, preview, speech_seconds}
 * and recording.duration_seconds (plus recording.truncated when the file
 * was cut short).  Silence is a completed transcript with empty text.
 *
 * Work is bounded before it starts (max_bytes read, max_duration decoded:
 * a 5 MB file cannot become hours of audio) and while it runs: decoding and
 * recognition (in ~30 s segments) stop at the job's deadline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmpipe/vmpipe.h>

#include "decoder.h"

struct sphinx {
	const char *model;
	const char *language;
	int64_t preview_chars;
	int64_t max_bytes;
	int64_t max_duration_ms;
	int64_t decoders;
	const char *sphinx_args;
	char model_dir[4096];  /* model resolved against the pipeline file; set by init */
	sphinx_pool *pool;     /* internally locked: run() shares it between threads */
};

/* Byte length of the first `chars` UTF-8 characters of s (never splits one). */
static size_t utf8_prefix(const char *s, int64_t chars)
{
	size_t i = 0;
	for (int64_t c = 0; s[i] && c < chars; c++) {
		i++;
		while ((s[i] & 0xC0) == 0x80) /* continuation bytes */
			i++;
	}
	return i;
}

/* A permanent failure: the record says why, the engine logs it. */
static vm_status failed(vm_job *job, const char *msg)
{
	vm_job_set_str(job, "transcript.status", "failed");
	vm_job_set_str(job, "transcript.engine", "pocketsphinx");
	vm_job_set_str(job, "transcript.error", msg);
	return vm_fail(job, VM_PERMANENT, "%s", msg);
}

static const char *wav_problem(int rc)
{
	switch (rc) {
	case VM_WAV_NOT_WAV: return "recording is not a WAV file";
	case VM_WAV_UNSUPPORTED: return "recording is a WAV file in an unsupported format";
	case VM_WAV_TOO_LONG: return "recording is too long to transcribe (option max_duration)";
	default: return "recording is a damaged WAV file";
	}
}

static vm_status store(const struct sphinx *sp, vm_job *job, const sphinx_result *res)
{
	size_t cut = utf8_prefix(res->text, sp->preview_chars);
	char *preview = strndup(res->text, cut);
	if (!preview)
		return vm_fail(job, VM_TRANSIENT, "out of memory");
	int rc = vm_job_set_str(job, "transcript.status", "completed");
	rc |= vm_job_set_str(job, "transcript.engine", "pocketsphinx");
	rc |= vm_job_set_str(job, "transcript.language", sp->language);
	rc |= vm_job_set_str(job, "transcript.text", res->text);
	rc |= vm_job_set_str(job, "transcript.preview", preview);
	rc |= vm_job_set_num(job, "transcript.speech_seconds", res->speech_seconds);
	vm_job_set_str(job, "transcript.error", NULL);
	free(preview);
	if (rc != 0)
		return vm_fail(job, VM_PERMANENT, "could not store the transcript in the job record");
	return vm_done(job);
}

static vm_status run(const void *state, vm_job *job)
{
	const struct sphinx *sp = state;
	char err[512], msg[768];
	const char *uri = vm_job_get_str(job, "recording.uri");
	if (!uri)
		return failed(job, "the job has no recording.uri (no locate stage ran?)");

	vm_buf buf = {0};
	vm_status st = vm_fetch(job, uri, (size_t)sp->max_bytes, &buf);
	if (st != VM_DONE) {
		/* vm_fetch() recorded the outcome; a permanent one also ends the transcript. */
		if (st == VM_PERMANENT) {
			vm_job_set_str(job, "transcript.status", "failed");
			vm_job_set_str(job, "transcript.engine", "pocketsphinx");
			vm_job_set_str(job, "transcript.error", "the recording could not be read");
		}
		return st;
	}

	/* Bounded: by max_duration before anything is decoded, by the job's
	 * deadline while decoding and recognising (the engine then times out). */
	int64_t deadline = vm_job_deadline_ms(job);
	vm_wav wav;
	int rc = vm_wav_decode_limits(buf.data, buf.len, VM_WAV_RATE, (double)sp->max_duration_ms / 1000.0,
	                              deadline, &wav, err, sizeof err);
	free(buf.data);
	if (rc == VM_WAV_NOMEM)
		return vm_fail(job, VM_TRANSIENT, "out of memory decoding the recording: %s", err);
	if (rc == VM_WAV_DEADLINE)
		return vm_fail(job, VM_TRANSIENT, "decoding the recording: %s", err);
	if (rc != VM_WAV_OK) {
		snprintf(msg, sizeof msg, "%s (%s)", wav_problem(rc), err);
		return failed(job, msg);
	}
	vm_job_set_num(job, "recording.duration_seconds", wav.duration);
	if (wav.truncated) {
		vm_job_set_bool(job, "recording.truncated", true);
		vm_log(job, VM_LOG_WARN, "recording is cut short: %.2fs of the %.2fs its header claims; "
		       "transcribing what is there", wav.duration, wav.claimed_duration);
	}

	double seconds = wav.duration;
	sphinx_result res;
	rc = sphinx_pool_decode_until(sp->pool, wav.samples, wav.nsamples, deadline, vm_now_ms, &res, err,
	                              sizeof err);
	vm_wav_free(&wav);
	if (rc == SPHINX_DEADLINE)
		return vm_fail(job, VM_TRANSIENT, "speech recognition %s", err);
	if (rc != 0) {
		snprintf(msg, sizeof msg, "speech recognition failed: %s", err);
		return failed(job, msg);
	}
	if (res.words == 0)
		vm_log(job, VM_LOG_INFO, "no speech recognised in %.1fs of audio", seconds);
	else
		vm_log(job, VM_LOG_INFO, "recognised %zu words (%.1fs of speech)", res.words,
		       res.speech_seconds);
	st = store(sp, job, &res);
	sphinx_result_free(&res);
	return st;
}

static int init(vm_stage *stage, void *state)
{
	struct sphinx *sp = state;
	if (sp->preview_chars < 0) {
		vm_stage_error(stage, "option 'preview_chars': must be 0 or more");
		return -1;
	}
	if (sp->max_bytes <= 0) {
		vm_stage_error(stage, "option 'max_bytes': must be more than 0");
		return -1;
	}
	if (sp->max_duration_ms < 1000 || sp->max_duration_ms > (int64_t)(VM_WAV_MAX_SECONDS * 1000)) {
		vm_stage_error(stage, "option 'max_duration': must be from 1s to 1h (the engine's cap)");
		return -1;
	}
	if (sp->decoders < 1 || sp->decoders > 64) {
		vm_stage_error(stage, "option 'decoders': %lld is not between 1 and 64",
		               (long long)sp->decoders);
		return -1;
	}
	/* Relative to the pipeline file, like every path option. */
	int n = sp->model[0] == '/'
	            ? snprintf(sp->model_dir, sizeof sp->model_dir, "%s", sp->model)
	            : snprintf(sp->model_dir, sizeof sp->model_dir, "%s/%s",
	                       vm_stage_config_dir(stage), sp->model);
	if (n < 0 || (size_t)n >= sizeof sp->model_dir) {
		vm_stage_error(stage, "option 'model': path too long");
		return -1;
	}
	char err[512];
	sphinx_conf conf = {
		.model = sp->model_dir,
		.rate = VM_WAV_RATE,
		.args = sp->sphinx_args,
		/* PocketSphinx is chatty; its log is only useful when debugging. */
		.log = vm_log_enabled(VM_LOG_DEBUG),
	};
	sp->pool = sphinx_pool_new(&conf, (unsigned)sp->decoders, err, sizeof err);
	if (!sp->pool) {
		vm_stage_error(stage, "%s", err);
		return -1;
	}
	return 0;
}

static void fini(void *state)
{
	struct sphinx *sp = state;
	sphinx_pool_free(sp->pool);
	sp->pool = NULL;
}

#define O(f) offsetof(struct sphinx, f)
static const vm_option options[] = {
	{"model", VM_OPT_STRING, "/usr/share/pocketsphinx/model/en-us", false, O(model),
	 "model directory: en-us/ (acoustic model), en-us.lm.bin, cmudict-en-us.dict", NULL},
	{"language", VM_OPT_STRING, "en-US", false, O(language),
	 "language written to transcript.language (the model decides what is recognised)", NULL},
	{"preview_chars", VM_OPT_INT, "700", false, O(preview_chars),
	 "characters of the transcript kept in transcript.preview", NULL},
	{"max_bytes", VM_OPT_SIZE, "50M", false, O(max_bytes),
	 "largest recording read; a larger one fails the job", NULL},
	{"max_duration", VM_OPT_DURATION, "15m", false, O(max_duration_ms),
	 "longest recording transcribed (at most 1h); a longer one gets no transcript", NULL},
	{"decoders", VM_OPT_INT, "1", false, O(decoders),
	 "decoders loaded (each ~40 MB): how many recordings are recognised at once", NULL},
	{"sphinx_args", VM_OPT_STRING, NULL, false, O(sphinx_args),
	 "extra PocketSphinx arguments, e.g. \"-beam 1e-60 -remove_noise no\"", NULL},
	{NULL, 0, NULL, false, 0, NULL, NULL},
};

const vm_plugin vmpipe_plugin = {
	.abi_version = VMPIPE_ABI_VERSION,
	.kind = VM_STAGE_TRANSCRIBE,
	.name = "transcribe-sphinx",
	.summary = "on-box speech-to-text with CMU PocketSphinx (no network)",
	.options = options,
	.state_size = sizeof(struct sphinx),
	.init = init,
	.run = run,
	.fini = fini,
};
