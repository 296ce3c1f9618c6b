"""`make deb`: the Debian package builds (lintian clean but for the tags
debian/vmpipe.lintian-overrides explains), installs with dpkg -i, works
(vmpipe check on an installed example pipeline, man pages, the user and
directories of sysusers.d/tmpfiles.d, conffiles), and purges.  Needs root and
dpkg-buildpackage; it changes the system while it runs and puts back what it
changed (the user, group and directories the package made)."""
import grp
import os
import re
import pwd
import shutil
import stat
import subprocess

import pytest

from conftest import ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="dpkg -i needs root"),
    pytest.mark.skipif(not shutil.which("dpkg-buildpackage"), reason="no dpkg-buildpackage (dpkg-dev)"),
]


def installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", pkg], capture_output=True, text=True)
    return "install ok installed" in r.stdout


def exists_user(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def exists_group(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def test_deb_builds_installs_checks_and_purges(tmp_path):
    if installed("vmpipe") or os.path.exists("/usr/bin/vmpipe") or os.path.exists("/etc/vmpipe"):
        pytest.skip("a vmpipe is installed here already: not ours to replace")
    out = tmp_path / "deb"
    r = subprocess.run(["make", "-s", "deb", f"DEB_OUT={out}"], cwd=ROOT, capture_output=True, text=True,
                       timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    debs = sorted(out.glob("vmpipe_*.deb"))
    assert len(debs) == 1, debs
    before = {"user": exists_user("vmpipe"), "group": exists_group("vmpipe"),
              "spool": os.path.exists("/var/spool/vmpipe"), "lib": os.path.exists("/var/lib/vmpipe")}
    try:
        r = subprocess.run(["dpkg", "-i", str(debs[0])], capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        assert r.returncode == 0, r.stdout + r.stderr
        v = subprocess.run(["/usr/bin/vmpipe", "--version"], capture_output=True, text=True)
        assert v.returncode == 0 and v.stdout.startswith("vmpipe "), v
        assert os.readlink("/usr/bin/vmpipe-sendmail") == "vmpipe"
        conf = subprocess.run(["dpkg-query", "-W", "-f", "${Conffiles}", "vmpipe"], capture_output=True,
                              text=True).stdout
        assert "/etc/vmpipe/asterisk.ini" in conf and "/etc/vmpipe/whisper.ini" in conf, conf
        assert exists_user("vmpipe") and exists_group("vmpipe")
        # The layout of deploy/vmpipe.tmpfiles (docs/serve.md, "Who writes what").
        for d, mode in (("/var/spool/vmpipe", 0o750), ("/var/spool/vmpipe/new", 0o3730),
                        ("/var/spool/vmpipe/tmp", 0o3730), ("/var/spool/vmpipe/cur", 0o700),
                        ("/var/spool/vmpipe/recordings", 0o700), ("/var/spool/vmpipe/rejected", 0o700),
                        ("/var/lib/vmpipe", 0o700), ("/var/lib/vmpipe/jobs", 0o700)):
            st = os.stat(d)
            assert stat.S_IMODE(st.st_mode) == mode and pwd.getpwuid(st.st_uid).pw_name == "vmpipe", d
        # The recording links' key, made at install (docs/serve.md), the serve user's alone.
        st = os.stat("/var/lib/vmpipe/link.key")
        assert stat.S_IMODE(st.st_mode) == 0o600 and pwd.getpwuid(st.st_uid).pw_name == "vmpipe"
        with open("/var/lib/vmpipe/link.key") as f:
            assert re.fullmatch(r"[0-9a-f]{64}\n", f.read())
        if shutil.which("man"):
            m = subprocess.run(["man", "-w", "vmpipe-sendmail"], capture_output=True, text=True)
            assert m.stdout.strip() == "/usr/share/man/man8/vmpipe-sendmail.8.gz", m
        assert os.path.exists("/usr/share/bash-completion/completions/vmpipe")
        pc = subprocess.run(["pkg-config", "--cflags", "vmpipe"], capture_output=True, text=True)
        assert pc.returncode == 0, pc.stderr
        # The installed example for a PBX, on a spool of our own.
        spool = tmp_path / "spool"
        (spool / "recordings").mkdir(parents=True)
        env = dict(os.environ, VMPIPE_SPOOL=str(spool), VMPIPE_STATE=str(tmp_path / "state"),
                   VMPIPE_LOG_FORMAT="text")
        c = subprocess.run(["/usr/bin/vmpipe", "check", "-c", "/etc/vmpipe/asterisk.ini"], env=env,
                           capture_output=True, text=True, timeout=120)
        assert c.returncode == 0, c.stdout + c.stderr
        assert "[transcribe] transcribe-sphinx" in c.stdout
        assert "plugins from /usr/bin/../lib/vmpipe/plugins" in c.stdout, c.stdout
        assert not (tmp_path / "state").exists()  # check creates nothing
    finally:
        p = subprocess.run(["dpkg", "--purge", "vmpipe"], capture_output=True, text=True, timeout=600)
        if not before["user"] and exists_user("vmpipe"):
            subprocess.run(["userdel", "vmpipe"], check=False)
        if not before["group"] and exists_group("vmpipe"):
            subprocess.run(["groupdel", "vmpipe"], check=False)
        for key, d in (("spool", "/var/spool/vmpipe"), ("lib", "/var/lib/vmpipe")):
            if not before[key] and os.path.isdir(d):
                shutil.rmtree(d)
    assert p.returncode == 0, p.stdout + p.stderr
    assert not installed("vmpipe")
    assert not os.path.exists("/usr/bin/vmpipe") and not os.path.exists("/etc/vmpipe")
