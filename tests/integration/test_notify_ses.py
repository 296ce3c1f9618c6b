"""notify-ses against the strict SES v2 fake (tests/fakes/ses_fake.py).

The recording comes from disk (locate-file) so these tests need no other
AWS plugin; the end-to-end AWS pipeline is test_aws_pipeline.py.  Every
request is SigV4-checked by the fake with botocore; every accepted message
is parsed back with Python's email package.  Tests that wait (retries,
throttling) run on the engine's fake clock.
"""
import json
import os
import shlex
import struct
import subprocess
import sys

import pytest

from conftest import PLUGIN_DIR, PYTHON, VMPIPE, Result, connect_event, write

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakes"))
import ses_fake  # noqa: E402

AKID, SECRET = "AKIDSESTEST", "ses/secret+Key0123456789abcdefXYZ"
SENDER = "Voicemail <voicemail@example.com>"

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(PLUGIN_DIR, "notify-ses.so")),
                                reason="notify-ses not built")


# ---------------------------------------------------------------- helpers
# (test_aws_pipeline.py imports these)

def aws_env(home, endpoints, secret=SECRET, clock="fake", extra=None):
    """A clean environment: nothing AWS from outside, static test credentials,
    endpoints {"SESV2": url, "S3": url, "TRANSCRIBE": url}."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and not k.startswith("VMPIPE_")}
    env.update({"HOME": str(home), "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": secret,
                "AWS_REGION": "us-east-1", "VMPIPE_LOG_FORMAT": "text"})
    for svc, url in endpoints.items():
        env[f"AWS_ENDPOINT_URL_{svc}"] = url
    if clock:
        env["VMPIPE_CLOCK"] = clock
    env.update(extra or {})
    return env


def run_env(env, *args, input=None, timeout=180):
    """build/vmpipe with exactly `env` (wrapped in VMPIPE_WRAPPER when set)."""
    cmd = [VMPIPE, *[str(a) for a in args]]
    wrapper = os.environ.get("VMPIPE_WRAPPER")
    if wrapper:
        cmd = shlex.split(wrapper) + cmd
    res = Result(subprocess.run(cmd, input=input, capture_output=True, text=True, env=env,
                                timeout=timeout))
    assert not (wrapper and res.code == 99), f"memory errors under {wrapper}: {res!r}"
    return res


def part(msg, ctype):
    parts = [p for p in msg.walk() if p.get_content_type() == ctype]
    assert len(parts) == 1, [p.get_content_type() for p in msg.walk()]
    return parts[0]


def wav_bytes(seconds=0.5, rate=8000):
    n = int(seconds * rate)
    samples = b"".join(struct.pack("<h", 8000 if (i // 20) % 2 else -8000) for i in range(n))
    hdr = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVE"
    hdr += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return hdr + b"data" + struct.pack("<I", len(samples)) + samples


# ---------------------------------------------------------------- fixtures

@pytest.fixture
def ses():
    fake = ses_fake.SESFake([(AKID, SECRET, None)], verified=["example.com"],
                            config_sets=["vm-events"]).start()
    yield fake
    fake.stop()


TRANSCRIPT = "Please call me back about <b>it</b>."


class Setup:
    def __init__(self, tmp, ses, plugdir):
        self.tmp = tmp
        self.ses = ses
        self.plugdir = plugdir
        self.rec_dir = tmp / "rec"
        self.rec_dir.mkdir()
        self.contact = "c0ffee00-1111-2222-3333-444455556666"
        (self.rec_dir / f"{self.contact}.wav").write_bytes(wav_bytes())

    def pipeline(self, *ses_lines, timeout="2m", sender=SENDER, pipeline_opts=""):
        """locate-file, a transcriber that answers TRANSCRIPT (the test plugin),
        notify-ses with `ses_lines`."""
        lines = "\n".join(ses_lines)
        return write(self.tmp / "pipeline.ini", f"""[pipeline]
plugin_dir = {self.plugdir}
timeout = {timeout}
notify_grace = 0s
retry_base = 1s
retry_cap = 10s
{pipeline_opts}

