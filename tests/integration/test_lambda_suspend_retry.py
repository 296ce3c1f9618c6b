"""Suspend mode never loses a voicemail to an at-least-once path
(docs/lambda.md, "The same promises"): Connect's own retry of a dead
invocation (a new request id), SQS redelivering a wake-up that was reported
failed, SQS refusing the next wake-up, and the sweeper finding a job that
was stranded on purpose.

The world is tests/fakes/lambda_world.py (see test_lambda_suspend.py): the
contact flow is retried by Connect with a new request id (Lambda does not
retry a synchronous invoke), S3's and EventBridge's asynchronous
invocations by Lambda with the same request id, and the wake-up queue's
messages by SQS (visibility timeout, ApproximateReceiveCount, a dead-letter
queue after 5 receives).
"""
import json
import os
import re
import sys

import pytest

from conftest import ROOT, connect_event
from test_lambda_suspend import CID, by_source, call, checkpoint, make_world, settle, wav, key_at  # noqa: F401

sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import lambda_world  # noqa: E402


def writes(fake, req):
    """A request that changes something: an S3 PUT or an SQS SendMessage."""
    return req.method == "PUT" or (fake.service == "sqs" and req.entry.get("op") == "SendMessage")


def log_of(w):
    with open(os.path.join(w.cwd, "lambda.log"), errors="replace") as f:
        return f.read()


def backoffs_ms(w):
    return [int(x) for x in re.findall(r"retrying in (\d+) ms", log_of(w))]


# ---------------------------------------------------------------- Connect's retry

# The claim is the case (the retry finds the job held); the other
# writes are covered again by the kill matrix, so they skip the ASan pass.
@pytest.mark.parametrize("k", [1] + [pytest.param(k, marks=pytest.mark.slow) for k in (2, 3, 4, 5)],
                         ids=["claim", "suspension", "release", "index", "wakeup"])
def test_connect_retry_after_a_kill_at_each_write(make_world, k):
    """The contact flow's invocation dies after its k-th write (claim,
    suspension checkpoint, release, index entry, wake-up).  Connect invokes
    again with a new request id: whatever it finds (the job held by the dead
    invocation, or suspended) the voicemail is mailed once, and nothing is
    left pending."""
    w = make_world()
    w.expected_crashes = 1
    w.kill_at(k, only=writes)
    call(w)
    settle(w, 120)
    assert w.killed_at and w.crashes == 1, w.killed_at
    attempts = by_source(w, "connect")
    assert attempts[0].result["kind"] == "crash", w.timeline
    assert attempts[-1].result["kind"] == "response", attempts[-1].result
    assert len({a.rid for a in attempts}) == len(attempts) >= 2  # Connect: a new request id each time
    assert len(w.mails()) == 1 and len(w.ses.sends()) == 1
    assert checkpoint(w)["state"] == "done"
    assert not w.stranded() and not w.failed_connect and not w.failed_async
    if k == 1:
        # Held by the dead invocation: the retry is answered "busy" and leaves
        # a wake-up for when that invocation's lease (its deadline) ends.
        assert attempts[1].result["json"]["state"] == "busy" and "wake_at" in attempts[1].result["json"]


# ---------------------------------------------------------------- SQS redelivery

def test_wakeup_failed_for_good_is_redelivered_up_to_the_dead_letter_queue(make_world):
    """Timers only; SES refuses every send for good.  The wake-up that tried
    to mail is listed in batchItemFailures; each redelivery is recognised as
    the message that stepped the job last (not taken for a stale one) and
    tries again, until the queue's redrive policy moves it to the DLQ."""
    w = make_world(events=(), deliver_s3=False, deliver_transcribe=False, visibility_s=10)
    w.ses.set_faults(plan=["MessageRejected"] * 50)
    call(w)
    w.wait(lambda: w.sqs.count("dead-letter") == 1, 120, "the dead-letter move")
    w.wait(w.idle, 60, "an idle function")
    dead = [e for e in w.sqs.events if e["op"] == "dead-letter"][0]
    assert dead["value"] == 5, dead
    body = json.loads(w.sqs.queue(lambda_world.DLQ).messages[0].body)
    assert body["job"] == CID
    assert checkpoint(w)["state"] == "failed"
    assert not w.mails()
    assert log_of(w).count("wake-up delivered again") == 4
    # Every receive of that message tried to mail.
    assert len(w.ses.sends()) == 5, len(w.ses.sends())


