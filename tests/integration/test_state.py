"""Job checkpoints ([pipeline] state): the same event run twice mails once.

The local pipeline (locate-file -> notify-file) with state in a temp directory
and in the strict S3 fake (tests/fakes/awsfake.py, SigV4 checked with
botocore); then the AWS pipeline of etc/pipeline.ini with VMPIPE_STATE, as
Lambda would retry it.  Each "mail" of notify-file is removed after the
first run, so a second send would show as a new file.
"""
import datetime
import json
import os
import sys

import pytest

from conftest import PLUGIN_DIR, ROOT, connect_event, run_vmpipe, write
from test_notify_ses import AKID, SECRET, aws_env, run_env, wav_bytes

sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import awsfake  # noqa: E402

CID = "5a7e0000-1111-4222-8333-444455556666"


def pipeline(tmp, state):
    (tmp / "rec").mkdir(exist_ok=True)
    (tmp / "rec" / f"{CID}.wav").write_bytes(wav_bytes())
    line = f"state = {state}\n" if state is not None else ""
    return write(tmp / "p.ini", f"""[pipeline]
timeout = 20s
{line}plugin_dir = {PLUGIN_DIR}
[locate]
plugin = locate-file
dir = rec
pattern = {{initial_contact_id}}.wav
settle = 0s
[notify]
plugin = notify-file
dir = out
from = Voicemail <vm@localhost>
""")


def run_twice(tmp, ini, env=None):
    """Run the event, remove the mail, run it again: (first, second, mails after)."""
    ev = write(tmp / "event.json", json.dumps(connect_event(CID)))
    first = run_vmpipe("run", "-c", ini, ev, env=env)
    assert first.code == 0, first
    eml = tmp / "out" / f"{CID}.eml"
    assert eml.exists(), first
    eml.unlink()
    second = run_vmpipe("run", "-c", ini, ev, env=env)
    return first, second, mails(tmp)


def mails(tmp):
    """The .eml files notify-file wrote (it writes the record beside each)."""
    return sorted(n for n in os.listdir(tmp / "out") if n.endswith(".eml"))


def test_without_state_a_second_run_mails_again(tmp_path):
    """The control: what checkpoints prevent."""
    _, second, mails = run_twice(tmp_path, pipeline(tmp_path, None))
    assert second.code == 0, second
    assert mails == [f"{CID}.eml"]


def test_dir_state_mails_once(tmp_path):
    ini = pipeline(tmp_path, "state")  # relative: to the pipeline file
    first, second, mails = run_twice(tmp_path, ini)
    assert second.code == 0, second
    assert mails == [], "the second run mailed again"
    rec = second.json()
    assert rec["state"] == "done"
    assert len(rec["notifications"]) == 1
    assert rec["notifications"] == first.json()["notifications"]
    assert "already done" in second.err
    stored = json.loads((tmp_path / "state" / f"{CID}.json").read_text())
    assert stored == rec
    assert oct((tmp_path / "state").stat().st_mode & 0o777) == "0o700"


@pytest.mark.parametrize("state,why", [
    ("s3://Not_A_Bucket/jobs", "valid bucket name"),
    ("ftp://example.com/jobs", "s3://BUCKET/PREFIX"),
    ("rec/{CID}.wav/sub", "cannot be created"),
])
def test_bad_state_is_a_config_error(tmp_path, state, why):
    ini = pipeline(tmp_path, state.replace("{CID}", CID))
    r = run_vmpipe("check", "-c", ini)
    assert r.code == 78, r
    assert "[pipeline] state" in r.err and why in r.err, r


# ---------------------------------------------------------------- S3 backend

@pytest.fixture
def s3fake():
    fake = awsfake.S3Fake([(AKID, SECRET, None)]).start()
    with fake.lock:
        fake.buckets["vm-state"] = {}
    yield fake
    fake.stop()


