"""The reference for the Lambda cold-start benchmark: what the original Python
function pays at every cold start — import boto3, create the S3, Transcribe
and SES v2 clients — followed by a minimal Runtime API loop (urllib) that
answers each event with {"ok": true}.  Run by tests/bench/lambda_bench.py."""
import json
import os
import urllib.request

try:
    import boto3
    s3 = boto3.client("s3")
    transcribe = boto3.client("transcribe")
    ses = boto3.client("sesv2")
except ImportError:  # python3-boto3 missing: botocore is what boto3 wraps
    import botocore.session
    _s = botocore.session.get_session()
    s3, transcribe, ses = (_s.create_client(n) for n in ("s3", "transcribe", "sesv2"))

BASE = "http://%s/2018-06-01/runtime" % os.environ["AWS_LAMBDA_RUNTIME_API"]
while True:
    with urllib.request.urlopen(BASE + "/invocation/next", timeout=None) as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        json.loads(r.read() or b"null")
    req = urllib.request.Request(BASE + "/invocation/%s/response" % rid, data=b'{"ok": true}',
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req).read()
