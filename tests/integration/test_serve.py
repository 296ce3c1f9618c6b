"""`vmpipe serve` with the spool: real processes, real signals.

The spool is handed events with `vmpipe enqueue`; the pipelines end in
notify-file, so a voicemail mailed is a file in the outbox and can be
counted.  Waits end on what can be observed (files, log lines).
"""
import glob
import json
import os
import signal
import urllib.request

import pytest

from conftest import PLUGIN_DIR, connect_event, run_vmpipe, write
from serve_helpers import Serve, free_port, wait_until
from test_notify_ses import wav_bytes


def pipeline(tmp, plugdir=PLUGIN_DIR, notify=None, extra="", wait="1m"):
    rec = tmp / "rec"
    rec.mkdir(exist_ok=True)
    notify = notify or f"[notify]\nplugin = notify-file\ndir = {tmp}/out\n"
    return write(tmp / "pipeline.ini", f"""[pipeline]
plugin_dir = {plugdir}
timeout = 5m
notify_grace = 0s

[locate]
plugin = locate-file
dir = {rec}
pattern = {{initial_contact_id}}.wav
wait = {wait}
settle = 0s

{notify}
{extra}
""")


def recording(tmp, cid):
    """The recording appears whole (written aside, then renamed), as a PBX's
    does: with settle = 0s locate takes the first file it sees, and one seen
    half-written (on a loaded machine the writer is preempted between its
    open() and its write()) is not the file the notifier then reads, so the
    job was refused and the mail never came (test_duplicate_event_mails_once
    failed 3 of 11 times)."""
    (tmp / "rec").mkdir(exist_ok=True)
    part = tmp / f"{cid}.wav.part"
    part.write_bytes(wav_bytes())
    os.rename(part, tmp / "rec" / f"{cid}.wav")


def enqueue(tmp, spool, cid, **kw):
    ev = write(tmp / f"ev-{cid}.json", json.dumps(connect_event(cid, **kw)))
    r = run_vmpipe("enqueue", "--spool", spool, ev)
    assert r.code == 0, r
    return r.out.strip()


def mails(tmp):
    return sorted(os.path.basename(p) for p in glob.glob(str(tmp / "out" / "*.eml")))


def cid(n):
    return f"5e7e0000-0000-4000-8000-{n:012d}"


@pytest.fixture
def spool(tmp_path):
    return tmp_path / "spool"


@pytest.mark.valgrind
def test_spool_intake_and_a_clean_stop(tmp_path, spool):
    ini = pipeline(tmp_path)
    for n in range(5):
        recording(tmp_path, cid(n))
    srv = Serve(ini, spool).ready()
    for n in range(5):
        enqueue(tmp_path, spool, cid(n))
    wait_until("five mails", lambda: len(mails(tmp_path)) == 5)
    srv.wait_log("done in", 5)
    assert srv.stop() == 0
    assert srv.saw("stopped: every job is checkpointed")
    assert os.listdir(spool / "new") == [] and os.listdir(spool / "cur") == []
    done = [json.load(open(p)) for p in glob.glob(str(spool / "state" / "*.json"))]
    assert sorted(d["state"] for d in done) == ["done"] * 5


def test_enqueued_while_down_is_taken_at_start(tmp_path, spool):
    ini = pipeline(tmp_path)
    for n in range(3):
        recording(tmp_path, cid(n))
        enqueue(tmp_path, spool, cid(n))
    assert len(os.listdir(spool / "new")) == 3 and mails(tmp_path) == []
    srv = Serve(ini, spool).ready()
    wait_until("three mails", lambda: len(mails(tmp_path)) == 3)
    assert srv.stop() == 0


@pytest.mark.valgrind
def test_killed_mid_job_resumes_and_mails_once(tmp_path, spool):
    ini = pipeline(tmp_path)
    srv = Serve(ini, spool).ready()
    enqueue(tmp_path, spool, cid(1))
    # Accepted and waiting for its recording: checkpointed, its event in cur/.
    srv.wait_log("accepted")
    wait_until("the checkpoint", lambda: (spool / "state" / f"{cid(1)}.json").exists())
    # The checkpoint is written before the event leaves new/: wait for the move.
    wait_until("the event in cur/",
               lambda: len(os.listdir(spool / "cur")) == 1 and os.listdir(spool / "new") == [])
    srv.kill9()
    recording(tmp_path, cid(1))
    again = Serve(ini, spool).ready()
    again.wait_log("resuming 1 job from the last run")
    wait_until("the mail", lambda: mails(tmp_path) == [f"{cid(1)}.eml"])
    again.wait_log("done in")
    assert again.stop() == 0
    assert mails(tmp_path) == [f"{cid(1)}.eml"]
    assert os.listdir(spool / "cur") == []


