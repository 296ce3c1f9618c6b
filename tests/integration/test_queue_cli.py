"""Looking after the queue from the command line (vmpipe(1), QUEUE): status
with filters, show, delete, retry, requeue, config; one lookup rule for the
spool and the state directory; hints that work as printed; `check` that
reports everything and creates nothing.

Failed jobs are made with `vmpipe run` on a pipeline whose notifier always
fails (test-flaky) and whose [pipeline] state and [serve] spool are set, so
the commands find both through -c alone.
"""
import json
import os
import shlex
import shutil
import stat
import subprocess

import pytest

from conftest import PLUGIN_DIR, VMPIPE, connect_event, run_vmpipe, write
from serve_helpers import Serve
from test_notify_ses import wav_bytes

CID = "5e7e0000-0000-4000-8000-0000000000a1"
CID2 = "5e7e0000-0000-4000-8000-0000000000a2"


def pipeline(tmp, plugdir, notify="[notify]\nplugin = test-flaky\nmode = permanent\ntimes = -1\n"
             "message = mailbox full\n", extra=""):
    (tmp / "rec").mkdir(exist_ok=True)
    return write(tmp / "etc" / "pipeline.ini", f"""[pipeline]
plugin_dir = {plugdir}
timeout = 5m
notify_grace = 0s
state = ../lib/state

[serve]
spool = ../spool
{extra}
[locate]
plugin = locate-file
dir = {tmp}/rec
pattern = {{initial_contact_id}}.wav
wait = 1m
settle = 0s

{notify}
""")


def failed_job(tmp, ini, cid=CID):
    (tmp / "rec" / f"{cid}.wav").write_bytes(wav_bytes())
    ev = write(tmp / f"ev-{cid}.json", json.dumps(connect_event(cid)))
    r = run_vmpipe("run", "-c", ini, ev)
    assert r.code == 69, r
    return cid


def hints(text):
    """The commands a text suggests between backquotes."""
    return [h for h in text.split("`")[1::2] if h.startswith("vmpipe ")]


def run_hint(hint, cwd):
    argv = shlex.split(hint)
    assert argv[0] == "vmpipe"
    p = subprocess.run([VMPIPE, *argv[1:]], capture_output=True, text=True, cwd=cwd, timeout=60,
                       env={**os.environ, "VMPIPE_LOG_FORMAT": "text", "VMPIPE_SPOOL": "",
                            "VMPIPE_PIPELINE": ""})
    return p


@pytest.mark.valgrind
def test_status_and_show_with_c_alone(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir)
    failed_job(tmp_path, ini)
    (tmp_path / "spool").mkdir()
    r = run_vmpipe("status", "-c", ini, "--json", env={"VMPIPE_SPOOL": ""})
    assert r.code == 0, r
    st = r.json()
    assert st["spool"] == str(tmp_path / "spool") and st["state"] == str(tmp_path / "lib" / "state")
    assert st["state_from"] == "[pipeline] state"
    assert st["jobs"]["failed"] == 1 and st["failed"][0]["id"] == CID
    assert st["failed"][0]["stage"] == "notify" and "mailbox full" in st["failed"][0]["error"]
    r = run_vmpipe("show", "-c", ini, CID)
    assert r.code == 0, r
    assert f"job {CID}" in r.out and "failed (the owner was not told)" in r.out
    assert "[notify] permanent: mailbox full" in r.out.replace("permanent_failure", "permanent")
    assert f"{tmp_path}/lib/state/{CID}.json" in r.out
    r = run_vmpipe("show", "-c", ini, "--json", CID)
    assert r.code == 0 and r.json()["id"] == CID, r
    r = run_vmpipe("show", "-c", ini, "no-such-job")
    assert r.code == 66 and "no job no-such-job" in r.err, r


