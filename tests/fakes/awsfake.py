"""Strict fakes of AWS endpoints for vmpipe's tests (Debian's /usr/bin/python3).

One base class, FakeAWS, serves HTTP on 127.0.0.1 (ThreadingHTTPServer) and
does what every fake needs:

  * recomputes the SigV4 signature of every signed request with botocore
    (AWS's own signer) from the credentials it was given, and answers
    403 SignatureDoesNotMatch (or InvalidAccessKeyId / the token error) in
    the service's real error shape when anything differs;
  * injects faults to exercise retries: HTTP 5xx, throttling, slow answers,
    connection resets, Retry-After; either a plan (one fault per request, in
    order) or a random rate with a seed;
  * keeps a log of the requests it saw (tests count attempts from it).

Control endpoints (unsigned, under /__fake/): POST /__fake/faults with
{"plan": ["503", "throttle", "reset", "slow:1.5", "retry-after:2", "ok"],
 "rate": 0.3, "kinds": ["503", "throttle", "reset"], "seed": 1},
GET /__fake/log, POST /__fake/reset.  The same settings can be given on the
command line: python3 tests/fakes/awsfake.py s3 --port 0 --creds AK:SK[:TOKEN]
--faults '{"rate": 0.3}' (or AWSFAKE_FAULTS in the environment) prints
"PORT <n>" and serves until killed.

Services are subclasses: S3Fake (PUT/GET/HEAD/ListObjectsV2/CreateBucket,
REST-XML), STSFake (AssumeRoleWithWebIdentity, query protocol), IMDSFake
(IMDSv2) and ContainerFake (ECS/EKS container credentials).  A fake for
another service subclasses FakeAWS, sets `service`/`protocol` and writes
handle().
"""
import base64
import datetime
import hashlib
import json
import os
import random
import re
import socket
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.sax.saxutils import escape

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REST_XML, QUERY, JSON11, REST_JSON = "rest-xml", "query", "json", "rest-json"
SKEW_S = 15 * 60


