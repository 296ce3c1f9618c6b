"""AWS requests against the strict fakes (tests/fakes/awsfake.py): every
signature recomputed by botocore, the standard retry mode driven by injected
faults (5xx, throttling, resets, slow answers, Retry-After), error parsing for
REST-XML, JSON 1.1 and REST-JSON, and S3 reads for vm_fetch.

The tool runs on the engine's virtual clock (--fake-clock): backoff does not
wait, and "waited_ms" is the virtual time spent backing off."""
import json
import urllib.error
import urllib.request

import pytest

from aws_helpers import AKID, SECRET, TOKEN, aws_tool, awsfake, run_tool, s3fake, static_env  # noqa: F401

KEY = "ivr/2024/12/11/abc_20241211T15:30_UTC.wav"


def s3(tool, fake, *args, env=None, **kw):
    e = static_env(fake.url)
    e.update(env or {})
    return run_tool(tool, "send", "--service", "s3", "--bucket", "vm-bucket", *args, env=e, **kw)


def attempts_at(fake, path):
    return [r for r in fake.requests() if r["path"] == path]


def test_signed_put_get_list(aws_tool, s3fake):
    s3fake.put("vm-bucket", "seed", b"x")
    r = s3(aws_tool, s3fake, "--method", "PUT", "--path", KEY, "--body", "audio",
           "--header", "Content-Type:audio/wav")
    assert r.json["vm_status"] == "done", r
    assert s3fake.buckets["vm-bucket"][KEY][0] == b"audio"
    r = s3(aws_tool, s3fake, "--method", "GET", "--query", "list-type=2",
           "--query", "prefix=ivr/2024/", "--query", "start-after=a b+c=d&e")
    assert r.json["vm_status"] == "done", r
    assert "<Key>ivr/2024/12/11/abc_20241211T15:30_UTC.wav</Key>" in r.json["body"]
    assert all(e.get("status") == 200 and e["signed"] for e in s3fake.requests())


def test_session_token_checked(aws_tool):
    fake = awsfake.S3Fake([(AKID, SECRET, TOKEN)]).start()
    try:
        fake.put("vm-bucket", "k", b"v")
        r = s3(aws_tool, fake, "--method", "GET", "--path", "k",
               env={"AWS_SESSION_TOKEN": TOKEN})
        assert r.json["vm_status"] == "done", r
        r = s3(aws_tool, fake, "--method", "GET", "--path", "k")
        assert r.json["error_code"] == "InvalidToken", r
        assert r.json["vm_status"] == "permanent"
    finally:
        fake.stop()


@pytest.mark.valgrind
def test_signature_mismatch_is_permanent(aws_tool, s3fake):
    s3fake.put("vm-bucket", "k", b"v")
    r = s3(aws_tool, s3fake, "--method", "GET", "--path", "k",
           env={"AWS_SECRET_ACCESS_KEY": "wrong"})
    assert r.json["status"] == 403
    assert r.json["error_code"] == "SignatureDoesNotMatch"
    assert r.json["vm_status"] == "permanent" and not r.json["retryable"]
    assert r.json["attempts"] == 1
    assert s3fake.requests()[-1]["mismatch"] == "signature"
    r = s3(aws_tool, s3fake, "--method", "GET", "--path", "k",
           env={"AWS_ACCESS_KEY_ID": "AKIDUNKNOWN"})
    assert r.json["error_code"] == "InvalidAccessKeyId", r


def test_region_must_match_scope(aws_tool, s3fake):
    s3fake.put("vm-bucket", "k", b"v")
    r = s3(aws_tool, s3fake, "--method", "GET", "--path", "k", env={"AWS_REGION": "eu-west-1"})
    assert r.json["error_code"] == "SignatureDoesNotMatch", r
    # The region of the Connect instance ARN is used when nothing else is set.
    e = static_env(s3fake.url)
    del e["AWS_REGION"]
    r = run_tool(aws_tool, "send", "--service", "s3", "--bucket", "vm-bucket", "--method", "GET",
                 "--path", "k", "--arn",
                 "arn:aws:connect:us-east-1:123456789012:instance/abc", env=e)
    assert r.json["vm_status"] == "done", r
    r = run_tool(aws_tool, "send", "--service", "s3", "--bucket", "vm-bucket", "--method", "GET",
                 "--path", "k", env=e)
    assert r.json["vm_status"] == "permanent" and "no AWS region" in r.json["fail"], r


@pytest.mark.parametrize("fault", ["500", "502", "503", "504", "throttle", "reset"])
def test_retried_then_done(aws_tool, s3fake, fault):
    s3fake.put("vm-bucket", "k", b"v")
    s3fake.set_faults([fault, fault])
    r = s3(aws_tool, s3fake, "--method", "GET", "--path", "k")
    assert r.json["vm_status"] == "done", r
    assert r.json["attempts"] == 3
    assert len(attempts_at(s3fake, "/vm-bucket/k")) == 3
    # Full jitter: each wait below base * 2^i (1 s, then 2 s).
    assert 0 <= r.json["waited_ms"] < 3000