def test_status_filters(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir)
    failed_job(tmp_path, ini)
    (tmp_path / "spool").mkdir()
    r = run_vmpipe("status", "-c", ini, "--failed")
    assert r.code == 0 and CID in r.out and "mailbox full" in r.out, r
    r = run_vmpipe("status", "-c", ini, "--waiting")
    assert r.code == 0 and CID not in r.out, r
    r = run_vmpipe("status", "-c", ini, "--stage", "notify")
    assert r.code == 0 and CID in r.out, r
    r = run_vmpipe("status", "-c", ini, "--stage", "locate")
    assert r.code == 0 and CID not in r.out, r
    r = run_vmpipe("status", "-c", ini, "--older-than", "1h")
    assert r.code == 0 and CID not in r.out, r
    r = run_vmpipe("status", "-c", ini, "--older-than", "soon")
    assert r.code == 64 and "--older-than 'soon'" in r.err, r


def test_printed_hints_work_as_printed(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir)
    failed_job(tmp_path, ini)
    (tmp_path / "spool" / "rejected").mkdir(parents=True)
    (tmp_path / "spool" / "rejected" / "x1").write_text("{}")
    (tmp_path / "spool" / "rejected" / "x1.why").write_text("bad event")
    r = run_vmpipe("status", "-c", ini)
    assert r.code == 0, r
    hs = hints(r.out)
    assert any(" retry " in h and "--failed" in h for h in hs), r.out
    assert any(" requeue " in h and "--rejected" in h for h in hs), r.out
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for h in hs:
        h = h.replace(" ID", f" {CID}")
        p = run_hint(h, elsewhere)
        assert p.returncode == 0, (h, p.stdout, p.stderr)
    assert (tmp_path / "spool" / "new" / "x1").exists()
    assert not (tmp_path / "spool" / "rejected" / "x1.why").exists()
    r = run_vmpipe("show", "-c", ini, CID)
    for h in hints(r.out):
        if " delete " in h:
            continue  # run last, below
        p = run_hint(h, elsewhere)
        assert p.returncode == 0, (h, p.stdout, p.stderr)
    delete = [h for h in hints(r.out) if " delete " in h]
    assert delete and run_hint(delete[0], elsewhere).returncode == 0
    assert not (tmp_path / "lib" / "state" / f"{CID}.json").exists()


def test_retry_an_unknown_or_unfailed_id(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir)
    r = run_vmpipe("retry", "-c", ini, "no-such-job")
    assert r.code == 66 and "no-such-job: no such job" in r.err, r
    assert not os.path.exists(tmp_path / "spool" / "new") or not os.listdir(tmp_path / "spool" / "new")
    assert not os.path.exists(tmp_path / "lib" / "state" / "no-such-job.lock")


def test_a_refused_retry_leaves_no_lock(tmp_path, plugdir):
    """A retry request for an id with no checkpoint, handed to serve directly
    (as an older vmpipe, or a writer of its own, would): refused, kept in
    rejected/, and no state/ID.lock is left behind."""
    ini = pipeline(tmp_path, plugdir)
    spool = tmp_path / "spool"
    srv = Serve(ini, spool).ready()
    try:
        new = spool / "new" / "retry-ghost"
        (spool / "tmp" / "retry-ghost").write_text('{"vmpipe_retry": "ghost-id"}\n')
        os.rename(spool / "tmp" / "retry-ghost", new)
        srv.wait_log("ghost-id")
        srv.wait_log("rejected")
    finally:
        assert srv.stop() == 0
    assert (spool / "rejected" / "retry-ghost").exists()
    assert not (tmp_path / "lib" / "state" / "ghost-id.lock").exists()
    assert not (tmp_path / "lib" / "state" / "ghost-id.json").exists()


def test_delete(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir)
    failed_job(tmp_path, ini, CID)
    failed_job(tmp_path, ini, CID2)
    r = run_vmpipe("delete", "-c", ini, CID)
    assert r.code == 0 and f"{CID}: deleted" in r.out, r
    r = run_vmpipe("delete", "-c", ini, CID)
    assert r.code == 66 and "no such job" in r.err, r
    r = run_vmpipe("delete", "-c", ini, "--failed")
    assert r.code == 0 and f"{CID2}: deleted" in r.out, r
    assert os.listdir(tmp_path / "lib" / "state") == []
    assert run_vmpipe("delete", "-c", ini).code == 64


