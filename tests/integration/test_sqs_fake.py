"""The strict SQS fake (tests/fakes/sqs_fake.py) itself: that it refuses
what SQS refuses, in SQS's JSON-protocol shapes, and keeps SQS's rules for
visibility, receipt handles, long polls, redrive and delays.  Requests are
signed with botocore's SigV4 signer, as an SDK would sign them."""
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import ROOT
from test_notify_ses import AKID, SECRET

sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import sqs_fake  # noqa: E402


@pytest.fixture
def fake():
    f = sqs_fake.SQSFake([(AKID, SECRET, None)]).start()
    yield f
    f.stop()


def call(fake, action, body, secret=SECRET, content_type="application/x-amz-json-1.0", sign=True):
    """(status, answer, x-amzn-query-error)."""
    url = fake.url + "/"
    data = json.dumps(body).encode() if not isinstance(body, bytes) else body
    req = AWSRequest(method="POST", url=url, data=data,
                     headers={"Content-Type": content_type, "X-Amz-Target": "AmazonSQS." + action})
    if sign:
        SigV4Auth(Credentials(AKID, secret), "sqs", "us-east-1").add_auth(req)
    r = urllib.request.Request(url, data=req.body, headers=dict(req.headers), method="POST")
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            text = resp.read().decode()
            return resp.status, json.loads(text) if text else None, None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode()), e.headers.get("x-amzn-query-error")


def receive(fake, url, **kw):
    st, out, _ = call(fake, "ReceiveMessage", {"QueueUrl": url, **kw})
    assert st == 200, out
    return out.get("Messages", [])


def wait_for(cond, what):
    end = time.monotonic() + 60
    while not cond():
        assert time.monotonic() < end, f"no {what}"
        time.sleep(0.05)


def test_wire_and_error_shapes(fake):
    url = fake.create_queue("q")
    st, out, qe = call(fake, "ReceiveMessage", {"QueueUrl": url.replace("/q", "/nope")})
    assert (st, out["__type"], qe) == (400, "com.amazonaws.sqs#QueueDoesNotExist",
                                       "AWS.SimpleQueueService.NonExistentQueue;Sender")
    assert out["message"] == "The specified queue does not exist."
    st, out, _ = call(fake, "ReceiveMessage", {"QueueUrl": url}, secret="wrong")
    assert st == 403 and out["__type"].endswith("SignatureDoesNotMatch"), out
    st, out, _ = call(fake, "ReceiveMessage", {"QueueUrl": url}, sign=False)
    assert st == 403, out
    st, out, _ = call(fake, "ReceiveMessage", {"QueueUrl": url}, content_type="application/x-amz-json-1.1")
    assert st == 400 and "SerializationException" in out["__type"], out
    st, out, qe = call(fake, "ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 11})
    assert (st, qe) == (400, "InvalidParameterValue;Sender") and "MaxNumberOfMessages" in out["message"]
    st, out, _ = call(fake, "ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": "10"})
    assert st == 400 and "expected a JSON int" in out["message"], out
    st, out, _ = call(fake, "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 21})
    assert st == 400, out
    st, out, _ = call(fake, "ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessage": 1})
    assert st == 400 and "Unknown parameter 'MaxNumberOfMessage'" in out["message"], out
    st, out, qe = call(fake, "DeleteMessage", {"QueueUrl": url})
    assert (st, qe) == (400, "MissingParameter;Sender") and "ReceiptHandle" in out["message"]
    st, out, qe = call(fake, "DeleteMessage", {"QueueUrl": url, "ReceiptHandle": "made-up"})
    assert (st, out["__type"], qe) == (400, "com.amazonaws.sqs#ReceiptHandleIsInvalid",
                                       "ReceiptHandleIsInvalid;Sender")
    st, out, _ = call(fake, "PurgeQueue", {"QueueUrl": url})
    assert st == 400 and "UnknownOperation" in out["__type"], out
    fake.set_faults(plan=["throttle", "503"])
    st, out, qe = call(fake, "ReceiveMessage", {"QueueUrl": url})
    assert (st, out["__type"], qe) == (400, "com.amazonaws.sqs#RequestThrottled", "RequestThrottled;Sender")
    st, out, qe = call(fake, "ReceiveMessage", {"QueueUrl": url})
    assert (st, qe) == (503, "ServiceUnavailable;Receiver"), out


