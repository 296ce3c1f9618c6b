"""Each credential source against a local fake of its endpoint, in the AWS
CLI's order: environment, web identity (STS), shared files, container
endpoint, EC2 instance metadata (IMDSv2)."""
import time

import pytest

from aws_helpers import AKID, SECRET, TOKEN, aws_tool, awsfake, run_tool  # noqa: F401

ROLE = "arn:aws:iam::123456789012:role/vmpipe"
WEB_TOKEN = "eyJhbGciOiJSUzI1NiJ9.web-identity-token.sig"


def creds(tool, env, *args, **kw):
    return run_tool(tool, "creds", *args, env=env, **kw)


def write(path, text):
    path.write_text(text)
    return str(path)


def test_environment(aws_tool):
    r = creds(aws_tool, {"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET,
                         "AWS_SESSION_TOKEN": TOKEN})
    assert r.json == {"source": "environment", "access_key_id": AKID,
                      "secret_access_key": SECRET, "session_token": TOKEN, "expires_ms": 0}


def test_shared_files(aws_tool, tmp_path):
    c = write(tmp_path / "credentials", "[default]\naws_access_key_id = AKIDDEF\n"
              "aws_secret_access_key = def\n[dev]\naws_access_key_id = AKIDDEV\n"
              "aws_secret_access_key = dev\naws_session_token = devtok\n")
    cfg = write(tmp_path / "config", "[profile cfg]\naws_access_key_id = AKIDCFG\n"
                "aws_secret_access_key = cfg\n")
    env = {"AWS_SHARED_CREDENTIALS_FILE": c, "AWS_CONFIG_FILE": cfg}
    assert creds(aws_tool, env).json["access_key_id"] == "AKIDDEF"
    r = creds(aws_tool, dict(env, AWS_PROFILE="dev")).json
    assert (r["access_key_id"], r["session_token"], r["source"]) == ("AKIDDEV", "devtok", "profile")
    assert creds(aws_tool, dict(env, AWS_PROFILE="cfg")).json["access_key_id"] == "AKIDCFG"
    r = creds(aws_tool, dict(env, AWS_PROFILE="nope"))
    assert r.code != 0 and "profile nope not found" in r.json["error"]
    # ~/.aws/credentials by default.
    (tmp_path / ".aws").mkdir()
    write(tmp_path / ".aws" / "credentials", "[default]\naws_access_key_id=AKIDHOME\n"
          "aws_secret_access_key=home\n")
    assert creds(aws_tool, {}, home=tmp_path).json["access_key_id"] == "AKIDHOME"
    # The environment wins over the files.
    r = creds(aws_tool, dict(env, AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET))
    assert r.json["source"] == "environment"


def test_web_identity(aws_tool, tmp_path):
    sts = awsfake.STSFake(WEB_TOKEN, ROLE).start()
    try:
        tok = write(tmp_path / "token", WEB_TOKEN + "\n")
        env = {"AWS_WEB_IDENTITY_TOKEN_FILE": tok, "AWS_ROLE_ARN": ROLE,
               "AWS_ROLE_SESSION_NAME": "vm-session", "AWS_ENDPOINT_URL_STS": sts.url,
               "AWS_REGION": "us-east-1",
               # Shared files come after web identity.
               "AWS_SHARED_CREDENTIALS_FILE": write(tmp_path / "c", "[default]\n"
                                                    "aws_access_key_id=X\naws_secret_access_key=Y\n")}
        r = creds(aws_tool, env, fake_clock=False)
        assert r.json["source"] == "web-identity", r
        assert r.json["access_key_id"] == "ASIAWEBID"
        assert r.json["secret_access_key"] == "webid-secret"
        assert r.json["session_token"] == "webid-token"
        assert abs(r.json["expires_ms"] / 1000 - (time.time() + 3600)) < 60
        call = sts.calls[-1]
        assert call["RoleArn"] == ROLE and call["RoleSessionName"] == "vm-session"
        assert not sts.requests()[-1]["signed"]  # AssumeRoleWithWebIdentity is unsigned

        # Without a session name one is made up.
        del env["AWS_ROLE_SESSION_NAME"]
        assert creds(aws_tool, env).json["source"] == "web-identity"
        assert sts.calls[-1]["RoleSessionName"].startswith("vmpipe-")

        # A wrong token is an error naming STS's code, not a fall-through.
        write(tmp_path / "token", "wrong-token")
        r = creds(aws_tool, env)
        assert r.code != 0
        assert "InvalidIdentityToken" in r.json["error"], r
        # STS throttling is retried.
        write(tmp_path / "token", WEB_TOKEN)
        sts.set_faults(["throttle", "503"])
        r = creds(aws_tool, env)
        assert r.json["source"] == "web-identity", r
        # From the profile too.
        cfg = write(tmp_path / "config", f"[profile wi]\nrole_arn = {ROLE}\n"
                    f"web_identity_token_file = {tok}\nregion = us-east-1\n")
        r = creds(aws_tool, {"AWS_CONFIG_FILE": cfg, "AWS_PROFILE": "wi",
                             "AWS_ENDPOINT_URL_STS": sts.url})
        assert r.json["source"] == "web-identity", r
    finally:
        sts.stop()


