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
    # The demo's recording is a file:// URI: no link for the owner, so the mail
    # says where the recording is kept instead.
    want = "The recording is too large to attach to this message (the limit is 100 KB)."
    assert want in text, text
    assert want in html
    kept = f"It is kept on the voicemail server as {SAMPLE_WAV}"
    assert kept in text and kept in html
    assert "use the link above" not in text and "use the link above" not in html
    assert "is attached" not in text
    assert "recording not attached: 450924 bytes, attach_max is 102400" in r.err, r


# ------------------------------------------------------------ without -c

SYSTEM_PIPELINE = "/etc/vmpipe/pipeline.ini"


def no_pipeline_env():
    env = {k: v for k, v in os.environ.items() if k != "VMPIPE_PIPELINE"}
    env["VMPIPE_LOG_FORMAT"] = "text"
    return env


@pytest.mark.skipif(os.path.exists(SYSTEM_PIPELINE), reason=f"{SYSTEM_PIPELINE} comes first here")
def test_without_c_the_source_tree_uses_its_local_ini(tmp_path):
    """build/vmpipe without -c or VMPIPE_PIPELINE: the tree's etc/local.ini."""
    import subprocess
    from conftest import VMPIPE
    r = subprocess.run([VMPIPE, "check"], env=no_pipeline_env(), capture_output=True, text=True,
                       cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{LOCAL_INI}: ok"), r.stdout
    assert f"pipeline {LOCAL_INI} (no -c given)" in r.stderr, r.stderr


def test_vmpipe_pipeline_comes_first_even_when_missing(tmp_path):
    env = dict(no_pipeline_env(), VMPIPE_PIPELINE=str(tmp_path / "gone.ini"))
    r = run_vmpipe("check", env=env)
    assert r.code == 78, r
    assert f"{tmp_path}/gone.ini: cannot open pipeline file: No such file or directory" in r.err
