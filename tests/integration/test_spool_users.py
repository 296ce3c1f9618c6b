"""The shared host: `vmpipe serve` as one user, the PBX (`vmpipe sendmail`) as
another in the group vmpipe, and a hostile third member of that group.

The layout is made from the shipped deploy/vmpipe.tmpfiles (paths and names
mapped into a throw-away directory and throw-away users), exactly as
`systemd-tmpfiles --create` would.  Each attack of the audit (issue 17,
items 1, 2, 3, 5) runs as the third uid: no file of serve's is read, nothing
is mailed to it, no voicemail is silenced, serve keeps running.  Root only
(users are created with useradd and removed afterwards).
"""
import grp
import json
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile

import pytest

from conftest import PLUGIN_DIR, PYTHON, ROOT, TEST_PLUGIN_DIR, VMPIPE
from pbxmail import asterisk_mail
from serve_helpers import Serve, wait_until
from test_notify_ses import wav_bytes

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("useradd"),
    reason="needs root (setpriv, useradd) to run serve, the PBX and an attacker as three uids")

AST_ID = "Asterisk-1-1804289383-1234-4242_pbx.example.com"


@pytest.fixture(scope="module")
def users():
    """A group and three users: serve (primary group: the group), pbx and evil
    (their own primary group, the group as a supplementary one)."""
    tag = "vmt" + secrets.token_hex(3)
    names = {"group": tag, "serve": tag + "s", "pbx": tag + "p", "evil": tag + "e"}
    made = []
    try:
        subprocess.run(["groupadd", "--system", names["group"]], check=True)
        made.append(("group", names["group"]))
        for role in ("serve", "pbx", "evil"):
            args = ["useradd", "--system", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin"]
            args += ["-g", names["group"], "-N"] if role == "serve" else ["-U", "-G", names["group"]]
            subprocess.run(args + [names[role]], check=True)
            made.append(("user", names[role]))
        yield {k: (v, pwd.getpwnam(v).pw_uid if k != "group" else grp.getgrnam(v).gr_gid)
               for k, v in names.items()}
    finally:
        for kind, name in reversed(made):
            subprocess.run(["userdel", name] if kind == "user" else ["groupdel", name],
                           capture_output=True)


def as_user(users, role):
    """setpriv words running a command as `role` with its groups."""
    name, uid = users[role]
    return ["setpriv", f"--reuid={uid}", f"--regid={pwd.getpwnam(name).pw_gid}", "--init-groups", "--"]


def run_as(users, role, cmd, input=None, env=None):
    e = dict(os.environ, VMPIPE_LOG_FORMAT="text", TMPDIR="/tmp")
    e.update(env or {})
    return subprocess.run(as_user(users, role) + cmd, input=input, capture_output=True, text=True, env=e,
                          timeout=120, start_new_session=True)


def attack(users, script, *args):
    """Run a Python snippet as the attacker; its stdout."""
    r = run_as(users, "evil", [PYTHON, "-c", script, *map(str, args)])
    assert r.returncode == 0, r.stderr
    return r.stdout


class Host:
    """The layout of deploy/vmpipe.tmpfiles under a throw-away root."""

    def __init__(self, users):
        self.users = users
        self.root = tempfile.mkdtemp(prefix="vmpipe-host-")
        os.chmod(self.root, 0o755)
        self.spool = os.path.join(self.root, "spool")
        self.lib = os.path.join(self.root, "lib")
        self.state = os.path.join(self.lib, "jobs")
        self.out = os.path.join(self.root, "out")
        with open(os.path.join(ROOT, "deploy", "vmpipe.tmpfiles")) as f:
            for line in f:
                if not line.strip() or line.startswith("#"):
                    continue
                kind, path, mode, user, group, _age = line.split()
                assert kind == "d"
                path = path.replace("/var/spool/vmpipe", self.spool).replace("/var/lib/vmpipe", self.lib)
                os.mkdir(path)
                os.chown(path, users[user.replace("vmpipe", "serve")][1], users["group"][1]
                         if group == "vmpipe" else -1)
                os.chmod(path, int(mode, 8))
        # The owner's mails: a directory both may write (the test reads it).
        os.mkdir(self.out)
        os.chmod(self.out, 0o1777)
        # Something only serve may read: what the attacker is after.
        self.secret_text = "TOPSECRET-" + secrets.token_hex(8)
        self.secret = os.path.join(self.root, "secret")
        with open(self.secret, "w") as f:
            f.write(self.secret_text)
        os.chown(self.secret, users["serve"][1], -1)
        os.chmod(self.secret, 0o600)

    def pipeline(self, out=None, name="pbx.ini"):
        path = os.path.join(self.root, name)
        with open(path, "w") as f:
            f.write(f"""[pipeline]
plugin_dir = {PLUGIN_DIR}
timeout = 30s
notify_grace = 0s
state = {self.state}

[serve]
spool = {self.spool}

[locate]
plugin = locate-file
dir = {self.spool}/recordings
settle = 0s
wait = 1s

[notify]
plugin = notify-file
dir = {out or self.out}
""")
        os.chmod(path, 0o644)
        return path

    def serve(self, ini=None):
        return Serve(ini or self.pipeline(), self.spool, prefix=as_user(self.users, "serve"), wrapper=False)

    def ls(self, sub):
        return sorted(os.listdir(os.path.join(self.spool, sub)))

    def everything(self):
        """Every byte under the spool, the state and the mails (as root)."""
        blobs = []
        for top in (self.spool, self.lib, self.out):
            for d, _dirs, files in os.walk(top):
                for f in files:
                    p = os.path.join(d, f)
                    if os.path.isfile(p) and not os.path.islink(p):
                        with open(p, "rb") as fh:
                            blobs.append((p, fh.read()))
        return blobs

    def leaked(self):
        return [p for p, b in self.everything() if self.secret_text.encode() in b]

    def remove(self):
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def host(users):
    h = Host(users)
    yield h
    h.remove()


def sendmail(host, mail, ini, role="pbx"):
    return run_as(host.users, role, [VMPIPE, "sendmail", "-c", ini, "-t"], input=mail)


def drop_event(host, role, name, text):
    """Drop an event the Maildir way as `role`."""
    attack_script = """
import os, sys
spool, name, text = sys.argv[1:4]
tmp = os.path.join(spool, "tmp", name)
with open(tmp, "w") as f:
    f.write(text)
os.chmod(tmp, 0o640)
os.rename(tmp, os.path.join(spool, "new", name))
"""
    r = run_as(host.users, role, [PYTHON, "-c", attack_script, host.spool, name, text])
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------- the two users


def test_serve_first_then_the_pbx_hands_over(host):
    srv = host.serve().ready()
    try:
        p = sendmail(host, asterisk_mail(wav_bytes()), host.pipeline())
        assert p.returncode == 0, p.stderr
        assert "the mail is dropped as" in p.stderr
        wait_until("the mail", lambda: os.path.exists(os.path.join(host.out, f"{AST_ID}.eml")))
        [rec] = host.ls("recordings")
        st = os.stat(os.path.join(host.spool, "recordings", rec))
        assert st.st_uid == host.users["serve"][1] and st.st_mode & 0o777 == 0o600
        # Nothing of the PBX's past the drop: the state is serve's alone.
        for d, _dirs, files in os.walk(host.lib):
            for f in files:
                assert os.stat(os.path.join(d, f)).st_uid == host.users["serve"][1], f
    finally:
        assert srv.stop() == 0


def test_sendmail_first_inline_then_a_failed_one_retried_by_serve(host):
    # Before serve ever ran: the PBX runs the job itself, without touching
    # the state, recordings/ or serve.lock.
    p = sendmail(host, asterisk_mail(wav_bytes()), host.pipeline())
    assert p.returncode == 0, p.stderr
    assert "without checkpoints" in p.stderr
    assert os.path.exists(os.path.join(host.out, f"{AST_ID}.eml"))
    assert host.ls("recordings") == [] and os.listdir(host.state) == []
    assert not os.path.exists(os.path.join(host.spool, "serve.lock"))
    # An inline run that cannot tell the owner (the outbox is serve's alone):
    # the mail is left in the drop for serve.
    # (the PBX's notifier refuses for good: its mail server said no).
    plugins = os.path.join(host.root, "plugins")
    os.mkdir(plugins, 0o755)
    for src in (PLUGIN_DIR, TEST_PLUGIN_DIR):
        for so in os.listdir(src):
            os.symlink(os.path.join(src, so), os.path.join(plugins, so))
    failing = host.pipeline(name="failing.ini")
    with open(failing) as f:
        text = f.read().replace(f"plugin_dir = {PLUGIN_DIR}", f"plugin_dir = {plugins}")
    text = text[:text.index("[notify]")] + ("[notify]\nplugin = test-flaky\nmode = permanent\n"
                                            "times = -1\nmessage = mailbox unavailable\n")
    with open(failing, "w") as f:
        f.write(text)
    other = asterisk_mail(wav_bytes()).replace("Asterisk-1-1804289383", "Asterisk-2-1804289383")
    p = sendmail(host, other, failing)
    assert p.returncode == 69, p.stderr
    assert "owner not notified: the mail is dropped as" in p.stderr
    assert len(host.ls("new")) == 1 and os.listdir(host.state) == []
    srv = host.serve().ready()
    try:
        wait_until("the mail from serve",
                   lambda: os.path.exists(os.path.join(host.out, "Asterisk-2-1804289383-1234-4242_pbx"
                                                                 ".example.com.eml")))
        assert not srv.saw("cannot be read")
        assert host.ls("new") == []
    finally:
        assert srv.stop() == 0


def test_serve_refuses_a_layout_others_may_write(host):
    ini = host.pipeline()
    os.chmod(host.spool, 0o2770)  # the old docs/pbx.md
    srv = host.serve(ini)
    assert srv.wait_exit() == 78
    assert srv.saw("is writable by its group") and srv.saw("refused")
    os.chmod(host.spool, 0o750)
    os.chmod(host.state, 0o2770)
    srv = host.serve(ini)
    assert srv.wait_exit() == 78
    assert srv.saw(f"{host.state} must be a directory of this user")
    os.chmod(host.state, 0o700)
    os.chown(host.spool, host.users["pbx"][1], -1)
    srv = host.serve(ini)
    assert srv.wait_exit() == 78
    assert srv.saw("not by this user")
    os.chown(host.spool, host.users["serve"][1], -1)
    os.chmod(host.spool, 0o757)
    srv = host.serve(ini)
    assert srv.wait_exit() == 78
    assert srv.saw("writable by everyone")


# ------------------------------------------------------------- the attacks

RACE = r"""
import ctypes, os, sys
spool, target, rounds, flips = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
done = 0
for i in range(rounds):
    name = f"race{os.getpid()}x{i}"
    tmp, new = os.path.join(spool, "tmp", name), os.path.join(spool, "new", name)
    link = tmp + ".l"  # beside, in tmp/: serve does not watch it
    with open(tmp, "w") as f:
        f.write('{"not": "an event"}')
    os.chmod(tmp, 0o640)
    os.symlink(target, link)
    os.rename(tmp, new)
    # new/NAME flips between the file and a link to serve's secret while
    # serve looks at it (until serve has moved it away).
    for _ in range(flips):
        if libc.renameat2(AT_FDCWD, new.encode(), AT_FDCWD, link.encode(), RENAME_EXCHANGE) != 0:
            break
        done += 1
print(done)
"""


def test_swapping_a_drop_for_a_link_reads_nothing(host):
    """Item 1: a drop exchanged for a symlink (renameat2 RENAME_EXCHANGE)
    between serve's check and its read."""
    srv = host.serve().ready()
    try:
        flips = int(attack(host.users, RACE, host.spool, host.secret, 200, 20000))
        print(f"exchanges done: {flips}")
        wait_until("the drop emptied", lambda: host.ls("new") == [])
        srv.wait_log("rejected", 1)
        assert host.leaked() == []
        assert srv.proc.poll() is None
    finally:
        assert srv.stop() == 0
    assert host.leaked() == []


def test_the_state_is_out_of_reach_and_a_checkpoint_no_authority(host):
    """Item 2: planting a checkpoint.  The attacker cannot write the state
    directory; a checkpoint that names a file outside recordings/ (as one
    planted under the old layout would) is located again, and refused."""
    out = attack(host.users, """
import sys
try:
    open(sys.argv[1] + "/x.json", "w")
    print("wrote")
except PermissionError:
    print("refused")
""", host.state)
    assert out.strip() == "refused"
    jid = "planted-1"
    with open(os.path.join(host.state, f"{jid}.json"), "w") as f:
        json.dump({"id": jid, "state": "pending", "stages": {"locate": "done"},
                   "recording": {"uri": "file://" + host.secret},
                   "recipient": {"email": "attacker@example.net"}}, f)
    os.chown(os.path.join(host.state, f"{jid}.json"), host.users["serve"][1], -1)
    srv = host.serve().ready()
    try:
        drop_event(host, "evil", "planted", json.dumps({"id": jid}))
        srv.wait_log("resumed from its checkpoint")
        srv.wait_log("resolves outside")
        srv.wait_log("(exit ")
        assert host.leaked() == []
    finally:
        assert srv.stop() == 0


def test_fifos_and_the_lock_do_not_stop_serve(host):
    """Item 3: a FIFO in new/ and cur/ (one there before start), serve.lock."""
    attack(host.users, "import os, sys; os.mkfifo(sys.argv[1] + '/new/fifo1')", host.spool)
    os.mkfifo(os.path.join(host.spool, "cur", "fifo0"))
    srv = host.serve().ready()
    try:
        out = attack(host.users, """
import fcntl, os, sys
os.mkfifo(sys.argv[1] + "/new/fifo2")
try:
    fd = os.open(sys.argv[1] + "/serve.lock", os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    print("locked")
except PermissionError:
    print("refused")
""", host.spool)
        assert out.strip() == "refused"
        wait_until("the FIFOs quarantined",
                   lambda: len([n for n in host.ls("rejected") if n.endswith(".why")]) == 3)
        whys = [open(os.path.join(host.spool, "rejected", n)).read()
                for n in host.ls("rejected") if n.endswith(".why")]
        assert all("a FIFO: refused" in w for w in whys), whys
        # And it still works: a real voicemail from the PBX.
        p = sendmail(host, asterisk_mail(wav_bytes()), host.pipeline())
        assert p.returncode == 0, p.stderr
        wait_until("the mail", lambda: os.path.exists(os.path.join(host.out, f"{AST_ID}.eml")))
    finally:
        assert srv.stop() == 0  # SIGTERM answered


LEFTOVERS = r"""
import os, socket, sys
spool = sys.argv[1]
new = os.path.join(spool, "new")
os.symlink("/etc/passwd", os.path.join(new, "link"))
s = socket.socket(socket.AF_UNIX)
s.bind(os.path.join(new, "sock"))
s.close()
for name, mode in (("unreadable", 0o600), (".hidden", 0o640)):
    with open(os.path.join(spool, "tmp", name), "w") as f:
        f.write('{"id": "x-%s"}' % name.strip("."))
    os.chmod(os.path.join(spool, "tmp", name), mode)
    os.rename(os.path.join(spool, "tmp", name), os.path.join(new, name))
with open(os.path.join(spool, "tmp", "twice"), "w") as f:
    f.write('{"id": "x-twice"}')
os.chmod(os.path.join(spool, "tmp", "twice"), 0o640)
os.link(os.path.join(spool, "tmp", "twice"), os.path.join(new, "twice"))  # tmp/twice stays
os.mkdir(os.path.join(new, "dir"))
with open(os.path.join(spool, "tmp", "retry"), "w") as f:
    f.write('{"vmpipe_retry": "some-job"}')
os.chmod(os.path.join(spool, "tmp", "retry"), 0o640)
os.rename(os.path.join(spool, "tmp", "retry"), os.path.join(new, "retry"))
"""


def test_nothing_is_left_unseen(host):
    """Item 5: every entry is taken, or quarantined with a .why, in one scan,
    and logged once; a long Maildir name is an ordinary event."""
    srv = host.serve().ready()
    try:
        # Before anything else arrives: hard links only count while both exist.
        os.makedirs(os.path.join(host.root, "rec"), exist_ok=True)
        attack(host.users, LEFTOVERS, host.spool)
        long = "1733590000.M123456P12345Q1.pbx-01.voice.example-company.internal"
        assert len(long) >= 64
        ev = json.dumps({"id": "long-name", "recipient": {"email": "owner@example.com"}})
        drop_event(host, "pbx", long, ev)
        wait_until("the drop emptied", lambda: host.ls("new") == [])

        def whys():
            return {open(os.path.join(host.spool, "rejected", n)).read().split(":", 1)[0]: n
                    for n in host.ls("rejected") if n.endswith(".why")}
        wanted = {f"new/{n}" for n in ("link", "sock", "unreadable", "twice", "dir")}
        wait_until(f"a .why for each of {wanted}", lambda: wanted <= set(whys()))
        text = {k: open(os.path.join(host.spool, "rejected", v)).read() for k, v in whys().items()}
        assert "a symbolic link: refused" in text["new/link"]
        assert "a socket: refused" in text["new/sock"]
        assert "serve may not read it" in text["new/unreadable"]
        assert "2 hard links" in text["new/twice"]
        assert "a directory: refused" in text["new/dir"]
        srv.wait_log("a retry request from uid")  # rejected as retry (kept with its bytes)
        # A dot-file and a long Maildir name are events like any other: taken.
        srv.wait_log("(exit ", 2)
        assert srv.saw("x-hidden") or any(e.get("job") == "x-hidden" for e in srv.logs())
        assert any(e.get("job") == "long-name" for e in srv.logs())
        for what in ("new/link", "new/sock", "new/dir"):
            assert sum(what in e.get("msg", "") for e in srv.logs()) == 1
    finally:
        assert srv.stop() == 0


def test_a_retry_of_an_unknown_id_leaves_no_lock(host):
    srv = host.serve().ready()
    try:
        # `vmpipe retry` refuses an unknown id itself; a request dropped by
        # hand (as the serve user, who may ask) reaches serve's claim.
        drop_event(host, "serve", "retry-unknown", json.dumps({"vmpipe_retry": "no-such-job"}))
        srv.wait_log("retry: no job no-such-job in")
        assert os.listdir(host.state) == []
    finally:
        assert srv.stop() == 0


def test_a_bad_event_from_the_group_is_kept_by_serve(host):
    """`vmpipe enqueue` as the PBX: rejected/ is serve's, so the bad event is
    dropped, and serve keeps it there with its reason."""
    ev = os.path.join(host.root, "bad.json")
    with open(ev, "w") as f:
        f.write('{"not": "an event"}')
    os.chmod(ev, 0o644)
    r = run_as(host.users, "pbx", [VMPIPE, "enqueue", "--spool", host.spool, ev])
    assert r.returncode == 65, r.stderr
    assert "dropped for vmpipe serve in" in r.stderr
    srv = host.serve().ready()
    try:
        wait_until("the rejection", lambda: host.ls("new") == [] and
                   any(n.endswith(".why") for n in host.ls("rejected")))
        [why] = [n for n in host.ls("rejected") if n.endswith(".why")]
        assert "unrecognised event" in open(os.path.join(host.spool, "rejected", why)).read()
    finally:
        assert srv.stop() == 0

