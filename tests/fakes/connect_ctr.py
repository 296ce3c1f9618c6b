"""Amazon Connect's contact trace records (CTRs) on a Kinesis data stream,
and Lambda's Kinesis event source mapping, for the CTR-trigger tests and
benchmark (docs/lambda.md, "The contact record as the trigger").

ctr() builds a record as the admin guide's "Data model for Amazon Connect
contact records" lays it out (the top-level fields in its order, Endpoint,
RecordingsInfo with StorageType, Location "BUCKET/KEY" for S3 and the video
stream ARN for media streaming, FragmentStartNumber/FragmentStopNumber,
StartTimestamp/StopTimestamp, MediaStreamType, ParticipantType, Status,
DeletionReason), and the Recording field older consumers read.  Voicemail
Express (amazon-connect/voicemail-express-amazon-connect,
Code/vmx3_recording_processor.py) reads the same: the IVR entry's Location
split at the first '/'.

KinesisMapping plays Lambda's Kinesis event source mapping with
ReportBatchItemFailures as AWS documents it: records of one shard in order,
batches of up to `batch_size` as {"Records": [{"kinesis": {"kinesisSchemaVersion",
"partitionKey", "sequenceNumber", "data": base64, "approximateArrivalTimestamp"},
"eventSource": "aws:kinesis", "eventVersion", "eventID", "eventName",
"invokeIdentityArn", "awsRegion", "eventSourceARN"}]}, invoked synchronously;
a response checkpoints up to the lowest sequence number listed in
batchItemFailures and retries from there (an empty or unknown identifier
fails the whole batch, as does an /error or a crash); after
`max_retries` retries the batch goes to the on-failure destination
(`on_failure`) and the shard moves on.
"""
import base64
import datetime
import json
import threading
import time
import uuid

ACCOUNT, REGION = "123456789012", "us-east-1"
INSTANCE_ARN = f"arn:aws:connect:{REGION}:{ACCOUNT}:instance/abcdef01-2345-6789-abcd-ef0123456789"
STREAM_ARN = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/connect-ctr"


def ts(t):
    """CTR timestamps: ISO 8601 in UTC, whole seconds, Z."""
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def s3_recording(bucket, key, start, stop, participant="IVR", status="AVAILABLE", reason=None):
    return {"DeletionReason": reason, "FragmentStartNumber": None, "FragmentStopNumber": None,
            "Location": f"{bucket}/{key}", "MediaStreamType": "AUDIO", "ParticipantType": participant,
            "StartTimestamp": ts(start), "Status": status, "StopTimestamp": ts(stop), "StorageType": "S3"}


def kvs_recording(stream_arn, start_fragment, stop_fragment, start, stop):
    return {"DeletionReason": None, "FragmentStartNumber": start_fragment, "FragmentStopNumber": stop_fragment,
            "Location": stream_arn, "MediaStreamType": "AUDIO", "ParticipantType": "CUSTOMER",
            "StartTimestamp": ts(start), "Status": "AVAILABLE", "StopTimestamp": ts(stop),
            "StorageType": "KINESIS_VIDEO_STREAM"}


def ctr(contact_id, started, ended, recordings=(), attributes=None, caller="+15555550123",
        dialed="+15555550100", initial_id=None):
    """A contact record of an inbound call that ended at `ended` (epoch s)
    without reaching an agent (Agent null, as for a voicemail)."""
    recs = list(recordings)
    old = None
    if recs and recs[0]["StorageType"] == "S3":
        old = {"DeletionReason": recs[0]["DeletionReason"], "Location": recs[0]["Location"],
               "Status": recs[0]["Status"], "Type": "AUDIO"}
    return {
        "AWSAccountId": ACCOUNT,
        "AWSContactTraceRecordFormatVersion": "2017-03-10",
        "Agent": None,
        "AgentConnectionAttempts": 0,
        "Attributes": dict(attributes or {}),
        "Channel": "VOICE",
        "ConnectedToSystemTimestamp": ts(started),
        "ContactId": contact_id,
        "CustomerEndpoint": {"Address": caller, "Type": "TELEPHONE_NUMBER"},
        "DisconnectReason": "CUSTOMER_DISCONNECT",
        "DisconnectTimestamp": ts(ended),
        "EventType": "CONTACT_DATA_UPDATED",
        "InitialContactId": initial_id,
        "InitiationMethod": "INBOUND",
        "InitiationTimestamp": ts(started),
        "InstanceARN": INSTANCE_ARN,
        "LastUpdateTimestamp": ts(ended),
        "MediaStreams": [{"Type": "AUDIO"}],
        "NextContactId": None,
        "PreviousContactId": None,
        "Queue": None,
        "Recording": old,
        "Recordings": recs or None,
        "References": [],
        "SystemEndpoint": {"Address": dialed, "Type": "TELEPHONE_NUMBER"},
        "TransferCompletedTimestamp": None,
        "TransferredToEndpoint": None,
        "Tags": {},
    }


