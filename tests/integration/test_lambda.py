"""vmpipe as an AWS Lambda custom runtime, tested from the deployment package.

`make lambda`'s script builds the zip from the build under test; each test
unpacks it into an empty directory and starts `bootstrap` with exactly the
variables Lambda sets (an `env -i` environment) against the strict Runtime
API fake (tests/fakes/lambda_runtime.py), which records every answer and
every protocol violation.  The S3 side of link mode runs against the strict
S3 fake (tests/fakes/awsfake.py: SigV4 checked with botocore).

The AWS pipeline (locate-s3 → transcribe-aws → notify-ses, the packaged
etc/pipeline.ini) runs against the strict fakes of S3, Transcribe and SES v2.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import shlex
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile

import pytest

from conftest import BUILD, ROOT, VMPIPE, connect_event

sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import awsfake  # noqa: E402
from lambda_runtime import LambdaRuntimeFake  # noqa: E402

AKID, SECRET, TOKEN = "ASIAVMPIPELAMBDA", "lambda/secret+Key0123456789abcdefXYZ", "IQoJb3JpZ2luX2VjEXAMPLETOKEN=="
LINK_SECRET = "0123456789abcdef0123456789abcdef-link-secret"
CONTACT = "c0ffee00-1111-2222-3333-444455556666"
SAN = "san" in os.path.basename(BUILD)


def wav_bytes(seconds=0.3, rate=8000):
    n = int(seconds * rate)
    samples = b"".join(struct.pack("<h", 8000 if (i // 20) % 2 else -8000) for i in range(n))
    hdr = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVE"
    hdr += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return hdr + b"data" + struct.pack("<I", len(samples)) + samples


@pytest.fixture(scope="session")
def package(tmp_path_factory):
    out = tmp_path_factory.mktemp("lambda-zip") / "vmpipe-lambda.zip"
    proc = subprocess.run(["sh", "scripts/package-lambda.sh", BUILD, str(out)], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "bytes" in proc.stdout  # the size is printed
    return str(out)


def unpack(zip_path, dest):
    """Unzip keeping the Unix modes (Lambda does; zipfile alone does not)."""
    with zipfile.ZipFile(zip_path) as z:
        for info in z.infolist():
            z.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(os.path.join(dest, info.filename), mode)
    return str(dest)


class Fn:
    """One unpacked function: its root, a test pipeline, the runtime process."""

    def __init__(self, root, tmp):
        self.root = root
        self.tmp = tmp
        self.rec = tmp / "rec"
        self.out = tmp / "out"
        self.rec.mkdir()
        self.out.mkdir()
        self.proc = None
        self.stderr_path = tmp / "stderr.log"

    def pipeline(self, name="test.ini", timeout="20s", notify=None, locate_wait="2m"):
        notify = notify or f"plugin = notify-file\ndir = {self.out}\nfrom = Voicemail <vm@localhost>\n"
        path = os.path.join(self.root, "etc", name)
        with open(path, "w") as f:
            f.write(f"[pipeline]\ntimeout = {timeout}\n\n[locate]\nplugin = locate-file\n"
                    f"dir = {self.rec}\npattern = {{initial_contact_id}}.wav\nwait = {locate_wait}\n"
                    f"settle = 0s\n\n[notify]\n{notify}")
        return path

    def env(self, rt, **extra):
        """What Lambda puts in a provided.al2023 function's environment, and nothing else."""
        e = {
            "AWS_LAMBDA_RUNTIME_API": rt.address,
            "LAMBDA_TASK_ROOT": self.root,
            "LAMBDA_RUNTIME_DIR": self.root,
            "_HANDLER": "vmpipe",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": "vmpipe",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/vmpipe",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]0123456789abcdef",
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_ACCESS_KEY_ID": AKID,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_SESSION_TOKEN": TOKEN,
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
            "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:"
                               "/var/task:/var/task/lib:/opt/lib",
        }
        e.update({k: v for k, v in extra.items() if v is not None})
        return e

    def start(self, rt, **extra):
        self.errf = open(self.stderr_path, "w")
        self.proc = subprocess.Popen([os.path.join(self.root, "bootstrap")], env=self.env(rt, **extra),
                                     cwd=self.tmp, stdout=subprocess.DEVNULL, stderr=self.errf)
        return self.proc

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            self.proc.wait(timeout=10)
            self.errf.close()

    def logs(self):
        with open(self.stderr_path) as f:
            return f.read()

    def log_lines(self):
        return [json.loads(l) for l in self.logs().splitlines() if l.strip()]


