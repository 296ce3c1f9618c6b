"""`vmpipe serve` taking events from Amazon SQS (docs/serve.md, "SQS with
several hosts"): real `vmpipe serve` processes against the strict SQS fake
(tests/fakes/sqs_fake.py) and the S3 fake (awsfake.S3Fake), SigV4 checked
with botocore.

What is checked comes from the fakes' own records (every receive,
visibility change and delete of each message) and from the mails
notify-file writes, never from how long something took: a wait below only
stops a hung process.
"""
import datetime
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import pytest

from conftest import PLUGIN_DIR, ROOT, VMPIPE, connect_event, run_vmpipe, write
from test_notify_ses import AKID, SECRET, aws_env, wav_bytes

sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import awsfake  # noqa: E402
import sqs_fake
from serve_helpers import end_group  # noqa: E402

QUEUE, DLQ = "vm-events", "vm-events-dlq"
BUCKET, STATE_BUCKET = "vm-bucket", "vm-state"
PREFIX = "connect/acme/CallRecordings"
DEADLINE = 120  # a safety net for a hung process, never a measurement

pytestmark = pytest.mark.skipif(
    not all(os.path.exists(os.path.join(PLUGIN_DIR, p + ".so"))
            for p in ("locate-s3", "locate-file", "notify-file")),
    reason="the plugins are not built")


def cid_of(n):
    return f"{n:08x}-5a7e-4222-8333-444455556666"


def wait_for(cond, what, host=None, timeout=DEADLINE):
    end = time.monotonic() + timeout
    while not cond():
        if host is not None and host.p.poll() is not None:
            raise AssertionError(f"vmpipe serve exited ({host.p.returncode}) while waiting for "
                                 f"{what}:\n{host.log()[-4000:]}")
        if time.monotonic() > end:
            raise AssertionError(f"no {what} after {timeout} s" +
                                 (f":\n{host.log()[-4000:]}" if host else ""))
        time.sleep(0.05)


class Serve:
    """One `vmpipe serve` process; its log read as it comes."""

    def __init__(self, env, ini, spool, queue_url, extra=()):
        cmd = [VMPIPE, "serve", "-c", str(ini), "--spool", str(spool), "--workers", "2",
               "--queue", queue_url, *extra]
        wrapper = os.environ.get("VMPIPE_WRAPPER")
        if wrapper:
            cmd = shlex.split(wrapper) + cmd
        self.wrapped = bool(wrapper)
        self.lines = []
        self.p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True, errors="backslashreplace", start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stderr:
            self.lines.append(line)

    def log(self):
        return "".join(self.lines)

    def wait_log(self, text):
        wait_for(lambda: text in self.log(), repr(text) + " in the log", self)

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        rc = self.p.wait(timeout=DEADLINE)
        self.reader.join(timeout=10)
        assert not (self.wrapped and rc == 99), f"memory errors:\n{self.log()[-6000:]}"
        return rc


@pytest.fixture
def hosts():
    """Every Serve started by a test; killed at the end if still running."""
    started = []
    yield started
    for h in started:
        end_group(h.p)  # it and whatever it started


@pytest.fixture
def sqs():
    fake = sqs_fake.SQSFake([(AKID, SECRET, None)]).start()
    yield fake
    fake.stop()


@pytest.fixture
def s3():
    fake = awsfake.S3Fake([(AKID, SECRET, None)]).start()
    with fake.lock:
        fake.buckets[BUCKET] = {}
        fake.buckets[STATE_BUCKET] = {}
    yield fake
    fake.stop()


def env_for(tmp, sqs, s3=None, sqs_url=None, **extra):
    endpoints = {"SQS": sqs_url or sqs.url}
    if s3 is not None:
        endpoints["S3"] = s3.url
    return aws_env(tmp, endpoints, clock=None, extra=extra)


def local_ini(tmp, name, *, state=None, owner=None, visibility="5s", wait="1s", timeout="5m"):
    """locate-file (tmp/rec) -> notify-file (tmp/out-NAME)."""
    (tmp / "rec").mkdir(exist_ok=True)
    lines = ["[pipeline]", f"plugin_dir = {PLUGIN_DIR}", f"timeout = {timeout}"]
    if state:
        lines.append(f"state = {state}")
    lines += ["[serve]", f"queue_wait = {wait}", f"queue_visibility = {visibility}"]
    if owner:
        lines.append(f"owner = {owner}")
    lines += ["[locate]", "plugin = locate-file", f"dir = {tmp / 'rec'}",
              "pattern = {initial_contact_id}.wav", "settle = 0s", "poll = 200ms", "wait = 10m",
              "[notify]", "plugin = notify-file", f"dir = {tmp / ('out-' + name)}",
              "from = Voicemail <vm@localhost>", "to = owner@example.com"]
    return write(tmp / f"{name}.ini", "\n".join(lines) + "\n")


