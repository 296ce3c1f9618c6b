"""Per-tenant pipelines: [pipeline] tenant_dir, the event's `tenant`.

The same voicemail goes through different tenant pipelines with one binary:
one tenant mails through a real SMTP server (aiosmtpd) with German templates,
another files Spanish mail, the base takes events without (or with an
unknown) tenant.
"""
import email
import email.policy
import glob
import json
import os
import re
import sys

import pytest

from conftest import PLUGIN_DIR, ROOT, connect_event, run_vmpipe, write

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakes"))
from smtp_server import SmtpServer  # noqa: E402
from test_smtp import wav_bytes  # noqa: E402

CONTACT = "7e7e7e7e-0000-1111-2222-333344445555"
TEMPLATES = os.path.join(ROOT, "etc", "templates")


class Tree:
    """base.ini + tenants/ in tmp, recordings in rec/."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.rec = tmp / "rec"
        self.rec.mkdir()
        (self.rec / f"{CONTACT}.wav").write_bytes(wav_bytes())
        self.tenants = tmp / "tenants"
        self.tenants.mkdir()
        self.base = write(tmp / "base.ini", self.pipeline("base", "tenant_dir = tenants") +
                          self.file_notify("outbox-base"))

    def pipeline(self, name, extra=""):
        return f"""[pipeline]
name = {name}
timeout = 1m
retry_base = 1s
{extra}

[locate]
plugin = locate-file
dir = {self.rec}
pattern = {{initial_contact_id}}.wav
wait = 10s
"""

    def file_notify(self, outbox, *more):
        return "\n[notify]\nplugin = notify-file\n" + f"dir = {self.tmp / outbox}\n" + \
            "".join(m + "\n" for m in more)

    def tenant(self, name, text):
        return write(self.tenants / f"{name}.ini", text)

    def event(self, tenant=None, name="event.json"):
        attrs = {"tenant": tenant} if tenant is not None else {}
        ev = connect_event(contact_id=CONTACT, name="Jürgen Groß", extra_attrs=attrs)
        return write(self.tmp / name, json.dumps(ev))

    def eml(self, outbox):
        files = glob.glob(str(self.tmp / outbox / "*.eml"))
        assert len(files) == 1, files
        with open(files[0], "rb") as f:
            return email.message_from_bytes(f.read(), policy=email.policy.default)


@pytest.fixture
def tree(tmp_path):
    return Tree(tmp_path)


def run(tree, event, *flags, env=None):
    e = {"VMPIPE_CLOCK": "fake", "SMTP_PW": "tenant-secret"}
    e.update(env or {})
    return run_vmpipe(*flags, "run", "-c", tree.base, event, env=e)


def text_of(msg, ctype="text/plain"):
    return [p for p in msg.walk() if p.get_content_type() == ctype][0].get_content()


def test_same_voicemail_through_two_tenant_pipelines(tree, tmp_path):
    with SmtpServer(tmp_path, users={"globex": "tenant-secret"}) as srv:
        tree.tenant("globex", tree.pipeline("globex") + f"""
