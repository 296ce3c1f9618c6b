"""notify-sms against the strict End User Messaging SMS and SNS fakes
(tests/fakes/sms_fake.py): every request SigV4-checked with botocore and
validated against botocore's pinpoint-sms-voice-v2 and sns models; the fake
counts each text's segments with its own (Python) reading of 3GPP TS 23.038.
"""
import json
import os
import sys

import pytest

from conftest import PLUGIN_DIR, connect_event, write
from test_notify_ses import AKID, SECRET, aws_env, run_env, wav_bytes

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakes"))
import awsfake  # noqa: E402
import sms_fake  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(PLUGIN_DIR, "notify-sms.so")),
                                reason="notify-sms not built")

CID = "c0ffee00-1111-2222-3333-444455556666"
OWNER = "+15555550187"
OTHER = "+447700900123"
TRANSCRIPT = "Hi, this is Jo about the order, please call me back."


@pytest.fixture
def eum():
    fake = sms_fake.EndUserMessagingFake([(AKID, SECRET, None)], origination=["+18445550100"],
                                         config_sets=["vm-sms"]).start()
    yield fake
    fake.stop()


@pytest.fixture
def sns():
    fake = sms_fake.SNSFake([(AKID, SECRET, None)]).start()
    yield fake
    fake.stop()


class Setup:
    def __init__(self, tmp, plugdir, fakes):
        self.tmp, self.plugdir, self.fakes = tmp, plugdir, fakes
        self.rec = tmp / "rec"
        self.rec.mkdir()
        (self.rec / f"{CID}.wav").write_bytes(wav_bytes(1.5))

    def pipeline(self, *lines, text=TRANSCRIPT, extra=""):
        return write(self.tmp / "pipeline.ini", f"""[pipeline]
plugin_dir = {self.plugdir}
timeout = 2m
notify_grace = 0s
retry_base = 1s
retry_cap = 10s

[locate]
plugin = locate-file
dir = {self.rec}
pattern = {{initial_contact_id}}.wav

[transcribe]
plugin = test-flaky-transcribe
text = {text}

{extra}
[notify.sms]
plugin = notify-sms
""" + "\n".join(lines) + "\n")

    def event(self, **attrs):
        return write(self.tmp / "ev.json", json.dumps(connect_event(contact_id=CID,
                                                                    extra_attrs=attrs)))

    def run(self, ini, ev, **kw):
        env = aws_env(self.tmp, self.fakes, **kw)
        return run_env(env, "run", "-c", ini, ev)


@pytest.fixture
def setup(tmp_path, plugdir, eum, sns):
    return Setup(tmp_path, plugdir, {"PINPOINT_SMS_VOICE_V2": eum.url, "SNS": sns.url})


# ---------------------------------------------------------------- delivery

@pytest.mark.valgrind
def test_send_text_message_fields_and_body(setup, eum):
    ini = setup.pipeline("origination_identity = +18445550100", "configuration_set = vm-sms")
    r = setup.run(ini, setup.event(smsRecipient=OWNER, tenant="acme"))
    assert r.code == 0, r
    [m] = eum.messages
    assert m["access_key"] == AKID
    req = m["request"]
    assert req["DestinationPhoneNumber"] == OWNER
    assert req["MessageType"] == "TRANSACTIONAL"
    assert req["OriginationIdentity"] == "+18445550100" and req["ConfigurationSetName"] == "vm-sms"
    assert req["Context"] == {"vmpipe_job": CID, "contact_id": CID, "tenant": "acme"}
    assert m["body"] == f"Voicemail from +15555550123 (2s):\n{TRANSCRIPT}"
    assert m["encoding"] == "gsm7" and m["segments"] == 1
    rec = r.json()
    [n] = rec["notifications"]
    assert n["transport"] == "sms" and n["message_id"] == m["id"] and n["stage"] == "notify.sms"
    assert rec["sms"]["segments"] == 1 and rec["sms"]["encoding"] == "gsm7"
    assert OWNER not in r.err  # logged masked
    assert "+15…87" in r.err


