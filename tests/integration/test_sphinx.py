"""transcribe-sphinx end to end: build/vmpipe, locate-file, PocketSphinx, notify-file.

Recordings are synthesised with flite (speech.py) so the expected words are
known; accuracy is checked as word error rate against thresholds the
recogniser meets with a measured margin (see WER_16K and WER_8K below, and
tests/bench/sphinx_bench.py for the rates over a larger sample).
"""
import json
import os
import shutil
import struct

import pytest

import speech
from conftest import PLUGIN_DIR, VMPIPE, connect_event, run_vmpipe, write

pytestmark = pytest.mark.skipif(
    not (os.path.exists(VMPIPE) and os.path.exists(os.path.join(PLUGIN_DIR, "transcribe-sphinx.so"))
         and shutil.which("flite") and shutil.which("sox")),
    reason="needs build/vmpipe, transcribe-sphinx.so, flite and sox")

# A slow wrapper (valgrind) makes PocketSphinx take minutes.
TIMEOUT = 900 if os.environ.get("VMPIPE_WRAPPER") else 180

# The fixtures are bit-for-bit reproducible (speech.py), so these rates are
# the same on every run and every machine with Debian 12's flite, sox and
# PocketSphinx.  Measured on them: 16 kHz 0.143, 0, 0, 0.250 (the four
# sentences), truncated 0.091; 8 kHz 0.333, mu-law 0.429, stereo 0.333.
# Each limit sits a margin above the worst measured case.
WER_16K = 0.30
WER_8K = 0.50


def pipeline(tmp_path, transcribe_extra=""):
    rec = tmp_path / "rec"
    rec.mkdir(exist_ok=True)
    return write(tmp_path / "pipeline.ini", f"""\
[pipeline]
plugin_dir = {PLUGIN_DIR}
timeout = 60s

[locate]
plugin = locate-file
dir = {rec}
pattern = {{contact_id}}.wav
wait = 1s

[transcribe]
plugin = transcribe-sphinx
{transcribe_extra}

[notify]
plugin = notify-file
dir = {tmp_path}/out
""")


def transcribe(tmp_path, make, contact_id="c1", extra=""):
    """Put a recording made by make(path) where locate-file finds it; run; return (Result, record)."""
    ini = pipeline(tmp_path, extra)
    make(str(tmp_path / "rec" / f"{contact_id}.wav"))
    event = write(tmp_path / f"{contact_id}.json", json.dumps(connect_event(contact_id=contact_id)))
    res = run_vmpipe("run", "-c", ini, event, timeout=TIMEOUT)
    assert res.out.strip(), res
    return res, res.json()


@pytest.mark.parametrize("index", range(len(speech.SENTENCES)))
def test_16k_mono_is_transcribed(tmp_path, index):
    text = speech.SENTENCES[index]
    res, rec = transcribe(tmp_path, lambda p: speech.make_16k(text, p))
    assert res.code == 0, res
    t = rec["transcript"]
    assert t["status"] == "completed", rec
    assert t["engine"] == "pocketsphinx"
    assert t["language"] == "en-US"
    assert speech.wer(text, t["text"]) <= WER_16K, (text, t["text"])
    assert t["preview"] == t["text"]  # shorter than 700 characters
    dur = rec["recording"]["duration_seconds"]
    assert abs(dur - speech._duration(str(tmp_path / "rec" / "c1.wav"))) < 0.01
    assert 0.5 * dur < t["speech_seconds"] <= dur + 0.01
    assert rec["state"] == "done"
    assert os.path.exists(tmp_path / "out" / "c1.eml")


def test_8k_telephone_audio(tmp_path):
    res, rec = transcribe(tmp_path, lambda p: speech.make_8k(speech.VOICEMAIL, p))
    assert res.code == 0, res
    t = rec["transcript"]
    assert t["status"] == "completed"
    assert speech.wer(speech.VOICEMAIL, t["text"]) <= WER_8K, t["text"]
    # The words a callback depends on come through.
    for word in ("john", "dental", "office", "tomorrow", "o'clock"):
        assert word in speech.words(t["text"]), t["text"]
    assert abs(rec["recording"]["duration_seconds"] - 6.79) < 0.05


