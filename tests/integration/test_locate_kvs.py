"""locate-kvs: a media-streaming contact's audio from Kinesis Video Streams
(docs/aws-plugins.md, "locate-kvs").

`vmpipe run` takes the contact record (as the Kinesis trigger delivers it)
of a contact whose audio Connect streamed to a video stream; the stage asks
the strict Kinesis Video fake (tests/fakes/kvs_fake.py: SigV4, requests
validated against botocore's models, GetMedia chunked at sizes that never
line up with elements) for the data endpoint and the media, reads the
Matroska stream laid out as Connect writes it (tests/fakes/connect_mkv.py:
per-fragment headers, A_AAC labels over PCM, tags after the audio), three
contacts back to back, and writes the WAV to the S3 fake; PocketSphinx then
transcribes it.  The caller speaks (flite -voice slt) on the caller's track,
somebody else on the agent's: the WAV must be the caller's bytes exactly,
and the transcript the caller's words.
"""
import io
import json
import os
import sys
import wave

import pytest

from aws_helpers import AKID, SECRET, clean_env
from conftest import ROOT, run_vmpipe
import speech

sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import awsfake  # noqa: E402
import connect_ctr  # noqa: E402
import connect_mkv  # noqa: E402
import kvs_fake  # noqa: E402

BUCKET = "vm-bucket"
PREFIX = "connect/acme/CallRecordings"
STREAM = ("arn:aws:kinesisvideo:us-east-1:123456789012:stream/"
          "connect-acme-contact-0c1d2e3f-1111-4e5f-8a9b-0c1d2e3f4a5b/1714558500000")
BEFORE, OURS, AFTER = ("0c1d2e3f-0000-4e5f-8a9b-0c1d2e3f4a5b", "0c1d2e3f-1111-4e5f-8a9b-0c1d2e3f4a5b",
                       "0c1d2e3f-2222-4e5f-8a9b-0c1d2e3f4a5b")
T0 = 1714558500  # 2024-05-01T10:15:00Z


def pcm_of(path):
    with wave.open(path, "rb") as w:
        assert w.getframerate() == 8000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        return w.readframes(w.getnframes())


@pytest.fixture(scope="module")
def voices(tmp_path_factory):
    d = tmp_path_factory.mktemp("voices")
    caller = pcm_of(speech.make_8k(speech.VOICEMAIL, str(d / "caller.wav")))
    agent = pcm_of(speech.make_8k(speech.SENTENCES[1], str(d / "agent.wav")))
    return caller, agent


@pytest.fixture
def world(tmp_path):
    creds = [(AKID, SECRET, None)]
    s3 = awsfake.S3Fake(creds).start()
    kvs = kvs_fake.KVSFake(creds).start()
    with s3.lock:
        s3.buckets[BUCKET] = {}
    yield s3, kvs
    kvs.stop()
    s3.stop()


def stream_of(kvs, voices, ours_caller=None, live=True, cut_at=None):
    """Three contacts back to back; returns our fragments' numbers."""
    caller, agent = voices
    ours_caller = caller if ours_caller is None else ours_caller
    first = connect_mkv.FIRST_FRAGMENT
    a = connect_mkv.contact(BEFORE, connect_mkv.tone_pcm(2, 350), connect_mkv.tone_pcm(2, 450), first,
                            T0 * 1000)
    b = connect_mkv.contact(OURS, ours_caller, agent, first + 10 ** 6, T0 * 1000 + 3000)
    c = connect_mkv.contact(AFTER, connect_mkv.tone_pcm(2, 300), connect_mkv.tone_pcm(2, 500), first + 2 * 10 ** 6,
                            T0 * 1000 + 30000)
    kvs.add_stream(STREAM, a + b + c, live=live, cut_at=cut_at)
    return a, b, c


def ctr_of(start, stop, status="AVAILABLE"):
    rec = connect_ctr.kvs_recording(STREAM, str(start) if start else None, str(stop) if stop else None,
                                    T0 + 3, T0 + 20)
    rec["Status"] = status
    return connect_ctr.ctr(OURS, T0, T0 + 20, [rec], connect_ctr.vmx3_attributes())


