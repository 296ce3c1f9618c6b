"""The systematic kill test of suspend mode (docs/lambda.md, "A crash loses
nothing"): for the happy path and the recording-not-found path, the
function's environment is killed once, right after its n-th AWS request
took effect and before it heard the answer, for every n from the first
request to the last of an undisturbed run.  Then AWS retries as it does
(tests/fakes/lambda_world.py): Connect invokes again with a new request id,
Lambda retries S3's and EventBridge's asynchronous invocations with the
same request id, SQS delivers an unacknowledged wake-up again after its
visibility timeout.

Each kill must end in exactly one mail, or in the documented SES duplicate
(two mails with the same Message-ID: killed after SES took the message and
before the checkpoint said so), and with no job pending that nothing will
step once the world is idle.  The counts are printed (-s) as
"kill matrix: ..." lines for the closing note.

Slow (a couple of minutes): skipped by the sanitizer pass.
"""
import concurrent.futures
import email
import os
import sys
import time

import pytest

from conftest import ROOT, VMPIPE, connect_event

sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import lambda_world  # noqa: E402
from test_lambda_suspend import CID, key_at, wav  # noqa: E402

SCALE = 20.0
PARALLEL = 4
PIPELINE = os.path.join(ROOT, "etc", "pipeline.ini")
PATHS = {
    # The recording is visible 8 s after the contact flow, Transcribe takes 10 s.
    "happy": {"upload": True, "env": {"RECORDING_WAIT_TIME": "120"}},
    # No recording: the wake-up at RECORDING_WAIT_TIME sends the "not found" mail.
    "not-found": {"upload": False, "env": {"RECORDING_WAIT_TIME": "40"}},
}


def world(tmp, path, n):
    d = os.path.join(tmp, f"{path}-{n}")
    os.makedirs(d, exist_ok=True)
    env = {"VMPIPE_PIPELINE": PIPELINE, "VMPIPE_SUSPEND_AFTER": "1s", "VMPIPE_WAKEUP_FALLBACK": "30s",
           "VMPIPE_LOG_LEVEL": "info"}
    env.update(PATHS[path]["env"])
    return lambda_world.World([VMPIPE, "lambda"], scale=SCALE, transcribe_s=10.0, extra_env=env, cwd=d,
                              visibility_s=30)


def settled(w, timeout_s=240):
    """Idle, and still idle a moment later (nothing left to come)."""
    end = time.time() + timeout_s
    calm = 0
    while calm < 4:
        if time.time() > end:
            raise TimeoutError(f"never idle: {w.timeline}")
        calm = calm + 1 if w.idle() else 0
        time.sleep(0.1)


def run(tmp, path, kill):
    """One voicemail, the environment killed after request `kill` (None: not
    at all).  What came of it."""
    w = world(tmp, path, kill or 0)
    try:
        if kill:
            w.kill_at(kill)
        t0 = w.clock.now()
        w.connect(connect_event(contact_id=CID, recipient="owner@example.com"))
        if PATHS[path]["upload"]:
            w.upload_recording(key_at(t0), wav(), t0 + 8.0)
        settled(w)
        ids = [email.message_from_bytes(m["raw"]).get("Message-ID") for m in w.mails()]
        rec = w.checkpoints().get(CID, {})
        return {"kill": kill, "at": w.killed_at, "requests": w.requests_seen, "mails": len(ids),
                "same_id": len(set(ids)) == 1, "stranded": w.stranded(), "state": rec.get("state"),
                "crashes": w.crashes, "violations": list(w.rt.violations),
                "dlq": w.sqs.count("dead-letter")}
    finally:
        w.stop()


@pytest.mark.slow
@pytest.mark.parametrize("path", list(PATHS))
def test_kill_at_every_request(tmp_path, path):
    ref = run(str(tmp_path), path, None)
    assert ref["mails"] == 1 and not ref["stranded"], ref
    n = ref["requests"]
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as ex:
        outs = list(ex.map(lambda k: run(str(tmp_path), path, k), range(1, n + 1)))
    once = sum(1 for o in outs if o["mails"] == 1)
    dup = [o for o in outs if o["mails"] == 2 and o["same_id"]]
    bad = [o for o in outs if not (o["mails"] == 1 or (o["mails"] == 2 and o["same_id"]))
           or o["stranded"] or o["violations"] or o["crashes"] != 1 or o["dlq"]]
    want_state = "done" if path == "happy" else "failed"
    bad += [o for o in outs if o["state"] != want_state and o not in bad]
    print(f"\nkill matrix: {path}: {n} requests in an undisturbed run; {len(outs)} kills: "
          f"{once} mailed once, {len(dup)} mailed twice with the same Message-ID (the SES window: "
          f"{[o['at'] for o in dup]}), {len(bad)} wrong, "
          f"{sum(len(o['stranded']) for o in outs)} stranded")
    assert not bad, bad