def test_visibility_and_receipt_handles(fake):
    url = fake.create_queue("q", visibility=30)
    st, out, _ = call(fake, "SendMessage", {"QueueUrl": url, "MessageBody": "one"})
    assert st == 200 and out["MD5OfMessageBody"] == "f97c5d29941bfb1b2fdab0874906ab82"
    mid = out["MessageId"]
    got = receive(fake, url, VisibilityTimeout=1, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert [m["MessageId"] for m in got] == [mid] and got[0]["Attributes"] == {"ApproximateReceiveCount": "1"}
    first = got[0]["ReceiptHandle"]
    assert receive(fake, url) == []            # in flight: invisible
    again = []
    wait_for(lambda: again.extend(receive(fake, url, AttributeNames=["All"])) or again, "the message back")
    second = again[0]["ReceiptHandle"]
    assert second != first and again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    # The old handle: a visibility change is refused, a delete does nothing.
    st, out, _ = call(fake, "ChangeMessageVisibility", {"QueueUrl": url, "ReceiptHandle": first,
                                                        "VisibilityTimeout": 10})
    assert st == 400 and out["__type"].endswith("ReceiptHandleIsInvalid"), out
    assert call(fake, "DeleteMessage", {"QueueUrl": url, "ReceiptHandle": first})[0] == 200
    assert [m.id for m in fake.queue("q").messages] == [mid]
    st, out, _ = call(fake, "ChangeMessageVisibilityBatch", {"QueueUrl": url, "Entries": [
        {"Id": "a", "ReceiptHandle": second, "VisibilityTimeout": 0},
        {"Id": "b", "ReceiptHandle": first, "VisibilityTimeout": 0}]})
    assert st == 200 and out["Successful"] == [{"Id": "a"}], out
    assert [(f["Id"], f["SenderFault"], f["Code"]) for f in out["Failed"]] == [
        ("b", True, "ReceiptHandleIsInvalid")]
    # Visible again at once (0): a change now finds it not in flight.
    st, out, qe = call(fake, "ChangeMessageVisibility", {"QueueUrl": url, "ReceiptHandle": second,
                                                         "VisibilityTimeout": 10})
    assert (st, qe) == (400, "AWS.SimpleQueueService.MessageNotInflight;Sender"), out
    third = receive(fake, url)[0]["ReceiptHandle"]
    st, out, _ = call(fake, "ChangeMessageVisibility", {"QueueUrl": url, "ReceiptHandle": third,
                                                        "VisibilityTimeout": 43201})
    assert st == 400, out
    st, out, _ = call(fake, "DeleteMessageBatch", {"QueueUrl": url, "Entries": [
        {"Id": "x", "ReceiptHandle": third}]})
    assert st == 200 and out == {"Successful": [{"Id": "x"}], "Failed": []}
    assert fake.queue("q").messages == [] and fake.count("delete", mid) == 1


def test_batch_rules(fake):
    url = fake.create_queue("q")
    st, out, qe = call(fake, "DeleteMessageBatch", {"QueueUrl": url, "Entries": []})
    assert (st, qe) == (400, "AWS.SimpleQueueService.EmptyBatchRequest;Sender"), out
    eleven = [{"Id": f"e{i}", "ReceiptHandle": "h"} for i in range(11)]
    st, out, qe = call(fake, "DeleteMessageBatch", {"QueueUrl": url, "Entries": eleven})
    assert qe == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest;Sender", out
    st, out, qe = call(fake, "DeleteMessageBatch", {"QueueUrl": url, "Entries": [
        {"Id": "a", "ReceiptHandle": "h"}, {"Id": "a", "ReceiptHandle": "i"}]})
    assert qe == "AWS.SimpleQueueService.BatchEntryIdsNotDistinct;Sender", out
    st, out, qe = call(fake, "DeleteMessageBatch", {"QueueUrl": url, "Entries": [
        {"Id": "no spaces", "ReceiptHandle": "h"}]})
    assert qe == "AWS.SimpleQueueService.InvalidBatchEntryId;Sender", out


def test_long_poll_waits_for_a_message(fake):
    url = fake.create_queue("q")
    assert receive(fake, url, WaitTimeSeconds=1) == []   # nothing: the wait ends empty
    got = []
    t = threading.Thread(target=lambda: got.extend(receive(fake, url, WaitTimeSeconds=20)))
    t.start()
    wait_for(lambda: any(e.get("op") == "ReceiveMessage" for e in fake.requests()), "the poll")
    fake.send("q", "late")
    t.join(timeout=60)
    assert [m["Body"] for m in got] == ["late"]


def test_redrive_moves_to_the_dead_letter_queue(fake):
    url = fake.create_queue("q", visibility=0, redrive=("dlq", 2))
    mid = fake.send("q", "bad")
    assert receive(fake, url)[0]["MessageId"] == mid
    assert receive(fake, url)[0]["MessageId"] == mid
    assert receive(fake, url) == []                     # the third time: moved instead
    assert fake.queue("q").messages == []
    assert fake.queue("dlq").bodies() == ["bad"]
    dlq = fake.queue("dlq").url
    got = receive(fake, dlq, MessageSystemAttributeNames=["All"])
    assert got[0]["MessageId"] == mid
    assert got[0]["Attributes"]["DeadLetterQueueSourceArn"] == fake.queue("q").arn
    st, out, _ = call(fake, "GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["RedrivePolicy"]})
    assert json.loads(out["Attributes"]["RedrivePolicy"]) == {
        "deadLetterTargetArn": fake.queue("dlq").arn, "maxReceiveCount": 2}


def test_send_rules_and_delay(fake):
    url = fake.create_queue("q")
    st, out, _ = call(fake, "SendMessage", {"QueueUrl": url, "MessageBody": "later", "DelaySeconds": 900})
    assert st == 200
    assert receive(fake, url) == []
    st, out, _ = call(fake, "GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["All"]})
    assert out["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    assert out["Attributes"]["ApproximateNumberOfMessages"] == "0"
    st, out, _ = call(fake, "SendMessage", {"QueueUrl": url, "MessageBody": "x", "DelaySeconds": 901})
    assert st == 400, out
    st, out, qe = call(fake, "SendMessage", {"QueueUrl": url, "MessageBody": "bell \u0007"})
    assert qe == "InvalidMessageContents;Sender", out
    st, out, _ = call(fake, "SendMessage", {"QueueUrl": url, "MessageBody": "x" * 262145})
    assert st == 400 and "shorter than 262144" in out["message"], out
    st, out, _ = call(fake, "SendMessage", {"QueueUrl": url, "MessageBody": "x", "MessageGroupId": "g"})
    assert st == 400 and "not valid for this queue type" in out["message"], out
    st, out, _ = call(fake, "CreateQueue", {"QueueName": "made", "Attributes": {"VisibilityTimeout": "5"}})
    assert st == 200 and out["QueueUrl"].endswith("/123456789012/made")
    st, out, _ = call(fake, "GetQueueUrl", {"QueueName": "made"})
    assert out["QueueUrl"].endswith("/123456789012/made")


def test_time_scale_shortens_delays_and_visibility():
    """For a client on a scaled clock (scaled:100): DelaySeconds and the
    visibility timeout are the client's seconds, 1/100 of them in real time."""
    f = sqs_fake.SQSFake([(AKID, SECRET, None)], time_scale=100).start()
    try:
        url = f.create_queue("q", visibility=100)
        st, out, _ = call(f, "SendMessage", {"QueueUrl": url, "MessageBody": "b", "DelaySeconds": 200})
        assert st == 200, out
        assert receive(f, url) == []  # delayed (2 real seconds)
        m = f.queue("q").messages[0]
        assert m.delay == 200
        assert 1.5 < m.visible_at - time.monotonic() <= 2.0
        wait_for(lambda: receive(f, url, WaitTimeSeconds=0) != [], "delayed message")
        # Received: invisible for 100 client seconds (1 real second), then back.
        assert 0.5 < f.queue("q").messages[0].visible_at - time.monotonic() <= 1.0
    finally:
        f.stop()