def test_s3_state_mails_once(tmp_path, s3fake):
    ini = pipeline(tmp_path, "s3://vm-state/jobs/")
    env = aws_env(tmp_path, {"S3": s3fake.url}, clock=None)
    ev = write(tmp_path / "event.json", json.dumps(connect_event(CID)))
    first = run_vmpipe("run", "-c", ini, ev, env=env)
    assert first.code == 0, first
    (tmp_path / "out" / f"{CID}.eml").unlink()
    methods = [e["method"] for e in s3fake.requests()]
    # One look (none yet), the claim (If-None-Match: *), a save after locate,
    # "sending" before the notifier sends, and the end (the notifier's done
    # with it: it was the last stage).
    assert methods == ["GET", "PUT", "PUT", "PUT", "PUT"], methods
    puts = [e for e in s3fake.requests() if e["method"] == "PUT"]
    assert puts[0].get("If-None-Match") == "*", puts[0]
    assert all(e.get("If-Match") for e in puts[1:]), puts
    second = run_vmpipe("run", "-c", ini, ev, env=env)
    assert second.code == 0, second
    assert mails(tmp_path) == [], "the second run mailed again"
    assert [e["method"] for e in s3fake.requests()][len(methods):] == ["GET"]
    rec = second.json()
    assert rec["state"] == "done" and len(rec["notifications"]) == 1
    assert rec == first.json()
    data, ctype, _ = s3fake.buckets["vm-state"][f"jobs/{CID}.json"]
    assert ctype == "application/json"
    assert json.loads(data) == rec


def test_s3_save_failure_still_mails(tmp_path, s3fake):
    """No such bucket: every save fails, the job still ends done (exit 0)."""
    ini = pipeline(tmp_path, "s3://vm-missing/jobs")
    env = aws_env(tmp_path, {"S3": s3fake.url}, clock=None)
    ev = write(tmp_path / "event.json", json.dumps(connect_event(CID)))
    r = run_vmpipe("run", "-c", ini, ev, env=env)
    assert r.code == 0, r
    assert (tmp_path / "out" / f"{CID}.eml").exists()
    assert "not saved" in r.err and "NoSuchBucket" in r.err, r


# ---------------------------------------------------------------- the AWS pipeline

AWS_PLUGINS = all(os.path.exists(os.path.join(PLUGIN_DIR, p + ".so"))
                  for p in ("locate-s3", "transcribe-aws", "notify-ses"))


@pytest.mark.skipif(not AWS_PLUGINS, reason="the AWS plugins are not built")
def test_aws_pipeline_retry_mails_once(tmp_path):
    """etc/pipeline.ini with VMPIPE_STATE: the event again (a Lambda retry)
    sends no second SES mail and starts no second transcription."""
    from test_aws_pipeline import BUCKET, World, connect_key, utcnow
    w = World(tmp_path)
    try:
        with w.s3.lock:
            w.s3.buckets["vm-state"] = {}
        key = connect_key(utcnow() - datetime.timedelta(seconds=10))
        w.s3.put(BUCKET, key, w.audio, "audio/wav")
        w.script(key, duration=0.2)
        ev = connect_event("6b1c9d2e-0f3a-4b5c-8d7e-9f0a1b2c3d4e")
        first = w.run(ev, VMPIPE_STATE="s3://vm-state/vmpipe")
        assert first.code == 0, first
        second = w.run(ev, name="again.json", VMPIPE_STATE="s3://vm-state/vmpipe")
        assert second.code == 0, second
        assert len(w.ses.sends()) == 1 and len(w.tr.starts) == 1
        assert second.json() == first.json()
        assert "vmpipe/6b1c9d2e-0f3a-4b5c-8d7e-9f0a1b2c3d4e.json" in w.s3.buckets["vm-state"]
    finally:
        w.stop()


def test_aws_pipeline_empty_state_variable_is_off(tmp_path):
    """VMPIPE_STATE unset: ${VMPIPE_STATE:-} is empty, checkpoints off, check passes."""
    if not AWS_PLUGINS:
        pytest.skip("the AWS plugins are not built")
    env = aws_env(tmp_path, {}, clock=None, extra={"BASE_PATH": "vm-bucket/connect", "EMAIL_SENDER": "vm@example.com"})
    r = run_env(env, "check", "-c", os.path.join(ROOT, "etc", "pipeline.ini"))
    assert r.code == 0, r
