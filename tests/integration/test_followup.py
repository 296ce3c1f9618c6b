"""A recording found late reaches the owner (retry.h).

A job whose recording is not found within `wait` mails "could not be found"
and ends failed with the owner told (outcome no_recording).  When the
recording then appears and the job is retried, it is located, transcribed
and mailed again as a follow-up: a reply to the first mail (In-Reply-To and
References carry its Message-ID), saying the recording was found.  A job
whose owner was not told is retried as before (nobody mailed twice)."""
import email
import email.policy
import glob
import json
import os

import pytest

from conftest import run_vmpipe
from serve_helpers import Serve
from test_queue_cli import run_hint
from test_serve import cid, enqueue, pipeline, recording


def mails(tmp):
    out = []
    for p in sorted(glob.glob(str(tmp / "out" / "*.eml"))):
        with open(p, "rb") as f:
            out.append(email.message_from_bytes(f.read(), policy=email.policy.default))
    return out


@pytest.mark.valgrind
def test_late_recording_is_mailed_as_a_follow_up(tmp_path):
    ini = pipeline(tmp_path, wait="1s")
    spool = tmp_path / "spool"
    srv = Serve(ini, spool).ready()
    try:
        enqueue(tmp_path, spool, cid(7))
        srv.wait_log("failed in")
        (first,) = mails(tmp_path)
        assert "could not be found" in first.get_body(("plain",)).get_content()
        ck = json.load(open(spool / "state" / f"{cid(7)}.json"))
        assert ck["state"] == "failed" and ck["outcome"] == "no_recording", ck
        st = run_vmpipe("status", "--spool", spool, "--json").json()
        assert st["jobs"]["failed_owner_told"] == 1 and st["failed"][0]["state"] == "failed-told", st
        show = run_vmpipe("show", "--spool", spool, cid(7)).out
        assert "the owner was told of the failure" in show, show

        # Retried while the recording is still missing: the owner knows, so
        # nothing is sent again.
        r = run_vmpipe("retry", "--spool", spool, cid(7))
        assert r.code == 0, r
        srv.wait_log("failed in", 2)
        assert len(mails(tmp_path)) == 1
        ck = json.load(open(spool / "state" / f"{cid(7)}.json"))
        assert ck["outcome"] == "no_recording" and ck["stages"]["notify"] == "told", ck

        recording(tmp_path, cid(7))  # found late
        r = run_vmpipe("retry", "--spool", spool, cid(7))
        assert r.code == 0, r
        srv.wait_log("follow-up", 2)
        srv.wait_log("done in")
    finally:
        assert srv.stop() == 0
    ck = json.load(open(spool / "state" / f"{cid(7)}.json"))
    assert ck["state"] == "done" and ck["outcome"] == "done" and ck["round"] == 2, ck
    assert [n.get("round", 0) for n in ck["notifications"]] == [0, 2], ck
    first_id = first["Message-ID"]
    (second,) = [m for m in mails(tmp_path) if m["Message-ID"] != first_id]
    assert second["Message-ID"] != first["Message-ID"]
    assert second["In-Reply-To"] == first["Message-ID"] and second["References"] == first["Message-ID"]
    body = second.get_body(("plain",)).get_content()
    assert "could not be found" not in body and "has been found since" in body, body
    # The recording found late is offered: where it is kept (a file:// path is never a link).
    assert f"kept on the voicemail server as {tmp_path}/rec/{cid(7)}.wav" in body, body
    assert "file://" not in body, body


