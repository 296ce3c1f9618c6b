"""Postfix as the intake: a pipe(8) transport into `vmpipe sendmail --mta` (docs/pbx.md).

A real Postfix (Debian's postfix package) runs from a throw-away configuration
directory on a loopback port, in the foreground (`postfix start-fg`), logging to
a file this test reads.  Mails built as Asterisk writes them (pbxsrc.py) go in
over SMTP; what Postfix does with vmpipe's exit status is read from its log:
0 delivered, 75 deferred (Postfix retries; vmpipe keeps no copy), 65 bounced
with vmpipe's error first in the bounce text.
"""
import os
import pwd
import shutil
import smtplib
import subprocess
import tempfile
import time

import pytest

from conftest import PLUGIN_DIR, VMPIPE
from pbxsrc import asterisk_voicemail
from serve_helpers import free_port
from test_pbx import gsm_wav

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"

pytestmark = [
    pytest.mark.skipif(not os.path.exists(POSTFIX), reason="postfix is not installed (scripts/deps.sh TEST_PKGS)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="Postfix's master runs as root"),
]

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       -       0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
vmpipe    unix  -       n       n       -       -       pipe
  flags=Rq user=nobody argv={vmpipe} sendmail --mta -q -c {ini} -t -f ${{sender}} -- ${{recipient}}
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.test
myorigin = mx.test
mydestination =
relay_domains = vm.test
transport_maps = inline:{{ vm.test=vmpipe: }}
vmpipe_destination_recipient_limit = 1
maillog_file = /dev/stdout
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
default_transport = error:no outbound mail in this test
relay_transport = error:no outbound mail in this test
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
"""


class Postfix:
    def __init__(self, ini_text):
        # Postfix's pipe runs vmpipe as `nobody`: a directory it can reach (pytest's are 0700).
        self.dir = tempfile.mkdtemp(prefix="vmpipe-postfix-")
        os.chmod(self.dir, 0o755)
        self.spool = os.path.join(self.dir, "spool")
        self.out = os.path.join(self.dir, "out")
        # ... and owns the spool, as docs/pbx.md says of pipe(8)'s user= (a
        # user who does not may only drop into it, for `vmpipe serve`).
        nobody = pwd.getpwnam("nobody").pw_uid
        for d in (self.spool, os.path.join(self.spool, "recordings"), self.out, os.path.join(self.dir, "jobs")):
            os.makedirs(d)
            os.chmod(d, 0o777)
            os.chown(d, nobody, -1)
        self.ini = os.path.join(self.dir, "pbx.ini")
        with open(self.ini, "w") as f:
            f.write(ini_text.format(d=self.dir, plugins=PLUGIN_DIR))
        os.chmod(self.ini, 0o644)
        self.conf = os.path.join(self.dir, "conf")
        os.makedirs(self.conf)
        os.makedirs(os.path.join(self.dir, "data"))
        os.chown(os.path.join(self.dir, "data"), pwd.getpwnam("postfix").pw_uid, -1)
        os.makedirs(os.path.join(self.dir, "queue"))
        self.port = free_port()
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(d=self.dir))
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port=self.port, vmpipe=VMPIPE, ini=self.ini))
        self.log = os.path.join(self.dir, "maillog")
        self.proc = None

    def start(self):
        subprocess.run([POSTFIX, "-c", self.conf, "check"], check=True, capture_output=True, timeout=60)
        self.logf = open(self.log, "wb")
        self.proc = subprocess.Popen([POSTFIX, "-c", self.conf, "start-fg"], stdout=self.logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while "daemon started" not in self.text():
            assert time.monotonic() < deadline, self.text()
            time.sleep(0.1)
        return self

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def send(self, mail, rcpt="1234@vm.test"):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail("pbx@pbx.example.com", [rcpt], mail)

    def wait_for(self, what, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            lines = [ln for ln in self.text().splitlines() if "postfix/pipe" in ln and what in ln]
            if lines:
                return lines
            assert time.monotonic() < deadline, f"no pipe line with {what!r}:\n{self.text()}"
            time.sleep(0.2)

    def files(self, sub):
        d = os.path.join(self.spool, sub)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def stop(self):
        if self.proc:
            subprocess.run([POSTFIX, "-c", self.conf, "stop"], capture_output=True, timeout=60)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
            self.logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)


INI = """\
[pipeline]
plugin_dir = {plugins}
timeout = {timeout}
notify_grace = 1s
retry_cap = 1s
state = {d}/jobs
log_format = text

[serve]
spool = {d}/spool

[locate]
plugin = locate-file
dir = {d}/spool/recordings
settle = 0s
wait = 1s

[notify]
{notify}
"""


def pipeline(notify, timeout="30s"):
    return INI.replace("{notify}", notify).replace("{timeout}", timeout)


@pytest.fixture
def postfix_with():
    started = []

    def make(ini_text):
        pf = Postfix(ini_text)
        started.append(pf)
        return pf.start()
    yield make
    for pf in started:
        pf.stop()


def test_delivered_through_pipe(postfix_with, tmp_path):
    pf = postfix_with(pipeline("plugin = notify-file\ndir = {d}/out\n"))
    pf.send(asterisk_voicemail(gsm_wav(tmp_path)))
    [line] = pf.wait_for("status=")
    assert "status=sent (delivered via vmpipe service)" in line, pf.text()
    emls = [n for n in os.listdir(pf.out) if n.endswith(".eml")]
    assert emls == ["Asterisk-1-1804289383-1234-4242_pbx.example.com.eml"]
    assert pf.files("new") == []


def test_temporary_failure_is_deferred_and_leaves_no_copy(postfix_with, tmp_path):
    # Nobody listens on port 1: the owner cannot be told in time -> 75.
    pf = postfix_with(pipeline("plugin = notify-smtp\nurl = smtp://127.0.0.1:1\ntls = none\n"
                               "from = vm@pbx.example.com\n", timeout="2s"))
    pf.send(asterisk_voicemail(gsm_wav(tmp_path)))
    [line, *_] = pf.wait_for("status=deferred")
    assert "status=deferred" in line
    # Postfix holds the mail and will deliver it again: vmpipe kept nothing.
    assert pf.files("new") == [] and pf.files("recordings") == []


def test_refused_mail_bounces_with_the_error_first(postfix_with, tmp_path):
    pf = postfix_with(pipeline("plugin = notify-file\ndir = {d}/out\n"))
    pf.send(asterisk_voicemail(gsm_wav(tmp_path), cidnum="5" * 200))
    [line] = pf.wait_for("status=bounced")
    # 65 is EX_DATAERR: Postfix bounces with vmpipe's standard error as the reason, the error first.
    assert ("status=bounced (data format error. Command output: vmpipe: error [sendmail]: refused: "
            "the caller id is 200 bytes; at most 128") in line, line
    assert " info " not in line
    assert pf.files("new") == [] and pf.files("recordings") == []
