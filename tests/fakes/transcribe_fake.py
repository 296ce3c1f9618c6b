"""A strict fake of Amazon Transcribe's batch API (JSON 1.1) for vmpipe's tests.

Built on awsfake.FakeAWS: every request's SigV4 signature is recomputed with
botocore, faults (5xx, ThrottlingException, resets) come from the same plan
or rate.  On top of that:

  * StartTranscriptionJob is validated as the API reference states:
    TranscriptionJobName ^[0-9a-zA-Z._-]+$ and 1-200 characters,
    Media.MediaFileUri required (s3://, 1-2000 characters), MediaFormat in
    the enum, exactly one of LanguageCode / IdentifyLanguage /
    IdentifyMultipleLanguages, LanguageOptions only with identification (at
    least two), Settings: ShowSpeakerLabels needs MaxSpeakerLabels 2-30 and
    excludes ChannelIdentification, OutputKey needs OutputBucketName;
    a duplicate name is ConflictException; too many running jobs is
    LimitExceededException; anything malformed BadRequestException.
  * At most `max_running` jobs run at once (None: no quota).
  * A job is IN_PROGRESS for `duration` seconds (wall clock, or a number of
    GetTranscriptionJob calls with `polls`), then COMPLETED with a realistic
    transcript (results.transcripts, items with start_time/end_time/
    alternatives/type, channel_labels with channel identification, a
    speaker_labels section with speaker labels), or FAILED with
    FailureReason when the test says so.
  * `on_start(job)`, when set, is called for every job started (job.name,
    job.created, the duration it will take: job.script.get("duration",
    fake.duration)).
  * The transcript is served from TranscriptFileUri on the fake itself
    (http://127.0.0.1:PORT/__transcripts/NAME.json?X-Amz-Signature=…: loopback
    only) or written to the output bucket through `s3_put(bucket, key, data)`.

What a job says is up to the test, since nothing is recognised: `script`
maps a media key (or a substring of it) to the spoken text or to a dict
{"text": …, "fail": "reason", "language": "es-US", "duration": s,
"polls": n, "other": "words on channel 1"}; `default_text` covers the rest.
"""
import json
import re
import threading
import time
import uuid

from awsfake import JSON11, FakeAWS, Reply

NAME_RE = re.compile(r"^[0-9a-zA-Z._-]+$")
LANG_RE = re.compile(r"^[a-z]{2,3}-[A-Z]{2}$")
OUTPUT_KEY_RE = re.compile(r"^[a-zA-Z0-9\-_.!*'()/]{1,1024}$")
BUCKET_RE = re.compile(r"^[a-z0-9][.\-a-z0-9]{1,61}[a-z0-9]$")
MEDIA_FORMATS = {"mp3", "mp4", "wav", "flac", "ogg", "amr", "webm", "m4a"}
KNOWN_FIELDS = {"TranscriptionJobName", "LanguageCode", "MediaSampleRateHertz", "MediaFormat",
                "Media", "OutputBucketName", "OutputKey", "OutputEncryptionKMSKeyId",
                "KMSEncryptionContext", "Settings", "ModelSettings", "JobExecutionSettings",
                "ContentRedaction", "IdentifyLanguage", "IdentifyMultipleLanguages",
                "LanguageOptions", "Subtitles", "Tags", "LanguageIdSettings",
                "ToxicityDetection"}
WORD_S = 0.4  # each fake word lasts this long, with a 0.1 s gap


class Job:
    def __init__(self, name, request, script, created):
        self.name = name
        self.request = request
        self.script = script
        self.created = created
        self.gets = 0
        self.deleted = False


