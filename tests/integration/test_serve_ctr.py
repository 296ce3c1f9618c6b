"""`vmpipe serve` taking Amazon Connect's contact records from SQS (docs/serve.md,
"What the queue may carry"; docs/lambda.md, section 8b): the CTR stream
forwarded by EventBridge Pipes (the Kinesis record, its data base64 or JSON)
or the bare record.  A voicemail's record names its recording: one mail, no
listing; a contact that is not a voicemail is deleted with a log line.
Against the strict SQS and S3 fakes, as tests/integration/test_serve_sqs.py.
"""
import base64
import datetime
import json
import os
import sys

from conftest import ROOT
from test_serve_sqs import (BUCKET, DLQ, QUEUE, Serve, cid_of, connect_key, env_for, hosts, mails,  # noqa: F401
                            s3, s3_ini, sqs, wait_for, wav_bytes)

sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import connect_ctr  # noqa: E402


def pipes(record, data_as_json=False):
    """A Kinesis record as EventBridge Pipes hands it to an SQS target."""
    raw = json.dumps(record).encode()
    return json.dumps({"eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID":
                       "shardId-000000000000:49590338271490256608559692538361571095921575989136588898",
                       "eventName": "aws:kinesis:record", "awsRegion": "us-east-1",
                       "eventSourceARN": connect_ctr.STREAM_ARN, "kinesisSchemaVersion": "1.0",
                       "partitionKey": record["ContactId"],
                       "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                       "approximateArrivalTimestamp": 1714558541.2,
                       "data": record if data_as_json else base64.b64encode(raw).decode()})


def test_contact_records_through_sqs(tmp_path, sqs, s3, hosts):
    url = sqs.create_queue(QUEUE, redrive=(DLQ, 3))
    now = datetime.datetime.now(datetime.timezone.utc)
    t = now.timestamp()
    audio = wav_bytes()
    keys, mids = {}, {}
    for n, form in enumerate(["pipes-base64", "pipes-json", "bare"]):
        cid = cid_of(n + 1)
        keys[cid] = connect_key(now, cid)
        s3.put(BUCKET, keys[cid], audio, "audio/wav")
        rec = connect_ctr.ctr(cid, t - 40, t, [connect_ctr.s3_recording(BUCKET, keys[cid], t - 30, t)],
                              connect_ctr.vmx3_attributes())
        body = pipes(rec) if form == "pipes-base64" else pipes(rec, True) if form == "pipes-json" else json.dumps(rec)
        mids[cid] = sqs.send(QUEUE, body)
    other = connect_ctr.ctr(cid_of(9), t - 40, t, [], {"emailRecipient": "owner@example.com"})
    other_mid = sqs.send(QUEUE, pipes(other))
    host = Serve(env_for(tmp_path, sqs, s3), s3_ini(tmp_path), tmp_path / "spool", url)
    hosts.append(host)
    wait_for(lambda: not sqs.queue(QUEUE).messages, "every message deleted", host)
    assert host.stop() == 0, host.log()
    assert mails(tmp_path, "s3") == sorted(keys), host.log()
    for cid, key in keys.items():
        rec = json.loads((tmp_path / "out-s3" / f"{cid}.json").read_text())
        assert rec["recording"]["uri"] == f"s3://{BUCKET}/{key}" and rec["source"] == "ctr", rec
        assert sqs.count("delete", mids[cid]) == 1
    assert sqs.count("delete", other_mid) == 1
    assert f"contact record of {cid_of(9)}: not a voicemail" in host.log()
    # Named by the record: HEADs only, never a listing.
    reqs = [r for r in s3.requests(f"/{BUCKET}")]
    assert reqs and not [r for r in reqs if "list-type" in r["query"]], reqs
    assert not sqs.queue(DLQ).messages