def test_recipients_from_to_and_a_custom_attribute(setup, eum):
    ini = setup.pipeline(f"to = {OWNER}, {OTHER}")
    r = setup.run(ini, setup.event())
    assert r.code == 0, r
    assert [m["to"] for m in eum.messages] == [OWNER, OTHER]
    assert r.json()["notifications"][0]["message_id"] == ",".join(m["id"] for m in eum.messages)
    eum.messages.clear()
    ini = setup.pipeline("recipient_attribute = agentMobile", f"to = {OTHER}")
    r = setup.run(ini, setup.event(agentMobile=OWNER))
    assert r.code == 0, r
    assert [m["to"] for m in eum.messages] == [OWNER]


@pytest.mark.parametrize("max_segments", [1, 2, 3])
def test_long_gsm_transcript_cut_at_a_word_within_max_segments(setup, eum, max_segments):
    words = " ".join(f"word{i}" for i in range(300))
    r = setup.run(setup.pipeline(f"max_segments = {max_segments}", text="${TX}"),
                  setup.event(smsRecipient=OWNER), extra={"TX": words})
    assert r.code == 0, r
    [m] = eum.messages
    assert m["encoding"] == "gsm7" and m["segments"] == max_segments
    assert m["body"].endswith("...") and m["body"].split(" ")[-1].startswith("word")
    cut = m["body"].split("\n", 1)[1][:-3]
    assert words.startswith(cut) and words[len(cut)] == " "  # cut between two words


@pytest.mark.valgrind
def test_non_ascii_transcript_is_ucs2_and_cut_with_an_ellipsis(setup, eum):
    words = " ".join(["Zażółć gęślą jaźń 😀"] * 40)
    r = setup.run(setup.pipeline(text="${TX}"), setup.event(smsRecipient=OWNER),
                  extra={"TX": words})
    assert r.code == 0, r
    [m] = eum.messages
    assert m["encoding"] == "ucs2" and m["segments"] == 3
    assert m["units"] > 3 * 67 - 8  # the room was used
    assert m["body"].endswith("…")
    cut = m["body"].split("\n", 1)[1][:-1]
    assert words.startswith(cut) and words[len(cut)] == " "


def test_link_goes_last_and_is_dropped_when_it_cannot_fit(setup, eum, tmp_path):
    s3 = awsfake.S3Fake([(AKID, SECRET, None)]).start()
    try:
        key = f"connect/ivr/2026/12/07/{CID}_20261207T10:00_UTC.wav"
        s3.put("vm-bucket", key, wav_bytes(1.0), "audio/wav")
        ev = write(tmp_path / "s3ev.json", json.dumps({"Records": [{
            "eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "awsRegion": "us-east-1",
            "s3": {"bucket": {"name": "vm-bucket"}, "object": {"key": key, "size": 8044}}}]}))
        fakes = dict(setup.fakes, S3=s3.url)
        urls = []
        for segs in (4, 1):
            ini = write(tmp_path / "s3.ini", f"""[pipeline]
plugin_dir = {setup.plugdir}
timeout = 1m
notify_grace = 0s

[locate]
plugin = locate-s3
base_path = vm-bucket/connect

[notify]
plugin = notify-sms
to = {OWNER}
max_segments = {segs}
""")
            r = run_env(aws_env(setup.tmp, fakes), "run", "-c", ini, ev)
            assert r.code == 0, r
            urls.append(r.json()["recording"]["url"])
    finally:
        s3.stop()
    first, second = eum.messages
    url = urls[0]
    # A presigned URL is long (this one ~450 characters, a real one with a
    # session token over 1,000): it takes more than three segments.
    assert len(url) + len("Voicemail from unknown (unknown):\n") > 3 * 153
    assert first["body"].endswith("\n" + url) and first["segments"] == 4
    assert urls[1] not in second["body"] and "http" not in second["body"]
    assert second["segments"] == 1
    assert "does not fit in 1 SMS segment: sent without it" in r.err


