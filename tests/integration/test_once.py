"""Once, and only once: a job id is run by one runner at a time, and a
notification is not sent again by a runner that resumes after a crash.

- Two `vmpipe run` of the same event at the same time: the second waits for
  the claim (a flock on <state>/ID.lock) and finds the job done.
- `kill -9` after the notifier delivered but before the checkpoint recorded
  it (tests/tools/crash_rename.c kills the process at an exact rename):
  notify-file finds its own message (same Message-ID) and does not write it
  again; SES cannot be asked, so it sends again, logs that it may be a second
  copy, and the copy has the same Message-ID (the documented window).
"""
import email
import fcntl
import glob
import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import BUILD, PLUGIN_DIR, ROOT, VMPIPE, connect_event, shared_tool, write
from test_notify_ses import AKID, SECRET, aws_env, ses, wav_bytes  # noqa: F401 (fixture)

CID = "0c0c0c0c-1111-2222-3333-444455556666"
SAN = "san" in os.path.basename(BUILD)


@pytest.fixture(scope="module")
def crash_shim():
    return shared_tool("crash_rename.so", ["tests/tools/crash_rename.c"], lambda out: subprocess.run(
        ["cc", "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", out,
         os.path.join(ROOT, "tests/tools/crash_rename.c"), "-ldl"], check=True))


def pipeline(tmp, notify):
    rec = tmp / "rec"
    rec.mkdir(exist_ok=True)
    (rec / f"{CID}.wav").write_bytes(wav_bytes())
    return write(tmp / "pipeline.ini", f"""[pipeline]
plugin_dir = {PLUGIN_DIR}
timeout = 1m
notify_grace = 0s
state = {tmp}/state

[locate]
plugin = locate-file
dir = {rec}
pattern = {{initial_contact_id}}.wav

{notify}
""")


def file_notify(tmp):
    return f"[notify]\nplugin = notify-file\ndir = {tmp}/out\n"


def ses_notify():
    return ("[notify]\nplugin = notify-ses\nfrom = Voicemail <voicemail@example.com>\n"
            "allowed_recipient_domains = example.com\n")


def start(ini, event, env=None, preload=None):
    e = dict(os.environ)
    e.update(env or {})
    e["VMPIPE_LOG_FORMAT"] = "text"
    if preload:
        e["LD_PRELOAD"] = preload
    return subprocess.Popen([VMPIPE, "run", "-c", ini, event], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=e)


def finish(proc):
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def emls(tmp):
    return sorted(glob.glob(str(tmp / "out" / "*.eml")))


