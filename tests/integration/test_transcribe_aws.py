"""transcribe-aws against the strict Transcribe fake (tests/fakes/transcribe_fake.py).

Pipeline: locate-s3 (strict S3 fake holding the recording) -> transcribe-aws
-> notify-file, on the fake clock: the engine's waits take no real time and
a Transcribe job runs for a number of status checks.  Every request to both
fakes is SigV4-checked with botocore.
"""
import datetime
import email
import email.policy
import json
import os
import sys

import pytest

from aws_helpers import AKID, SECRET, clean_env, awsfake, s3rver  # noqa: F401
from conftest import ROOT, connect_event, run_vmpipe

sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import transcribe_fake  # noqa: E402

BUCKET = "vm-bucket"
CID = "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"
CALLER_TEXT = ("Hi, this is John from the dental office. Please call me back, "
               "thank you!")
SYSTEM_TEXT = "Please leave a message after the tone."
WAV = b"RIFF" + b"\x00" * 40 + b"\x01\x00" * 16000 * 20  # 20 s of 8 kHz 16-bit stereo


def today_key(cid=CID, ext="wav"):
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"ivr/{now:%Y/%m/%d}/{cid}_{now:%Y%m%dT%H:%M}_UTC.{ext}"


class World:
    """The S3 and Transcribe fakes, a pipeline and a runner."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.s3 = awsfake.S3Fake([(AKID, SECRET, None)]).start()
        self.s3.put(BUCKET, "keep/bucket.txt", b"x")
        self.tx = transcribe_fake.TranscribeFake([(AKID, SECRET, None)], polls=2,
                                                 s3_put=self._s3_put).start()
        self.out = tmp_path / "outbox"
        self.out.mkdir()

    def _s3_put(self, bucket, key, data):
        self.s3.put(bucket, key, data, "application/json")

    def stop(self):
        self.tx.stop()
        self.s3.stop()

    def ini(self, timeout="10m", **opts):
        o = {"language": "en-US", "poll_min": "2s", "poll_max": "30s", "wait": "5m"}
        o.update(opts)
        tx = "".join(f"{k} = {v}\n" for k, v in o.items() if v is not None)
        p = self.tmp / "p.ini"
        p.write_text(f"[pipeline]\ntimeout = {timeout}\n\n"
                     f"[locate]\nplugin = locate-s3\nbucket = {BUCKET}\ninitial_delay = 0s\n"
                     "wait = 10s\n\n"
                     f"[transcribe]\nplugin = transcribe-aws\n{tx}\n"
                     f"[notify]\nplugin = notify-file\ndir = {self.out}\n"
                     "from = Voicemail <vm@example.com>\n")
        return str(p)

    def run(self, ini, event=None, key=None, clock="fake", **env):
        key = key or today_key()
        if key not in self.s3.buckets.get(BUCKET, {}):
            self.s3.put(BUCKET, key, WAV, "audio/wav")
        e = clean_env(self.tmp / "home")
        e.update({"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET,
                  "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": self.s3.url,
                  "AWS_ENDPOINT_URL_TRANSCRIBE": self.tx.url, "VMPIPE_LOG_FORMAT": "text"})
        if clock:
            e["VMPIPE_CLOCK"] = clock
        e.update(env)
        ev = self.tmp / "event.json"
        ev.write_text(json.dumps(event or connect_event(CID)))
        r = run_vmpipe("run", "-c", ini, str(ev), env=e, timeout=120)
        self.key = key
        return r

    def mail(self, cid=CID):
        raw = (self.out / f"{cid}.eml").read_bytes()
        return email.message_from_bytes(raw, policy=email.policy.default)

    def tx_calls(self, op):
        return [e for e in self.tx.requests() if e["path"] == "/" and e.get("status")
                and e.get("op", op) == op]


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.stop()


def all_signed(fake):
    log = [e for e in fake.requests() if not e["path"].startswith("/__")]
    return log and all(e["signed"] and "mismatch" not in e for e in log)


@pytest.mark.valgrind
def test_completed_transcript_fills_record_and_mail(world):
    world.tx.script[CID] = {"text": CALLER_TEXT, "other": SYSTEM_TEXT}
    r = world.run(world.ini())
    assert r.code == 0, r
    rec = r.json()
    t = rec["transcript"]
    assert t["status"] == "completed", rec
    assert t["engine"] == "aws-transcribe"
    assert t["job"] == "vmpipe-" + CID
    assert t["language"] == "en-US"
    assert t["text"] == CALLER_TEXT + " " + SYSTEM_TEXT
    doc = transcribe_fake.transcript_doc(t["job"], CALLER_TEXT, SYSTEM_TEXT,
                                         {"Settings": {"ChannelIdentification": True}})
    # Channels interleaved by time, punctuation on the word before it.
    assert t["preview"] == transcribe_fake.original_preview(doc)
    assert t["preview"].startswith("Hi, Please this leave is a John message")
    words = len(CALLER_TEXT.replace(",", " ").replace(".", " ").replace("!", " ").split())
    assert t["speech_seconds"] == pytest.approx((words - 1) * 0.5 + 0.4, abs=1e-6)
    assert "job_started_at" not in t and "polls" not in t and "wait_until" not in t
    # What was asked of Transcribe.
    assert len(world.tx.starts) == 1
    s = world.tx.starts[0]
    assert s["TranscriptionJobName"] == "vmpipe-" + CID
    assert s["Media"] == {"MediaFileUri": f"s3://{BUCKET}/{world.key}"}
    assert s["MediaFormat"] == "wav"
    assert s["LanguageCode"] == "en-US"
    assert s["Settings"] == {"ChannelIdentification": True}
    assert "OutputBucketName" not in s
    assert all_signed(world.tx) and all_signed(world.s3)
    # One start, three status checks (two IN_PROGRESS), one transcript GET.
    ops = [e for e in world.tx.requests() if e["path"] == "/"]
    assert len(ops) == 4, ops
    assert len([e for e in world.tx.requests() if e["path"].startswith("/__transcripts/")]) == 1
    # The mail carries the transcript.
    body = world.mail().get_body(("plain",)).get_content()
    assert "Hi, this is John from the dental office." in body


def test_poll_interval_follows_recording_length(world):
    """20 s of audio: the first check after 20 s (a job is rarely done sooner),
    then 10 s, 15 s, 22.5 s, … (the engine's clock is virtual; its debug log
    shows the delays asked for)."""
    world.tx.polls = 3
    r = world.run(world.ini(), VMPIPE_LOG_LEVEL="debug")
    assert r.code == 0, r
    delays = [int(l.rsplit("again in ", 1)[1].split()[0]) for l in r.err.splitlines()
              if "transcribe" in l and "again in" in l]
    assert delays == [20000, 10000, 15000, 22500], r.err


@pytest.mark.valgrind
def test_conflict_resumes_the_existing_job(world):
    """A second invocation for the same voicemail follows the job already
    running instead of starting another."""
    world.tx.script[CID] = CALLER_TEXT
    key = today_key()
    world.s3.put(BUCKET, key, WAV, "audio/wav")
    first = {"TranscriptionJobName": "vmpipe-" + CID, "LanguageCode": "en-US",
             "MediaFormat": "wav", "Media": {"MediaFileUri": f"s3://{BUCKET}/{key}"},
             "Settings": {"ChannelIdentification": True}}
    assert world.tx.op_start(first).status == 200
    r = world.run(world.ini(), key=key)
    assert r.code == 0, r
    assert "exists already" in r.err
    assert len(world.tx.jobs) == 1
    assert len(world.tx.starts) == 2  # ours was refused with ConflictException
    assert r.json()["transcript"]["text"] == CALLER_TEXT


@pytest.mark.valgrind
def test_failed_job_still_notifies(world):
    world.tx.script[CID] = {"text": "", "fail": "The media format that you specified "
                            "doesn't match the detected media format."}
    r = world.run(world.ini())
    assert r.code == 0, r  # the owner was told: the voicemail is not lost
    rec = r.json()
    t = rec["transcript"]
    assert t["status"] == "failed"
    assert "FAILED" in t["error"] and "doesn't match the detected media format" in t["error"]
    assert any(e["stage"] == "transcribe" and e["kind"] == "permanent" for e in rec["errors"])
    body = world.mail().get_body(("plain",)).get_content()
    assert "transcription is unavailable" in body
    assert rec["recording"]["url"].split("?")[0] in body


def test_timeout_sets_failed_and_notifies(world):
    world.tx.polls = 10 ** 6
    r = world.run(world.ini(wait="2m"))
    assert r.code == 0, r
    t = r.json()["transcript"]
    assert t["status"] == "failed"
    assert "timed out" in t["error"] and "120s" in t["error"], t
    assert t["wait_until"] - t["job_started_at"] == 120000, t  # when it gives up, recorded
    checks = [e for e in world.tx.requests() if e["path"] == "/"]
    # 20 s, then 10 s growing by half up to 30 s within 2 minutes: a handful, not 40.
    assert 6 <= len(checks) <= 10, len(checks)
    assert (world.out / f"{CID}.eml").exists()


def test_language_from_contact_attribute(world):
    world.tx.script[CID] = "hola"
    ev = connect_event(CID, extra_attrs={"languageCode": "es-US"})
    r = world.run(world.ini(), ev)
    assert r.code == 0, r
    assert world.tx.starts[0]["LanguageCode"] == "es-US"
    assert r.json()["transcript"]["language"] == "es-US"


def test_language_attribute_not_a_code_falls_back(world):
    ev = connect_event(CID, extra_attrs={"languageCode": "spanish please"})
    r = world.run(world.ini(), ev)
    assert r.code == 0, r
    assert world.tx.starts[0]["LanguageCode"] == "en-US"
    assert "not a language code" in r.err


def test_identify_language(world):
    world.tx.script[CID] = {"text": "bonjour", "language": "fr-CA"}
    r = world.run(world.ini(language="", identify_language="yes",
                            language_options="en-US, fr-CA,es-US"))
    assert r.code == 0, r
    s = world.tx.starts[0]
    assert s["IdentifyLanguage"] is True and "LanguageCode" not in s
    assert s["LanguageOptions"] == ["en-US", "fr-CA", "es-US"]
    t = r.json()["transcript"]
    assert t["language"] == "fr-CA"
    assert t["language_score"] == pytest.approx(0.97)


def test_throttling_storm(world):
    world.tx.script[CID] = CALLER_TEXT
    world.tx.set_faults(plan=["throttle"] * 4 + ["ok", "503", "throttle", "ok"])
    r = world.run(world.ini())
    assert r.code == 0, r
    assert r.json()["transcript"]["status"] == "completed"
    assert len([j for j in world.tx.jobs.values()]) == 1
    faults = [e for e in world.tx.requests() if e.get("fault")]
    assert len(faults) == 6


def test_limit_exceeded_is_retried(world):
    world.tx.max_running = 0
    r = world.run(world.ini(wait="1m"), timeout="90s")
    # Never admitted: the engine keeps retrying until its deadline, then notifies.
    assert r.code == 0, r
    t = r.json()["transcript"]
    assert t["status"] == "failed", t
    assert "LimitExceededException" in r.err


@pytest.mark.valgrind
def test_output_bucket_keeps_transcript_beside_recording(world):
    world.tx.script[CID] = CALLER_TEXT
    r = world.run(world.ini(output_bucket=BUCKET,
                            output_key="{recording_dir}{recording_name}.transcript.json"))
    assert r.code == 0, r
    stem = world.key.rsplit(".", 1)[0].replace(":", "-")
    want = f"{stem}.transcript.json"
    assert world.tx.starts[0]["OutputBucketName"] == BUCKET
    assert world.tx.starts[0]["OutputKey"] == want
    assert want in world.s3.buckets[BUCKET]
    t = r.json()["transcript"]
    assert t["output_uri"] == f"s3://{BUCKET}/{want}"
    assert t["text"] == CALLER_TEXT
    assert not [e for e in world.tx.requests() if e["path"].startswith("/__transcripts/")]


def test_delete_job_after_success(world):
    r = world.run(world.ini(delete_job="yes"))
    assert r.code == 0, r
    assert world.tx.jobs["vmpipe-" + CID].deleted


def test_speaker_labels(world):
    r = world.run(world.ini(channel_identification="no", speaker_labels="3"))
    assert r.code == 0, r
    assert world.tx.starts[0]["Settings"] == {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 3}
    assert r.json()["transcript"]["status"] == "completed"


def test_unknown_media_format_fails_cleanly(world):
    key = today_key(ext="raw")
    world.s3.put(BUCKET, key, WAV, "application/octet-stream")
    r = world.run(world.ini(), key=key)
    assert r.code == 0, r
    t = r.json()["transcript"]
    assert t["status"] == "failed" and "media format" in t["error"]
    assert not world.tx.starts


def test_preview_cut_at_700_characters(world):
    long_text = " ".join(f"word{i}," for i in range(300))
    world.tx.script[CID] = {"text": long_text}
    r = world.run(world.ini())
    assert r.code == 0, r
    t = r.json()["transcript"]
    assert len(t["preview"]) == 700
    assert t["preview"] == long_text[:700]
    assert t["text"] == long_text


def test_wrong_credentials_are_permanent(world):
    r = world.run(world.ini(), AWS_SECRET_ACCESS_KEY="nope")
    assert r.code == 66, r  # locate (S3) already refuses: nothing to transcribe
    assert "SignatureDoesNotMatch" in r.err


@pytest.mark.parametrize("opts,msg", [
    ({"speaker_labels": "2"}, "exclude each other"),
    ({"identify_language": "yes"}, "exclude each other"),
    ({"language": "", "identify_language": "yes", "language_options": "en-US"},
     "at least two"),
    ({"language": "english"}, "not a language code"),
    ({"language": ""}, "identify_language = yes"),
    ({"output_key": "x/"}, "needs 'output_bucket'"),
    ({"output_bucket": BUCKET, "output_key": "a:b"}, "may hold"),
    ({"job_prefix": "vm pipe"}, "job_prefix"),
    ({"speaker_labels": "31", "channel_identification": "no"}, "2 to 30"),
])
def test_bad_options_refused_at_check(tmp_path, opts, msg):
    w = World(tmp_path)
    try:
        r = run_vmpipe("check", "-c", w.ini(**opts))
    finally:
        w.stop()
    assert r.code == 78, r
    assert msg in r.err and "[transcribe]" in r.err, r


def test_fake_refuses_what_the_api_refuses(world):
    """The fake itself is strict (so a request the plugin sends is one the
    real API would take)."""
    base = {"TranscriptionJobName": "x", "LanguageCode": "en-US",
            "Media": {"MediaFileUri": "s3://b/k.wav"}}
    bad = [dict(base, TranscriptionJobName="a b"), dict(base, TranscriptionJobName="a" * 201),
           {k: v for k, v in base.items() if k != "Media"}, dict(base, MediaFormat="aiff"),
           dict(base, IdentifyLanguage=True),
           dict(base, Settings={"ChannelIdentification": True, "ShowSpeakerLabels": True,
                                "MaxSpeakerLabels": 2}),
           dict(base, Settings={"ShowSpeakerLabels": True}), dict(base, OutputKey="k.json")]
    for b in bad:
        rep = world.tx.op_start(b)
        assert rep.status == 400 and b"BadRequestException" in rep.body, b
    assert world.tx.op_start(base).status == 200
    rep = world.tx.op_start(base)
    assert rep.status == 400 and b"ConflictException" in rep.body


# ------------------------------------------------------------ end to end on s3rver


def test_end_to_end_connect_event_s3rver(tmp_path, s3rver):  # noqa: F811
    """A Connect event; the flite voicemail (8 kHz 16-bit stereo, like
    Connect's) lands in s3rver a moment after the invocation; Transcribe (the
    fake) transcribes it; notify-file keeps the mail, which is parsed back."""
    import subprocess
    import threading
    import urllib.request

    import speech

    wav = speech.make_stereo_8k(speech.VOICEMAIL, str(tmp_path / "vm.wav"))
    data = open(wav, "rb").read()
    key = "connect/acme/CallRecordings/" + today_key()
    tx = transcribe_fake.TranscribeFake([("S3RVER", "S3RVER", None)], duration=1.0).start()
    tx.script[CID] = {"text": speech.VOICEMAIL, "other": "Please leave a message."}
    out = tmp_path / "outbox"
    ini = tmp_path / "p.ini"
    ini.write_text("[pipeline]\ntimeout = 60s\n\n"
                   f"[locate]\nplugin = locate-s3\nbucket = {BUCKET}\n"
                   "prefix = ${BASE_PATH}\ninitial_delay = 300ms\npoll = 300ms\n"
                   "wait = ${RECORDING_WAIT_TIME:-20s}\nurl_expires = ${URL_EXPIRATION}\n\n"
                   "[transcribe]\nplugin = transcribe-aws\nlanguage = ${DEFAULT_LANGUAGE}\n"
                   "poll_min = 500ms\npoll_max = 1s\n\n"
                   f"[notify]\nplugin = notify-file\ndir = {out}\n"
                   "from = Voicemail <vm@example.com>\n")

    def upload():
        req = urllib.request.Request(f"{s3rver}/{BUCKET}/{key}", data=data, method="PUT",
                                     headers={"Content-Type": "audio/wav"})
        urllib.request.urlopen(req, timeout=10).close()

    e = clean_env(tmp_path / "home")
    e.update({"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER",
              "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": s3rver,
              "AWS_ENDPOINT_URL_TRANSCRIBE": tx.url, "VMPIPE_LOG_FORMAT": "text",
              "BASE_PATH": "connect/acme/CallRecordings", "URL_EXPIRATION": "86400",
              "DEFAULT_LANGUAGE": "en-US"})
    ev = tmp_path / "event.json"
    ev.write_text(json.dumps(connect_event(CID)))
    timer = threading.Timer(1.0, upload)
    timer.start()
    try:
        r = run_vmpipe("run", "-c", str(ini), str(ev), env=e, timeout=60)
    finally:
        timer.join()
        tx.stop()
    assert r.code == 0, r
    rec = r.json()
    assert rec["recording"]["uri"] == f"s3://{BUCKET}/{key}"
    assert rec["transcript"]["status"] == "completed"
    assert "X-Amz-Expires=86400" in rec["recording"]["url"]
    msg = email.message_from_bytes((out / f"{CID}.eml").read_bytes(),
                                   policy=email.policy.default)
    assert "+15555550123" in msg["Subject"]
    assert msg["From"].addresses[0].addr_spec == "vm@example.com"
    assert msg["To"].addresses[0].addr_spec == "owner@example.com"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for part in (text, html):
        assert "+15555550123" in part and "Pat Owner" in part
        assert "dental office" in part
    assert "Duration:" in text
    link = rec["recording"]["url"]
    assert link.split("?")[0] in text
    got = subprocess.run(["curl", "-sS", "-f", "-o", "-", link], capture_output=True, timeout=30)
    assert got.returncode == 0, got.stderr
    assert got.stdout == data
