"""`vmpipe sendmail`: a PBX's voicemail mail in, a job out (docs/pbx.md).

Inline runs (no `vmpipe serve`), the hand-over to a running serve (the mail
dropped whole, the recording taken out by serve), refused
mail kept in rejected/ with the reason, FreeSWITCH's template form, the
`vmpipe-sendmail` name with sendmail's own options, and etc/asterisk.ini end
to end: GSM voicemail -> PocketSphinx -> SMTP (aiosmtpd) with the audio.
"""
import email
import email.policy
import json
import os
import shutil
import subprocess
import sys

import pytest

import speech
from conftest import PLUGIN_DIR, ROOT, VMPIPE, run_vmpipe, write
from pbxmail import asterisk_mail, freeswitch_mail
from pbxsrc import asterisk_pager
from serve_helpers import Serve, wait_until

sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
from smtp_server import SmtpServer  # noqa: E402

AST_ID = "Asterisk-1-1804289383-1234-4242_pbx.example.com"


def gsm_wav(tmp_path, seconds=0.6):
    """A small wav49 recording (GSM 6.10 in a WAV), as Asterisk stores msg0000.WAV."""
    src, out = tmp_path / "tone.wav", tmp_path / "tone-gsm.wav"
    for cmd in (["sox", "-R", "-D", "-n", "-r", "8000", "-c", "1", "-b", "16", str(src),
                 "synth", str(seconds), "sine", "440", "vol", "0.5"],
                ["sox", "-R", "-D", str(src), "-e", "gsm-full-rate", str(out)]):
        subprocess.run(cmd, check=True, capture_output=True)
    data = out.read_bytes()
    src.unlink()
    out.unlink()
    return data


class Spool:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.dir = tmp_path / "spool"
        self.out = tmp_path / "out"
        (self.dir / "recordings").mkdir(parents=True)

    def pipeline(self, spool_line=True):
        return write(self.tmp / "pbx.ini", f"""\
[pipeline]
plugin_dir = {PLUGIN_DIR}
timeout = 30s
state = {self.tmp}/jobs
{"[serve]" if spool_line else ""}
{"spool = spool" if spool_line else ""}

[locate]
plugin = locate-file
dir = {self.dir}/recordings
settle = 0s
wait = 1s

[notify]
plugin = notify-file
dir = {self.out}
""")

    def files(self, sub):
        d = self.dir / sub
        return sorted(os.listdir(d)) if d.exists() else []


@pytest.fixture
def spool(tmp_path):
    return Spool(tmp_path)


def sendmail(mail, *args, env=None, argv0=None):
    e = dict(os.environ, VMPIPE_LOG_FORMAT="text", VMPIPE_CLOCK="fake")
    e.pop("VMPIPE_SPOOL", None)
    e.pop("VMPIPE_PIPELINE", None)
    e.update(env or {})
    exe = argv0 or VMPIPE
    cmd = [exe, *args] if argv0 else [exe, "sendmail", *args]
    wrapper = os.environ.get("VMPIPE_WRAPPER")
    if wrapper:
        cmd = wrapper.split() + cmd
    p = subprocess.run(cmd, input=mail.encode() if isinstance(mail, str) else mail,
                       capture_output=True, env=e, timeout=120)
    p.stdout, p.stderr = p.stdout.decode(), p.stderr.decode()
    return p


def test_asterisk_wav49_inline(spool, tmp_path):
    audio = gsm_wav(tmp_path)
    p = sendmail(asterisk_mail(audio), "-c", spool.pipeline(), "-t")
    assert p.returncode == 0, p.stderr
    assert "running the job here" in p.stderr
    rec = json.loads((spool.out / f"{AST_ID}.json").read_text())
    assert rec["source"] == "asterisk"
    assert rec["contact"]["caller"] == "5551234"
    assert rec["contact"]["caller_name"] == "John Doe"
    assert rec["contact"]["mailbox"] == "1234"
    assert rec["recipient"] == {"email": "pat@example.com", "name": "Pat Owner"}
    assert rec["contact"]["date"] == "2026-11-29T19:44:05Z"
    # No duration header from Asterisk's sendmail path: read from the audio
    # (0.6 s = 15 blocks of 40 ms).
    assert rec["recording"]["duration_seconds"] == pytest.approx(0.6)
    # The recording is in the spool, byte for byte, under a unique name.
    [name] = spool.files("recordings")
    assert name.endswith("-msg0000.WAV")
    assert (spool.dir / "recordings" / name).read_bytes() == audio
    assert rec["recording"]["uri"] == "file://" + str(spool.dir / "recordings" / name)
    assert rec["recording"]["content_type"] == "audio/wav"
    eml = (spool.out / f"{AST_ID}.eml").read_text()
    assert "Voicemail message from: John Doe (5551234)" in eml
    assert spool.files("new") == [] and spool.files("rejected") == []

    # The PBX sends the same mail again: the checkpoint says done, nobody is mailed twice.
    os.unlink(spool.out / f"{AST_ID}.eml")
    p = sendmail(asterisk_mail(audio), "-c", spool.pipeline(), "-t")
    assert p.returncode == 0, p.stderr
    assert not (spool.out / f"{AST_ID}.eml").exists()


