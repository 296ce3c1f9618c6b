"""A strict fake of Amazon SQS on its JSON protocol (awsJson1_0) for vmpipe's tests.

Built on awsfake.FakeAWS: every request's SigV4 signature is recomputed with
botocore (signing name "sqs"), and faults come from the same plan or rate
("throttle" is SQS's RequestThrottled; "503", "500" and "reset" as usual).
On top of that it checks and does what the SQS API reference and developer
guide say:

  * the wire: POST / with Content-Type application/x-amz-json-1.0 and
    X-Amz-Target AmazonSQS.<Action> (signed), a JSON object body whose
    members have the model's types (integers are JSON numbers); unknown
    members are refused (catches misspelt names), missing required ones are
    MissingParameter;
  * errors in the JSON protocol's shape: {"__type": "com.amazonaws.sqs#Name",
    "message": …} plus the query-compatible header x-amzn-query-error
    ("AWS.SimpleQueueService.NonExistentQueue;Sender"): QueueDoesNotExist,
    ReceiptHandleIsInvalid, MessageNotInflight, InvalidParameterValue,
    MissingParameter, EmptyBatchRequest, TooManyEntriesInBatchRequest,
    BatchEntryIdsNotDistinct, InvalidBatchEntryId, InvalidMessageContents,
    RequestThrottled; batch calls answer 200 with per-entry Failed items;
  * real visibility timeouts, in real time: a received message is invisible
    for VisibilityTimeout (the request's, else the queue's), then visible
    again; ChangeMessageVisibility counts from now, at most 43200 s and
    never past 12 hours after the message was first received;
  * a new receipt handle per receive; DeleteMessage with a handle that is no
    longer the latest succeeds and deletes nothing (as documented), with a
    handle never issued is ReceiptHandleIsInvalid; ChangeMessageVisibility
    with an old handle is ReceiptHandleIsInvalid, on a message no longer in
    flight MessageNotInflight;
  * long polling: WaitTimeSeconds (0-20) blocks until a message is visible
    or the time is up; MaxNumberOfMessages 1-10;
  * ApproximateReceiveCount (and the other system attributes) when asked
    for in MessageSystemAttributeNames (or the older AttributeNames);
  * a redrive policy: a message received maxReceiveCount times that comes
    back once more is moved to the dead-letter queue instead;
  * SendMessage with DelaySeconds (0-900; the queue's DelaySeconds
    otherwise), body size up to MaximumMessageSize and the allowed
    characters.

Actions: CreateQueue, GetQueueUrl, GetQueueAttributes, SendMessage,
ReceiveMessage, DeleteMessage(Batch), ChangeMessageVisibility(Batch).
Tests also drive it directly (create_queue, send, queue(name).messages) and
read `events`: every receive, visibility change and delete, in order.

`time_scale` (default 1) serves a client on a scaled clock (VMPIPE_CLOCK=
scaled:N): delays and visibility timeouts, which are in the client's
seconds, take 1/N of their length in real time (long polls do not: a
receiver waits in real time).

Command line: python3 tests/fakes/sqs_fake.py --port 0 --creds AK:SK
[--queue NAME[:visibility=30,max_receive=3]] prints "PORT n".
"""
import base64
import hashlib
import json
import os
import re
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import awsfake  # noqa: E402
from awsfake import Reply  # noqa: E402

JSON10 = "json1.0"
CONTENT_TYPE = "application/x-amz-json-1.0"
ACCOUNT = "123456789012"
MAX_VISIBILITY = 43200          # 12 hours, in seconds
MAX_IN_FLIGHT_S = 12 * 3600     # visibility never extends past this after the first receive
QUEUE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
BATCH_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
# Characters SQS allows in a body: #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF.
BAD_CHARS_RE = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
SYSTEM_ATTRIBUTES = {"All", "SenderId", "SentTimestamp", "ApproximateReceiveCount",
                     "ApproximateFirstReceiveTimestamp", "SequenceNumber", "MessageDeduplicationId",
                     "MessageGroupId", "AWSTraceHeader", "DeadLetterQueueSourceArn"}