def vmx3_attributes(recipient="owner@example.com", name="Pat Owner", lang="en-US"):
    """What Voicemail Express's flow sets (vmx3_flag marks a voicemail), and
    vmpipe's own recipient attributes."""
    return {"vmx3_flag": "1", "vmx3_lang": lang, "vmx3_queue_arn": f"{INSTANCE_ARN}/queue/q-1",
            "emailRecipient": recipient, "RecipientName": name}


class KinesisMapping:
    def __init__(self, world, batch_size=10, max_retries=3, shard="shardId-000000000000"):
        self.world = world
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.shard = shard
        self.records = []          # the shard: every record put, in order
        self.pos = 0               # the checkpoint: records before it are done with
        self.on_failure = []       # batches given up on
        self.invocations = []      # (records sent, result)
        self.seq = 49590338271490256608559692538361571095921575989136588898
        self.cv = threading.Condition()
        self.stopping = False
        threading.Thread(target=self._run, daemon=True).start()

    def put(self, data, partition_key=None):
        """PutRecord of a CTR (a dict) or of raw bytes; returns the sequence number."""
        raw = data if isinstance(data, bytes) else json.dumps(data).encode()
        with self.cv:
            self.seq += 1 + len(self.records) * 7919
            seq = str(self.seq)
            self.records.append({"seq": seq, "data": raw, "pk": partition_key or str(uuid.uuid4()),
                                 "at": self.world.clock.now()})
            self.cv.notify_all()
        self.world.note("contact record on the Kinesis stream")
        return seq

    def _event(self, batch):
        return {"Records": [{
            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": r["pk"], "sequenceNumber": r["seq"],
                        "data": base64.b64encode(r["data"]).decode(), "approximateArrivalTimestamp": r["at"]},
            "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"{self.shard}:{r['seq']}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/vmpipe-function",
            "awsRegion": REGION, "eventSourceARN": STREAM_ARN} for r in batch]}

    def _run(self):
        retries = 0
        while not self.stopping:
            with self.cv:
                while self.pos >= len(self.records) and not self.stopping:
                    self.cv.wait(0.2)
                if self.stopping:
                    return
                batch = self.records[self.pos:self.pos + self.batch_size]
            res = self.world._attempt(self._event(batch), "kinesis", str(uuid.uuid4()), 0)
            self.invocations.append(([r["seq"] for r in batch], res))
            done = 0  # how many of the batch are checkpointed
            if res is not None and res["kind"] == "response":
                failed = [f.get("itemIdentifier") for f in ((res["json"] or {}).get("batchItemFailures") or [])]
                seqs = [r["seq"] for r in batch]
                if not failed:
                    done = len(batch)
                elif all(f in seqs for f in failed):
                    done = min(seqs.index(f) for f in failed)
            with self.cv:
                if done == len(batch):
                    retries = 0
                else:
                    retries += 1
                    if retries > self.max_retries:
                        self.on_failure.append([r["seq"] for r in batch[done:]])
                        done, retries = len(batch), 0
                self.pos += done
                self.cv.notify_all()
            if done < len(batch):
                time.sleep(0.05)  # Lambda backs off between retries

    def idle(self):
        with self.cv:
            return self.pos >= len(self.records)

    def stop(self):
        with self.cv:
            self.stopping = True
            self.cv.notify_all()