@pytest.fixture
def fn(package, tmp_path):
    root = tmp_path / "task"
    root.mkdir()
    f = Fn(unpack(package, root), tmp_path)
    yield f
    f.stop()


@pytest.fixture
def rt():
    with LambdaRuntimeFake() as r:
        yield r
    assert not r.violations, r.violations


def event(contact=CONTACT, **kw):
    return connect_event(contact_id=contact, **kw)


# ---------------------------------------------------------------- the package

def elf_needed(path):
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True).stdout
    return [l.split("[")[1].split("]")[0] for l in out.splitlines() if "(NEEDED)" in l]


def test_package_layout(package, tmp_path):
    root = unpack(package, tmp_path)
    names = set(zipfile.ZipFile(package).namelist())
    for must in ("bootstrap", "bin/vmpipe", "lib/libc.so.6", "lib/vmpipe/plugins/locate-file.so",
                 "lib/vmpipe/plugins/notify-file.so", "etc/templates/voicemail.html"):
        assert must in names, must
    assert any(n.startswith("lib/ld-linux") for n in names)
    # PocketSphinx stays out of the Lambda package (Transcribe does the speech there).
    assert not any("transcribe-sphinx" in n or "pocketsphinx" in n for n in names)
    assert os.access(os.path.join(root, "bootstrap"), os.X_OK)
    # bootstrap is static: nothing of the image's libraries is needed to start.
    assert elf_needed(os.path.join(root, "bootstrap")) == []
    # Every library any packaged object needs is in lib/ (the closure is complete).
    libdir = os.path.join(root, "lib")
    objs = [os.path.join(root, "bin", "vmpipe")]
    objs += [os.path.join(libdir, "vmpipe", "plugins", p)
             for p in os.listdir(os.path.join(libdir, "vmpipe", "plugins"))]
    objs += [os.path.join(libdir, p) for p in os.listdir(libdir) if ".so" in p]
    for o in objs:
        for need in elf_needed(o):
            assert os.path.exists(os.path.join(libdir, need)), f"{o} needs {need}"


def outside_mappings(pid, root):
    """File-backed mappings of the process that are not inside the package."""
    bad = set()
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(None, 5)
            path = parts[5].strip() if len(parts) == 6 else ""
            if path.startswith("/") and not path.startswith(root + "/"):
                bad.add(path)
    return sorted(bad)


# ---------------------------------------------------------------- events

