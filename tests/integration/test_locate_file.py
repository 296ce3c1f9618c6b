"""locate-file: when a recording on local disk is taken (settle), and what it
learns from it (the duration from the WAV header).  Waits run on the fake
clock (VMPIPE_CLOCK=fake), so they are counted, never timed: the record's
`attempts` counts every call of a stage, and -v logs each "not ready"."""
import json
import os
import time

from conftest import connect_event, run_vmpipe, write

CID = "11111111-2222-3333-4444-555555555555"
FAKE = {"VMPIPE_CLOCK": "fake"}


def pipeline(tmp_path, plugdir, settle, transcribe=""):
    (tmp_path / "rec").mkdir(exist_ok=True)
    return write(tmp_path / "pipeline.ini",
                 f"[pipeline]\nplugin_dir = {plugdir}\ntimeout = 1h\n"
                 f"[locate]\nplugin = locate-file\ndir = rec\npattern = {{contact_id}}.wav\n"
                 f"settle = {settle}\npoll = 1s\n"
                 f"{transcribe}"
                 f"[notify]\nplugin = notify-file\ndir = out\n")


def wav_file(path, seconds=1.5, rate=8000, channels=1, width=2):
    import wave
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(b"\0" * (width * channels * int(seconds * rate)))


def run(ini, *args, env=None):
    e = dict(FAKE)
    e.update(env or {})
    return run_vmpipe("-v", "run", "-c", ini, *args, "-", input=json.dumps(connect_event()), env=e)


def locate_waits(r):
    return r.err.count("[%s locate]: not ready" % CID)


# ------------------------------------------------------------ settle


def test_finished_file_is_taken_at_once(tmp_path, plugdir):
    """A recording last written an hour ago needs no settle wait: locate is
    called once (before: twice, a settle apart)."""
    ini = pipeline(tmp_path, plugdir, settle="10m")
    path = tmp_path / "rec" / f"{CID}.wav"
    wav_file(path)
    hour_ago = time.time() - 3600
    os.utime(path, (hour_ago, hour_ago))
    r = run(ini)
    assert r.code == 0, r
    rec = r.json()
    assert locate_waits(r) == 0, r.err
    assert rec["attempts"] == 2, rec  # locate once, notify once
    assert rec["recording"]["size"] == os.path.getsize(path)
    assert "seen_at" not in rec["recording"] and "seen_size" not in rec["recording"], rec


def test_file_being_written_is_waited_for(tmp_path, plugdir):
    """A recording modified less than `settle` ago may still be growing: it
    is looked at again after `settle` and taken once its size held."""
    ini = pipeline(tmp_path, plugdir, settle="10m")
    path = tmp_path / "rec" / f"{CID}.wav"
    wav_file(path)  # mtime: now, well within 10 minutes of the run
    r = run(ini)
    assert r.code == 0, r
    rec = r.json()
    assert locate_waits(r) == 1, r.err
    assert "not ready, again in 600000 ms" in r.err, r.err
    assert rec["attempts"] == 3, rec  # locate twice, notify once


def test_settle_zero_never_waits(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir, settle="0")
    wav_file(tmp_path / "rec" / f"{CID}.wav")
    r = run(ini)
    assert r.code == 0, r
    assert locate_waits(r) == 0, r.err
    assert r.json()["attempts"] == 2


# ------------------------------------------------------------ duration


def mail_text(tmp_path):
    import email
    import email.policy
    with open(tmp_path / "out" / f"{CID}.eml", "rb") as f:
        msg = email.message_from_bytes(f.read(), policy=email.policy.default)
    return msg.get_body(preferencelist=("plain",)).get_content()


def test_duration_without_a_transcriber(tmp_path, plugdir):
    """No [transcribe]: the duration comes from the WAV header, not "unknown"."""
    ini = pipeline(tmp_path, plugdir, settle="0")
    wav_file(tmp_path / "rec" / f"{CID}.wav", seconds=65.25, rate=8000, channels=2)
    r = run(ini)
    assert r.code == 0, r
    rec = r.json()
    assert rec["recording"]["duration_seconds"] == 65.25, rec
    assert "transcript" not in rec or rec["transcript"].get("status") != "completed"
    text = mail_text(tmp_path)
    assert "Duration: 1m 5s" in text.splitlines(), text
    assert "unknown" not in text


def test_duration_when_transcription_failed(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir, settle="0",
                   transcribe="[transcribe]\nplugin = test-flaky-transcribe\nmode = permanent\n"
                              "times = -1\nmessage = engine exploded\n")
    wav_file(tmp_path / "rec" / f"{CID}.wav", seconds=3, rate=16000, width=1)
    r = run(ini)
    assert r.code == 0, r
    rec = r.json()
    assert rec["transcript"]["status"] == "failed", rec
    assert rec["recording"]["duration_seconds"] == 3, rec
    text = mail_text(tmp_path)
    assert "Duration: 3s" in text.splitlines(), text
    assert "The transcription is unavailable" in text


def test_no_duration_from_what_is_not_a_wav(tmp_path, plugdir):
    """A .wav that is not one (an MP3 renamed) is still the recording; it just
    has no duration, and the log says why."""
    ini = pipeline(tmp_path, plugdir, settle="0")
    (tmp_path / "rec" / f"{CID}.wav").write_bytes(b"ID3\x04\0\0\0\0\0\0" + bytes(2000))
    r = run(ini)
    assert r.code == 0, r
    rec = r.json()
    assert "duration_seconds" not in rec["recording"], rec
    assert "duration unknown: " in r.err and "no RIFF header" in r.err, r.err
    assert "Duration: unknown" in mail_text(tmp_path)


def test_duration_of_a_recording_cut_short(tmp_path, plugdir):
    """A header that claims 2 hours over a file holding 2 s: the duration is
    what the file holds (the probe sizes the data chunk against the file)."""
    import struct
    ini = pipeline(tmp_path, plugdir, settle="0")
    rate, claimed = 8000, 8000 * 2 * 7200
    audio = bytes(8000 * 2 * 2)  # 2 s present
    hdr = (b"RIFF" + struct.pack("<I", 36 + claimed) + b"WAVE" +
           b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) +
           b"data" + struct.pack("<I", claimed))
    (tmp_path / "rec" / f"{CID}.wav").write_bytes(hdr + audio)
    r = run(ini)
    assert r.code == 0, r
    assert r.json()["recording"]["duration_seconds"] == 2, r
    assert "2.00 s (cut short)" in r.err, r.err
