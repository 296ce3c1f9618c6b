"""The local pipeline a new user meets first (etc/local.ini, what `make run`
runs): the mail it writes must be one an owner can use."""
import email
import email.policy
import json
import os

import pytest

from conftest import ROOT, run_vmpipe

LOCAL_INI = os.path.join(ROOT, "etc", "local.ini")
SAMPLE_EVENT = os.path.join(ROOT, "samples", "connect-event.json")
SAMPLE_ID = "5b1c2f4e-7a39-4a8e-9d61-0c6f1b2a3d4e"
SAMPLE_WAV = os.path.join(ROOT, "samples", "recordings", f"{SAMPLE_ID}.wav")


def run_local(tmp_path, **env):
    """etc/local.ini on the sample event, the outbox in tmp_path/out."""
    e = {"VMPIPE_OUTBOX": str(tmp_path / "out"), "VMPIPE_CLOCK": "fake"}
    e.update(env)
    r = run_vmpipe("run", "-c", LOCAL_INI, SAMPLE_EVENT, env=e, timeout=300)
    assert r.code == 0, r
    with open(tmp_path / "out" / f"{SAMPLE_ID}.eml", "rb") as f:
        msg = email.message_from_bytes(f.read(), policy=email.policy.default)
    return r, msg


def bodies(msg):
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    return text, html


@pytest.mark.slow
def test_demo_mail_carries_the_recording(tmp_path):
    """The link of the demo mail is a file:// URI another machine cannot open:
    the recording itself is attached."""
    r, msg = run_local(tmp_path)
    atts = list(msg.iter_attachments())
    assert len(atts) == 1, msg
    (att,) = atts
    assert att.get_content_type() == "audio/wav"
    assert att.get_filename() == f"voicemail-{SAMPLE_ID}.wav"
    with open(SAMPLE_WAV, "rb") as f:
        assert att.get_content() == f.read()
    text, html = bodies(msg)
    assert "The recording is attached to this message." in text, text
    assert "The recording is attached to this message." in html
    assert "too large" not in text


@pytest.mark.slow
def test_demo_mail_says_when_the_recording_is_too_large(tmp_path):
    """Over the cap: no attachment, and the mail says why, with the limit."""
    assert os.path.getsize(SAMPLE_WAV) > 100 * 1024
    r, msg = run_local(tmp_path, VMPIPE_ATTACH_MAX="100k")
    assert not list(msg.iter_attachments()), msg
    text, html = bodies(msg)
    want = ("The recording is too large to attach to this message (the limit is 100 KB); "
            "please use the link above.")
    assert want in text, text
    assert want in html
    assert "is attached" not in text
    assert "recording not attached: 450924 bytes, attach_max is 102400" in r.err, r