def test_sigterm_drains_and_checkpoints(tmp_path, spool):
    ini = pipeline(tmp_path)
    srv = Serve(ini, spool).ready()
    enqueue(tmp_path, spool, cid(2))
    srv.wait_log("accepted")
    assert srv.stop() == 0
    assert srv.saw("stopping:") and srv.saw("stopped: every job is checkpointed")
    ck = json.load(open(spool / "state" / f"{cid(2)}.json"))
    assert ck["state"] == "pending"
    assert len(os.listdir(spool / "cur")) == 1  # resumed by the next start
    recording(tmp_path, cid(2))
    again = Serve(ini, spool).ready()
    wait_until("the mail", lambda: mails(tmp_path) == [f"{cid(2)}.eml"])
    assert again.stop() == 0


def test_sighup_reloads_and_a_broken_pipeline_keeps_the_old(tmp_path, spool):
    ini = pipeline(tmp_path)
    srv = Serve(ini, spool).ready()
    recording(tmp_path, cid(1))
    enqueue(tmp_path, spool, cid(1))
    wait_until("the first mail", lambda: mails(tmp_path) == [f"{cid(1)}.eml"])
    # A new notifier directory: new jobs go there.
    pipeline(tmp_path, notify=f"[notify]\nplugin = notify-file\ndir = {tmp_path}/out2\n")
    srv.signal(signal.SIGHUP)
    srv.wait_log("reloaded")
    recording(tmp_path, cid(2))
    enqueue(tmp_path, spool, cid(2))
    wait_until("a mail in out2", lambda: glob.glob(str(tmp_path / "out2" / f"{cid(2)}.eml")))
    # Broken: the running pipelines stay, and the log says why.
    write(tmp_path / "pipeline.ini", "[pipeline]\ntimeout = soon\n")
    srv.signal(signal.SIGHUP)
    srv.wait_log("reload failed")
    assert srv.saw("timeout") and srv.saw("pipeline refused")
    recording(tmp_path, cid(3))
    enqueue(tmp_path, spool, cid(3))
    wait_until("a mail on the old pipeline", lambda: glob.glob(str(tmp_path / "out2" / f"{cid(3)}.eml")))
    assert srv.stop() == 0


def test_bad_event_is_kept_in_rejected(tmp_path, spool):
    ini = pipeline(tmp_path)
    srv = Serve(ini, spool).ready()
    # Written by hand the Maildir way, as a PBX script might.
    (spool / "tmp" / "x1").write_text('{"not": "an event"}')
    os.rename(spool / "tmp" / "x1", spool / "new" / "x1")
    wait_until("the rejection", lambda: (spool / "rejected" / "x1.why").exists())
    assert "bad event" in (spool / "rejected" / "x1.why").read_text()
    assert (spool / "rejected" / "x1").read_text() == '{"not": "an event"}'
    assert os.listdir(spool / "new") == []
    assert srv.stop() == 0


def test_duplicate_event_mails_once(tmp_path, spool):
    ini = pipeline(tmp_path)
    srv = Serve(ini, spool).ready()
    enqueue(tmp_path, spool, cid(4))
    enqueue(tmp_path, spool, cid(4))  # the same voicemail again while it waits
    srv.wait_log("already in flight here")
    recording(tmp_path, cid(4))
    wait_until("the mail", lambda: mails(tmp_path) == [f"{cid(4)}.eml"])
    enqueue(tmp_path, spool, cid(4))  # and once more after it is done
    srv.wait_log("is already done")
    assert mails(tmp_path) == [f"{cid(4)}.eml"]
    assert srv.stop() == 0


@pytest.mark.valgrind
def test_failed_job_is_kept_and_retried(tmp_path, spool, plugdir):
    failing = "[notify]\nplugin = test-flaky\nmode = permanent\ntimes = -1\nmessage = mailbox full\n"
    ini = pipeline(tmp_path, plugdir=plugdir, notify=failing)
    srv = Serve(ini, spool).ready()
    recording(tmp_path, cid(5))
    enqueue(tmp_path, spool, cid(5))
    srv.wait_log("the owner was not notified")
    st = run_vmpipe("status", "--spool", spool, "--json")
    assert st.code == 0, st
    status = json.loads(st.out)
    assert status["serve_running"] and status["jobs"]["failed"] == 1
    assert status["failed"][0]["id"] == cid(5) and "mailbox full" in status["failed"][0]["error"]
    text = run_vmpipe("status", "--spool", spool).out
    line = next(ln for ln in text.splitlines() if ln.startswith(cid(5)))
    assert line.split()[1:3] == ["failed", "notify"] and "mailbox full" in line, text
    # Fixed, reloaded, retried: the stage that failed runs again, once.
    pipeline(tmp_path, plugdir=plugdir, notify="[notify]\nplugin = test-flaky\n")
    srv.signal(signal.SIGHUP)
    srv.wait_log("reloaded")
    r = run_vmpipe("retry", "--spool", spool, "--failed")
    assert r.code == 0 and f"{cid(5)}: retry requested" in r.out, r
    srv.wait_log("done in")
    ck = json.load(open(spool / "state" / f"{cid(5)}.json"))
    assert ck["state"] == "done" and ck["stages"]["locate"] == "done"
    assert len(ck["notifications"]) == 1
    r = run_vmpipe("retry", "--spool", spool, cid(5))
    assert r.code == 65 and "the job is done, not failed" in r.err, r
    assert srv.stop() == 0


