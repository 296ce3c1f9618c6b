"""`vmpipe sendmail` on mails built as the PBXs' own code writes them (pbxsrc.py).

One test per class of issue 18: who called reaches the owner (names, mailbox,
FreeSWITCH's stock template), a forward's introduction, a cut mail, mail that
is not a voicemail (passed on unchanged), the time the message was left in a
configured zone, a recording too large to attach, an MTA as the caller
(--mta); and issue 17's intake bounds (a mail over the size limit, in bounded
memory).
"""
import email
import email.policy
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import pytest

import speech

from conftest import BUILD, PLUGIN_DIR, ROOT, VMPIPE, write
from serve_helpers import Serve
from pbxsrc import (NOTIFY_TPL, asterisk_pager, asterisk_voicemail, freeswitch_voicemail,
                    with_extra_headers)
from test_pbx import gsm_wav, sendmail

sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
from smtp_server import SmtpServer  # noqa: E402

SAN = os.path.basename(BUILD).endswith("san")
AST_ID = "Asterisk-1-1804289383-1234-4242_pbx.example.com"
UUID = "3f2a9c1e-7d7b-4a8e-9b51-0c2d4e6f8a90"


def pcm_wav(tmp_path, seconds, freq=440, name="tone.wav"):
    out = tmp_path / name
    subprocess.run(["sox", "-R", "-D", "-n", "-r", "8000", "-c", "1", "-b", "16", str(out),
                    "synth", str(seconds), "sine", str(freq), "vol", "0.5"], check=True,
                   capture_output=True)
    data = out.read_bytes()
    out.unlink()
    return data


class Box:
    """A spool and a pipeline with notify-file: the owner's mail as a file."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.spool = tmp_path / "spool"
        self.out = tmp_path / "out"
        (self.spool / "recordings").mkdir(parents=True)

    def ini(self, extra_pipeline="", serve="", notify=None):
        notify = notify or f"plugin = notify-file\ndir = {self.out}\n"
        return write(self.tmp / "pbx.ini", f"""\
[pipeline]
plugin_dir = {PLUGIN_DIR}

state = {self.tmp}/jobs
{extra_pipeline}

[serve]
spool = spool
{serve}

[locate]
plugin = locate-file
dir = {self.spool}/recordings
settle = 0s
wait = 1s

