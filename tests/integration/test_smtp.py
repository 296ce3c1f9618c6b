"""notify-smtp against a real SMTP server (aiosmtpd on 127.0.0.1).

The server requires STARTTLS (a self-signed certificate made here with
openssl) and AUTH after TLS; every received message is parsed with Python's
email package (policy default) and checked part by part.  Tests that wait
(retries, a server that is down) run on the fake clock.
"""
import base64
import email
import email.policy
import json
import os
import re
import struct
import subprocess
import sys

import pytest

from conftest import PLUGIN_DIR, connect_event, run_vmpipe, write

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakes"))
from smtp_server import SmtpServer, free_port  # noqa: E402

USER, PASSWORD = "vm-sender", "p4ss-W0rd!xyz"
FAKE = {"VMPIPE_CLOCK": "fake"}

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(PLUGIN_DIR, "notify-smtp.so")),
                                reason="notify-smtp not built")


def wav_bytes(seconds=0.5, rate=8000):
    """A small valid 16-bit mono WAV (a square wave)."""
    n = int(seconds * rate)
    samples = b"".join(struct.pack("<h", 8000 if (i // 20) % 2 else -8000) for i in range(n))
    hdr = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVE"
    hdr += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return hdr + b"data" + struct.pack("<I", len(samples)) + samples


class Setup:
    """A recordings dir with one voicemail, a pipeline file, an event."""

    def __init__(self, tmp_path, plugdir):
        self.tmp = tmp_path
        self.plugdir = plugdir
        self.rec_dir = tmp_path / "rec"
        self.rec_dir.mkdir()
        self.contact = "c0ffee00-1111-2222-3333-444455556666"
        self.audio = wav_bytes()
        (self.rec_dir / f"{self.contact}.wav").write_bytes(self.audio)

    def pipeline(self, smtp_lines, extra="", pipeline_opts="", transcript=None):
        """locate-file, then (with `transcript`) a transcriber that answers it
        (the test plugin; "\\n" for a line break), then notify-smtp."""
        if transcript is not None:
            pipeline_opts += f"\nplugin_dir = {self.plugdir}"
        text = f"""[pipeline]
timeout = 2m
retry_base = 1s
retry_cap = 10s
{pipeline_opts}

[locate]
plugin = locate-file
dir = {self.rec_dir}
pattern = {{initial_contact_id}}.wav
wait = 10s
"""
        if transcript is not None:
            text += f"[transcribe]\nplugin = test-flaky-transcribe\ntext = {transcript}\n"
        text += f"""
[notify]
plugin = notify-smtp
{smtp_lines}
{extra}
"""
        return write(self.tmp / "pipeline.ini", text)

    def event(self, **kw):
        ev = connect_event(contact_id=self.contact, **kw)
        return write(self.tmp / "event.json", json.dumps(ev))

    def record(self, **fields):
        rec = {"id": self.contact, "contact": {"id": self.contact, "caller": "+15555550123"},
               "recipient": {"email": "owner@example.com", "name": "Pat Owner"},
               "recording": {"uri": "file://" + str(self.rec_dir / f"{self.contact}.wav")}}
        rec.update(fields)
        return write(self.tmp / "record.json", json.dumps(rec))


def smtp_opts(srv, *more, auth=True, ca=True, sender="Voicemail <voicemail@example.net>"):
    lines = [f"url = {srv.url}", f"from = {sender}"]
    if auth:
        lines += [f"username = {USER}", "password = ${SMTP_TEST_PASSWORD}"]
    if ca and srv.cert:
        lines.append(f"ca_file = {srv.cert}")
    return "\n".join(lines + list(more))


def run(pipeline, event, *flags, env=None):
    e = {"SMTP_TEST_PASSWORD": PASSWORD}
    e.update(env or {})
    return run_vmpipe(*flags, "run", "-c", pipeline, event, env=e)


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


def part(msg, ctype):
    parts = [p for p in msg.walk() if p.get_content_type() == ctype]
    assert len(parts) == 1, [p.get_content_type() for p in msg.walk()]
    return parts[0]


@pytest.fixture
def setup(tmp_path, plugdir):
    return Setup(tmp_path, plugdir)


@pytest.fixture
def server(tmp_path):
    srv = SmtpServer(tmp_path, users={USER: PASSWORD}).start()
    yield srv
    srv.stop()


# ----------------------------------------------------------------- delivery

@pytest.mark.valgrind
@pytest.mark.parametrize("mech", ["plain", "login"])
def test_starttls_auth_delivers_message_part_by_part(setup, server, mech):
    p = setup.pipeline(smtp_opts(server, f"auth = {mech}"), transcript="Please call me back.")
    r = run(p, setup.record())
    assert r.code == 0, r
    assert len(server.messages) == 1
    m = server.messages[0]
    assert server.auth_attempts == [(mech.upper(), USER, True)]
    assert m.login == USER
    assert m.mail_from == "voicemail@example.net"
    assert m.rcpt_tos == ["owner@example.com"]

    msg = parse(m.data)
    assert msg["From"].addresses[0].addr_spec == "voicemail@example.net"
    assert msg["From"].addresses[0].display_name == "Voicemail"
    to = msg["To"].addresses
    assert [(a.display_name, a.addr_spec) for a in to] == [("Pat Owner", "owner@example.com")]
    assert msg["Subject"] == "Voicemail message from: +15555550123"
    assert msg["Date"] and msg["Message-ID"]
    assert msg.get_content_type() == "multipart/alternative"
    text = part(msg, "text/plain").get_content()
    assert "+15555550123" in text and "Please call me back." in text
    html = part(msg, "text/html").get_content()
    assert "Pat Owner" in html and "Please call me back." in html

    rec = r.json()
    assert rec["state"] == "done"
    notes = rec["notifications"]
    assert len(notes) == 1
    assert notes[0]["transport"] == "smtp" and notes[0]["stage"] == "notify"
    assert notes[0]["message_id"] == msg["Message-ID"]
    assert "queued as Q1" in r.err  # the server's reply is logged on success


def normalise(raw):
    """Blank what differs between two builds of the same mail."""
    raw = re.sub(rb"(?m)^(Date|Message-ID): .*\r\n", rb"\1: X\r\n", raw)
    for b in set(re.findall(rb'boundary="([^"]+)"', raw)):
        raw = raw.replace(b, b"BOUNDARY")
    return raw


def test_sends_the_mail_module_message_byte_for_byte(setup, server, tmp_path):
    """The server stores exactly what notify-file files for the same job."""
    out = tmp_path / "outbox"
    # A transcript with lines starting with '.', which SMTP must dot-stuff.
    text = "first line\n.\n..two dots\n.leading dot"
    p = setup.pipeline(smtp_opts(server),
                       extra=f"[notify.file]\nplugin = notify-file\ndir = {out}\n"
                             "from = Voicemail <voicemail@example.net>\n",
                       transcript=text.replace("\n", "\\n"))
    r = run(p, setup.record())
    assert r.code == 0, r
    eml = (out / f"{setup.contact}.eml").read_bytes()
    got = server.messages[0].data
    assert got.endswith(b"\r\n") and b"\n" not in got.replace(b"\r\n", b"")
    assert normalise(got) == normalise(eml)
    assert text in part(parse(got), "text/plain").get_content().replace("\r\n", "\n")


def test_connect_event_cc_bcc_and_envelope_sender(setup, server):
    p = setup.pipeline(smtp_opts(server, "cc = Boss <boss@example.com>, desk@example.com",
                                 "bcc = audit@example.com",
                                 "envelope_from = bounces@example.net"))
    r = run(p, setup.event())
    assert r.code == 0, r
    m = server.messages[0]
    assert m.mail_from == "bounces@example.net"
    assert sorted(m.rcpt_tos) == sorted(["owner@example.com", "boss@example.com",
                                         "desk@example.com", "audit@example.com"])
    msg = parse(m.data)
    assert msg["From"].addresses[0].addr_spec == "voicemail@example.net"
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["boss@example.com", "desk@example.com"]
    assert msg["Bcc"] is None and b"audit@example.com" not in m.data


@pytest.mark.parametrize("name,subject", [
    ("Zoë Ångström", "Voicemail für {{recipient_name}} – {{caller}}"),
    ("王小明", "语音留言 {{caller}}"),
    ("Ольга Петрова", "Голосовое сообщение от {{caller}}"),
])
def test_non_ascii_names_and_subjects(setup, server, name, subject):
    p = setup.pipeline(smtp_opts(server, f"subject = {subject}",
                                 sender="Boîte vocale <voicemail@example.net>"))
    r = run(p, setup.event(name=name))
    assert r.code == 0, r
    raw = server.messages[0].data
    assert max(raw.split(b"\r\n\r\n", 1)[0]) < 0x80  # headers are 7-bit on the wire
    msg = parse(raw)
    want = subject.replace("{{recipient_name}}", name).replace("{{caller}}", "+15555550123")
    assert msg["Subject"] == want
    assert msg["To"].addresses[0].display_name == name
    assert msg["From"].addresses[0].display_name == "Boîte vocale"
    assert name in part(msg, "text/html").get_content()


def test_smtps_implicit_tls(setup, tmp_path):
    with SmtpServer(tmp_path, tls="smtps", users={USER: PASSWORD}) as srv:
        p = setup.pipeline(smtp_opts(srv))
        r = run(p, setup.event())
        assert r.code == 0, r
        assert len(srv.messages) == 1


@pytest.mark.parametrize("mode", ["none", "optional"])
def test_clear_text_on_loopback_without_warning(setup, tmp_path, mode):
    with SmtpServer(tmp_path, tls="none") as srv:
        p = setup.pipeline(smtp_opts(srv, f"tls = {mode}", auth=False))
        r = run(p, setup.event())
        assert r.code == 0, r
        assert len(srv.messages) == 1
        assert "clear text" not in r.err


def test_tls_required_refuses_server_without_starttls(setup, tmp_path):
    with SmtpServer(tmp_path, tls="none") as srv:
        p = setup.pipeline(smtp_opts(srv, auth=False))
        r = run(p, setup.event(), env=FAKE)
        assert r.code == 69, r
        assert "STARTTLS" in r.err
        assert srv.messages == []


# ------------------------------------------------------------------ failures

def test_wrong_password_is_permanent(setup, server):
    p = setup.pipeline(smtp_opts(server))
    r = run(p, setup.event(), env={"SMTP_TEST_PASSWORD": "not-the-password", **FAKE})
    assert r.code == 69, r
    assert server.messages == []
    assert server.auth_attempts and not server.auth_attempts[0][2]
    assert len(server.auth_attempts) == 1  # permanent: not retried
    err = r.json()["errors"]
    assert [e["kind"] for e in err] == ["permanent"]
    assert "535" in err[0]["message"] and "check username and password" in err[0]["message"]
    assert "not-the-password" not in r.err + r.out


def test_untrusted_certificate_is_refused(setup, server):
    p = setup.pipeline(smtp_opts(server, ca=False))
    r = run(p, setup.event(), env=FAKE)
    assert r.code == 69, r
    assert server.messages == [] and server.auth_attempts == []
    msg = r.json()["errors"][0]["message"]
    assert "certificate" in msg.lower() and "ca_file" in msg and "insecure" in msg


def test_insecure_skips_verification_with_a_warning(setup, server):
    p = setup.pipeline(smtp_opts(server, "insecure = yes", ca=False))
    r = run(p, setup.event())
    assert r.code == 0, r
    assert len(server.messages) == 1
    assert "not verified" in r.err


def test_451_then_250_is_retried_and_sent_once(setup, tmp_path):
    with SmtpServer(tmp_path, users={USER: PASSWORD},
                    data_replies=["451 4.3.0 Mailbox busy, try again later"]) as srv:
        p = setup.pipeline(smtp_opts(srv))
        r = run(p, setup.event(), env=FAKE)
        assert r.code == 0, r
        assert srv.data_attempts == 2
        assert len(srv.messages) == 1
        rec = r.json()
        assert [e["kind"] for e in rec["errors"]] == ["transient"]
        assert "451 4.3.0 Mailbox busy" in rec["errors"][0]["message"]
        assert len(rec["notifications"]) == 1
        assert rec["notifications"][0]["message_id"] == parse(srv.messages[0].data)["Message-ID"]


def test_550_is_permanent_and_names_the_reply(setup, tmp_path):
    with SmtpServer(tmp_path, users={USER: PASSWORD},
                    rcpt_replies={"owner@example.com": "550 5.1.1 <owner@example.com>: no such user"}) as srv:
        p = setup.pipeline(smtp_opts(srv))
        r = run(p, setup.event(), env=FAKE)
        assert r.code == 69, r
        assert srv.messages == [] and srv.data_attempts == 0
        rec = r.json()
        assert rec["state"] == "failed"
        assert [e["kind"] for e in rec["errors"]] == ["permanent"]
        assert "550 5.1.1 <owner@example.com>: no such user" in rec["errors"][0]["message"]
        assert "550 5.1.1" in r.err


def test_554_after_data_is_permanent(setup, tmp_path):
    with SmtpServer(tmp_path, users={USER: PASSWORD},
                    data_replies=["554 5.7.1 Message rejected as spam"]) as srv:
        p = setup.pipeline(smtp_opts(srv))
        r = run(p, setup.event(), env=FAKE)
        assert r.code == 69, r
        assert srv.data_attempts == 1
        assert "554 5.7.1 Message rejected as spam" in r.json()["errors"][0]["message"]


def test_server_down_is_transient_until_the_timeout(setup, tmp_path):
    port = free_port()  # nothing listens there
    p = setup.pipeline(f"url = smtp://127.0.0.1:{port}\nusername = {USER}\n"
                       "password = ${SMTP_TEST_PASSWORD}",
                       pipeline_opts="notify_grace = 30s")
    r = run(p, setup.event(), env=FAKE)
    assert r.code == 75, r
    rec = r.json()
    kinds = [e["kind"] for e in rec["errors"]]
    assert kinds[-1] == "timeout" and kinds.count("transient") >= 3
    assert set(kinds[:-1]) == {"transient"}
    assert f"127.0.0.1:{port}" in rec["errors"][0]["message"]
    assert "connect" in rec["errors"][0]["message"].lower()
    assert rec["notifications"] == []


def test_no_recipient_is_permanent(setup, server):
    p = setup.pipeline(smtp_opts(server))
    r = run(p, setup.event(recipient=None), env=FAKE)
    assert r.code == 69, r
    rec = r.json()
    assert "no recipient" in rec["errors"][0]["message"]
    assert rec["stages"] == {"notify": "failed"}  # refused before locate ran
    assert server.messages == []


def test_allow_list_is_shared_by_every_mail_notifier(setup, server):
    """allowed_recipient_domains is one of the shared mail options: notify-smtp
    refuses what is outside it, at intake, with nothing sent."""
    p = setup.pipeline(smtp_opts(server, "allowed_recipient_domains = example.org"))
    r = run(p, setup.event(recipient="owner@example.com"), env=FAKE)
    assert r.code == 69, r
    assert ("recipient owner@example.com is outside allowed_recipient_domains (example.org): "
            "nothing sent") in r.err
    assert server.messages == [] and server.auth_attempts == []
    r = run(p, setup.event(recipient="owner@example.org"), env=FAKE)
    assert r.code == 0, r
    assert len(server.messages) == 1
    # A configured recipient outside the list is a configuration error.
    p = setup.pipeline(smtp_opts(server, "allowed_recipient_domains = example.org",
                                 "bcc = audit@example.com"))
    r = run_vmpipe("check", "-c", p, env={"SMTP_TEST_PASSWORD": PASSWORD})
    assert r.code == 78, r
    assert "option 'bcc': audit@example.com is outside allowed_recipient_domains (example.org)" in r.err


# ------------------------------------------------------------------ secrets

@pytest.mark.parametrize("mech", ["plain", "login"])
def test_password_never_in_the_log_at_trace(setup, server, mech):
    p = setup.pipeline(smtp_opts(server, f"auth = {mech}"))
    r = run(p, setup.event(), "-vv")
    assert r.code == 0, r
    assert "smtp C: MAIL FROM" in r.err  # the conversation was traced
    assert f"smtp C: AUTH {mech.upper()}" in r.err
    secrets = [PASSWORD,
               base64.b64encode(PASSWORD.encode()).decode(),
               base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode(),
               base64.b64encode(f"{USER}\0{USER}\0{PASSWORD}".encode()).decode()]
    for s in secrets:
        assert s not in r.err and s not in r.out
    # A failed login at trace level leaks nothing either.
    r = run(p, setup.event(), "-vv", env={"SMTP_TEST_PASSWORD": "0ther-Secret", **FAKE})
    assert r.code == 69
    for s in ["0ther-Secret", base64.b64encode(b"0ther-Secret").decode()]:
        assert s not in r.err and s not in r.out


# --------------------------------------------------------------- attachments

def test_attach_yes_keeps_the_link(setup, server):
    p = setup.pipeline(smtp_opts(server, "attach = yes"))
    r = run(p, setup.event())
    assert r.code == 0, r
    msg = parse(server.messages[0].data)
    assert msg.get_content_type() == "multipart/mixed"
    att = [q for q in msg.iter_attachments()]
    assert len(att) == 1
    assert att[0].get_content_type() == "audio/wav"
    assert att[0].get_filename() == f"voicemail-{setup.contact}.wav"
    assert att[0].get_content() == setup.audio
    # The body parts are still there next to the attachment.
    part(msg, "text/plain")
    part(msg, "text/html")


@pytest.mark.parametrize("limit,attached", [("1k", False), ("1M", True)])
def test_attach_smaller_than(setup, server, limit, attached):
    p = setup.pipeline(smtp_opts(server, "attach = smaller-than", f"attach_max = {limit}"))
    r = run(p, setup.event())
    assert r.code == 0, r
    msg = parse(server.messages[0].data)
    att = list(msg.iter_attachments())
    assert len(att) == (1 if attached else 0)
    if attached:
        assert att[0].get_content() == setup.audio
    else:
        assert msg.get_content_type() == "multipart/alternative"
        assert "not attached" in r.err


# ------------------------------------------------------------------- EHLO

def host_namespace(monkeypatch, tmp_path, hostname, hosts):
    """Run vmpipe with its own host name and /etc/hosts (a UTS and a mount
    namespace: root only), so the EHLO name is known whatever this machine is
    called."""
    if os.geteuid() != 0 or os.environ.get("VMPIPE_WRAPPER"):
        pytest.skip("needs root for unshare, and no other wrapper")
    if subprocess.run(["unshare", "--uts", "--mount", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare --mount does not work here (in a chroot, / is not a mount point)")
    f = tmp_path / "hosts"
    f.write_text(hosts)
    monkeypatch.setenv("VMPIPE_WRAPPER", "unshare --uts --mount sh -c 'hostname {} && mount "
                       "--bind {} /etc/hosts && exec \"$@\"' sh".format(hostname, f))


def test_ehlo_gives_the_hosts_fqdn(setup, tmp_path, monkeypatch):
    """Postfix's reject_non_fqdn_helo_hostname refuses a short name; the host's
    FQDN (the resolver's canonical name of its host name) passes."""
    host_namespace(monkeypatch, tmp_path, "pbx7",
                   "127.0.0.1 localhost\n127.0.1.1 pbx7.example.org pbx7\n")
    with SmtpServer(tmp_path, users={USER: PASSWORD}, reject_non_fqdn_helo=True) as srv:
        r = run(setup.pipeline(smtp_opts(srv)), setup.event())
        assert r.code == 0, r
        [m] = srv.messages
    assert m.helo == "pbx7.example.org"


def test_a_host_without_fqdn_is_warned_and_refused(setup, tmp_path, monkeypatch):
    host_namespace(monkeypatch, tmp_path, "pbx7", "127.0.0.1 localhost pbx7\n")
    with SmtpServer(tmp_path, users={USER: PASSWORD}, reject_non_fqdn_helo=True) as srv:
        r = run(setup.pipeline(smtp_opts(srv)), setup.event())
        assert srv.messages == []
    assert r.code == 69, r
    assert "this host's name 'pbx7' is not fully qualified" in r.err
    assert "504 5.5.2 <pbx7>: Helo command rejected: need fully-qualified hostname" in r.err


@pytest.mark.parametrize("helo", ["voicemail.example.com", "[192.0.2.7]"])
def test_helo_option_names_the_client(setup, tmp_path, helo):
    with SmtpServer(tmp_path, users={USER: PASSWORD}, reject_non_fqdn_helo=True) as srv:
        r = run(setup.pipeline(smtp_opts(srv, f"helo = {helo}")), setup.event())
        assert r.code == 0, r
        [m] = srv.messages
    assert m.helo == helo


@pytest.mark.parametrize("lines, needle", [
    (["helo = bad name"], "option 'helo': 'bad name' is not a host name"),
    (["helo = -x.example"], "is not a host name"),
])
def test_bad_helo_is_refused(setup, server, lines, needle):
    r = run(setup.pipeline(smtp_opts(server, *lines)), setup.event())
    assert r.code == 78, r
    assert needle in r.err


def test_helo_and_a_url_path_conflict(setup, server):
    lines = smtp_opts(server, "helo = a.example").replace(
        f"url = {server.url}", f"url = {server.url}/b.example")
    r = run(setup.pipeline(lines), setup.event())
    assert r.code == 78, r
    assert "the url's path sets the EHLO name too" in r.err


# Postfix's default message_size_limit (postconf(5)): 10,240,000 bytes.
POSTFIX_LIMIT = 10_240_000


def test_over_the_servers_size_goes_without_the_recording(setup, tmp_path):
    """An 8 MB recording is an 11 MB message (base64): over Postfix's default
    limit.  curl declares SIZE= in MAIL FROM, the server refuses it there (552,
    before any data), and the mail goes again without the recording."""
    big = wav_bytes(seconds=250, rate=16000)              # 8,000,044 bytes
    (setup.rec_dir / f"{setup.contact}.wav").write_bytes(big)
    with SmtpServer(tmp_path, users={USER: PASSWORD}, size_limit=POSTFIX_LIMIT) as srv:
        p = setup.pipeline(smtp_opts(srv, "attach = yes"))     # attach_max = 10M
        r = run(p, setup.event())
        assert r.code == 0, r
        [m] = srv.messages
        assert srv.data_attempts == 1                    # the large one never reached DATA
    assert len(m.data) < POSTFIX_LIMIT
    msg = parse(m.data)
    assert list(msg.iter_attachments()) == []
    text = part(msg, "text/plain").get_content()
    # The largest recording that fits: (10,240,000 - 64 KiB) / 78 * 57 bytes.
    assert "too large to attach to this message (the limit is 7." in text, text
    assert re.search(r"refused \d+ bytes as too large \(\"552 [^\"]*\", its SIZE limit is "
                     r"smaller\): sending \d+ bytes without the recording", r.err), r.err
    rec = json.loads(r.out)
    assert [n["transport"] for n in rec["notifications"]] == ["smtp"]


def test_552_after_data_goes_once_more_without_the_recording(setup, tmp_path):
    """A server that names no SIZE and refuses the data (Postfix with the limit
    in a milter, or a relay behind it): the 552 after DATA, then once more."""
    with SmtpServer(tmp_path, users={USER: PASSWORD}, size_limit=0,
                    data_replies=["552 5.3.4 Message size exceeds fixed limit"]) as srv:
        p = setup.pipeline(smtp_opts(srv, "attach = yes"))
        r = run(p, setup.event())
        assert r.code == 0, r
        [m] = srv.messages
        assert srv.data_attempts == 2
    msg = parse(m.data)
    assert list(msg.iter_attachments()) == []
    assert "too large to attach" in part(msg, "text/plain").get_content()
    assert "552 5.3.4 Message size exceeds fixed limit" in r.err


def test_552_without_a_recording_to_drop_is_permanent(setup, tmp_path):
    with SmtpServer(tmp_path, users={USER: PASSWORD},
                    data_replies=["552 5.3.4 Message size exceeds fixed limit"] * 3) as srv:
        p = setup.pipeline(smtp_opts(srv))                     # attach = no
        r = run(p, setup.event())
        assert r.code != 0, r
        assert srv.messages == [] and srv.data_attempts == 1
    assert "552 5.3.4" in r.err


# -------------------------------------------------------------- idempotency

def test_a_job_already_notified_is_not_mailed_again(setup, server):
    """A checkpoint whose notifications name this stage (a run killed after the
    server took the mail, before "done" was saved): resumed, nothing sent."""
    state = setup.tmp / "state"
    p = setup.pipeline(smtp_opts(server), pipeline_opts=f"state = {state}")
    ckpt = {"id": setup.contact, "contact": {"id": setup.contact, "caller": "+15555550123"},
            "recipient": {"email": "owner@example.com"}, "state": "failed", "attempts": 2,
            "stages": {"locate": "done"}, "errors": [],
            "recording": {"uri": "file://" + str(setup.rec_dir / f"{setup.contact}.wav")},
            "notifications": [{"stage": "notify", "transport": "smtp",
                               "message_id": "<earlier@example.net>",
                               "sent_at": "2024-01-01T00:00:00Z"}]}
    write(state / f"{setup.contact}.json", json.dumps(ckpt))
    r = run(p, setup.record())
    assert r.code == 0, r
    assert server.messages == [] and server.auth_attempts == []
    assert "already sent (<earlier@example.net>)" in r.err
    # And the record goes on through another run without a second mail.
    r = run(p, setup.record())
    assert r.code == 0, r
    assert server.messages == []


def test_rerun_of_a_delivered_record_sends_nothing(setup, server):
    p = setup.pipeline(smtp_opts(server), pipeline_opts=f"state = {setup.tmp / 'state'}")
    r = run(p, setup.event())
    assert r.code == 0 and len(server.messages) == 1
    rec = r.json()
    rec["stages"] = {}  # even with the stage markers gone
    again = write(setup.tmp / "again.json", json.dumps(rec))
    r = run(p, again)
    assert r.code == 0, r
    assert len(server.messages) == 1


def test_record_notifications_from_outside_do_not_stop_the_mail(setup, server):
    """A record that claims it was already sent is mailed all the same: what
    was sent is the engine's to know (the checkpoint), never the event's."""
    p = setup.pipeline(smtp_opts(server))
    r = run(p, setup.record(notifications=[{"stage": "notify", "transport": "smtp",
                                             "message_id": "<earlier@example.net>"}]))
    assert r.code == 0, r
    assert len(server.messages) == 1


# ------------------------------------------------------------ configuration

@pytest.mark.parametrize("lines,needle", [
    ("url = http://127.0.0.1:25", "scheme 'http' is not smtp or smtps"),
    ("url = smtp://u:pw@127.0.0.1:25", "not in the URL"),
    ("url = smtps://127.0.0.1:465\ntls = none", "contradicts"),
    ("url = smtp://127.0.0.1:25\nusername = u", "'password' is not"),
    ("url = smtp://127.0.0.1:25\npassword = x", "'username' is not"),
    ("url = smtp://127.0.0.1:25\nenvelope_from = Bounce <b@x.org>", "envelope_from"),
    ("url = smtp://127.0.0.1:25\nca_file = /nonexistent/ca.pem", "/nonexistent/ca.pem"),
    ("url = smtp://127.0.0.1:25\ntls = maybe", "tls"),
    ("tls = none", "url"),
])
def test_bad_configuration_is_refused(setup, lines, needle):
    p = setup.pipeline(lines)
    r = run_vmpipe("check", "-c", p)
    assert r.code == 78, r
    assert needle in r.err
    assert "[notify]" in r.err


def test_tls_optional_uses_starttls_when_offered(setup, server):
    p = setup.pipeline(smtp_opts(server, "tls = optional"))
    r = run(p, setup.event(), "-vv")
    assert r.code == 0, r
    assert "smtp C: STARTTLS" in r.err
    assert len(server.messages) == 1


def test_tls_none_to_a_remote_host_warns(setup):
    p = setup.pipeline("url = smtp://mail.example.com:25\ntls = none")
    r = run_vmpipe("check", "-c", p)
    assert r.code == 0, r
    assert "clear text" in r.err and "mail.example.com" in r.err