def test_local_pipeline_success(fn, rt):
    (fn.rec / f"{CONTACT}.wav").write_bytes(wav_bytes())
    second = "c0ffee00-9999-2222-3333-444455556666"
    (fn.rec / f"{second}.wav").write_bytes(wav_bytes())
    r1 = rt.add_event(event(), timeout_ms=30000, trace_id="Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    r2 = rt.add_event(event(second), timeout_ms=30000)
    fn.start(rt, VMPIPE_PIPELINE=fn.pipeline())
    for rid, cid in ((r1, CONTACT), (r2, second)):
        res = rt.wait_result(rid)
        assert res["kind"] == "response", res
        rec = res["json"]
        assert rec["state"] == "done" and rec["contact"]["id"] == cid
        assert len(rec["notifications"]) == 1
        assert (fn.out / f"{cid}.eml").exists()
        assert not res["after_deadline"]
    rt.wait_next(3)  # idle again, plugins loaded, curl initialised
    # Nothing was loaded from outside the package: not the image's libc, not a plugin.
    assert outside_mappings(fn.proc.pid, fn.root) == []
    lines = fn.log_lines()  # AWS_LAMBDA_LOG_FORMAT=JSON: every line is JSON
    # The pipeline and its plugins are loaded once per container, not per event.
    assert sum("loaded" in l["msg"] for l in lines) == 1
    assert any("Root=1-5759e988-bd862e3fe1be46a994272793" in l["msg"] for l in lines)


@pytest.mark.parametrize("body,what", [
    (b"{not json", "not valid JSON"),
    (json.dumps({"hello": "world"}).encode(), "expected an Amazon Connect"),
    (json.dumps({"Details": {"ContactData": {"ContactId": "../../etc/passwd"}}}).encode(), "plain id"),
])
def test_malformed_event(fn, rt, body, what):
    rid = rt.add_event(body)
    fn.start(rt, VMPIPE_PIPELINE=fn.pipeline())
    res = rt.wait_result(rid)
    assert res["kind"] == "error"
    assert res["json"]["errorType"] == "vmpipe.BadEvent"
    assert res["headers"]["lambda-runtime-function-error-type"] == "vmpipe.BadEvent"
    assert what in res["json"]["errorMessage"]
    rt.wait_next(2)  # and the runtime lives on


def test_failing_notifier(fn, rt, tmp_path):
    (fn.rec / f"{CONTACT}.wav").write_bytes(wav_bytes())
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    rid = rt.add_event(event(), timeout_ms=30000)
    fn.start(rt, VMPIPE_PIPELINE=fn.pipeline(
        notify=f"plugin = notify-file\ndir = {blocker}\nfrom = Voicemail <vm@localhost>\n"))
    res = rt.wait_result(rid)
    assert res["kind"] == "error", res
    assert res["json"]["errorType"] in ("vmpipe.NotifyFailed", "vmpipe.TempFail")
    assert "owner not notified" in res["json"]["errorMessage"]
    assert CONTACT in res["json"]["errorMessage"]


def test_deadline_shorter_than_margin(fn, rt):
    (fn.rec / f"{CONTACT}.wav").write_bytes(wav_bytes())
    rid = rt.add_event(event(), timeout_ms=600)
    fn.start(rt, VMPIPE_PIPELINE=fn.pipeline())
    rt.wait_next(1)
    res = rt.wait_result(rid)
    assert res["kind"] == "error"
    assert res["json"]["errorType"] == "vmpipe.DeadlineTooShort"
    assert not res["after_deadline"]
    assert not (fn.out / f"{CONTACT}.eml").exists()


def test_deadline_bounds_a_waiting_stage(fn, rt):
    """The recording never appears; the locate stage would wait 2 minutes, the
    invocation has 3 s: the error is reported before Lambda's deadline."""
    rid = rt.add_event(event(), timeout_ms=3000)
    fn.start(rt, VMPIPE_PIPELINE=fn.pipeline(timeout="5m"))
    res = rt.wait_result(rid, timeout=20)
    assert res["kind"] == "error", res
    assert not res["after_deadline"], res["ms_before_deadline"]
    assert res["ms_before_deadline"] > 100
    assert res["json"]["errorType"] in ("vmpipe.NoRecording", "vmpipe.TempFail")
    rt.wait_next(2)


class SilentServer:
    """Accepts TCP connections and never says a word (a hung SMTP server)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.conns = []
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


def test_watchdog_reports_a_stuck_stage(fn, rt):
    """A notifier stuck inside a network call past the hard deadline: the
    watchdog answers /error before Lambda's deadline and the process exits
    (the next invocation gets a fresh container)."""
    if not os.path.exists(os.path.join(fn.root, "lib/vmpipe/plugins/notify-smtp.so")):
        pytest.skip("notify-smtp not built")
    (fn.rec / f"{CONTACT}.wav").write_bytes(wav_bytes())
    srv = SilentServer()
    try:
        rid = rt.add_event(event(), timeout_ms=3000)
        fn.start(rt, VMPIPE_PIPELINE=fn.pipeline(notify=(
            f"plugin = notify-smtp\nurl = smtp://127.0.0.1:{srv.port}\ntls = none\n"
            f"timeout = 60s\nfrom = Voicemail <vm@example.com>\n")))
        res = rt.wait_result(rid, timeout=20)
        assert res["kind"] == "error", res
        assert res["json"]["errorType"] == "vmpipe.Timeout"
        assert not res["after_deadline"], res["ms_before_deadline"]
        assert fn.proc.wait(timeout=10) == 75
    finally:
        srv.close()


def test_init_failure(fn, rt):
    bad = os.path.join(fn.root, "etc", "broken.ini")
    with open(bad, "w") as f:
        f.write("[pipeline]\ntimeout = soon\n[locate]\nplugin = no-such-plugin\n")
    fn.start(rt, VMPIPE_PIPELINE=bad)
    err = rt.wait_init_error()
    assert err["json"]["errorType"] == "vmpipe.ConfigError"
    assert err["headers"]["lambda-runtime-function-error-type"] == "vmpipe.ConfigError"
    assert "broken.ini" in err["json"]["errorMessage"]
    assert fn.proc.wait(timeout=10) == 78
    assert rt.next_count == 0


@pytest.fixture
def aws_world():
    """The fakes of the AWS pipeline (S3, Transcribe, SES v2), accepting the
    function's session credentials, with the recordings and state buckets."""
    import ses_fake
    import transcribe_fake
    creds = [(AKID, SECRET, TOKEN)]
    s3 = awsfake.S3Fake(creds).start()
    with s3.lock:
        s3.buckets["vm-recordings"] = {}
        s3.buckets["vm-state"] = {}
    tr = transcribe_fake.TranscribeFake(creds, duration=0.2, s3_put=s3.put,
                                        default_text="please call me back").start()
    ses = ses_fake.SESFake(creds, verified=["example.com"]).start()
    yield s3, tr, ses
    for f in (s3, tr, ses):
        f.stop()


def test_default_pipeline_is_under_task_root(fn, rt, aws_world):
    """No VMPIPE_PIPELINE: the packaged $LAMBDA_TASK_ROOT/etc/pipeline.ini with
    the original Lambda's variables.  One Connect event, one SES mail; the same
    event again (Lambda's asynchronous retry, here in a fresh container) with
    VMPIPE_STATE: answered from the checkpoint, still one mail."""
    from test_aws_pipeline import connect_key, connect_wav, utcnow
    s3, tr, ses = aws_world
    assert os.path.exists(os.path.join(fn.root, "etc", "pipeline.ini"))
    key = connect_key(utcnow(), cid=CONTACT, prefix="connect/acme/CallRecordings")
    s3.put("vm-recordings", key, connect_wav(), "audio/wav")
    tr.script[key] = {"duration": 0.2, "text": "please call me back"}
    original = {  # the original Lambda's variables, unchanged
        "BASE_PATH": "vm-recordings/connect/acme/CallRecordings",
        "EMAIL_SENDER": "voicemail@example.com", "URL_EXPIRATION": "86400",
        "RECORDING_WAIT_TIME": "120", "DEFAULT_LANGUAGE": "en-US",
        "ALLOWED_RECIPIENT_DOMAINS": "example.com",
    }
    # env -i: the endpoints and the time scale are passed explicitly.
    env = dict(original, AWS_ENDPOINT_URL_S3=s3.url, AWS_ENDPOINT_URL_TRANSCRIBE=tr.url,
               AWS_ENDPOINT_URL_SESV2=ses.url, AWS_EC2_METADATA_DISABLED="true",
               VMPIPE_CLOCK="scaled:10", VMPIPE_STATE="s3://vm-state/vmpipe/jobs")
    ev = event(recipient="owner@example.com")
    # Deadlines are counted on the scaled clock: leave it room.
    first = rt.add_event(ev, timeout_ms=600000)
    fn.start(rt, **env)
    res = rt.wait_result(first, timeout=60)
    assert res["kind"] == "response", (res, fn.logs()[-3000:])
    rec = res["json"]
    assert rec["state"] == "done" and rec["recording"]["uri"] == f"s3://vm-recordings/{key}"
    assert rec["transcript"]["status"] == "completed"
    assert len(ses.messages) == 1 and len(ses.sends()) == 1
    assert ses.messages[0]["envelope"]["to"] == ["owner@example.com"]
    stored = s3.buckets["vm-state"].get(f"vmpipe/jobs/{CONTACT}.json")
    assert stored and json.loads(stored[0]) == rec
    fn.stop()

    # The retry lands in a new container (its own Runtime API endpoint, so the
    # killed container's pending /next cannot take the event).
    with LambdaRuntimeFake() as rt2:
        retry = rt2.add_event(ev, timeout_ms=600000)
        fn.start(rt2, **env)
        res = rt2.wait_result(retry, timeout=60)
        assert res["kind"] == "response", (res, fn.logs()[-3000:])
        assert res["json"] == rec
        fn.stop()
    assert not rt2.violations, rt2.violations
    assert len(ses.messages) == 1 and len(ses.sends()) == 1
    assert len(tr.starts) == 1
    assert any("already done" in l["msg"] for l in fn.log_lines())


def test_half_configured_link_mode_is_an_init_error(fn, rt):
    fn.start(rt, VMPIPE_PIPELINE=fn.pipeline(), VMPIPE_LINK_BASE_URL="https://x.lambda-url.us-east-1.on.aws/")
    err = rt.wait_init_error()
    assert "VMPIPE_LINK_SECRET" in err["json"]["errorMessage"]


# ---------------------------------------------------------------- link mode

BASE_URL = "https://abcdefghijklmnop.lambda-url.us-east-1.on.aws"


def netstring(s):
    b = str(s).encode()
    return str(len(b)).encode() + b":" + b + b","


def make_link(bucket, key, expires, secret=LINK_SECRET, version=2, job=None):
    """The link format of docs/lambda.md, written independently of engine/core/link.c
    (version 1: the old format, which is refused; job: the job's id signed too)."""
    if version == 1:
        msg = f"vmpipe-link-v1\n{bucket}\n{key}\n{expires}".encode()
    else:
        fields = ("vmpipe-link-v2", bucket, key) + ((job,) if job else ()) + (expires,)
        msg = b"".join(netstring(f) for f in fields)
    sig = base64.urlsafe_b64encode(hmac.new(secret.encode(), msg, hashlib.sha256).digest())
    params = {"v": "2"} if version == 2 else {}
    params.update({"bucket": bucket, "key": key})
    if job:
        params["job"] = job
    params.update({"expires": str(expires), "sig": sig.decode().rstrip("=")})
    q = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    return f"{BASE_URL}/voicemail?{q}"


def url_event(link, method="GET"):
    """A Lambda Function URL request (payload format 2.0) for `link`."""
    u = urllib.parse.urlsplit(link)
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": u.path, "rawQueryString": u.query,
        "headers": {"host": u.netloc, "user-agent": "Mozilla/5.0"},
        "queryStringParameters": dict(urllib.parse.parse_qsl(u.query)),
        "requestContext": {
            "accountId": "anonymous", "apiId": "abcdefghijklmnop", "domainName": u.netloc,
            "domainPrefix": "abcdefghijklmnop",
            "http": {"method": method, "path": u.path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.9", "userAgent": "Mozilla/5.0"},
            "requestId": "8d5c4e3f-0000-4000-8000-000000000000", "routeKey": "$default",
            "stage": "$default", "time": "01/Jan/2024:00:00:00 +0000", "timeEpoch": 1704067200000,
        },
        "isBase64Encoded": False,
    }


@pytest.fixture
def s3():
    fake = awsfake.S3Fake([(AKID, SECRET, TOKEN)]).start()
    yield fake
    fake.stop()


def test_link_clicks(fn, rt, s3):
    key = f"connect/inst/CallRecordings/ivr/2024/01/01/{CONTACT}_20240101T00:00_UTC.wav"
    audio = wav_bytes()
    s3.put("recordings", key, audio, "audio/wav")
    now = int(time.time())
    good = make_link("recordings", key, now + 7 * 86400 * 4)  # four weeks: beyond any session
    # The job's checkpoint in the state store: a link naming the job shows it.
    record = {"id": "job-7", "received_at": "2024-01-01T10:00:00Z",
              "contact": {"caller": "+15555550199", "caller_name": "Ana <Silva>"},
              "recording": {"duration_seconds": 12},
              "transcript": {"status": "completed", "text": "Call me back & soon."}}
    s3.put("vm-state", "jobs/job-7.json", json.dumps(record).encode(), "application/json")
    with_job = make_link("recordings", key, now + 3600, job="job-7")
    # A tenant's job, kept under the tenant's own state prefix (tenant.h):
    # found there, and its times told in the tenant's zone.
    s3.put("vm-state", "acme/job-9.json", json.dumps(dict(record, id="job-9", tenant="acme")).encode(),
           "application/json")
    tenant_job = make_link("recordings", key, now + 3600, job="job-9")
    cases = {
        "tenant-job": (url_event(tenant_job), 200),
        "valid": (url_event(good), 200),
        "with-job": (url_event(with_job), 200),
        "job-swapped": (url_event(with_job.replace("job=job-7", "job=job-8")), 403),
        "job-dropped": (url_event(with_job.replace("&job=job-7", "")), 403),
        "expired": (url_event(make_link("recordings", key, now - 60)), 403),
        "forged-sig": (url_event(good.replace("sig=", "sig=A")), 403),
        "other-key": (url_event(make_link("recordings", key, now + 3600).replace(
            "CallRecordings", "Other")), 403),
        "longer-expiry": (url_event(good.replace(f"expires={now + 7 * 86400 * 4}",
                                                 f"expires={now + 7 * 86400 * 40}")), 403),
        "wrong-secret": (url_event(make_link("recordings", key, now + 3600, "x" * 40)), 403),
        "no-sig": (url_event(good.split("&sig=")[0]), 403),
        "old-format": (url_event(make_link("recordings", key, now + 3600, version=1)), 403),
        "plus-expiry": (url_event(good.replace("expires=", "expires=%2B")), 403),
        "gone": (url_event(make_link("recordings", key + ".missing", now + 3600)), 404),
        "other-path": (url_event(BASE_URL + "/favicon.ico"), 404),
        "post": (url_event(good, method="POST"), 405),
    }
    rids = {name: rt.add_event(ev) for name, (ev, _) in cases.items()}
    ini = fn.pipeline()
    with open(ini) as f:
        base = f.read()
    tenants = os.path.join(os.path.dirname(ini), "tenants")
    os.makedirs(tenants, exist_ok=True)
    with open(os.path.join(tenants, "acme.ini"), "w") as f:
        f.write(base.replace("[pipeline]\n", "[pipeline]\nstate = s3://vm-state/acme\ntimezone = Asia/Tokyo\n", 1))
    text = base.replace("[pipeline]\n", f"[pipeline]\nstate = s3://vm-state/jobs\ntenant_dir = {tenants}\n", 1)
    with open(ini, "w") as f:
        f.write(text)
    fn.start(rt, VMPIPE_PIPELINE=ini, VMPIPE_LINK_BASE_URL=BASE_URL + "/",
             VMPIPE_LINK_SECRET=LINK_SECRET, AWS_ENDPOINT_URL_S3=s3.url)
    for name, (_, status) in cases.items():
        res = rt.wait_result(rids[name])
        assert res["kind"] == "response", (name, res)  # a click never fails the invocation
        resp = res["json"]
        assert resp["statusCode"] == status, (name, resp)
        h = resp["headers"]
        assert h["Cache-Control"] == "no-store"
        assert "<html" in resp["body"]
        assert "default-src 'none'" in h["Content-Security-Policy"]
        if status == 200:
            # The listen page, as `vmpipe serve` shows it; the player plays a
            # fresh presigned URL, the only origin the page may load media from.
            body = resp["body"]
            assert h["Content-Security-Policy"].count(f"media-src {s3.url};") == 1, h
            assert "<script" not in body
            loc = re.search(r'<audio controls preload="metadata" src="([^"]+)"', body).group(1)
            loc = loc.replace("&amp;", "&")
            assert loc.startswith(s3.url + "/recordings/")
            q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))
            assert int(q["X-Amz-Expires"]) <= 300  # minutes, not days
            with urllib.request.urlopen(loc) as r:  # the fake checks the presigned signature
                assert r.read() == audio
            if name in ("with-job", "tenant-job"):
                assert "Ana &lt;Silva&gt;" in body and "+15555550199" in body
                assert "Call me back &amp; soon." in body and "12s" in body
                assert (" JST</dd>" in body) == (name == "tenant-job"), body
            else:
                assert "Voicemail" in body and "Ana" not in body
        elif name == "expired":
            assert "expired" in resp["body"]
        elif name == "old-format":
            assert "older format" in resp["body"]
        elif status == 403:
            assert "not valid" in resp["body"]
        elif name == "gone":
            assert "no longer available" in resp["body"]
    # Only the valid links and the missing object reached S3, with a HEAD each.
    heads = [e for e in s3.log if e.get("method") == "HEAD"]
    assert len(heads) == 4, s3.log