[notify]
{notify}
""")

    def files(self, sub):
        d = self.spool / sub
        return sorted(os.listdir(d)) if d.exists() else []

    def record(self, job_id):
        return json.loads((self.out / f"{job_id}.json").read_text())

    def mail(self, job_id):
        return email.message_from_bytes((self.out / f"{job_id}.eml").read_bytes(),
                                        policy=email.policy.default)


@pytest.fixture
def box(tmp_path):
    return Box(tmp_path)


def text_of(msg):
    return msg.get_body(("plain",)).get_content()


# ---------------------------------------------------------------- 1, 6: who and when

def test_asterisk_caller_name_mailbox_and_time_reach_the_owner(box, tmp_path):
    mail = asterisk_voicemail(gsm_wav(tmp_path), cidnum="+15557654321", cidname="Robert Banker")
    p = sendmail(mail, "-c", box.ini("timezone = Europe/Berlin"), "-t", env={"TZ": "UTC"})
    assert p.returncode == 0, p.stderr
    rec = box.record(AST_ID)
    assert rec["contact"]["caller_name"] == "Robert Banker"
    assert rec["contact"]["mailbox"] == "1234"
    msg = box.mail(AST_ID)
    assert msg["Subject"] == "Voicemail message from: Robert Banker (+15557654321)"
    body = text_of(msg)
    assert "There is a voicemail from Robert Banker (+15557654321)." in body
    assert "Mailbox: 1234" in body
    # The PBX's Date: (20:44:05 +0100), not when vmpipe ran (the fake clock), in the zone set.
    assert "Left at: 29 November 2026, 20:44 CET" in body
    html = msg.get_body(("html",)).get_content()
    assert "Robert Banker (+15557654321)" in html


def test_time_in_the_hosts_zone_without_a_setting(box, tmp_path):
    mail = asterisk_voicemail(gsm_wav(tmp_path))
    p = sendmail(mail, "-c", box.ini(), "-t", env={"TZ": "America/New_York"})
    assert p.returncode == 0, p.stderr
    assert "Left at: 29 November 2026, 14:44 EST" in text_of(box.mail(AST_ID))


@pytest.mark.parametrize("arch, header", [
    # strip_control_and_high() on a signed char (x86-64) drops bytes >= 0x80 ...
    ("x86_64", b"X-Asterisk-CallerIDName: Jrgen Mller\n"),
    # ... and keeps them on arm64, where char is unsigned.
    ("aarch64", "X-Asterisk-CallerIDName: J\u00fcrgen M\u00fcller\n".encode()),
])
def test_asterisk_non_ascii_names(box, tmp_path, arch, header):
    mail = asterisk_voicemail(gsm_wav(tmp_path), cidname="J\u00fcrgen M\u00fcller",
                              fullname="Zo\u00eb \u00dcnal", arch=arch)
    assert header in mail
    # Either way the name reaches the owner whole: the default body has it as given.
    name = "J\u00fcrgen M\u00fcller"
    # The owner's name, UTF-8 in voicemail.conf, Q-encoded under the default charset label.
    assert b"=?ISO-8859-1?Q?Zo=C3=AB_=C3=9Cnal?=" in mail
    p = sendmail(mail, "-c", box.ini(), "-t")
    assert p.returncode == 0, p.stderr
    rec = box.record(AST_ID)
    assert rec["contact"]["caller_name"] == name
    assert rec["recipient"]["name"] == "Zo\u00eb \u00dcnal"


# ---------------------------------------------------------------- 2: FreeSWITCH's stock template

@pytest.mark.parametrize("template", ["stock", "extra", "builtin"])
def test_freeswitch_caller_from_the_stock_template(box, tmp_path, template):
    tpl = {"stock": None, "extra": "x", "builtin": None}[template]
    kw = {}
    if template == "extra":
        from pbxsrc import VOICEMAIL_TPL
        kw["template"] = with_extra_headers(VOICEMAIL_TPL)
    elif template == "builtin":
        kw["template"] = None
    del tpl
    mail, argv, to = freeswitch_voicemail(pcm_wav(tmp_path, 0.5), cid_number="+15557654321",
                                          cid_name="Robert Banker", **kw)
    if template == "stock":
        assert b"X-Voicemail-Caller" not in mail and b"\nDate: \n" in mail
    p = sendmail(mail, "-c", box.ini(), *argv, to)
    assert p.returncode == 0, p.stderr
    rec = box.record(f"freeswitch-{UUID}")
    assert rec["source"] == "freeswitch"
    assert rec["contact"]["caller"] == "+15557654321"
    assert rec["contact"]["caller_name"] == "Robert Banker"
    assert rec["contact"]["mailbox"] == "1001"
    assert rec["contact"]["context"] == "pbx.example.org"
    # X-Voicemail-Length says 12; locate measures the file itself (0.5 s).
    assert rec["recording"]["duration_seconds"] == pytest.approx(0.5)
    assert "from unknown" not in text_of(box.mail(f"freeswitch-{UUID}"))
    assert "Robert Banker (+15557654321)" in box.mail(f"freeswitch-{UUID}")["Subject"]


# ---------------------------------------------------------------- 3: a forward's introduction

def test_forward_with_introduction_keeps_both_intro_first(box, tmp_path):
    msg_audio = pcm_wav(tmp_path, 0.6, 440)
    intro = pcm_wav(tmp_path, 0.4, 1000)
    mail = asterisk_voicemail(msg_audio, fmt="wav", msgnum=3, intro=intro, endl=b"\r\n",
                              forwarded=("\"Alice\" <5550001>", "Friday, November 27, 2026 at 09:00:00 AM"))
    assert b'name="msg0003.wav"' in mail and b'name="msgintro0003.wav"' in mail
    p = sendmail(mail, "-c", box.ini(), "-t")
    assert p.returncode == 0, p.stderr
    job_id = "Asterisk-4-1804289383-1234-4242_pbx.example.com"
    rec = box.record(job_id)
    assert rec["contact"]["audio_parts"] == 2
    assert rec["recording"]["duration_seconds"] == pytest.approx(1.0)
    [name] = box.files("recordings")
    assert name.endswith("-msg0003-with-intro.wav")
    joined = (box.spool / "recordings" / name).read_bytes()
    # Intro first: its samples are the first 0.4 s, the message's follow.
    assert joined[44:44 + 2 * 3200] == intro[44:44 + 2 * 3200]
    assert joined[44 + 2 * 3200:] == msg_audio[44:]
    assert box.files("rejected") == []


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("flite") and shutil.which("sox")
                         and os.path.exists(os.path.join(PLUGIN_DIR, "transcribe-sphinx.so"))),
                    reason="needs flite, sox and transcribe-sphinx")
def test_forward_with_introduction_both_transcribed(box, tmp_path):
    """The introduction and the message are both heard by the speech engine."""
    msg_audio = open(speech.make_8k(speech.SENTENCES[0], tmp_path / "m.wav"), "rb").read()
    intro = open(speech.make_8k(speech.SENTENCES[2], tmp_path / "i.wav"), "rb").read()
    mail = asterisk_voicemail(msg_audio, fmt="wav", msgnum=3, intro=intro, endl=b"\r\n")
    ini = box.ini(notify=f"plugin = notify-file\ndir = {box.out}\n\n[transcribe]\nplugin = transcribe-sphinx\n")
    # [transcribe] must come before [notify]: rewrite the order.
    text = open(ini).read()
    head, notify = text.split("[notify]\n", 1)
    nb, tb = notify.split("[transcribe]\n", 1)
    open(ini, "w").write(head + "[transcribe]\n" + tb + "\n[notify]\n" + nb)
    p = sendmail(mail, "-c", ini, "-t")
    assert p.returncode == 0, p.stderr
    said = box.record("Asterisk-4-1804289383-1234-4242_pbx.example.com")["transcript"]["text"].lower()
    assert "package" in said  # the introduction (first) ...
    assert "tomorrow" in said  # ... and the message
    assert said.index("package") < said.index("tomorrow")


# ---------------------------------------------------------------- 4: a cut mail

def test_mail_cut_inside_the_base64_is_an_incomplete_voicemail(box, tmp_path):
    audio = gsm_wav(tmp_path, seconds=5.7)
    full = asterisk_voicemail(audio)
    cut = full[:len(full) - int(len(full) * 0.75)]
    cut = cut[:cut.rfind(b"\n") - 10]  # inside a base64 line
    p = sendmail(cut, "-c", box.ini(), "-t")
    assert p.returncode == 0, p.stderr
    rec = box.record(AST_ID)
    assert rec["contact"]["mail_truncated"] is True
    assert rec["contact"]["recorded_seconds"] == pytest.approx(5.7, abs=0.05)
    got = rec["recording"]["duration_seconds"]
    assert 0 < got < 2
    body = text_of(box.mail(AST_ID))
    assert f"This voicemail arrived incomplete (5.7 s recorded, {got:.1f} s received)" in body
    [eml, why] = box.files("rejected")
    assert (box.spool / "rejected" / eml).read_bytes() == cut
    assert "cut short" in (box.spool / "rejected" / why).read_text()
    assert "the mail is kept as" in p.stderr


def test_what_the_mail_said_survives_the_hand_over_to_serve(box, tmp_path):
    """Handed to a running serve, the job record is an event: the PBX's facts
    (a cut mail, the recorded length) must reach the owner from there too."""
    audio = gsm_wav(tmp_path, seconds=5.7)
    full = asterisk_voicemail(audio, cidname="Robert Banker")
    cut = full[:len(full) // 4]
    cut = cut[:cut.rfind(b"\n") - 10]
    ini = box.ini()
    srv = Serve(ini, box.spool).ready()  # the mail is dropped whole: serve reads it again
    try:
        p = sendmail(cut, "-c", ini, "-t")
        assert p.returncode == 0, p.stderr
        assert "vmpipe serve is running: the mail is dropped as" in p.stderr
        srv.wait_log("done in")
    finally:
        assert srv.stop() == 0
    body = text_of(box.mail(AST_ID))
    assert "There is a voicemail from Robert Banker (5551234)." in body
    assert "This voicemail arrived incomplete (5.7 s recorded, " in body


# ---------------------------------------------------------------- 5: not a voicemail

def recorder(tmp_path, status=0):
    """A stand-in MTA: writes its argv and standard input where the test reads them."""
    log = tmp_path / "mta"
    script = tmp_path / "fake-sendmail"
    script.write_text(textwrap.dedent(f"""\
        #!/usr/bin/python3
        import json, sys
        open({str(log)!r} + ".args", "w").write(json.dumps(sys.argv[1:]))
        open({str(log)!r} + ".mail", "wb").write(sys.stdin.buffer.read())
        sys.exit({status})
        """))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, log


def test_pager_mail_goes_on_unchanged(box, tmp_path):
    mta, log = recorder(tmp_path)
    mail = asterisk_pager()
    ini = box.ini(serve=f"passthrough = {mta} -oi")
    p = sendmail(mail, "-c", ini, "-t")
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "mta.mail").read_bytes() == mail
    assert json.loads((tmp_path / "mta.args").read_text()) == ["-oi", "-t"]
    assert "passed on unchanged" in p.stderr
    assert box.files("rejected") == [] and box.files("new") == []


def test_freeswitch_notify_mail_goes_on_with_its_arguments(box, tmp_path):
    mta, log = recorder(tmp_path)
    mail, argv, to = freeswitch_voicemail(None, template=NOTIFY_TPL, notify_email="pager@example.org")
    ini = box.ini(serve=f"passthrough = {mta} -oi")
    p = sendmail(mail, *argv, "-c", ini, "-t", to)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "mta.mail").read_bytes() == mail
    assert json.loads((tmp_path / "mta.args").read_text()) == [
        "-oi", "-f", "1001@pbx.example.org", "-t", "pager@example.org"]


def test_passthrough_failure_is_the_pbxs_exit_status(box, tmp_path):
    mta, _ = recorder(tmp_path, status=75)
    p = sendmail(asterisk_pager(), "-c", box.ini(serve=f"passthrough = {mta}"), "-t")
    assert p.returncode == 75
    assert "exited 75" in p.stderr


def test_voicemail_without_recording_still_tells_the_owner(box, tmp_path):
    mail = asterisk_voicemail(None, cidnum="+15557654321", cidname="Robert Banker", duration=42)
    p = sendmail(mail, "-c", box.ini(), "-t")
    assert p.returncode == 0, p.stderr
    body = text_of(box.mail(AST_ID))
    assert "There is a voicemail from Robert Banker (+15557654321)." in body
    assert "Left at: 29 November 2026" in body
    assert "Duration: 42s" in body  # from Asterisk's body: "left a 0:42 long message"
    assert "sent this message without its recording" in body
    assert "could not be found" not in body
    rec = box.record(AST_ID)
    assert rec["contact"]["recording_not_sent"] is True


# ---------------------------------------------------------------- 8: too large to attach

@pytest.mark.skipif(not os.path.exists(os.path.join(PLUGIN_DIR, "notify-smtp.so")),
                    reason="needs notify-smtp")
def test_too_large_recording_says_where_it_is_kept(box, tmp_path):
    srv = SmtpServer(tmp_path, tls="none").start()
    try:
        ini = box.ini(notify=f"plugin = notify-smtp\nurl = {srv.url}\ntls = none\n"
                             "from = vm@pbx.example.com\nattach = smaller-than\nattach_max = 1K\n")
        p = sendmail(asterisk_voicemail(gsm_wav(tmp_path)), "-c", ini, "-t")
        assert p.returncode == 0, p.stderr
        [m] = srv.messages
    finally:
        srv.stop()
    msg = email.message_from_bytes(m.data, policy=email.policy.default)
    body = text_of(msg)
    [name] = box.files("recordings")
    assert "too large to attach to this message (the limit is 1 KB)." in body
    assert f"It is kept on the voicemail server as {box.spool}/recordings/{name}" in body
    assert "use the link above" not in body
    html = msg.get_body(("html",)).get_content()
    assert "use the link above" not in html


# ---------------------------------------------------------------- 11, 12: an MTA as the caller

def test_mta_caller_owns_retries_no_copy_kept(box, tmp_path):
    # A mail server that is not there: the owner cannot be told in time (75).
    ini = box.ini("timeout = 2s\nnotify_grace = 1s\nretry_cap = 1s",
                  notify="plugin = notify-smtp\nurl = smtp://127.0.0.1:1\ntls = none\nfrom = vm@pbx.example.com\n")
    mail = asterisk_voicemail(gsm_wav(tmp_path))
    p = sendmail(mail, "--mta", "-c", ini, "-t", env={"VMPIPE_LOG_FORMAT": "json"})
    assert p.returncode in (69, 75), p.stderr
    assert box.files("new") == [] and box.files("recordings") == []
    lines = p.stderr.splitlines()
    assert lines and all(" info " not in ln and '"info"' not in ln for ln in lines)
    assert lines[0].startswith("vmpipe: error"), p.stderr
    # Without --mta the job stays for `vmpipe serve`, as before.
    p = sendmail(mail, "-c", ini, "-t")
    assert p.returncode in (69, 75)
    assert len(box.files("new")) == 1


# ---------------------------------------------------------------- issue 17: bounds at the intake

def test_oversized_mail_is_read_no_further_than_the_limit(box, tmp_path):
    """A 500 MB mail: refused after 64 MB, the head kept, peak RSS well under 80 MB."""
    ini = box.ini()
    probe = textwrap.dedent(f"""\
        import os, resource, subprocess, sys
        p = subprocess.Popen([{VMPIPE!r}, "sendmail", "-c", {str(ini)!r}, "-t"],
                             stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        head = (b"To: pat@example.com\\nMessage-ID: <Asterisk-1-2-1234-4@pbx>\\n"
                b"Content-Type: audio/x-wav; name=a.wav\\nContent-Transfer-Encoding: base64\\n\\n")
        line = b"A" * 72 + b"\\n"
        chunk = line * (1 << 14)
        sent = 0
        try:
            p.stdin.write(head)
            while sent < 500 << 20:
                p.stdin.write(chunk)
                sent += len(chunk)
            p.stdin.close()
        except BrokenPipeError:
            pass
        err = p.stderr.read()
        rc = p.wait()
        print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, sent)
        sys.stderr.write(err.decode())
        """)
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, VMPIPE_LOG_FORMAT="text"))
    rc, maxrss_kb, sent = map(int, r.stdout.split())
    assert rc == 65, r.stderr
    assert sent < 500 << 20  # it stopped reading
    if not SAN:  # ASan's shadow memory and quarantine are no measure of ours
        assert maxrss_kb < 80 * 1024, f"peak RSS {maxrss_kb} KiB"
    [eml, why] = box.files("rejected")
    assert (box.spool / "rejected" / eml).stat().st_size == 256 * 1024
    assert "larger than 67108864 bytes" in (box.spool / "rejected" / why).read_text()


def test_caps_refuse_before_serve_would(box, tmp_path):
    # app_voicemail's strip_control_and_high() copies at most 255 bytes of a caller id.
    mail = asterisk_voicemail(gsm_wav(tmp_path), cidnum="5" * 4096)
    p = sendmail(mail, "-c", box.ini(), "-t")
    assert p.returncode == 65, p.stderr
    assert "the caller id is 255 bytes; at most 128" in p.stderr
    assert box.files("new") == [] and box.files("recordings") == []
    assert len(box.files("rejected")) == 2