[locate]
plugin = locate-file
dir = {self.rec_dir}
pattern = {{initial_contact_id}}.wav
wait = 5s

[transcribe]
plugin = test-flaky-transcribe
text = {TRANSCRIPT}

[notify]
plugin = notify-ses
from = {sender}
{lines}
""")

    def record(self, name="record.json", **fields):
        rec = {"id": self.contact,
               "contact": {"id": self.contact, "caller": "+15555550123"},
               "recipient": {"email": "owner@example.com", "name": "Pat Owner"}}
        rec.update(fields)
        return write(self.tmp / name, json.dumps(rec))

    def run(self, pipeline, event, **kw):
        env = aws_env(self.tmp, {"SESV2": self.ses.url}, **kw)
        return run_env(env, "run", "-c", pipeline, event)


@pytest.fixture
def setup(tmp_path, ses, plugdir):
    return Setup(tmp_path, ses, plugdir)


# ---------------------------------------------------------------- delivery

@pytest.mark.valgrind
def test_sends_raw_mime_signed_and_records_message_id(setup):
    r = setup.run(setup.pipeline("allowed_recipient_domains = example.com"), setup.record())
    assert r.code == 0, r
    ses = setup.ses
    assert len(ses.messages) == 1 and len(ses.sends()) == 1
    m = ses.messages[0]
    assert m["access_key"] == AKID  # the fake recomputed the SigV4 signature
    assert m["request_keys"] == ["Content", "Destination", "EmailTags", "FromEmailAddress"]
    assert m["from"] == "voicemail@example.com"
    assert m["envelope"] == {"to": ["owner@example.com"], "cc": [], "bcc": []}
    assert m["tags"] == {"contact_id": setup.contact}
    assert m["config_set"] is None  # off by default: click tracking rewrites links

    msg = setup.ses.parsed()
    assert msg["Subject"] == "Voicemail message from: +15555550123"
    assert msg["From"].addresses[0].addr_spec == "voicemail@example.com"
    assert [(a.display_name, a.addr_spec) for a in msg["To"].addresses] == [
        ("Pat Owner", "owner@example.com")]
    text = part(msg, "text/plain").get_content()
    html = part(msg, "text/html").get_content()
    assert "+15555550123" in text and "Please call me back about <b>it</b>." in text
    assert "Pat Owner" in html and "&lt;b&gt;it&lt;/b&gt;" in html and "<b>it</b>" not in html

    rec = r.json()
    assert rec["state"] == "done"
    (note,) = rec["notifications"]
    assert note["transport"] == "ses" and note["stage"] == "notify"
    assert note["message_id"] == m["message_id"]
    assert m["message_id"] in r.err


def test_comma_list_recipients_cc_bcc_reply_to(setup):
    p = setup.pipeline('cc = Desk <desk@example.com>, "Doe, Jo" <jo@example.com>',
                       "bcc = audit@example.com",
                       "reply_to = Front Desk <front@example.com>")
    r = setup.run(p, setup.record(recipient={"email": "a@example.com, B Two <b@example.com>",
                                             "name": "Team"}))
    assert r.code == 0, r
    m = setup.ses.messages[0]
    assert m["envelope"] == {"to": ["a@example.com", "b@example.com"],
                             "cc": ["desk@example.com", "jo@example.com"],
                             "bcc": ["audit@example.com"]}
    msg = setup.ses.parsed()
    assert [a.addr_spec for a in msg["To"].addresses] == ["a@example.com", "b@example.com"]
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["desk@example.com", "jo@example.com"]
    assert msg["Reply-To"].addresses[0].addr_spec == "front@example.com"
    assert msg["Bcc"] is None and b"audit@example.com" not in m["raw"]


def test_connect_event_tags_and_configuration_set(setup):
    p = setup.pipeline("configuration_set = vm-events", "extra_tags = app=voicemail, env=test")
    ev = connect_event(contact_id=setup.contact, extra_attrs={"tenant": "acme.corp"})
    r = setup.run(p, write(setup.tmp / "ev.json", json.dumps(ev)))
    assert r.code == 0, r
    m = setup.ses.messages[0]
    assert m["config_set"] == "vm-events"
    # '.' is outside SES's tag charset: sanitised, not refused.
    assert m["tags"] == {"contact_id": setup.contact, "tenant": "acme_corp", "app": "voicemail",
                         "env": "test"}
    assert "SES rewrites the audio link" in r.err


def test_tags_off(setup):
    r = setup.run(setup.pipeline("tags = no"), setup.record())
    assert r.code == 0, r
    assert setup.ses.messages[0]["tags"] == {}
    assert "EmailTags" not in setup.ses.messages[0]["request_keys"]


def test_default_to_when_event_names_nobody(setup):
    r = setup.run(setup.pipeline("to = Mailbox <mailbox@example.com>"),
                  setup.record(recipient={}))
    assert r.code == 0, r
    assert setup.ses.messages[0]["envelope"]["to"] == ["mailbox@example.com"]


def test_no_recipient_at_all_is_permanent(setup):
    r = setup.run(setup.pipeline(), setup.record(recipient={}))
    assert r.code == 69, r
    assert "no recipient" in r.err
    assert setup.ses.sends() == []


# ---------------------------------------------------------------- allow-list

@pytest.mark.parametrize("rcpt", ["mallory@evil.example.net",
                                  "owner@example.com, mallory@evil.example.net",
                                  "x@example.com.evil.net", "x@notexample.com"])
def test_recipient_outside_allow_list_is_refused(setup, rcpt):
    p = setup.pipeline("allowed_recipient_domains = example.com, *.example.org")
    r = setup.run(p, setup.record(recipient={"email": rcpt}))
    assert r.code == 69, r
    bad = rcpt.split(", ")[-1]
    assert f"recipient {bad} is outside allowed_recipient_domains (example.com, *.example.org)" \
        in r.err
    assert setup.ses.sends() == []  # nobody mailed, not even the allowed half
    rec = r.json()
    assert rec["notifications"] == [] and rec["state"] == "failed"
    assert any("outside allowed_recipient_domains" in e["message"] for e in rec["errors"])


def test_refused_recipient_costs_nothing_and_says_the_same(setup):
    """What notify-ses would refuse is refused before any stage runs, with the
    message, errors entry and exit status notify-ses gives when it runs."""
    p = setup.pipeline("allowed_recipient_domains = example.com")
    bad = setup.record(recipient={"email": "attacker@evil.example"})
    r = setup.run(p, bad)
    assert r.code == 69, r
    rec = r.json()
    assert "locate" not in rec.get("stages", {}) and "test" not in rec, rec  # nothing ran
    assert rec["stages"] == {"notify": "failed"} and rec["state"] == "failed"
    assert setup.ses.sends() == []
    early = [(e["stage"], e["kind"], e["message"]) for e in rec["errors"]]
    assert early == [("notify", "permanent", "recipient attacker@evil.example is outside "
                      "allowed_recipient_domains (example.com): nothing sent")], early
    # With a second notifier that can take the job, it runs; notify-ses then
    # refuses at its turn, and says exactly what intake said.
    p = setup.pipeline("allowed_recipient_domains = example.com")
    with open(p, "a") as f:
        f.write(f"\n[notify.archive]\nplugin = notify-file\ndir = {setup.tmp / 'archive'}\n")
    r = setup.run(p, bad)
    assert r.code == 69, r
    rec = r.json()
    assert rec["stages"]["locate"] == "done" and rec["stages"]["notify.archive"] == "done", rec
    late = [(e["stage"], e["kind"], e["message"]) for e in rec["errors"]]
    assert late == early, (late, early)


def test_no_recipient_is_refused_before_any_stage(setup):
    r = setup.run(setup.pipeline(), setup.record(recipient={}))
    assert r.code == 69, r
    rec = r.json()
    assert [(e["stage"], e["message"]) for e in rec["errors"]] == [
        ("notify", "no recipient: the event names none (recipient.email) and no 'to' is configured")]
    assert rec["stages"] == {"notify": "failed"}
    assert setup.ses.sends() == []


def test_allow_list_subdomains_and_case(setup):
    p = setup.pipeline("allowed_recipient_domains = Example.COM, *.example.org")
    r = setup.run(p, setup.record(recipient={"email": "A@EXAMPLE.com, b@sales.example.org"}))
    assert r.code == 0, r
    assert setup.ses.messages[0]["envelope"]["to"] == ["A@EXAMPLE.com", "b@sales.example.org"]


def test_empty_allow_list_warns_at_load(setup):
    r = setup.run(setup.pipeline(), setup.record())
    assert r.code == 0, r
    assert "allowed_recipient_domains is empty" in r.err


# ---------------------------------------------------------------- idempotency

def test_same_job_record_twice_mails_once(setup):
    """With checkpoints on, a record run twice (or its printed result fed back)
    is mailed once; the record's own "notifications" are never trusted."""
    p = setup.pipeline(pipeline_opts=f"state = {setup.tmp / 'state'}")
    first = setup.run(p, setup.record())
    assert first.code == 0, first
    for again in (setup.record(name="same.json"), write(setup.tmp / "again.json", first.out)):
        second = setup.run(p, again)
        assert second.code == 0, second
        assert "already done (checkpoint)" in second.err
        assert second.json()["notifications"] == first.json()["notifications"]
    assert len(setup.ses.messages) == 1 and len(setup.ses.sends()) == 1


