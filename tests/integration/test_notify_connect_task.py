"""notify-connect-task against the strict Amazon Connect fake
(tests/fakes/connect_fake.py): every request SigV4-checked with botocore and
validated against botocore's connect model.

The recording comes from disk (locate-file) and the transcript from the test
transcriber, so only Connect is faked.  Routing is checked twice: what the
request carries, and where the fake's model of the task flow (VMX3's example
task flow, or etc/connect's) puts it.
"""
import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import PLUGIN_DIR, ROOT, VMPIPE, connect_event, write
from test_notify_ses import AKID, SECRET, aws_env, run_env, wav_bytes

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakes"))
import awsfake  # noqa: E402
import connect_fake  # noqa: E402

pytestmark = pytest.mark.skipif(
    not os.path.exists(os.path.join(PLUGIN_DIR, "notify-connect-task.so")),
    reason="notify-connect-task not built")

INSTANCE = "abcdef01-2345-6789-abcd-ef0123456789"
FLOW = "11111111-aaaa-bbbb-cccc-000000000001"      # etc/connect's task flow
VMX3_FLOW = "11111111-aaaa-bbbb-cccc-000000000003"  # VMX3's example task flow
AGENT_ID = "a9e1b2c3-0000-4000-8000-00000000a9e1"
QUEUE = f"arn:aws:connect:us-east-1:123456789012:instance/{INSTANCE}/queue/q-sales-0001"
DEFAULT_QUEUE = f"arn:aws:connect:us-east-1:123456789012:instance/{INSTANCE}/queue/q-voicemail"
CID = "c0ffee00-1111-2222-3333-444455556666"
TRANSCRIPT = "Hi, this is Jo about the order: please call me back."


@pytest.fixture
def connect():
    fake = connect_fake.ConnectFake([(AKID, SECRET, None)])
    fake.add_instance(INSTANCE, flows={FLOW: "vmpipe", VMX3_FLOW: "vmx3"},
                      queues={QUEUE, DEFAULT_QUEUE}, users={"jo.agent": AGENT_ID},
                      quick_connects={"qc-0001"},
                      templates={"tt-0001": {"fields": {"Callback number": "STRING",
                                                        "Recording": "URL",
                                                        "Seconds": "NUMBER"},
                                             "flow": FLOW}})
    fake.start()
    yield fake
    fake.stop()


class Setup:
    def __init__(self, tmp, fake, plugdir):
        self.tmp, self.fake, self.plugdir = tmp, fake, plugdir
        self.rec = tmp / "rec"
        self.rec.mkdir()
        (self.rec / f"{CID}.wav").write_bytes(wav_bytes(1.5))

    def pipeline(self, *lines, text=TRANSCRIPT, extra="", state=""):
        body = "\n".join(lines)
        return write(self.tmp / "pipeline.ini", f"""[pipeline]
plugin_dir = {self.plugdir}
timeout = 2m
notify_grace = 0s
retry_base = 1s
retry_cap = 10s
{state}

[locate]
plugin = locate-file
dir = {self.rec}
pattern = {{initial_contact_id}}.wav

[transcribe]
plugin = test-flaky-transcribe
text = {text}

{extra}
[notify.task]
plugin = notify-connect-task
{body}
""")

    def event(self, **attrs):
        ev = connect_event(contact_id=CID, extra_attrs=attrs)
        return write(self.tmp / "ev.json", json.dumps(ev))

    def run(self, ini, ev, **kw):
        env = aws_env(self.tmp, {"CONNECT": self.fake.url}, **kw)
        return run_env(env, "run", "-c", ini, ev)


@pytest.fixture
def setup(tmp_path, connect, plugdir):
    return Setup(tmp_path, connect, plugdir)


def only_task(fake):
    assert len(fake.tasks) == 1, fake.tasks
    return fake.tasks[0]


# ---------------------------------------------------------------- routing