def test_next_wakeup_refused_is_redelivered_and_steps_the_job(make_world):
    """Timers only; SQS answers 500 when a wake-up's run sends the next
    wake-up.  The message is listed as failed; its redelivery steps the job
    again and sends the wake-up: one mail.  The AWS client's backoff never
    waits longer than VMPIPE_SUSPEND_AFTER inside the invocation."""
    w = make_world(events=(), deliver_s3=False, deliver_transcribe=False, visibility_s=10)
    state = {"sent": 0}
    counting = w.sqs.after_handle

    def hook(fake, req, reply):
        counting(fake, req, reply)
        if req.entry.get("op") == "SendMessage" and reply.status == 200:
            state["sent"] += 1
            if state["sent"] == 1:  # the contact flow's wake-up went out: fail the next one
                fake.set_faults(plan=["500", "500", "500"])
    w.sqs.after_handle = hook
    call(w)
    settle(w, 120)
    assert len(w.mails()) == 1 and len(w.ses.sends()) == 1
    assert "wake-up delivered again" in log_of(w)
    assert any(e["op"] == "receive" and e["value"] >= 2 for e in w.sqs.events), "no redelivery"
    assert not w.stranded()
    waits = backoffs_ms(w)
    assert waits and max(waits) <= 1000, waits


# ---------------------------------------------------------------- the sweeper

def test_sweeper_finds_nothing_in_a_normal_run(make_world):
    w = make_world(extra={"VMPIPE_SWEEP_AFTER": "1s", "VMPIPE_SWEEP_WINDOW": "1h"})
    call(w)
    settle(w)
    w.clock.sleep(2)
    w.sweep()
    w.wait(lambda: by_source(w, "sweep") and by_source(w, "sweep")[0].result, 30, "the sweep")
    res = by_source(w, "sweep")[0].result
    assert res["kind"] == "response" and res["json"]["state"] == "swept", res
    assert res["json"]["examined"] == 1 and res["json"]["woken"] == 0, res
    assert "stranded:" not in log_of(w) and "StrandedVoicemails" not in log_of(w)
    # One LIST, delimited so the wake-up index is not listed.
    lists = [e for e in w.s3.requests() if "list-type=2" in (e.get("query") or "")
             and "vm-state" in e["path"]]
    assert len(lists) == 1 and "delimiter=%2F" in lists[0]["query"], lists


def test_sweeper_wakes_a_job_stranded_on_purpose(make_world):
    """A suspended job whose wake-up is lost (taken out of the queue) and
    whose event never comes: the sweeper finds it once its deadline is past,
    says so at warn level, and wakes it: one mail."""
    w = make_world(deliver_s3=False, extra={"VMPIPE_SWEEP_AFTER": "5m", "VMPIPE_WAKEUP_FALLBACK": "10m",
                                             "RECORDING_WAIT_TIME": "600"})
    t0 = w.clock.now()
    call(w, upload=False)
    w.wait(lambda: by_source(w, "connect") and by_source(w, "connect")[0].result, 30, "the suspension")
    assert by_source(w, "connect")[0].result["json"]["state"] == "suspended"
    with w.sqs.cv:  # the wake-up is lost
        w.sqs.queues[lambda_world.QUEUE].messages.clear()
    w.s3.put(w.bucket, key_at(t0), wav(), "audio/wav")
    # Its deadline and its last write are long past (as if it had sat there).
    key = f"vmpipe/{CID}.json"
    rec = checkpoint(w)
    rec["suspended_until"] = lambda_world.iso(w.clock.now() - 400)[:19] + "Z"
    w.s3.put(lambda_world.STATE_BUCKET, key, json.dumps(rec).encode(), "application/json")
    with w.s3.lock:
        w.s3.mtimes[(lambda_world.STATE_BUCKET, key)] = w.clock.now() - 600
    assert w.idle() and w.stranded() == [CID]
    w.sweep()
    settle(w, 120)
    res = by_source(w, "sweep")[0].result
    assert res["json"]["woken"] == 1, res
    assert len(w.mails()) == 1
    assert re.search(r'"level":"WARN".*stranded', log_of(w), re.I) or "stranded:" in log_of(w)
    assert not w.stranded()


