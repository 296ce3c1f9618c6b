"""The AWS pipeline end to end: `vmpipe run -c etc/pipeline.ini` on a Connect
event, against the strict fakes of S3 (awsfake.S3Fake), Amazon Transcribe
(transcribe_fake.py) and SES v2 (ses_fake.py), all checking SigV4 with
botocore.  The environment is the original Lambda's, unchanged (BASE_PATH =
BUCKET/PREFIX, EMAIL_SENDER, URL_EXPIRATION, RECORDING_WAIT_TIME,
DEFAULT_LANGUAGE).

Time is scaled 10x (VMPIPE_CLOCK=scaled:10, as in `make bench`): the
recording appears in S3 at T+20 s and Transcribe takes 45 s of virtual time,
2 s and 4.5 s of real time.  The mail SES captured is parsed with Python's
email package, and its link is downloaded from the S3 fake.
"""
import datetime
import json
import os
import re
import struct
import sys
import threading
import urllib.request
from html import unescape

import pytest

from conftest import PLUGIN_DIR, ROOT, connect_event, write
from test_notify_ses import AKID, SECRET, aws_env, part, run_env

sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import awsfake  # noqa: E402
import ses_fake  # noqa: E402
import transcribe_fake  # noqa: E402

SCALE = 10
BUCKET = "vm-connect-recordings"
PREFIX = "connect/acme/CallRecordings"
CID = "6b1c9d2e-0f3a-4b5c-8d7e-9f0a1b2c3d4e"
PIPELINE = os.path.join(ROOT, "etc", "pipeline.ini")
SPOKEN = "Hi Pat, this is Sam from the garage. Your car is ready <today>, please call me back."

pytestmark = pytest.mark.skipif(
    not all(os.path.exists(os.path.join(PLUGIN_DIR, p + ".so"))
            for p in ("locate-s3", "transcribe-aws", "notify-ses")),
    reason="the AWS plugins are not built")