@pytest.mark.valgrind
def test_queue_task_vmx3_attributes_route_through_vmx3_flow(setup):
    """A contact set up for VMX3 (vmx3_target queue, vmx3_queue_arn) runs
    unchanged, and VMX3's own task flow would route the task to that queue."""
    r = setup.run(setup.pipeline(f"contact_flow_id = {VMX3_FLOW}"),
                  setup.event(vmx3_target="queue", vmx3_queue_arn=QUEUE, vmx3_lang="en-US"))
    assert r.code == 0, r
    t = only_task(setup.fake)
    req = t["request"]
    assert t["access_key"] == AKID  # SigV4 recomputed by the fake
    assert req["InstanceId"] == INSTANCE and req["ContactFlowId"] == VMX3_FLOW
    assert req["PreviousContactId"] == CID
    assert req["Name"] == "Voicemail from +15555550123"
    assert req["Description"].startswith("Voicemail from +15555550123 on ")
    assert " (2s).\n\n" in req["Description"]  # 1.5 s of audio, as {{duration}} says it
    assert TRANSCRIPT in req["Description"]
    assert len(req["ClientToken"]) == 32
    a = req["Attributes"]
    assert a["vmx3_lang"] == "en-US" and a["emailRecipient"] == "owner@example.com"  # own ones
    assert a["vmpipe_job_id"] == CID and a["vmpipe_recording_uri"].startswith("file://")
    assert a["vmpipe_duration"] in ("1", "2")
    assert a["vmx3_callback_number"] == "+15555550123" and a["vmx3_transcript"] == TRANSCRIPT
    assert a["vmx3_target"] == "queue" and a["vmx3_preferred_agent_id"] == "NONE"
    assert a["vmpipe_target"] == "queue" and a["vmpipe_queue_arn"] == QUEUE
    refs = req["References"]
    assert refs["Caller"] == {"Value": "+15555550123", "Type": "STRING"}
    assert refs["Transcript"] == {"Value": TRANSCRIPT, "Type": "STRING"}
    assert "Recording" not in refs  # a file:// recording has no link to give
    assert t["routed"] == {"queue": QUEUE}
    rec = r.json()
    [n] = rec["notifications"]
    assert n["transport"] == "connect-task" and n["message_id"] == t["contact_id"]
    assert n["stage"] == "notify.task"
    assert rec["task"]["target"] == "queue" and rec["task"]["contact_id"] == t["contact_id"]


def test_agent_by_id_goes_to_the_agents_queue(setup):
    r = setup.run(setup.pipeline(f"contact_flow_id = {FLOW}", f"default_queue = {DEFAULT_QUEUE}"),
                  setup.event(taskAgent=AGENT_ID))
    assert r.code == 0, r
    t = only_task(setup.fake)
    a = t["request"]["Attributes"]
    agent_q = f"arn:aws:connect:us-east-1:123456789012:instance/{INSTANCE}/queue/agent/{AGENT_ID}"
    assert a["vmpipe_target"] == "agent" and a["vmpipe_agent_id"] == AGENT_ID
    assert a["vmpipe_queue_arn"] == agent_q
    assert a["vmx3_preferred_agent_id"] == AGENT_ID and a["vmx3_queue_arn"] == DEFAULT_QUEUE
    assert t["routed"] == {"queue": agent_q, "agent": AGENT_ID}
    assert setup.fake.searches == []  # an id needs no look-up


@pytest.mark.valgrind
def test_agent_by_login_searches_users_once_vmx3_style(setup):
    """vmx3_preferred_agent is a login: SearchUsers Username EXACT (VMX3's
    call), and VMX3's task flow prefers that agent in the queue."""
    ini = setup.pipeline(f"contact_flow_id = {VMX3_FLOW}")
    r = setup.run(ini, setup.event(vmx3_target="agent", vmx3_preferred_agent="jo.agent",
                                   vmx3_queue_arn=QUEUE))
    assert r.code == 0, r
    [s] = setup.fake.searches
    assert s["SearchCriteria"] == {"OrConditions": [{"StringCondition": {
        "FieldName": "Username", "Value": "jo.agent", "ComparisonType": "EXACT"}}]}
    t = only_task(setup.fake)
    assert t["routed"] == {"queue": QUEUE, "preferred_agent": AGENT_ID}
    rec = r.json()
    assert rec["task"]["agent_id"] == AGENT_ID and rec["task"]["agent_login"] == "jo.agent"


