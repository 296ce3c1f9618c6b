"""The contact record as the trigger (docs/lambda.md, "The contact record as
the trigger"): Amazon Connect's CTRs on a Kinesis data stream, through
Lambda's Kinesis event source mapping (ReportBatchItemFailures), become jobs
only for voicemail contacts; the CTR names the recording, so locate takes it
with one HEAD and never searches.

`vmpipe lambda` runs the AWS pipeline (etc/pipeline.ini) in the simulated
Lambda of tests/fakes/lambda_world.py (strict S3, Transcribe, SES, SQS fakes;
SigV4 checked), with the Kinesis mapping of tests/fakes/connect_ctr.py, in
suspend mode and in the one-invocation mode.  Time runs 10 times faster.
"""
import json
import os
import struct
import subprocess
import sys

import pytest

from conftest import ROOT, VMPIPE

sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import connect_ctr  # noqa: E402
import lambda_world  # noqa: E402

SCALE = 10.0
PIPELINE = os.path.join(ROOT, "etc", "pipeline.ini")
PREFIX = "connect/acme/CallRecordings"
VOICEMAIL = "0c1d2e3f-1111-4e5f-8a9b-0c1d2e3f4a5b"
OTHER = "0c1d2e3f-2222-4e5f-8a9b-0c1d2e3f4a5b"
DELETED = "0c1d2e3f-3333-4e5f-8a9b-0c1d2e3f4a5b"


def wav(seconds=5.0, rate=8000):
    frames = struct.pack("<h", 3000) * int(seconds * rate)
    hdr = b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVE"
    hdr += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return hdr + b"data" + struct.pack("<I", len(frames)) + frames


def ivr_key(cid, t):
    return lambda_world.datetime.datetime.fromtimestamp(t, lambda_world.datetime.timezone.utc).strftime(
        f"{PREFIX}/ivr/%Y/%m/%d/{cid}_%Y%m%dT%H:%M_UTC.wav")


@pytest.fixture
def make_world(tmp_path):
    made = []

    def make(suspend=True, extra=None, **kw):
        env = {"VMPIPE_PIPELINE": PIPELINE, "VMPIPE_SUSPEND_AFTER": "1s", "VMPIPE_WAKEUP_FALLBACK": "30s",
               "RECORDING_WAIT_TIME": "120", "VMPIPE_LOG_LEVEL": "debug"}
        env.update(extra or {})
        w = lambda_world.World([VMPIPE, "lambda"], scale=SCALE, suspend=suspend, transcribe_s=10.0,
                               extra_env=env, cwd=str(tmp_path), function_timeout_s=300, **kw)
        k = connect_ctr.KinesisMapping(w)
        made.append((w, k))
        return w, k
    yield make
    for w, k in made:
        k.stop()
        w.stop()
        assert not w.rt.violations, w.rt.violations
        assert w.crashes == 0
        log = (tmp_path / "lambda.log").read_text(errors="replace")
        for bad in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
            assert bad not in log, log[log.index(bad) - 2000:][:4000]


def voicemail_ctr(w, cid, t_end, speak_s=5.0, upload=True, **kw):
    """A voicemail contact that ended at t_end, its IVR recording in S3."""
    start = t_end - speak_s - 10
    key = ivr_key(cid, start)
    if upload:
        w.s3.put(w.bucket, key, wav(speak_s), "audio/wav")
    rec = connect_ctr.s3_recording(w.bucket, key, start, t_end, **kw)
    return connect_ctr.ctr(cid, start, t_end, [rec], connect_ctr.vmx3_attributes()), key


def settle(w, k, mails, timeout_s=60):
    w.wait(lambda: len(w.mails()) >= mails, timeout_s, f"{mails} mail(s)")
    w.wait(lambda: w.idle() and k.idle(), timeout_s, "an idle function")


def checkpoint(w, cid):
    with w.s3.lock:
        return json.loads(w.s3.buckets[lambda_world.STATE_BUCKET][f"vmpipe/{cid}.json"][0])


def recording_requests(w):
    """S3 requests to the recordings bucket (not the state bucket)."""
    return [r for r in w.s3.requests(f"/{w.bucket}")]


def kinesis_results(k):
    return [res for _, res in k.invocations]


