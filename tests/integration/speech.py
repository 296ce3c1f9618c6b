"""Speech fixtures for vmpipe's tests: synthetic voicemails made at test time.

Every integration test that needs a recording imports this module.  Speech
comes from `flite -voice slt` (PocketSphinx's en-us model recognises that
voice well); `sox` makes the telephone variants.  Generated files are cached
by a hash of what made them in build/speech-cache, so a test session
synthesises each fixture once; callers get a fresh copy at the path they ask
for.  Every fixture is bit-for-bit reproducible (flite is deterministic; sox
runs with -R and without dither), so a WER limit holds on every machine with
Debian's flite and sox, and two builds of the cache are identical
(test_speech_fixtures.py checks it).

Run as a script to write every fixture into a directory:

    /usr/bin/python3 tests/integration/speech.py OUTDIR

Functions (all write `path` and return it as a str):
    make_16k(text, path)             16 kHz mono 16-bit PCM (flite's own output)
    make_8k(text, path)              8 kHz mono 16-bit PCM, telephone band 300-3400 Hz
    make_8k_ulaw(text, path)         8 kHz mono 8-bit mu-law (WAVE_FORMAT_MULAW)
    make_stereo_8k(text, path, other=None)
                                     8 kHz 16-bit stereo like an Amazon Connect
                                     recording: the caller on the left channel,
                                     silence (or `other` spoken quietly) on the right
    make_silence(path, seconds=3.0, rate=8000)
                                     digital silence, mono 16-bit
    make_truncated(text, path, keep=0.5)
                                     a 16 kHz WAV whose data chunk is cut to `keep`
                                     of its length (the header still claims all of it)
    make_not_wav(path)               an MP3-looking file ("ID3" ...)
    make_8k_gsm(text, path)          8 kHz GSM 6.10 in a WAV (format 0x0031), as
                                     Asterisk's format=wav49 writes msg0000.WAV
    make_8k_gsm_raw(text, path)      8 kHz raw GSM 6.10 frames (Asterisk's .gsm)
    wer(reference, hypothesis)       word error rate (0.0 = perfect)
"""
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile

# Natural voicemails; numbers spelled out so the reference is unambiguous.
SENTENCES = [
    "Hi this is John from the dental office calling to confirm your "
    "appointment tomorrow at three o'clock please call me back",
    "Hello it's Sarah I'm running a little late for our meeting so let's "
    "move it to four thirty if that works for you",
    "This is a message for Michael about your package delivery please call "
    "us back at your earliest convenience thank you",
    "Hey it's mom just checking in to see how you are doing give me a call "
    "when you get a chance love you bye",
]
VOICEMAIL = SENTENCES[0]
# More of the same for benchmarks, where a larger sample steadies the WER.
MORE_SENTENCES = [
    "Good morning this is the pharmacy your prescription is ready for pickup "
    "we are open until nine tonight",
    "Hi it's David from the garage your car is ready you can pick it up any "
    "time after two this afternoon",
    "Hello this is a reminder from the school there is no class on Friday "
    "because of the teacher training day",
    "Hey it's Lisa I found your wallet in my car I will drop it off at your "
    "house on my way home",
]

# Inside the build tree, not /tmp: `make clean` removes it, and a test run
# leaves nothing behind.  VMPIPE_SPEECH_CACHE overrides (an empty value: no
# cache, every fixture is made afresh).
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_CACHE = os.environ.get("VMPIPE_SPEECH_CACHE", os.path.join(_ROOT, "build", "speech-cache"))
# Bumped whenever the way fixtures are made changes, so an old cache is not reused.
_RECIPE = "deterministic-1"


def _run(*cmd):
    if cmd[0] == "sox":
        # Bit-for-bit reproducible: -R seeds sox's generators with a fixed
        # number and -D turns dither off, so every machine and every rebuild
        # of the cache decodes to the same samples and the same WER.
        cmd = ("sox", "-R", "-D") + tuple(cmd[1:])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.strip()}")


def _cached(key, build, path):
    """Copy the cached file for `key` to `path`, building it first if needed.

    build(tmpdir, out) writes `out`; the result is renamed into the cache so
    concurrent test processes never see a half-written fixture.
    """
    path = str(path)
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    if not _CACHE:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.bin")
            build(tmp, out)
            shutil.copyfile(out, path)
        return path
    os.makedirs(_CACHE, exist_ok=True)
    digest = hashlib.sha256(repr((_RECIPE, key)).encode()).hexdigest()[:24]
    cached = os.path.join(_CACHE, digest + ".bin")
    if not os.path.exists(cached):
        with tempfile.TemporaryDirectory(dir=_CACHE) as tmp:
            out = os.path.join(tmp, "out.bin")
            build(tmp, out)
            os.replace(out, cached)
    shutil.copyfile(cached, path)
    return path


def _flite(text, out):
    _run("flite", "-voice", "slt", "-t", text, "-o", out)


def make_16k(text, path):
    def build(tmp, out):
        raw = os.path.join(tmp, "flite.wav")
        _flite(text, raw)
        _run("sox", raw, "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer",
             "-t", "wav", out)
    return _cached(("16k", text), build, path)