def test_unknown_login_falls_back_to_the_queue(setup):
    r = setup.run(setup.pipeline(f"contact_flow_id = {FLOW}"),
                  setup.event(taskAgent="nobody.here", taskQueue=QUEUE))
    assert r.code == 0, r
    assert "no agent with login 'nobody.here'" in r.err
    t = only_task(setup.fake)
    assert t["routed"] == {"queue": QUEUE, "agent": None}
    assert t["request"]["Attributes"]["vmpipe_target"] == "queue"


def test_target_queue_ignores_the_agent(setup):
    r = setup.run(setup.pipeline(f"contact_flow_id = {FLOW}"),
                  setup.event(taskTarget="queue", taskAgent=AGENT_ID, taskQueue=QUEUE))
    assert r.code == 0, r
    assert only_task(setup.fake)["routed"] == {"queue": QUEUE, "agent": None}


def test_flow_attribute_and_quick_connect(setup):
    r = setup.run(setup.pipeline(f"contact_flow_id = {FLOW}", "quick_connect_id = qc-0001"),
                  setup.event(vmx3_task_flow=VMX3_FLOW, vmx3_queue_arn=QUEUE))
    assert r.code == 0, r
    req = only_task(setup.fake)["request"]
    assert req["ContactFlowId"] == VMX3_FLOW and req["QuickConnectId"] == "qc-0001"


@pytest.mark.parametrize("link,key", [("related", "RelatedContactId"), ("none", None)])
def test_link_to_the_voice_contact(setup, link, key):
    r = setup.run(setup.pipeline(f"contact_flow_id = {FLOW}", f"default_queue = {QUEUE}",
                                 f"link = {link}"), setup.event())
    assert r.code == 0, r
    req = only_task(setup.fake)["request"]
    assert "PreviousContactId" not in req
    assert (req.get(key) == CID) if key else "RelatedContactId" not in req


def test_queue_of_another_instance_is_refused(setup):
    other = QUEUE.replace(INSTANCE, "99999999-2345-6789-abcd-ef0123456789")
    r = setup.run(setup.pipeline(f"contact_flow_id = {FLOW}"), setup.event(taskQueue=other))
    assert r.code == 69, r
    assert "is in instance 99999999" in r.err and setup.fake.started() == []


# ---------------------------------------------------------------- content

def test_long_transcript_is_cut_with_a_note(setup):
    words = " ".join(f"wörd{i}" for i in range(1500))  # ~10,000 characters, non-ASCII
    r = setup.run(setup.pipeline(f"contact_flow_id = {FLOW}", f"default_queue = {QUEUE}",
                                 text="${LONG_TRANSCRIPT}"), setup.event(),
                  extra={"LONG_TRANSCRIPT": words})
    assert r.code == 0, r
    req = only_task(setup.fake)["request"]
    d = req["Description"]
    assert len(d) <= 4096 and d.endswith("(truncated: the whole transcript is in the "
                                         "Transcript reference and the job record)")
    assert "wörd1 wörd2" in d and "wörd1499" not in d
    body = d.split("\n\n", 1)[1].split("\n…")[0]
    assert body.split(" ")[-1].startswith("wörd")  # cut between words
    tx = req["References"]["Transcript"]["Value"]
    assert len(tx) <= 4096 and tx.endswith(" …(truncated)")
    assert len(req["Attributes"]["vmx3_transcript"]) <= 2048 + len(" ...(truncated)")