def test_web_identity_creds_sign_requests(aws_tool, tmp_path):
    sts = awsfake.STSFake(WEB_TOKEN, ROLE).start()
    s3 = awsfake.S3Fake([("ASIAWEBID", "webid-secret", "webid-token")]).start()
    try:
        s3.put("b", "k", b"hello")
        env = {"AWS_WEB_IDENTITY_TOKEN_FILE": write(tmp_path / "t", WEB_TOKEN),
               "AWS_ROLE_ARN": ROLE, "AWS_ENDPOINT_URL_STS": sts.url,
               "AWS_ENDPOINT_URL_S3": s3.url, "AWS_REGION": "us-east-1"}
        r = run_tool(aws_tool, "send", "--service", "s3", "--bucket", "b", "--method", "GET",
                     "--path", "k", "--repeat", "3", env=env)
        assert [l["vm_status"] for l in r.lines] == ["done"] * 3, r
        assert len(sts.calls) == 1  # cached between calls
    finally:
        sts.stop()
        s3.stop()


@pytest.mark.valgrind
def test_container(aws_tool, tmp_path):
    fake = awsfake.ContainerFake(path="/v2/credentials/task-1", auth_token="Bearer abc").start()
    try:
        env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": fake.url + "/v2/credentials/task-1",
               "AWS_CONTAINER_AUTHORIZATION_TOKEN": "Bearer abc"}
        r = creds(aws_tool, env, fake_clock=False)
        assert r.json["source"] == "container", r
        assert (r.json["access_key_id"], r.json["session_token"]) == ("ASIACONT", "container-token")
        assert r.json["expires_ms"] > time.time() * 1000
        # The token file wins over the variable.
        env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = write(tmp_path / "tok", "Bearer wrong\n")
        r = creds(aws_tool, env)
        assert r.code != 0 and "HTTP 401" in r.json["error"], r
        write(tmp_path / "tok", "Bearer abc\n")
        assert creds(aws_tool, env).json["source"] == "container"
        # The relative form, on the container agent's address (moved here for the test).
        r = creds(aws_tool, {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/task-1",
                             "AWS_CONTAINER_AUTHORIZATION_TOKEN": "Bearer abc"},
                  "--container-origin", fake.url)
        assert r.json["source"] == "container", r
        # Plain http to anything but loopback / the agent is refused.
        r = creds(aws_tool, {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://192.0.2.1/creds"})
        assert r.code != 0 and "loopback" in r.json["error"]
    finally:
        fake.stop()


@pytest.mark.valgrind
def test_imds_v2(aws_tool):
    fake = awsfake.IMDSFake(role="vm-role").start()
    try:
        env = {"AWS_EC2_METADATA_DISABLED": "false",
               "AWS_EC2_METADATA_SERVICE_ENDPOINT": fake.url + "/"}
        r = creds(aws_tool, env, fake_clock=False)
        assert r.json["source"] == "imds", r
        assert (r.json["access_key_id"], r.json["secret_access_key"]) == ("ASIAIMDS", "imds-secret")
        paths = [(e["method"], e["path"]) for e in fake.requests()]
        assert paths == [("PUT", "/latest/api/token"),
                         ("GET", "/latest/meta-data/iam/security-credentials/"),
                         ("GET", "/latest/meta-data/iam/security-credentials/vm-role")]
        # Disabled: not even asked.
        r = creds(aws_tool, dict(env, AWS_EC2_METADATA_DISABLED="true"))
        assert r.code != 0 and "no AWS credentials found" in r.json["error"]
        assert len(fake.requests()) == 3
    finally:
        fake.stop()


def test_imds_v1_fallback_and_down(aws_tool):
    fake = awsfake.IMDSFake(v1_only=True).start()
    url = fake.url
    try:
        env = {"AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": url}
        assert creds(aws_tool, env).json["source"] == "imds"
    finally:
        fake.stop()
    r = creds(aws_tool, env)
    assert r.code != 0 and "instance metadata" in r.json["error"], r


def test_precedence_env_over_everything(aws_tool, tmp_path):
    env = {"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_WEB_IDENTITY_TOKEN_FILE": "/nonexistent", "AWS_ROLE_ARN": ROLE,
           "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/x"}
    assert creds(aws_tool, env).json["source"] == "environment"
    # Web identity (broken here) comes before the container: its error shows.
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    r = creds(aws_tool, env)
    assert r.code != 0 and "web-identity" in r.json["error"] and "/nonexistent" in r.json["error"]
