"""transcribe-whisper end to end: build/vmpipe runs locate-file (or locate-s3)
-> transcribe-whisper -> notify-file against the strict fake of OpenAI's
speech-to-text endpoint (tests/fakes/whisper_fake.py).

Nothing is recognised here: the fake answers the transcript it is told to,
and checks what a real server would refuse (every form field, the bearer
token, the audio file).  What these tests check is what vmpipe sends (the
recording as it is, or the 16 kHz mono conversion, sample counts and all)
and what it makes of every answer and fault.  The engine's clock is fake, so
retries and Retry-After waits take no real time.
"""
import email
import email.policy
import json
import math
import os
import re
import struct
import sys
import time
import wave

import pytest

import speech
from conftest import PLUGIN_DIR, ROOT, connect_event, run_vmpipe, write

sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
from whisper_fake import WhisperFake  # noqa: E402

pytestmark = pytest.mark.skipif(
    not os.path.exists(os.path.join(PLUGIN_DIR, "transcribe-whisper.so")),
    reason="needs build/plugins/transcribe-whisper.so")

CID = "7d3e2a10-5b4c-4f6e-9a8b-1c2d3e4f5a6b"
KEY = "sk-test-Zq8pW3nR5tV7xY9aB2cD4eF6gH8jK0mL"
TEXT = ("Hi, this is John from the dental office. Please call me back tomorrow. "
        "Thank you!")


class World:
    """The fake, a pipeline and a runner, all under tmp_path."""

    def __init__(self, tmp_path, **fake_kw):
        self.tmp = tmp_path
        self.fake = WhisperFake(**fake_kw).start()
        self.fake.text = TEXT
        (tmp_path / "rec").mkdir()
        (tmp_path / "out").mkdir()

    def stop(self):
        self.fake.stop()

    def ini(self, ext="wav", pipeline_timeout="10m", **opts):
        o = {"url": self.fake.url}
        o.update(opts)
        tx = "".join(f"{k} = {v}\n" for k, v in o.items() if v is not None)
        return write(self.tmp / "p.ini", f"""\
[pipeline]
plugin_dir = {PLUGIN_DIR}
timeout = {pipeline_timeout}

[locate]
plugin = locate-file
dir = {self.tmp}/rec
pattern = {{contact_id}}.{ext}
wait = 1s
settle = 0

[transcribe]
plugin = transcribe-whisper
{tx}
[notify]
plugin = notify-file
dir = {self.tmp}/out
""")

    def recording(self, ext="wav", cid=CID):
        return str(self.tmp / "rec" / f"{cid}.{ext}")

    def run(self, ini, make=None, ext="wav", env=None, args=(), attrs=None, cid=CID):
        if make:
            make(self.recording(ext, cid))
        ev = write(self.tmp / "event.json", json.dumps(
            connect_event(contact_id=cid, extra_attrs=attrs)))
        e = {"VMPIPE_CLOCK": "fake", "VMPIPE_LOG_FORMAT": "text"}
        e.update(env or {})
        res = run_vmpipe(*args, "run", "-c", ini, ev, env=e, timeout=120)
        assert res.out.strip(), res
        return res, res.json()

    def eml(self, cid=CID):
        raw = (self.tmp / "out" / f"{cid}.eml").read_bytes()
        return raw, email.message_from_bytes(raw, policy=email.policy.default)


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.stop()


def wav_info(data):
    """(channels, rate, bits, frames) of a PCM WAV given as bytes."""
    import io
    with wave.open(io.BytesIO(data)) as w:
        return w.getnchannels(), w.getframerate(), w.getsampwidth() * 8, w.getnframes()


def src_frames(path):
    """Frames in the data chunk of any WAV (wave cannot open mu-law)."""
    with open(path, "rb") as f:
        d = f.read()
    ch, bits = struct.unpack_from("<H", d, 22)[0], struct.unpack_from("<H", d, 34)[0]
    pos = d.find(b"data", 12)
    return struct.unpack_from("<I", d, pos + 4)[0] // (ch * bits // 8)


