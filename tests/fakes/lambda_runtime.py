"""A strict fake of the AWS Lambda Runtime API (2018-06-01) for vmpipe's tests.

It hands out queued events to GET /2018-06-01/runtime/invocation/next (a long
poll, as on Lambda) with the headers Lambda sends:

    Lambda-Runtime-Aws-Request-Id, Lambda-Runtime-Deadline-Ms (epoch ms, counted
    from the moment the event is handed out), Lambda-Runtime-Invoked-Function-Arn,
    Lambda-Runtime-Trace-Id

and checks every call the runtime makes.  Anything the real API would refuse,
or that a correct runtime would not do, is answered as Lambda answers it and
recorded in `violations` (a test asserts that list is empty):

  * an unknown path or a wrong method;
  * a response or error for a request id never handed out, or answered twice
    (one answer per request id);
  * asking for /next while an invocation handed out is still unanswered;
  * /init/error after the first /next, or twice;
  * an /error without the Lambda-Runtime-Function-Error-Type header, whose body
    is not {"errorMessage": str, "errorType": str, ...}, or whose header and
    errorType differ;
  * a response larger than 6 MB (413, as Lambda).

Results are recorded per request id: kind ("response" | "error"), the body
(raw and parsed), the headers, when it arrived and whether that was past the
deadline.  `first_next_at` is the time.time() of the first /next (cold start).

For simulations (tests/fakes/lambda_world.py): `clock` (default time.time)
gives the time deadlines are counted in (a scaled clock when the runtime runs
on VMPIPE_CLOCK=scaled:N@ORIGIN), and each result also carries "v_elapsed",
the invocation's length on that clock; add_event(..., retry=True) hands out
a request id again, as Lambda's asynchronous retries do (the earlier
attempt's result moves to `history`); abandon() forgets what a container
that died had not answered, as Lambda does when its runtime exits.

Usage from a test:

    with LambdaRuntimeFake() as rt:
        rid = rt.add_event({"Details": …}, timeout_ms=30000)
        … start the runtime with AWS_LAMBDA_RUNTIME_API=rt.address …
        res = rt.wait_result(rid, timeout=30)

Also runnable by hand: python3 lambda_runtime.py EVENT.json… prints "PORT n",
serves the events, prints each result as a JSON line.
"""
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"
MAX_RESPONSE = 6 * 1024 * 1024


class Invocation:
    def __init__(self, body, timeout_ms, request_id, trace_id, function_arn):
        self.body = body
        self.timeout_ms = timeout_ms
        self.request_id = request_id
        self.trace_id = trace_id
        self.function_arn = function_arn
        self.deadline_ms = None   # set when handed out
        self.handed_at = None