def iso8601(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


class Reply:
    def __init__(self, status=200, body=b"", headers=None):
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.headers = dict(headers or {})


class Request:
    """What a handler sees: the wire request, already authenticated."""

    def __init__(self, method, raw_path, headers, body):
        self.method = method
        self.raw_path = raw_path
        parts = urlsplit(raw_path)
        self.path = parts.path
        self.raw_query = parts.query
        self.query = parse_qsl(parts.query, keep_blank_values=True)
        self.args = dict(self.query)
        self.headers = headers
        self.body = body
        self.access_key = None
        self.entry = {}


class _UnsignedPayloadQueryAuth(botocore.auth.S3SigV4Auth):
    """Presigned S3 URLs sign UNSIGNED-PAYLOAD."""

    def payload(self, request):
        return botocore.auth.UNSIGNED_PAYLOAD


class _UnsignedPayloadQueryAuthOther(botocore.auth.SigV4Auth):
    def payload(self, request):
        return botocore.auth.UNSIGNED_PAYLOAD


class FakeAWS:
    service = "s3"          # SigV4 signing name
    protocol = REST_XML
    require_signature = True
    # Clock skew allowed between a request's X-Amz-Date and now, as AWS does.
    # A test whose client runs on a faster clock (VMPIPE_CLOCK=scaled:N)
    # widens it on its fake.
    skew_s = SKEW_S
    # Called as after_handle(fake, req, reply) once a signed request was
    # handled, before its answer is sent.
    after_handle = None

    def __init__(self, creds=None, region="us-east-1"):
        # access key id -> (secret, session token or None)
        self.creds = {}
        for c in creds or []:
            self.add_creds(*c)
        self.region = region
        self.lock = threading.Lock()
        self.log = []
        self.plan = []
        self.rate = 0.0
        self.kinds = ["503", "throttle", "reset"]
        self.rng = random.Random(1)
        self.server = None
        self.thread = None

    # ---------------------------------------------------------- life cycle
    def add_creds(self, akid, secret, token=None):
        self.creds[akid] = (secret, token)

    def start(self, port=0):
        fake = self

        class Handler(_Handler):
            pass
        Handler.fake = fake
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    _port = None

    @property
    def port(self):
        # Kept past stop(): a request still being answered may ask for the URL.
        if self.server is not None:
            self._port = self.server.server_address[1]
        return self._port

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---------------------------------------------------------- faults
    def set_faults(self, plan=None, rate=0.0, kinds=None, seed=1):
        with self.lock:
            self.plan = list(plan or [])
            self.rate = float(rate)
            if kinds:
                self.kinds = list(kinds)
            self.rng = random.Random(seed)

    def next_fault(self):
        with self.lock:
            if self.plan:
                f = self.plan.pop(0)
                return None if f == "ok" else f
            if self.rate and self.rng.random() < self.rate:
                return self.rng.choice(self.kinds)
        return None

    def requests(self, path_prefix=None):
        with self.lock:
            return [r for r in self.log
                    if path_prefix is None or r["path"].startswith(path_prefix)]

    # ---------------------------------------------------------- errors
    def error(self, status, code, message, headers=None):
        """An error in this service's protocol shape."""
        rid = str(uuid.uuid4())
        h = dict(headers or {})
        if self.protocol == REST_XML:
            h.update({"Content-Type": "application/xml", "x-amz-request-id": rid})
            body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                    f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
                    f"<RequestId>{rid}</RequestId><HostId>{base64.b64encode(rid.encode()).decode()}"
                    "</HostId></Error>")
        elif self.protocol == QUERY:
            h.update({"Content-Type": "text/xml", "x-amzn-RequestId": rid})
            kind = "Receiver" if status >= 500 else "Sender"
            body = ('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                    f"<Error><Type>{kind}</Type><Code>{escape(code)}</Code>"
                    f"<Message>{escape(message)}</Message></Error>"
                    f"<RequestId>{rid}</RequestId></ErrorResponse>")
        elif self.protocol == JSON11:
            h.update({"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": rid})
            body = json.dumps({"__type": code, "message": message})
        else:
            h.update({"Content-Type": "application/json", "x-amzn-RequestId": rid,
                      "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/"})
            body = json.dumps({"message": message})
        return Reply(status, body, h)

    def throttle_error(self):
        if self.protocol == REST_XML:
            return self.error(503, "SlowDown", "Please reduce your request rate.")
        if self.protocol == QUERY:
            return self.error(400, "Throttling", "Rate exceeded")
        if self.protocol == JSON11:
            return self.error(400, "ThrottlingException", "Rate exceeded")
        return self.error(429, "TooManyRequestsException", "Too Many Requests")

    def server_error(self, status):
        code = {500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable",
                504: "GatewayTimeout"}.get(status, "InternalError")
        if self.protocol in (JSON11, REST_JSON):
            code = {500: "InternalFailure", 503: "ServiceUnavailableException"}.get(
                status, code)
        return self.error(status, code, "We encountered an internal error. Please try again.")

    # ---------------------------------------------------------- signatures
    def verify(self, req, host):
        """None when the request is signed right, else the error Reply."""
        auth = req.headers.get("Authorization")
        presigned = "X-Amz-Signature" in req.args
        if not auth and not presigned:
            if not self.require_signature:
                return None
            return self.error(403, "AccessDenied" if self.protocol == REST_XML
                              else "MissingAuthenticationTokenException",
                              "Missing Authentication Token")
        try:
            if presigned:
                cred = req.args["X-Amz-Credential"]
                signed = req.args["X-Amz-SignedHeaders"].split(";")
                amz_date = req.args["X-Amz-Date"]
                given = req.args["X-Amz-Signature"]
                token = req.args.get("X-Amz-Security-Token")
                expires = int(req.args["X-Amz-Expires"])
                if req.args.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
                    raise ValueError("algorithm")
            else:
                algo, _, rest = auth.partition(" ")
                if algo != "AWS4-HMAC-SHA256":
                    raise ValueError("algorithm")
                fields = dict(p.strip().split("=", 1) for p in rest.split(","))
                cred = fields["Credential"]
                signed = fields["SignedHeaders"].split(";")
                given = fields["Signature"]
                amz_date = req.headers["X-Amz-Date"]
                token = req.headers.get("X-Amz-Security-Token")
                expires = None
            akid, day, region, service, term = cred.split("/")
        except (KeyError, ValueError):
            return self.error(400, "AuthorizationHeaderMalformed"
                              if self.protocol == REST_XML else "IncompleteSignatureException",
                              "The authorization header is malformed")
        if akid not in self.creds:
            return self.error(403, "InvalidAccessKeyId" if self.protocol == REST_XML
                              else "UnrecognizedClientException",
                              "The AWS Access Key Id you provided does not exist in our records.")
        secret, want_token = self.creds[akid]
        if want_token is not None and token != want_token:
            return self.error(403, "InvalidToken" if self.protocol == REST_XML
                              else "UnrecognizedClientException",
                              "The provided token is malformed or otherwise invalid.")
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        now = time.time()
        if expires is not None and now > when + expires:
            return self.error(403, "AccessDenied", "Request has expired")
        if expires is None and abs(now - when) > self.skew_s:
            return self.error(403, "RequestTimeTooSkewed" if self.protocol == REST_XML
                              else "InvalidSignatureException",
                              "The difference between the request time and the current time "
                              "is too large.")
        if (day != amz_date[:8] or region != self.region or service != self.service
                or term != "aws4_request" or "host" not in signed):
            return self._mismatch(req, akid, "credential scope or signed headers")
        if self.service == "s3" and not presigned:
            sha = req.headers.get("x-amz-content-sha256")
            if sha is None:
                return self.error(400, "InvalidRequest", "Missing required header for this "
                                  "request: x-amz-content-sha256")
            if sha != "UNSIGNED-PAYLOAD" and sha != hashlib.sha256(req.body).hexdigest():
                return self.error(400, "XAmzContentSHA256Mismatch", "The provided "
                                  "'x-amz-content-sha256' header does not match what was "
                                  "computed.")

        # Rebuild the request from what was on the wire and let botocore sign it.
        query = "&".join(p for p in req.raw_query.split("&")
                         if p and not p.startswith("X-Amz-Signature="))
        url = f"http://{host}{req.path}" + (f"?{query}" if query else "")
        headers = {}
        for name in signed:
            values = req.headers.get_all(name) or []
            if not values:
                return self._mismatch(req, akid, f"signed header {name} missing")
            headers[name] = ",".join(values)
        aws_req = AWSRequest(method=req.method, url=url, headers=headers, data=req.body)
        aws_req.context["timestamp"] = amz_date
        creds = Credentials(akid, secret, token)
        if presigned:
            cls = (_UnsignedPayloadQueryAuth if self.service == "s3"
                   else _UnsignedPayloadQueryAuthOther)
        else:
            cls = botocore.auth.S3SigV4Auth if self.service == "s3" else botocore.auth.SigV4Auth
        signer = cls(creds, self.service, self.region)
        canonical = signer.canonical_request(aws_req)
        sts = signer.string_to_sign(aws_req, canonical)
        want = signer.signature(sts, aws_req)
        if want != given:
            return self._mismatch(req, akid, "signature", canonical)
        req.access_key = akid
        return None

    def _mismatch(self, req, akid, why, canonical=None):
        with self.lock:
            req.entry["mismatch"] = why
            if canonical is not None:
                req.entry["canonical"] = canonical
        return self.error(403, "SignatureDoesNotMatch",
                          "The request signature we calculated does not match the signature "
                          "you provided. Check your key and signing method.")

    # ---------------------------------------------------------- dispatch
    def handle(self, req):  # pragma: no cover - subclasses
        return self.error(501, "NotImplemented", "not implemented by this fake")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake = None

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without this, Nagle plus the
        # client's delayed ACK adds 40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _reset(self):
        """Abort the connection with a TCP RST (SO_LINGER 0)."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _send(self, reply):
        self.send_response(reply.status)
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def _control(self, path, body):
        fake = self.fake
        if path == "/__fake/faults":
            cfg = json.loads(body or b"{}")
            fake.set_faults(cfg.get("plan"), cfg.get("rate", 0.0), cfg.get("kinds"),
                            cfg.get("seed", 1))
            return Reply(200, "{}")
        if path == "/__fake/log":
            return Reply(200, json.dumps(fake.requests()), {"Content-Type": "application/json"})
        if path == "/__fake/reset":
            with fake.lock:
                fake.log.clear()
            return Reply(200, "{}")
        return Reply(404, "no such control endpoint")

    def _any(self):
        fake = self.fake
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path.startswith("/__fake/"):
            return self._send(self._control(urlsplit(self.path).path, body))
        req = Request(self.command, self.path, self.headers, body)
        entry = {"method": self.command, "path": req.path, "query": req.raw_query,
                 "time": time.time(), "signed": bool(self.headers.get("Authorization")
                                                      or "X-Amz-Signature" in req.args)}
        m = re.search(r"Signature=([0-9a-f]+)", self.headers.get("Authorization", ""))
        sig = m.group(1) if m else req.args.get("X-Amz-Signature")
        if sig:
            entry["signature"] = sig
        for h in ("If-Match", "If-None-Match"):
            if self.headers.get(h) is not None:
                entry[h] = self.headers.get(h)
        req.entry = entry
        with fake.lock:
            fake.log.append(entry)
        fault = fake.next_fault()
        entry["fault"] = fault
        if fault == "reset":
            return self._reset()
        if fault and fault.startswith("slow:"):
            time.sleep(float(fault[5:]))
            fault = None
        if fault == "throttle":
            return self._send(fake.throttle_error())
        if fault and fault.startswith("retry-after:"):
            r = fake.server_error(503)
            r.headers["Retry-After"] = fault[12:]
            return self._send(r)
        if fault and fault.isdigit():
            return self._send(fake.server_error(int(fault)))
        host = self.headers.get("Host", f"127.0.0.1:{fake.port}")
        bad = fake.verify(req, host)
        if bad:
            entry["status"] = bad.status
            return self._send(bad)
        reply = fake.handle(req)
        entry["status"] = reply.status
        if fake.after_handle:
            # The request took effect; its client has not heard of it yet
            # (a test may kill the client here).
            fake.after_handle(fake, req, reply)
        return self._send(reply)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any


# ============================================================== services


class S3Fake(FakeAWS):
    """S3 (path-style): buckets, objects, ListObjectsV2 with continuation."""
    service = "s3"
    protocol = REST_XML

    def __init__(self, creds=None, region="us-east-1"):
        super().__init__(creds, region)
        self.buckets = {}  # name -> {key: (bytes, content type, etag)}
        self.mtimes = {}   # (bucket, key) -> LastModified (epoch s, self.clock)

    # The clock of LastModified (a time-scaled test sets its virtual clock).
    clock = staticmethod(time.time)

    def put(self, bucket, key, data, content_type="application/octet-stream"):
        with self.lock:
            self.buckets.setdefault(bucket, {})[key] = (
                data, content_type, '"%s"' % hashlib.md5(data).hexdigest())
            self.mtimes[(bucket, key)] = self.clock()

    def handle(self, req):
        parts = req.path.lstrip("/").split("/", 1)
        bucket = unquote(parts[0])
        key = unquote(parts[1]) if len(parts) > 1 else ""
        if not bucket:
            return self.error(400, "InvalidRequest", "no bucket")
        with self.lock:
            objs = self.buckets.get(bucket)
        if req.method == "PUT" and not key:
            with self.lock:
                self.buckets.setdefault(bucket, {})
            return Reply(200)
        if objs is None:
            return self.error(404, "NoSuchBucket", "The specified bucket does not exist")
        if not key and req.method == "GET" and req.args.get("list-type") == "2":
            return self.list_v2(bucket, objs, req.args)
        if req.method == "PUT":
            # Conditional writes, as S3 documents them: If-None-Match takes
            # only "*" (create, never replace); If-Match an ETag (replace
            # only what was read).  A failed condition is 412
            # PreconditionFailed; If-Match on a missing key is 404 NoSuchKey.
            inm = req.headers.get("If-None-Match")
            im = req.headers.get("If-Match")
            if inm is not None and inm != "*":
                return self.error(501, "NotImplemented",
                                  "If-None-Match on PUT takes only the value *")
            with self.lock:
                cur = objs.get(key)
                if inm == "*" and cur is not None:
                    return self.error(412, "PreconditionFailed",
                                      "At least one of the pre-conditions you specified did not hold")
                if im is not None:
                    if cur is None:
                        return self.error(404, "NoSuchKey", "The specified key does not exist.")
                    if im != cur[2]:
                        return self.error(412, "PreconditionFailed",
                                          "At least one of the pre-conditions you specified did not hold")
                etag = '"%s"' % hashlib.md5(req.body).hexdigest()
                objs[key] = (req.body, req.headers.get("Content-Type", "application/octet-stream"),
                             etag)
                self.mtimes[(bucket, key)] = self.clock()
                return Reply(200, b"", {"ETag": etag})
        if req.method in ("GET", "HEAD"):
            with self.lock:
                obj = objs.get(key)
            if obj is None:
                if req.method == "HEAD":
                    return Reply(404)
                return self.error(404, "NoSuchKey", "The specified key does not exist.")
            data, ctype, etag = obj
            return Reply(200, data, {"Content-Type": ctype, "ETag": etag})
        if req.method == "DELETE":
            with self.lock:
                objs.pop(key, None)
            return Reply(204)
        return self.error(405, "MethodNotAllowed", "not allowed")

    def list_v2(self, bucket, objs, args):
        prefix = args.get("prefix", "")
        delim = args.get("delimiter")
        max_keys = int(args.get("max-keys", "1000"))
        start = args.get("continuation-token")
        if start is not None:
            start = base64.urlsafe_b64decode(start.encode()).decode()
        keys = sorted(k for k in objs if k.startswith(prefix) and (start is None or k > start))
        folders = []
        if delim:
            # S3 rolls keys with the delimiter after the prefix into CommonPrefixes.
            rest = [k for k in keys if delim in k[len(prefix):]]
            folders = sorted({k[:len(prefix) + k[len(prefix):].index(delim) + len(delim)] for k in rest})
            keys = [k for k in keys if k not in set(rest)]
        page, more = keys[:max_keys], len(keys) > max_keys
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n'
               '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
               f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix>",
               f"<KeyCount>{len(page)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>",
               f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>"]
        if "continuation-token" in args:
            out.append(f"<ContinuationToken>{escape(args['continuation-token'])}"
                       "</ContinuationToken>")
        if more:
            tok = base64.urlsafe_b64encode(page[-1].encode()).decode()
            out.append(f"<NextContinuationToken>{tok}</NextContinuationToken>")
        for k in page:
            data, _, etag = objs[k]
            lm = self.mtimes.get((bucket, k), 0.0)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(lm)) + ".%03dZ" % (int(lm * 1000) % 1000)
            out.append(f"<Contents><Key>{escape(k)}</Key><LastModified>{stamp}</LastModified>"
                       f"<ETag>{escape(etag)}</ETag><Size>{len(data)}</Size>"
                       "<StorageClass>STANDARD</StorageClass></Contents>")
        if delim:
            out.append(f"<Delimiter>{escape(delim)}</Delimiter>")
            out.extend(f"<CommonPrefixes><Prefix>{escape(f)}</Prefix></CommonPrefixes>" for f in folders)
        out.append("</ListBucketResult>")
        return Reply(200, "".join(out), {"Content-Type": "application/xml"})


class STSFake(FakeAWS):
    """STS AssumeRoleWithWebIdentity (unsigned, query protocol)."""
    service = "sts"
    protocol = QUERY
    require_signature = False

    def __init__(self, web_token, role_arn, issue=("ASIAWEBID", "webid-secret", "webid-token"),
                 duration_s=3600, region="us-east-1"):
        super().__init__([], region)
        self.web_token = web_token
        self.role_arn = role_arn
        self.issue = issue
        self.duration_s = duration_s
        self.calls = []

    def handle(self, req):
        if req.method != "POST":
            return self.error(400, "InvalidAction", "POST only")
        form = dict(parse_qsl(req.body.decode(), keep_blank_values=True))
        self.calls.append({k: v for k, v in form.items() if k != "WebIdentityToken"})
        if form.get("Action") != "AssumeRoleWithWebIdentity" or form.get("Version") != "2011-06-15":
            return self.error(400, "InvalidAction", "Could not find operation")
        if not form.get("RoleSessionName"):
            return self.error(400, "ValidationError", "RoleSessionName is required")
        if form.get("RoleArn") != self.role_arn:
            return self.error(403, "AccessDenied", "Not authorized to perform "
                              "sts:AssumeRoleWithWebIdentity")
        if form.get("WebIdentityToken") != self.web_token:
            return self.error(400, "InvalidIdentityToken", "Couldn't retrieve verification "
                              "key from your identity provider")
        akid, secret, token = self.issue
        exp = iso8601(time.time() + self.duration_s)
        body = ('<AssumeRoleWithWebIdentityResponse '
                'xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                "<AssumeRoleWithWebIdentityResult>"
                f"<SubjectFromWebIdentityToken>system:serviceaccount:x</SubjectFromWebIdentityToken>"
                f"<AssumedRoleUser><Arn>{escape(self.role_arn)}/{escape(form['RoleSessionName'])}"
                "</Arn><AssumedRoleId>AROA:x</AssumedRoleId></AssumedRoleUser>"
                f"<Credentials><SessionToken>{escape(token)}</SessionToken>"
                f"<SecretAccessKey>{escape(secret)}</SecretAccessKey>"
                f"<Expiration>{exp}</Expiration><AccessKeyId>{escape(akid)}</AccessKeyId>"
                "</Credentials><Audience>sts.amazonaws.com</Audience>"
                "</AssumeRoleWithWebIdentityResult><ResponseMetadata>"
                f"<RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
                "</AssumeRoleWithWebIdentityResponse>")
        return Reply(200, body, {"Content-Type": "text/xml"})


class _MetadataFake(FakeAWS):
    """Credential endpoints are not SigV4-signed (the container one takes a
    bearer token in Authorization, checked by handle())."""
    require_signature = False
    protocol = REST_JSON

    def verify(self, req, host):
        return None

    def creds_doc(self):
        akid, secret, token = self.issue
        return json.dumps({"Code": "Success", "LastUpdated": iso8601(time.time()),
                           "Type": "AWS-HMAC", "AccessKeyId": akid,
                           "SecretAccessKey": secret, "Token": token,
                           "Expiration": iso8601(time.time() + self.duration_s)})


class IMDSFake(_MetadataFake):
    """EC2 instance metadata, IMDSv2 only (token required), one IAM role."""
    service = "imds"

    def __init__(self, role="vmpipe-role", issue=("ASIAIMDS", "imds-secret", "imds-token"),
                 duration_s=3600, v1_only=False):
        super().__init__([])
        self.role = role
        self.issue = issue
        self.duration_s = duration_s
        self.v1_only = v1_only
        self.tokens = set()

    def handle(self, req):
        if req.path == "/latest/api/token":
            if self.v1_only:
                return Reply(403)
            ttl = req.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if req.method != "PUT" or not ttl or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return Reply(400)
            tok = base64.b64encode(uuid.uuid4().bytes).decode()
            self.tokens.add(tok)
            return Reply(200, tok, {"X-aws-ec2-metadata-token-ttl-seconds": ttl})
        if not self.v1_only and req.headers.get("X-aws-ec2-metadata-token") not in self.tokens:
            return Reply(401)
        base = "/latest/meta-data/iam/security-credentials/"
        if req.method != "GET":
            return Reply(405)
        if req.path == base:
            return Reply(200, self.role, {"Content-Type": "text/plain"})
        if req.path == base + self.role:
            return Reply(200, self.creds_doc(), {"Content-Type": "text/plain"})
        return Reply(404)


class ContainerFake(_MetadataFake):
    """The ECS/EKS container credentials endpoint."""
    service = "container"

    def __init__(self, path="/v2/credentials/task", auth_token=None,
                 issue=("ASIACONT", "container-secret", "container-token"), duration_s=3600):
        super().__init__([])
        self.cred_path = path
        self.auth_token = auth_token
        self.issue = issue
        self.duration_s = duration_s

    def handle(self, req):
        if self.auth_token is not None and req.headers.get("Authorization") != self.auth_token:
            return Reply(401, json.dumps({"code": "Unauthorized"}))
        if req.method != "GET" or req.path != self.cred_path:
            return Reply(404)
        return Reply(200, self.creds_doc(), {"Content-Type": "application/json"})


SERVICES = {"s3": S3Fake, "sts": STSFake, "imds": IMDSFake, "container": ContainerFake}


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="run one strict AWS fake on 127.0.0.1")
    ap.add_argument("service", choices=sorted(SERVICES))
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--creds", action="append", default=[], help="AKID:SECRET[:TOKEN]")
    ap.add_argument("--faults", default=os.environ.get("AWSFAKE_FAULTS"),
                    help="JSON as for POST /__fake/faults (default: $AWSFAKE_FAULTS)")
    ap.add_argument("--web-token", default="web-identity-token")
    ap.add_argument("--role-arn", default="arn:aws:iam::123456789012:role/vmpipe")
    a = ap.parse_args(argv)
    if a.service == "sts":
        fake = STSFake(a.web_token, a.role_arn, region=a.region)
    elif a.service in ("imds", "container"):
        fake = SERVICES[a.service]()
    else:
        fake = SERVICES[a.service]([c.split(":", 2) for c in a.creds], a.region)
    serve(fake, a.faults, a.port)


def serve(fake, faults, port):
    """Run a fake from the command line: faults (JSON: plan, rate, kinds,
    seed) applied, "PORT n" printed for the test, until interrupted."""
    if faults:
        cfg = json.loads(faults)
        fake.set_faults(cfg.get("plan"), cfg.get("rate", 0.0), cfg.get("kinds"),
                        cfg.get("seed", 1))
    fake.start(port)
    print(f"PORT {fake.port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    fake.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