def test_delete_refuses_a_held_job(tmp_path, plugdir):
    import fcntl
    ini = pipeline(tmp_path, plugdir)
    failed_job(tmp_path, ini)
    with open(tmp_path / "lib" / "state" / f"{CID}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        r = run_vmpipe("delete", "-c", ini, CID)
    assert r.code == 75 and "holds it" in r.err, r
    assert (tmp_path / "lib" / "state" / f"{CID}.json").exists()
    os.unlink(tmp_path / "lib" / "state" / f"{CID}.lock")


def test_requeue_rejected_by_name(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir)
    rej = tmp_path / "spool" / "rejected"
    rej.mkdir(parents=True)
    (rej / "ev1").write_text("{}")
    (rej / "ev1.why").write_text("bad")
    r = run_vmpipe("requeue", "-c", ini, "ev1")
    assert r.code == 0 and "ev1: requeued" in r.out, r
    assert os.listdir(rej) == [] and os.listdir(tmp_path / "spool" / "new") == ["ev1"]
    r = run_vmpipe("requeue", "-c", ini, "ev2")
    assert r.code == 66 and "not in" in r.err, r
    r = run_vmpipe("requeue", "-c", ini, "../x")
    assert r.code == 64, r
    # A PBX's mail kept there is no event: named with the command that feeds it.
    (rej / "m1.eml").write_text("Subject: x\r\n\r\n")
    (rej / "m1.eml.why").write_text("no audio")
    r = run_vmpipe("requeue", "-c", ini, "m1.eml")
    assert r.code == 65 and f"vmpipe-sendmail -c {ini} -t < {rej}/m1.eml" in r.err, r
    r = run_vmpipe("requeue", "-c", ini, "--rejected")
    assert r.code == 0 and (rej / "m1.eml").exists(), r


def test_enqueue_takes_the_spool_from_the_pipeline(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir)
    ev = write(tmp_path / "ev.json", json.dumps(connect_event(CID)))
    r = run_vmpipe("enqueue", "-c", ini, ev, env={"VMPIPE_SPOOL": ""})
    assert r.code == 0, r
    assert os.listdir(tmp_path / "spool" / "new") == [r.out.strip()]


def test_status_without_any_spool_says_how_to_give_one(tmp_path, plugdir):
    ini = write(tmp_path / "p.ini", f"[pipeline]\nplugin_dir = {plugdir}\n[locate]\nplugin = locate-file\n"
                f"dir = {tmp_path}\n[notify]\nplugin = test-flaky\n")
    r = run_vmpipe("status", "-c", ini, env={"VMPIPE_SPOOL": ""})
    assert r.code == 64 and "no spool" in r.err and "[serve] spool" in r.err, r


@pytest.mark.valgrind
def test_config_prints_every_value_and_its_source(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir, notify="[notify]\nplugin = notify-smtp\nurl = smtp://127.0.0.1:25\n"
                   "from = a@example.com\nto = b@example.com\nusername = u\npassword = ${SMTP_PW}\n",
                   extra="workers = ${VMPIPE_TEST_WORKERS:-3}\n")
    r = run_vmpipe("config", "-c", ini, env={"SMTP_PW": "hunter2-secret"})
    assert r.code == 0, r
    assert "hunter2-secret" not in r.out
    lines = r.out.splitlines()
    assert any(line.startswith("timeout = 5m\t; ") and line.endswith("pipeline.ini:3") for line in lines), r.out
    assert any(line.startswith("workers = 3\t; ") and "from ${VMPIPE_TEST_WORKERS:-3}" in line
               for line in lines), r.out
    assert any(line.startswith("password = (hidden)\t; ") for line in lines), r.out
    assert any(line.startswith("drain = ") and line.endswith("; default") for line in lines), r.out
    n = run_vmpipe("config", "-c", ini, "-n", env={"SMTP_PW": "x"}).out
    assert "drain =" not in n and "timeout = 5m" in n
    assert not (tmp_path / "lib").exists()  # looking created no state directory
    # A value's spaces survive from the environment and from a ${VAR:-default}.
    ini2 = write(tmp_path / "sp.ini", open(ini).read().replace(
        "from = a@example.com", "from = a@example.com\nsubject = ${VMPIPE_TEST_UNSET:- [vm] }"))
    r = run_vmpipe("config", "-c", ini2, env={"SMTP_PW": "x"})
    assert any(line.startswith("subject =  [vm] \t; ") for line in r.out.splitlines()), r.out


@pytest.mark.valgrind
def test_check_reports_every_problem_at_once_and_creates_nothing(tmp_path):
    ini = write(tmp_path / "p.ini", f"""[pipeline]
plugin_dir = {PLUGIN_DIR}
timeout = forever
state = {tmp_path}/state

[serve]
metrics = 0.0.0.0:9464
spool = {tmp_path}/p.ini/spool

[locate]
plugin = locate-file
dir = {tmp_path}/nowhere

[notify]
plugin = notify-file
dir = {tmp_path}/out/box
bogus = 1
""")
    r = run_vmpipe("check", "-c", ini)
    assert r.code == 78, r
    assert "'timeout' = 'forever'" in r.err
    assert "unknown option 'bogus'" in r.err
    assert "nowhere" in r.err  # locate-file's init ran although other sections were refused
    # ...and what only serve reads, in the same pass.
    assert "[serve] metrics '0.0.0.0:9464': not a loopback address" in r.err, r.err
    assert f"[serve] spool {tmp_path}/p.ini/spool cannot be used" in r.err, r.err
    assert "5 problems" in r.err, r.err
    assert os.listdir(tmp_path) == ["p.ini"]  # no state/, no out/box
    # Fixed but for [serve]: what serve would refuse at its start is found here.
    text = open(ini).read().replace("forever", "5m").replace("bogus = 1\n", "").replace("/nowhere", "")
    write(ini, text)
    r = run_vmpipe("check", "-c", ini, env={"VMPIPE_SPOOL": ""})
    assert r.code == 78, r
    assert "not a loopback address" in r.err and f"spool {tmp_path}/p.ini/spool cannot be used" in r.err, r
    assert sorted(os.listdir(tmp_path)) == ["p.ini"]
    write(ini, text.replace("0.0.0.0", "127.0.0.1").replace(f"{tmp_path}/p.ini/spool", "spool"))
    r = run_vmpipe("check", "-c", ini, env={"VMPIPE_SPOOL": ""})
    assert r.code == 0, r
    assert sorted(os.listdir(tmp_path)) == ["p.ini"]


def test_check_of_the_default_pipeline_as_root_creates_no_outbox(tmp_path):
    """The installed default names /var/spool/vmpipe/outbox: checking it (as
    root, in a copy that names a fresh directory) creates nothing."""
    src = open(os.path.join(os.path.dirname(VMPIPE), "..", "etc", "local.ini")).read()
    ini = write(tmp_path / "etc" / "local.ini", src.replace("../samples/", os.path.abspath(
        os.path.join(os.path.dirname(VMPIPE), "..", "samples")) + "/"))
    r = run_vmpipe("check", "-c", ini, env={"VMPIPE_OUTBOX": str(tmp_path / "var" / "outbox")})
    assert r.code == 0, r
    assert not (tmp_path / "var").exists()


def test_c_naming_a_directory(tmp_path):
    for cmd in ("run", "check", "status", "config"):
        r = run_vmpipe(cmd, "-c", tmp_path, input="")
        assert r.code in (64, 78) and "directory" in r.err, (cmd, r)


def test_run_on_a_terminal_says_how_to_give_an_event(tmp_path):
    import pty
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(VMPIPE, [VMPIPE, "run"])
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 64, out
    assert b"standard input is a terminal" in out and b"vmpipe run EVENT.json" in out
    # Its example works as printed (the pipeline: the tree's default one).
    if os.path.exists("/etc/vmpipe/pipeline.ini"):
        return  # that one would come first here
    (hint,) = [h for h in hints(out.decode()) if h.startswith("vmpipe run /")]
    outbox = tmp_path / "out"
    outbox.mkdir()
    argv = shlex.split(hint)
    p = subprocess.run([VMPIPE, *argv[1:]], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                       env={**os.environ, "VMPIPE_PIPELINE": "", "VMPIPE_OUTBOX": str(outbox),
                            "VMPIPE_CLOCK": "fake"})
    assert p.returncode == 0, p.stderr
    assert len(list(outbox.glob("*.eml"))) == 1


@pytest.mark.parametrize("cmd", ["status", "show", "delete", "retry", "requeue", "config", "enqueue"])
def test_help(cmd):
    r = run_vmpipe(cmd, "--help")
    assert r.code == 0 and f"usage: vmpipe {cmd}" in r.out and not r.err, r
    r = run_vmpipe(cmd, "-h")
    assert r.code == 0 and f"usage: vmpipe {cmd}" in r.out, r


@pytest.mark.parametrize("cmd,other", [("status", "--rejected"), ("show", "--failed"), ("delete", "--json"),
                                       ("retry", "--rejected"), ("requeue", "--json"), ("enqueue", "--failed")])
def test_an_option_of_another_command_is_refused(cmd, other, tmp_path):
    """The queue commands share one option loop (where_options): each takes
    its own options only, and says how it is used."""
    r = run_vmpipe(cmd, "--spool", tmp_path, other, "x")
    assert r.code == 64 and f"usage: vmpipe {cmd}" in r.err and not r.out, r


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("useradd"),
                    reason="needs root, setpriv and useradd (a throw-away user)")
