"""The AWS client against a real S3 server: s3rver (npm, pinned in
tests/package.json), which speaks S3's real wire format (it does not verify
signatures: tests/integration/test_aws_requests.py does that with the strict
fake).  Driven through the host API
(vm_aws_send / vm_s3_presign / aws_s3_get) by tests/tools/aws_tool.c."""
import hashlib
import subprocess
import xml.etree.ElementTree as ET

import pytest

from aws_helpers import aws_tool, run_tool, s3rver  # noqa: F401  (fixtures)

KEY = "ivr/2024/12/11/abc_20241211T15:30_UTC.wav"


def env_for(url, secret="S3RVER"):
    return {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": url}


def send(tool, url, *args, **kw):
    return run_tool(tool, "send", "--service", "s3", "--bucket", "vm-bucket", *args,
                    env=env_for(url, **kw))


@pytest.mark.valgrind
def test_put_get_head(aws_tool, s3rver):
    body = "RIFF fake wave data \u00e9".encode()
    r = send(aws_tool, s3rver, "--method", "PUT", "--path", KEY, "--body", body.decode(),
             "--header", "Content-Type:audio/wav")
    assert r.json["vm_status"] == "done", r
    assert r.json["headers"]["etag"].strip('"') == hashlib.md5(body).hexdigest()

    r = send(aws_tool, s3rver, "--method", "GET", "--path", KEY)
    assert r.json["vm_status"] == "done", r
    assert r.json["body"].encode() == body
    assert r.json["headers"]["content-type"] == "audio/wav"

    r = send(aws_tool, s3rver, "--method", "HEAD", "--path", KEY)
    assert r.json["status"] == 200, r
    assert int(r.json["headers"]["content-length"]) == len(body)
    assert r.json["body"] is None

    # The engine-side reader used by vm_fetch().
    r = run_tool(aws_tool, "s3get", "vm-bucket", KEY, 1 << 20, env=env_for(s3rver))
    assert r.json["rc"] == 0, r
    assert r.json["sha256"] == hashlib.sha256(body).hexdigest()
    r = run_tool(aws_tool, "s3get", "vm-bucket", KEY, 4, env=env_for(s3rver))
    assert r.json["rc"] == -2 and "larger than 4 bytes" in r.json["error"], r


def test_keys_with_reserved_characters(aws_tool, s3rver):
    for key in ["a b/c+d", "caf\u00e9/\u00fc.wav", "x~y_z-(1).wav", "semi;colon&amp=eq"]:
        r = send(aws_tool, s3rver, "--method", "PUT", "--path", key, "--body", key)
        assert r.json["vm_status"] == "done", (key, r)
        r = send(aws_tool, s3rver, "--method", "GET", "--path", key)
        assert r.json["vm_status"] == "done" and r.json["body"] == key, (key, r)


def test_not_found(aws_tool, s3rver):
    r = send(aws_tool, s3rver, "--method", "GET", "--path", "no/such.wav")
    assert r.code != 0
    assert r.json["status"] == 404
    assert r.json["error_code"] == "NoSuchKey"
    assert r.json["vm_status"] == "permanent"
    assert r.json["attempts"] == 1
    assert "NoSuchKey" in r.json["fail"] and "s3" in r.json["fail"]

    r = send(aws_tool, s3rver, "--method", "HEAD", "--path", "no/such.wav")
    assert r.json["status"] == 404 and r.json["error_code"] == "NotFound", r

    r = run_tool(aws_tool, "s3get", "vm-bucket", "no/such.wav", 100, env=env_for(s3rver))
    assert r.json["rc"] == -1, r
    r = run_tool(aws_tool, "s3get", "other-bucket", "x", 100, env=env_for(s3rver))
    assert r.json["rc"] == -1 and "NoSuchBucket" in r.json["error"], r


def list_page(tool, url, prefix, token=None, max_keys=2):
    args = ["--method", "GET", "--query", "list-type=2", "--query", f"prefix={prefix}",
            "--query", f"max-keys={max_keys}"]
    if token:
        args += ["--query", f"continuation-token={token}"]
    r = send(tool, url, *args)
    assert r.json["vm_status"] == "done", r
    root = ET.fromstring(r.json["body"])
    # By local name: s3rver's namespace differs from S3's.
    for el in root.iter():
        el.tag = el.tag.rsplit("}", 1)[-1]
    keys = [c.find("Key").text for c in root.findall("Contents")]
    nxt = root.find("NextContinuationToken")
    truncated = root.find("IsTruncated").text == "true"
    return keys, (nxt.text if nxt is not None else None), truncated


def test_list_objects_v2_prefix_and_continuation(aws_tool, s3rver):
    want = sorted(f"ivr/2024/12/{d:02d}/m{d}.wav" for d in range(1, 6))
    for k in want + ["other/x.wav", "ivr2/y.wav"]:
        r = send(aws_tool, s3rver, "--method", "PUT", "--path", k, "--body", k)
        assert r.json["vm_status"] == "done", r
    got, token, pages = [], None, 0
    while True:
        keys, token, truncated = list_page(aws_tool, s3rver, "ivr/", token)
        pages += 1
        got += keys
        assert len(keys) <= 2
        if not truncated:
            break
        assert token, "truncated page without NextContinuationToken"
    assert got == want
    assert pages == 3
    keys, _, truncated = list_page(aws_tool, s3rver, "nothing/")
    assert keys == [] and not truncated


def test_presigned_url_fetched_with_curl(aws_tool, s3rver):
    r = send(aws_tool, s3rver, "--method", "PUT", "--path", KEY, "--body", "voicemail audio")
    assert r.json["vm_status"] == "done", r
    p = run_tool(aws_tool, "presign", "vm-bucket", KEY, 3600, env=env_for(s3rver),
                 fake_clock=False)
    assert p.code == 0, p
    url = p.out.strip()
    assert url.startswith(s3rver + "/vm-bucket/ivr/2024/12/11/"), url
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=3600" in url
    got = subprocess.run(["curl", "-sS", "-f", url], capture_output=True, text=True, timeout=30)
    assert got.returncode == 0, got.stderr
    assert got.stdout == "voicemail audio"