QUEUE_ATTRIBUTES = {"DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod",
                    "ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "RedrivePolicy",
                    "RedriveAllowPolicy", "Policy", "SqsManagedSseEnabled"}

# JSON error name -> (query-compatible code, HTTP status).
ERRORS = {
    "QueueDoesNotExist": ("AWS.SimpleQueueService.NonExistentQueue", 400),
    "QueueNameExists": ("QueueAlreadyExists", 400),
    "ReceiptHandleIsInvalid": ("ReceiptHandleIsInvalid", 400),
    "MessageNotInflight": ("AWS.SimpleQueueService.MessageNotInflight", 400),
    "InvalidParameterValue": ("InvalidParameterValue", 400),
    "MissingParameter": ("MissingParameter", 400),
    "InvalidAttributeName": ("InvalidAttributeName", 400),
    "InvalidAttributeValue": ("InvalidAttributeValue", 400),
    "EmptyBatchRequest": ("AWS.SimpleQueueService.EmptyBatchRequest", 400),
    "TooManyEntriesInBatchRequest": ("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400),
    "BatchEntryIdsNotDistinct": ("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400),
    "InvalidBatchEntryId": ("AWS.SimpleQueueService.InvalidBatchEntryId", 400),
    "InvalidMessageContents": ("InvalidMessageContents", 400),
    "RequestThrottled": ("RequestThrottled", 400),
    "InternalFailure": ("InternalFailure", 500),
    "ServiceUnavailable": ("ServiceUnavailable", 503),
}

# Request members per action: name -> (type, required).
S, I, L, M = str, int, list, dict
ACTIONS = {
    "CreateQueue": {"QueueName": (S, True), "Attributes": (M, False), "tags": (M, False)},
    "GetQueueUrl": {"QueueName": (S, True), "QueueOwnerAWSAccountId": (S, False)},
    "GetQueueAttributes": {"QueueUrl": (S, True), "AttributeNames": (L, False)},
    "SendMessage": {"QueueUrl": (S, True), "MessageBody": (S, True), "DelaySeconds": (I, False),
                    "MessageAttributes": (M, False), "MessageSystemAttributes": (M, False),
                    "MessageDeduplicationId": (S, False), "MessageGroupId": (S, False)},
    "ReceiveMessage": {"QueueUrl": (S, True), "AttributeNames": (L, False),
                       "MessageSystemAttributeNames": (L, False),
                       "MessageAttributeNames": (L, False), "MaxNumberOfMessages": (I, False),
                       "VisibilityTimeout": (I, False), "WaitTimeSeconds": (I, False),
                       "ReceiveRequestAttemptId": (S, False)},
    "DeleteMessage": {"QueueUrl": (S, True), "ReceiptHandle": (S, True)},
    "DeleteMessageBatch": {"QueueUrl": (S, True), "Entries": (L, True)},
    "ChangeMessageVisibility": {"QueueUrl": (S, True), "ReceiptHandle": (S, True),
                                "VisibilityTimeout": (I, True)},
    "ChangeMessageVisibilityBatch": {"QueueUrl": (S, True), "Entries": (L, True)},
}
BATCH_ENTRY = {
    "DeleteMessageBatch": {"Id": (S, True), "ReceiptHandle": (S, True)},
    "ChangeMessageVisibilityBatch": {"Id": (S, True), "ReceiptHandle": (S, True),
                                     "VisibilityTimeout": (I, False)},
}


class SQSError(Exception):
    def __init__(self, name, message):
        super().__init__(message)
        self.name = name
        self.message = message


class Message:
    def __init__(self, body, visible_at, source_arn=None, mid=None):
        self.id = mid or str(uuid.uuid4())
        self.body = body
        self.delay = 0                   # DelaySeconds it was sent with
        self.md5 = hashlib.md5(body.encode()).hexdigest()
        self.sent_ms = int(time.time() * 1000)
        self.visible_at = visible_at     # time.monotonic()
        self.receive_count = 0
        self.first_receive = None        # monotonic, of the first receive
        self.first_receive_ms = None
        self.receipt = None              # the latest receipt handle
        self.deleted = False
        self.source_arn = source_arn     # set in a dead-letter queue


class Queue:
    def __init__(self, fake, name, attributes):
        self.name = name
        self.url = f"{fake.url}/{ACCOUNT}/{name}"
        self.arn = f"arn:aws:sqs:{fake.region}:{ACCOUNT}:{name}"
        self.attributes = {"DelaySeconds": "0", "MaximumMessageSize": "262144",
                           "MessageRetentionPeriod": "345600",
                           "ReceiveMessageWaitTimeSeconds": "0", "VisibilityTimeout": "30"}
        self.attributes.update(attributes)
        self.messages = []               # not deleted, in send order

    def int_attr(self, name):
        return int(self.attributes[name])

    def redrive(self):
        """(dead-letter queue name, maxReceiveCount) or None."""
        rp = self.attributes.get("RedrivePolicy")
        if not rp:
            return None
        p = json.loads(rp)
        return p["deadLetterTargetArn"].rsplit(":", 1)[1], int(p["maxReceiveCount"])

    def visible(self, now):
        return [m for m in self.messages if m.visible_at <= now]

    def bodies(self):
        return [m.body for m in self.messages]


class SQSFake(awsfake.FakeAWS):
    service = "sqs"
    protocol = JSON10

    def __init__(self, creds=None, region="us-east-1", time_scale=1.0):
        super().__init__(creds, region)
        self.time_scale = float(time_scale)
        self.cv = threading.Condition(self.lock)
        self.queues = {}
        self.receipts = {}               # handle -> (queue name, Message)
        self.events = []                 # {"op", "queue", "id", "value", "time"}
        self.sent = []                   # every SendMessage taken: {"queue", "delay", "body", "time"}
        self.stopping = False

    # ------------------------------------------------------------ test side
    def create_queue(self, name, visibility=30, redrive=None, delay=0, **attributes):
        """Create a queue; redrive=(dead-letter queue name, maxReceiveCount).
        Returns its URL (the fake must be started)."""
        attrs = {"VisibilityTimeout": str(visibility), "DelaySeconds": str(delay)}
        attrs.update({k: str(v) for k, v in attributes.items()})
        with self.lock:
            if redrive:
                dlq, count = redrive
                if dlq not in self.queues:
                    self.queues[dlq] = Queue(self, dlq, {})
                attrs["RedrivePolicy"] = json.dumps(
                    {"deadLetterTargetArn": self.queues[dlq].arn, "maxReceiveCount": count})
            q = self.queues[name] = Queue(self, name, attrs)
            return q.url

    def queue(self, name):
        with self.lock:
            return self.queues[name]

    def send(self, name, body, delay=None):
        """SendMessage without HTTP; the message id."""
        with self.cv:
            q = self.queues[name]
            d = q.int_attr("DelaySeconds") if delay is None else delay
            m = Message(body, time.monotonic() + d / self.time_scale)
            q.messages.append(m)
            self.cv.notify_all()
            return m.id

    def count(self, op, mid=None):
        """How many `op` events ("receive", "visibility", "delete", "dead-letter") for
        message `mid` (None: any)."""
        with self.lock:
            return sum(1 for e in self.events if e["op"] == op and (mid is None or e["id"] == mid))

    def ops(self):
        """The actions called over HTTP, in order (faults included)."""
        return [e.get("op") for e in self.requests()]

    def start(self, port=0):
        super().start(port)
        # A long poll whose client has gone (a stopping vmpipe abandons its
        # poll) is answered into a closed socket: expected, not worth a trace.
        default = self.server.handle_error

        def quiet(request, client_address):
            if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                default(request, client_address)
        self.server.handle_error = quiet
        return self

    def stop(self):
        with self.cv:
            self.stopping = True
            self.cv.notify_all()
        super().stop()

    # ------------------------------------------------------------ errors
    def error(self, status, code, message, headers=None):
        """Any error, in the JSON 1.0 shape (base-class codes included)."""
        query, _ = ERRORS.get(code, (code, status))
        h = dict(headers or {})
        h.update({"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": str(uuid.uuid4()),
                  "x-amzn-query-error": f"{query};{'Receiver' if status >= 500 else 'Sender'}"})
        t = code if "#" in code else f"com.amazonaws.sqs#{code}"
        return Reply(status, json.dumps({"__type": t, "message": message}), h)

    def sqs_error(self, e):
        _, status = ERRORS.get(e.name, (e.name, 400))
        return self.error(status, e.name, e.message)

    def throttle_error(self):
        return self.error(400, "RequestThrottled", "Request is throttled.")

    def server_error(self, status):
        name = "ServiceUnavailable" if status == 503 else "InternalFailure"
        return self.error(status, name, "We encountered an internal error. Please try again.")

    def ok(self, obj=None):
        body = json.dumps(obj) if obj is not None else ""
        return Reply(200, body, {"Content-Type": CONTENT_TYPE,
                                 "x-amzn-RequestId": str(uuid.uuid4())})

    # ------------------------------------------------------------ dispatch
    def handle(self, req):
        if req.method != "POST" or req.path != "/":
            return self.error(404, "com.amazon.coral.service#UnknownOperationException",
                              "Unknown operation: SQS's JSON protocol is POST /")
        if req.headers.get("Content-Type") != CONTENT_TYPE:
            return self.error(400, "com.amazon.coral.service#SerializationException",
                              f"Content-Type must be {CONTENT_TYPE}")
        target = req.headers.get("X-Amz-Target", "")
        if "x-amz-target" not in req.headers.get("Authorization", "").lower():
            return self.error(400, "IncompleteSignatureException", "X-Amz-Target must be signed")
        op = target[len("AmazonSQS."):] if target.startswith("AmazonSQS.") else None
        with self.lock:
            req.entry["op"] = op or target
        if op not in ACTIONS:
            return self.error(400, "com.amazon.coral.service#UnknownOperationException",
                              f"Unknown operation {target!r}")
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self.error(400, "com.amazon.coral.service#SerializationException",
                              "the body is not a JSON object")
        try:
            check_members(body, ACTIONS[op])
            return self.ok(getattr(self, "op_" + op)(body))
        except SQSError as e:
            return self.sqs_error(e)

    def lookup(self, url):
        """The queue a QueueUrl names (http(s)://host/ACCOUNT/NAME)."""
        m = re.match(r"^https?://[^/]+/(\d{12})/([^/?#]+)$", url)
        if not m:
            raise SQSError("InvalidParameterValue", f"Value {url} for parameter QueueUrl is invalid. "
                           "Reason: Invalid queue URL.")
        q = self.queues.get(m.group(2)) if m.group(1) == ACCOUNT else None
        if q is None:
            raise SQSError("QueueDoesNotExist", "The specified queue does not exist.")
        return q

    def event(self, op, q, m, value=None):
        self.events.append({"op": op, "queue": q.name, "id": m.id, "value": value,
                            "time": time.time()})

    # ------------------------------------------------------------ queues
    def op_CreateQueue(self, b):
        name = b["QueueName"]
        if not QUEUE_NAME_RE.match(name):
            raise SQSError("InvalidParameterValue", "Can only include alphanumeric characters, "
                           "hyphens, or underscores. 1 to 80 in length")
        attrs = b.get("Attributes") or {}
        for k, v in attrs.items():
            if k not in QUEUE_ATTRIBUTES:
                raise SQSError("InvalidAttributeName", f"Unknown Attribute {k}.")
            if not isinstance(v, str):
                raise SQSError("InvalidAttributeValue", f"Invalid value for the parameter {k}.")
        with self.lock:
            q = self.queues.get(name)
            if q is not None:
                if any(q.attributes.get(k) != v for k, v in attrs.items()):
                    raise SQSError("QueueNameExists", "A queue already exists with the same name "
                                   "and a different value for attribute(s)")
                return {"QueueUrl": q.url}
            q = self.queues[name] = Queue(self, name, attrs)
            return {"QueueUrl": q.url}

    def op_GetQueueUrl(self, b):
        with self.lock:
            q = self.queues.get(b["QueueName"])
            if q is None:
                raise SQSError("QueueDoesNotExist", "The specified queue does not exist.")
            return {"QueueUrl": q.url}

    def op_GetQueueAttributes(self, b):
        names = b.get("AttributeNames") or []
        if not all(isinstance(n, str) for n in names):
            raise SQSError("InvalidAttributeName", "AttributeNames must be strings")
        with self.lock:
            q = self.lookup(b["QueueUrl"])
            now = time.monotonic()
            live = {**q.attributes, "QueueArn": q.arn,
                    "ApproximateNumberOfMessages": str(len(q.visible(now))),
                    "ApproximateNumberOfMessagesNotVisible":
                        str(sum(1 for m in q.messages if m.visible_at > now and m.receipt)),
                    "ApproximateNumberOfMessagesDelayed":
                        str(sum(1 for m in q.messages if m.visible_at > now and not m.receipt))}
            for n in names:
                if n != "All" and n not in live and n not in QUEUE_ATTRIBUTES:
                    raise SQSError("InvalidAttributeName", f"Unknown Attribute {n}.")
            want = live if "All" in names else {n: live[n] for n in names if n in live}
            return {"Attributes": want} if want else {}

    # ------------------------------------------------------------ messages
    def op_SendMessage(self, b):
        body = b["MessageBody"]
        with self.lock:
            q = self.lookup(b["QueueUrl"])
            if not body:
                raise SQSError("MissingParameter", "The request must contain the parameter "
                               "MessageBody.")
            if len(body.encode()) > q.int_attr("MaximumMessageSize"):
                raise SQSError("InvalidParameterValue", "One or more parameters are invalid. "
                               f"Reason: Message must be shorter than "
                               f"{q.int_attr('MaximumMessageSize')} bytes.")
            if BAD_CHARS_RE.search(body):
                raise SQSError("InvalidMessageContents", "Invalid characters found. Valid unicode "
                               "characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD "
                               "| #x10000 to #x10FFFF")
            for k in ("MessageGroupId", "MessageDeduplicationId"):
                if k in b:
                    raise SQSError("InvalidParameterValue", f"Value {b[k]} for parameter {k} is "
                                   "invalid. Reason: The request include parameter that is not "
                                   "valid for this queue type.")
            if b.get("MessageAttributes") or b.get("MessageSystemAttributes"):
                raise SQSError("InvalidParameterValue", "message attributes are not supported by "
                               "this fake")
            delay = b.get("DelaySeconds", q.int_attr("DelaySeconds"))
            if not 0 <= delay <= 900:
                raise SQSError("InvalidParameterValue", f"Value {delay} for parameter "
                               "DelaySeconds is invalid. Reason: must be between 0 and 900, if "
                               "provided.")
            m = Message(body, time.monotonic() + delay / self.time_scale)
            m.delay = delay
            q.messages.append(m)
            self.sent.append({"queue": q.name, "delay": delay, "body": body, "time": time.time()})
            self.cv.notify_all()
            return {"MessageId": m.id, "MD5OfMessageBody": m.md5}

    def op_ReceiveMessage(self, b):
        for k in ("AttributeNames", "MessageSystemAttributeNames", "MessageAttributeNames"):
            v = b.get(k) or []
            if not all(isinstance(x, str) for x in v):
                raise SQSError("InvalidParameterValue", f"{k} must be a list of strings")
            if k != "MessageAttributeNames" and any(x not in SYSTEM_ATTRIBUTES for x in v):
                raise SQSError("InvalidAttributeName", f"Unknown Attribute "
                               f"{[x for x in v if x not in SYSTEM_ATTRIBUTES][0]}.")
        n = b.get("MaxNumberOfMessages", 1)
        if not 1 <= n <= 10:
            raise SQSError("InvalidParameterValue", f"Value {n} for parameter MaxNumberOfMessages "
                           "is invalid. Reason: Must be between 1 and 10, if provided.")
        wait = b.get("WaitTimeSeconds")
        if wait is not None and not 0 <= wait <= 20:
            raise SQSError("InvalidParameterValue", f"Value {wait} for parameter WaitTimeSeconds "
                           "is invalid. Reason: Must be >= 0 and <= 20, if provided.")
        vis = b.get("VisibilityTimeout")
        if vis is not None and not 0 <= vis <= MAX_VISIBILITY:
            raise SQSError("InvalidParameterValue", f"Value {vis} for parameter VisibilityTimeout "
                           "is invalid. Reason: Must be >= 0 and <= 43200, if provided.")
        if "ReceiveRequestAttemptId" in b:
            raise SQSError("InvalidParameterValue", "Value for parameter ReceiveRequestAttemptId "
                           "is invalid. Reason: The request include parameter that is not valid "
                           "for this queue type.")
        attrs = set(b.get("AttributeNames") or []) | set(b.get("MessageSystemAttributeNames") or [])
        with self.cv:
            q = self.lookup(b["QueueUrl"])
            if wait is None:
                wait = q.int_attr("ReceiveMessageWaitTimeSeconds")
            if vis is None:
                vis = q.int_attr("VisibilityTimeout")
            deadline = time.monotonic() + wait
            while True:
                now = time.monotonic()
                self.dead_letter(q, now)
                got = q.visible(now)[:n]
                if got or now >= deadline or self.stopping:
                    break
                later = [m.visible_at for m in q.messages if m.visible_at > now]
                self.cv.wait(min([deadline] + later) - now)
            out = []
            for m in got:
                m.receive_count += 1
                if m.first_receive is None:
                    m.first_receive = now
                    m.first_receive_ms = int(time.time() * 1000)
                m.receipt = base64.b64encode(os.urandom(48) + m.id.encode()).decode()
                self.receipts[m.receipt] = (q.name, m)
                m.visible_at = now + vis / self.time_scale
                self.event("receive", q, m, m.receive_count)
                out.append(self.describe(m, attrs))
            return {"Messages": out} if out else {}

    def dead_letter(self, q, now):
        """Move what has been received maxReceiveCount times and is visible again."""
        rd = q.redrive()
        if not rd:
            return
        dlq_name, max_count = rd
        dlq = self.queues.get(dlq_name)
        if dlq is None:
            return
        for m in [m for m in q.messages if m.visible_at <= now and m.receive_count >= max_count]:
            q.messages.remove(m)
            m.receipt = None  # its handles are stale now
            moved = Message(m.body, now, source_arn=q.arn, mid=m.id)
            dlq.messages.append(moved)
            self.event("dead-letter", q, m, m.receive_count)

    def describe(self, m, attrs):
        every = "All" in attrs
        a = {}
        values = {"SenderId": "AIDAFAKESENDER", "SentTimestamp": str(m.sent_ms),
                  "ApproximateReceiveCount": str(m.receive_count),
                  "ApproximateFirstReceiveTimestamp": str(m.first_receive_ms),
                  "DeadLetterQueueSourceArn": m.source_arn}
        for k, v in values.items():
            if v is not None and (every or k in attrs):
                a[k] = v
        d = {"MessageId": m.id, "ReceiptHandle": m.receipt, "MD5OfBody": m.md5, "Body": m.body}
        if a:
            d["Attributes"] = a
        return d

    def resolve(self, q, handle):
        """The message a handle names (SQSError when it was never issued here)."""
        got = self.receipts.get(handle)
        if got is None or got[0] != q.name:
            raise SQSError("ReceiptHandleIsInvalid", f'The input receipt handle "{handle[:80]}" '
                           "is not a valid receipt handle.")
        return got[1]

    def delete(self, q, handle):
        m = self.resolve(q, handle)
        if m.deleted or m.receipt != handle:
            return  # already gone, or received again since: succeeds, deletes nothing
        m.deleted = True
        q.messages.remove(m)
        self.event("delete", q, m)

    def change(self, q, handle, vis):
        if not 0 <= vis <= MAX_VISIBILITY:
            raise SQSError("InvalidParameterValue", f"Value {vis} for parameter VisibilityTimeout "
                           "is invalid. Reason: Must be >= 0 and <= 43200.")
        m = self.resolve(q, handle)
        now = time.monotonic()
        if m.deleted or m.receipt != handle:
            raise SQSError("ReceiptHandleIsInvalid", f'The input receipt handle "{handle[:80]}" '
                           "is not a valid receipt handle.")
        if m.visible_at <= now:
            raise SQSError("MessageNotInflight", "The message referred to isn't in flight.")
        if now + vis / self.time_scale > m.first_receive + MAX_IN_FLIGHT_S / self.time_scale:
            raise SQSError("InvalidParameterValue", f"Value {vis} for parameter VisibilityTimeout "
                           "is invalid. Reason: Total VisibilityTimeout for the message is beyond "
                           "the limit [43200 seconds]")
        m.visible_at = now + vis / self.time_scale
        self.event("visibility", q, m, vis)
        self.cv.notify_all()

    def op_DeleteMessage(self, b):
        with self.cv:
            self.delete(self.lookup(b["QueueUrl"]), b["ReceiptHandle"])
        return None

    def op_ChangeMessageVisibility(self, b):
        with self.cv:
            self.change(self.lookup(b["QueueUrl"]), b["ReceiptHandle"], b["VisibilityTimeout"])
        return None

    def batch(self, b, op, fn):
        entries = b["Entries"]
        if not entries:
            raise SQSError("EmptyBatchRequest", "There should be at least one "
                           f"{op[:-5]}RequestEntry in the request.")
        if len(entries) > 10:
            raise SQSError("TooManyEntriesInBatchRequest", "Maximum number of entries per request "
                           f"are 10. You have sent {len(entries)}.")
        for e in entries:
            if not isinstance(e, dict):
                raise SQSError("InvalidParameterValue", "Entries must be objects")
            check_members(e, BATCH_ENTRY[op])
            if not BATCH_ID_RE.match(e["Id"]):
                raise SQSError("InvalidBatchEntryId", "A batch entry id can only contain "
                               "alphanumeric characters, hyphens and underscores. It can be at "
                               "most 80 letters long.")
        if len({e["Id"] for e in entries}) != len(entries):
            raise SQSError("BatchEntryIdsNotDistinct", "Id must be distinct among batch entries.")
        ok, failed = [], []
        with self.cv:
            q = self.lookup(b["QueueUrl"])
            for e in entries:
                try:
                    fn(q, e)
                    ok.append({"Id": e["Id"]})
                except SQSError as err:
                    code = ERRORS.get(err.name, (err.name, 400))[0]
                    failed.append({"Id": e["Id"], "SenderFault": True, "Code": code,
                                   "Message": err.message})
        return {"Successful": ok, "Failed": failed}

    def op_DeleteMessageBatch(self, b):
        return self.batch(b, "DeleteMessageBatch", lambda q, e: self.delete(q, e["ReceiptHandle"]))

    def op_ChangeMessageVisibilityBatch(self, b):
        return self.batch(b, "ChangeMessageVisibilityBatch",
                          lambda q, e: self.change(q, e["ReceiptHandle"],
                                                   e.get("VisibilityTimeout", 0)))


def check_members(body, spec):
    for k in body:
        if k not in spec:
            raise SQSError("InvalidParameterValue", f"Unknown parameter {k!r} (expected one of "
                           f"{sorted(spec)})")
    for k, (typ, required) in spec.items():
        if k not in body:
            if required:
                raise SQSError("MissingParameter", f"The request must contain the parameter {k}.")
            continue
        v = body[k]
        if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
            raise SQSError("InvalidParameterValue", f"Value {v!r} for parameter {k} is invalid: "
                           f"expected a JSON {typ.__name__}")


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="run the strict SQS fake on 127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--creds", action="append", default=[], help="AKID:SECRET[:TOKEN]")
    ap.add_argument("--queue", action="append", default=[],
                    help="NAME[:visibility=30,max_receive=3] (max_receive adds NAME-dlq)")
    ap.add_argument("--faults", default=os.environ.get("AWSFAKE_FAULTS"))
    a = ap.parse_args(argv)
    fake = SQSFake([c.split(":", 2) for c in a.creds], a.region)
    if a.faults:
        cfg = json.loads(a.faults)
        fake.set_faults(cfg.get("plan"), cfg.get("rate", 0.0), cfg.get("kinds"), cfg.get("seed", 1))
    fake.start(a.port)
    for spec in a.queue:
        name, _, opts = spec.partition(":")
        kv = dict(o.split("=", 1) for o in opts.split(",") if o)
        redrive = (name + "-dlq", int(kv["max_receive"])) if "max_receive" in kv else None
        fake.create_queue(name, visibility=int(kv.get("visibility", 30)), redrive=redrive)
    print(f"PORT {fake.port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    fake.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