def tone_stereo(path, left, right, rate=8000, seconds=1.0):
    """A stereo 16-bit WAV: a 440 Hz tone of amplitude `left`/`right` per side."""
    n = int(rate * seconds)
    frames = bytearray()
    for i in range(n):
        s = math.sin(2 * math.pi * 440 * i / rate)
        frames += struct.pack("<hh", int(left * s), int(right * s))
    with wave.open(path, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return path


def segments_end(fake):
    return fake.answers[-1]["segments"][-1]["end"]


# ------------------------------------------------------------------ the basics

@pytest.mark.valgrind
def test_verbose_json_fills_record_and_mail(world):
    """A 16 kHz PCM WAV goes as it is; the answer fills transcript.* and the mail."""
    res, rec = world.run(world.ini(), lambda p: speech.make_16k(speech.VOICEMAIL, p))
    assert res.code == 0, res
    [up] = world.fake.received
    with open(world.recording(), "rb") as f:
        assert up.audio == f.read()                  # byte for byte
    assert up.filename == f"{CID}.wav" and up.content_type == "audio/wav"
    assert up.fields == {"model": "whisper-1", "response_format": "verbose_json",
                         "temperature": "0"}       # no language: the server detects it
    assert up.auth is None
    t = rec["transcript"]
    assert t["status"] == "completed", rec
    assert t["engine"] == "whisper:whisper-1"
    assert t["text"] == TEXT
    assert t["preview"] == TEXT
    assert t["language"] == "en"                    # the fake said "english"
    assert t["speech_seconds"] == pytest.approx(segments_end(world.fake))
    assert rec["recording"]["duration_seconds"] == pytest.approx(
        up.wav[3] / up.wav[1], abs=1e-6)
    assert "error" not in t and rec["state"] == "done"
    _, msg = world.eml()
    assert "dental office" in msg.get_body(("plain",)).get_content()


def test_telephone_pcm_goes_as_it_is(world):
    res, rec = world.run(world.ini(), lambda p: speech.make_8k(speech.VOICEMAIL, p))
    assert res.code == 0, res
    [up] = world.fake.received
    assert up.wav == (1, 8000, 16, src_frames(world.recording()))
    with open(world.recording(), "rb") as f:
        assert up.audio == f.read()
    assert "the recording as it is" in res.err


def test_a_wav_is_named_wav(world):
    """Servers go by the extension: a WAV whose path has none is sent as .wav."""
    res, rec = world.run(world.ini(ext="rec"), lambda p: speech.make_8k(speech.VOICEMAIL, p),
                         ext="rec")
    assert res.code == 0, res
    [up] = world.fake.received
    assert up.filename == f"{CID}.wav" and up.content_type == "audio/wav"
    with open(world.recording("rec"), "rb") as f:
        assert up.audio == f.read()


def test_mulaw_is_converted_to_16k_mono(world):
    res, rec = world.run(world.ini(), lambda p: speech.make_8k_ulaw(speech.VOICEMAIL, p))
    assert res.code == 0, res
    [up] = world.fake.received
    n = src_frames(world.recording())
    # The host's resampler makes floor(n * 16000 / 8000) samples.
    assert up.wav == (1, 16000, 16, 2 * n)
    assert len(up.audio) == 44 + 4 * n              # the 44-byte header, then samples
    assert up.audio[:4] == b"RIFF" and up.audio[36:40] == b"data"
    assert up.filename == f"{CID}.wav"
    assert "mu-law WAV" in res.err
    # Speech survives the conversion: the samples are not silence.
    assert max(abs(s) for s in up.samples()) > 3000
    assert rec["transcript"]["status"] == "completed"
    assert rec["recording"]["duration_seconds"] == pytest.approx(n / 8000, abs=1e-6)


def test_convert_always(world):
    res, rec = world.run(world.ini(convert="always"),
                         lambda p: speech.make_8k(speech.VOICEMAIL, p))
    assert res.code == 0, res
    [up] = world.fake.received
    assert up.wav == (1, 16000, 16, 2 * src_frames(world.recording()))
    assert "convert = always" in res.err


def test_truncated_wav_is_converted(world):
    res, rec = world.run(world.ini(),
                         lambda p: speech.make_truncated(speech.VOICEMAIL, p, keep=0.5))
    assert res.code == 0, res
    [up] = world.fake.received
    with open(world.recording(), "rb") as f:
        present = (len(f.read()) - 44) // 2          # 16 kHz mono 16-bit: what is there
    assert up.wav == (1, 16000, 16, present)
    assert rec["recording"]["truncated"] is True
    assert "cut short" in res.err


# ------------------------------------------------------------------ channels

def test_caller_channel_only(world):
    """Amazon Connect: the caller on the left.  channel = caller sends that one."""
    ini = world.ini(channel="caller")
    res, rec = world.run(ini, lambda p: tone_stereo(p, left=0, right=12000))
    assert res.code == 0, res
    up = world.fake.received[-1]
    assert up.wav == (1, 16000, 16, 16000)           # 1 s at 8 kHz -> 16000 samples
    assert max(abs(s) for s in up.samples()) < 50    # the silent left side alone
    assert "channel 1 of 2 only" in res.err

    ini = world.ini(channel="caller", caller_channel=2)
    res, rec = world.run(ini, lambda p: tone_stereo(p, left=0, right=12000))
    assert res.code == 0, res
    peak = max(abs(s) for s in world.fake.received[-1].samples())
    assert 11000 < peak < 12500                      # the right side, at full level


def test_all_channels_by_default(world):
    res, rec = world.run(world.ini(), lambda p: tone_stereo(p, left=0, right=12000))
    assert res.code == 0, res
    [up] = world.fake.received
    assert up.wav == (2, 8000, 16, 8000)             # stereo PCM goes as it is
    with open(world.recording(), "rb") as f:
        assert up.audio == f.read()


def test_connect_speech_caller_channel(world):
    res, rec = world.run(world.ini(channel="caller"),
                         lambda p: speech.make_stereo_8k(speech.VOICEMAIL, p,
                                                         other="please hold"))
    assert res.code == 0, res
    [up] = world.fake.received
    assert up.wav == (1, 16000, 16, 2 * src_frames(world.recording()))
    assert rec["transcript"]["status"] == "completed"


def test_channel_caller_on_a_mono_file_uses_it(world):
    res, rec = world.run(world.ini(channel="caller", caller_channel=2),
                         lambda p: speech.make_8k(speech.VOICEMAIL, p))
    assert res.code == 0, res
    [up] = world.fake.received
    with open(world.recording(), "rb") as f:
        assert up.audio == f.read()                  # mono: nothing to pick


# ------------------------------------------------------------------ sizes and formats

def big_stereo(path):
    """44.1 kHz stereo 16-bit speech: 176 KB a second."""
    tmp = path + ".16k.wav"
    speech.make_16k(speech.VOICEMAIL, tmp)
    speech._run("sox", tmp, "-r", "44100", "-c", "2", "-b", "16", "-e", "signed-integer",
                "-t", "wav", path)
    os.unlink(tmp)
    return path


def test_larger_than_max_upload_is_converted(world):
    res, rec = world.run(world.ini(max_upload="500k"), big_stereo)
    assert res.code == 0, res
    size = os.path.getsize(world.recording())
    assert size > 500 * 1024
    [up] = world.fake.received
    frames = src_frames(world.recording())
    assert up.wav == (1, 16000, 16, frames * 16000 // 44100)
    assert len(up.audio) <= 500 * 1024
    assert "is more than max_upload" in res.err


def test_large_upload_goes_without_expect(world):
    """1.2 MB as it is, in one go: no "Expect: 100-continue" round trip."""
    res, rec = world.run(world.ini(), big_stereo)
    assert res.code == 0, res
    [up] = world.fake.received
    with open(world.recording(), "rb") as f:
        assert up.audio == f.read()
    assert len(up.audio) > 1024 * 1024
    assert world.fake.log[0]["expect"] is None


def test_too_large_even_converted_fails_and_still_mails(world):
    res, rec = world.run(world.ini(max_upload="100k"), big_stereo)
    assert res.code == 0, res                        # the owner was mailed
    assert world.fake.received == [] and world.fake.log == []
    t = rec["transcript"]
    assert t["status"] == "failed"
    assert re.search(r"\d+ s of audio are \d+ KB as a 16 kHz mono WAV, more than max_upload "
                     r"\(100 KB\)", t["error"]), t["error"]
    _, msg = world.eml()
    assert "transcription is unavailable" in msg.get_body(("plain",)).get_content()


def test_raw_gsm_is_converted(world):
    """Asterisk's format=gsm: no server takes audio/x-gsm (the fake answers 400
    as OpenAI does); the host decodes it like WAV49."""
    res, rec = world.run(world.ini(ext="gsm"),
                         lambda p: speech.make_8k_gsm_raw(speech.VOICEMAIL, p), ext="gsm")
    assert res.code == 0, res
    [up] = world.fake.received
    frames = os.path.getsize(world.recording("gsm")) // 33 * 160
    assert up.wav == (1, 16000, 16, frames * 2)
    assert up.filename == f"{CID}.wav" and up.content_type == "audio/wav"
    assert "converted to 16 kHz mono WAV: raw GSM 6.10" in res.err
    assert rec["transcript"]["status"] == "completed"
    assert rec["recording"]["duration_seconds"] == pytest.approx(frames / 8000)


def test_raw_gsm_too_long_for_max_upload_fails_before_decoding(world):
    res, rec = world.run(world.ini(ext="gsm", max_upload="20k"),
                         lambda p: speech.make_8k_gsm_raw(speech.VOICEMAIL, p), ext="gsm")
    assert res.code == 0, res
    assert world.fake.log == []
    assert re.match(r"the recording is raw GSM 6\.10, which is converted, and too long for "
                    r"max_upload \(20 KB\) as a 16 kHz mono WAV: \d+s of audio; at most "
                    r"\d+s is decoded", rec["transcript"]["error"]), rec["transcript"]


def test_not_a_wav_goes_as_it_is(world):
    res, rec = world.run(world.ini(ext="mp3", channel="caller"), speech.make_not_wav, ext="mp3")
    assert res.code == 0, res
    [up] = world.fake.received
    with open(world.recording("mp3"), "rb") as f:
        assert up.audio == f.read()
    assert up.filename == f"{CID}.mp3" and up.content_type == "audio/mpeg"
    assert "channel = caller needs a recording the host can decode" in res.err
    # The server's duration stands in for the one vmpipe could not read.
    assert rec["recording"]["duration_seconds"] == pytest.approx(world.fake.duration)


def test_not_a_wav_larger_than_max_upload_fails(world):
    res, rec = world.run(world.ini(ext="mp3", max_upload="1k"), speech.make_not_wav, ext="mp3")
    assert res.code == 0, res
    assert world.fake.log == []
    assert "only WAV recordings can be converted" in rec["transcript"]["error"]


def adpcm(path, size=256):
    """fmt tag 2 (Microsoft ADPCM): a codec the host's reader does not decode."""
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36 + size) + b"WAVEfmt " +
                struct.pack("<IHHIIHH", 16, 2, 1, 8000, 4096, 256, 4) + b"data" +
                struct.pack("<I", size) + bytes(size))
    return path


