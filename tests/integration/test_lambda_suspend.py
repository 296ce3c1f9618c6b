"""Lambda's suspend mode: no invocation waits; events and durable timers
resume the job (docs/lambda.md, "Suspend mode").

`vmpipe lambda` runs the AWS pipeline (etc/pipeline.ini) inside a simulated
Lambda (tests/fakes/lambda_world.py): the strict Runtime API fake delivers
the contact-flow event, S3 events (notification and EventBridge forms),
EventBridge's Transcribe job state changes and SQS batches from the wake-up
queue (a strict SQS fake: JSON protocol, SigV4, DelaySeconds, visibility,
redrive), with Lambda's asynchronous retries and a container restarted when
it dies.  Time runs 10 times faster (VMPIPE_CLOCK=scaled:10@ORIGIN shared by
every process and fake); how long an invocation lasted is read from the
Runtime API fake's timestamps on that clock, never asserted in real time.

The call: the contact flow invokes the function when the caller starts
speaking; the recording is visible in S3 8 s later, Transcribe takes 10 s.
"""
import datetime
import json
import os
import shlex
import struct
import subprocess
import sys
import time

import pytest

from conftest import ROOT, VMPIPE, connect_event

sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import lambda_world  # noqa: E402
from lambda_runtime import LambdaRuntimeFake  # noqa: E402

CID = "5e1f0c2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
SCALE = 10.0
VISIBLE_S = 8.0
TRANSCRIBE_S = 10.0
SUSPEND_AFTER_S = 1.0
# The AWS plugins' shortest wait between looks (locate-s3 poll, transcribe-aws
# poll_min): an invocation that waited for one inline would last this long.
SHORTEST_POLL_S = 2.0
PIPELINE = os.path.join(ROOT, "etc", "pipeline.ini")


def wav(seconds=5.0, rate=8000):
    frames = struct.pack("<hh", 3000, 0) * int(seconds * rate)
    hdr = b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVE"
    hdr += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 2, rate, rate * 4, 4, 16)
    return hdr + b"data" + struct.pack("<I", len(frames)) + frames


def key_at(t, cid=CID, prefix="connect/acme/CallRecordings"):
    when = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return f"{prefix}/ivr/{when:%Y/%m/%d}/{cid}_{when:%Y%m%dT%H:%M}_UTC.wav"


@pytest.fixture
def make_world(tmp_path):
    worlds = []

    def make(extra=None, **kw):
        env = {"VMPIPE_PIPELINE": PIPELINE, "VMPIPE_SUSPEND_AFTER": f"{SUSPEND_AFTER_S:g}s",
               "VMPIPE_WAKEUP_FALLBACK": "30s", "RECORDING_WAIT_TIME": "120", "VMPIPE_LOG_LEVEL": "debug"}
        env.update(extra or {})
        w = lambda_world.World([VMPIPE, "lambda"], scale=SCALE, transcribe_s=TRANSCRIBE_S, extra_env=env,
                               cwd=str(tmp_path), **kw)
        worlds.append(w)
        return w
    yield make
    for w in worlds:
        w.stop()
        assert not w.rt.violations, w.rt.violations
        # Only the crashes a test makes (a sanitizer's abort would look like one).
        assert w.crashes == getattr(w, "expected_crashes", 0), w.crashes
        log = (tmp_path / "lambda.log").read_text(errors="replace")
        for bad in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
            assert bad not in log, log[log.index(bad) - 2000:][:4000]


def call(w, upload=True, late_s=0.0):
    """The contact flow's invocation now, Connect's upload VISIBLE_S later."""
    t0 = w.clock.now()
    key = key_at(t0)
    w.connect(connect_event(contact_id=CID, recipient="owner@example.com"))
    if upload:
        w.upload_recording(key, wav(), t0 + VISIBLE_S, late_s=late_s)
    return t0, key


def settle(w, timeout_s=60):
    """One mail, then nothing left to run: every wake-up fired and acknowledged."""
    w.wait(lambda: len(w.mails()) >= 1, timeout_s, "the mail")
    w.wait(w.idle, timeout_s, "an idle function")


def checkpoint(w, cid=CID):
    with w.s3.lock:
        return json.loads(w.s3.buckets[lambda_world.STATE_BUCKET][f"vmpipe/{cid}.json"][0])


def by_source(w, source):
    return [i for i in w.invocations if i.source == source]


def longest(w):
    return max(i.result["v_elapsed"] for i in w.invocations if i.result)


# ---------------------------------------------------------------- events