def record(cid):
    """The job-record form of an event, for locate-file."""
    return json.dumps({"id": cid, "recipient": {"email": "owner@example.com"}})


def recording(tmp, cid):
    (tmp / "rec").mkdir(exist_ok=True)
    part = tmp / f"{cid}.wav.part"  # whole when it appears (test_serve.recording says why)
    part.write_bytes(wav_bytes())
    os.rename(part, tmp / "rec" / f"{cid}.wav")


def mails(tmp, *names):
    out = []
    for n in names:
        d = tmp / f"out-{n}"
        if d.exists():
            out += sorted(f.name[:-4] for f in d.iterdir() if f.name.endswith(".eml"))
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ------------------------------------------------------------------ event forms

def connect_key(when, cid):
    return f"{PREFIX}/ivr/{when:%Y/%m/%d}/{cid}_{when:%Y%m%dT%H:%M}_UTC.wav"


def s3_notification(key, size):
    """S3's own notification: the key URL-encoded (':' as %3A)."""
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2024-05-01T10:16:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"},
               "object": {"key": urllib.parse.quote_plus(key, safe="/"), "size": size,
                          "sequencer": "0055AED6DCD90281E5"}}}]})


def sns_envelope(message):
    return json.dumps({
        "Type": "Notification", "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:voicemail", "Subject": "Amazon S3 Notification",
        "Message": message, "Timestamp": "2024-05-01T10:16:00.000Z", "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"})


def eventbridge(key, size, detail_type="Object Created", reason="PutObject"):
    """S3's event through EventBridge: the key as it is."""
    return json.dumps({
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": detail_type,
        "source": "aws.s3", "account": "123456789012", "time": "2024-05-01T10:16:00Z",
        "region": "us-east-1", "resources": [f"arn:aws:s3:::{BUCKET}"],
        "detail": {"version": "0", "bucket": {"name": BUCKET},
                   "object": {"key": key, "size": size, "etag": "b1946ac92492d2347c6235b4d2611184",
                              "sequencer": "617f08299329d189"},
                   "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012",
                   "source-ip-address": "1.2.3.4", "reason": reason}})


S3_TEST_EVENT = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent",
                            "Time": "2024-05-01T10:00:00.000Z", "Bucket": BUCKET,
                            "RequestId": "5582815E1AEA5ADF", "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR"})


def s3_ini(tmp):
    """locate-s3 (the S3 fake) -> notify-file (tmp/out-s3)."""
    return write(tmp / "s3.ini", f"""[pipeline]
plugin_dir = {PLUGIN_DIR}
timeout = 5m
[serve]
queue_wait = 1s
queue_visibility = 30s
[locate]
plugin = locate-s3
bucket = {BUCKET}
prefix = {PREFIX}
initial_delay = 0s
poll = 1s
wait = 1m
[notify]
plugin = notify-file
dir = {tmp / 'out-s3'}
from = Voicemail <vm@localhost>
to = owner@example.com
""")