def test_a_retry_whose_owner_was_not_told_sends_once(tmp_path, plugdir):
    """The notifier failed (owner not told): the retry runs it, once, with
    no follow-up headers; a notifier that was done is not run again."""
    notify = (f"[notify]\nplugin = notify-file\ndir = {tmp_path}/out\n"
              "[notify.flaky]\nplugin = test-flaky\nmode = permanent\ntimes = -1\nmessage = mailbox full\n")
    ini = pipeline(tmp_path, plugdir=plugdir, notify=notify)
    spool = tmp_path / "spool"
    recording(tmp_path, cid(8))
    srv = Serve(ini, spool).ready()
    try:
        enqueue(tmp_path, spool, cid(8))
        srv.wait_log("the owner was not notified")
        ck = json.load(open(spool / "state" / f"{cid(8)}.json"))
        assert ck["outcome"] == "not_notified", ck
        st = run_vmpipe("status", "--spool", spool, "--failed", "--json").json()
        assert st["matching"][0]["state"] == "failed", st
        pipeline(tmp_path, plugdir=plugdir, notify=notify.replace("mode = permanent\ntimes = -1\n", ""))
        import signal
        srv.signal(signal.SIGHUP)
        srv.wait_log("reloaded")
        # serve's log says how to retry it: that command works as printed,
        # from another directory, with no environment to help it.
        (msg,) = [e["msg"] for e in srv.logs() if "the owner was not notified" in e.get("msg", "")]
        (hint,) = [h for h in msg.split("`")[1::2] if h.startswith("vmpipe retry")]
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        p = run_hint(hint, elsewhere)
        assert p.returncode == 0 and f"{cid(8)}: retry requested" in p.stdout, (hint, p.stdout, p.stderr)
        srv.wait_log("done in")
    finally:
        assert srv.stop() == 0
    ck = json.load(open(spool / "state" / f"{cid(8)}.json"))
    assert ck["state"] == "done" and "round" not in ck, ck
    assert [n["stage"] for n in ck["notifications"]] == ["notify", "notify.flaky"]
    (only,) = mails(tmp_path)
    assert only["In-Reply-To"] is None
    assert os.path.exists(spool / "state")


@pytest.mark.parametrize("own_state", [True, False], ids=["own-state", "shared-state"])
def test_a_tenants_job_is_retried_on_the_tenants_pipeline(tmp_path, plugdir, own_state):
    """A retry request names only a job id: the job runs again on the
    pipeline of its tenant (tenant.h), found where that pipeline keeps its
    checkpoints (a state directory of its own, or the spool's it shares
    with the base), and the follow-up goes out through the tenant's
    notifier, not the base's (before: the base pipeline ran every retry)."""
    states = tmp_path / "acme-state" if own_state else tmp_path / "spool" / "state"
    from conftest import connect_event, tenant_pipeline, write
    tenants = tenant_pipeline(tmp_path, plugdir, pipeline_lines=[f"state = {states}"] if own_state else [],
                              wait="1s")
    ini = pipeline(tmp_path, wait="1s", extra="")
    text = open(ini).read().replace("notify_grace = 0s", f"notify_grace = 0s\ntenant_dir = {tenants}")
    open(ini, "w").write(text)
    spool = tmp_path / "spool"
    srv = Serve(ini, spool).ready()
    try:
        ev = write(tmp_path / "ev.json", json.dumps(connect_event(cid(9), extra_attrs={"tenant": "acme"})))
        assert run_vmpipe("enqueue", "--spool", spool, ev).code == 0
        srv.wait_log("failed in")
        ck = json.load(open(states / f"{cid(9)}.json"))
        assert ck["outcome"] == "no_recording" and ck["tenant"] == "acme", ck
        assert len(glob.glob(str(tmp_path / "acme-out" / "*.eml"))) == 1

        recording(tmp_path, cid(9))  # written whole, then moved where the tenant looks
        os.rename(tmp_path / "rec" / f"{cid(9)}.wav", tmp_path / "acme-rec" / f"{cid(9)}.wav")
        st = run_vmpipe("status", "--spool", spool, "-c", ini, "--json").json()
        assert st["jobs"]["failed_owner_told"] == 1, st
        assert st.get("tenant_states", []) == ([str(states)] if own_state else []), st
        ids = run_vmpipe("status", "--spool", spool, "-c", ini, "--failed", "--ids")
        assert ids.out.split() == [cid(9)], ids
        show = run_vmpipe("show", "--spool", spool, "-c", ini, cid(9))
        assert show.code == 0 and f"checkpoint {states}/{cid(9)}.json" in show.out, show
        r = run_vmpipe("retry", "--spool", spool, "-c", ini, "--failed")
        assert r.code == 0 and f"{cid(9)}: retry requested" in r.out, r
        srv.wait_log("done in")
        r = run_vmpipe("retry", "--spool", spool, "-c", ini, cid(9).replace("9", "8"))
        assert r.code == 66 and "nor where a tenant keeps its checkpoints" in r.err, r
    finally:
        assert srv.stop() == 0
    ck = json.load(open(states / f"{cid(9)}.json"))
    assert ck["state"] == "done" and ck["round"] == 1, ck
    assert own_state != os.path.exists(spool / "state" / f"{cid(9)}.json")
    assert len(glob.glob(str(tmp_path / "acme-out" / "*.eml"))) == 2
    assert mails(tmp_path) == []  # the base's notifier sent nothing
    r = run_vmpipe("delete", "--spool", spool, "-c", ini, cid(9))
    assert r.code == 0 and not os.path.exists(states / f"{cid(9)}.json"), r