def test_recording_link_is_a_url_reference(setup, tmp_path):
    """locate-s3 on an S3 ObjectCreated event: the presigned link is the task's
    Recording reference (VMX3's 'Playback URL')."""
    s3 = awsfake.S3Fake([(AKID, SECRET, None)]).start()
    try:
        key = f"connect/ivr/2026/12/07/{CID}_20261207T10:00_UTC.wav"
        s3.put("vm-bucket", key, wav_bytes(1.0), "audio/wav")
        ini = write(tmp_path / "s3.ini", f"""[pipeline]
plugin_dir = {setup.plugdir}
timeout = 1m
notify_grace = 0s

[locate]
plugin = locate-s3
base_path = vm-bucket/connect

[notify]
plugin = notify-connect-task
instance_id = {INSTANCE}
contact_flow_id = {FLOW}
default_queue = {QUEUE}
""")
        ev = write(tmp_path / "s3ev.json", json.dumps({"Records": [{
            "eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "awsRegion": "us-east-1",
            "s3": {"bucket": {"name": "vm-bucket"}, "object": {"key": key, "size": 8044}}}]}))
        env = aws_env(setup.tmp, {"CONNECT": setup.fake.url, "S3": s3.url})
        r = run_env(env, "run", "-c", ini, ev)
    finally:
        s3.stop()
    assert r.code == 0, r
    req = only_task(setup.fake)["request"]
    ref = req["References"]["Recording"]
    assert ref["Type"] == "URL" and ref["Value"] == r.json()["recording"]["url"]
    assert ref["Value"].startswith(s3.url + "/vm-bucket/") and "X-Amz-Signature=" in ref["Value"]
    assert req["Attributes"]["vmpipe_recording_uri"] == f"s3://vm-bucket/{key}"
    assert "PreviousContactId" in req  # the contact id comes from the key


def test_task_template_fields_from_the_job(setup):
    ini = setup.pipeline("task_template_id = tt-0001",
                         "template_fields = Callback number=caller, Seconds=duration_seconds")
    r = setup.run(ini, setup.event(taskQueue=QUEUE))
    assert r.code == 0, r
    req = only_task(setup.fake)["request"]
    assert req["TaskTemplateId"] == "tt-0001" and "ContactFlowId" not in req
    assert req["References"]["Callback number"] == {"Value": "+15555550123", "Type": "STRING"}
    assert req["References"]["Seconds"]["Type"] == "NUMBER"
    assert set(req["References"]) == {"Callback number", "Seconds"}


def test_template_field_the_template_lacks_is_permanent(setup):
    ini = setup.pipeline("task_template_id = tt-0001", "template_fields = Bogus=caller")
    r = setup.run(ini, setup.event(taskQueue=QUEUE))
    assert r.code == 69, r
    assert "InvalidParameterException" in r.err and "'Bogus' is not a field" in r.err
    assert setup.fake.tasks == []


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("fault,status", [("ThrottlingException", "429"),
                                          ("InternalServiceException", "500")])
def test_throttling_and_5xx_are_transient(setup, fault, status):
    setup.fake.set_faults([fault] * 3 + ["ok"])
    r = setup.run(setup.pipeline(f"contact_flow_id = {FLOW}", f"default_queue = {QUEUE}"),
                  setup.event())
    assert r.code == 0, r
    assert f"HTTP {status} {fault}" in r.err
    assert len(setup.fake.started()) == 4 and len(setup.fake.tasks) == 1


def test_retry_after_is_honoured(setup):
    setup.fake.set_faults(["retry-after:7"] * 3 + ["ok"])
    r = setup.run(setup.pipeline(f"contact_flow_id = {FLOW}", f"default_queue = {QUEUE}"),
                  setup.event())
    assert r.code == 0, r
    assert "trying again in 7 s as Retry-After asks" in r.err
    assert len(setup.fake.tasks) == 1


def test_unknown_flow_is_permanent_with_the_services_message(setup):
    r = setup.run(setup.pipeline("contact_flow_id = 99999999-0000-0000-0000-000000000000"),
                  setup.event(taskQueue=QUEUE))
    assert r.code == 69, r
    assert "ResourceNotFoundException: Contact flow not found: 99999999-" in r.err
    assert "check instance_id, the task flow" in r.err
    assert len(setup.fake.started()) == 1  # permanent: not retried