class LambdaRuntimeFake:
    def __init__(self, function_arn="arn:aws:lambda:us-east-1:123456789012:function:vmpipe",
                 clock=time.time):
        self.function_arn = function_arn
        self.clock = clock
        self.history = []       # results of earlier attempts of retried request ids
        self.cv = threading.Condition()
        self.queue = []
        self.handed = {}        # request id -> Invocation
        self.outstanding = set()
        self.results = {}       # request id -> dict
        self.init_error = None
        self.violations = []
        self.calls = []         # (method, path) in order
        self.first_next_at = None
        self.next_count = 0
        self.stopping = False
        self.server = None

    # ---- test side ----
    def add_event(self, event, timeout_ms=30000, request_id=None, trace_id=None, retry=False):
        body = event if isinstance(event, bytes) else (
            event.encode() if isinstance(event, str) else json.dumps(event).encode())
        rid = request_id or str(uuid.uuid4())
        trace = trace_id or "Root=1-%08x-%s;Parent=%s;Sampled=0" % (
            int(time.time()), uuid.uuid4().hex[:24], uuid.uuid4().hex[:16])
        with self.cv:
            if retry and rid in self.results:
                self.history.append(dict(self.results.pop(rid), request_id=rid))
            self.queue.append(Invocation(body, timeout_ms, rid, trace, self.function_arn))
            self.cv.notify_all()
        return rid

    def wait_result(self, request_id, timeout=30):
        end = time.time() + timeout
        with self.cv:
            while request_id not in self.results:
                left = end - time.time()
                if left <= 0:
                    raise TimeoutError("no result for %s (violations: %s)" %
                                       (request_id, self.violations))
                self.cv.wait(left)
            return self.results[request_id]

    def wait_init_error(self, timeout=30):
        end = time.time() + timeout
        with self.cv:
            while self.init_error is None:
                left = end - time.time()
                if left <= 0:
                    raise TimeoutError("no /init/error (calls: %s)" % self.calls)
                self.cv.wait(left)
            return self.init_error

    def wait_next(self, count=1, timeout=30):
        """Wait until /next was asked `count` times (the runtime is idle, waiting)."""
        end = time.time() + timeout
        with self.cv:
            while self.next_count < count:
                left = end - time.time()
                if left <= 0:
                    raise TimeoutError("runtime asked /next %d times, not %d" %
                                       (self.next_count, count))
                self.cv.wait(left)

    def invocation(self, request_id):
        return self.handed.get(request_id)

    def abandon(self):
        """The container died: what it had not answered is recorded as "crash"
        (Lambda reports such an invocation as failed).  The request ids."""
        now = time.time()
        with self.cv:
            gone = sorted(self.outstanding)
            for rid in gone:
                inv = self.handed[rid]
                self.results[rid] = {"kind": "crash", "body": b"", "json": None, "headers": {},
                                     "at": now, "after_deadline": False, "ms_before_deadline": 0,
                                     "elapsed": now - inv.handed_at,
                                     "v_elapsed": self.clock() - inv.v_handed_at}
            self.outstanding.clear()
            self.cv.notify_all()
            return gone

    @property
    def address(self):
        return "127.0.0.1:%d" % self.server.server_address[1]

    def start(self, port=0):
        fake = self

        class Handler(_Handler):
            pass
        Handler.fake = fake
        self.server = _Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self):
        with self.cv:
            self.stopping = True
            self.cv.notify_all()
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- server side ----
    def violation(self, msg):
        with self.cv:
            self.violations.append(msg)
            self.cv.notify_all()

    def next_invocation(self):
        with self.cv:
            if self.outstanding:
                self.violations.append("/next while %s is unanswered" % sorted(self.outstanding))
            self.next_count += 1
            if self.first_next_at is None:
                self.first_next_at = time.time()
            self.cv.notify_all()
            while not self.queue and not self.stopping:
                self.cv.wait(0.5)
            if self.stopping:
                return None
            inv = self.queue.pop(0)
            inv.handed_at = time.time()
            inv.v_handed_at = self.clock()
            inv.deadline_ms = int(inv.v_handed_at * 1000) + inv.timeout_ms
            self.handed[inv.request_id] = inv
            self.outstanding.add(inv.request_id)
            return inv

    def record(self, request_id, kind, body, headers):
        now = time.time()
        with self.cv:
            inv = self.handed.get(request_id)
            if inv is None:
                self.violations.append("%s for unknown request id %r" % (kind, request_id))
                return 400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
            if request_id in self.results:
                self.violations.append("second %s for %s (first was %s)" %
                                       (kind, request_id, self.results[request_id]["kind"]))
                return 400, {"errorMessage": "Invalid state transition",
                             "errorType": "InvalidStateTransition"}
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            self.outstanding.discard(request_id)
            self.results[request_id] = {
                "kind": kind, "body": body, "json": parsed, "headers": headers,
                "at": now, "after_deadline": self.clock() * 1000 > inv.deadline_ms,
                "ms_before_deadline": inv.deadline_ms - self.clock() * 1000,
                "elapsed": now - inv.handed_at,
                "v_elapsed": self.clock() - inv.v_handed_at,
            }
            self.cv.notify_all()
            return 202, {"status": "OK"}