# ---------------------------------------------------------------- intake

@pytest.mark.parametrize("number", ["5555550187", "+1 555 555 0187", "+0555", "+1555555018799999"])
def test_bad_number_fails_at_intake_before_anything_is_paid_for(setup, eum, number):
    r = setup.run(setup.pipeline(), setup.event(smsRecipient=number))
    assert r.code == 69, r
    assert "contact attribute smsRecipient: " in r.err and "is not an E.164 phone number" in r.err
    assert "failed before any stage ran" in r.err
    assert number not in r.err  # not logged in full
    rec = r.json()
    assert rec["state"] == "failed" and "transcript" not in rec and eum.requests() == []


def test_number_outside_allowed_prefixes_fails_at_intake(setup, eum):
    """Voicemail for Amazon Connect offers SMS only to availableSMSCountries
    (its portal's phone field); here the pipeline enforces it for any source."""
    ini = setup.pipeline("allowed_prefixes = +1")
    r = setup.run(ini, setup.event(smsRecipient=f"{OWNER},{OTHER}"))
    assert r.code == 69, r
    assert "SMS recipient +44…23 is outside allowed_prefixes (+1): nothing sent" in r.err
    assert eum.requests() == [] and OTHER not in r.err
    r = setup.run(ini, setup.event(smsRecipient=OWNER))
    assert r.code == 0, r


def test_no_recipient_fails_at_intake(setup, eum):
    r = setup.run(setup.pipeline(), setup.event())
    assert r.code == 69, r
    assert "no SMS recipient: the contact attribute smsRecipient is not set" in r.err
    assert eum.requests() == []


def test_bad_number_with_an_email_notifier_still_mails(setup, eum, tmp_path):
    """Intake refuses a job only when no notifier could take it: the e-mail goes."""
    extra = f"[notify]\nplugin = notify-file\ndir = {tmp_path}/out\n"
    r = setup.run(setup.pipeline(extra=extra), setup.event(smsRecipient="12345"))
    assert r.code != 0, r
    assert len(list((tmp_path / "out").glob("*.eml"))) == 1
    assert "is not an E.164 phone number" in r.err and eum.requests() == []


# ---------------------------------------------------------------- errors

def test_opted_out_is_permanent_and_masked(setup, eum):
    eum.opted_out.add(OWNER)
    r = setup.run(setup.pipeline(), setup.event(smsRecipient=OWNER))
    assert r.code == 69, r
    assert "the number has opted out of SMS (ConflictException " \
           "DESTINATION_PHONE_NUMBER_OPTED_OUT): not sent, and not retried" in r.err
    assert OWNER not in r.err and OWNER not in json.dumps(r.json()["errors"])
    assert len(eum.requests()) == 1


def test_one_opted_out_number_does_not_stop_the_others(setup, eum):
    eum.opted_out.add(OWNER)
    r = setup.run(setup.pipeline(), setup.event(smsRecipient=f"{OWNER},{OTHER}"))
    assert r.code == 0, r
    assert [m["to"] for m in eum.messages] == [OTHER]
    assert "opted out" in r.err


@pytest.mark.parametrize("plan", [["throttle"] * 3 + ["ok"], ["500"] * 3 + ["ok"]])
def test_throttling_and_5xx_are_transient(setup, eum, plan):
    eum.set_faults(plan)
    r = setup.run(setup.pipeline(), setup.event(smsRecipient=OWNER))
    assert r.code == 0, r
    assert len(eum.requests()) == 4 and len(eum.messages) == 1


def test_transient_failure_of_the_second_number_does_not_resend_the_first(setup, eum):
    eum.set_faults(["ok"] + ["throttle"] * 3 + ["ok"])
    r = setup.run(setup.pipeline(), setup.event(smsRecipient=f"{OWNER},{OTHER}"))
    assert r.code == 0, r
    assert [m["to"] for m in eum.messages] == [OWNER, OTHER]