def test_undecodable_wav_goes_as_it_is_and_the_server_decides(world):
    res, rec = world.run(world.ini(channel="caller"), adpcm)
    assert res.code == 0, res
    # Sent as it is; the fake, like a server without that codec, refuses it.
    assert len(world.fake.log) == 1 and world.fake.received == []
    assert world.fake.log[0]["bytes"] > 256
    assert "the host cannot decode this WAV (format tag 0x0002, Microsoft ADPCM)" in res.err
    assert "channel = caller needs a recording the host can decode" in res.err
    t = rec["transcript"]
    assert t["status"] == "failed"
    assert "answered HTTP 400: Audio file might be corrupted or unsupported" in t["error"], t


def test_unreadable_wav_fails_without_a_request(world):
    res, rec = world.run(world.ini(max_upload="1k"), lambda p: adpcm(p, 4096))
    assert res.code == 0, res
    assert world.fake.log == []
    t = rec["transcript"]
    assert t["status"] == "failed"
    assert t["error"] == ("the recording is a WAV file the host cannot read (format tag 0x0002, "
                          "Microsoft ADPCM) and larger than max_upload")

    def corrupt(path):
        with open(path, "wb") as f:  # block align that does not fit the format
            f.write(b"RIFF" + struct.pack("<I", 36 + 64) + b"WAVEfmt " +
                    struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 4, 16) + b"data" +
                    struct.pack("<I", 64) + bytes(64))
    res, rec = world.run(world.ini(), corrupt)
    assert world.fake.log == []
    assert "WAV file the host cannot read (block align 4" in rec["transcript"]["error"]