@pytest.mark.parametrize("suspend", [True, False], ids=["suspend", "one-invocation"])
def test_batch_makes_jobs_of_voicemails_only(make_world, suspend):
    """Three contacts in one batch: a voicemail, another contact (no VMX3
    flag), a voicemail whose recording was deleted.  Two mails; the other
    contact runs nothing; no record is reported failed."""
    w, k = make_world(suspend=suspend)
    now = w.clock.now()
    vm, key = voicemail_ctr(w, VOICEMAIL, now)
    other = connect_ctr.ctr(OTHER, now - 60, now, [connect_ctr.s3_recording(w.bucket, "x/call.wav", now - 60, now,
                                                                            participant="AGENT")],
                            {"emailRecipient": "owner@example.com"})
    gone, _ = voicemail_ctr(w, DELETED, now, upload=False, status="DELETED", reason="caller asked")
    for c in (vm, other, gone):
        k.put(c)
    settle(w, k, 2)
    assert len(w.mails()) == 2 and len(w.ses.sends()) == 2
    assert all(res["kind"] == "response" and res["json"] == {"batchItemFailures": []} for res in kinesis_results(k))
    assert not k.on_failure
    rec = checkpoint(w, VOICEMAIL)
    assert rec["source"] == "ctr" and rec["state"] == "done", rec
    assert rec["recording"]["uri"] == f"s3://{w.bucket}/{key}"
    assert rec["transcript"]["status"] == "completed"
    assert rec["contact"]["attributes"]["vmx3_flag"] == "1"
    # Located from the record: one HEAD of the named object, no listing.
    reqs = recording_requests(w)
    assert [r["method"] for r in reqs if "list-type" in r.get("query", "")] == [], reqs
    heads = [r for r in reqs if r["method"] == "HEAD"]
    assert len(heads) == 1, reqs
    gone = checkpoint(w, DELETED)
    assert gone["state"] == "failed" and gone["recording"]["error"] == "deleted", gone
    assert "caller asked" in json.dumps(gone["errors"])
    with w.s3.lock:
        assert f"vmpipe/{OTHER}.json" not in w.s3.buckets[lambda_world.STATE_BUCKET]


def test_record_delivered_again_mails_once(make_world):
    """Connect delivers contact records at least once, and the mapping
    retries: the same CTR twice (its job id is the ContactId) mails once."""
    w, k = make_world()
    vm, _ = voicemail_ctr(w, VOICEMAIL, w.clock.now())
    k.put(vm)
    settle(w, k, 1)
    k.put(vm)
    w.wait(lambda: w.idle() and k.idle(), 60, "the second delivery")
    assert len(w.mails()) == 1 and len(w.ses.sends()) == 1


def test_bad_record_is_reported_and_ends_at_the_on_failure_destination(make_world):
    """A record whose data is not a contact record is listed in
    batchItemFailures by its sequence number; the mapping retries from it and
    gives it to the on-failure destination; the voicemail before it is mailed once."""
    w, k = make_world()
    vm, _ = voicemail_ctr(w, VOICEMAIL, w.clock.now())
    k.put(vm)
    bad_seq = k.put(b"\x00\x01 not json")
    settle(w, k, 1)
    first = kinesis_results(k)[0]["json"]["batchItemFailures"]
    assert first == [{"itemIdentifier": bad_seq}], first
    assert k.on_failure == [[bad_seq]]
    assert len(w.mails()) == 1 and len(w.ses.sends()) == 1
    log = open(os.path.join(w.cwd, "lambda.log"), errors="replace").read()
    assert f"Kinesis record {bad_seq}" in log


@pytest.mark.parametrize("suspend", [True, False], ids=["suspend", "one-invocation"])
def test_recording_later_than_the_record(make_world, suspend):
    """The CTR comes before the recording is visible: the named object is
    looked at again (no search) until it is there; in suspend mode its S3
    event wakes the job (the fallback timer is 10 minutes away)."""
    w, k = make_world(suspend=suspend, extra={"VMPIPE_WAKEUP_FALLBACK": "10m"})
    now = w.clock.now()
    vm, key = voicemail_ctr(w, VOICEMAIL, now, upload=False)
    k.put(vm)
    w.wait(lambda: any(r["method"] == "HEAD" for r in recording_requests(w)), 30, "the first look")
    w.upload_recording(key, wav(), w.clock.now() + 6)
    settle(w, k, 1)
    assert checkpoint(w, VOICEMAIL)["state"] == "done"
    reqs = recording_requests(w)
    assert not [r for r in reqs if "list-type" in r.get("query", "")], reqs
    if suspend:
        woke = [i for i in w.invocations if i.source == "s3" and i.result]
        assert woke and woke[0].result["json"].get("state") in ("done", "suspended"), w.timeline
        assert len([r for r in reqs if r["method"] == "HEAD"]) <= 3, reqs


