"""Recording links on a host (issue 19): `vmpipe serve`'s listen pages.

A voicemail goes through the pipeline; the link is taken out of the mail it
wrote and opened over HTTP: the page, the recording with HEAD, Range and
If-None-Match, and every way a link can be wrong.  Links made here are made
from link.h's description with Python's own HMAC, so the format is checked
from outside too.
"""
import os
import pathlib
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
import threading
import time
import urllib.parse

import pytest

from cdp import CHROMIUM, Browser
from listen_helpers import TRANSCRIPT, Listen, fetch, link_in, ulaw_wav, wav
from serve_helpers import wait_until

CID = "5e7e0000-0000-4000-8000-00000000a001"


@pytest.fixture
def listen(tmp_path, plugdir):
    ls = Listen(tmp_path, plugdir).start()
    try:
        yield ls
    finally:
        rc = ls.stop()
    assert rc == 0, ls.srv.text()[-3000:]  # a clean stop (and, under valgrind, no error)


def audio_of(page_html):
    m = re.search(r'<audio controls preload="metadata" src="([^"]+)"', page_html)
    assert m, page_html
    return m.group(1).replace("&amp;", "&")


@pytest.mark.valgrind
def test_the_mail_links_to_a_page_that_plays_the_recording(listen):
    # serve made the key at first start, for its own user only.
    assert stat.S_IMODE(os.stat(listen.key).st_mode) == 0o600
    assert len(listen.secret()) == 64
    msg = listen.voicemail(CID, seconds=2.0)
    link = link_in(msg)
    status, headers, body = fetch(link)
    assert status == 200
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "media-src 'self'" in csp and "script-src" not in csp
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    page = body.decode()
    assert "+15555550123" in page and "2s" in page
    # The transcript is there, its markup as text.
    assert "Hi, it&#39;s &lt;b&gt;Maria&lt;/b&gt; &amp; co." in page and "<b>" not in page
    assert "<script" not in page and "http" not in page.split("<body>")[1].replace(listen.url("/l/"), "")
    audio = audio_of(page)
    assert audio.startswith(listen.url("/l/audio?"))
    data = (listen.rec / f"{CID}.wav").read_bytes()

    status, h, body = fetch(audio, method="HEAD")
    assert status == 200 and body == b""
    assert h["Content-Length"] == str(len(data)) and h["Accept-Ranges"] == "bytes"
    assert h["Content-Type"] == "audio/wav"
    etag = h["ETag"]
    status, h, body = fetch(audio)
    assert status == 200 and body == data and h["ETag"] == etag
    status, h, body = fetch(audio, headers={"Range": "bytes=100-1123"})
    assert status == 206 and body == data[100:1124]
    assert h["Content-Range"] == f"bytes 100-1123/{len(data)}"
    status, h, body = fetch(audio, headers={"Range": "bytes=-10"})
    assert status == 206 and body == data[-10:]
    status, h, body = fetch(audio, headers={"Range": "bytes=30000-"})
    assert status == 206 and body == data[30000:]
    status, h, _ = fetch(audio, headers={"Range": f"bytes={len(data)}-"})
    assert status == 416 and h["Content-Range"] == f"bytes */{len(data)}"
    status, _, body = fetch(audio, headers={"If-None-Match": etag})
    assert status == 304 and body == b""
    status, _, body = fetch(audio, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert status == 200 and body == data  # If-Range that does not match: the whole
    status, h, body = fetch(audio + "&dl=1")
    assert status == 200 and body == data
    assert h["Content-Disposition"] == f'attachment; filename="voicemail-{CID}.wav"'


def test_the_page_tells_the_time_as_the_mail_does(tmp_path, plugdir):
    """When the message was left, in the pipeline's zone, the same on the
    page as in the mail (issue 19: "when (in the configured zone)")."""
    ls = Listen(tmp_path, plugdir, pipeline_extra="timezone = Asia/Tokyo").start()
    try:
        msg = ls.voicemail(CID, seconds=1.0)
        mailed = re.search(r"Left at: (.+)", msg.get_body(("plain",)).get_content()).group(1).strip()
        assert mailed.endswith(" JST"), mailed
        status, _, body = fetch(link_in(msg))
        assert status == 200
        assert f"<dt>Left at</dt><dd>{mailed}</dd>" in body.decode(), body.decode()
    finally:
        assert ls.stop() == 0


@pytest.mark.valgrind
def test_a_mu_law_recording_plays_as_mp3(listen):
    """Telephone codecs are served in the form browsers play
    (vm_audio_playable: MP3), with Range and ETag over that form."""
    data = ulaw_wav(3.0)
    link = link_in(listen.voicemail(CID, data=data))
    audio = audio_of(fetch(link)[2].decode())
    status, h, mp3 = fetch(audio)
    assert status == 200 and h["Content-Type"] == "audio/mpeg"
    assert mp3[:3] == b"ID3" or (mp3[0] == 0xFF and mp3[1] & 0xE0 == 0xE0), mp3[:4]
    assert len(mp3) < len(data) and h["ETag"].endswith('-p"')
    status, h2, part = fetch(audio, headers={"Range": "bytes=100-199"})
    assert status == 206 and part == mp3[100:200] and h2["Content-Range"] == f"bytes 100-199/{len(mp3)}"
    assert fetch(audio, headers={"If-None-Match": h["ETag"]})[0] == 304
    status, h3, _ = fetch(audio + "&dl=1", method="HEAD")
    assert h3["Content-Disposition"] == f'attachment; filename="voicemail-{CID}.mp3"'
    assert h3["Content-Length"] == str(len(mp3))
    # The recording itself is never changed.
    assert (listen.rec / f"{CID}.wav").read_bytes() == data


def test_links_that_do_not_open_say_why(listen):
    link = link_in(listen.voicemail(CID))
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
    exp = int(q["expires"][0])
    # The link made here with the key matches the mail's: the format is link.h's.
    assert listen.sign(CID, exp) == link

    def page(url):
        status, h, body = fetch(url)
        assert h["Content-Type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in h["Content-Security-Policy"]
        return status, body.decode()

    status, body = page(link.replace("sig=", "sig=A"))
    assert status == 403 and "Link not valid" in body
    other = "5e7e0000-0000-4000-8000-00000000a002"
    status, body = page(link.replace(CID, other))  # another job, same signature
    assert status == 403 and "Link not valid" in body
    status, body = page(link.replace(f"expires={exp}", f"expires={exp + 1}"))
    assert status == 403 and "Link not valid" in body
    status, body = page(listen.sign(CID, int(time.time()) - 60))
    assert status == 403 and "Link expired" in body and "expired on" in body
    for bad in (link.replace("v=2&", ""), link.replace(f"expires={exp}", f"expires=0{exp}"),
                link + "&job=x", listen.url("/l/?job=../../etc/passwd"), listen.url("/l/x")):
        status, body = page(bad)
        assert status == 404 and "Not a voicemail link" in body, bad
    # A genuine link to a job this host does not keep.
    status, body = page(listen.sign("no-such-job", int(time.time()) + 600))
    assert status == 404 and "Voicemail not found" in body
    for body in (page(link.replace("sig=", "sig=A"))[1], page(listen.url("/l/x"))[1]):
        assert "Traceback" not in body and "/" + "rec" not in body and "errno" not in body.lower()
    assert fetch(link, method="POST")[0] == 405


def test_no_path_from_a_link_reaches_outside_the_recording_dirs(listen, tmp_path):
    """A job is the only way from a link to a file; a job whose recording is
    outside the recording directories, or reached through a symbolic link,
    gets no audio."""
    listen.voicemail(CID)
    state = listen.spool / "state"
    record = (state / f"{CID}.json").read_text()
    secret = tmp_path / "secret.wav"
    secret.write_bytes(wav(0.5))
    (listen.rec / "sub").mkdir()
    os.symlink(secret, listen.rec / "link.wav")
    os.symlink(tmp_path, listen.rec / "sub" / "up")
    orig = str(listen.rec / f"{CID}.wav")
    assert f'"file://{orig}"' in record
    for n, path in enumerate([str(secret), "/etc/passwd", str(listen.rec / "link.wav"),
                              str(listen.rec / "sub" / "up" / "secret.wav"),
                              str(listen.rec / ".." / "secret.wav"), str(listen.rec / "sub")]):
        jid = f"forged-{n}"
        (state / f"{jid}.json").write_text(record.replace(orig, path).replace(CID, jid))
        exp = int(time.time()) + 600
        status, _, body = fetch(listen.sign(jid, exp))
        assert status == 200 and b"<audio" not in body and b"not available" in body, path
        status, _, body = fetch(listen.sign(jid, exp, what="audio"))
        assert status == 404 and b"RIFF" not in body and b"root:" not in body, path
    # A file:// URI is percent-decoded as the engine reads it: a name with a
    # space plays, an encoded ".." is still refused.
    (listen.rec / "a b.wav").write_bytes(wav(0.5))
    for jid, uri_path, want in (("spaced", f"{listen.rec}/a%20b.wav", 200),
                                ("dotdot", f"{listen.rec}/%2e%2e/secret.wav", 404)):
        (state / f"{jid}.json").write_text(record.replace(orig, uri_path).replace(CID, jid))
        status, _, body = fetch(listen.sign(jid, int(time.time()) + 600, what="audio"))
        assert status == want, (uri_path, status)
        assert (body == wav(0.5)) == (want == 200)


def test_a_second_start_keeps_the_key_and_a_loose_key_is_refused(tmp_path, plugdir):
    ls = Listen(tmp_path, plugdir).start()
    key = ls.secret()
    assert ls.stop() == 0
    ls.start()
    assert ls.secret() == key
    assert ls.stop() == 0
    os.chmod(ls.key, 0o640)
    from serve_helpers import Serve
    srv = Serve(ls.ini, ls.spool)
    assert srv.wait_exit() == 78
    assert srv.saw("must be a file only its owner can read")


@pytest.mark.valgrind
def test_sighup_gives_the_pages_the_new_settings(tmp_path, plugdir):
    """SIGHUP reloads the pipelines, and the listen pages with them (their
    key, public_url, zone, directories); settings that cannot be used leave
    the pages as they were, and a new listen address waits for a restart."""
    import signal
    ls = Listen(tmp_path, plugdir).start()
    try:
        link = link_in(ls.voicemail(CID, seconds=1.0))
        assert fetch(link)[0] == 200
        text = open(ls.ini).read()

        loose = tmp_path / "loose.key"
        loose.write_text("ab" * 32 + "\n")
        os.chmod(loose, 0o644)
        open(ls.ini, "w").write(text.replace(f"link_key_file = {ls.key}", f"link_key_file = {loose}"))
        ls.srv.signal(signal.SIGHUP)
        ls.srv.wait_log("the listen pages keep their settings")
        assert ls.srv.saw("must be a file only its owner can read")
        assert fetch(link)[0] == 200  # still the old key

        new_key = tmp_path / "new.key"
        other = f"127.0.0.1:{ls.port + 1 if ls.port < 65535 else ls.port - 1}"
        open(ls.ini, "w").write(text.replace(f"link_key_file = {ls.key}", f"link_key_file = {new_key}")
                                .replace("notify_grace = 0s", "notify_grace = 0s\ntimezone = Asia/Tokyo")
                                .replace(f"listen = 127.0.0.1:{ls.port}", f"listen = {other}"))
        ls.srv.signal(signal.SIGHUP)
        ls.srv.wait_log("the listen pages take the new [serve] settings")
        assert ls.srv.saw(f"[serve] listen changed (127.0.0.1:{ls.port} to {other})")
        assert not ls.srv.saw("[serve] metrics changed")
        status, _, body = fetch(link)  # signed with the key that was replaced
        assert status == 403 and b"not valid" in body, (status, body)
        assert stat.S_IMODE(os.stat(new_key).st_mode) == 0o600
        cid2 = CID[:-1] + "2"
        msg = ls.voicemail(cid2, seconds=1.0)
        status, _, body = fetch(link_in(msg))  # still on the old address, with the new key and zone
        assert status == 200 and b" JST</dd>" in body, body.decode()
    finally:
        assert ls.stop() == 0


def test_a_tenants_voicemail_has_a_link_that_plays(tmp_path, plugdir):
    """A tenant (tenant.h) whose pipeline names no [serve] public_url links
    to the base's listen pages; its checkpoints and recordings, kept in its
    own directories, are found there."""
    import json
    from conftest import connect_event, run_vmpipe, tenant_pipeline, write
    tenants = tenant_pipeline(tmp_path, plugdir, pipeline_lines=[f"state = {tmp_path}/acme-state",
                                                                 "timezone = Asia/Tokyo"],
                              transcript="Acme calling about the order.")
    ls = Listen(tmp_path, plugdir, pipeline_extra=f"tenant_dir = {tenants}").start()
    try:
        data = wav(1.0)
        (tmp_path / "acme-rec" / f"{CID}.wav").write_bytes(data)
        ev = write(tmp_path / "ev.json", json.dumps(connect_event(CID, extra_attrs={"tenant": "acme"})))
        r = run_vmpipe("enqueue", "--spool", ls.spool, ev)
        assert r.code == 0, r
        eml = tmp_path / "acme-out" / f"{CID}.eml"
        wait_until("the tenant's mail", eml.exists)
        import email
        import email.policy
        msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        assert (tmp_path / "acme-state" / f"{CID}.json").exists()
        assert not (ls.spool / "state" / f"{CID}.json").exists()
        status, _, body = fetch(link_in(msg))
        assert status == 200 and b"Acme calling about the order." in body, (status, body)
        assert b" JST</dd>" in body, body  # the tenant's zone, as its mail said
        status, _, got = fetch(audio_of(body.decode()))
        assert status == 200 and got == data
    finally:
        assert ls.stop() == 0


def test_two_hundred_downloads_do_not_delay_a_voicemail(listen):
    """200 clients download a 1 MB recording at once; a voicemail enqueued
    meanwhile is mailed within the issue's 2 s."""
    big = wav(65.5, rate=8000)  # ~1 MB
    assert len(big) > 1_000_000
    link = link_in(listen.voicemail(CID, data=big))
    audio = audio_of(fetch(link)[2].decode())
    start = threading.Barrier(201)
    got = []

    def download():
        start.wait()
        status, _, body = fetch(audio)
        got.append((status, len(body)))

    threads = [threading.Thread(target=download) for _ in range(200)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.monotonic()
    listen.voicemail("5e7e0000-0000-4000-8000-00000000a0ff")
    delay = time.monotonic() - t0
    for t in threads:
        t.join()
    print(f"canary delay during 200 downloads of {len(big)} bytes: {delay:.3f} s")
    assert got == [(200, len(big))] * 200
    assert delay < 2.0, delay


@pytest.mark.skipif(not CHROMIUM, reason="chromium is in TEST_PKGS (scripts/deps.sh)")
def test_the_page_in_a_browser(listen, tmp_path):
    """Headless Chromium opens the link of the mail: no console error, no
    request off the host, the player gets the recording and seeks with a
    Range request answered 206; an altered link shows the 403 page."""
    seconds = 600.0  # 9.6 MB: more than the player buffers, so a seek near the end needs a new range
    link = link_in(listen.voicemail(CID, seconds=seconds))
    b = Browser()
    try:
        b.navigate(link)
        assert b.eval("document.title") == "Voicemail from +15555550123"
        assert b.eval("document.querySelector('.transcript').textContent") == TRANSCRIPT
        # Playback needs no script of ours: the browser's own player.
        b.eval("document.querySelector('audio').play().catch(e => e)", await_promise=True)
        wait_until("the player to have data", lambda: b.eval("document.querySelector('audio').readyState") >= 3)
        duration = b.eval("document.querySelector('audio').duration")
        assert abs(duration - seconds) <= 0.1, duration
        b.eval("document.querySelector('audio').pause()")
        seen = len(b.requests())
        b.eval("document.querySelector('audio').currentTime = 590")
        wait_until("the seek to end", lambda: b.eval("document.querySelector('audio').seeking") is False
                   and b.eval("document.querySelector('audio').readyState") >= 2)

        def seek_request():
            b.pump()
            for rid, url, headers in b.requests()[seen:]:
                rng = headers.get("Range") or headers.get("range")
                resp = b.response(rid)
                if "/l/audio?" in url and rng and not rng.startswith("bytes=0-") and resp:
                    return rng, resp
            return None
        rng, resp = wait_until("a Range request for the seek", seek_request)
        assert resp["status"] == 206, (rng, resp["status"])
        assert resp["headers"].get("Content-Range", resp["headers"].get("content-range", "")).startswith(
            "bytes ")
        host = listen.url("/")
        # data: URLs are the browser's own player icons; nothing goes anywhere else.
        assert [u for _, u, _ in b.requests() if not u.startswith((host, "data:"))] == []
        assert b.errors() == []
        shot = os.environ.get("VMPIPE_LISTEN_SCREENSHOT")
        if shot:  # docs/listen-page.png is made this way
            b.eval("window.scrollTo(0, 0)")
            b.screenshot(shot)

        # A mu-law recording plays too, as MP3, with the recording's length.
        link2 = link_in(listen.voicemail("5e7e0000-0000-4000-8000-00000000a00b", data=ulaw_wav(3.0)))
        b.navigate(link2)
        b.eval("document.querySelector('audio').play().catch(e => e)", await_promise=True)
        wait_until("the MP3 to have data", lambda: b.eval("document.querySelector('audio').readyState") >= 3)
        duration = b.eval("document.querySelector('audio').duration")
        assert abs(duration - 3.0) <= 0.1, duration
        assert b.errors() == []

        b.navigate(link.replace("sig=", "sig=X"))
        doc = [r for r in b.requests() if "/l/?" in r[1]]
        assert doc and b.response(doc[0][0])["status"] == 403
        assert b.eval("document.title") == "Link not valid"
        assert "altered" in b.eval("document.body.innerText")
    finally:
        b.close()


@pytest.fixture
def pbx_user():
    """A throw-away system user standing for the PBX, which writes the
    recording directory and is trusted less than serve (removed after)."""
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("setpriv"):
        pytest.skip("needs root, useradd and setpriv to act as another user")
    name = f"vmpbx{os.getpid() % 100000}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group",
                    name], check=True, capture_output=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], check=True, capture_output=True)
        subprocess.run(["groupdel", name], capture_output=True)  # gone with the user on most systems