def test_sweeper_reads_every_tenants_own_state(make_world, tmp_path):
    """A tenant whose pipeline keeps its checkpoints under a prefix of its
    own (tenant_dir, tenant.h): its job, stranded as above, is found and
    woken by the same sweep, which lists each state prefix once."""
    base_ini = open(os.path.join(ROOT, "etc", "pipeline.ini")).read()
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "acme.ini").write_text(base_ini.replace("state = ${VMPIPE_STATE:-}",
                                                       f"state = s3://{lambda_world.STATE_BUCKET}/acme"))
    # a second tenant on the base's state: that prefix is not listed twice
    (tenants / "globex.ini").write_text(base_ini)
    base = tmp_path / "base.ini"
    base.write_text(base_ini.replace("state = ${VMPIPE_STATE:-}",
                                     f"state = ${{VMPIPE_STATE:-}}\ntenant_dir = {tenants}"))
    w = make_world(deliver_s3=False, extra={"VMPIPE_PIPELINE": str(base), "VMPIPE_SWEEP_AFTER": "5m",
                                             "VMPIPE_WAKEUP_FALLBACK": "10m", "RECORDING_WAIT_TIME": "600"})
    t0 = w.clock.now()
    w.connect(connect_event(contact_id=CID, recipient="owner@example.com", extra_attrs={"tenant": "acme"}))
    w.wait(lambda: by_source(w, "connect") and by_source(w, "connect")[0].result, 30, "the suspension")
    assert by_source(w, "connect")[0].result["json"]["state"] == "suspended"
    key = f"acme/{CID}.json"
    with w.s3.lock:
        assert key in w.s3.buckets[lambda_world.STATE_BUCKET], "the tenant's checkpoint is under its prefix"
        assert f"vmpipe/{CID}.json" not in w.s3.buckets[lambda_world.STATE_BUCKET]
    with w.sqs.cv:  # the wake-up is lost
        w.sqs.queues[lambda_world.QUEUE].messages.clear()
    w.s3.put(w.bucket, key_at(t0), wav(), "audio/wav")
    with w.s3.lock:
        rec = json.loads(w.s3.buckets[lambda_world.STATE_BUCKET][key][0])
    rec["suspended_until"] = lambda_world.iso(w.clock.now() - 400)[:19] + "Z"
    w.s3.put(lambda_world.STATE_BUCKET, key, json.dumps(rec).encode(), "application/json")
    with w.s3.lock:
        w.s3.mtimes[(lambda_world.STATE_BUCKET, key)] = w.clock.now() - 600
    w.sweep()
    settle(w, 120)
    res = by_source(w, "sweep")[0].result
    assert res["json"]["woken"] == 1 and res["json"]["examined"] == 1, res
    assert len(w.mails()) == 1
    with w.s3.lock:
        assert json.loads(w.s3.buckets[lambda_world.STATE_BUCKET][key][0])["state"] == "done"
    lists = [e for e in w.s3.requests() if "list-type=2" in (e.get("query") or "")
             and lambda_world.STATE_BUCKET in e["path"]]
    prefixes = sorted(q for e in lists for q in e["query"].split("&") if q.startswith("prefix="))
    assert prefixes == ["prefix=acme%2F", "prefix=vmpipe%2F"], lists