@pytest.mark.parametrize("form", ["notification", "eventbridge"])
def test_events_resume_the_job_and_no_invocation_waits(make_world, form):
    w = make_world(s3_form=form)
    call(w)
    settle(w)
    assert len(w.mails()) == 1
    assert len(w.ses.sends()) == 1
    rec = checkpoint(w)
    assert rec["state"] == "done" and rec["transcript"]["status"] == "completed", rec
    assert "call me back" in rec["transcript"]["text"]
    # Each event woke the job once: the contact flow created it, S3 and Transcribe resumed it.
    for src in ("connect", "s3", "transcribe"):
        assert len(by_source(w, src)) == 1, (src, w.timeline)
        assert by_source(w, src)[0].result["kind"] == "response"
    assert by_source(w, "connect")[0].result["json"]["state"] == "suspended"
    # No invocation lasted as long as one poll: nothing waited inline.
    assert longest(w) < SHORTEST_POLL_S, [(i.source, i.result["v_elapsed"]) for i in w.invocations]
    # Transcribe was started once and asked about once (when its event came), not polled.
    ops = [e for e in w.tr.requests() if e["path"] == "/"]
    assert len(w.tr.starts) == 1 and len(ops) <= 3, ops
    assert not w.failed_async


def test_one_invocation_mode_waits_for_comparison(make_world):
    """Without the wake-up queue, today's mode: one invocation that lives
    through the recording and the transcription (what suspend mode avoids)."""
    w = make_world(suspend=False, function_timeout_s=900, deliver_s3=False, deliver_transcribe=False)
    call(w)
    w.wait(lambda: by_source(w, "connect") and by_source(w, "connect")[0].result, 60, "the answer")
    assert len(w.mails()) == 1
    assert longest(w) >= VISIBLE_S + TRANSCRIBE_S


def test_events_twice_mail_once(make_world):
    w = make_world(duplicate_events=True)
    call(w)
    settle(w)
    assert len(w.mails()) == 1 and len(w.ses.sends()) == 1
    assert len(by_source(w, "s3")) == 2 and len(by_source(w, "transcribe")) == 2
    assert all(i.result["kind"] == "response" for i in w.invocations)
    assert len(w.tr.starts) == 1


def test_s3_event_before_the_job_exists(make_world):
    """The recording's event comes before the contact flow's invocation (a
    delayed asynchronous invocation): it is noted in the index, and the job
    finds the news when it first suspends, instead of waiting for a timer
    (the fallback and the recording's wait are 10 minutes here)."""
    w = make_world(extra={"VMPIPE_WAKEUP_FALLBACK": "10m", "RECORDING_WAIT_TIME": "600"})
    t0 = w.clock.now()
    w.upload_recording(key_at(t0), wav(), t0)
    w.wait(lambda: by_source(w, "s3") and by_source(w, "s3")[0].result, 30, "the S3 event")
    assert by_source(w, "s3")[0].result["json"] == {"state": "noted", "for": CID}
    w.connect(connect_event(contact_id=CID, recipient="owner@example.com"))
    w.wait(lambda: len(w.mails()) >= 1, 20, "the mail (before any timer)")
    assert checkpoint(w)["recording"]["uri"].endswith("_UTC.wav")


def test_late_s3_event_after_the_timer_found_the_recording(make_world):
    """Out of order: the S3 event comes after the fallback look found the
    recording and Transcribe's event finished the job: it is acknowledged
    and nothing runs."""
    w = make_world(extra={"VMPIPE_WAKEUP_FALLBACK": "12s"})
    call(w, late_s=40)
    settle(w)
    w.wait(lambda: by_source(w, "s3") and by_source(w, "s3")[0].result, 60, "the late S3 event")
    late = by_source(w, "s3")[0].result
    assert late["kind"] == "response" and late["json"]["state"] == "done", late
    assert len(w.mails()) == 1 and len(w.ses.sends()) == 1


@pytest.mark.parametrize("events", [(), ("s3", "transcribe")], ids=["timers-only", "events-lost"])
def test_timers_alone_finish_the_job(make_world, events):
    """No events at all: either none are configured (every wait is a wake-up
    at the plugin's own poll time) or they never come (the fallback looks)."""
    w = make_world(events=events, deliver_s3=False, deliver_transcribe=False,
                   extra={"VMPIPE_WAKEUP_FALLBACK": "5s"})
    call(w)
    settle(w, 90)
    assert len(w.mails()) == 1 and len(w.ses.sends()) == 1
    rec = checkpoint(w)
    assert rec["transcript"]["status"] == "completed", rec
    assert by_source(w, "sqs"), w.timeline
    assert longest(w) < SHORTEST_POLL_S
    # Every wake-up asked for a delay SQS allows.
    delays = [m["delay"] for m in w.sqs.sent]
    assert delays and all(0 <= d <= 900 for d in delays), delays