def test_second_serve_on_a_spool_is_refused(tmp_path, spool):
    ini = pipeline(tmp_path)
    first = Serve(ini, spool).ready()
    second = Serve(ini, spool)
    assert second.wait_exit() == 75
    assert second.saw("another vmpipe serve is running on spool")
    assert first.stop() == 0


def test_metrics_on_loopback(tmp_path, spool):
    ini = pipeline(tmp_path)
    port = free_port()
    srv = Serve(ini, spool, args=("--metrics", f"127.0.0.1:{port}")).ready()
    recording(tmp_path, cid(6))
    enqueue(tmp_path, spool, cid(6))
    srv.wait_log("done in")
    # The job's end is counted on serve's loop after the worker logged it
    # (on_ended): scrape until it is there (on a loaded machine it was not,
    # yet, at the first scrape).
    def scrape():
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    wait_until("the job counted", lambda: 'vmpipe_jobs_total{outcome="done"} 1' in scrape())
    body = scrape()
    assert 'vmpipe_jobs_total{outcome="done"} 1' in body
    assert 'vmpipe_stage_calls_total{stage="notify",status="done"} 1' in body
    assert 'vmpipe_job_seconds_count 1' in body
    assert "# TYPE vmpipe_stage_call_seconds histogram" in body
    assert srv.stop() == 0


def test_metrics_refuse_a_public_address(tmp_path, spool):
    ini = pipeline(tmp_path)
    srv = Serve(ini, spool, args=("--metrics", "0.0.0.0:9464"))
    assert srv.wait_exit() == 78
    assert srv.saw("not a loopback address")


def test_serve_needs_a_spool(tmp_path):
    ini = pipeline(tmp_path)
    r = run_vmpipe("serve", "-c", ini, env={"VMPIPE_SPOOL": ""})
    assert r.code == 78 and "no spool" in r.err, r


def test_status_and_retry_usage(tmp_path, spool):
    assert run_vmpipe("status", "--spool", tmp_path / "nope").code == 66
    assert run_vmpipe("retry", "--spool", spool).code == 64
    assert run_vmpipe("retry", "--spool", spool, "../x").code == 64
    for cmd in ("serve", "enqueue", "status", "retry"):
        r = run_vmpipe(cmd, "--help")
        assert r.code == 0 and f"usage: vmpipe {cmd}" in r.out


def test_tells_systemd_ready_reloading_stopping(tmp_path, spool):
    import socket
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(60)
    try:
        ini = pipeline(tmp_path)
        srv = Serve(ini, spool, env={"NOTIFY_SOCKET": path}).ready()
        assert sock.recv(256) == b"READY=1"
        srv.signal(signal.SIGHUP)
        assert sock.recv(256) == b"RELOADING=1"
        assert sock.recv(256) == b"READY=1"
        assert srv.stop() == 0
        assert sock.recv(256) == b"STOPPING=1"
    finally:
        sock.close()


@pytest.mark.valgrind
def test_a_large_intake_is_taken_in_slices(tmp_path, spool):
    """300 events waiting at start are taken 64 per turn of the loop (so
    signals, job ends and scrapes are answered in between), and all of them."""
    ini = pipeline(tmp_path)
    (spool / "tmp").mkdir(parents=True)
    (spool / "new").mkdir()
    for n in range(300):
        (spool / "tmp" / f"e{n:03d}").write_text('{"not": "an event"}')
        os.rename(spool / "tmp" / f"e{n:03d}", spool / "new" / f"e{n:03d}")
    srv = Serve(ini, spool, env={"VMPIPE_LOG_LEVEL": "debug"}).ready()
    # A refused entry is kept in rejected/ (with its .why) before it leaves
    # new/: wait for both ends of the move.
    wait_until("every event rejected", lambda: len(os.listdir(spool / "rejected")) == 600
               and os.listdir(spool / "new") == [])
    srv.wait_log("64 taken from new/: the rest after this turn of the loop", 4)
    assert srv.stop() == 0


def test_a_file_written_straight_into_new_is_taken_when_closed(tmp_path, spool):
    """Not the Maildir way, but it happens: a file created in new/ and still
    being written is left alone until its writer closes it."""
    ini = pipeline(tmp_path)
    srv = Serve(ini, spool).ready()
    recording(tmp_path, cid(8))
    recording(tmp_path, cid(9))
    with open(spool / "new" / "direct", "w") as f:
        f.write(json.dumps(connect_event(cid(8)))[:20])
        f.flush()
        # Events are seen in order: once this one is taken, the creation of
        # "direct" has been seen too.
        enqueue(tmp_path, spool, cid(9))
        wait_until("the later event's mail", lambda: f"{cid(9)}.eml" in mails(tmp_path))
        assert os.listdir(spool / "new") == ["direct"] and os.listdir(spool / "rejected") == []
        f.write(json.dumps(connect_event(cid(8)))[20:])
    wait_until("the mail", lambda: f"{cid(8)}.eml" in mails(tmp_path))
    assert os.listdir(spool / "rejected") == []
    assert srv.stop() == 0