def as_user(u, *cmd):
    return subprocess.run(["setpriv", f"--reuid={u.pw_uid}", f"--regid={u.pw_gid}", "--clear-groups", *cmd],
                          capture_output=True, text=True)


def test_the_pbx_user_cannot_turn_a_link_into_another_file(tmp_path, plugdir, pbx_user):
    """The PBX's user owns the recording directory.  After the mail went out
    it swaps the recording for a symbolic link to a file only root may read,
    and a directory for a link to /etc: the link serves neither.  It cannot
    read the link key either."""
    # Outside pytest's private (0700) tmp_path, so the PBX user reaches it.
    top = pathlib.Path(tempfile.mkdtemp(prefix="pbx-"))
    os.chmod(top, 0o755)
    ls = Listen(tmp_path, plugdir, rec=top / "rec")
    os.chown(ls.rec, pbx_user.pw_uid, pbx_user.pw_gid)
    ls.start()
    try:
        link = link_in(ls.voicemail(CID))
        audio = audio_of(fetch(link)[2].decode())
        assert fetch(audio)[0] == 200
        secret = top / "root-only.wav"
        secret.write_bytes(wav(0.5))
        os.chmod(secret, 0o600)
        rec = ls.rec / f"{CID}.wav"
        r = as_user(pbx_user, "sh", "-c", f"rm -f '{rec}' && ln -s '{secret}' '{rec}'")
        assert r.returncode == 0, r.stderr
        assert os.path.islink(rec)
        status, _, body = fetch(audio)
        assert status == 404 and b"RIFF" not in body
        status, _, body = fetch(link)
        assert status == 200 and b"<audio" not in body and b"not available" in body
        # A directory on the way swapped for a link: the same.
        r = as_user(pbx_user, "sh", "-c", f"mkdir '{ls.rec}/d' && ln -s /etc '{ls.rec}/e'")
        assert r.returncode == 0, r.stderr
        state = ls.spool / "state" / f"{CID}.json"
        record = state.read_text()
        state.write_text(record.replace(str(rec), f"{ls.rec}/e/passwd"))
        status, _, body = fetch(audio)
        assert status == 404 and b"root:" not in body
        # The key is serve's alone.
        r = as_user(pbx_user, "cat", str(ls.key))
        assert r.returncode != 0 and "Permission denied" in r.stderr
    finally:
        rc = ls.stop()
        shutil.rmtree(top)
    assert rc == 0
