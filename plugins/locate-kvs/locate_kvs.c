/*
 * locate-kvs: the caller's audio from Kinesis Video Streams, for Amazon
 * Connect contacts that use media streaming instead of an IVR recording.
 *
 * The contact record (the job's source "ctr", core/ctr.h) names the video
 * stream and the contact's first and last fragments (recording.stream_arn,
 * recording.fragment_start, recording.fragment_stop).  The stage asks
 * Kinesis Video for the stream's data endpoint (GetDataEndpoint, cached per
 * stream), reads GetMedia from the first fragment through the streaming
 * Matroska reader (kvs_audio.h: the caller's track, or both as two
 * channels; it stops after the last fragment or at another contact's), and
 * writes a 16-bit 8 kHz WAV to S3 beside Connect's recordings:
 * {prefix}/{layout}{ContactId}_{YYYYMMDDTHH:MM}_UTC.wav (the layout's default
 * is kvs/{yyyy}/{mm}/{dd}/, next to Connect's ivr/).  The job then carries
 * recording.{uri, bucket, key, size, content_type, duration} and the link, as
 * locate-s3 leaves it, so Transcribe, the mail and the listen page work as
 * for any recording.  Running again writes the same object again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmpipe/vmpipe.h>

#include "kvs_api.h"
#include "kvs_audio.h"

#define MAX_PRESIGN_S 604800

struct locate_kvs {
	const char *bucket;
	const char *prefix;
	const char *base_path;
	char base_bucket[64], base_prefix[1024]; /* base_path split by init() */
	const char *layout;
	const char *region;
	bool both_tracks;
	int64_t max_duration_ms;
	int64_t max_stream;
	int64_t url_expires_ms;
	struct kvs_endpoint_cache cache;
};