def test_8k_mulaw(tmp_path):
    res, rec = transcribe(tmp_path, lambda p: speech.make_8k_ulaw(speech.VOICEMAIL, p))
    assert res.code == 0, res
    assert speech.wer(speech.VOICEMAIL, rec["transcript"]["text"]) <= WER_8K, rec["transcript"]


def test_connect_stereo_8k(tmp_path):
    res, rec = transcribe(tmp_path, lambda p: speech.make_stereo_8k(speech.VOICEMAIL, p))
    assert res.code == 0, res
    t = rec["transcript"]
    assert t["status"] == "completed"
    assert speech.wer(speech.VOICEMAIL, t["text"]) <= WER_8K, t["text"]


def test_silence_is_completed_with_no_text(tmp_path):
    res, rec = transcribe(tmp_path, lambda p: speech.make_silence(p, seconds=3.0))
    assert res.code == 0, res
    t = rec["transcript"]
    assert t["status"] == "completed"
    assert t["text"] == "" and t["preview"] == ""
    assert t["speech_seconds"] == 0
    assert rec["recording"]["duration_seconds"] == pytest.approx(3.0, abs=0.01)
    assert rec["state"] == "done"
    assert os.path.exists(tmp_path / "out" / "c1.eml")


def test_truncated_wav_decodes_what_is_there(tmp_path):
    res, rec = transcribe(tmp_path, lambda p: speech.make_truncated(speech.VOICEMAIL, p, keep=0.5))
    assert res.code == 0, res
    t = rec["transcript"]
    assert t["status"] == "completed"
    assert rec["recording"]["truncated"] is True
    assert rec["recording"]["duration_seconds"] == pytest.approx(6.79 / 2, abs=0.05)
    assert t["speech_seconds"] <= rec["recording"]["duration_seconds"] + 0.01
    first_half = "hi this is john from the dental office calling to confirm"
    assert speech.wer(first_half, t["text"]) <= WER_16K, t["text"]
    assert "cut short" in res.err


def test_not_a_wav_fails_the_transcript_permanently(tmp_path):
    res, rec = transcribe(tmp_path, speech.make_not_wav)
    t = rec["transcript"]
    assert t["status"] == "failed"
    assert t["error"].startswith("recording is not a WAV file ("), t
    assert "ID3" in t["error"]
    errs = [e for e in rec["errors"] if e["stage"] == "transcribe"]
    assert errs and errs[0]["kind"] == "permanent", rec["errors"]
    assert "not a WAV file" in res.err
    assert "text" not in t