def test_invalid_parameter_is_permanent(setup):
    setup.fake.set_faults(["InvalidParameterException"])
    r = setup.run(setup.pipeline(f"contact_flow_id = {FLOW}", f"default_queue = {QUEUE}"),
                  setup.event())
    assert r.code == 69, r
    assert "HTTP 400 InvalidParameterException: InvalidParameterException (injected fault)" in r.err
    assert len(setup.fake.started()) == 1


def test_quota_exceeded_is_permanent(setup):
    setup.fake.max_tasks = 1
    setup.fake.tasks.append({"contact_id": "x", "request": {}, "routed": {}})
    r = setup.run(setup.pipeline(f"contact_flow_id = {FLOW}", f"default_queue = {QUEUE}"),
                  setup.event())
    assert r.code == 69, r
    assert "HTTP 402 ServiceQuotaExceededException" in r.err and "concurrent active tasks" in r.err


@pytest.mark.parametrize("action,attrs", [
    ("connect:StartTaskContact", {"taskQueue": QUEUE}),
    ("connect:SearchUsers", {"taskAgent": "jo.agent", "taskQueue": QUEUE})])
def test_access_denied_names_the_iam_action(setup, action, attrs):
    setup.fake.denied = {action}
    r = setup.run(setup.pipeline(f"contact_flow_id = {FLOW}"), setup.event(**attrs))
    assert r.code == 69, r
    assert "HTTP 403 AccessDeniedException" in r.err
    assert f"needs the IAM action {action}" in r.err
    assert setup.fake.tasks == []


def test_no_instance_fails_at_intake(setup):
    rec = {"id": CID, "contact": {"id": CID, "caller": "+15555550123"}}
    ev = write(setup.tmp / "rec.json", json.dumps(rec))
    r = setup.run(setup.pipeline(f"contact_flow_id = {FLOW}"), ev)
    assert r.code == 69, r
    assert "no Amazon Connect instance for the task" in r.err
    assert "failed before any stage ran" in r.err
    assert setup.fake.requests() == []


@pytest.mark.parametrize("lines,msg", [
    ([], "set contact_flow_id"),
    (["contact_flow_id = a b"], "option 'contact_flow_id': 'a b' is not an id"),
    ([f"contact_flow_id = {FLOW}", "default_queue = sales"], "is not a queue ARN"),
    ([f"contact_flow_id = {FLOW}", "name = {{calller}}"], "unknown variable 'calller'"),
    ([f"contact_flow_id = {FLOW}", "template_fields = X=caller"], "needs task_template_id"),
    ([f"contact_flow_id = {FLOW}", "link = sideways"], "link"),
])
def test_bad_configuration_is_refused_by_check(setup, lines, msg):
    ini = setup.pipeline(*lines)
    env = aws_env(setup.tmp, {"CONNECT": setup.fake.url})
    r = run_env(env, "check", "-c", ini)
    assert r.code == 78, r
    assert msg in r.err


# ---------------------------------------------------------------- together

def test_email_and_task_at_once(setup):
    """[notify] notify-file and [notify.task] notify-connect-task in one pipeline."""
    out = setup.tmp / "out"
    extra = f"[notify]\nplugin = notify-file\ndir = {out}\n"
    r = setup.run(setup.pipeline(f"contact_flow_id = {FLOW}", f"default_queue = {QUEUE}",
                                 extra=extra), setup.event())
    assert r.code == 0, r
    assert len(list(out.glob("*.eml"))) == 1
    t = only_task(setup.fake)
    rec = r.json()
    assert sorted((n["stage"], n["transport"]) for n in rec["notifications"]) == [
        ("notify", "file"), ("notify.task", "connect-task")]
    assert [n for n in rec["notifications"] if n["stage"] == "notify.task"][0]["message_id"] \
        == t["contact_id"]