def test_resumed_job_already_sent_is_not_mailed_again(setup):
    """A checkpoint that says this stage sent (a run killed after SendEmail,
    before it saved "done"): notify-ses does not send again."""
    p = setup.pipeline(pipeline_opts=f"state = {setup.tmp / 'state'}")
    rec = {"id": setup.contact, "contact": {"id": setup.contact, "caller": "+15555550123"},
           "recipient": {"email": "owner@example.com"}, "state": "failed",
           "stages": {"locate": "done"}, "attempts": 2, "errors": [],
           "recording": {"uri": "file://" + str(setup.rec_dir / f"{setup.contact}.wav")},
           "notifications": [{"stage": "notify", "transport": "ses", "message_id": "0100-earlier",
                              "sent_at": "2024-01-01T00:00:00Z"}]}
    write(setup.tmp / "state" / f"{setup.contact}.json", json.dumps(rec))
    r = setup.run(p, setup.record())
    assert r.code == 0, r
    assert setup.ses.sends() == []
    assert "already sent (SES MessageId 0100-earlier)" in r.err


# ---------------------------------------------------------------- failures

@pytest.mark.parametrize("plan", [["throttle"] * 5, ["LimitExceededException"] * 4,
                                  ["503", "throttle", "reset", "500", "throttle"]])