# Runs its arguments and prints the child's peak RSS (resource.getrusage of
# the waited-for child: vmpipe alone, not this interpreter).
RSS_WRAPPER = """\
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:]).returncode
kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stderr.write("\\nPEAK_RSS_KB=%d\\n" % kb)
sys.exit(rc)
"""


def sparse_wav(path, channels, rate, size):
    """A 16-bit PCM WAV of `size` bytes, silent, written sparse (no disk, no time)."""
    data = size - 44
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt " +
                struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * 2 * channels,
                            2 * channels, 16) + b"data" + struct.pack("<I", data))
        f.truncate(size)


@pytest.mark.skipif(bool(os.environ.get("VMPIPE_WRAPPER")), reason="measures vmpipe's own RSS")
@pytest.mark.parametrize("opts, channels, rate, size, needle", [
    # 100 MB of 4 kHz stereo is 1 h 44 min: channel = caller decoded it all
    # (932 MB RSS) before the duration cap; max_upload now refuses it first ...
    ({"channel": "caller"}, 2, 4000, 100 << 20, "more than max_upload"),
    # ... and with room to upload it the decoder's caps do, as for the mixdown.
    ({"channel": "caller", "max_upload": "1G"}, 2, 4000, 100 << 20, "too long to convert: 1h 49m 14s of audio; at most 1h 0m 0s"),
    # 50 min of 8 kHz mono: 48 MB as it is, 96 MB converted: the header says
    # so, where the whole conversion was made (264 MB RSS) and then refused.
    ({}, 1, 8000, 48_000_044, "as a 16 kHz mono WAV, more than max_upload (25.0 MB)"),
])
def test_refused_before_decoding_peak_rss(world, monkeypatch, opts, channels, rate, size,
                                          needle):
    wrapper = write(world.tmp / "rss.py", RSS_WRAPPER)
    monkeypatch.setenv("VMPIPE_WRAPPER", f"/usr/bin/python3 {wrapper}")
    try:
        res, rec = world.run(world.ini(max_bytes="200M", **opts),
                             lambda p: sparse_wav(p, channels, rate, size))
        assert res.code == 0, res                    # the owner was mailed
        assert world.fake.log == []
        t = rec["transcript"]
        assert t["status"] == "failed" and needle in t["error"], t
        kb = int(re.search(r"PEAK_RSS_KB=(\d+)", res.err).group(1))
        # The recording is read whole (vm_fetch); nothing else of its size may be.
        assert kb * 1024 < size + (48 << 20), f"peak RSS {kb} KB for a {size}-byte recording"
    finally:
        os.unlink(world.recording())