def test_filter_from_the_environment(make_world):
    """VMPIPE_CTR_FILTER names the attribute of the deployment's own flow."""
    w, k = make_world(extra={"VMPIPE_CTR_FILTER": "voicemail=yes,emailRecipient"})
    now = w.clock.now()
    vm, _ = voicemail_ctr(w, VOICEMAIL, now)
    k.put(vm)  # VMX3's flag only: not ours
    mine, _ = voicemail_ctr(w, OTHER, now)
    mine["Attributes"]["voicemail"] = "yes"
    k.put(mine)
    settle(w, k, 1)
    assert len(w.mails()) == 1
    assert checkpoint(w, OTHER)["state"] == "done"


def test_record_without_audio_tells_the_owner(make_world):
    w, k = make_world()
    now = w.clock.now()
    c = connect_ctr.ctr(VOICEMAIL, now - 30, now, [], connect_ctr.vmx3_attributes())
    k.put(c)
    settle(w, k, 1)
    rec = checkpoint(w, VOICEMAIL)
    assert rec["recording"]["error"] == "not recorded" and rec["state"] == "failed", rec
    assert not [r for r in recording_requests(w)], "nothing to look for"


def test_run_refuses_a_contact_that_is_not_a_voicemail(tmp_path):
    """`vmpipe run` takes a bare CTR; a CTR that is not a voicemail is
    refused there (exit 65) naming the filter."""
    c = connect_ctr.ctr(OTHER, 0, 60, [], {"emailRecipient": "owner@example.com"})
    p = subprocess.run([VMPIPE, "run", "-c", os.path.join(ROOT, "etc", "local.ini"), "-"], input=json.dumps(c),
                       capture_output=True, text=True, cwd=str(tmp_path), timeout=60)
    assert p.returncode == 65, p
    assert "not a voicemail" in p.stderr and "VMPIPE_CTR_FILTER" in p.stderr, p.stderr


def test_media_streaming_contacts_in_one_batch(tmp_path):
    """Two media-streaming voicemails back to back on one video stream, their
    records in one batch: etc/pipeline-kvs.ini writes each contact's own
    audio; the stream's data endpoint is asked for once (cached per stream)."""
    import connect_mkv
    import kvs_fake
    kvs = kvs_fake.KVSFake([(lambda_world.AKID, lambda_world.SECRET, None)]).start()
    kvs.skew_s = 10 * 365 * 86400
    env = {"VMPIPE_PIPELINE": os.path.join(ROOT, "etc", "pipeline-kvs.ini"), "VMPIPE_SUSPEND_AFTER": "1s",
           "VMPIPE_LOG_LEVEL": "debug", "AWS_ENDPOINT_URL_KINESIS_VIDEO": kvs.url}
    w = lambda_world.World([VMPIPE, "lambda"], scale=SCALE, transcribe_s=10.0, extra_env=env, cwd=str(tmp_path),
                           function_timeout_s=60)
    k = connect_ctr.KinesisMapping(w)
    try:
        arn = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/connect-acme-contact-1/1714558500000"
        now = w.clock.now()
        first = connect_mkv.contact(VOICEMAIL, connect_mkv.tone_pcm(3, 440), b"", connect_mkv.FIRST_FRAGMENT,
                                    int(now * 1000) - 20000)
        second = connect_mkv.contact(OTHER, connect_mkv.tone_pcm(2, 660), b"", connect_mkv.FIRST_FRAGMENT + 10 ** 6,
                                     int(now * 1000) - 10000)
        kvs.add_stream(arn, first + second, live=True)
        for cid, frags in ((VOICEMAIL, first), (OTHER, second)):
            rec = connect_ctr.kvs_recording(arn, str(frags[0][0]), str(frags[-1][0]), now - 20, now)
            k.put(connect_ctr.ctr(cid, now - 30, now, [rec], connect_ctr.vmx3_attributes()))
        settle(w, k, 2)
        assert len(w.mails()) == 2
        for cid, seconds in ((VOICEMAIL, 3), (OTHER, 2)):
            rec = checkpoint(w, cid)
            assert rec["state"] == "done" and rec["recording"]["duration"] == seconds, rec
            assert "/kvs/" in rec["recording"]["key"]
        ops = [r["path"] for r in kvs.requests()]
        assert ops.count("/getDataEndpoint") == 1 and ops.count("/getMedia") == 2, ops
        assert all(g["closed_early"] for g in kvs.gets)
    finally:
        k.stop()
        w.stop()
        kvs.stop()
        assert not w.rt.violations, w.rt.violations
