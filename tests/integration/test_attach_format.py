"""attach_format: the recording attached in a form mail clients play.

GSM 6.10 (raw .gsm, WAV49), mu-law and A-law recordings go as MP3 by default
(LAME, mono, 24 kbit/s at 8 kHz); a PCM WAV stays as it is unless asked;
`wav` writes 16-bit PCM.  The MP3 is decoded back with `lame --decode` (which
honours LAME's Info tag, as players do) and its length compared with the
recording's.  notify-file writes the mail; the recording on the host is never
changed.
"""
import email
import email.policy
import hashlib
import json
import os
import shutil
import subprocess
import wave

import pytest

import speech
from conftest import PLUGIN_DIR, connect_event, run_vmpipe, write

CID = "a77ac4ed-0000-4000-8000-000000000001"

pytestmark = pytest.mark.skipif(not shutil.which("lame"), reason="needs lame (--decode)")


def alaw(path):
    tmp = path + ".pcm.wav"
    speech.make_8k(speech.VOICEMAIL, tmp)
    speech._run("sox", tmp, "-e", "a-law", "-b", "8", path)
    os.unlink(tmp)
    return path


MAKERS = {
    "ulaw": ("wav", lambda p: speech.make_8k_ulaw(speech.VOICEMAIL, p)),
    "alaw": ("wav", alaw),
    "gsm": ("gsm", lambda p: speech.make_8k_gsm_raw(speech.VOICEMAIL, p)),
    "wav49": ("wav", lambda p: speech.make_8k_gsm(speech.VOICEMAIL, p)),
    "pcm8k": ("wav", lambda p: speech.make_8k(speech.VOICEMAIL, p)),
    "pcm16k": ("wav", lambda p: speech.make_16k(speech.VOICEMAIL, p)),
}


def duration(kind, path):
    """Seconds of audio in the recording, from its own format."""
    if kind == "gsm":
        return os.path.getsize(path) // 33 * 160 / 8000
    out = subprocess.run(["soxi", "-D", path], capture_output=True, text=True, check=True)
    return float(out.stdout)


def mail(tmp_path, kind, *opts):
    ext, make = MAKERS[kind]
    (tmp_path / "rec").mkdir()
    rec = str(tmp_path / "rec" / f"{CID}.{ext}")
    make(rec)
    before = hashlib.sha256(open(rec, "rb").read()).hexdigest()
    ini = write(tmp_path / "p.ini", f"""\
[pipeline]
plugin_dir = {PLUGIN_DIR}
[locate]
plugin = locate-file
dir = {tmp_path}/rec
pattern = {{contact_id}}.{ext}
settle = 0
[notify]
plugin = notify-file
dir = {tmp_path}/out
attach = yes
""" + "".join(o + "\n" for o in opts))
    ev = write(tmp_path / "ev.json", json.dumps(connect_event(contact_id=CID)))
    r = run_vmpipe("run", "-c", ini, ev, env={"VMPIPE_CLOCK": "fake"})
    assert r.code == 0, r
    assert hashlib.sha256(open(rec, "rb").read()).hexdigest() == before  # kept as it was
    raw = (tmp_path / "out" / f"{CID}.eml").read_bytes()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    [att] = list(msg.iter_attachments())
    return r, rec, att


def decode_mp3(tmp_path, data):
    mp3, out = tmp_path / "a.mp3", tmp_path / "a.wav"
    mp3.write_bytes(data)
    subprocess.run(["lame", "--quiet", "--decode", str(mp3), str(out)], check=True)
    with wave.open(str(out)) as w:
        return w.getnchannels(), w.getframerate(), w.getnframes() / w.getframerate()


@pytest.mark.parametrize("kind", [pytest.param("ulaw", marks=pytest.mark.valgrind), "alaw",
                                  "gsm", "wav49"])
def test_telephone_codecs_go_as_mp3_by_default(tmp_path, kind):
    r, rec, att = mail(tmp_path, kind)
    assert att.get_content_type() == "audio/mpeg"
    assert att.get_filename() == f"voicemail-{CID}.mp3"
    data = att.get_content()
    assert data[:2] == b"\xff\xe3"                 # MPEG-2.5 Layer III frame sync, no ID3
    ch, rate, secs = decode_mp3(tmp_path, data)
    src = duration(kind, rec)
    assert (ch, rate) == (1, 8000)
    assert abs(secs - src) <= 0.1, (secs, src)
    # 24 kbit/s: 3,000 bytes a second of audio, and the Info frame and the
    # encoder's delay and padding (1,105 + up to 1,152 samples) on top.
    assert 3000 * src <= len(data) <= 3000 * (src + 0.4), (len(data), src)
    assert "recording attached as audio/mpeg" in r.err


def test_mulaw_mp3_is_a_quarter_or_less(tmp_path):
    _, rec, att = mail(tmp_path, "ulaw")
    assert len(att.get_content()) * 2.5 < os.path.getsize(rec)


def test_pcm_wav_stays_as_it_is(tmp_path):
    _, rec, att = mail(tmp_path, "pcm8k")
    assert att.get_content_type() == "audio/wav"
    assert att.get_content() == open(rec, "rb").read()


def test_mp3_asked_of_a_16k_pcm_wav(tmp_path):
    _, rec, att = mail(tmp_path, "pcm16k", "attach_format = mp3")
    assert att.get_content_type() == "audio/mpeg"
    ch, rate, secs = decode_mp3(tmp_path, att.get_content())
    assert (ch, rate) == (1, 16000)
    assert abs(secs - duration("pcm16k", rec)) <= 0.1


def test_wav_writes_16_bit_pcm(tmp_path):
    _, rec, att = mail(tmp_path, "gsm", "attach_format = wav")
    assert att.get_content_type() == "audio/wav"
    assert att.get_filename() == f"voicemail-{CID}.wav"
    (tmp_path / "a.wav").write_bytes(att.get_content())
    with wave.open(str(tmp_path / "a.wav")) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert w.getnframes() == os.path.getsize(rec) // 33 * 160


def test_original_keeps_the_recording(tmp_path):
    _, rec, att = mail(tmp_path, "ulaw", "attach_format = original")
    assert att.get_content_type() == "audio/wav"
    assert att.get_content() == open(rec, "rb").read()


def test_attach_max_applies_to_what_is_attached(tmp_path):
    """A 54 KB mu-law recording is 21 KB as MP3: it fits a 30k attach_max."""
    r, rec, att = mail(tmp_path, "ulaw", "attach_max = 30k")
    assert os.path.getsize(rec) > 30 * 1024
    assert att.get_content_type() == "audio/mpeg" and len(att.get_content()) <= 30 * 1024


def test_bad_attach_format_is_refused(tmp_path):
    ini = write(tmp_path / "p.ini", f"[pipeline]\nplugin_dir = {PLUGIN_DIR}\n[locate]\n"
                f"plugin = locate-file\ndir = {tmp_path}\n[notify]\nplugin = notify-file\n"
                f"dir = {tmp_path}/out\nattach_format = ogg\n")
    r = run_vmpipe("check", "-c", ini)
    assert r.code == 78, r
    assert "attach_format" in r.err and "ogg" in r.err