def test_concurrent_runs_mail_once(tmp_path):
    ini = pipeline(tmp_path, file_notify(tmp_path))
    ev = write(tmp_path / "ev.json", json.dumps(connect_event(CID)))
    (tmp_path / "state").mkdir()
    for trial in range(3):
        for f in emls(tmp_path) + glob.glob(str(tmp_path / "state" / "*")):
            os.unlink(f)
        # Hold the claim while both start, so they certainly overlap.
        lock = open(tmp_path / "state" / f"{CID}.lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        procs = [start(ini, ev) for _ in range(2)]
        lock.close()
        results = [finish(p) for p in procs]
        assert [r[0] for r in results] == [0, 0], results
        assert len(emls(tmp_path)) == 1, (trial, results)
        sent = [json.loads(out)["notifications"] for _, out, _ in results]
        assert sorted(len(n) for n in sent) == [1, 1]  # the same record, printed by both
        assert sum("already done" in err for _, _, err in results) == 1, results


@pytest.mark.skipif(SAN, reason="LD_PRELOAD under ASan")
def test_kill9_after_file_delivery_writes_once(tmp_path, crash_shim):
    ini = pipeline(tmp_path, file_notify(tmp_path))
    ev = write(tmp_path / "ev.json", json.dumps(connect_event(CID)))
    # Killed just after the .eml became real, before any checkpoint said so.
    code, out, err = finish(start(ini, ev, {"CRASH_RENAME_MATCH": ".eml"}, crash_shim))
    assert code == -signal.SIGKILL, err
    [eml] = emls(tmp_path)
    first = open(eml, "rb").read()
    ck = json.load(open(tmp_path / "state" / f"{CID}.json"))
    assert ck["stages"]["notify"] == "sending" and ck["notifications"] == []
    code, out, err = finish(start(ini, ev))
    assert code == 0, err
    assert "an earlier attempt got as far as sending" in err
    assert "already holds" in err
    assert emls(tmp_path) == [eml] and open(eml, "rb").read() == first
    rec = json.loads(out)
    [n] = rec["notifications"]
    assert n["message_id"] == email.message_from_bytes(first)["Message-ID"]
    assert rec["state"] == "done"
    # The record beside it, which the killed run never wrote, is written now.
    assert "the earlier attempt ended before it" in err
    side = json.load(open(eml[:-4] + ".json"))
    assert side["state"] == "notified"
    assert [x["message_id"] for x in side["notifications"]] == [n["message_id"]]


@pytest.mark.skipif(SAN, reason="LD_PRELOAD under ASan")
def test_kill9_between_eml_and_json_every_time(tmp_path, crash_shim):
    """Killed between the two writes, again and again: each resume ends with
    both files, the .json written once and never replaced."""
    ini = pipeline(tmp_path, file_notify(tmp_path))
    ev = write(tmp_path / "ev.json", json.dumps(connect_event(CID)))
    for trial in range(5):
        for f in glob.glob(str(tmp_path / "out" / "*")) + glob.glob(str(tmp_path / "state" / "*")):
            os.unlink(f)
        # Just before the .json's rename: the .eml is real, the .json not.
        code, _, err = finish(start(ini, ev, {"CRASH_RENAME_MATCH": f"/out/{CID}.json",
                                              "CRASH_RENAME_BEFORE": "1"}, crash_shim))
        assert code == -signal.SIGKILL, err
        [eml] = emls(tmp_path)
        assert not os.path.exists(eml[:-4] + ".json")
        code, out, err = finish(start(ini, ev))
        assert code == 0, (trial, err)
        side = eml[:-4] + ".json"
        assert os.path.exists(side), (trial, err)
        first = open(side, "rb").read()
        assert json.loads(first)["state"] == "notified"
        # A third run finds the job done and touches nothing.
        code, out, err = finish(start(ini, ev))
        assert code == 0 and open(side, "rb").read() == first


@pytest.mark.skipif(SAN, reason="LD_PRELOAD under ASan")
def test_kill9_after_ses_delivery_is_the_documented_window(tmp_path, ses, crash_shim):  # noqa: F811
    ini = pipeline(tmp_path, ses_notify())
    ev = write(tmp_path / "ev.json", json.dumps(connect_event(CID, recipient="owner@example.com")))
    env = aws_env(tmp_path, {"SESV2": ses.url}, clock=None)
    env.pop("VMPIPE_LOG_FORMAT")
    # Checkpoint renames: locate done, notify sending, notify done: killed
    # before the third, i.e. after SES accepted the mail.
    code, _, err = finish(start(ini, ev, dict(env, CRASH_RENAME_MATCH=f"{CID}.json",
                                              CRASH_RENAME_NTH="3", CRASH_RENAME_BEFORE="1"),
                                crash_shim))
    assert code == -signal.SIGKILL, err
    assert len(ses.messages) == 1
    code, out, err = finish(start(ini, ev, env))
    assert code == 0, err
    assert "may be a second copy" in err
    assert len(ses.messages) == 2
    ids = {email.message_from_bytes(m["raw"])["Message-ID"] for m in ses.messages}
    assert len(ids) == 1, ids  # the owner's mail client can tell it is the same message
    code, out, err = finish(start(ini, ev, env))
    assert code == 0 and "already done" in err and len(ses.messages) == 2