def test_throttling_storm_then_one_mail(setup, plan):
    setup.ses.set_faults(plan=plan)
    r = setup.run(setup.pipeline(), setup.record())
    assert r.code == 0, r
    assert len(setup.ses.messages) == 1
    assert len(setup.ses.sends()) == len(plan) + 1
    rec = r.json()
    assert len(rec["notifications"]) == 1
    assert any(e["kind"] == "transient" for e in rec["errors"])


def test_throttling_forever_times_out_tempfail(setup):
    setup.ses.set_faults(rate=1.0, kinds=["throttle"])
    r = setup.run(setup.pipeline(timeout="1m"), setup.record())
    assert r.code == 75, r
    assert setup.ses.messages == []
    assert "TooManyRequestsException" in r.err


@pytest.mark.parametrize("code,hint", [
    ("MessageRejected", None),
    ("SendingPausedException", "sending is paused"),
    ("AccountSuspendedException", "may no longer send"),
    ("MailFromDomainNotVerifiedException", "MAIL FROM domain is not verified"),
    ("BadRequestException", None),
])
def test_permanent_errors_are_not_retried(setup, code, hint):
    setup.ses.set_faults(plan=[code])
    r = setup.run(setup.pipeline(), setup.record())
    assert r.code == 69, r
    assert len(setup.ses.sends()) == 1
    assert "SES SendEmail to owner@example.com: HTTP 4" in r.err and code in r.err
    if hint:
        assert hint in r.err