@pytest.mark.valgrind
def test_each_event_form_through_sqs(tmp_path, sqs, s3, hosts):
    """A Connect event, S3's notification (plain, through SNS, through
    EventBridge) and a job record each become one mail for the right
    recording; S3's test event is deleted with a log line; every message is
    deleted once, none reaches the dead-letter queue."""
    url = sqs.create_queue(QUEUE, redrive=(DLQ, 3))
    now = datetime.datetime.now(datetime.timezone.utc)
    audio = wav_bytes()
    forms = ["connect", "s3", "sns", "eventbridge", "sns-eventbridge", "record"]
    keys, mids = {}, {}
    for n, form in enumerate(forms):
        cid = cid_of(n + 1)
        keys[cid] = connect_key(now, cid)
        s3.put(BUCKET, keys[cid], audio, "audio/wav")
        body = {
            "connect": lambda: json.dumps(connect_event(cid)),
            "s3": lambda: s3_notification(keys[cid], len(audio)),
            "sns": lambda: sns_envelope(s3_notification(keys[cid], len(audio))),
            "eventbridge": lambda: eventbridge(keys[cid], len(audio)),
            "sns-eventbridge": lambda: sns_envelope(eventbridge(keys[cid], len(audio))),
            "record": lambda: json.dumps({"id": cid, "recipient": {"email": "owner@example.com"},
                                          "recording": {"uri": f"s3://{BUCKET}/{keys[cid]}"}}),
        }[form]()
        mids[cid] = sqs.send(QUEUE, body)
    test_mid = sqs.send(QUEUE, S3_TEST_EVENT)
    host = Serve(env_for(tmp_path, sqs, s3), s3_ini(tmp_path), tmp_path / "spool", url)
    hosts.append(host)
    wait_for(lambda: not sqs.queue(QUEUE).messages, "every message deleted", host)
    assert host.stop() == 0, host.log()
    assert mails(tmp_path, "s3") == sorted(keys), host.log()
    for cid, key in keys.items():
        rec = json.loads((tmp_path / "out-s3" / f"{cid}.json").read_text())
        assert rec["recording"]["uri"] == f"s3://{BUCKET}/{key}", rec
        assert sqs.count("delete", mids[cid]) == 1
        assert sqs.count("receive", mids[cid]) == 1
    assert sqs.count("delete", test_mid) == 1
    assert f"message {test_mid}: S3's test event (bucket {BUCKET}): nothing to run; deleted" in host.log()
    assert not sqs.queue(DLQ).messages
    assert "goes to the dead-letter queue vm-events-dlq" in host.log()


# ------------------------------------------------------------------ redrive