# ---------------------------------------------------------------- once only

SAN = "san" in os.path.basename(os.environ.get("VMPIPE_BUILD", "build"))


@pytest.fixture(scope="module")
def crash_shim(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("shim") / "crash_rename.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", out,
                    os.path.join(ROOT, "tests/tools/crash_rename.c"), "-ldl"], check=True)
    return out


@pytest.mark.skipif(SAN, reason="LD_PRELOAD under ASan")
def test_kill9_after_the_call_resumes_to_one_task(setup, crash_shim):
    """Killed after Connect started the task, before the checkpoint said so:
    the resumed run sends the same ClientToken and Connect answers with the
    same task.  (SES cannot do this: test_once.py's documented window.)"""
    ini = setup.pipeline(f"contact_flow_id = {FLOW}", f"default_queue = {QUEUE}",
                         state=f"state = {setup.tmp}/state")
    ev = setup.event()
    env = aws_env(setup.tmp, {"CONNECT": setup.fake.url}, clock=None)
    # Checkpoint renames: locate done, transcribe done, notify.task sending,
    # notify.task done: killed before the fourth, after Connect answered.
    crash = dict(env, LD_PRELOAD=crash_shim, CRASH_RENAME_MATCH=f"{CID}.json",
                 CRASH_RENAME_NTH="4", CRASH_RENAME_BEFORE="1")
    p = subprocess.run([VMPIPE, "run", "-c", ini, ev], env=crash, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert len(setup.fake.tasks) == 1
    first = setup.fake.tasks[0]["contact_id"]
    ck = json.load(open(setup.tmp / "state" / f"{CID}.json"))
    assert ck["stages"]["notify.task"] == "sending" and ck.get("notifications", []) == []
    r = run_env(env, "run", "-c", ini, ev)
    assert r.code == 0, r
    assert "the same ClientToken makes Amazon Connect answer with that task" in r.err
    started = setup.fake.started()
    assert len(started) == 2 and len(setup.fake.tasks) == 1  # two calls, one task
    rec = r.json()
    [n] = rec["notifications"]
    assert n["message_id"] == first
    r = run_env(env, "run", "-c", ini, ev)
    assert r.code == 0 and "already done" in r.err and len(setup.fake.started()) == 2


# ---------------------------------------------------------------- the daemon

def test_serve_runs_it_like_any_notifier(setup, tmp_path):
    """`vmpipe serve`: three voicemails from the spool, three tasks, each with
    its own ClientToken, beside the e-mail of each."""
    from serve_helpers import Serve, wait_until
    from conftest import run_vmpipe
    ids = [f"5e7e0000-0000-4000-8000-00000000000{n}" for n in range(3)]
    for c in ids:
        (setup.rec / f"{c}.wav").write_bytes(wav_bytes(0.5))
    out = tmp_path / "out"
    ini = setup.pipeline(f"contact_flow_id = {FLOW}", f"default_queue = {QUEUE}",
                         extra=f"[notify]\nplugin = notify-file\ndir = {out}\n")
    spool = tmp_path / "spool"
    env = aws_env(setup.tmp, {"CONNECT": setup.fake.url}, clock=None)
    env["VMPIPE_LOG_FORMAT"] = "json"
    srv = Serve(ini, spool, env=env).ready()
    try:
        for c in ids:
            ev = write(tmp_path / f"ev-{c}.json", json.dumps(connect_event(c)))
            r = run_vmpipe("enqueue", "--spool", spool, ev)
            assert r.code == 0, r
        wait_until("three tasks", lambda: len(setup.fake.tasks) == 3)
        srv.wait_log("done in", 3)
    finally:
        assert srv.stop() == 0
    reqs = [t["request"] for t in setup.fake.tasks]
    assert sorted(r["Attributes"]["vmpipe_job_id"] for r in reqs) == sorted(ids)
    assert len({r["ClientToken"] for r in reqs}) == 3
    assert len(list(out.glob("*.eml"))) == 3