def _telephone(src, out, extra=()):
    # Telephone channel: band-limit to 300-3400 Hz, then 8 kHz.
    _run("sox", src, "-r", "8000", "-c", "1", *extra, "-t", "wav", out,
         "sinc", "300-3400", "rate", "-h", "8000")


def make_8k(text, path):
    def build(tmp, out):
        raw = os.path.join(tmp, "flite.wav")
        _flite(text, raw)
        _telephone(raw, out, ("-b", "16", "-e", "signed-integer"))
    return _cached(("8k", text), build, path)


def make_8k_ulaw(text, path):
    def build(tmp, out):
        raw = os.path.join(tmp, "flite.wav")
        _flite(text, raw)
        _telephone(raw, out, ("-e", "mu-law"))
    return _cached(("8k-ulaw", text), build, path)


def make_stereo_8k(text, path, other=None):
    def build(tmp, out):
        raw = os.path.join(tmp, "flite.wav")
        left = os.path.join(tmp, "left.wav")
        right = os.path.join(tmp, "right.wav")
        _flite(text, raw)
        _telephone(raw, left, ("-b", "16", "-e", "signed-integer"))
        seconds = _duration(left)
        if other:
            oraw = os.path.join(tmp, "other.wav")
            _flite(other, oraw)
            # The far side, 20 dB down, padded/cut to the caller's length.
            _run("sox", oraw, "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer",
                 right, "vol", "0.1", "pad", "0", str(seconds), "trim", "0", str(seconds))
        else:
            _silence(right, seconds, 8000)
        _run("sox", "-M", left, right, "-b", "16", "-e", "signed-integer", "-t", "wav", out)
    return _cached(("stereo-8k", text, other), build, path)


def _duration(wav):
    proc = subprocess.run(["soxi", "-D", wav], capture_output=True, text=True, check=True)
    return float(proc.stdout.strip())


def _silence(out, seconds, rate):
    _run("sox", "-n", "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed-integer",
         "-t", "wav", out, "trim", "0", str(seconds))


def make_silence(path, seconds=3.0, rate=8000):
    return _cached(("silence", seconds, rate),
                   lambda tmp, out: _silence(out, seconds, rate), path)


def make_truncated(text, path, keep=0.5):
    """A WAV cut short: the RIFF and data sizes still claim the full length."""
    def build(tmp, out):
        full = os.path.join(tmp, "full.wav")
        make_16k(text, full)
        with open(full, "rb") as f:
            data = f.read()
        pos = data.find(b"data")
        if pos < 0:
            raise RuntimeError("sox wrote no data chunk")
        size = struct.unpack_from("<I", data, pos + 4)[0]
        end = pos + 8 + int(size * keep) // 2 * 2
        with open(out, "wb") as f:
            f.write(data[:end])
    return _cached(("truncated", text, keep), build, path)


def make_8k_gsm(text, path):
    def build(tmp, out):
        raw = os.path.join(tmp, "flite.wav")
        _flite(text, raw)
        _telephone(raw, out, ("-e", "gsm-full-rate"))
    return _cached(("8k-gsm", text), build, path)


def make_8k_gsm_raw(text, path):
    def build(tmp, out):
        raw = os.path.join(tmp, "flite.wav")
        tel = os.path.join(tmp, "tel.wav")
        _flite(text, raw)
        _telephone(raw, tel, ("-b", "16", "-e", "signed-integer"))
        _run("sox", tel, "-t", "gsm", out)
    return _cached(("8k-gsm-raw", text), build, path)


def make_not_wav(path):
    """An MP3-looking file: an ID3 tag then noise."""
    def build(tmp, out):
        with open(out, "wb") as f:
            f.write(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 8)
    return _cached(("not-wav",), build, path)


def words(text):
    """Lower-case words with punctuation (other than apostrophes) removed."""
    keep = "".join(c if c.isalnum() or c == "'" else " " for c in text.lower())
    return keep.split()


def wer(reference, hypothesis):
    """Word error rate: word-level edit distance / reference length."""
    ref, hyp = words(reference), words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / len(ref)


def write_all(outdir):
    """Write every fixture kind into outdir; returns {name: path}."""
    os.makedirs(outdir, exist_ok=True)
    made = {}
    for i, text in enumerate(SENTENCES):
        made[f"vm{i}-16k"] = make_16k(text, os.path.join(outdir, f"vm{i}-16k.wav"))
        made[f"vm{i}-8k"] = make_8k(text, os.path.join(outdir, f"vm{i}-8k.wav"))
        with open(os.path.join(outdir, f"vm{i}.txt"), "w") as f:
            f.write(text + "\n")
    made["vm0-8k-ulaw"] = make_8k_ulaw(VOICEMAIL, os.path.join(outdir, "vm0-8k-ulaw.wav"))
    made["vm0-stereo-8k"] = make_stereo_8k(VOICEMAIL, os.path.join(outdir, "vm0-stereo-8k.wav"))
    made["silence"] = make_silence(os.path.join(outdir, "silence.wav"))
    made["truncated"] = make_truncated(VOICEMAIL, os.path.join(outdir, "truncated.wav"))
    made["not-wav"] = make_not_wav(os.path.join(outdir, "not-wav.wav"))
    return made


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: speech.py OUTDIR")
    for name, p in write_all(sys.argv[1]).items():
        print(f"{name}\t{p}")