def pipeline(tmp_path, **opts):
    o = {"bucket": BUCKET, "prefix": PREFIX}
    o.update(opts)
    out = tmp_path / "outbox"
    out.mkdir(exist_ok=True)
    ini = tmp_path / "kvs.ini"
    ini.write_text("[pipeline]\ntimeout = 2m\n\n[locate]\nplugin = locate-kvs\n" +
                   "".join(f"{k} = {v}\n" for k, v in o.items()) +
                   "\n[transcribe]\nplugin = transcribe-sphinx\n\n"
                   f"[notify]\nplugin = notify-file\ndir = {out}\nfrom = Voicemail <vm@example.com>\n")
    return str(ini)


def run(tmp_path, s3, kvs, event, extra_env=None, **opts):
    env = clean_env(tmp_path / "home")
    env.update(extra_env or {})
    env.update({"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL_S3": s3.url, "AWS_ENDPOINT_URL_KINESIS_VIDEO": kvs.url,
                "VMPIPE_LOG_FORMAT": "text"})
    ev = tmp_path / "ctr.json"
    ev.write_text(json.dumps(event))
    p = run_vmpipe("run", "-c", pipeline(tmp_path, **opts), str(ev), env=env, timeout=120)
    rec = json.loads(p.out) if p.out.strip().startswith("{") else None
    return p, rec


def stored(s3, rec):
    with s3.lock:
        body = s3.buckets[BUCKET][rec["recording"]["key"]][0]
    assert body[:4] == b"RIFF" and body[8:12] == b"WAVE", body[:16]
    return body


def wav_parts(body):
    with wave.open(io.BytesIO(body), "rb") as w:
        return w.getframerate(), w.getnchannels(), w.readframes(w.getnframes())


@pytest.mark.parametrize("with_stop", [True, False], ids=["stop-fragment", "contact-tag"])
def test_callers_audio_from_the_stream(tmp_path, world, voices, with_stop):
    """Our contact between two others, the stream left open at its tip: the
    caller's bytes exactly, read until the stop fragment (or the next
    contact's ContactId), then the connection closed."""
    s3, kvs = world
    a, b, c = stream_of(kvs, voices)
    p, rec = run(tmp_path, s3, kvs, ctr_of(b[0][0], b[-1][0] if with_stop else None))
    assert p.code == 0, p.err
    key = rec["recording"]["key"]
    assert key == f"{PREFIX}/kvs/2024/05/01/{OURS}_20240501T10:15_UTC.wav", key
    assert rec["recording"]["uri"] == f"s3://{BUCKET}/{key}"
    rate, ch, pcm = wav_parts(stored(s3, rec))
    assert (rate, ch) == (8000, 1)
    assert pcm == voices[0], (len(pcm), len(voices[0]))
    assert rec["recording"]["fragments"] == len(b)
    assert "dental" in rec["transcript"]["text"] and "sarah" not in rec["transcript"]["text"].lower(), rec
    get = kvs.gets[-1]
    assert get["from"] == str(b[0][0]) and get["closed_early"], get
    # Stopped within the next contact's first fragment at the latest.
    ours_end = sum(len(f) for _, f in b)
    assert get["sent"] <= ours_end + len(c[0][1]) + 65536, get


def test_both_tracks(tmp_path, world, voices):
    s3, kvs = world
    a, b, c = stream_of(kvs, voices)
    p, rec = run(tmp_path, s3, kvs, ctr_of(b[0][0], b[-1][0]), both_tracks="yes")
    assert p.code == 0, p.err
    rate, ch, pcm = wav_parts(stored(s3, rec))
    assert ch == 2
    frames = len(pcm) // 4
    caller, agent = voices
    left = b"".join(pcm[4 * i:4 * i + 2] for i in range(frames))
    right = b"".join(pcm[4 * i + 2:4 * i + 4] for i in range(frames))
    assert left.rstrip(b"\0") == caller.rstrip(b"\0")
    assert right.rstrip(b"\0") == agent.rstrip(b"\0")


