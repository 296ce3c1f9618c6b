"""GSM 6.10 voicemails (Asterisk's wav49 and raw .gsm) through PocketSphinx.

The recordings are the flite sentences of speech.py, band-limited to the
telephone channel and encoded by sox as Asterisk stores them; the engine's
WAV reader decodes them with libgsm.  The fixtures are bit-for-bit
reproducible, so the word error rates are the same on every run.  Measured
(Debian 12's flite, sox, libgsm and PocketSphinx, the 16 kHz en-us model on
upsampled audio): wav49 0.762, 0.522, 0.500, 0.667 for the four sentences,
0.614 over all of them; raw .gsm 0.762 on the first (the same frames).  GSM
costs words (the same sentences as 8 kHz PCM: 0.333 on the first), but a
broken decoder gives noise, which scores near 1.0: the limits sit a margin
above the measured rates and well below that.
"""
import json
import os
import shutil

import pytest

import speech
from conftest import PLUGIN_DIR, VMPIPE, connect_event, run_vmpipe, write

pytestmark = pytest.mark.skipif(
    not (os.path.exists(VMPIPE) and os.path.exists(os.path.join(PLUGIN_DIR, "transcribe-sphinx.so"))
         and shutil.which("flite") and shutil.which("sox")),
    reason="needs build/vmpipe, transcribe-sphinx.so, flite and sox")

TIMEOUT = 900 if os.environ.get("VMPIPE_WRAPPER") else 180
WER_GSM = 0.70      # over the four sentences
WER_GSM_ONE = 0.85  # one sentence


def transcribe(tmp_path, make, ext, contact_id="g1"):
    rec = tmp_path / "rec"
    rec.mkdir()
    ini = write(tmp_path / "pipeline.ini", f"""\
[pipeline]
plugin_dir = {PLUGIN_DIR}
timeout = 60s

[locate]
plugin = locate-file
dir = {rec}
pattern = {{contact_id}}.{ext}
settle = 0s

[transcribe]
plugin = transcribe-sphinx

[notify]
plugin = notify-file
dir = {tmp_path}/out
""")
    make(str(rec / f"{contact_id}.{ext}"))
    event = write(tmp_path / "event.json", json.dumps(connect_event(contact_id=contact_id)))
    res = run_vmpipe("run", "-c", ini, event, timeout=TIMEOUT)
    assert res.code == 0, res
    return res.json()


def test_wav49_voicemails_are_transcribed(tmp_path):
    edits = words = 0
    for index, text in enumerate(speech.SENTENCES):
        d = tmp_path / str(index)
        d.mkdir()
        rec = transcribe(d, lambda p: speech.make_8k_gsm(text, p), "WAV")
        t = rec["transcript"]
        assert t["status"] == "completed", rec
        assert rec["recording"]["content_type"] == "audio/wav"
        # 320 samples per block: whole blocks of 40 ms.
        dur = rec["recording"]["duration_seconds"]
        assert abs(dur - speech._duration(str(d / "rec" / "g1.WAV"))) < 0.045
        n = len(speech.words(text))
        edits += speech.wer(text, t["text"]) * n
        words += n
    assert edits / words <= WER_GSM


def test_raw_gsm_voicemail_is_transcribed(tmp_path):
    rec = transcribe(tmp_path, lambda p: speech.make_8k_gsm_raw(speech.VOICEMAIL, p), "gsm")
    t = rec["transcript"]
    assert t["status"] == "completed", rec
    assert speech.wer(speech.VOICEMAIL, t["text"]) <= WER_GSM_ONE, t["text"]
    for word in ("john", "tomorrow", "three", "o'clock"):
        assert word in speech.words(t["text"]), t["text"]
    assert rec["recording"]["content_type"] == "audio/x-gsm"
    # 33 bytes per 20 ms frame.
    size = os.path.getsize(tmp_path / "rec" / "g1.gsm")
    assert rec["recording"]["duration_seconds"] == pytest.approx(size // 33 * 0.02, abs=1e-6)
