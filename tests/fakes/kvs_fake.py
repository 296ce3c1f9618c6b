"""A strict fake of Kinesis Video Streams for locate-kvs: the control
plane's GetDataEndpoint and the data plane's GetMedia, on awsfake.FakeAWS
(SigV4 recomputed with botocore; both sign as "kinesisvideo").

Requests are validated against the service models in python3-botocore
(kinesisvideo GetDataEndpoint, kinesis-video-media GetMedia: method, URI,
members, enums, lengths, required fields; botocore.validate), and answered
as they document: GetDataEndpoint {"DataEndpoint": URL} (this fake's own
URL); GetMedia a chunked stream of the stored fragments (Content-Type
video/webm), starting with the fragment whose number is AfterFragmentNumber
(the GetMedia reference says "from where you want the GetMedia API to start
returning the fragments"), cut into chunks whose sizes do not line up with
Matroska elements.  Errors in the rest-json shape (x-amzn-ErrorType):
ResourceNotFoundException for an unknown stream, InvalidArgumentException
for a fragment number the stream does not have.

A stream may be `live`: after its fragments the answer stays open (as
GetMedia does at the tip of a stream) until the client goes away or the
fake stops; `cut_at` ends each answer cleanly after that many of its bytes (a
stream that ends mid-cluster); `reset_once_after` breaks the next answer
with a TCP RST after that many bytes.  `gets` records each GetMedia: the
bytes sent and whether the client closed it before the end.
"""
import json
import threading

import botocore.exceptions
import botocore.session
import botocore.validate

import awsfake
from awsfake import REST_JSON, Reply, _Handler

CHUNKS = (1000, 37, 4096, 5, 777, 65536, 3)  # in turn: never aligned with elements


def _model(service, op):
    m = botocore.session.get_session().get_service_model(service)
    return m.operation_model(op)


class StreamReply(Reply):
    def __init__(self, data, live=False, cut_at=None, record=None, stopping=None, reset_after=None):
        super().__init__(200, b"", {"Content-Type": "video/webm", "x-amzn-RequestId": "kvs-fake"})
        self.data = data if cut_at is None else data[:cut_at]
        self.reset_after = reset_after
        self.live = live
        self.record = record
        self.stopping = stopping


class _StreamHandler(_Handler):
    def _send(self, reply):
        if not isinstance(reply, StreamReply):
            return super()._send(reply)
        self.send_response(reply.status)
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        pos, k = 0, 0
        try:
            while pos < len(reply.data):
                n = CHUNKS[k % len(CHUNKS)]
                part = reply.data[pos:pos + n]
                self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
                self.wfile.flush()
                pos += len(part)
                k += 1
                reply.record["sent"] = pos
                if reply.reset_after is not None and pos >= reply.reset_after:
                    reply.record["reset"] = True
                    return self._reset()  # the connection breaks mid-answer (TCP RST)
            if reply.live:
                # The tip of a live stream: nothing more until the client leaves.
                self.connection.settimeout(0.2)
                while not reply.stopping.is_set():
                    try:
                        if self.connection.recv(1) == b"":
                            break
                    except OSError as e:
                        if "timed out" not in str(e):
                            break
                reply.record["closed_early"] = True
                self.close_connection = True
                return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            reply.record["closed_early"] = True
            self.close_connection = True


class KVSFake(awsfake.FakeAWS):
    service = "kinesisvideo"
    protocol = REST_JSON

    def __init__(self, creds=None, region="us-east-1"):
        super().__init__(creds, region)
        self.streams = {}   # ARN -> {"fragments": [(number, bytes)], "live": bool, "cut_at": int|None}
        self.gets = []      # one record per GetMedia answered with a stream
        self.stopping = threading.Event()
        self.ops = {"/getDataEndpoint": _model("kinesisvideo", "GetDataEndpoint"),
                    "/getMedia": _model("kinesis-video-media", "GetMedia")}

    def start(self, port=0):
        fake = self

        class Handler(_StreamHandler):
            pass
        Handler.fake = fake
        self.server = awsfake.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        super().stop()

    def add_stream(self, arn, fragments, live=False, cut_at=None, reset_once_after=None):
        """reset_once_after: the next GetMedia breaks (RST) after that many bytes."""
        with self.lock:
            self.streams[arn] = {"fragments": list(fragments), "live": live, "cut_at": cut_at,
                                 "reset": reset_once_after}

    def _validate(self, req):
        op = self.ops.get(req.path)
        if op is None or req.method != op.http["method"]:
            return None, self.error(404, "UnknownOperationException", f"{req.method} {req.path}")
        try:
            params = json.loads(req.body or b"{}")
        except ValueError:
            return None, self.error(400, "SerializationException", "the body is not JSON")
        if req.headers.get("Content-Type", "").split(";")[0] not in ("application/json",
                                                                     "application/x-amz-json-1.1"):
            return None, self.error(400, "SerializationException", "Content-Type is not JSON")
        try:
            botocore.validate.validate_parameters(params, op.input_shape)
        except botocore.exceptions.ParamValidationError as e:
            return None, self.error(400, "InvalidArgumentException", str(e).replace("\n", " "))
        return params, None

    def handle(self, req):
        params, bad = self._validate(req)
        if bad:
            return bad
        arn = params.get("StreamARN")
        with self.lock:
            stream = self.streams.get(arn)
        if not arn or stream is None:
            return self.error(404, "ResourceNotFoundException", f"stream {arn or params.get('StreamName')} not found")
        if req.path == "/getDataEndpoint":
            if params["APIName"] != "GET_MEDIA":
                return self.error(400, "InvalidArgumentException", "this fake serves GET_MEDIA only")
            return Reply(200, json.dumps({"DataEndpoint": self.url}), {"Content-Type": "application/json"})
        sel = params["StartSelector"]
        if sel["StartSelectorType"] != "FRAGMENT_NUMBER" or "AfterFragmentNumber" not in sel:
            return self.error(400, "InvalidArgumentException", "this fake serves FRAGMENT_NUMBER selectors")
        numbers = [str(n) for n, _ in stream["fragments"]]
        if sel["AfterFragmentNumber"] not in numbers:
            return self.error(400, "InvalidArgumentException",
                              f"fragment {sel['AfterFragmentNumber']} is not in the stream")
        i = numbers.index(sel["AfterFragmentNumber"])
        data = b"".join(f for _, f in stream["fragments"][i:])
        record = {"arn": arn, "from": sel["AfterFragmentNumber"], "sent": 0, "closed_early": False,
                  "total": len(data)}
        with self.lock:
            self.gets.append(record)
            reset, stream["reset"] = stream["reset"], None
        return StreamReply(data, stream["live"], stream["cut_at"], record, self.stopping, reset)