def test_link_rotation_accepts_the_previous_secret(fn, rt, s3):
    key = "ivr/a b+c.wav"  # spaces and '+' survive the round trip
    s3.put("recordings", key, b"RIFF", "audio/wav")
    old = "o" * 40
    rid = rt.add_event(url_event(make_link("recordings", key, int(time.time()) + 600, old)))
    fn.start(rt, VMPIPE_PIPELINE=fn.pipeline(), VMPIPE_LINK_BASE_URL=BASE_URL,
             VMPIPE_LINK_SECRET=LINK_SECRET, VMPIPE_LINK_SECRET_PREVIOUS=old,
             AWS_ENDPOINT_URL_S3=s3.url)
    assert rt.wait_result(rid)["json"]["statusCode"] == 200


# ---------------------------------------------------------------- under valgrind

@pytest.mark.valgrind
def test_runtime_loop_under_wrapper(tmp_path, rt):
    """The engine binary's loop (not the package) under VMPIPE_WRAPPER
    (valgrind in make check): events, a click, then the Runtime API goes away
    and the loop ends cleanly (exit 70), so leaks would be reported."""
    rec = tmp_path / "rec"
    out = tmp_path / "out"
    rec.mkdir()
    out.mkdir()
    (rec / f"{CONTACT}.wav").write_bytes(wav_bytes())
    ini = tmp_path / "p.ini"
    ini.write_text(f"[pipeline]\ntimeout = 20s\n[locate]\nplugin = locate-file\ndir = {rec}\n"
                   f"pattern = {{initial_contact_id}}.wav\nsettle = 0s\n[notify]\n"
                   f"plugin = notify-file\ndir = {out}\nfrom = Voicemail <vm@localhost>\n")
    rids = [rt.add_event(event(), timeout_ms=60000), rt.add_event(b"[]"),
            rt.add_event(url_event(make_link("b", "k", int(time.time()) + 60, "z" * 40)))]
    env = {"AWS_LAMBDA_RUNTIME_API": rt.address, "VMPIPE_PIPELINE": str(ini),
           "AWS_REGION": "us-east-1", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "VMPIPE_LINK_BASE_URL": BASE_URL, "VMPIPE_LINK_SECRET": LINK_SECRET,
           "VMPIPE_NO_DLCLOSE": os.environ.get("VMPIPE_NO_DLCLOSE", "")}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    cmd = shlex.split(os.environ.get("VMPIPE_WRAPPER", "")) + [VMPIPE, "lambda"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    kinds = [rt.wait_result(r, timeout=120)["kind"] for r in rids]
    assert kinds == ["response", "error", "response"]
    assert json.loads(rt.wait_result(rids[2])["body"])["statusCode"] == 403
    rt.wait_next(4, timeout=60)
    rt.stop()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 70, err[-3000:]