def test_unverified_sender_names_the_fix(setup):
    p = setup.pipeline(sender="Voicemail <vm@unverified.example.net>")
    r = setup.run(p, setup.record())
    assert r.code == 69, r
    assert "Email address is not verified" in r.err and "verify the From identity" in r.err


def test_missing_configuration_set(setup):
    r = setup.run(setup.pipeline("configuration_set = nope"), setup.record())
    assert r.code == 69, r
    assert "NotFoundException" in r.err and "configuration_set" in r.err


def test_wrong_secret_is_signature_mismatch(setup):
    r = setup.run(setup.pipeline(), setup.record(), secret="not-the-secret")
    assert r.code == 69, r
    assert "SignatureDoesNotMatch" in r.err
    assert setup.ses.messages == []


def test_message_over_40_mb_is_refused_before_sending(setup):
    big = setup.rec_dir / f"{setup.contact}.wav"
    big.write_bytes(wav_bytes() + b"\0" * (31 * 1024 * 1024))
    r = setup.run(setup.pipeline("attach = yes", "attach_max = 100M"), setup.record())
    assert r.code == 69, r
    assert "SES takes at most 40 MB" in r.err
    assert setup.ses.sends() == []


def test_attachment_within_limit_is_sent(setup):
    r = setup.run(setup.pipeline("attach = yes"), setup.record())
    assert r.code == 0, r
    msg = setup.ses.parsed()
    (att,) = [p for p in msg.walk() if p.get_content_disposition() == "attachment"]
    assert att.get_content() == (setup.rec_dir / f"{setup.contact}.wav").read_bytes()


# ---------------------------------------------------------------- configuration

@pytest.mark.parametrize("line,msg", [
    ("configuration_set = has space", "option 'configuration_set'"),
    ("allowed_recipient_domains = example.com, user@example.org", "without a local part"),
    ("allowed_recipient_domains = exa_mple.com", "only letters, digits"),
    ("extra_tags = app=voice mail", "option 'extra_tags'"),
    ("extra_tags = novalue", "option 'extra_tags'"),
    ("extra_tags = tenant=x", "set per voicemail"),
    ("from_arn = identity/example.com", "option 'from_arn'"),
    ("cc = boss@elsewhere.net\nallowed_recipient_domains = example.com",
     "option 'cc': boss@elsewhere.net is outside allowed_recipient_domains"),
    ("tags = maybe", "tags"),
    ("colour = blue", "colour"),
])
def test_check_refuses_bad_options(setup, line, msg):
    env = aws_env(setup.tmp, {"SESV2": setup.ses.url})
    r = run_env(env, "check", "-c", setup.pipeline(line))
    assert r.code == 78, r
    assert msg in r.err


def test_plugins_lists_options(setup):
    env = aws_env(setup.tmp, {})
    r = run_env(env, "plugins", "-d", PLUGIN_DIR)
    assert r.code == 0, r
    text = r.out[r.out.index("notify-ses"):]
    for opt in ("configuration_set", "allowed_recipient_domains", "extra_tags", "from_arn",
                "region", "reply_to", "attach_max"):
        assert opt in text


# ---------------------------------------------------------------- the fake itself

def botocore_client(fake):
    import botocore.session
    s = botocore.session.get_session()
    return s.create_client("sesv2", region_name="us-east-1", endpoint_url=fake.url,
                           aws_access_key_id=AKID, aws_secret_access_key=SECRET)