def test_recording_never_comes(make_world):
    """No recording: the wake-up at RECORDING_WAIT_TIME tells the owner."""
    w = make_world(extra={"RECORDING_WAIT_TIME": "40", "VMPIPE_WAKEUP_FALLBACK": "10m"})
    call(w, upload=False)
    settle(w, 90)
    assert len(w.mails()) == 1
    rec = checkpoint(w)
    assert rec["recording"]["error"] == "not found" and rec["state"] == "failed", rec
    # Woken once by its timer, when the search gave up (not polled before).
    assert len(by_source(w, "sqs")) == 1, w.timeline
    assert not w.failed_async


def test_transcription_never_finishes(make_world):
    w = make_world(extra={"TRANSCRIBE_WAIT_TIME": "30"})
    w.tr.duration = 10 ** 6
    call(w)
    settle(w, 90)
    assert len(w.mails()) == 1
    rec = checkpoint(w)
    assert rec["transcript"]["status"] == "failed" and "timed out" in rec["transcript"]["error"], rec
    assert rec["state"] == "done"


# ---------------------------------------------------------------- held jobs, crashes

def test_event_for_a_held_job_leaves_news(make_world):
    """Another invocation holds the job when the S3 event comes: the event is
    acknowledged and leaves the news in the index; the job, once free, is
    woken by its timer and mailed once."""
    w = make_world(extra={"VMPIPE_WAKEUP_FALLBACK": "15s"})
    t0, key = call(w, upload=False)
    w.wait(lambda: by_source(w, "connect") and by_source(w, "connect")[0].result, 30, "the suspension")
    held_key = f"vmpipe/{CID}.json"
    with w.s3.lock:
        objs = w.s3.buckets[lambda_world.STATE_BUCKET]
        rec = json.loads(objs[held_key][0])
        rec["claim"] = {"owner": "lambda:another-invocation", "until": "2999-01-01T00:00:00Z"}
        body = json.dumps(rec).encode()
    w.s3.put(lambda_world.STATE_BUCKET, held_key, body, "application/json")
    w.upload_recording(key, wav(), w.clock.now())
    w.wait(lambda: by_source(w, "s3") and by_source(w, "s3")[0].result, 30, "the S3 event")
    assert by_source(w, "s3")[0].result["json"]["state"] == "busy"
    with w.s3.lock:
        index = json.loads(w.s3.buckets[lambda_world.STATE_BUCKET][f"vmpipe/wake/recording/{CID}.json"][0])
    assert index["job"] == CID and "news" in index, index
    assert not w.mails()
    # The holder lets go (its lease gone): the timer wakes the job.
    rec = checkpoint(w)
    del rec["claim"]
    w.s3.put(lambda_world.STATE_BUCKET, held_key, json.dumps(rec).encode(), "application/json")
    settle(w, 90)
    assert len(w.mails()) == 1 and len(w.ses.sends()) == 1


def crash_at_suspension(w, source, cid=CID):
    """Kill the container once, when the checkpoint of a suspension is stored
    during an invocation from `source` (before the invocation is answered)."""
    state = {"done": False}

    def hook(bucket, key, body):
        if state["done"] or key != f"vmpipe/{cid}.json" or b"suspended_until" not in body:
            return
        with w.rt.cv:
            out = [w.rt.handed[r] for r in w.rt.outstanding]
        if not any(i.source == source for i in w.invocations if i.rid in {o.request_id for o in out}):
            return
        state["done"] = True
        w.kill_container()
    w.s3.on_put = hook
    return state


def test_crash_between_checkpoint_and_answer_of_an_event(make_world):
    """The contact flow's invocation dies after its suspension was checkpointed
    and before it answered: Connect invokes again (a new request id, a new
    container); the job is still held by the dead invocation, so the retry
    leaves a wake-up for when that lease (the dead invocation's deadline)
    ends, and the wake-up goes on from the checkpoint: one mail."""
    w = make_world()
    w.expected_crashes = 1
    crashed = crash_at_suspension(w, "connect")
    call(w)
    settle(w, 90)
    assert crashed["done"] and w.crashes == 1
    attempts = by_source(w, "connect")
    assert [a.result["kind"] for a in attempts] == ["crash", "response"], w.timeline
    assert len(w.mails()) == 1 and len(w.ses.sends()) == 1