static void put_le(uint8_t *p, uint32_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A 16-bit PCM WAV at 8 kHz of `frames` frames: header and data in one buffer. */
static uint8_t *wav_file(const uint8_t *pcm, uint64_t frames, int channels, size_t *len)
{
	size_t data = (size_t)frames * 2 * (size_t)channels;
	uint8_t *w = malloc(44 + data);
	if (!w)
		return NULL;
	memcpy(w, "RIFF", 4);
	put_le(w + 4, (uint32_t)(36 + data), 4);
	memcpy(w + 8, "WAVEfmt ", 8);
	put_le(w + 16, 16, 4);
	put_le(w + 20, 1, 2);
	put_le(w + 22, (uint32_t)channels, 2);
	put_le(w + 24, KVS_RATE, 4);
	put_le(w + 28, KVS_RATE * 2 * (uint32_t)channels, 4);
	put_le(w + 32, 2 * (uint32_t)channels, 2);
	put_le(w + 34, 16, 2);
	memcpy(w + 36, "data", 4);
	put_le(w + 40, (uint32_t)data, 4);
	if (data)
		memcpy(w + 44, pcm, data);
	*len = 44 + data;
	return w;
}

/* {prefix}/{layout with {yyyy} {mm} {dd}}{id}_{YYYYMMDDTHH:MM}_UTC.wav */
static int object_key(const struct locate_kvs *lk, const char *id, int64_t at_ms, char *key, size_t size)
{
	time_t t = (time_t)(at_ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char y[16], m[16], d[16], stamp[32];
	snprintf(y, sizeof y, "%04d", tm.tm_year + 1900);
	snprintf(m, sizeof m, "%02d", tm.tm_mon + 1);
	snprintf(d, sizeof d, "%02d", tm.tm_mday);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H:%M", &tm);
	size_t n = (size_t)snprintf(key, size, "%s%s", lk->prefix, *lk->prefix ? "/" : "");
	for (const char *p = lk->layout; *p && n < size; p++) {
		const char *v = strncmp(p, "{yyyy}", 6) == 0 ? y : strncmp(p, "{mm}", 4) == 0 ? m :
				strncmp(p, "{dd}", 4) == 0 ? d : NULL;
		if (v) {
			n += (size_t)snprintf(key + n, size - n, "%s", v);
			p = strchr(p, '}');
		} else {
			key[n++] = *p;
			key[n] = '\0';
		}
	}
	if (n >= size)
		return -1;
	n += (size_t)snprintf(key + n, size - n, "%s_%s_UTC.wav", id, stamp);
	return n < size ? 0 : -1;
}

static vm_status put_wav(const struct locate_kvs *lk, vm_job *job, const char *key, const uint8_t *w, size_t len)
{
	const vm_aws_pair headers[] = {{"Content-Type", "audio/wav"}};
	vm_aws_request req = {.service = "s3", .region = lk->region, .method = "PUT", .bucket = lk->bucket,
			      .path = key, .headers = headers, .nheaders = 1, .body = w, .body_len = len,
			      .protocol = VM_AWS_REST_XML};
	vm_aws_response resp;
	vm_status st = vm_aws_send(job, &req, &resp);
	vm_aws_response_free(&resp);
	return st;
}

/* What the reader kept becomes the recording; or why there is none. */
static vm_status keep(const struct locate_kvs *lk, vm_job *job, struct kvs_audio *a, int64_t started)
{
	const struct kvs_stats *s = kvs_audio_stats(a);
	uint64_t frames;
	int ch;
	const uint8_t *pcm = kvs_audio_pcm(a, &frames, &ch);
	if (frames == 0) {
		vm_job_set_str(job, "recording.error", "no audio");
		if (kvs_audio_stopped(a) == KVS_OTHER_CONTACT && s->kept == 0)
			return vm_fail(job, VM_PERMANENT, "the stream at FragmentStartNumber %s belongs to contact %s, "
				       "not this one: no audio of this contact there", vm_job_get_str(job,
				       "recording.fragment_start"), s->other_contact);
		return vm_fail(job, VM_PERMANENT, "the contact's media stream holds none of the caller's audio "
			       "(%llu fragment(s) read)", (unsigned long long)s->fragments);
	}
	char key[1200];
	const char *id = vm_job_get_str(job, "contact.id");
	if (object_key(lk, id, started, key, sizeof key) != 0)
		return vm_fail(job, VM_PERMANENT, "the recording's key would be longer than S3 allows");
	size_t len = 0;
	uint8_t *w = wav_file(pcm, frames, ch, &len);
	if (!w)
		return vm_fail(job, VM_TRANSIENT, "out of memory");
	vm_status st = put_wav(lk, job, key, w, len);
	free(w);
	if (st != VM_DONE)
		return st;
	char uri[1300];
	snprintf(uri, sizeof uri, "s3://%s/%s", lk->bucket, key);
	vm_job_set_str(job, "recording.uri", uri);
	vm_job_set_str(job, "recording.bucket", lk->bucket);
	vm_job_set_str(job, "recording.key", key);
	vm_job_set_str(job, "recording.content_type", "audio/wav");
	vm_job_set_int(job, "recording.size", (int64_t)len);
	vm_job_set_num(job, "recording.duration", (double)frames / KVS_RATE);
	vm_job_set_int(job, "recording.fragments", (int64_t)s->kept);
	if (vm_recording_link(job, lk->bucket, key, lk->url_expires_ms / 1000) != 0)
		return vm_fail(job, VM_TRANSIENT, "cannot make the link to %s", uri);
	vm_log(job, VM_LOG_INFO, "recording %s: %.1f s of %s from %llu fragment(s) of the media stream", uri,
	       (double)frames / KVS_RATE, ch == 2 ? "both tracks" : "the caller's track", (unsigned long long)s->kept);
	return vm_done(job);
}

static vm_status run(const void *state, vm_job *job)
{
	struct locate_kvs *lk = (struct locate_kvs *)state; /* only the endpoint cache changes, under its lock */
	const char *arn = vm_job_get_str(job, "recording.stream_arn");
	const char *start = vm_job_get_str(job, "recording.fragment_start");
	const char *uri = vm_job_get_str(job, "recording.uri");
	const char *status = vm_job_get_str(job, "recording.status");
	if (status && strcmp(status, "deleted") == 0) {
		const char *why = vm_job_get_str(job, "recording.deletion_reason");
		vm_job_set_str(job, "recording.error", "deleted");
		return vm_fail(job, VM_PERMANENT, "the contact record says the recording was deleted%s%.300s",
			       why ? ": " : "", why ? why : "");
	}
	if (!arn || !start) {
		vm_job_set_str(job, "recording.error", "no stream");
		return vm_fail(job, VM_PERMANENT, "the job names no Kinesis video stream (recording.stream_arn, "
			       "fragment_start: from a contact record of a media-streaming contact)%s%s",
			       uri ? "; it names " : "", uri ? uri : "");
	}
	int64_t started = vm_now_ms();
	vm_job_get_int(job, "recording.stream_started_at", &started);
	char endpoint[512];
	vm_status st = kvs_data_endpoint(job, &lk->cache, lk->region, arn, endpoint, sizeof endpoint);
	if (st != VM_DONE)
		return st;
	struct kvs_audio_opts o = {.contact_id = vm_job_get_str(job, "contact.id"),
				   .stop_fragment = vm_job_get_str(job, "recording.fragment_stop"),
				   .both = lk->both_tracks,
				   .max_stream_bytes = (uint64_t)lk->max_stream,
				   .max_frames = (uint64_t)(lk->max_duration_ms * KVS_RATE / 1000)};
	struct kvs_audio *a = kvs_audio_new(&o);
	if (!a)
		return vm_fail(job, VM_TRANSIENT, "out of memory");
	st = kvs_get_media(job, lk->region, endpoint, arn, start, (uint64_t)lk->max_stream, a);
	if (st == VM_TRANSIENT && !o.stop_fragment && kvs_audio_stopped(a) == KVS_MORE &&
	    kvs_audio_stats(a)->fragments > 0) {
		/* Without a stop number, a contact that was the stream's last stays
		 * open at its tip until the request times out: what came is all
		 * there is (fragments whose ContactId was read are kept). */
		vm_log(job, VM_LOG_WARN, "GetMedia stayed open at the stream's tip and the record names no "
		       "FragmentStopNumber: taking the %llu fragment(s) read",
		       (unsigned long long)kvs_audio_stats(a)->fragments);
		st = VM_DONE;
	}
	if (st == VM_DONE && kvs_audio_stopped(a) == KVS_MORE && kvs_audio_finish(a) != 0)
		/* Cut (mid-cluster, mid-fragment): its whole fragments are kept. */
		vm_log(job, VM_LOG_WARN, "the media stream ended early (%s): keeping what came",
		       kvs_audio_error(a));
	if (st == VM_DONE)
		st = keep(lk, job, a, started);
	kvs_audio_free(a);
	return st;
}

/* The original's BASE_PATH, "BUCKET/PREFIX" (s3:// and '/' at either end
 * accepted), as locate-s3 takes it. */
static int split_base_path(struct locate_kvs *lk, vm_stage *stage)
{
	char err[300];
	if (vm_s3_base_path(lk->base_path, lk->base_bucket, sizeof lk->base_bucket, lk->base_prefix,
			    sizeof lk->base_prefix, err, sizeof err) != 0) {
		vm_stage_error(stage, "option 'base_path': %s", err);
		return -1;
	}
	lk->bucket = lk->base_bucket;
	lk->prefix = lk->base_prefix;
	return 0;
}

static int init(vm_stage *stage, void *state)
{
	struct locate_kvs *lk = state;
	if (lk->base_path && *lk->base_path) {
		if (lk->bucket || *lk->prefix) {
			vm_stage_error(stage, "set either 'base_path' (BUCKET/PREFIX) or 'bucket' and 'prefix', not both");
			return -1;
		}
		if (split_base_path(lk, stage) != 0)
			return -1;
	}
	if (!lk->bucket || strlen(lk->bucket) < 3 || strlen(lk->bucket) > 63 ||
	    strspn(lk->bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-") != strlen(lk->bucket)) {
		vm_stage_error(stage, "option 'bucket': '%s' is not an S3 bucket name", lk->bucket ? lk->bucket : "");
		return -1;
	}
	if (*lk->prefix == '/' || (*lk->prefix && lk->prefix[strlen(lk->prefix) - 1] == '/')) {
		vm_stage_error(stage, "option 'prefix': no '/' at either end ('%s')", lk->prefix);
		return -1;
	}
	if (lk->url_expires_ms < 1000 || lk->url_expires_ms > MAX_PRESIGN_S * 1000LL) {
		vm_stage_error(stage, "option 'url_expires': outside 1s..7d");
		return -1;
	}
	if (lk->max_duration_ms < 1000 || lk->max_duration_ms > 3600 * 1000LL) {
		vm_stage_error(stage, "option 'max_duration': outside 1s..1h");
		return -1;
	}
	if (lk->max_stream < 65536) {
		vm_stage_error(stage, "option 'max_stream': at least 64k");
		return -1;
	}
	kvs_cache_init(&lk->cache);
	return 0;
}

static void fini(void *state)
{
	struct locate_kvs *lk = state;
	kvs_cache_fini(&lk->cache);
}

#define O(f) offsetof(struct locate_kvs, f)
static const vm_option options[] = {
	{"bucket", VM_OPT_STRING, NULL, false, O(bucket),
	 "bucket the WAV is written to (Connect's recordings bucket; or base_path)", NULL},
	{"base_path", VM_OPT_STRING, NULL, false, O(base_path),
	 "BUCKET/PREFIX in one, as locate-s3's base_path (instead of bucket and prefix)", NULL},
	{"prefix", VM_OPT_STRING, "", false, O(prefix), "key prefix, e.g. connect/INSTANCE/CallRecordings", NULL},
	{"layout", VM_OPT_STRING, "kvs/{yyyy}/{mm}/{dd}/", false, O(layout),
	 "folder under prefix: {yyyy}, {mm}, {dd} of the stream's start (UTC)", NULL},
	{"region", VM_OPT_STRING, NULL, false, O(region),
	 "region of the stream and bucket (default: AWS_REGION, the profile, the Connect instance)", NULL},
	{"both_tracks", VM_OPT_BOOL, "no", false, O(both_tracks),
	 "keep the agent's track too, as a second channel (the caller's is the first)", NULL},
	{"max_duration", VM_OPT_DURATION, "10m", false, O(max_duration_ms), "longest audio taken (at most 1h)", NULL},
	{"max_stream", VM_OPT_SIZE, "64M", false, O(max_stream), "most GetMedia bytes read for one contact", NULL},
	{"url_expires", VM_OPT_DURATION, "604800", false, O(url_expires_ms),
	 "lifetime of the link in the mail: seconds or 7d at most", NULL},
	{NULL, 0, NULL, false, 0, NULL, NULL},
};

const vm_plugin vmpipe_plugin = {
	.abi_version = VMPIPE_ABI_VERSION,
	.kind = VM_STAGE_LOCATE,
	.name = "locate-kvs",
	.summary = "the caller's audio from Kinesis Video Streams (Connect media streaming), written to S3 as WAV",
	.options = options,
	.state_size = sizeof(struct locate_kvs),
	.init = init,
	.run = run,
	.fini = fini,
};