def test_fake_accepts_what_botocore_sends_and_refuses_bad_input(ses):
    """The fake agrees with AWS's own SDK on the wire format and error shape."""
    from botocore.exceptions import ClientError
    c = botocore_client(ses)
    raw = (b"From: V <voicemail@example.com>\r\nTo: o@example.com\r\nSubject: hi\r\n"
           b"\r\nbody\r\n")
    out = c.send_email(FromEmailAddress="voicemail@example.com",
                       Destination={"ToAddresses": ["o@example.com"]},
                       Content={"Raw": {"Data": raw}},
                       EmailTags=[{"Name": "contact_id", "Value": "abc-1"}])
    assert out["MessageId"] == ses.messages[0]["message_id"]
    assert ses.messages[0]["raw"] == raw
    cases = [
        (dict(Content={"Raw": {"Data": raw}}, EmailTags=[{"Name": "bad tag", "Value": "x"}]),
         "BadRequestException"),
        (dict(Content={"Raw": {"Data": raw.replace(b"example.com>", b"nowhere.net>")}}),
         "MessageRejected"),
        (dict(Content={"Raw": {"Data": b"no blank line"}}), "MessageRejected"),
        (dict(Content={"Raw": {"Data": raw}}, ConfigurationSetName="missing"),
         "NotFoundException"),
        (dict(Content={"Raw": {"Data": raw + b"x" * 1200 + b"\r\n"}}), "MessageRejected"),
        (dict(Content={"Raw": {"Data": raw}},
              Destination={"ToAddresses": [f"u{i}@example.com" for i in range(51)]}),
         "MessageRejected"),
    ]
    for kw, code in cases:
        with pytest.raises(ClientError) as e:
            c.send_email(**kw)
        assert e.value.response["Error"]["Code"] == code, kw
    ses.set_faults(plan=["throttle"])
    c2 = botocore_client(ses)  # the SDK's default retry mode retries the 429 itself
    c2.send_email(Content={"Raw": {"Data": raw}})
    assert len(ses.messages) == 2


def test_fake_checks_signatures(ses):
    import botocore.session
    from botocore.exceptions import ClientError
    c = botocore.session.get_session().create_client(
        "sesv2", region_name="us-east-1", endpoint_url=ses.url,
        aws_access_key_id=AKID, aws_secret_access_key="wrong")
    with pytest.raises(ClientError) as e:
        c.send_email(Content={"Raw": {"Data": b"From: a@example.com\r\n\r\nx"}})
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert ses.messages == []


def test_sandbox_refuses_unverified_recipients(tmp_path, plugdir):
    fake = ses_fake.SESFake([(AKID, SECRET, None)], verified=["example.com", "pat@example.org"],
                            sandbox=True).start()
    try:
        s = Setup(tmp_path, fake, plugdir)
        r = s.run(s.pipeline(), s.record(recipient={"email": "someone@example.net"}))
        assert r.code == 69, r
        assert "someone@example.net" in r.err and "sandbox" in r.err
        r = s.run(s.pipeline(), s.record(recipient={"email": "pat@example.org"}))
        assert r.code == 0, r
        assert len(fake.messages) == 1
    finally:
        fake.stop()


def test_fake_command_line_and_messages_endpoint():
    import urllib.request
    proc = subprocess.Popen([PYTHON, ses_fake.__file__, "--port", "0",
                             "--creds", f"{AKID}:{SECRET}"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line
        url = f"http://127.0.0.1:{int(line.split()[1])}"
        c = botocore_client(type("F", (), {"url": url})())
        c.send_email(Content={"Raw": {"Data": b"From: a@example.com\r\nTo: b@example.com\r\n\r\nx"}})
        with urllib.request.urlopen(url + "/__fake/messages", timeout=5) as resp:
            msgs = json.loads(resp.read())
        assert [m["envelope"]["to"] for m in msgs] == [["b@example.com"]]
        assert msgs[0]["raw"].endswith("\r\n\r\nx")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_non_ascii_names_are_encoded_for_ses(setup):
    """SES takes no 8-bit headers: the mail module's encoded-words pass."""
    p = setup.pipeline("subject = Mensaje de voz de {{caller}} – {{recipient_name}}",
                       sender="Buzón de voz <buzon@example.com>")
    r = setup.run(p, setup.record(recipient={"email": "zoe@example.com", "name": "Zoë Ångström"}))
    assert r.code == 0, r
    msg = setup.ses.parsed()
    assert msg["From"].addresses[0].display_name == "Buzón de voz"
    assert msg["Subject"] == "Mensaje de voz de +15555550123 – Zoë Ångström"
    assert setup.ses.messages[0]["from"] == "buzon@example.com"