def test_requeue_as_root_takes_no_link_a_spool_writer_planted(plugdir):
    """A PBX user may write the spool's rejected/ (through the group).  As that
    user, plant links there (to a root-only file, and a .why that is a link);
    root's `vmpipe requeue --rejected` moves no link into new/, follows none,
    and leaves the target alone."""
    import pathlib
    import tempfile
    user = f"vmpq{os.getpid() % 100000}"
    # Not under pytest's tmp_path (mode 0700): the other user must reach it.
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="vmpq-"))
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
                   check=True)
    try:
        uid = int(subprocess.run(["id", "-u", user], capture_output=True, text=True, check=True).stdout)
        ini = pipeline(tmp_path, plugdir)
        rej = tmp_path / "spool" / "rejected"
        rej.mkdir(parents=True)
        os.chmod(tmp_path, 0o755)
        os.chmod(tmp_path / "spool", 0o777)
        os.chmod(rej, 0o777)
        secret = tmp_path / "root-only"
        secret.write_text("secret\n")
        os.chmod(secret, 0o600)
        plant = (f"ln -s {secret} {rej}/evil && ln -s {secret} {rej}/good.why && "
                 f"printf '{{}}' > {rej}/good")
        p = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "sh", "-c", plant],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        r = run_vmpipe("requeue", "-c", ini, "--rejected")
        assert "evil is not a regular file: left alone" in r.err, r
        assert r.code == 75, r
        new = tmp_path / "spool" / "new"
        assert sorted(os.listdir(new)) == ["good"]  # the plain file, not the link
        assert os.path.islink(rej / "evil")
        assert not os.path.lexists(rej / "good.why")  # the link itself removed, not its target
        assert secret.read_text() == "secret\n" and stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    finally:
        subprocess.run(["userdel", user], check=False)
        subprocess.run(["groupdel", user], check=False, capture_output=True)
        shutil.rmtree(tmp_path, ignore_errors=True)