@pytest.mark.parametrize("setup_fake,lines,expect", [
    (lambda f: setattr(f, "denied", True), [],
     "needs the IAM action sms-voice:SendTextMessage"),
    (lambda f: setattr(f, "spend_limit_reached", True), [],
     "ServiceQuotaExceededException MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT"),
    (lambda f: None, ["origination_identity = +18445550199"],
     "ResourceNotFoundException: Origination identity +18445550199 not found"),
    (lambda f: f.set_faults(["ValidationException"]), [],
     "HTTP 400 ValidationException: ValidationException (injected fault)"),
])
def test_permanent_errors_carry_the_services_message(setup, eum, setup_fake, lines, expect):
    setup_fake(eum)
    r = setup.run(setup.pipeline(*lines), setup.event(smsRecipient=OWNER))
    assert r.code == 69, r
    assert expect in r.err
    assert len(eum.requests()) == 1 and eum.messages == []


# ---------------------------------------------------------------- SNS

@pytest.mark.valgrind
def test_sns_publish_fallback(setup, sns):
    ini = setup.pipeline("service = sns", "origination_identity = VMPIPE")
    r = setup.run(ini, setup.event(smsRecipient=OWNER))
    assert r.code == 0, r
    [m] = sns.messages
    assert m["to"] == OWNER and m["access_key"] == AKID
    assert m["attributes"] == {"AWS.SNS.SMS.SMSType": "Transactional",
                               "AWS.SNS.SMS.SenderID": "VMPIPE"}
    assert m["body"] == f"Voicemail from +15555550123 (2s):\n{TRANSCRIPT}"
    [n] = r.json()["notifications"]
    assert n["transport"] == "sns-sms" and n["message_id"] == m["id"]


def test_sns_throttling_is_transient_and_authorization_names_the_action(setup, sns):
    sns.set_faults(["throttle"] * 3 + ["ok"])
    r = setup.run(setup.pipeline("service = sns"), setup.event(smsRecipient=OWNER))
    assert r.code == 0, r
    assert len(sns.messages) == 1
    sns.denied = True
    r = setup.run(setup.pipeline("service = sns"), setup.event(smsRecipient=OWNER))
    assert r.code == 69, r
    assert "HTTP 403 AuthorizationError" in r.err and "needs the IAM action sns:Publish" in r.err


# ---------------------------------------------------------------- configuration

@pytest.mark.parametrize("lines,msg", [
    (["max_segments = 0"], "option 'max_segments': 0 is not 1 to 10"),
    (["max_segments = 11"], "option 'max_segments': 11 is not 1 to 10"),
    (["to = 555-0100"], "option 'to': '(8 characters)' is not an E.164 phone number"),
    (["service = sns", "configuration_set = x"], "SNS has none"),
    (["header = {{calller}}"], "unknown variable 'calller'"),
    (["allowed_prefixes = 44"], "option 'allowed_prefixes': '44' is not an E.164 prefix"),
    (["allowed_prefixes = +1", f"to = {OTHER}"], "is outside allowed_prefixes (+1)"),
    (["service = carrier-pigeon"], "service"),
])
def test_bad_configuration_is_refused_by_check(setup, lines, msg):
    r = run_env(aws_env(setup.tmp, setup.fakes), "check", "-c", setup.pipeline(*lines))
    assert r.code == 78, r
    assert msg in r.err


# ---------------------------------------------------------------- once

SAN = "san" in os.path.basename(os.environ.get("VMPIPE_BUILD", "build"))


@pytest.fixture(scope="module")
def crash_shim(tmp_path_factory):
    import subprocess
    from conftest import ROOT
    out = str(tmp_path_factory.mktemp("shim") / "crash_rename.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", out,
                    os.path.join(ROOT, "tests/tools/crash_rename.c"), "-ldl"], check=True)
    return out


