"""No secret ever reaches a log line: every credential source and request path
runs at the most verbose level (trace) with known secrets, through retries and
errors, and stderr is searched for the secret keys, session tokens, the
web-identity and container tokens, and every signature the fakes saw."""
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from aws_helpers import AKID, SECRET, TOKEN, aws_tool, awsfake, run_tool  # noqa: F401

ROLE = "arn:aws:iam::123456789012:role/vmpipe"
WEB_TOKEN = "eyJraWQiOiJ3ZWJ0b2tlbi1zZWNyZXQifQ.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJl"
CONTAINER_AUTH = "Bearer container-auth-secret-0123"
STS_ISSUE = ("ASIASTSLOG", "sts-issued-secret/abc+def", "sts-issued-session-token==")
CONT_ISSUE = ("ASIACONTLOG", "container-issued-secret", "container-issued-token")
IMDS_ISSUE = ("ASIAIMDSLOG", "imds-issued-secret", "imds-issued-token")
SECRETS = [SECRET, TOKEN, WEB_TOKEN, CONTAINER_AUTH, "container-auth-secret-0123",
           *STS_ISSUE[1:], *CONT_ISSUE[1:], *IMDS_ISSUE[1:]]


def check(stderr, signatures):
    assert "aws:" in stderr, "nothing was logged: the test would prove nothing"
    for s in SECRETS + list(signatures):
        assert s not in stderr, f"secret {s[:6]}… in the log:\n{stderr}"
    assert "X-Amz-Signature" not in stderr and "Signature=" not in stderr
    assert not re.search(r"\b[0-9a-f]{64}\b", stderr), stderr


@pytest.mark.valgrind
def test_no_secret_in_logs(aws_tool, tmp_path):
    s3 = awsfake.S3Fake([(AKID, SECRET, TOKEN), (STS_ISSUE[0], *STS_ISSUE[1:]),
                         (CONT_ISSUE[0], *CONT_ISSUE[1:]), (IMDS_ISSUE[0], *IMDS_ISSUE[1:])])
    sts = awsfake.STSFake(WEB_TOKEN, ROLE, issue=STS_ISSUE)
    cont = awsfake.ContainerFake(path="/creds", auth_token=CONTAINER_AUTH, issue=CONT_ISSUE)
    imds = awsfake.IMDSFake(issue=IMDS_ISSUE)
    for f in (s3, sts, cont, imds):
        f.start()
    logs = []
    try:
        s3.put("b", "k", b"data")
        get = ["send", "--service", "s3", "--bucket", "b", "--method", "GET", "--path", "k"]
        base = {"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": s3.url,
                "AWS_ENDPOINT_URL_STS": sts.url}
        static = dict(base, AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET,
                      AWS_SESSION_TOKEN=TOKEN)

        # Static credentials: success, retries of every kind, errors.
        s3.set_faults(["503", "throttle", "ok", "reset", "retry-after:1", "ok"])
        logs.append(run_tool(aws_tool, *get, "--repeat", "2", env=static, verbose=True))
        logs.append(run_tool(aws_tool, *get[:-1], "missing", env=static, verbose=True))
        logs.append(run_tool(aws_tool, *get, env=dict(static, AWS_SESSION_TOKEN="x" + TOKEN),
                             verbose=True))
        logs.append(run_tool(aws_tool, *get, env=dict(static, AWS_SECRET_ACCESS_KEY=SECRET + "x"),
                             verbose=True))
        assert logs[-1].json["error_code"] == "SignatureDoesNotMatch"
        pre = run_tool(aws_tool, "presign", "b", "k", 300, env=static, verbose=True,
                       fake_clock=False)
        assert pre.code == 0, pre
        presig = parse_qs(urlsplit(pre.out.strip()).query)["X-Amz-Signature"][0]
        logs.append(pre)

        # Web identity: a refused token, STS faults, then success and a signed call.
        tok = tmp_path / "token"
        tok.write_text("not-" + WEB_TOKEN)
        wi = dict(base, AWS_WEB_IDENTITY_TOKEN_FILE=str(tok), AWS_ROLE_ARN=ROLE)
        logs.append(run_tool(aws_tool, *get, env=wi, verbose=True))
        tok.write_text(WEB_TOKEN)
        sts.set_faults(["503"])
        logs.append(run_tool(aws_tool, *get, env=wi, verbose=True))
        assert logs[-1].json["vm_status"] == "done", logs[-1]

        # Container and IMDS credentials, used to sign.
        ct = dict(base, AWS_CONTAINER_CREDENTIALS_FULL_URI=cont.url + "/creds",
                  AWS_CONTAINER_AUTHORIZATION_TOKEN=CONTAINER_AUTH)
        logs.append(run_tool(aws_tool, *get, env=ct, verbose=True))
        assert logs[-1].json["vm_status"] == "done", logs[-1]
        ct["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "wrong " + CONTAINER_AUTH
        logs.append(run_tool(aws_tool, *get, env=ct, verbose=True))
        md = dict(base, AWS_EC2_METADATA_DISABLED="false",
                  AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
        logs.append(run_tool(aws_tool, *get, env=md, verbose=True))
        assert logs[-1].json["vm_status"] == "done", logs[-1]
    finally:
        for f in (s3, sts, cont, imds):
            f.stop()
    sigs = {e["signature"] for e in s3.requests() if "signature" in e}
    assert len(sigs) >= 8
    check("".join(r.err for r in logs), sigs | {presig})