@pytest.mark.parametrize("fault,code", [("503", "ServiceUnavailable"), ("throttle", "SlowDown"),
                                        ("reset", None)])
def test_gives_up_after_three_attempts(aws_tool, s3fake, fault, code):
    s3fake.put("vm-bucket", "k", b"v")
    s3fake.set_faults([fault] * 5)
    r = s3(aws_tool, s3fake, "--method", "GET", "--path", "k")
    assert r.json["vm_status"] == "transient", r
    assert r.json["retryable"]
    assert r.json["attempts"] == 3
    assert len(attempts_at(s3fake, "/vm-bucket/k")) == 3
    assert r.json["error_code"] == code
    if code:
        assert code in r.json["fail"] and r.json["fail"].startswith("s3: ")
    else:
        assert "connection reset" in r.json["fail"] or "s3: " in r.json["fail"]


def test_not_retried_errors(aws_tool, s3fake):
    s3fake.put("vm-bucket", "k", b"v")
    r = s3(aws_tool, s3fake, "--method", "GET", "--path", "missing")
    assert r.json["error_code"] == "NoSuchKey" and r.json["attempts"] == 1, r
    assert r.json["request_id"]
    s3fake.set_faults(["501"])
    r = s3(aws_tool, s3fake, "--method", "GET", "--path", "k")
    assert r.json["status"] == 501 and r.json["attempts"] == 1, r


def test_retry_after_honoured(aws_tool, s3fake):
    s3fake.put("vm-bucket", "k", b"v")
    s3fake.set_faults(["retry-after:2", "ok"])
    r = s3(aws_tool, s3fake, "--method", "GET", "--path", "k")
    assert r.json["vm_status"] == "done", r
    assert r.json["waited_ms"] == 2000
    # A Retry-After beyond the call's budget is left to the engine.
    s3fake.set_faults(["retry-after:60", "ok"])
    r = s3(aws_tool, s3fake, "--method", "GET", "--path", "k")
    assert r.json["vm_status"] == "transient" and r.json["attempts"] == 1, r
    assert r.json["waited_ms"] == 0


def test_timeout_is_retried(aws_tool, s3fake):
    s3fake.put("vm-bucket", "k", b"v")
    s3fake.set_faults(["slow:1.5", "ok"])
    r = s3(aws_tool, s3fake, "--method", "GET", "--path", "k",
           env={"VMPIPE_AWS_TIMEOUT_MS": "500"})
    assert r.json["vm_status"] == "done", r
    assert r.json["attempts"] == 2
    s3fake.set_faults(["slow:1.5"] * 3)
    r = s3(aws_tool, s3fake, "--method", "GET", "--path", "k",
           env={"VMPIPE_AWS_TIMEOUT_MS": "300"})
    assert r.json["vm_status"] == "transient" and "timeout" in r.json["fail"], r


def test_connection_refused_is_transient(aws_tool, s3fake):
    url = s3fake.url
    s3fake.stop()
    r = run_tool(aws_tool, "send", "--service", "s3", "--bucket", "b", "--method", "GET",
                 "--path", "k", env=static_env(url))
    assert r.json["vm_status"] == "transient" and r.json["attempts"] == 3, r
    assert "cannot connect" in r.json["fail"]


def test_s3_get_codes(aws_tool, s3fake):
    s3fake.put("vm-bucket", KEY, b"0123456789")
    env = static_env(s3fake.url)
    r = run_tool(aws_tool, "s3get", "vm-bucket", KEY, 100, env=env)
    assert r.json["rc"] == 0 and r.json["len"] == 10, r
    assert run_tool(aws_tool, "s3get", "vm-bucket", "nope", 100, env=env).json["rc"] == -1
    assert run_tool(aws_tool, "s3get", "vm-bucket", KEY, 9, env=env).json["rc"] == -2
    s3fake.set_faults(["503"] * 3)
    assert run_tool(aws_tool, "s3get", "vm-bucket", KEY, 100, env=env).json["rc"] == -3
    bad = dict(env, AWS_SECRET_ACCESS_KEY="wrong")
    r = run_tool(aws_tool, "s3get", "vm-bucket", KEY, 100, env=bad)
    assert r.json["rc"] == -4 and "SignatureDoesNotMatch" in r.json["error"], r