def test_crash_between_checkpoint_and_answer_of_a_wakeup(make_world):
    """The same in a wake-up's invocation: the batch is not answered, SQS
    delivers the message again after its visibility timeout, and the job
    goes on under the same message's claim: one mail."""
    w = make_world(events=(), deliver_s3=False, deliver_transcribe=False, visibility_s=20)
    w.expected_crashes = 1
    crashed = crash_at_suspension(w, "sqs")
    call(w)
    settle(w, 90)
    assert crashed["done"] and w.crashes == 1
    assert len(w.mails()) == 1 and len(w.ses.sends()) == 1
    assert any(e["op"] == "receive" and e["value"] >= 2 for e in w.sqs.events), "no redelivery"


def test_wakeup_not_sent_is_not_acknowledged(make_world):
    """SQS refuses the wake-up (3 times: the host's retries): the invocation
    ends in /error, Lambda's retry suspends the job again, one mail."""
    w = make_world()
    w.sqs.set_faults(plan=["503", "503", "503"])
    call(w)
    settle(w, 90)
    first = by_source(w, "connect")
    assert first[0].result["kind"] == "error", first[0].result
    assert first[0].result["json"]["errorType"] == "vmpipe.TempFail"
    assert "wake-up" in first[0].result["json"]["errorMessage"]
    assert len(w.mails()) == 1


def test_bad_wakeup_goes_to_the_dead_letter_queue(make_world):
    w = make_world(visibility_s=10)
    w.sqs.send(lambda_world.QUEUE, json.dumps({"hello": "world"}), delay=0)
    w.wait(lambda: w.sqs.count("dead-letter") == 1, 60, "the dead-letter move")
    sqs = by_source(w, "sqs")
    assert len(sqs) == 5
    for i in sqs:
        assert i.result["kind"] == "response"
        assert len(i.result["json"]["batchItemFailures"]) == 1


# ---------------------------------------------------------------- settings

@pytest.mark.parametrize("env,want", [
    ({"VMPIPE_STATE": ""}, "needs [pipeline] state = s3://"),
    ({"VMPIPE_STATE": "s3://vm-state/x", "VMPIPE_SUSPEND_AFTER": "forever"}, "VMPIPE_SUSPEND_AFTER"),
    ({"VMPIPE_STATE": "s3://vm-state/x", "VMPIPE_WAKEUP_EVENTS": "s3,sms"}, "\"sms\""),
    ({"VMPIPE_STATE": "s3://vm-state/x", "VMPIPE_SWEEP_AFTER": "0s"}, "VMPIPE_SWEEP_AFTER"),
    ({"VMPIPE_STATE": "s3://vm-state/x", "VMPIPE_SWEEP_WINDOW": "1y"}, "VMPIPE_SWEEP_WINDOW"),
], ids=["no-s3-state", "bad-suspend-after", "bad-events", "bad-sweep-after", "bad-sweep-window"])
def test_bad_settings_are_init_errors(tmp_path, env, want):
    with LambdaRuntimeFake() as rt:
        e = {"AWS_LAMBDA_RUNTIME_API": rt.address, "AWS_REGION": "us-east-1", "PATH": "/usr/bin:/bin",
             "VMPIPE_PIPELINE": PIPELINE, "BASE_PATH": "vm-recordings/p", "EMAIL_SENDER": "vm@example.com",
             "VMPIPE_WAKEUP_QUEUE": "https://sqs.us-east-1.amazonaws.com/123456789012/q"}
        e.update(env)
        p = subprocess.run([VMPIPE, "lambda"], env=e, capture_output=True, text=True, timeout=60)
        assert p.returncode == 78, p.stderr
        err = rt.wait_init_error()
        assert err["json"]["errorType"] == "vmpipe.ConfigError"
        assert want in err["json"]["errorMessage"], err
        assert not rt.violations


# ---------------------------------------------------------------- under valgrind