class TranscribeFake(FakeAWS):
    service = "transcribe"
    protocol = JSON11

    def __init__(self, creds=None, region="us-east-1", duration=0.0, polls=None,
                 max_running=100, s3_put=None, default_text="hello this is a test message"):
        super().__init__(creds, region)
        self.duration = duration      # seconds a job stays IN_PROGRESS
        self.polls = polls            # or: GetTranscriptionJob calls before it finishes
        self.max_running = max_running
        self.s3_put = s3_put
        self.default_text = default_text
        self.script = {}
        self.jobs = {}
        self.transcripts = {}         # name -> bytes served at TranscriptFileUri
        self.starts = []              # every StartTranscriptionJob body, valid or not
        # Called with each job started (after the answer is made), e.g. to send
        # EventBridge's "Transcribe Job State Change" when it will be done.
        self.on_start = None

    # ------------------------------------------------------------ helpers
    def _lookup(self, media_uri):
        key = media_uri.split("/", 3)[-1] if media_uri.startswith("s3://") else media_uri
        for k, v in self.script.items():
            if k == key or k in media_uri:
                return v if isinstance(v, dict) else {"text": v}
        return {"text": self.default_text}

    def bad(self, message):
        return self.error(400, "BadRequestException", message)

    def ok(self, obj):
        return Reply(200, json.dumps(obj), {"Content-Type": "application/x-amz-json-1.1",
                                            "x-amzn-RequestId": str(uuid.uuid4())})

    # ------------------------------------------------------------ dispatch
    def handle(self, req):
        if req.path.startswith("/__transcripts/"):
            return self.serve_transcript(req)
        if req.method != "POST" or req.path != "/":
            return self.error(404, "UnknownOperationException", "Unknown operation")
        if req.headers.get("Content-Type") != "application/x-amz-json-1.1":
            return self.error(400, "SerializationException",
                              "Content-Type must be application/x-amz-json-1.1")
        target = req.headers.get("X-Amz-Target", "")
        if "x-amz-target" not in req.headers.get("Authorization", "").lower():
            return self.error(400, "IncompleteSignatureException",
                              "X-Amz-Target must be signed")
        try:
            body = json.loads(req.body or b"{}")
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            return self.error(400, "SerializationException", "body is not a JSON object")
        op = target.split(".", 1)[1] if target.startswith("Transcribe.") else None
        fn = {"StartTranscriptionJob": self.op_start, "GetTranscriptionJob": self.op_get,
              "DeleteTranscriptionJob": self.op_delete}.get(op)
        if not fn:
            return self.error(400, "UnknownOperationException", f"Unknown operation {target}")
        return fn(body)

    # ------------------------------------------------------------ operations
    def validate(self, b):
        unknown = set(b) - KNOWN_FIELDS
        if unknown:
            return f"Unknown parameter(s): {sorted(unknown)}"
        name = b.get("TranscriptionJobName")
        if not isinstance(name, str) or not 1 <= len(name) <= 200 or not NAME_RE.match(name):
            return ("1 validation error detected: Value at 'transcriptionJobName' failed to "
                    "satisfy constraint: Member must satisfy regular expression pattern: "
                    "^[0-9a-zA-Z._-]+ and length 1-200")
        media = b.get("Media")
        uri = media.get("MediaFileUri") if isinstance(media, dict) else None
        if not isinstance(uri, str) or not 1 <= len(uri) <= 2000 or not uri.startswith("s3://"):
            return "Media.MediaFileUri is required: an s3:// URI of 1-2000 characters"
        fmt = b.get("MediaFormat")
        if fmt is not None and fmt not in MEDIA_FORMATS:
            return f"Value '{fmt}' at 'mediaFormat' failed to satisfy constraint: enum"
        rate = b.get("MediaSampleRateHertz")
        if rate is not None and not (isinstance(rate, int) and 8000 <= rate <= 48000):
            return "MediaSampleRateHertz must be 8000-48000"
        modes = [k for k in ("LanguageCode", "IdentifyLanguage", "IdentifyMultipleLanguages")
                 if b.get(k)]
        if len(modes) != 1:
            return ("Specify exactly one of LanguageCode, IdentifyLanguage or "
                    "IdentifyMultipleLanguages" if modes else
                    "You must specify a language code or enable language identification")
        lc = b.get("LanguageCode")
        if lc is not None and not (isinstance(lc, str) and LANG_RE.match(lc)):
            return f"Value '{lc}' at 'languageCode' failed to satisfy constraint"
        opts = b.get("LanguageOptions")
        if opts is not None:
            if lc:
                return "LanguageOptions can only be used with language identification"
            if (not isinstance(opts, list) or len(opts) < 2
                    or not all(isinstance(o, str) and LANG_RE.match(o) for o in opts)):
                return "LanguageOptions needs at least two valid language codes"
        s = b.get("Settings") or {}
        if not isinstance(s, dict):
            return "Settings must be an object"
        if s.get("ShowSpeakerLabels"):
            m = s.get("MaxSpeakerLabels")
            if not (isinstance(m, int) and 2 <= m <= 30):
                return "MaxSpeakerLabels (2-30) is required with ShowSpeakerLabels"
            if s.get("ChannelIdentification"):
                return ("You can't specify both ChannelIdentification and ShowSpeakerLabels "
                        "in the same request")
        elif "MaxSpeakerLabels" in s:
            return "MaxSpeakerLabels requires ShowSpeakerLabels"
        ob, ok = b.get("OutputBucketName"), b.get("OutputKey")
        if ob is not None and not (isinstance(ob, str) and BUCKET_RE.match(ob)):
            return "OutputBucketName is not a valid bucket name"
        if ok is not None:
            if ob is None:
                return "OutputKey requires OutputBucketName"
            if not (isinstance(ok, str) and OUTPUT_KEY_RE.match(ok)):
                return "OutputKey failed to satisfy constraint [a-zA-Z0-9-_.!*'()/]{1,1024}"
        return None

    def op_start(self, b):
        with self.lock:
            self.starts.append(b)
        why = self.validate(b)
        if why:
            return self.bad(why)
        name = b["TranscriptionJobName"]
        with self.lock:
            if name in self.jobs and not self.jobs[name].deleted:
                return self.error(400, "ConflictException",
                                  "The requested job name already exists. Use a different "
                                  "job name.")
            # max_running None: no quota (the serve benchmark keeps 10,000
            # jobs running, and counting them on every start is quadratic).
            running = 0 if self.max_running is None else sum(
                1 for j in self.jobs.values()
                if not j.deleted and self._status(j, peek=True) == "IN_PROGRESS")
            if self.max_running is not None and running >= self.max_running:
                return self.error(400, "LimitExceededException",
                                  "You have exceeded the maximum number of concurrent "
                                  "transcription jobs.")
            job = Job(name, b, self._lookup(b["Media"]["MediaFileUri"]), time.time())
            self.jobs[name] = job
        reply = self.ok({"TranscriptionJob": self.describe(job, peek=True)})
        if self.on_start:
            self.on_start(job)
        return reply

    def op_get(self, b):
        name = b.get("TranscriptionJobName")
        if not isinstance(name, str) or not NAME_RE.match(name or ""):
            return self.bad("TranscriptionJobName is required")
        with self.lock:
            job = self.jobs.get(name)
            if job is None or job.deleted:
                return self.bad("The requested job couldn't be found. Check the job name and "
                                "try your request again.")
            job.gets += 1
        return self.ok({"TranscriptionJob": self.describe(job)})

    def op_delete(self, b):
        name = b.get("TranscriptionJobName")
        with self.lock:
            job = self.jobs.get(name)
            if job is None or job.deleted:
                return self.bad("The requested job couldn't be found.")
            job.deleted = True
        return Reply(200, "", {"Content-Type": "application/x-amz-json-1.1"})

    # ------------------------------------------------------------ job life
    def _status(self, job, peek=False):
        sc = job.script
        polls = sc.get("polls", self.polls)
        if polls is not None:
            done = job.gets > polls
        else:
            done = time.time() - job.created >= sc.get("duration", self.duration)
        if peek and polls is not None:
            done = False
        if not done:
            return "IN_PROGRESS"
        return "FAILED" if sc.get("fail") else "COMPLETED"

    def describe(self, job, peek=False):
        b = job.request
        status = self._status(job, peek)
        d = {"TranscriptionJobName": job.name, "TranscriptionJobStatus": status,
             "MediaFormat": b.get("MediaFormat", "wav"), "Media": b["Media"],
             "CreationTime": job.created, "StartTime": job.created,
             "Settings": b.get("Settings") or {}}
        lang = b.get("LanguageCode")
        if b.get("IdentifyLanguage"):
            d["IdentifyLanguage"] = True
            if b.get("LanguageOptions"):
                d["LanguageOptions"] = b["LanguageOptions"]
            if status == "COMPLETED":
                lang = job.script.get("language") or (b.get("LanguageOptions") or ["en-US"])[0]
                d["IdentifiedLanguageScore"] = 0.97
        if lang:
            d["LanguageCode"] = lang
        if status == "FAILED":
            d["FailureReason"] = job.script["fail"]
            d["CompletionTime"] = time.time()
        if status == "COMPLETED":
            d["CompletionTime"] = time.time()
            d["Transcript"] = {"TranscriptFileUri": self.publish(job, lang)}
        return d

    def publish(self, job, lang):
        """Write the transcript where Transcribe would and return its URI."""
        doc = json.dumps(transcript_doc(job.name, job.script.get("text", ""),
                                        job.script.get("other", ""), job.request)).encode()
        b = job.request
        if b.get("OutputBucketName"):
            bucket = b["OutputBucketName"]
            key = b.get("OutputKey") or f"{job.name}.json"
            if key.endswith("/"):
                key += f"{job.name}.json"
            if self.s3_put:
                self.s3_put(bucket, key, doc)
            return f"https://s3.{self.region}.amazonaws.com/{bucket}/{key}"
        with self.lock:
            self.transcripts[job.name] = doc
        # Like the real one: a short-lived presigned URL (here on loopback).
        return (f"{self.url}/__transcripts/{job.name}.json?X-Amz-Security-Token=tok"
                f"&X-Amz-Expires=900&X-Amz-Signature={uuid.uuid4().hex}")

    def serve_transcript(self, req):
        name = req.path[len("/__transcripts/"):].removesuffix(".json")
        with self.lock:
            doc = self.transcripts.get(name)
        if doc is None or "X-Amz-Signature" not in req.args:
            return Reply(403, "<Error><Code>AccessDenied</Code></Error>",
                         {"Content-Type": "application/xml"})
        return Reply(200, doc, {"Content-Type": "application/json"})

    def verify(self, req, host):
        # The transcript download is a presigned S3 URL, not signed by the caller.
        if req.path.startswith("/__transcripts/"):
            return None
        return super().verify(req, host)