def metrics(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("vmpipe_queue_messages_total{"):
            name, value = line.rsplit(" ", 1)
            out[name.split('"')[1]] = int(float(value))
    return out


def test_unparsable_messages_go_to_the_dead_letter_queue(tmp_path, sqs, hosts):
    """Messages vmpipe does not take are logged with their id and never
    deleted: each comes back after its visibility timeout and the redrive
    policy moves it to the dead-letter queue after maxReceiveCount receives.
    A good message among them is mailed and deleted."""
    url = sqs.create_queue(QUEUE, redrive=(DLQ, 2))
    bad = ["this is not an event",
           eventbridge("connect/x.wav", 10, detail_type="Object Deleted", reason="DeleteObject"),
           json.dumps({"Records": [{"eventName": "ObjectRemoved:Delete", "s3": {
               "bucket": {"name": BUCKET}, "object": {"key": "a.wav"}}}]})]
    bad_ids = [sqs.send(QUEUE, b) for b in bad]
    cid = cid_of(7)
    recording(tmp_path, cid)
    good = sqs.send(QUEUE, record(cid))
    port = free_port()
    host = Serve(env_for(tmp_path, sqs), local_ini(tmp_path, "a", visibility="1s"),
                 tmp_path / "spool", url, extra=["--metrics", f"127.0.0.1:{port}"])
    hosts.append(host)
    wait_for(lambda: len(sqs.queue(DLQ).messages) == len(bad) and not sqs.queue(QUEUE).messages,
             "the bad messages in the dead-letter queue", host)
    expected = {"received": 2 * len(bad) + 1, "deleted": 1, "unparsed": 2 * len(bad)}
    # Counted once serve has the fake's answer, which may come after the fake
    # recorded the request: scrape until the counts settle.
    wait_for(lambda: metrics(port) == expected, "the counts", host)
    counts = metrics(port)
    assert host.stop() == 0, host.log()
    assert sorted(sqs.queue(DLQ).bodies()) == sorted(bad)
    for mid in bad_ids:
        assert sqs.count("delete", mid) == 0, f"vmpipe deleted the unparsable message {mid}"
        assert sqs.count("receive", mid) == 2
        assert sqs.count("dead-letter", mid) == 1
        assert f"message {mid} (received 1 time): " in host.log()
        assert f"message {mid} (received 2 times): " in host.log()
    assert "the body is not JSON" in host.log()
    assert "only 'Object Created' is a new recording" in host.log()
    assert "not an ObjectCreated event" in host.log()
    assert sqs.count("delete", good) == 1
    assert mails(tmp_path, "a") == [cid]
    assert counts == expected, counts


# ------------------------------------------------------------------ visibility

def test_visibility_extended_while_the_job_waits(tmp_path, sqs, hosts):
    """A job waiting for its recording keeps its message: the visibility
    (2 s) is extended again and again and the message is never delivered a
    second time; it is deleted once the job is done."""
    url = sqs.create_queue(QUEUE, visibility=30, redrive=(DLQ, 5))
    cid = cid_of(8)
    mid = sqs.send(QUEUE, record(cid))
    host = Serve(env_for(tmp_path, sqs), local_ini(tmp_path, "a", visibility="2s"),
                 tmp_path / "spool", url)
    hosts.append(host)
    host.wait_log(f"[{cid} serve]: accepted")
    wait_for(lambda: sqs.count("visibility", mid) >= 3, "three extensions", host)
    assert sqs.count("receive", mid) == 1
    assert not mails(tmp_path, "a")
    recording(tmp_path, cid)
    wait_for(lambda: sqs.count("delete", mid) == 1, "the message deleted", host)
    assert host.stop() == 0, host.log()
    assert sqs.count("receive", mid) == 1, "the message was delivered again while its job ran"
    with sqs.lock:
        values = {e["value"] for e in sqs.events if e["op"] == "visibility" and e["id"] == mid}
    assert values == {2}
    assert mails(tmp_path, "a") == [cid]


# ------------------------------------------------------------------ several hosts

def test_two_hosts_on_one_queue_mail_each_voicemail_once(tmp_path, sqs, s3, hosts):
    """Two serve processes (separate spools, their claims in one S3 state)
    share one queue carrying every event twice, as S3 may deliver it: each
    voicemail is mailed once, every message is deleted."""
    url = sqs.create_queue(QUEUE, redrive=(DLQ, 10))
    n = 24
    cids = [cid_of(100 + i) for i in range(n)]
    for cid in cids:
        recording(tmp_path, cid)
    for _ in range(2):
        for cid in cids:
            sqs.send(QUEUE, record(cid))
    state = f"s3://{STATE_BUCKET}/jobs"
    env = env_for(tmp_path, sqs, s3)
    for name in ("a", "b"):
        hosts.append(Serve(env, local_ini(tmp_path, name, state=state, owner=f"host-{name}",
                                          visibility="2s"),
                           tmp_path / f"spool-{name}", url))
    wait_for(lambda: not sqs.queue(QUEUE).messages, "every message deleted", hosts[0])
    for h in hosts:
        assert h.stop() == 0, h.log()
    got = mails(tmp_path, "a", "b")
    assert sorted(got) == sorted(cids), f"mailed: {sorted(got)}"
    assert sqs.count("delete") == 2 * n
    assert not sqs.queue(DLQ).messages
    for cid in cids:
        rec = json.loads(s3.buckets[STATE_BUCKET][f"jobs/{cid}.json"][0])
        assert rec["state"] == "done" and len(rec["notifications"]) == 1, rec


def test_killed_host_job_resumed_by_the_other(tmp_path, sqs, s3, hosts):
    """Host A takes a voicemail, checkpoints it in S3 and is killed with
    kill -9 while the job waits for its recording.  The message comes back
    once A stops extending it; host B finds A's lease, gives the message
    back until the lease runs out, then takes the job over and resumes it
    from A's checkpoint: one mail, from B.  B runs on a clock 100 times
    faster (VMPIPE_CLOCK=scaled:100), so A's lease (timeout + notify_grace +
    2 min) runs out in seconds; the fakes accept B's signing dates."""
    url = sqs.create_queue(QUEUE, redrive=(DLQ, 20))
    cid = cid_of(9)
    mid = sqs.send(QUEUE, record(cid))
    state = f"s3://{STATE_BUCKET}/jobs"
    env = env_for(tmp_path, sqs, s3)
    a = Serve(env, local_ini(tmp_path, "a", state=state, owner="host-a", visibility="2s"),
              tmp_path / "spool-a", url)
    hosts.append(a)
    a.wait_log(f"[{cid} serve]: accepted")
    key = f"jobs/{cid}.json"
    wait_for(lambda: key in s3.buckets[STATE_BUCKET] and sqs.count("visibility", mid) >= 1,
             "A's checkpoint and an extension", a)
    held = json.loads(s3.buckets[STATE_BUCKET][key][0])
    assert held["claim"]["owner"] == "host-a", held
    assert a.stop(signal.SIGKILL) == -signal.SIGKILL
    recording(tmp_path, cid)
    s3.skew_s = sqs.skew_s = 86400
    b = Serve(dict(env, VMPIPE_CLOCK="scaled:100"),
              local_ini(tmp_path, "b", state=state, owner="host-b", visibility="2s"),
              tmp_path / "spool-b", url)
    hosts.append(b)
    wait_for(lambda: sqs.count("delete", mid) == 1, "the message deleted", b)
    assert b.stop() == 0, b.log()
    assert mails(tmp_path, "a", "b") == [cid]
    assert (tmp_path / "out-b" / f"{cid}.eml").exists()
    assert "took the job over from host-a (lease expired)" in b.log(), b.log()
    assert f"[{cid} serve]: resumed from its checkpoint" in b.log()
    assert sqs.count("receive", mid) >= 2
    rec = json.loads(s3.buckets[STATE_BUCKET][key][0])
    assert rec["state"] == "done" and len(rec["notifications"]) == 1, rec
    assert "claim" not in rec


@pytest.mark.valgrind
def test_sigterm_gives_messages_back(tmp_path, sqs, hosts):
    """SIGTERM while a job waits: its checkpoint is saved, its message given
    back (not deleted; visible as soon as the long poll that stopping
    abandoned would have ended, at most queue_wait + 1 s), exit 0.  Nothing
    receives it meanwhile.  The next serve takes it again and resumes the
    job: one mail."""
    url = sqs.create_queue(QUEUE, redrive=(DLQ, 5))
    cid = cid_of(10)
    mid = sqs.send(QUEUE, record(cid))
    ini = local_ini(tmp_path, "a", visibility="30s")
    env = env_for(tmp_path, sqs)
    first = Serve(env, ini, tmp_path / "spool", url)
    hosts.append(first)
    first.wait_log(f"[{cid} serve]: accepted")
    assert first.stop() == 0, first.log()
    q = sqs.queue(QUEUE)
    wait_for(lambda: [m.id for m in q.visible(time.monotonic())] == [mid], "the message visible")
    with sqs.lock:
        mine = [e for e in sqs.events if e["id"] == mid]
    assert [e["op"] for e in mine] == ["receive", "visibility"], mine
    assert mine[-1]["value"] <= 2  # queue_wait (1 s) + 1 s, not queue_visibility (30 s)
    saved = json.loads((tmp_path / "spool" / "state" / f"{cid}.json").read_text())
    assert saved["state"] != "done", saved
    recording(tmp_path, cid)
    second = Serve(env, ini, tmp_path / "spool", url)
    hosts.append(second)
    wait_for(lambda: sqs.count("delete", mid) == 1, "the message deleted", second)
    assert second.stop() == 0, second.log()
    assert f"[{cid} serve]: resumed from its checkpoint" in second.log()
    assert mails(tmp_path, "a") == [cid]
    assert sqs.count("receive", mid) == 2


# ------------------------------------------------------------------ errors

def test_queue_faults_are_retried(tmp_path, sqs, hosts):
    """5xx and throttling from SQS: logged, backed off, retried; the
    voicemail still goes out and its message is deleted."""
    url = sqs.create_queue(QUEUE, redrive=(DLQ, 5))
    cid = cid_of(11)
    recording(tmp_path, cid)
    mid = sqs.send(QUEUE, record(cid))
    # The first request is the redrive check, then three receives fail.
    sqs.set_faults(plan=["503", "throttle", "500", "503"])
    host = Serve(env_for(tmp_path, sqs), local_ini(tmp_path, "a"), tmp_path / "spool", url)
    hosts.append(host)
    wait_for(lambda: sqs.count("delete", mid) == 1, "the message deleted", host)
    assert host.stop() == 0, host.log()
    log = host.log()
    assert "its redrive policy could not be read" in log
    assert "ReceiveMessage failed: sqs: RequestThrottled (HTTP 400)" in log
    assert "ReceiveMessage works again after 3 failures" in log, log
    assert [e["fault"] for e in sqs.requests()][:5] == ["503", "throttle", "500", "503", None]
    assert mails(tmp_path, "a") == [cid]


def test_dead_endpoint_is_logged_once_and_survived(tmp_path, sqs, hosts):
    """Nothing listens where SQS should be: serve says so once (then backs
    off quietly), keeps serving and stops cleanly."""
    dead = free_port()
    url = f"http://127.0.0.1:{dead}/123456789012/{QUEUE}"
    host = Serve(env_for(tmp_path, sqs, sqs_url=f"http://127.0.0.1:{dead}"),
                 local_ini(tmp_path, "a"), tmp_path / "spool", url)
    hosts.append(host)
    host.wait_log("ReceiveMessage failed")
    host.wait_log("its redrive policy could not be read")
    assert host.p.poll() is None
    assert host.stop() == 0, host.log()
    assert host.log().count("ReceiveMessage failed") == 1, host.log()
    assert "cannot connect" in host.log()


@pytest.mark.parametrize("setting,args,why", [
    ("", ["--queue", "ftp://example.com/123456789012/q"], "--queue: queue URL must start with https://"),
    ("", ["--queue", "https://sqs.us-east-1.amazonaws.com/vm-events"], "--queue: not an SQS queue URL"),
    ("queue_wait = 25s\n", ["--queue", "https://sqs.us-east-1.amazonaws.com/123456789012/q"],
     "must be 0 to 20 s"),
    ("queue = https://sqs.us-east-1.amazonaws.com/123456789012/q\nqueue_visibility = 13h\n", [],
     "[serve] queue: the visibility timeout (queue_visibility) must be 1 s to 12 h"),
])
def test_bad_queue_settings_are_config_errors(tmp_path, setting, args, why):
    ini = write(tmp_path / "p.ini", f"""[pipeline]
plugin_dir = {PLUGIN_DIR}
[serve]
{setting}[locate]
plugin = locate-file
dir = {tmp_path}
[notify]
plugin = notify-file
dir = {tmp_path / 'out'}
""")
    r = run_vmpipe("serve", "-c", ini, "--spool", tmp_path / "spool", *args,
                   env={"AWS_REGION": "us-east-1"})
    assert r.code == 78, r
    assert why in r.err, r


def test_a_listen_link_opens_on_every_host_of_a_shared_state(tmp_path, sqs, s3, hosts):
    """Hosts sharing one queue keep their checkpoints in one S3 state (and
    one link key): the owner's Listen link opens on whichever host the
    address reaches, the page read from the state on S3, the recording
    from the shared recording directory."""
    from listen_helpers import fetch, link_in
    from test_listen import audio_of
    import email
    import email.policy
    url = sqs.create_queue(QUEUE, redrive=(DLQ, 10))
    cid = cid_of(700)
    recording(tmp_path, cid)
    key = tmp_path / "link.key"
    key.write_text("5a" * 32 + "\n")
    os.chmod(key, 0o600)
    state = f"s3://{STATE_BUCKET}/jobs"
    env = env_for(tmp_path, sqs, s3)
    ports = {}
    for name in ("a", "b"):
        ports[name] = free_port()
        ini = local_ini(tmp_path, name, state=state, owner=f"host-{name}")
        text = open(ini).read().replace("[serve]\n", f"""[serve]
listen = 127.0.0.1:{ports[name]}
public_url = http://127.0.0.1:{ports[name]}/
link_key_file = {key}
""")
        open(ini, "w").write(text)
        hosts.append(Serve(env, ini, tmp_path / f"spool-{name}", url))
    sqs.send(QUEUE, record(cid))
    wait_for(lambda: len(mails(tmp_path, "a", "b")) == 1, "the mail", hosts[0])
    (eml,) = [p for n in ("a", "b") for p in (tmp_path / f"out-{n}").glob("*.eml")]
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    link = link_in(msg)
    data = (tmp_path / "rec" / f"{cid}.wav").read_bytes()
    for name in ("a", "b"):
        here = link.replace(link.split("/l/")[0], f"http://127.0.0.1:{ports[name]}")
        status, _, body = fetch(here)
        assert status == 200 and b"<audio" in body, (name, status, body[:300])
        status, _, got = fetch(audio_of(body.decode()).replace(link.split("/l/")[0],
                                                                 f"http://127.0.0.1:{ports[name]}"))
        assert status == 200 and got == data, (name, status)
    for h in hosts:
        assert h.stop() == 0, h.log()
    with s3.lock:
        assert f"jobs/{cid}.json" in s3.buckets[STATE_BUCKET]