[notify]
plugin = notify-smtp
url = {srv.url}
ca_file = {srv.cert}
username = globex
password = ${{SMTP_PW}}
from = Globex Sprachbox <voicemail@globex.example>
subject = Sprachnachricht von {{{{caller}}}}
template_text = {TEMPLATES}/globex/voicemail.txt
template_html = {TEMPLATES}/globex/voicemail.html
""")
        tree.tenant("acme", tree.pipeline("acme") + tree.file_notify(
            "outbox-acme", "from = ACME Buzón de voz <buzon@acme.example>",
            "subject = Mensaje de voz de {{caller}}",
            f"template_text = {TEMPLATES}/acme/voicemail.txt",
            f"template_html = {TEMPLATES}/acme/voicemail.html"))

        r = run(tree, tree.event("globex", "ev-globex.json"))
        assert r.code == 0, r
        assert r.json()["tenant"] == "globex"
        assert "tenant 'globex': pipeline" in r.err
        assert len(srv.messages) == 1
        de = email.message_from_bytes(srv.messages[0].data, policy=email.policy.default)
        assert de["Subject"] == "Sprachnachricht von +15555550123"
        assert de["From"].addresses[0].display_name == "Globex Sprachbox"
        assert "Sprachnachricht für: Jürgen Groß" in text_of(de)
        assert "Globex Telefonzentrale" in text_of(de, "text/html")
        assert r.json()["notifications"][0]["transport"] == "smtp"

        r = run(tree, tree.event("acme", "ev-acme.json"))
        assert r.code == 0, r
        es = tree.eml("outbox-acme")
        assert es["Subject"] == "Mensaje de voz de +15555550123"
        assert "Mensaje de voz para: Jürgen Groß" in text_of(es)
        assert len(srv.messages) == 1  # nothing more through globex's server
        assert not (tmp_path / "outbox-base").exists() or \
            not os.listdir(tmp_path / "outbox-base")

        # No tenant: the base pipeline, the default templates.
        r = run(tree, tree.event(None, "ev-none.json"))
        assert r.code == 0, r
        base = tree.eml("outbox-base")
        assert base["Subject"] == "Voicemail message from: +15555550123"
        assert len(srv.messages) == 1


def test_ses_tenant_and_smtp_tenant_with_no_change_to_the_core(tree, tmp_path):
    """The issue's goal: one voicemail goes out through Amazon SES (the strict
    fake) for one tenant and through a real SMTP server for another, from the
    same binary and base pipeline."""
    ses_fake = pytest.importorskip("ses_fake")
    if not os.path.exists(os.path.join(PLUGIN_DIR, "notify-ses.so")):
        pytest.skip("notify-ses not built")
    akid, secret = "AKIDTENANTS", "tenants/secret+Key0123456789"
    ses = ses_fake.SESFake([(akid, secret, None)], verified=["acme.example"]).start()
    try:
        with SmtpServer(tmp_path, users={"globex": "tenant-secret"}) as srv:
            tree.tenant("globex", tree.pipeline("globex") + f"""
[notify]
plugin = notify-smtp
url = {srv.url}
ca_file = {srv.cert}
username = globex
password = ${{SMTP_PW}}
from = Globex Sprachbox <voicemail@globex.example>
template_text = {TEMPLATES}/globex/voicemail.txt
template_html = {TEMPLATES}/globex/voicemail.html
""")
            tree.tenant("acme", tree.pipeline("acme") + f"""