@pytest.mark.skipif(SAN, reason="LD_PRELOAD under ASan")
def test_kill9_after_the_send_is_the_documented_window(setup, eum, crash_shim):
    """SendTextMessage takes no idempotency token: killed after the text went
    out and before the checkpoint said so, the resumed run sends it again
    and says so (as notify-ses, test_once.py); a finished job never does."""
    import signal
    import subprocess
    from conftest import VMPIPE
    ini = setup.pipeline()
    text = open(ini).read().replace("retry_cap = 10s", f"retry_cap = 10s\nstate = {setup.tmp}/state")
    open(ini, "w").write(text)
    ev = setup.event(smsRecipient=OWNER)
    env = aws_env(setup.tmp, setup.fakes, clock=None)
    # Checkpoint renames: locate, transcribe, notify.sms sending, notify.sms
    # done: killed before the fourth, after the text was accepted.
    p = subprocess.run([VMPIPE, "run", "-c", ini, ev], capture_output=True, text=True, timeout=120,
                       env=dict(env, LD_PRELOAD=crash_shim, CRASH_RENAME_MATCH=f"{CID}.json",
                                CRASH_RENAME_NTH="4", CRASH_RENAME_BEFORE="1"))
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert len(eum.messages) == 1
    r = run_env(env, "run", "-c", ini, ev)
    assert r.code == 0, r
    assert "SMS has no idempotency token, so this may be a second copy" in r.err
    assert len(eum.messages) == 2
    r = run_env(env, "run", "-c", ini, ev)
    assert r.code == 0 and "already done" in r.err and len(eum.messages) == 2


# ---------------------------------------------------------------- follow-up

def test_a_recording_found_late_is_texted_as_a_follow_up(setup, eum):
    """retry.h's follow-up round (test_followup.py for mail): the owner was
    texted that the recording could not be found; retried once it is found,
    the job texts the result to the same number, once.  The record of who
    was texted is per round: a number reached in round 0 is not taken as
    already reached by the follow-up (it was, and no text went out)."""
    from conftest import run_vmpipe
    from serve_helpers import Serve
    wav = setup.rec / f"{CID}.wav"
    kept = setup.tmp / "kept.wav"
    os.rename(wav, kept)  # not there when the voicemail arrives
    ini = setup.pipeline()
    text = open(ini).read().replace("pattern = {initial_contact_id}.wav\n",
                                    "pattern = {initial_contact_id}.wav\nwait = 1s\nsettle = 0s\n")
    open(ini, "w").write(text)
    spool = setup.tmp / "spool"
    env = aws_env(setup.tmp, setup.fakes, clock=None, extra={"VMPIPE_LOG_FORMAT": "json"})
    srv = Serve(ini, spool, env=env).ready()
    try:
        r = run_vmpipe("enqueue", "--spool", spool, setup.event(smsRecipient=OWNER))
        assert r.code == 0, r
        srv.wait_log("failed in")
        [first] = eum.messages
        assert first["body"] == "Voicemail from +15555550123 (unknown):\nThe recording could not be found.", first
        ck = json.load(open(spool / "state" / f"{CID}.json"))
        assert ck["outcome"] == "no_recording" and ck["stages"]["notify.sms"] == "done", ck

        os.rename(kept, wav)  # found late
        r = run_vmpipe("retry", "--spool", spool, CID)
        assert r.code == 0, r
        srv.wait_log("done in")
    finally:
        assert srv.stop() == 0
    assert [m["to"] for m in eum.messages] == [OWNER, OWNER]
    second = eum.messages[1]
    assert second["body"] == ("Voicemail from +15555550123 (2s):\n"
                              f"The recording has been found since we texted: {TRANSCRIPT}"), second
    ck = json.load(open(spool / "state" / f"{CID}.json"))
    assert ck["state"] == "done" and ck["round"] == 1, ck
    assert [(n["message_id"], n.get("round", 0)) for n in ck["notifications"]] == \
        [(first["id"], 0), (second["id"], 1)], ck
    assert ck["sms"]["sent"] == {OWNER: first["id"]} and ck["sms"]["round1"]["sent"] == {OWNER: second["id"]}, ck