def connect_wav(seconds=1.0, rate=8000):
    """What Connect writes for IVR recordings: 8 kHz 16-bit stereo PCM."""
    n = int(seconds * rate)
    frames = b"".join(struct.pack("<hh", 6000 if (i // 16) % 2 else -6000, 0) for i in range(n))
    hdr = b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVE"
    hdr += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 2, rate, rate * 4, 4, 16)
    return hdr + b"data" + struct.pack("<I", len(frames)) + frames


def connect_key(when, cid=CID, prefix=PREFIX):
    return f"{prefix}/ivr/{when:%Y/%m/%d}/{cid}_{when:%Y%m%dT%H:%M}_UTC.wav"


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class World:
    """The three fakes, the original's environment, and a timed upload."""

    def __init__(self, tmp):
        self.tmp = tmp
        creds = [(AKID, SECRET, None)]
        self.s3 = awsfake.S3Fake(creds).start()
        with self.s3.lock:
            self.s3.buckets[BUCKET] = {}
        self.tr = transcribe_fake.TranscribeFake(creds, duration=45 / SCALE,
                                                 s3_put=self.s3.put, default_text=SPOKEN)
        self.tr.start()
        self.ses = ses_fake.SESFake(creds, verified=["example.com"]).start()
        self.audio = connect_wav()
        self.timers = []
        self.vars = {"BASE_PATH": BUCKET + "/" + PREFIX,
                     "EMAIL_SENDER": "voicemail@example.com",
                     "URL_EXPIRATION": "86400", "RECORDING_WAIT_TIME": "120",
                     "DEFAULT_LANGUAGE": "en-US", "ALLOWED_RECIPIENT_DOMAINS": "example.com"}

    def stop(self):
        for t in self.timers:
            t.cancel()
        for f in (self.s3, self.tr, self.ses):
            f.stop()

    def upload_later(self, key, virtual_s=20.0):
        t = threading.Timer(virtual_s / SCALE, self.s3.put, (BUCKET, key, self.audio, "audio/wav"))
        t.start()
        self.timers.append(t)

    def env(self, **vars):
        v = dict(self.vars)
        v.update(vars)
        v = {k: x for k, x in v.items() if x is not None}
        return aws_env(self.tmp, {"S3": self.s3.url, "TRANSCRIBE": self.tr.url,
                                  "SESV2": self.ses.url}, clock=f"scaled:{SCALE}", extra=v)

    def run(self, event, name="event.json", **vars):
        path = write(self.tmp / name, event if isinstance(event, str) else json.dumps(event))
        return run_env(self.env(**vars), "run", "-c", PIPELINE, path)

    def script(self, key, **how):
        """How the Transcribe fake answers for this recording (duration in real s)."""
        how.setdefault("text", SPOKEN)
        self.tr.script[key] = how

    def requests(self):
        return sum(len(f.requests()) for f in (self.s3, self.tr, self.ses))


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.stop()


def mail_parts(msg):
    """Text and HTML bodies, line ends normalised to \n."""
    return tuple(part(msg, t).get_content().replace("\r\n", "\n")
                 for t in ("text/plain", "text/html"))


def speech_seconds():
    doc = transcribe_fake.transcript_doc("x", SPOKEN, "", {"Settings": {"ChannelIdentification": True}})
    return max(float(i["end_time"]) for i in doc["results"]["items"] if "end_time" in i)


# ------------------------------------------------------------------ the happy path

@pytest.mark.valgrind
def test_connect_event_to_mail(world):
    """Recording at T+20 s, Transcribe 45 s: the mail has everything and its
    link downloads the audio."""
    key = connect_key(utcnow() - datetime.timedelta(seconds=15))
    world.upload_later(key, 20)
    r = world.run(connect_event(CID, caller="+15555550123", recipient="owner@example.com",
                                name="Pat <Owner>"))
    assert r.code == 0, r
    rec = r.json()
    assert rec["state"] == "done"
    assert rec["recording"]["uri"] == f"s3://{BUCKET}/{key}"
    assert rec["transcript"]["status"] == "completed"

    assert len(world.ses.messages) == 1
    m = world.ses.messages[0]
    assert m["envelope"]["to"] == ["owner@example.com"]
    assert m["tags"]["contact_id"] == CID
    (note,) = rec["notifications"]
    assert (note["transport"], note["message_id"]) == ("ses", m["message_id"])

    msg = world.ses.parsed()
    assert msg["Subject"] == "Voicemail message from: +15555550123"
    assert msg["From"].addresses[0].addr_spec == "voicemail@example.com"
    assert [(a.display_name, a.addr_spec) for a in msg["To"].addresses] == [
        ("Pat <Owner>", "owner@example.com")]
    text, html = mail_parts(msg)
    dur = f"{int(speech_seconds() + 0.5)}s"
    assert f"Duration: {dur}\n" in text
    assert re.search(rf"Duration:</td>\s*<td>{dur}</td>", html)
    for body in (text, unescape(html)):
        assert "+15555550123" in body
        assert "Pat <Owner>" in body
        assert "Hi Pat, this is Sam from the garage. Your car is ready <today>, please call me back." \
            in body
    # Escaped in HTML: the name and the transcript cannot inject markup.
    assert "Pat &lt;Owner&gt;" in html and "&lt;today&gt;" in html and "<today>" not in html

    # The link in both parts is a presigned GET that downloads the audio.
    urls = re.findall(r"http://127\.0\.0\.1:\d+/\S+", text)
    assert urls and urls[0] == rec["recording"]["url"]
    assert unescape(re.search(r'href="([^"]+X-Amz-Signature[^"]+)"', html).group(1)) == urls[0]
    assert "X-Amz-Expires=86400" in urls[0]  # URL_EXPIRATION
    with urllib.request.urlopen(urls[0], timeout=10) as resp:
        assert resp.read() == world.audio

    # The transcription job: language from DEFAULT_LANGUAGE, channels on.
    (start,) = world.tr.starts
    assert start["LanguageCode"] == "en-US"
    assert start["Media"]["MediaFileUri"] == f"s3://{BUCKET}/{key}"
    assert start["Settings"].get("ChannelIdentification") is True


def test_check_passes_with_the_original_variables(world):
    r = run_env(world.env(), "check", "-c", PIPELINE)
    assert r.code == 0, r
    for plugin in ("locate-s3", "transcribe-aws", "notify-ses"):
        assert plugin in r.out


@pytest.mark.parametrize("missing", ["BASE_PATH", "EMAIL_SENDER"])
def test_check_names_a_missing_required_variable(world, missing):
    r = run_env(world.env(**{missing: None}), "check", "-c", PIPELINE)
    assert r.code == 78, r
    assert f"environment variable {missing} is not set" in r.err


def test_check_accepts_defaults_for_optional_variables(world):
    r = run_env(world.env(URL_EXPIRATION=None, RECORDING_WAIT_TIME=None, DEFAULT_LANGUAGE=None,
                          ALLOWED_RECIPIENT_DOMAINS=None), "check", "-c", PIPELINE)
    assert r.code == 0, r
    assert "allowed_recipient_domains is empty" in r.err


# ------------------------------------------------------------------ failures that still mail

def test_transcription_failed_still_mails(world):
    key = connect_key(utcnow() - datetime.timedelta(seconds=10))
    world.script(key, fail="The media format doesn't match the file", duration=0.5)
    world.upload_later(key, 5)
    r = world.run(connect_event(CID))
    assert r.code == 0, r
    rec = r.json()
    assert rec["transcript"]["status"] == "failed"
    assert "media format" in json.dumps(rec)
    assert len(world.ses.messages) == 1
    text, html = mail_parts(world.ses.parsed())
    assert "The transcription is unavailable for this message" in text
    assert "The transcription is unavailable for this message" in html
    assert rec["recording"]["url"] in text  # the audio is still there to listen to


def test_recording_never_appears(world):
    r = world.run(connect_event(CID, caller="+15555550199"), RECORDING_WAIT_TIME="30")
    assert r.code == 66, r
    day = utcnow()
    # The error names the S3 prefixes that were listed.
    assert f"s3://{BUCKET}/{PREFIX}/ivr/{day:%Y/%m/%d}/{CID}_" in r.err
    rec = r.json()
    assert rec["transcript"]["status"] == "skipped"
    assert world.tr.starts == []
    # The owner still hears that somebody called.
    assert len(world.ses.messages) == 1
    msg = world.ses.parsed()
    assert msg["Subject"] == "Voicemail message from: +15555550199"
    text, _ = mail_parts(msg)
    assert "The recording of this call could not be found." in text


# ------------------------------------------------------------------ refusals

def test_recipient_outside_allow_list_is_refused(world):
    """The audit: notify-ses would refuse the recipient, yet the recording was
    found and a whole Transcribe job run (and paid for) first.  Now the job
    fails at intake with notify-ses's own message: no S3, no Transcribe."""
    key = connect_key(utcnow() - datetime.timedelta(seconds=10))
    world.s3.put(BUCKET, key, world.audio, "audio/wav")
    world.script(key, duration=0.2)
    world.s3.log.clear()
    r = world.run(connect_event(CID, recipient="boss@example.com, mallory@evil.example.net"))
    assert r.code == 69, r
    msg = ("recipient mallory@evil.example.net is outside allowed_recipient_domains "
           "(example.com): nothing sent")
    assert msg in r.err
    assert world.tr.requests() == [] and world.tr.jobs == {}  # nothing transcribed
    assert world.s3.requests() == []                           # nothing located
    assert world.ses.sends() == [] and world.ses.messages == []
    rec = r.json()
    assert rec["notifications"] == [] and rec["state"] == "failed"
    assert [(e["stage"], e["kind"], e["message"]) for e in rec["errors"]] == [("notify", "permanent", msg)]
    assert rec["stages"] == {"notify": "failed"}


# ------------------------------------------------------------------ once only

def test_duplicate_invocation_mails_once(world):
    """With checkpoints on (VMPIPE_STATE), the same event again (Lambda's retry)
    or the first run's printed record fed back does not mail again, nor run a
    second transcription job.  The printed record alone proves nothing: a
    record from outside never says what was sent."""
    key = connect_key(utcnow() - datetime.timedelta(seconds=10))
    world.upload_later(key, 2)
    world.script(key, duration=0.3)
    state = str(world.tmp / "state")
    first = world.run(connect_event(CID), VMPIPE_STATE=state)
    assert first.code == 0, first
    for again in (connect_event(CID), first.out):
        second = world.run(again, name="again.json", VMPIPE_STATE=state)
        assert second.code == 0, second
        assert "already done (checkpoint)" in second.err
        assert second.json()["notifications"] == first.json()["notifications"]
    assert len(world.ses.messages) == 1 and len(world.ses.sends()) == 1
    assert len(world.tr.jobs) == 1


# ------------------------------------------------------------------ clocks and storms

def test_midnight_utc_boundary(world):
    """Called at 00:00:40 UTC: the recording started at 23:59 the day before
    and lives in that day's folder."""
    today = utcnow().replace(hour=0, minute=0, second=40, microsecond=0)
    started = today - datetime.timedelta(seconds=55)
    key = connect_key(started)
    assert f"/{started:%Y/%m/%d}/" in key and started.day != today.day
    world.s3.put(BUCKET, key, world.audio, "audio/wav")
    world.script(key, duration=0.2)
    rec = {"id": CID, "received_at": today.strftime("%Y-%m-%dT%H:%M:%SZ"),
           "contact": {"id": CID, "initial_id": CID, "caller": "+15555550123"},
           "recipient": {"email": "owner@example.com", "name": "Pat Owner"}}
    r = world.run(rec)
    assert r.code == 0, r
    assert r.json()["recording"]["uri"] == f"s3://{BUCKET}/{key}"
    assert len(world.ses.messages) == 1


def test_throttling_storms_on_every_service(world):
    key = connect_key(utcnow() - datetime.timedelta(seconds=10))
    world.upload_later(key, 4)
    world.script(key, duration=0.5)
    world.s3.set_faults(rate=0.4, kinds=["throttle", "503"], seed=3)
    world.tr.set_faults(rate=0.4, kinds=["throttle", "503"], seed=4)
    world.ses.set_faults(plan=["throttle", "LimitExceededException", "503", "throttle", "throttle"])
    r = world.run(connect_event(CID))
    assert r.code == 0, r
    assert len(world.ses.messages) == 1
    rec = r.json()
    assert len(rec["notifications"]) == 1
    assert rec["transcript"]["status"] == "completed"
    faulted = [e for f in (world.s3, world.tr, world.ses) for e in f.requests() if e["fault"]]
    assert len(faulted) >= 5, "the storm did not happen"
    text, _ = mail_parts(world.ses.parsed())
    assert "Hi Pat, this is Sam" in text, (rec, r.err)