@pytest.mark.valgrind
def test_serve_running_takes_the_dropped_mail(spool, tmp_path):
    """With serve running, sendmail drops the whole mail and returns; serve
    (the spool's owner) takes the recording out of it into recordings/."""
    ini = spool.pipeline()
    audio = gsm_wav(tmp_path)
    srv = Serve(ini, spool.dir).ready()
    try:
        mail = asterisk_mail(audio, fmt="gsm", mime="audio/x-gsm")
        p = sendmail(mail, "-c", ini, "-t")
        assert p.returncode == 0, p.stderr
        assert "vmpipe serve is running: the mail is dropped as" in p.stderr
        wait_until("the mail", lambda: (spool.out / f"{AST_ID}.eml").exists())
        srv.wait_log("done in")
        assert srv.saw("voicemail mail (asterisk")
        [name] = spool.files("recordings")
        assert name.endswith("-msg0000.gsm")
        assert (spool.dir / "recordings" / name).read_bytes() == audio
        rec = json.loads((spool.out / f"{AST_ID}.json").read_text())
        assert rec["recording"]["uri"] == "file://" + str(spool.dir / "recordings" / name)
        assert rec["recording"]["content_type"] == "audio/x-gsm"
        assert spool.files("new") == [] and spool.files("rejected") == []
    finally:
        assert srv.stop() == 0


def test_not_a_voicemail_is_refused_and_kept(spool):
    # Asterisk's pager mail (pbxsrc.asterisk_pager(): sendpage()), with no
    # [serve] passthrough to send it on.
    mail = asterisk_pager().decode()
    p = sendmail(mail, "-c", spool.pipeline(), "-t")
    assert p.returncode == 65, p.stderr
    assert "not a voicemail: no audio attachment (parts: text/plain)" in p.stderr
    assert "set [serve] passthrough" in p.stderr
    names = spool.files("rejected")
    assert len(names) == 2 and names[0].endswith(".eml") and names[1] == names[0] + ".why"
    assert (spool.dir / "rejected" / names[0]).read_text() == mail
    assert "no audio attachment" in (spool.dir / "rejected" / names[1]).read_text()
    assert f"kept as {spool.dir}/rejected/{names[0]}" in p.stderr
    assert spool.files("recordings") == [] and spool.files("new") == []
    assert not spool.out.exists()


