"""AWS Lambda and the event sources around a vmpipe function, time-scaled,
for the suspend-mode tests and benchmark (docs/lambda.md, "Suspend mode").

One World holds the strict fakes (S3 with conditional writes, Transcribe,
SES v2, SQS on its JSON protocol; SigV4 checked everywhere), the strict
Runtime API fake, and a container: a `vmpipe lambda` (or packaged
`bootstrap`) process, started again when it dies, as Lambda starts a new
one.  Around them it plays what AWS does:

  * the contact flow's invocation: Amazon Connect's "Invoke AWS Lambda
    function" block calls Invoke itself (synchronously, as Lambda sees it,
    even in the block's asynchronous execution mode), so Lambda does not
    retry it: Connect does, with a *new* request id each time, up to
    CONNECT_ATTEMPTS in all (docs/lambda.md section 4; Lambda operator guide,
    "Comparing Lambda invocation modes": "In synchronous invocations, if the
    Lambda function fails, retries are the responsibility of the trigger");
    what still failed is in `failed_connect`;
  * asynchronous invocations (S3's, EventBridge's): queued for the function;
    an /error or a crashed container is retried with the same request id
    after 60 s and 120 s (Lambda's retry policy for asynchronous invocation:
    two retries, the same request id), then given up (`failed_async`: what
    the on-failure destination gets);
  * S3 event notifications of the recordings prefix, in S3's notification
    form or EventBridge's "Object Created" form, when an object is uploaded
    (upload_recording(), at a virtual time; optionally delivered twice, late,
    or never);
  * EventBridge's "Transcribe Job State Change" when a job whose name starts
    with "vmpipe-" completes (from the Transcribe fake's on_start hook);
  * an SQS event source mapping on the wake-up queue with
    ReportBatchItemFailures: batches of up to 10, invoked synchronously; the
    items not in batchItemFailures are deleted, the others (and all of them
    after an /error or a crash) come back after the visibility timeout, and
    a redrive policy moves a message received 5 times to the dead-letter
    queue (SQS developer guide, "Using dead-letter queues"; Lambda's
    "Handling errors for an SQS event source": items listed become visible
    again after the visibility timeout, ApproximateReceiveCount rises);
  * EventBridge's scheduled rule for the sweeper (sweep(): a "Scheduled
    Event", invoked asynchronously);
  * kill_at(n): the container is killed once, right after the n-th AWS
    request the function makes has taken effect and before it hears the
    answer (the systematic kill test).

Time runs `scale` times faster than real time for everything: vmpipe runs on
VMPIPE_CLOCK=scaled:N@ORIGIN, the fakes' durations and SQS's delays are
divided by N, and every time this module reports is virtual (seconds since
the epoch on that clock).  Nothing is asserted here: tests and the bench
read `invocations`, the fakes' request logs and the mails.
"""
import datetime
import json
import os
import signal
import subprocess
import threading
import time
import urllib.parse
import uuid

import awsfake
import ses_fake
import sqs_fake
import transcribe_fake
from lambda_runtime import LambdaRuntimeFake

AKID, SECRET = "ASIAVMPIPEWORLD", "world/secret+Key0123456789abcdefXYZ"
ACCOUNT, REGION = "123456789012", "us-east-1"
STATE_BUCKET = "vm-state"
QUEUE, DLQ = "vmpipe-wakeup", "vmpipe-wakeup-dlq"
JOB_PREFIX = "vmpipe-"
ASYNC_RETRY_S = (60, 120)
CONNECT_ATTEMPTS = 3


class VClock:
    """Virtual time `scale` times faster than real time from `origin`."""

    def __init__(self, scale, origin=None):
        self.scale = float(scale)
        self.origin = time.time() if origin is None else origin

    def now(self):
        return self.origin + (time.time() - self.origin) * self.scale

    def real(self, seconds):
        return seconds / self.scale

    def sleep(self, seconds):
        time.sleep(max(0.0, seconds) / self.scale)

    def env(self):
        return "scaled:%g@%d" % (self.scale, int(self.origin * 1000))


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def s3_event(bucket, key, size, form="notification", t=None):
    """S3's ObjectCreated event for `key`, in S3's notification form or EventBridge's."""
    t = time.time() if t is None else t
    if form == "eventbridge":
        return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created", "source": "aws.s3",
                "account": ACCOUNT, "time": iso(t)[:19] + "Z", "region": REGION,
                "resources": [f"arn:aws:s3:::{bucket}"],
                "detail": {"version": "0", "bucket": {"name": bucket},
                           "object": {"key": key, "size": size, "etag": uuid.uuid4().hex,
                                      "sequencer": "0062E99A88DC407460"},
                           "request-id": "N4N7GDK58NMKJ12R", "requester": "connect.amazonaws.com",
                           "source-ip-address": "203.0.113.15", "reason": "PutObject"}}
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
        "eventTime": iso(t), "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AROAEXAMPLE"}, "requestParameters": {"sourceIPAddress": "203.0.113.15"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "vmpipe-recordings",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                          "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": urllib.parse.quote_plus(key, safe="/"), "size": size,
                          "eTag": uuid.uuid4().hex, "sequencer": "0055AED6DCD90281E5"}}}]}