def test_presigned_url_verified_by_botocore(aws_tool, s3fake):
    s3fake.put("vm-bucket", KEY, b"audio bytes")
    env = static_env(s3fake.url, token=None)
    p = run_tool(aws_tool, "presign", "vm-bucket", KEY, 600, env=env, fake_clock=False)
    assert p.code == 0, p
    url = p.out.strip()
    assert "X-Amz-Expires=600" in url
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.read() == b"audio bytes"
    assert s3fake.requests()[-1]["status"] == 200
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url.replace("X-Amz-Expires=600", "X-Amz-Expires=601"), timeout=10)
    assert e.value.code == 403
    for bad in ("0", "604801"):
        p = run_tool(aws_tool, "presign", "vm-bucket", KEY, bad, env=env, fake_clock=False)
        assert p.code != 0 and "7 days" in p.err, p


class JsonFake(awsfake.FakeAWS):
    """A JSON 1.1 service (Transcribe's protocol) answering a set error."""
    service = "transcribe"
    protocol = awsfake.JSON11

    def handle(self, req):
        target = req.headers.get("X-Amz-Target", "")
        if target.endswith("StartTranscriptionJob"):
            return self.error(400, "ConflictException", "The requested job name already exists.")
        return awsfake.Reply(200, json.dumps({"ok": target}),
                             {"Content-Type": "application/x-amz-json-1.1"})


class RestJsonFake(awsfake.FakeAWS):
    service = "ses"
    protocol = awsfake.REST_JSON

    def handle(self, req):
        return self.error(400, "MessageRejected", "Email address is not verified.")


def test_json_protocols(aws_tool):
    with JsonFake([(AKID, SECRET, None)]) as fake:
        env = {"AWS_ENDPOINT_URL_TRANSCRIBE": fake.url, **static_env("http://unused:1")}
        base = ["send", "--service", "transcribe", "--method", "POST", "--path", "/",
                "--protocol", "json", "--header", "Content-Type:application/x-amz-json-1.1"]
        r = run_tool(aws_tool, *base, "--header", "X-Amz-Target:Transcribe.GetTranscriptionJob",
                     "--body", '{"TranscriptionJobName":"j"}', env=env)
        assert r.json["vm_status"] == "done" and "GetTranscriptionJob" in r.json["body"], r
        r = run_tool(aws_tool, *base, "--header", "X-Amz-Target:Transcribe.StartTranscriptionJob",
                     "--body", "{}", env=env)
        assert r.json["error_code"] == "ConflictException", r
        assert r.json["error_message"] == "The requested job name already exists."
        assert r.json["vm_status"] == "permanent"
        fake.set_faults(["throttle", "throttle", "throttle"])
        r = run_tool(aws_tool, *base, "--header", "X-Amz-Target:Transcribe.GetTranscriptionJob",
                     "--body", "{}", env=env)
        assert r.json["error_code"] == "ThrottlingException" and r.json["attempts"] == 3, r
        assert r.json["vm_status"] == "transient"
    with RestJsonFake([(AKID, SECRET, None)]) as fake:
        env = {"AWS_ENDPOINT_URL_SESV2": fake.url, **static_env("http://unused:1")}
        base = ["send", "--service", "sesv2", "--method", "POST",
                "--path", "/v2/email/outbound-emails", "--protocol", "rest-json",
                "--header", "Content-Type:application/json", "--body", "{}"]
        r = run_tool(aws_tool, *base, env=env)
        assert r.json["error_code"] == "MessageRejected", r
        fake.set_faults(["throttle"])
        r = run_tool(aws_tool, *base, env=env)
        assert r.json["error_code"] == "MessageRejected" and r.json["attempts"] == 2, r


def test_missing_credentials(aws_tool, s3fake):
    env = {"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": s3fake.url}
    r = run_tool(aws_tool, "send", "--service", "s3", "--bucket", "b", "--method", "GET",
                 "--path", "k", env=env)
    # Nothing configured anywhere: a setup error, not worth retrying.
    assert r.json["vm_status"] == "permanent", r
    assert "no AWS credentials found" in r.json["fail"]
    assert s3fake.requests() == []
    # A configured source that is down: retry later.
    env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://127.0.0.1:1/creds"
    r = run_tool(aws_tool, "send", "--service", "s3", "--bucket", "b", "--method", "GET",
                 "--path", "k", env=env)
    assert r.json["vm_status"] == "transient", r
    assert "container" in r.json["fail"]


def test_retry_quota_stops_retry_storms(aws_tool, s3fake):
    """Standard mode's retry quota: 500 tokens, 5 per retry, so a service that
    is down gets 50 calls' worth of retries (2 each), then single attempts."""
    s3fake.put("vm-bucket", "k", b"v")
    s3fake.set_faults(rate=1.0, kinds=["503"])
    r = s3(aws_tool, s3fake, "--method", "GET", "--path", "k", "--repeat", "60")
    attempts = [l["attempts"] for l in r.lines]
    assert attempts == [3] * 50 + [1] * 10, attempts
    assert all(l["vm_status"] == "transient" for l in r.lines)