def test_wrong_start_fragment(tmp_path, world, voices):
    """The record's start points at the previous contact's fragment: no audio
    of another contact is ever mailed (exit 66: the owner is told)."""
    s3, kvs = world
    a, b, c = stream_of(kvs, voices)
    p, rec = run(tmp_path, s3, kvs, ctr_of(a[0][0], b[-1][0]))
    assert p.code == 66, p.err
    assert f"belongs to contact {BEFORE}" in p.err
    with s3.lock:
        assert not s3.buckets[BUCKET]


def test_stream_cut_mid_cluster(tmp_path, world, voices):
    """The answer ends inside our second fragment's cluster: what came is
    kept (the fragment number says it is ours), with a warning."""
    s3, kvs = world
    a, b, c = stream_of(kvs, voices, live=False)
    cut = len(b[0][1]) + len(b[1][1]) // 2  # bytes of the answer, which starts at our first fragment
    kvs.add_stream(STREAM, a + b + c, cut_at=cut)
    p, rec = run(tmp_path, s3, kvs, ctr_of(b[0][0], b[-1][0]))
    assert p.code == 0, p.err
    assert "the media stream ended early" in p.err
    rate, ch, pcm = wav_parts(stored(s3, rec))
    assert 16000 < len(pcm) < 32000 and voices[0].startswith(pcm), len(pcm)


def test_contact_without_audio(tmp_path, world, voices):
    s3, kvs = world
    a, b, c = stream_of(kvs, voices, ours_caller=b"")
    p, rec = run(tmp_path, s3, kvs, ctr_of(b[0][0], b[-1][0]))
    assert p.code == 66, p.err
    assert "none of the caller's audio" in p.err


def test_deleted_recording_and_unknown_stream(tmp_path, world, voices):
    s3, kvs = world
    a, b, c = stream_of(kvs, voices)
    p, _ = run(tmp_path, s3, kvs, ctr_of(b[0][0], b[-1][0], status="DELETED"))
    assert p.code == 66 and "deleted" in p.err, p.err
    assert not kvs.requests(), "nothing asked of Kinesis Video"
    with kvs.lock:
        kvs.streams.clear()
    p, _ = run(tmp_path, s3, kvs, ctr_of(b[0][0], b[-1][0]))
    assert p.code != 0 and "does not exist" in p.err, p.err
    # Every request the fake saw was signed right and valid for its model.
    assert all(r.get("status") in (200, 404) for r in kvs.requests()), kvs.requests()


def test_connection_broken_mid_answer(tmp_path, world, voices):
    """The connection breaks after 40 KB of the answer: the call is not
    retried with bytes already read (the reader would take them twice); the
    engine runs the stage again and a fresh reader takes the whole answer:
    the WAV is still the caller's bytes exactly."""
    s3, kvs = world
    a, b, c = stream_of(kvs, voices)
    kvs.add_stream(STREAM, a + b + c, live=True, reset_once_after=40000)
    p, rec = run(tmp_path, s3, kvs, ctr_of(b[0][0], b[-1][0]))
    assert p.code == 0, p.err
    assert [g.get("reset", False) for g in kvs.gets] == [True, False], kvs.gets
    assert wav_parts(stored(s3, rec))[2] == voices[0]


def test_answer_over_max_stream(tmp_path, world, voices):
    s3, kvs = world
    a, b, c = stream_of(kvs, voices, live=False)
    p, rec = run(tmp_path, s3, kvs, ctr_of(b[0][0], None), max_stream="64k")
    assert p.code == 66, p.err
    assert "larger than 65536 bytes" in p.err, p.err
    with s3.lock:
        assert not s3.buckets[BUCKET]


def test_last_contact_on_a_live_stream_without_a_stop_number(tmp_path, world, voices):
    """No FragmentStopNumber, and nothing after our contact: GetMedia stays
    open at the tip until the request times out (VMPIPE_AWS_TIMEOUT_MS); the
    fragments whose ContactId came are the recording."""
    s3, kvs = world
    a, b, c = stream_of(kvs, voices)
    kvs.add_stream(STREAM, a + b, live=True)
    p, rec = run(tmp_path, s3, kvs, ctr_of(b[0][0], None), extra_env={"VMPIPE_AWS_TIMEOUT_MS": "1500"})
    assert p.code == 0, p.err
    assert "stayed open at the stream's tip" in p.err
    assert wav_parts(stored(s3, rec))[2] == voices[0]