def _check_error_body(fake, body, headers, where):
    etype = headers.get("lambda-runtime-function-error-type")
    if not etype:
        fake.violation("%s without Lambda-Runtime-Function-Error-Type" % where)
    try:
        doc = json.loads(body)
    except ValueError:
        fake.violation("%s body is not JSON: %r" % (where, body[:200]))
        return
    if not isinstance(doc, dict) or not isinstance(doc.get("errorMessage"), str) \
            or not isinstance(doc.get("errorType"), str):
        fake.violation("%s body lacks errorMessage/errorType strings: %r" % (where, doc))
    elif etype and doc["errorType"] != etype:
        fake.violation("%s header type %r != body errorType %r" % (where, etype, doc["errorType"]))


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # A runtime killed by its test mid-request is normal, not news.
        if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY the body
    # waits for the client's delayed ACK (40 ms) on a kept-alive connection.
    disable_nagle_algorithm = True
    fake = None

    def log_message(self, fmt, *args):
        pass

    def _reply(self, status, doc, headers=None):
        body = json.dumps(doc).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the runtime went away (a test killed it)
            self.close_connection = True

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _headers(self):
        return {k.lower(): v for k, v in self.headers.items()}

    def do_GET(self):
        fake = self.fake
        fake.calls.append(("GET", self.path))
        if self.path != PREFIX + "/invocation/next":
            fake.violation("GET %s" % self.path)
            return self._reply(404, {"errorMessage": "not found", "errorType": "NotFound"})
        inv = fake.next_invocation()
        if inv is None:
            self.close_connection = True
            return self._reply(500, {"errorMessage": "shutting down", "errorType": "ServiceException"})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(inv.body)))
        self.send_header("Lambda-Runtime-Aws-Request-Id", inv.request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(inv.deadline_ms))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", inv.function_arn)
        self.send_header("Lambda-Runtime-Trace-Id", inv.trace_id)
        self.end_headers()
        self.wfile.write(inv.body)

    def do_POST(self):
        fake = self.fake
        body = self._body()
        headers = self._headers()
        fake.calls.append(("POST", self.path))
        if len(body) > MAX_RESPONSE:
            fake.violation("POST %s with %d bytes (> 6 MB)" % (self.path, len(body)))
            return self._reply(413, {"errorMessage": "too large",
                                     "errorType": "RequestEntityTooLarge"})
        if self.path == PREFIX + "/init/error":
            with fake.cv:
                bad = fake.next_count > 0 or fake.init_error is not None
            if bad:
                fake.violation("/init/error after /next or twice")
                return self._reply(403, {"errorMessage": "not allowed",
                                         "errorType": "InvalidStateTransition"})
            _check_error_body(fake, body, headers, "/init/error")
            with fake.cv:
                fake.init_error = {"body": body, "json": json.loads(body or b"null"),
                                   "headers": headers}
                fake.cv.notify_all()
            return self._reply(202, {"status": "OK"})
        parts = self.path.split("/")
        # ['', '2018-06-01', 'runtime', 'invocation', ID, 'response'|'error']
        if (len(parts) != 6 or "/".join(parts[:4]) != PREFIX + "/invocation"
                or parts[5] not in ("response", "error")):
            fake.violation("POST %s" % self.path)
            return self._reply(404, {"errorMessage": "not found", "errorType": "NotFound"})
        kind = parts[5]
        if kind == "error":
            _check_error_body(fake, body, headers, "/error")
        status, doc = fake.record(parts[4], kind, body, headers)
        self._reply(status, doc)

    def do_PUT(self):
        self.fake.violation("PUT %s" % self.path)
        self._reply(405, {"errorMessage": "method not allowed", "errorType": "MethodNotAllowed"})

    do_DELETE = do_PUT
    do_HEAD = do_PUT


def main(argv):
    fake = LambdaRuntimeFake().start()
    print("PORT %d" % fake.server.server_address[1], flush=True)
    rids = [fake.add_event(open(p, "rb").read()) for p in argv[1:]]
    for rid in rids:
        r = fake.wait_result(rid, timeout=3600)
        print(json.dumps({"request_id": rid, "kind": r["kind"], "body": r["body"].decode()}),
              flush=True)
    if fake.violations:
        print(json.dumps({"violations": fake.violations}), flush=True)
    fake.stop()


if __name__ == "__main__":
    main(sys.argv)