def test_unwritable_spool_is_a_temporary_failure(spool, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    p = sendmail(asterisk_mail(gsm_wav(tmp_path)), "--spool", str(blocker / "spool"), "-t")
    assert p.returncode == 75, p.stderr
    assert "could not drop the mail into the spool" in p.stderr


def test_freeswitch_through_the_vmpipe_sendmail_name(spool, tmp_path):
    link = tmp_path / "bin" / "vmpipe-sendmail"
    link.parent.mkdir()
    os.symlink(VMPIPE, link)
    audio = (tmp_path / "a.wav")
    subprocess.run(["sox", "-R", "-D", "-n", "-r", "8000", "-c", "1", "-b", "16", str(audio),
                    "synth", "0.5", "sine", "300"], check=True)
    data = audio.read_bytes()
    # As switch_simple_email() runs it: MAILER_APP -f FROM MAILER_APP_ARGS TO
    p = sendmail(freeswitch_mail(data), "-f", "1000@pbx.example.org", "-c", spool.pipeline(),
                 "-t", "owner@example.org", argv0=str(link))
    assert p.returncode == 0, p.stderr
    rid = "freeswitch-3f2a9c1e-7d7b-4a8e-9b51-0c2d4e6f8a90"
    rec = json.loads((spool.out / f"{rid}.json").read_text())
    assert rec["source"] == "freeswitch"
    assert rec["contact"]["caller"] == "5551000"
    assert rec["contact"]["caller_name"] == "Jane Caller"
    assert rec["contact"]["mailbox"] == "1000"
    assert rec["contact"]["context"] == "pbx.example.org"
    assert rec["recipient"]["email"] == "owner@example.org"
    # X-Voicemail-Length says 12; locate-file reads the audio's own header,
    # which wins (the fixture's audio is half a second).
    assert rec["recording"]["duration_seconds"] == pytest.approx(0.5)
    [name] = spool.files("recordings")
    assert name.endswith("-msg_3f2a9c1e-7d7b-4a8e-9b51-0c2d4e6f8a90.wav")


@pytest.mark.parametrize("flags", [
    ["-t", "-i"], ["-oi", "-t"], ["-odb", "-oem", "-ti"], ["-f", "asterisk@pbx", "-F", "Asterisk PBX", "-t"],
    ["-fasterisk@pbx", "-FPBX", "-bm", "-t", "--"], ["-r", "a@b", "-B", "8BITMIME", "-N", "never", "-t"],
])
def test_sendmail_options_are_accepted(spool, tmp_path, flags):
    p = sendmail(asterisk_mail(gsm_wav(tmp_path)), "--spool", str(spool.dir), *flags)
    assert p.returncode == 0, p.stderr
    # No pipeline given and no serve: the job waits in the spool for serve.
    assert len(spool.files("new")) == 1


@pytest.mark.parametrize("flags,message", [
    (["-bs"], "mode '-bs' is not supported"),
    (["-Z"], "unknown option -Z"),
    (["-f"], "-f needs a value"),
    (["--bogus"], "unknown option '--bogus'"),
])
def test_bad_options_are_usage_errors(spool, flags, message):
    p = sendmail("", "--spool", str(spool.dir), *flags)
    assert p.returncode == 64
    assert message in p.stderr
    assert "usage: vmpipe sendmail" in p.stderr


def test_no_spool_is_a_configuration_error(spool, tmp_path):
    p = sendmail(asterisk_mail(b"x"), "-c", spool.pipeline(spool_line=False), "-t")
    assert p.returncode == 78
    assert "no spool: give --spool DIR, set VMPIPE_SPOOL" in p.stderr
    p = sendmail(asterisk_mail(b"x"), "-t")
    assert p.returncode == 78


def test_recipients_from_the_command_line_without_to(spool, tmp_path):
    mail = asterisk_mail(gsm_wav(tmp_path)).replace('To: "Pat Owner" <pat@example.com>\n', "")
    p = sendmail(mail, "-c", spool.pipeline(), "-i", "a@example.com", "b@example.com")
    assert p.returncode == 0, p.stderr
    rec = json.loads((spool.out / f"{AST_ID}.json").read_text())
    assert rec["recipient"]["email"] == "a@example.com, b@example.com"


def test_help(spool):
    p = sendmail("", "--help")
    assert p.returncode == 0
    assert "mailcmd" in p.stdout


# ------------------------------------------------ etc/asterisk.ini end to end

@pytest.mark.skipif(not (shutil.which("flite") and shutil.which("sox")
                         and os.path.exists(os.path.join(PLUGIN_DIR, "transcribe-sphinx.so"))),
                    reason="needs flite, sox and transcribe-sphinx")
def test_asterisk_ini_gsm_voicemail_to_smtp(tmp_path):
    audio = speech.make_8k_gsm(speech.VOICEMAIL, tmp_path / "msg0000.WAV")
    data = open(audio, "rb").read()
    spool = tmp_path / "spool"
    (spool / "recordings").mkdir(parents=True)
    srv = SmtpServer(tmp_path, tls="none").start()
    try:
        env = {"VMPIPE_SPOOL": str(spool), "VMPIPE_STATE": str(tmp_path / "jobs"),
               "VMPIPE_SMTP_URL": srv.url, "VMPIPE_SMTP_TLS": "none",
               "VMPIPE_MAIL_FROM": "Voicemail <vm@pbx.example.com>"}
        r = run_vmpipe("check", "-c", os.path.join(ROOT, "etc", "asterisk.ini"), env=env)
        assert r.code == 0, r
        p = sendmail(asterisk_mail(data, cidnum="+15555550123"),
                     "-c", os.path.join(ROOT, "etc", "asterisk.ini"), "-t", env=env)
        assert p.returncode == 0, p.stderr
        [m] = srv.messages
    finally:
        srv.stop()
    assert m.rcpt_tos == ["pat@example.com"]
    msg = email.message_from_bytes(m.data, policy=email.policy.default)
    assert msg["To"] == "Pat Owner <pat@example.com>"
    assert msg["Subject"] == "Voicemail from John Doe (+15555550123) (7s)"  # 6.8 s of audio
    text = msg.get_body(("plain",)).get_content()
    for word in ("tomorrow", "three", "o'clock"):
        assert word in text
    [att] = [p for p in msg.iter_attachments()]
    # WAV49 plays in few mail readers: attach_format = auto sends it as MP3
    # (tests/integration/test_attach_format.py checks the audio itself).
    assert att.get_content_type() == "audio/mpeg"
    assert att.get_filename().endswith(".mp3")
    assert att.get_content()[:2] == b"\xff\xe3" and len(att.get_content()) < 2 * len(data)


def test_locate_confines_the_recording_to_the_spool(spool, tmp_path):
    """A job record in the spool naming audio outside recordings/ is refused by locate."""
    outside = tmp_path / "secret.wav"
    outside.write_bytes(gsm_wav(tmp_path))
    rec = {"id": "x1", "recipient": {"email": "pat@example.com"},
           "recording": {"uri": "file://" + str(outside)}}
    ev = write(tmp_path / "x1.json", json.dumps(rec))
    r = run_vmpipe("run", "-c", spool.pipeline(), ev, env={"VMPIPE_CLOCK": "fake"})
    assert r.code == 66, r
    assert "resolves outside" in r.err and "refused" in r.err


def test_inline_failure_leaves_the_job_for_serve(spool, tmp_path):
    from smtp_server import free_port
    ini = write(tmp_path / "smtp.ini", f"""\
[pipeline]
plugin_dir = {PLUGIN_DIR}
timeout = 20s
notify_grace = 0s

[serve]
spool = spool

[locate]
plugin = locate-file
dir = {spool.dir}/recordings
settle = 0s

[notify]
plugin = notify-smtp
url = smtp://127.0.0.1:{free_port()}
tls = none
""")
    p = sendmail(asterisk_mail(gsm_wav(tmp_path)), "-c", ini, "-t")
    assert p.returncode == 75, p.stderr  # the SMTP server never answered
    assert "owner not notified: job queued as" in p.stderr
    [job] = spool.files("new")
    rec = json.loads((spool.dir / "new" / job).read_text())
    assert rec["id"] == AST_ID and rec["notifications"] == []
    assert len(spool.files("recordings")) == 1


def test_a_dropped_mail_in_flight_resumes_with_its_recording(spool, tmp_path, plugdir):
    """A mail serve took (its job waiting, the mail in cur/) is resumed after
    a restart from its checkpoint: the recording taken out the first time
    stands, no second copy is left in recordings/."""
    ini = write(tmp_path / "wait.ini", f"""\
[pipeline]
plugin_dir = {plugdir}
timeout = 5m
state = {tmp_path}/jobs

[serve]
spool = {spool.dir}

[locate]
plugin = locate-file
dir = {spool.dir}/recordings
settle = 0s

[notify]
plugin = test-flaky
mode = retry
times = -1
delay = 1h
""")
    srv = Serve(ini, spool.dir).ready()
    try:
        p = sendmail(asterisk_mail(gsm_wav(tmp_path)), "-c", ini, "-t")
        assert p.returncode == 0, p.stderr
        wait_until("the mail in cur/", lambda: len(spool.files("cur")) == 1)
    finally:
        assert srv.stop() == 0
    [rec] = spool.files("recordings")
    again = Serve(ini, spool.dir).ready()
    try:
        again.wait_log("resumed from its checkpoint")
        assert spool.files("recordings") == [rec] and len(spool.files("cur")) == 1
    finally:
        assert again.stop() == 0