@pytest.mark.valgrind
def test_suspend_paths_under_wrapper(tmp_path):
    """Suspend mode's paths in one `vmpipe lambda` under VMPIPE_WRAPPER
    (valgrind in make check), which then ends cleanly (exit 70) so leaks are
    reported: a job suspended, events no job waits for, a Transcribe state
    that wakes nobody, and a batch with a bad message, a stale wake-up and
    one not due yet (chained)."""
    import awsfake
    import sqs_fake
    creds = [(lambda_world.AKID, lambda_world.SECRET, None)]
    s3 = awsfake.S3Fake(creds).start()
    sqs = sqs_fake.SQSFake(creds).start()
    rt = LambdaRuntimeFake().start()
    try:
        with s3.lock:
            s3.buckets["vm-recordings"] = {}
            s3.buckets["vm-state"] = {}
        url = sqs.create_queue("wake")
        env = {"AWS_LAMBDA_RUNTIME_API": rt.address, "AWS_REGION": "us-east-1", "PATH": "/usr/bin:/bin",
               "AWS_ACCESS_KEY_ID": lambda_world.AKID, "AWS_SECRET_ACCESS_KEY": lambda_world.SECRET,
               "AWS_EC2_METADATA_DISABLED": "true", "HOME": str(tmp_path),
               "AWS_ENDPOINT_URL_S3": s3.url, "AWS_ENDPOINT_URL_SQS": sqs.url,
               "VMPIPE_PIPELINE": PIPELINE, "BASE_PATH": "vm-recordings/connect/acme/CallRecordings",
               "EMAIL_SENDER": "vm@example.com", "ALLOWED_RECIPIENT_DOMAINS": "example.com",
               "VMPIPE_STATE": "s3://vm-state/vmpipe", "VMPIPE_WAKEUP_QUEUE": url,
               "VMPIPE_WAKEUP_EVENTS": "s3,transcribe", "VMPIPE_NO_DLCLOSE": os.environ.get("VMPIPE_NO_DLCLOSE", "")}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        far = int((datetime.datetime.now(datetime.timezone.utc).timestamp() + 3600) * 1000)
        wake = {"vmpipe": "wake", "v": 1, "job": CID, "due_ms": 1, "attempts": 0}
        batch = {"Records": [
            {"messageId": "m-bad", "receiptHandle": "r1", "body": "{\"hello\": 1}", "eventSource": "aws:sqs"},
            {"messageId": "m-stale", "receiptHandle": "r2", "body": json.dumps(wake), "eventSource": "aws:sqs"},
            {"messageId": "m-later", "receiptHandle": "r3", "body": json.dumps(dict(wake, due_ms=far)),
             "eventSource": "aws:sqs"}]}
        other = "00000000-0000-4000-8000-00000000abcd"
        events = [connect_event(contact_id=CID, recipient="owner@example.com"),
                  {"source": "aws.transcribe", "detail-type": "Transcribe Job State Change",
                   "detail": {"TranscriptionJobName": "vmpipe-nobody", "TranscriptionJobStatus": "COMPLETED"}},
                  {"source": "aws.transcribe", "detail-type": "Transcribe Job State Change",
                   "detail": {"TranscriptionJobName": "vmpipe-nobody", "TranscriptionJobStatus": "IN_PROGRESS"}},
                  lambda_world.s3_event("vm-recordings", key_at(time.time(), cid=other), 100),
                  batch,
                  {"version": "0", "id": "sweep-1", "detail-type": "Scheduled Event", "source": "aws.events",
                   "account": "123456789012", "time": "2026-01-01T00:00:00Z", "region": "us-east-1",
                   "resources": ["arn:aws:events:us-east-1:123456789012:rule/vmpipe-sweeper"], "detail": {}}]
        rids = [rt.add_event(e, timeout_ms=600000) for e in events]
        cmd = shlex.split(os.environ.get("VMPIPE_WRAPPER", "")) + [VMPIPE, "lambda"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        res = [rt.wait_result(r, timeout=300) for r in rids]
        assert [r["kind"] for r in res] == ["response"] * 6, res
        assert res[0]["json"]["state"] == "suspended"
        assert res[1]["json"] == {"state": "noted", "for": "vmpipe-nobody"}
        assert res[2]["json"]["state"] == "ignored"
        assert res[3]["json"] == {"state": "noted", "for": other}
        assert res[4]["json"] == {"batchItemFailures": [{"itemIdentifier": "m-bad"}]}
        # The sweeper listed the one checkpoint (too fresh to read) and not the wake-up index.
        assert res[5]["json"] == {"state": "swept", "listed": 1, "examined": 0, "woken": 0}, res[5]
        # The job's own wake-up and the chained one.
        assert len(sqs.sent) == 2 and 0 <= sqs.sent[0]["delay"] <= 900
        assert sqs.sent[1]["delay"] == 900 and json.loads(sqs.sent[1]["body"])["due_ms"] == far
        rt.wait_next(len(events) + 1, timeout=120)
        rt.stop()
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 70, err[-3000:]
        # The sweep's metric, in CloudWatch's embedded metric format on stdout.
        emf = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert len(emf) == 1 and emf[0]["StrandedVoicemails"] == 0, out
        m = emf[0]["_aws"]["CloudWatchMetrics"][0]
        assert m["Namespace"] == "vmpipe" and m["Metrics"] == [{"Name": "StrandedVoicemails", "Unit": "Count"}]
        assert m["Dimensions"] == [["FunctionName"]] and emf[0]["FunctionName"]
    finally:
        rt.stop()
        s3.stop()
        sqs.stop()