class HookedS3(awsfake.S3Fake):
    """The S3 fake, telling `on_put(bucket, key, body)` of every PUT it stored,
    before it answers (a test may kill the container there: the write is
    durable, the writer never learns it)."""

    on_put = None

    def handle(self, req):
        reply = super().handle(req)
        if req.method == "PUT" and reply.status == 200 and self.on_put:
            parts = req.path.lstrip("/").split("/", 1)
            if len(parts) == 2:
                self.on_put(urllib.parse.unquote(parts[0]), urllib.parse.unquote(parts[1]), req.body)
        return reply


class Invocation:
    """One attempt of one invocation, as the world saw it."""

    def __init__(self, rid, source, attempt):
        self.rid = rid
        self.source = source      # "connect", "s3", "transcribe", "sqs"
        self.attempt = attempt
        self.result = None        # the Runtime API fake's result


class World:
    def __init__(self, cmd, scale=10.0, suspend=True, events=("s3", "transcribe"), s3_form="notification",
                 transcribe_s=45.0, function_timeout_s=60, visibility_s=120, extra_env=None,
                 bucket="vm-connect-recordings", prefix="connect/acme/CallRecordings", cwd=None,
                 deliver_s3=True, deliver_transcribe=True, duplicate_events=False, event_delay_s=0.0):
        self.cmd = cmd
        self.clock = VClock(scale)
        self.suspend = suspend
        self.events = tuple(events)
        self.s3_form = s3_form
        self.timeout_ms = int(function_timeout_s * 1000)
        self.bucket, self.prefix = bucket, prefix
        self.cwd = cwd
        self.deliver_s3 = deliver_s3
        self.deliver_transcribe = deliver_transcribe
        self.duplicate_events = duplicate_events
        self.event_delay_s = event_delay_s
        creds = [(AKID, SECRET, None)]
        skew = 10 * 365 * 86400  # vmpipe signs with its scaled clock
        self.s3 = HookedS3(creds)
        self.s3.clock = self.clock.now
        self.tr = transcribe_fake.TranscribeFake(creds, duration=transcribe_s / scale, s3_put=self.s3.put,
                                                 default_text="Hi, this is Sam. Please call me back.")
        self.ses = ses_fake.SESFake(creds, verified=["example.com"])
        self.sqs = sqs_fake.SQSFake(creds, time_scale=scale)
        for f in (self.s3, self.tr, self.ses, self.sqs):
            f.skew_s = skew
        self.s3.start()
        self.tr.start()
        self.ses.start()
        self.sqs.start()
        with self.s3.lock:
            self.s3.buckets[bucket] = {}
            self.s3.buckets[STATE_BUCKET] = {}
        self.queue_url = self.sqs.create_queue(QUEUE, visibility=visibility_s, redrive=(DLQ, 5))
        self.tr.on_start = self._transcribe_started
        self.rt = LambdaRuntimeFake(clock=self.clock.now).start()
        self.lock = threading.Condition()
        self.invocations = []     # every attempt, in order
        self.failed_async = []    # what the on-failure destination got
        self.failed_connect = []  # contact-flow invocations Connect gave up on
        self.active = 0           # world threads still to do something (uploads, events, retries)
        self.requests_seen = 0    # AWS requests the function made (kill_at counts them)
        self.kill_at_n = None
        self.killed_at = None     # (n, service, method, path) of the kill
        self.timeline = []        # (virtual time, what)
        self.stopping = False
        self.proc = None
        self.crashes = 0
        self.env = self._env(extra_env or {})
        self.stderr = open(os.devnull, "w") if cwd is None else open(os.path.join(cwd, "lambda.log"), "a")
        for f in (self.s3, self.tr, self.ses, self.sqs):
            f.after_handle = self._after_request
        self._start_container()
        threading.Thread(target=self._watch, daemon=True).start()
        if suspend:
            threading.Thread(target=self._esm, daemon=True).start()

    # ------------------------------------------------------------ the function
    def _env(self, extra):
        e = {"AWS_LAMBDA_RUNTIME_API": self.rt.address, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
             "AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_EC2_METADATA_DISABLED": "true",
             "AWS_LAMBDA_FUNCTION_NAME": "vmpipe", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
             "AWS_LAMBDA_LOG_FORMAT": "JSON", "LANG": "C.UTF-8", "TZ": ":UTC",
             "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.cwd or "/nonexistent",
             "AWS_ENDPOINT_URL_S3": self.s3.url, "AWS_ENDPOINT_URL_TRANSCRIBE": self.tr.url,
             "AWS_ENDPOINT_URL_SESV2": self.ses.url, "AWS_ENDPOINT_URL_SQS": self.sqs.url,
             "VMPIPE_CLOCK": self.clock.env(), "VMPIPE_STATE": f"s3://{STATE_BUCKET}/vmpipe",
             "BASE_PATH": f"{self.bucket}/{self.prefix}", "EMAIL_SENDER": "voicemail@example.com",
             "ALLOWED_RECIPIENT_DOMAINS": "example.com"}
        if self.suspend:
            e["VMPIPE_WAKEUP_QUEUE"] = self.queue_url
            e["VMPIPE_WAKEUP_EVENTS"] = ",".join(self.events)
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "VMPIPE_NO_DLCLOSE"):
            if k in os.environ:
                e[k] = os.environ[k]
        e.update({k: v for k, v in extra.items() if v is not None})
        return e

    def _start_container(self):
        self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.stderr)

    def _watch(self):
        """A container that dies is replaced; what it had not answered failed."""
        while not self.stopping:
            proc = self.proc
            if proc.poll() is None:
                time.sleep(0.02)
                continue
            if self.stopping:
                return
            self.crashes += 1
            self.rt.abandon()
            self._start_container()

    def kill_container(self):
        """SIGKILL the container now (from a fake's hook: mid-request)."""
        try:
            os.kill(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def kill_at(self, n, only=None):
        """Kill the container once, after the function's n-th AWS request
        (1-based, over every service; only those only(fake, req) accepts when
        given) took effect, before its answer."""
        self.kill_only = only
        self.kill_at_n = n

    kill_only = None

    def _after_request(self, fake, req, reply):
        with self.lock:
            if self.kill_only and not self.kill_only(fake, req):
                return
            self.requests_seen += 1
            n = self.requests_seen
            hit = self.kill_at_n is not None and n == self.kill_at_n
            if hit:
                self.killed_at = (n, fake.service, req.method, req.path)
        if hit:
            proc = self.proc
            self.kill_container()
            while proc.poll() is None:  # dead before the answer goes out
                time.sleep(0.001)

    def _spawn(self, fn):
        """A world thread; `active` counts it until it is done."""
        with self.lock:
            self.active += 1

        def run():
            try:
                fn()
            finally:
                with self.lock:
                    self.active -= 1
        threading.Thread(target=run, daemon=True).start()

    def note(self, what):
        with self.lock:
            self.timeline.append((self.clock.now(), what))

    # ------------------------------------------------------------ invoking
    def _wait_result(self, rid):
        with self.rt.cv:
            while rid not in self.rt.results and not self.stopping:
                self.rt.cv.wait(0.5)
            return self.rt.results.get(rid)

    def _attempt(self, event, source, rid, attempt):
        inv = Invocation(rid, source, attempt)
        with self.lock:
            self.invocations.append(inv)
        self.rt.add_event(event, timeout_ms=self.timeout_ms, request_id=rid, retry=attempt > 0)
        inv.result = self._wait_result(rid)
        with self.lock:
            self.lock.notify_all()
        return inv.result

    def invoke_async(self, event, source):
        """Queue an asynchronous invocation (returns at once), with Lambda's retries."""
        def run():
            rid = str(uuid.uuid4())
            for attempt in range(len(ASYNC_RETRY_S) + 1):
                res = self._attempt(event, source, rid, attempt)
                if res is None or res["kind"] == "response" or self.stopping:
                    return
                if attempt < len(ASYNC_RETRY_S):
                    self.clock.sleep(ASYNC_RETRY_S[attempt])
            with self.lock:
                self.failed_async.append({"source": source, "event": event, "result": res})
        self._spawn(run)

    def invoke_connect(self, event):
        """Connect's invocation: a new request id per attempt, Connect retrying."""
        def run():
            for attempt in range(CONNECT_ATTEMPTS):
                res = self._attempt(event, "connect", str(uuid.uuid4()), 0)
                if res is None or res["kind"] == "response" or self.stopping:
                    return
            with self.lock:
                self.failed_connect.append({"event": event, "result": res})
        self._spawn(run)

    def _esm(self):
        """The SQS event source mapping (ReportBatchItemFailures)."""
        req = {"QueueUrl": self.queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1,
               "MessageSystemAttributeNames": ["All"]}
        while not self.stopping:
            try:
                got = self.sqs.op_ReceiveMessage(dict(req)).get("Messages", [])
            except Exception:  # noqa: BLE001 - stopping
                return
            if not got:
                continue
            arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE}"
            recs = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                     "attributes": m.get("Attributes", {}), "messageAttributes": {},
                     "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs", "eventSourceARN": arn,
                     "awsRegion": REGION} for m in got]
            res = self._attempt({"Records": recs}, "sqs", str(uuid.uuid4()), 0)
            if res is None or res["kind"] != "response":
                continue  # all of them come back after the visibility timeout
            failed = {f.get("itemIdentifier") for f in (res["json"] or {}).get("batchItemFailures", [])}
            with self.sqs.cv:
                q = self.sqs.queues[QUEUE]
                for m in got:
                    if m["MessageId"] not in failed:
                        self.sqs.delete(q, m["ReceiptHandle"])

    # ------------------------------------------------------------ events
    def connect(self, event):
        self.note("contact flow invokes the function")
        self.invoke_connect(event)

    def sweep(self):
        """EventBridge's scheduled rule invokes the sweeper (asynchronously)."""
        ev = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
              "account": ACCOUNT, "time": iso(self.clock.now())[:19] + "Z", "region": REGION,
              "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/vmpipe-sweeper"], "detail": {}}
        self.note("the sweeper's schedule fires")
        self.invoke_async(ev, "sweep")

    def _deliver(self, event, source, late_s=0.0):
        delay = self.event_delay_s + late_s
        copies = 2 if self.duplicate_events else 1

        def go():
            if delay:
                self.clock.sleep(delay)
            for _ in range(copies):
                self.note(f"{source} event delivered")
                self.invoke_async(event, source)
        self._spawn(go)

    def s3_event(self, key, size):
        return s3_event(self.bucket, key, size, self.s3_form, self.clock.now())

    def upload_recording(self, key, data, at_s, late_s=0.0):
        """Connect's upload at virtual time `at_s` (epoch s), and its S3 event."""
        def go():
            self.clock.sleep(at_s - self.clock.now())
            self.s3.put(self.bucket, key, data, "audio/wav")
            self.note("recording visible in S3")
            if self.deliver_s3:
                self._deliver(self.s3_event(key, len(data)), "s3", late_s)
        self._spawn(go)

    def _transcribe_started(self, job):
        if not job.name.startswith(JOB_PREFIX):
            return  # the rule's pattern: vmpipe's job-name prefix only
        real = job.script.get("duration", self.tr.duration)

        def done():
            time.sleep(max(0.0, job.created + real - time.time()))
            self.note("Transcribe job completed")
            if self.deliver_transcribe:
                status = "FAILED" if job.script.get("fail") else "COMPLETED"
                ev = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Transcribe Job State Change",
                      "source": "aws.transcribe", "account": ACCOUNT, "time": iso(self.clock.now())[:19] + "Z",
                      "region": REGION, "resources": [],
                      "detail": {"TranscriptionJobName": job.name, "TranscriptionJobStatus": status}}
                self._deliver(ev, "transcribe")
        if real < 3600:
            self._spawn(done)  # an event to come: the world is not idle before it
        else:
            threading.Thread(target=done, daemon=True).start()  # a job that never ends

    # ------------------------------------------------------------ reading
    def wait(self, cond, timeout_s, what):
        """Wait (real seconds) until cond() holds."""
        end = time.time() + timeout_s
        while not cond():
            if time.time() > end:
                raise TimeoutError(f"{what} did not happen (timeline: {self.timeline})")
            time.sleep(0.05)

    def idle(self):
        """Nothing queued for the function, nothing in flight, no wake-up
        pending, no event or retry still to come."""
        with self.rt.cv:
            busy = bool(self.rt.queue or self.rt.outstanding)
        with self.sqs.cv:
            pending = len(self.sqs.queues[QUEUE].messages)
        with self.lock:
            active = self.active
        return not busy and not pending and not active

    def checkpoints(self):
        """{job id: record} of every checkpoint in the state bucket."""
        with self.s3.lock:
            objs = dict(self.s3.buckets[STATE_BUCKET])
        out = {}
        for k, v in objs.items():
            if k.startswith("vmpipe/") and k.count("/") == 1 and k.endswith(".json"):
                out[k[len("vmpipe/"):-5]] = json.loads(v[0])
        return out

    def stranded(self):
        """Jobs left pending with nothing that will step them: a checkpoint
        not done/failed while the world is idle (no wake-up queued, no event,
        retry or invocation to come).  Only meaningful once idle()."""
        return sorted(i for i, r in self.checkpoints().items() if r.get("state") not in ("done", "failed"))

    def mails(self):
        return list(self.ses.messages)

    def stop(self):
        self.stopping = True
        self.tr.on_start = None
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for f in (self.rt, self.s3, self.tr, self.ses, self.sqs):
            f.stop()
        self.stderr.close()
