"""Shared pieces of the AWS client's integration tests (test_aws_*.py).

  * `aws_tool`: tests/tools/aws_tool.c linked against the engine objects of
    the build under test (VMPIPE_BUILD; the SAN build gets the sanitizers);
  * `run_tool()`: runs it with a clean AWS environment (no ~/.aws, no IMDS)
    plus what the test sets, wrapped in VMPIPE_WRAPPER when set (valgrind);
  * fakes from tests/fakes/awsfake.py and a real s3rver (npm, pinned in
    tests/package.json) on free loopback ports.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import BUILD, ROOT, engine_objects, shared_tool

sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import awsfake  # noqa: E402

AKID, SECRET, TOKEN = "AKIDVMPIPETEST", "vmpipe/secret+Key0123456789abcdefXYZ", "FwoGZXIvYXdzEXAMPLESESSIONTOKEN=="
S3RVER_BIN = os.path.join(ROOT, "tests", "node_modules", ".bin", "s3rver")


@pytest.fixture(scope="session")
def aws_tool():
    objs = engine_objects()
    missing = [o for o in objs if not os.path.exists(o)]
    assert not missing, f"engine objects missing in {BUILD}: build first (make BUILD=...): {missing[:3]}"
    flags = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-Wshadow",
             "-Wstrict-prototypes", "-Wformat=2", "-Wno-format-nonliteral", "-O1", "-g",
             "-Iinclude", "-iquote", "engine"]
    if "san" in os.path.basename(BUILD):
        flags += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                  "-fno-sanitize-recover=undefined"]

    def build(out):
        pk = subprocess.run(["pkg-config", "--cflags", "--libs", "libcurl", "libcrypto", "inih",
                             "jansson", "expat", "libmicrohttpd"], capture_output=True, text=True, check=True)
        proc = subprocess.run([os.environ.get("CC", "cc"), *flags, "-o", out,
                               "tests/tools/aws_tool.c", *objs, *pk.stdout.split(),
                               "-lgsm", "-lmp3lame", "-ldl", "-lpthread", "-lm"], cwd=ROOT, capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stderr
    return shared_tool("aws_tool", ["tests/tools/aws_tool.c", *objs], build)


class ToolResult:
    def __init__(self, proc):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.lines = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]

    @property
    def json(self):
        assert self.lines, repr(self)
        return self.lines[-1]

    def __repr__(self):
        return f"<exit {self.code}\nstdout: {self.out[-3000:]}\nstderr: {self.err[-3000:]}>"


def clean_env(home):
    """The environment minus anything AWS, with HOME pointing at an empty dir."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and not k.startswith("VMPIPE_AWS")}
    env.update({"HOME": str(home), "AWS_EC2_METADATA_DISABLED": "true"})
    return env


def run_tool(tool, *args, env=None, home=None, timeout=60, fake_clock=True, verbose=False):
    if home is None:
        # An empty HOME of its own, removed when the tool has run.
        with tempfile.TemporaryDirectory(prefix="awshome") as tmp:
            return run_tool(tool, *args, env=env, home=tmp, timeout=timeout,
                            fake_clock=fake_clock, verbose=verbose)
    e = clean_env(home)
    e.update(env or {})
    cmd = [tool] + (["-v"] if verbose else []) + (["--fake-clock"] if fake_clock else [])
    cmd += [str(a) for a in args]
    wrapper = os.environ.get("VMPIPE_WRAPPER")
    if wrapper:
        cmd = shlex.split(wrapper) + cmd
    res = ToolResult(subprocess.run(cmd, capture_output=True, text=True, env=e,
                                    timeout=timeout))
    # The wrapper (valgrind --error-exitcode=99) reports memory errors and leaks.
    assert not (wrapper and res.code == 99), f"memory errors under {wrapper}: {res!r}"
    return res


def static_env(endpoint, region="us-east-1", token=None, secret=SECRET):
    e = {"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": region,
         "AWS_ENDPOINT_URL": endpoint}
    if token:
        e["AWS_SESSION_TOKEN"] = token
    return e


@pytest.fixture
def s3fake():
    fake = awsfake.S3Fake([(AKID, SECRET, None)]).start()
    yield fake
    fake.stop()


@pytest.fixture
def s3rver(tmp_path):
    """A real s3rver on a free loopback port (port 0, read from its banner)."""
    assert os.path.exists(S3RVER_BIN), "s3rver missing: run scripts/deps.sh (npm ci in tests/)"
    data = tmp_path / "s3rver"
    data.mkdir()
    # s3rver makes continuation tokens with DES, which OpenSSL 3 keeps in its
    # legacy provider: without it every truncated listing is a 500.
    env = dict(os.environ)
    env["NODE_OPTIONS"] = (env.get("NODE_OPTIONS", "") + " --openssl-legacy-provider").strip()
    proc = subprocess.Popen([S3RVER_BIN, "-d", str(data), "-a", "127.0.0.1", "-p", "0",
                             "--no-vhost-buckets", "--configure-bucket", "vm-bucket"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    port = None
    deadline = time.time() + 30
    lines = []
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"listening on [\d.]+:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    if port is None:
        proc.kill()
        pytest.fail("s3rver did not start: " + "".join(lines))
    # Keep reading its log so a full pipe never blocks it.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