def _items(text, channel, t0=0.0):
    """Transcribe-like items for `text`: words with times, punctuation without."""
    items, t = [], t0
    for tok in re.findall(r"[\w'’-]+|[.,?!]", text):
        if re.match(r"[.,?!]", tok):
            items.append({"type": "punctuation",
                          "alternatives": [{"confidence": "0.0", "content": tok}]})
            continue
        item = {"start_time": f"{t:.3f}", "end_time": f"{t + WORD_S:.3f}",
                "alternatives": [{"confidence": "0.98", "content": tok}],
                "type": "pronunciation"}
        items.append(item)
        t += WORD_S + 0.1
    for it in items:
        if channel is not None:
            it["channel_label"] = channel
    return items


def transcript_doc(name, text, other, request):
    """The document Transcribe writes: caller on ch_0, `other` on ch_1 (it
    starts half-way through the caller's first sentence, so the preview must
    interleave the channels by time)."""
    settings = request.get("Settings") or {}
    results = {}
    if settings.get("ChannelIdentification"):
        ch0 = _items(text, "ch_0")
        ch1 = _items(other, "ch_1", t0=0.25) if other else []
        merged = sorted(ch0 + ch1, key=lambda i: float(i.get("start_time", "inf")))
        results["channel_labels"] = {
            "channels": [{"channel_label": "ch_0", "items": ch0},
                         {"channel_label": "ch_1", "items": ch1}],
            "number_of_channels": 2}
        results["items"] = [i for i in merged]  # times only matter per channel
        full = " ".join(x for x in (text, other) if x)
    else:
        results["items"] = _items(text, None)
        full = text
        if settings.get("ShowSpeakerLabels"):
            segs = [{"start_time": i["start_time"], "end_time": i["end_time"],
                     "speaker_label": "spk_0",
                     "items": [{"start_time": i["start_time"], "end_time": i["end_time"],
                                "speaker_label": "spk_0"}]}
                    for i in results["items"] if i["type"] == "pronunciation"]
            results["speaker_labels"] = {"speakers": 1, "segments": segs}
    results["transcripts"] = [{"transcript": full}]
    return {"jobName": name, "accountId": "123456789012", "status": "COMPLETED",
            "results": results}


def original_preview(doc, limit=700):
    """The preview as the original system built it, for the tests to compare."""
    res = doc["results"]
    chans = res.get("channel_labels", {}).get("channels") or [{"items": res["items"]}]
    words = []
    for ch in chans:
        last = None
        for it in ch["items"]:
            c = it["alternatives"][0]["content"]
            if it["type"] == "punctuation":
                if last is not None:
                    last[1] += c
                continue
            last = [float(it["start_time"]), c]
            words.append(last)
    words.sort(key=lambda w: w[0])
    return " ".join(w[1] for w in words)[:limit]


if __name__ == "__main__":  # pragma: no cover
    import sys
    fake = TranscribeFake([c.split(":", 2) for c in sys.argv[1:]] or None).start()
    print(f"PORT {fake.port}", flush=True)
    threading.Event().wait()
