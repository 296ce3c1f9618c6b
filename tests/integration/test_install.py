"""make install + an out-of-tree plugin built against the installed headers.

Installs into a temporary prefix from the build under test (its objects are
shared: nothing is compiled again; `make` runs under a lock so test processes
side by side never make the same file at once), builds examples/notify-webhook from a copy outside
the source tree with nothing but PKG_CONFIG_PATH, drops the .so into the
installed plugin directory and runs a pipeline where [notify] (notify-file)
and two [notify.*] webhook stages all fire.  The webhook target is a small
http.server on 127.0.0.1 that records every POST.
"""
import http.server
import json
import os
import shutil
import subprocess
import threading

import pytest

from conftest import BUILD, ROOT, connect_event, make_lock, write
from test_smtp import wav_bytes

pytestmark = pytest.mark.slow  # a whole separate build; skipped in the sanitizer pass

CONTACT = "aaaabbbb-cccc-dddd-eeee-ffff00001111"


def make(*args):
    """make in the tree on the build under test (VMPIPE_BUILD), one at a time
    across test processes."""
    with make_lock():
        return subprocess.run(["make", "-s", f"BUILD={os.path.relpath(BUILD, ROOT)}", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("install")
    prefix = tmp / "prefix"
    r = make("install", f"PREFIX={prefix}")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for f in ["bin/vmpipe", "include/vmpipe/plugin.h", "include/vmpipe/vmpipe.h",
              "lib/pkgconfig/vmpipe.pc", "lib/vmpipe/plugins/notify-file.so",
              "lib/vmpipe/plugins/locate-file.so", "share/vmpipe/templates/voicemail.txt",
              "lib/sysusers.d/vmpipe.conf", "lib/tmpfiles.d/vmpipe.conf"]:
        assert (prefix / f).exists(), f

    # The systemd unit points at the installed binary and passes systemd's own check.
    unit = prefix / "lib" / "systemd" / "system" / "vmpipe.service"
    text = unit.read_text()
    assert f"ExecStart={prefix}/bin/vmpipe serve -c /etc/vmpipe/pipeline.ini" in text
    assert "Type=notify" in text and "@PREFIX@" not in text
    if shutil.which("systemd-analyze"):
        r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    assert (prefix / "share" / "doc" / "vmpipe" / "serve.md").exists()

    # The example, copied away from the tree: only the installed vmpipe is visible.
    src = tmp / "notify-webhook"
    shutil.copytree(os.path.join(ROOT, "examples", "notify-webhook"), src,
                    ignore=shutil.ignore_patterns("*.so", "*.o"))
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))
    r = subprocess.run(["make"], cwd=src, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"-I{prefix}/include" in r.stdout
    assert os.path.join(ROOT, "include") not in r.stdout
    plugins = prefix / "lib" / "vmpipe" / "plugins"
    shutil.copy(src / "notify-webhook.so", plugins)
    return prefix


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        srv = self.server
        with srv.lock:
            srv.posts.append((self.path, dict(self.headers), body))
            code = srv.replies.pop(0) if srv.replies else 200
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


@pytest.fixture
def hook():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    srv.posts, srv.replies, srv.lock = [], [], threading.Lock()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def pipeline(tmp, hook, extra=""):
    rec = tmp / "rec"
    rec.mkdir(exist_ok=True)
    (rec / f"{CONTACT}.wav").write_bytes(wav_bytes())
    url = f"http://127.0.0.1:{hook.server_address[1]}"
    return write(tmp / "pipeline.ini", f"""[pipeline]
timeout = 1m
retry_base = 1s

[locate]
plugin = locate-file
dir = {rec}
pattern = {{initial_contact_id}}.wav

[notify]
plugin = notify-file
dir = {tmp / "outbox"}

[notify.webhook]
plugin = notify-webhook
url = {url}/record

[notify.chat]
plugin = notify-webhook
url = {url}/chat
format = text
text = Voicemail from {{contact.caller}} for {{recipient.name}}
header = Authorization: Bearer ${{HOOK_TOKEN}}
{extra}
""")


def run_installed(prefix, *args, env=None):
    e = dict(os.environ, VMPIPE_LOG_FORMAT="text", VMPIPE_CLOCK="fake", HOOK_TOKEN="t0k3n")
    e.update(env or {})
    return subprocess.run([str(prefix / "bin" / "vmpipe"), *map(str, args)], capture_output=True,
                          text=True, env=e, timeout=120)


def test_installed_plugins_are_listed(installed):
    r = run_installed(installed, "plugins")
    assert r.returncode == 0, r.stderr
    assert f"plugins in {installed}/bin/../lib/vmpipe/plugins" in r.stdout
    for name in ["notify-webhook (notify)", "notify-file (notify)", "locate-file (locate)"]:
        assert name in r.stdout
    assert "Slack/Teams" in r.stdout


def test_notify_file_and_webhooks_all_fire(installed, hook, tmp_path):
    p = pipeline(tmp_path, hook)
    r = run_installed(installed, "check", "-c", p)
    assert r.returncode == 0, r.stderr
    assert "[notify.webhook] notify-webhook" in r.stdout
    ev = write(tmp_path / "ev.json", json.dumps(connect_event(contact_id=CONTACT)))
    r = run_installed(installed, "run", "-c", p, ev)
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    assert [(n["stage"], n["transport"]) for n in rec["notifications"]] == [
        ("notify", "file"), ("notify.webhook", "webhook"), ("notify.chat", "webhook")]
    assert (tmp_path / "outbox" / f"{CONTACT}.eml").exists()

    assert [p[0] for p in hook.posts] == ["/record", "/chat"]
    posted = json.loads(hook.posts[0][2])
    assert posted["id"] == CONTACT
    assert posted["contact"]["caller"] == "+15555550123"
    assert posted["notifications"][0]["transport"] == "file"  # [notify] ran first
    chat = json.loads(hook.posts[1][2])
    assert chat == {"text": "Voicemail from +15555550123 for Pat Owner"}
    assert hook.posts[1][1]["Authorization"] == "Bearer t0k3n"
    assert "t0k3n" not in r.stderr


def test_webhook_retries_5xx_and_fails_on_4xx(installed, hook, tmp_path):
    p = pipeline(tmp_path, hook)
    ev = write(tmp_path / "ev.json", json.dumps(connect_event(contact_id=CONTACT)))
    hook.replies = [503]
    r = run_installed(installed, "run", "-c", p, ev)
    assert r.returncode == 0, r.stderr
    assert [p[0] for p in hook.posts] == ["/record", "/record", "/chat"]
    assert "HTTP 503" in json.loads(r.stdout)["errors"][0]["message"]

    hook.posts.clear()
    hook.replies = [404]
    shutil.rmtree(tmp_path / "outbox")
    r = run_installed(installed, "run", "-c", p, ev)
    assert r.returncode == 69, r.stderr
    assert "HTTP 404" in r.stderr
    assert [p[0] for p in hook.posts] == ["/record", "/chat"]  # the others still run


def test_installed_vmpipe_sendmail_name(installed):
    """make install links vmpipe-sendmail to vmpipe; started by that name it is `vmpipe sendmail`."""
    link = installed / "bin" / "vmpipe-sendmail"
    assert link.is_symlink() and os.readlink(link) == "vmpipe"
    r = subprocess.run([str(link), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: vmpipe sendmail")
    r = subprocess.run([str(link), "-bs"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 64 and "mode '-bs' is not supported" in r.stderr


def test_installed_default_pipeline(installed, tmp_path):
    """`make install` brings the default pipeline and its sample: the installed
    vmpipe runs without -c (the pipeline is PREFIX/share/vmpipe/local.ini) and
    mails the sample with the recording attached."""
    import email
    import email.policy
    if os.path.exists("/etc/vmpipe/pipeline.ini"):
        pytest.skip("/etc/vmpipe/pipeline.ini comes first here")
    share = installed / "share" / "vmpipe"
    with open(share / "local.ini") as f:
        assert "../" not in f.read()  # nothing points back into the source tree
    e = {k: v for k, v in os.environ.items() if k != "VMPIPE_PIPELINE"}
    e.update(VMPIPE_LOG_FORMAT="text", VMPIPE_CLOCK="fake", VMPIPE_OUTBOX=str(tmp_path / "out"))
    (tmp_path / "out").mkdir()  # the installed default creates no outbox (below)
    r = subprocess.run([str(installed / "bin" / "vmpipe"), "run",
                        str(share / "samples" / "connect-event.json")],
                       env=e, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"pipeline {share}/local.ini (no -c given)" in r.stderr, r.stderr
    rec = json.loads(r.stdout)
    assert rec["recording"]["uri"].startswith(f"file://{share}/samples/recordings/"), rec
    with open(tmp_path / "out" / f"{rec['id']}.eml", "rb") as f:
        msg = email.message_from_bytes(f.read(), policy=email.policy.default)
    assert [a.get_content_type() for a in msg.iter_attachments()] == ["audio/wav"]


@pytest.mark.skipif(os.path.exists("/var/spool/vmpipe/outbox") or os.path.exists("/etc/vmpipe/pipeline.ini"),
                    reason="/var/spool/vmpipe/outbox exists here, or /etc/vmpipe/pipeline.ini comes first")
def test_installed_default_creates_no_outbox(installed, tmp_path):
    """The demo of the installed default, as whoever runs it (root in CI),
    does not make /var/spool/vmpipe/outbox: it says what to do instead."""
    share = installed / "share" / "vmpipe"
    e = {k: v for k, v in os.environ.items() if k not in ("VMPIPE_PIPELINE", "VMPIPE_OUTBOX")}
    e.update(VMPIPE_LOG_FORMAT="text", VMPIPE_CLOCK="fake")
    for cmd in (["check"], ["run", str(share / "samples" / "connect-event.json")]):
        r = subprocess.run([str(installed / "bin" / "vmpipe"), *cmd], env=e, capture_output=True, text=True,
                           timeout=300, cwd=tmp_path)
        assert r.returncode == 78, r
        assert "/var/spool/vmpipe/outbox is not a directory, and 'create' is off" in r.stderr, r.stderr
    assert not os.path.exists("/var/spool/vmpipe/outbox")


def test_man_pages_completion_and_examples(installed, tmp_path):
    man = installed / "share" / "man"
    for page in ["man1/vmpipe.1", "man5/vmpipe-pipeline.5", "man7/vmpipe-plugin.7", "man8/vmpipe-sendmail.8"]:
        text = (man / page).read_text()
        name, sec = page.split("/")[1].rsplit(".", 1)
        assert f'.TH "{name}" "{sec}"' in text, text[:300]
        assert ".SH" in text and "NAME" in text
    if shutil.which("man"):
        e = dict(os.environ, MANPATH=str(man), MANWIDTH="80", MAN_KEEP_FORMATTING="0")
        import re

        def page(*args):
            r = subprocess.run(["man", *args], env=e, capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            return " ".join(re.sub(".\x08", "", r.stdout).split())  # overstrike and filling undone
        assert "vmpipe - voicemail pipeline engine" in page("vmpipe")
        assert "a PBX’s mail command" in page("8", "vmpipe-sendmail")
    assert (installed / "share" / "bash-completion" / "completions" / "vmpipe").exists()
    ex = installed / "share" / "doc" / "vmpipe" / "examples"
    assert sorted(os.listdir(ex)) == ["asterisk.ini", "pipeline.ini", "whisper.ini"]
    assert (installed / "lib" / "sysusers.d" / "vmpipe.conf").exists()
    assert (installed / "lib" / "tmpfiles.d" / "vmpipe.conf").exists()


def test_uninstall_removes_what_install_put(installed, tmp_path):
    """make install then make uninstall (same DESTDIR and PREFIX) into an
    empty root: only empty directories are left."""
    root = tmp_path / "root"
    for target in ("install", "uninstall"):
        r = make(target, "PREFIX=/usr", f"DESTDIR={root}")
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    left = [os.path.join(d, f) for d, _, files in os.walk(root) for f in files]
    left += [os.path.join(d, x) for d, dirs, _ in os.walk(root) for x in dirs
             if os.path.islink(os.path.join(d, x))]
    assert left == [], left