def pcm8(path, rate, seconds):
    """Mono 8-bit PCM at `rate` (a square wave): what the audit fed the reader."""
    n = int(rate * seconds)
    data = bytes(200 if (i // 4) % 2 else 56 for i in range(n))
    hdr = b"RIFF" + struct.pack("<I", 36 + n) + b"WAVE"
    hdr += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate, 1, 8)
    with open(path, "wb") as f:
        f.write(hdr + b"data" + struct.pack("<I", n) + data)
    return path


def test_absurd_sample_rate_is_refused(tmp_path):
    """1 kHz 8-bit upsampled to 16 kHz is 32 bytes of samples per byte read."""
    res, rec = transcribe(tmp_path, lambda p: pcm8(p, 1000, 60))
    assert res.code == 0, res  # the owner still hears of the call
    t = rec["transcript"]
    assert t["status"] == "failed", t
    assert "sample rate 1000 Hz (4000 to 192000 supported)" in t["error"], t


def test_max_duration_bounds_what_is_decoded(tmp_path):
    res, rec = transcribe(tmp_path, lambda p: speech.make_16k(speech.VOICEMAIL, p),
                          extra="max_duration = 5s")
    assert res.code == 0, res
    t = rec["transcript"]
    assert t["status"] == "failed", t
    assert t["error"] == ("recording is too long to transcribe (option max_duration) "
                          "(7s of audio; at most 5s is decoded)"), t
    errs = [e for e in rec["errors"] if e["stage"] == "transcribe"]
    assert errs and errs[0]["kind"] == "permanent", rec["errors"]


def test_the_job_deadline_stops_decoding(tmp_path):
    """The pipeline's timeout is the transcriber's deadline: with the fake
    clock, locate settles exactly at the deadline, so decoding must stop at
    once and the stage end as timed out (the owner is still notified)."""
    rec_dir = tmp_path / "rec"
    rec_dir.mkdir()
    speech.make_16k(speech.VOICEMAIL, str(rec_dir / "c1.wav"))
    ini = write(tmp_path / "pipeline.ini", f"""\
[pipeline]
plugin_dir = {PLUGIN_DIR}
timeout = 10m
[locate]
plugin = locate-file
dir = {rec_dir}
pattern = {{contact_id}}.wav
settle = 10m
[transcribe]
plugin = transcribe-sphinx
[notify]
plugin = notify-file
dir = {tmp_path}/out
""")
    event = write(tmp_path / "c1.json", json.dumps(connect_event(contact_id="c1")))
    res = run_vmpipe("run", "-c", ini, event, env={"VMPIPE_CLOCK": "fake"}, timeout=TIMEOUT)
    assert res.code == 0, res
    rec = res.json()
    assert rec["stages"]["transcribe"] == "failed" and rec["transcript"]["status"] == "failed", rec
    errs = [e for e in rec["errors"] if e["stage"] == "transcribe"]
    assert [e["kind"] for e in errs] == ["transient", "timeout"], errs
    assert "the job's deadline passed while decoding" in errs[0]["message"], errs


def test_long_recording_is_recognised_in_segments(tmp_path):
    """Past 35 s the audio is recognised in ~30 s segments (the deadline is
    looked at between them), cut at a quiet moment: both messages come through."""
    def make_long(path):
        a, b, gap = (str(tmp_path / n) for n in ("a.wav", "b.wav", "gap.wav"))
        speech.make_16k(speech.SENTENCES[0], a)
        speech.make_16k(speech.SENTENCES[1], b)
        speech._run("sox", "-n", "-r", "16000", "-c", "1", "-b", "16", gap, "trim", "0", "31")
        speech._run("sox", a, gap, b, path)
        return path

    res, rec = transcribe(tmp_path, make_long)
    assert res.code == 0, res
    t = rec["transcript"]
    assert t["status"] == "completed", t
    assert rec["recording"]["duration_seconds"] > 40
    reference = speech.SENTENCES[0] + " " + speech.SENTENCES[1]
    assert speech.wer(reference, t["text"]) <= WER_16K, t["text"]
    # The second segment's words are placed after its start (~27-30 s in).
    # (PocketSphinx drops silent frames from its count, so within a segment
    # speech_seconds runs short of the wall position after a long pause.)
    assert t["speech_seconds"] > 27, t


def test_preview_is_cut_to_preview_chars(tmp_path):
    res, rec = transcribe(tmp_path, lambda p: speech.make_16k(speech.VOICEMAIL, p),
                          extra="preview_chars = 12\nlanguage = en-GB")
    assert res.code == 0, res
    t = rec["transcript"]
    assert len(t["text"]) > 12
    assert t["preview"] == t["text"][:12]
    assert t["language"] == "en-GB"


def test_bad_options_are_refused(tmp_path):
    ini = pipeline(tmp_path, f"model = {tmp_path}/no-such-model")
    res = run_vmpipe("check", "-c", ini, timeout=TIMEOUT)
    assert res.code == 78, res
    assert "no-such-model" in res.err and "transcribe" in res.err, res

    ini = pipeline(tmp_path, "sphinx_args = -no_such_argument 1")
    res = run_vmpipe("check", "-c", ini, timeout=TIMEOUT)
    assert res.code == 78, res
    assert "-no_such_argument" in res.err, res

    ini = pipeline(tmp_path, "decoders = 0")
    res = run_vmpipe("check", "-c", ini, timeout=TIMEOUT)
    assert res.code == 78, res
    assert "decoders" in res.err, res

    for bad in ("2h", "500ms"):
        ini = pipeline(tmp_path, f"max_duration = {bad}")
        res = run_vmpipe("check", "-c", ini, timeout=TIMEOUT)
        assert res.code == 78, res
        assert "option 'max_duration': must be from 1s to 1h" in res.err, res


def test_plugin_lists_its_options():
    res = run_vmpipe("plugins", "-d", PLUGIN_DIR)
    assert res.code == 0, res
    block = res.out[res.out.index("transcribe-sphinx"):]
    for opt in ("model", "language", "preview_chars", "max_bytes", "max_duration", "decoders",
                "sphinx_args"):
        assert opt in block, block