def test_a_tenants_state_others_may_write_is_refused(tmp_path, plugdir):
    """A checkpoint is never a source of authority (docs/serve.md, "Who
    writes what"): a tenant's state directory is held to the base's rule.
    serve does not start on one others may write, and a tenant added later
    with such a directory has its event refused (kept in rejected/, with
    the reason), never run."""
    from conftest import connect_event, write
    tenants = tmp_path / "tenants"
    tenants.mkdir()

    def tenant(name):
        state = tmp_path / f"{name}-state"
        state.mkdir(mode=0o700, exist_ok=True)
        os.chmod(state, 0o770)
        write(tenants / f"{name}.ini", f"""[pipeline]
plugin_dir = {plugdir}
state = {state}

[locate]
plugin = locate-file
dir = {tmp_path}/rec

[notify]
plugin = notify-file
dir = {tmp_path}/{name}-out
""")
        return state

    acme = tenant("acme")
    ini = pipeline(tmp_path)
    text = open(ini).read().replace("notify_grace = 0s", f"notify_grace = 0s\ntenant_dir = {tenants}")
    open(ini, "w").write(text)
    spool = tmp_path / "spool"
    srv = Serve(ini, spool)
    assert srv.wait_exit() == 78
    assert srv.saw(f"{tenants}/acme.ini: state: {acme} must be a directory of this user"), srv.text()
    os.chmod(acme, 0o700)
    srv = Serve(ini, spool).ready()
    try:
        late = tenant("late")
        ev = write(tmp_path / "ev.json", json.dumps(connect_event(cid(11), extra_attrs={"tenant": "late"})))
        assert run_vmpipe("enqueue", "--spool", spool, ev).code == 0
        srv.wait_log("must be a directory of this user")
        from serve_helpers import wait_until
        wait_until("the rejection", lambda: glob.glob(str(spool / "rejected" / "*.why")))
        whys = glob.glob(str(spool / "rejected" / "*.why"))
        assert len(whys) == 1 and f"{late} must be a directory of this user" in open(whys[0]).read()
        assert os.listdir(late) == [] and not glob.glob(str(tmp_path / "late-out" / "*"))
        os.remove(tenants / "late.ini")
        os.chmod(acme, 0o770)  # a reload is held to the same rule
        import signal
        srv.signal(signal.SIGHUP)
        srv.wait_log("reload failed")
        assert srv.saw(f"{tenants}/acme.ini: state: {acme} must be a directory of this user")
    finally:
        assert srv.stop() == 0


def test_a_retry_asked_while_the_job_runs_waits_for_its_end(tmp_path):
    """A retry request for a job still in flight here (asked the moment it
    failed, before serve's loop heard of the end; or earlier) is held until
    the job ends, then honoured: it was dropped as a duplicate, and the
    owner never had the follow-up."""
    ini = pipeline(tmp_path, wait="6s")
    spool = tmp_path / "spool"
    srv = Serve(ini, spool).ready()
    try:
        enqueue(tmp_path, spool, cid(12))
        srv.wait_log("accepted")
        # As `vmpipe retry` writes it (it refuses a job that has not failed yet).
        (spool / "tmp" / "retry-early").write_text(json.dumps({"vmpipe_retry": cid(12)}) + "\n")
        os.rename(spool / "tmp" / "retry-early", spool / "new" / "retry-early")
        srv.wait_log("is still in flight here; tried again in 5 s")
        # Only that request waits: intake goes on meanwhile.
        recording(tmp_path, cid(13))
        enqueue(tmp_path, spool, cid(13))
        from serve_helpers import wait_until
        wait_until("the other voicemail's mail", lambda: len(mails(tmp_path)) == 1)
        assert not srv.saw("failed in"), "the other voicemail waited for the first job"
        srv.wait_log("failed in")
        recording(tmp_path, cid(12))  # found late: the retry's run finds it
        srv.wait_log("done in", 2)  # the other voicemail's, then the retried job's
    finally:
        assert srv.stop() == 0
    assert not srv.saw("the event is dropped")
    ck = json.load(open(spool / "state" / f"{cid(12)}.json"))
    assert ck["state"] == "done" and ck["round"] == 1, ck
    assert len(mails(tmp_path)) == 3
