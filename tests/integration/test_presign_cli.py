"""`vmpipe presign`: the URL botocore would make, served by a real S3 server."""
import subprocess
import urllib.parse

import pytest

from aws_helpers import s3rver  # noqa: F401  (fixture)
from conftest import PYTHON, run_vmpipe

KEY = "ivr/2024/12/11/abc_20241211T15:30_UTC.wav"


def env_for(url):
    return {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER",
            "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": url, "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"}


BOTOCORE = r"""
import sys, datetime, botocore.session
from unittest import mock
url, expires, signed_at = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = botocore.session.get_session()
c = s.create_client("s3", region_name="eu-west-1", aws_access_key_id="AKIDEXAMPLE",
                    aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                    endpoint_url="https://s3.eu-west-1.amazonaws.com",
                    config=botocore.config.Config(signature_version="s3v4",
                                                  s3={"addressing_style": "virtual"}))
t = datetime.datetime.strptime(signed_at, "%Y%m%dT%H%M%SZ")
with mock.patch("botocore.auth.datetime") as d:
    d.datetime.utcnow.return_value = t
    d.datetime.now.return_value = t
    print(c.generate_presigned_url("get_object", Params={"Bucket": "vm-bucket", "Key": sys.argv[4]},
                                   ExpiresIn=expires))
"""


def test_presign_matches_botocore():
    env = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
           "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
           "AWS_REGION": "eu-west-1", "AWS_CONFIG_FILE": "/nonexistent",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_ENDPOINT_URL_S3": "",
           "AWS_ENDPOINT_URL": ""}
    r = run_vmpipe("presign", "--expires", "7d", "s3://vm-bucket/" + KEY, env=env)
    assert r.code == 0, r
    ours = r.out.strip()
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(ours).query)
    assert q["X-Amz-Expires"] == ["604800"]
    ref = subprocess.run([PYTHON, "-c", BOTOCORE, "x", "604800", q["X-Amz-Date"][0], KEY],
                         capture_output=True, text=True, check=True).stdout.strip()
    a, b = urllib.parse.urlsplit(ours), urllib.parse.urlsplit(ref)
    assert (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path)
    assert urllib.parse.parse_qs(a.query) == urllib.parse.parse_qs(b.query), (ours, ref)


@pytest.mark.parametrize("args, want", [
    (["--expires", "8d", "s3://b/k"], "between 1s and 7d"),
    (["--expires", "soon", "s3://b/k"], "not a duration"),
    (["https://b/k"], "not s3://BUCKET/KEY"),
    (["s3://bucket-only"], "not s3://BUCKET/KEY"),
    ([], "usage: vmpipe presign"),
])
def test_presign_bad_arguments(args, want):
    r = run_vmpipe("presign", *args)
    assert r.code == 64, r
    assert want in r.err


def test_presign_without_region_or_credentials():
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_REGION": "",
           "AWS_DEFAULT_REGION": "", "AWS_CONFIG_FILE": "/nonexistent",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
           "AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_PROFILE": ""}
    r = run_vmpipe("presign", "s3://b/k", env=env)
    assert r.code == 78, r
    assert "region" in r.err or "credentials" in r.err


def test_presigned_url_served_by_s3rver(s3rver, tmp_path):
    body = b"RIFF....WAVEfmt presign test"
    put = subprocess.run(["curl", "-sf", "-X", "PUT", "--data-binary", "@-",
                          "%s/vm-bucket/%s" % (s3rver, KEY)], input=body, capture_output=True)
    assert put.returncode == 0, put.stderr
    r = run_vmpipe("presign", "--expires", "5m", "s3://vm-bucket/" + KEY, env=env_for(s3rver))
    assert r.code == 0, r
    url = r.out.strip()
    assert url.startswith(s3rver + "/vm-bucket/"), url
    got = subprocess.run(["curl", "-sf", url], capture_output=True)
    assert got.returncode == 0, got.stderr
    assert got.stdout == body