[notify]
plugin = notify-ses
from = ACME Buzón de voz <buzon@acme.example>
subject = Mensaje de voz de {{{{caller}}}}
template_text = {TEMPLATES}/acme/voicemail.txt
template_html = {TEMPLATES}/acme/voicemail.html
allowed_recipient_domains = example.com
""")
            env = {"AWS_ACCESS_KEY_ID": akid, "AWS_SECRET_ACCESS_KEY": secret,
                   "AWS_SESSION_TOKEN": "", "AWS_REGION": "us-east-1", "AWS_PROFILE": "",
                   "AWS_ENDPOINT_URL_SESV2": ses.url, "AWS_EC2_METADATA_DISABLED": "true",
                   "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
            r = run(tree, tree.event("acme", "ev-acme.json"), env=env)
            assert r.code == 0, r
            assert r.json()["notifications"][0]["transport"] == "ses"
            assert len(ses.messages) == 1 and not srv.messages
            es = ses.parsed()
            assert es["Subject"] == "Mensaje de voz de +15555550123"
            assert "Mensaje de voz para: Jürgen Groß" in text_of(es)

            r = run(tree, tree.event("globex", "ev-globex.json"), env=env)
            assert r.code == 0, r
            assert r.json()["notifications"][0]["transport"] == "smtp"
            assert len(srv.messages) == 1 and len(ses.messages) == 1
            de = email.message_from_bytes(srv.messages[0].data, policy=email.policy.default)
            assert "Sprachnachricht für: Jürgen Groß" in text_of(de)
    finally:
        ses.stop()


def test_unknown_tenant_runs_on_the_base_pipeline(tree):
    r = run(tree, tree.event("initech"))
    assert r.code == 0, r
    assert re.search(r"unknown tenant 'initech' \(no .*/tenants/initech\.ini\): using the base", r.err)
    assert tree.eml("outbox-base")["Subject"].startswith("Voicemail message from:")


def test_job_record_tenant_selects_the_pipeline(tree):
    tree.tenant("acme", tree.pipeline("acme") + tree.file_notify("outbox-acme", "subject = ACME {{caller}}"))
    rec = {"id": CONTACT, "tenant": "acme", "contact": {"caller": "+15555550199"},
           "recipient": {"email": "owner@example.com"}}
    r = run(tree, write(tree.tmp / "rec.json", json.dumps(rec)))
    assert r.code == 0, r
    assert tree.eml("outbox-acme")["Subject"] == "ACME +15555550199"


@pytest.mark.parametrize("bad", ["../base", "a/b", ".hidden", "x" * 65, "spa ce", "é"])
def test_tenant_names_that_are_not_plain_are_refused(tree, bad):
    r = run(tree, tree.event(bad))
    assert r.code == 65, r
    assert "tenant" in r.err and "plain" in r.err
    assert not (tree.tmp / "outbox-base").exists() or not os.listdir(tree.tmp / "outbox-base")


def test_broken_tenant_file_is_a_configuration_error(tree):
    tree.tenant("acme", tree.pipeline("acme") + "\n[notify]\nplugin = notify-file\n")  # no dir
    r = run(tree, tree.event("acme"))
    assert r.code == 78, r
    assert "acme.ini" in r.err and "'dir'" in r.err
    assert "tenant 'acme': pipeline refused" in r.err


@pytest.mark.valgrind
def test_check_validates_base_and_every_tenant(tree):
    tree.tenant("acme", tree.pipeline("acme") + tree.file_notify("outbox-acme"))
    tree.tenant("globex", tree.pipeline("globex") + tree.file_notify("outbox-globex"))
    r = run_vmpipe("check", "-c", tree.base)
    assert r.code == 0, r
    assert "base.ini: ok" in r.out
    assert "tenants/acme.ini: ok" in r.out and "tenants/globex.ini: ok" in r.out

    tree.tenant("initech", tree.pipeline("initech") + "\n[notify]\nplugin = notify-nope\n")
    r = run_vmpipe("check", "-c", tree.base)
    assert r.code == 78, r
    assert "initech.ini" in r.err and "notify-nope" in r.err
    assert "tenants/acme.ini: ok" in r.out  # the good ones are still reported


def test_tenant_file_may_not_set_tenant_dir(tree):
    tree.tenant("acme", tree.pipeline("acme", "tenant_dir = .") + tree.file_notify("o"))
    r = run_vmpipe("check", "-c", tree.base)
    assert r.code == 78, r
    assert "tenant_dir" in r.err and "base pipeline" in r.err


def test_missing_tenant_dir_is_refused(tmp_path):
    t = Tree(tmp_path)
    p = write(tmp_path / "base2.ini", t.pipeline("b", "tenant_dir = nowhere") + t.file_notify("o"))
    r = run_vmpipe("check", "-c", p)
    assert r.code == 78, r
    assert "tenant_dir" in r.err and "nowhere" in r.err


def _plugins(path):
    with open(path) as f:
        return re.findall(r"(?m)^plugin\s*=\s*(\S+)", f.read())


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "etc", "tenants", "*.ini"))),
                         ids=os.path.basename)
def test_example_tenants_check(path, tmp_path):
    missing = [p for p in _plugins(path) if not os.path.exists(os.path.join(PLUGIN_DIR, p + ".so"))]
    if missing:
        pytest.skip(f"plugins not built yet: {', '.join(missing)}")
    env = {"GLOBEX_SMTP_PASSWORD": "x", "GLOBEX_RECORDINGS": str(tmp_path),
           "ACME_RECORDINGS_BUCKET": "acme-recordings"}
    r = run_vmpipe("check", "-c", path, env=env)
    assert r.code == 0, r


def test_each_tenant_shows_times_in_its_own_zone(tree):
    """[pipeline] timezone per tenant file; the base pipeline's zone for the rest."""
    tree.tenant("acme", tree.pipeline("acme", "timezone = Asia/Tokyo") + tree.file_notify("outbox-acme"))
    rec = {"id": CONTACT, "tenant": "acme", "received_at": "2026-11-29T19:44:05Z",
           "contact": {"caller": "+15555550199", "date": "2026-11-29T19:44:05Z"},
           "recipient": {"email": "owner@example.com"}}
    r = run(tree, write(tree.tmp / "rec.json", json.dumps(rec)), env={"TZ": "Europe/Berlin"})
    assert r.code == 0, r
    assert "Left at: 30 November 2026, 04:44 JST" in text_of(tree.eml("outbox-acme"))
    rec["tenant"] = "initech"  # unknown: the base pipeline, which names no zone: the host's
    r = run(tree, write(tree.tmp / "rec2.json", json.dumps(rec)), env={"TZ": "Europe/Berlin"})
    assert r.code == 0, r
    assert "Left at: 29 November 2026, 20:44 CET" in text_of(tree.eml("outbox-base"))