def test_too_short_to_transcribe(world):
    def tiny(path):
        with wave.open(path, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\0\0" * 400)             # 0.05 s
    res, rec = world.run(world.ini(), tiny)
    assert res.code == 0, res
    assert world.fake.log == []
    t = rec["transcript"]
    assert t["status"] == "completed" and t["text"] == "" and t["speech_seconds"] == 0


def test_silence_is_completed_with_no_text(world):
    world.fake.text = ""
    res, rec = world.run(world.ini(), lambda p: speech.make_silence(p, seconds=3.0))
    assert res.code == 0, res
    t = rec["transcript"]
    assert t["status"] == "completed"
    assert t["text"] == "" and t["preview"] == "" and t["speech_seconds"] == 0
    _, msg = world.eml()
    assert "No speech was recognised" in msg.get_body(("plain",)).get_content()


# ------------------------------------------------------------------ request fields

def test_language_option_prompt_and_temperature(world):
    ini = world.ini(language="en-US", prompt="Zoë Łukasiewicz, Dr. Nguyễn", temperature="0.2",
                    model="whisper-large-v3-turbo")
    res, rec = world.run(ini, lambda p: speech.make_8k(speech.VOICEMAIL, p))
    assert res.code == 0, res
    [up] = world.fake.received
    assert up.fields == {"model": "whisper-large-v3-turbo", "language": "en",
                         "prompt": "Zoë Łukasiewicz, Dr. Nguyễn",
                         "response_format": "verbose_json", "temperature": "0.2"}
    assert rec["transcript"]["language"] == "en-US"  # what was asked, as the other plugins
    assert rec["transcript"]["engine"] == "whisper:whisper-large-v3-turbo"


def test_contact_attribute_language_wins(world):
    ini = world.ini(language="en-US")
    res, rec = world.run(ini, lambda p: speech.make_8k(speech.VOICEMAIL, p),
                         attrs={"languageCode": "es-US"})
    assert res.code == 0, res
    assert world.fake.received[-1].fields["language"] == "es"
    assert rec["transcript"]["language"] == "es-US"

    res, rec = world.run(ini, attrs={"languageCode": "Spanish please"})
    assert world.fake.received[-1].fields["language"] == "en"
    assert "languageCode = 'Spanish please' is not a language code" in res.err


def test_json_response_format(world):
    res, rec = world.run(world.ini(response_format="json"),
                         lambda p: speech.make_8k(speech.VOICEMAIL, p))
    assert res.code == 0, res
    assert world.fake.received[0].fields["response_format"] == "json"
    t = rec["transcript"]
    assert t["text"] == TEXT and t["status"] == "completed"
    assert "speech_seconds" not in t and "language" not in t


def test_preview_is_cut_to_preview_chars(world):
    world.fake.text = "Zoë  called.\n\nCall   back, über-soon!"
    res, rec = world.run(world.ini(preview_chars=20),
                         lambda p: speech.make_8k(speech.VOICEMAIL, p))
    t = rec["transcript"]
    assert t["text"] == "Zoë  called.\n\nCall   back, über-soon!"
    # Words joined by single spaces, cut to 20 characters (not bytes).
    assert t["preview"] == "Zoë called. Call bac"


# ------------------------------------------------------------------ servers and URLs

@pytest.mark.parametrize("base,path", [
    ("", "/v1/audio/transcriptions"),                 # a base URL
    ("/", "/v1/audio/transcriptions"),
    ("/v1", "/v1/audio/transcriptions"),              # as OpenAI's SDKs take it
    ("/openai/v1/", "/openai/v1/audio/transcriptions"),  # Groq's base URL
    ("/v1/audio/transcriptions", "/v1/audio/transcriptions"),  # the endpoint itself
    ("/inference", "/inference"),                     # whisper.cpp's own path
])
def test_url_forms(tmp_path, base, path):
    w = World(tmp_path, path=path)
    try:
        res, rec = w.run(w.ini(url=w.fake.url + base),
                         lambda p: speech.make_8k(speech.VOICEMAIL, p))
        assert res.code == 0, res
        assert w.fake.log[0]["path"] == path
        assert rec["transcript"]["status"] == "completed"
    finally:
        w.stop()


def test_whisper_cpp_answers(tmp_path):
    w = World(tmp_path, style="whispercpp", path="/inference")
    try:
        res, rec = w.run(w.ini(url=w.fake.url + "/inference"),
                         lambda p: speech.make_16k(speech.VOICEMAIL, p))
        assert res.code == 0, res
        t = rec["transcript"]
        assert t["text"] == TEXT and t["language"] == "en"
        assert t["speech_seconds"] == pytest.approx(segments_end(w.fake))
        # Its errors are {"error": "..."}.
        w.fake.plan = ["400"]
        res, rec = w.run(w.ini(url=w.fake.url + "/inference"))
        assert rec["transcript"]["error"].endswith("answered HTTP 400: Invalid file format.")
    finally:
        w.stop()


def test_vllm_answers(tmp_path):
    w = World(tmp_path, style="vllm")
    try:
        w.fake.language = "de"
        res, rec = w.run(w.ini(model="openai/whisper-large-v3"),
                         lambda p: speech.make_8k(speech.VOICEMAIL, p))
        assert res.code == 0, res
        assert isinstance(w.fake.answers[-1]["duration"], str)  # "6.79"
        t = rec["transcript"]
        assert t["language"] == "de"
        assert t["speech_seconds"] == pytest.approx(segments_end(w.fake))
    finally:
        w.stop()


def test_localai_nanosecond_segments(tmp_path):
    w = World(tmp_path, style="localai")
    try:
        res, rec = w.run(w.ini(), lambda p: speech.make_8k(speech.VOICEMAIL, p))
        assert res.code == 0, res
        end_ns = w.fake.answers[-1]["segments"][-1]["end"]
        assert end_ns > 1e9
        assert rec["transcript"]["speech_seconds"] == pytest.approx(end_ns / 1e9)
        assert "language" not in rec["transcript"]
    finally:
        w.stop()


def test_model_the_server_reports(world):
    world.fake.report_model = "Systran/faster-whisper-small"
    res, rec = world.run(world.ini(model="small"), lambda p: speech.make_8k(speech.VOICEMAIL, p))
    assert rec["transcript"]["engine"] == "whisper:Systran/faster-whisper-small"


def test_answer_that_is_no_transcript(world):
    world.fake.plan = ["garbage"]
    res, rec = world.run(world.ini(), lambda p: speech.make_8k(speech.VOICEMAIL, p))
    assert res.code == 0, res
    t = rec["transcript"]
    assert t["status"] == "failed"
    assert "answered 200 but no transcript: the answer is not JSON" in t["error"]
    assert "text/html" in t["error"]


# ------------------------------------------------------------------ the key

def test_bearer_token_and_never_in_logs_or_record(world):
    world.fake.api_key = KEY
    ini = world.ini(api_key_env="WHISPER_TEST_KEY")
    res, rec = world.run(ini, lambda p: speech.make_8k(speech.VOICEMAIL, p),
                         env={"WHISPER_TEST_KEY": KEY}, args=("-vv",))
    assert res.code == 0, res
    assert world.fake.received[0].auth == f"Bearer {KEY}"
    raw, _ = world.eml()
    assert "sending" in res.err                       # -vv did log the request
    for where in (res.out, res.err, raw.decode("latin-1")):
        assert KEY not in where
        assert KEY[8:24] not in where


def test_wrong_key_is_permanent_and_not_logged(world):
    world.fake.api_key = KEY
    ini = world.ini(api_key_env="WHISPER_TEST_KEY")
    wrong = "sk-wrong-0123456789abcdefghijklmnop"
    res, rec = world.run(ini, lambda p: speech.make_8k(speech.VOICEMAIL, p),
                         env={"WHISPER_TEST_KEY": wrong}, args=("-vv",))
    assert res.code == 0, res
    t = rec["transcript"]
    assert t["status"] == "failed"
    assert "answered HTTP 401: Incorrect API key provided" in t["error"]
    assert "(check the key in api_key_env)" in t["error"]
    assert len(world.fake.log) == 1
    assert wrong not in res.out + res.err
    assert wrong not in world.eml()[0].decode("latin-1")


def test_key_variable_must_be_set(world):
    ini = world.ini(api_key_env="WHISPER_TEST_UNSET")
    res = run_vmpipe("check", "-c", ini, env={"WHISPER_TEST_UNSET": ""})
    assert res.code == 78, res
    assert "api_key_env" in res.err and "WHISPER_TEST_UNSET is not set" in res.err
    ini = world.ini(api_key_env=KEY)                  # the key pasted instead of its name
    res = run_vmpipe("check", "-c", ini)
    assert res.code == 78, res
    assert "not an environment variable name" in res.err and KEY not in res.err


def test_key_over_plain_http_is_warned(world):
    ini = world.ini(url="http://192.0.2.10:8080", api_key_env="WHISPER_TEST_KEY")
    res = run_vmpipe("check", "-c", ini, env={"WHISPER_TEST_KEY": KEY})
    assert res.code == 0, res
    assert "in clear text: use https" in res.err and KEY not in res.err
    res = run_vmpipe("check", "-c", world.ini(api_key_env="WHISPER_TEST_KEY"),
                     env={"WHISPER_TEST_KEY": KEY})
    assert "clear text" not in res.err                # loopback is fine


# ------------------------------------------------------------------ faults

@pytest.mark.valgrind
@pytest.mark.parametrize("fault,wait", [("429:7", "7 s"), ("429:ms:2500", "3 s"),
                                        ("429:date:120", None)])
def test_429_waits_as_retry_after_says(world, fault, wait):
    world.fake.plan = [fault]
    ini = world.ini()
    speech.make_8k(speech.VOICEMAIL, world.recording())
    started = time.time()
    res, rec = world.run(ini)
    ran = time.time() - started
    assert res.code == 0, res
    assert [e["status"] for e in world.fake.log] == [429, 200]
    m = re.search(r"answered HTTP 429: Rate limit reached for requests; trying again in "
                  r"(\d+) s as Retry-After asks", res.err)
    assert m, res.err
    if wait:
        assert f"{m.group(1)} s" == wait
    else:
        # An HTTP-date 120 s ahead (1 s resolution), measured against the
        # engine's fake clock, which stands at the process's start time plus
        # the waits it made: it trails the wall clock by the run's real
        # duration (seconds under valgrind), so the wait may be that much
        # longer, never shorter.
        assert 118 <= int(m.group(1)) <= 121 + math.ceil(ran)
    assert rec["transcript"]["status"] == "completed"
    # A wait asked for is not a fault.
    assert not [e for e in rec.get("errors", []) if e["stage"] == "transcribe"]


@pytest.mark.parametrize("fault, wait", [("503:7", 7), ("503:date:120", 120)])
def test_503_waits_as_retry_after_says(world, fault, wait):
    """RFC 9110 §10.2.3: a 503 may say when the service is back."""
    world.fake.plan = [fault]
    res, rec = world.run(world.ini(), lambda p: speech.make_8k(speech.VOICEMAIL, p))
    assert res.code == 0, res
    assert len(world.fake.log) == 2
    m = re.search(r"answered HTTP 503.*trying again in (\d+) s as Retry-After asks", res.err)
    assert m, res.err
    assert abs(int(m.group(1)) - wait) <= 1
    assert rec["transcript"]["status"] == "completed" and "error" not in rec["transcript"]


def test_429_without_retry_after_is_transient(world):
    world.fake.plan = ["429"]
    res, rec = world.run(world.ini(), lambda p: speech.make_8k(speech.VOICEMAIL, p))
    assert res.code == 0, res
    [err] = [e for e in rec["errors"] if e["stage"] == "transcribe"]
    assert err["kind"] == "transient" and "HTTP 429" in err["message"]
    assert rec["transcript"]["status"] == "completed"


def test_quota_exhausted_is_permanent(world):
    world.fake.plan = ["429:quota"]
    res, rec = world.run(world.ini(), lambda p: speech.make_8k(speech.VOICEMAIL, p))
    assert res.code == 0, res
    assert len(world.fake.log) == 1
    assert "exceeded your current quota" in rec["transcript"]["error"]


@pytest.mark.parametrize("faults", [["500"], ["502", "503"], ["reset"], ["reset", "503"]])
def test_server_errors_and_resets_are_retried(world, faults):
    world.fake.plan = list(faults)
    res, rec = world.run(world.ini(), lambda p: speech.make_8k(speech.VOICEMAIL, p))
    assert res.code == 0, res
    assert len(world.fake.log) == len(faults) + 1
    errs = [e for e in rec["errors"] if e["stage"] == "transcribe"]
    assert [e["kind"] for e in errs] == ["transient"] * len(faults)
    for e, f in zip(errs, faults):
        if f == "reset":
            assert re.search(r"the connection to http://127\.0\.0\.1:\d+/v1/audio/transcriptions "
                             r"broke: (Recv failure|Empty reply|.*reset)", e["message"]), e
        else:
            assert f"answered HTTP {f}" in e["message"]
    assert rec["transcript"]["status"] == "completed"
    assert rec["transcript"]["text"] == TEXT


def test_timeout_is_transient(world):
    world.fake.plan = ["slow:2.5"]
    res, rec = world.run(world.ini(timeout="1s"), lambda p: speech.make_8k(speech.VOICEMAIL, p))
    assert res.code == 0, res
    [err] = [e for e in rec["errors"] if e["stage"] == "transcribe"]
    assert err["kind"] == "transient" and "timed out" in err["message"].lower()
    assert rec["transcript"]["status"] == "completed"


@pytest.mark.parametrize("status,message,hint", [
    ("400", "Invalid file format.", ""),
    ("401", "Incorrect API key provided", "(the server wants a key: set api_key_env)"),
    ("404", "The model `whisper-9` does not exist", "(check url and model)"),
    ("413", "Maximum content size limit", "(the server takes less: lower max_upload)"),
])
def test_refusals_are_permanent_and_the_owner_is_still_mailed(world, status, message, hint):
    world.fake.plan = [status]
    res, rec = world.run(world.ini(), lambda p: speech.make_8k(speech.VOICEMAIL, p))
    assert res.code == 0, res                         # the owner was told
    assert len(world.fake.log) == 1                   # and nothing was retried
    t = rec["transcript"]
    assert t["status"] == "failed" and t["engine"] == "whisper:whisper-1"
    assert f"answered HTTP {status}: {message}" in t["error"], t
    assert t["error"].endswith(hint)
    assert "text" not in t
    [err] = [e for e in rec["errors"] if e["stage"] == "transcribe"]
    assert err["kind"] == "permanent"
    raw, msg = world.eml()
    assert "transcription is unavailable" in msg.get_body(("plain",)).get_content()
    assert rec["state"] == "done"


def test_redirect_is_not_followed(world):
    world.fake.plan = ["308"]
    res, rec = world.run(world.ini(), lambda p: speech.make_8k(speech.VOICEMAIL, p))
    assert res.code == 0, res
    assert len(world.fake.log) == 1                   # the key is not carried elsewhere
    assert rec["transcript"]["error"].endswith(
        "answered HTTP 308 (a redirect: set url to where it points)")


def test_real_validation_errors_reach_the_record(tmp_path):
    """Not a scripted fault: the fake refuses an unknown model by itself."""
    w = World(tmp_path, models={"whisper-1"})
    try:
        res, rec = w.run(w.ini(model="whisper-9"), lambda p: speech.make_8k(speech.VOICEMAIL, p))
        assert "answered HTTP 404: The model `whisper-9` does not exist" in \
            rec["transcript"]["error"]
        assert w.fake.log[0]["problem"].startswith("The model")
    finally:
        w.stop()


def test_server_down_times_out_and_still_mails(world):
    ini = world.ini(url="http://127.0.0.1:9", pipeline_timeout="2m")  # nothing listens
    res, rec = world.run(ini, lambda p: speech.make_8k(speech.VOICEMAIL, p))
    assert res.code == 0, res
    t = rec["transcript"]
    assert t["status"] == "failed"
    errs = [e for e in rec["errors"] if e["stage"] == "transcribe"]
    assert errs[0]["kind"] == "transient"
    assert "could not connect to http://127.0.0.1:9/" in errs[0]["message"]
    assert errs[-1]["kind"] == "timeout"
    # The owner's mail says why, not only that time ran out.
    assert t["error"].startswith("could not connect to http://127.0.0.1:9/v1/audio/"
                                 "transcriptions: "), t
    assert (world.tmp / "out" / f"{CID}.eml").exists()


# ------------------------------------------------------------------ HTTPS

@pytest.fixture
def cert(tmp_path):
    from smtp_server import make_cert
    d = tmp_path / "tls"
    d.mkdir()
    return make_cert(d)


def test_https_with_a_private_ca(tmp_path, cert):
    w = World(tmp_path, tls=cert, api_key=KEY)
    try:
        env = {"WHISPER_TEST_KEY": KEY}
        ini = w.ini(api_key_env="WHISPER_TEST_KEY", ca_file=cert[0])
        res, rec = w.run(ini, lambda p: speech.make_8k(speech.VOICEMAIL, p), env=env)
        assert res.code == 0, res
        assert rec["transcript"]["status"] == "completed"

        # Not trusted: permanent, with what to do about it; still mailed.
        res, rec = w.run(w.ini(api_key_env="WHISPER_TEST_KEY"), env=env)
        assert res.code == 0, res
        t = rec["transcript"]
        assert t["status"] == "failed"
        assert "set ca_file to the CA that signed the server's certificate" in t["error"]

        # The host's CA bundle (AWS_CA_BUNDLE names it) is what is trusted by default.
        res, rec = w.run(w.ini(api_key_env="WHISPER_TEST_KEY"),
                         env=dict(env, AWS_CA_BUNDLE=cert[0]))
        assert rec["transcript"]["status"] == "completed", rec
        assert len(w.fake.received) == 2
    finally:
        w.stop()


# ------------------------------------------------------------------ S3 and Connect

def test_connect_recording_in_s3(tmp_path):
    """The Connect pipeline with transcribe-whisper instead of transcribe-aws:
    the recording comes from S3 through the host (vm_fetch of s3://)."""
    from aws_helpers import AKID, SECRET, clean_env
    import awsfake
    s3 = awsfake.S3Fake([(AKID, SECRET, None)]).start()
    w = World(tmp_path)
    try:
        import datetime
        now = datetime.datetime.now(datetime.timezone.utc)
        key = f"ivr/{now:%Y/%m/%d}/{CID}_{now:%Y%m%dT%H:%M}_UTC.wav"
        wav = tmp_path / "connect.wav"
        speech.make_stereo_8k(speech.VOICEMAIL, str(wav), other="please hold")
        s3.put("vm-bucket", key, wav.read_bytes(), "audio/wav")
        ini = write(tmp_path / "connect.ini", f"""\
[pipeline]
plugin_dir = {PLUGIN_DIR}
timeout = 10m
[locate]
plugin = locate-s3
bucket = vm-bucket
initial_delay = 0s
wait = 10s
[transcribe]
plugin = transcribe-whisper
url = {w.fake.url}
channel = caller
[notify]
plugin = notify-file
dir = {tmp_path}/out
""")
        e = clean_env(tmp_path / "home")
        e.update({"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET,
                  "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": s3.url,
                  "VMPIPE_CLOCK": "fake"})
        ev = write(tmp_path / "ev.json", json.dumps(connect_event(contact_id=CID)))
        res = run_vmpipe("run", "-c", ini, ev, env=e)
        assert res.code == 0, res
        rec = res.json()
        assert rec["recording"]["uri"] == f"s3://vm-bucket/{key}"
        [up] = w.fake.received
        assert up.wav == (1, 16000, 16, 2 * src_frames(str(wav)))
        assert up.filename.endswith("_UTC.wav")        # ':' of Connect's name made safe
        assert rec["transcript"]["text"] == TEXT
    finally:
        w.stop()
        s3.stop()


# ------------------------------------------------------------------ configuration

@pytest.mark.parametrize("opts,needle", [
    ({"url": "127.0.0.1:8080"}, "is not an http:// or https:// URL"),
    ({"url": "ftp://host/x"}, "is not an http:// or https:// URL"),
    ({"url": "https://user:s3cretpw@host/v1"}, "holds a user name or password"),
    ({"url": "http:///v1"}, "has no host"),
    ({"temperature": "1.5"}, "option 'temperature'"),
    ({"temperature": "warm"}, "option 'temperature'"),
    ({"language": "english"}, "option 'language': 'english' is not a language code"),
    ({"caller_channel": "0"}, "option 'caller_channel'"),
    ({"max_upload": "100"}, "option 'max_upload'"),
    ({"model": ""}, "option 'model'"),
    ({"ca_file": "no-such-ca.pem"}, "option 'ca_file': cannot read"),
    ({"channel": "left"}, "channel"),
    ({"response_format": "srt"}, "response_format"),
    ({"timeout": "0"}, "timeout"),
])
def test_bad_options_are_refused(world, opts, needle):
    res = run_vmpipe("check", "-c", world.ini(**opts))
    assert res.code == 78, res
    assert needle in res.err and "transcribe" in res.err, res.err
    assert "s3cretpw" not in res.err


def test_plugin_lists_its_options():
    res = run_vmpipe("plugins", "-d", PLUGIN_DIR)
    assert res.code == 0, res
    block = res.out[res.out.index("transcribe-whisper"):]
    for opt in ("url", "model", "language", "language_attribute", "prompt", "temperature",
                "response_format", "api_key_env", "timeout", "ca_file", "max_upload",
                "max_bytes", "channel", "caller_channel", "convert", "preview_chars"):
        assert re.search(rf"^\s+{opt}\s", block, re.M), opt


def test_example_pipeline_checks(tmp_path):
    env = {"WHISPER_URL": "http://127.0.0.1:8080", "VMPIPE_RECORDINGS": str(tmp_path),
           "VMPIPE_OUTBOX": str(tmp_path)}
    res = run_vmpipe("check", "-c", os.path.join(ROOT, "etc", "whisper.ini"), env=env)
    assert res.code == 0, res
