"""Shared fixtures for vmpipe's integration tests.

Tests run the built binary.  VMPIPE_BUILD (default: build) names the build
directory, so the same tests run against build-san/ (ASan/UBSan).  When
VMPIPE_WRAPPER is set (e.g. "valgrind -q --error-exitcode=99"), every run is
wrapped in it.
"""
import fcntl
import glob
import json
import os
import shlex
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("VMPIPE_BUILD", "build"))
VMPIPE = os.path.join(BUILD, "vmpipe")
PLUGIN_DIR = os.path.join(BUILD, "plugins")
TEST_PLUGIN_DIR = os.path.join(BUILD, "test-plugins")
PYTHON = "/usr/bin/python3"

# Folders the tests make for a spool must not be group-writable: `vmpipe
# serve` refuses those (docs/serve.md, "Who writes what"), whatever umask
# the machine running the tests has.
os.umask(0o022)

# Every process the tests start inherits this mark, the id of the pytest
# process that runs the session (xdist's workers keep their controller's), so
# the session's end can find what was left.
MARK = "VMPIPE_TEST_SESSION"
if not (os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get(MARK)):
    os.environ[MARK] = str(os.getpid())


def _left_behind():
    """Processes carrying this session's mark that run vmpipe: {pid: cmdline}."""
    want = f"{MARK}={os.environ[MARK]}".encode()
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if want not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        # The binary itself, its names, or run under a wrapper (valgrind).
        if any(os.path.basename(w) in ("vmpipe", "vmpipe-sendmail", "bootstrap") for w in cmd.split()):
            found[int(pid)] = cmd
    return found


@pytest.fixture(autouse=True)
def _end_serves():
    """A test that failed half-way leaves its `vmpipe serve`: end its group."""
    yield
    import serve_helpers
    for srv in list(serve_helpers.RUNNING):
        srv.end()


def pytest_sessionfinish(session, exitstatus):
    """Fail the session when a vmpipe process started by the tests is still
    there (and end it, by process group, so it does not live on).  Under
    xdist the controller looks, once every worker is done."""
    if hasattr(session.config, "workerinput"):
        return
    left = _left_behind()
    if not left:
        return
    import signal
    own = os.getpgid(0)
    for pid in left:
        try:
            g = os.getpgid(pid)
            if g != own:  # never our own group: that is pytest
                os.killpg(g, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    lines = "\n".join(f"  {pid}: {cmd}" for pid, cmd in sorted(left.items()))
    print(f"\nvmpipe processes left behind by the tests (now killed):\n{lines}", flush=True)
    session.exitstatus = 1


def engine_objects(build=BUILD):
    """The engine's objects in `build` but main.o, named from the sources (not
    globbed, so objects of files that moved or went away are never linked)."""
    srcs = sorted(glob.glob(os.path.join(ROOT, "engine", "**", "*.c"), recursive=True))
    return [os.path.join(build, "obj", os.path.relpath(s, ROOT))[:-2] + ".o"
            for s in srcs if os.path.basename(s) != "main.c"]


class Result:
    def __init__(self, proc):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return f"<exit {self.code}\nstdout: {self.out[-3000:]}\nstderr: {self.err[-3000:]}>"


def run_vmpipe(*args, input=None, env=None, timeout=120, cwd=None):
    """Run build/vmpipe with args; returns Result(code, out, err)."""
    e = dict(os.environ)
    e.setdefault("VMPIPE_LOG_FORMAT", "text")
    if env:
        e.update(env)
    cmd = [VMPIPE, *[str(a) for a in args]]
    wrapper = os.environ.get("VMPIPE_WRAPPER")
    if wrapper:
        cmd = shlex.split(wrapper) + cmd
    proc = subprocess.run(cmd, input=input, capture_output=True, text=True,
                          env=e, timeout=timeout, cwd=cwd)
    return Result(proc)


@pytest.fixture
def plugdir(tmp_path):
    """A plugin dir holding the build's plugins and the test plugins (symlinks)."""
    d = tmp_path / "plugins"
    d.mkdir()
    for src in (PLUGIN_DIR, TEST_PLUGIN_DIR):
        sos = glob.glob(os.path.join(src, "*.so"))
        assert sos, f"nothing built in {src}"
        for so in sos:
            os.symlink(so, d / os.path.basename(so))
    return d


@pytest.fixture
def vmpipe():
    return run_vmpipe


def write(path, text):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def tenant_pipeline(tmp, plugdir, name="acme", *, pipeline_lines=(), wait="1m", transcript=None):
    """TMP/tenants/NAME.ini (tenant.h): locate-file in TMP/NAME-rec, the test
    transcriber when `transcript` is given, notify-file to TMP/NAME-out; the
    tenant directory."""
    (tmp / f"{name}-rec").mkdir(exist_ok=True)
    transcribe = f"[transcribe]\nplugin = test-flaky-transcribe\ntext = {transcript}\n" if transcript else ""
    write(tmp / "tenants" / f"{name}.ini", "\n".join(
        ["[pipeline]", f"plugin_dir = {plugdir}", "timeout = 5m", "notify_grace = 0s", *pipeline_lines,
         "", "[locate]", "plugin = locate-file", f"dir = {tmp}/{name}-rec", "pattern = {initial_contact_id}.wav",
         f"wait = {wait}", "settle = 0s", "", transcribe,
         "[notify]", "plugin = notify-file", f"dir = {tmp}/{name}-out"]) + "\n")
    return tmp / "tenants"


def connect_event(contact_id="11111111-2222-3333-4444-555555555555",
                  initial_id=None, caller="+15555550123",
                  recipient="owner@example.com", name="Pat Owner", extra_attrs=None):
    """An Amazon Connect contact-flow invocation event as Lambda receives it."""
    attrs = {}
    if recipient is not None:
        attrs["emailRecipient"] = recipient
    if name is not None:
        attrs["RecipientName"] = name
    attrs.update(extra_attrs or {})
    return {
        "Details": {
            "ContactData": {
                "Attributes": attrs,
                "Channel": "VOICE",
                "ContactId": contact_id,
                "CustomerEndpoint": {"Address": caller, "Type": "TELEPHONE_NUMBER"},
                "InitialContactId": initial_id or contact_id,
                "InstanceARN": "arn:aws:connect:us-east-1:123456789012:instance/"
                               "abcdef01-2345-6789-abcd-ef0123456789",
                "SystemEndpoint": {"Address": "+15555550100", "Type": "TELEPHONE_NUMBER"},
            },
            "Parameters": {},
        },
        "Name": "ContactFlowEvent",
    }


def shared_tool(name, inputs, build):
    """A helper program built once per build directory and shared by every
    test process: pytest-xdist's workers, and make check's later passes on
    the same build (valgrind after plain).  It is BUILD/tests/NAME, made under
    an exclusive lock on NAME.lock when missing or older than any of
    `inputs` (files; the headers under include/ and engine/ count too).
    build(out) writes the program to `out`; it is renamed into place, so no
    process ever runs half a file."""
    d = os.path.join(BUILD, "tests")
    os.makedirs(d, exist_ok=True)
    out = os.path.join(d, name)
    headers = glob.glob(os.path.join(ROOT, "include", "vmpipe", "*.h")) + \
        glob.glob(os.path.join(ROOT, "engine", "**", "*.h"), recursive=True)
    with open(out + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        newest = max(os.path.getmtime(os.path.join(ROOT, i)) for i in [*inputs, *headers])
        if not os.path.exists(out) or os.path.getmtime(out) < newest:
            tmp = f"{out}.tmp-{os.getpid()}"
            try:
                build(tmp)
                os.replace(tmp, out)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
    return out


class make_lock:
    """Held while a test runs make on the build under test (BUILD/make.lock):
    two test processes never make the same file at once."""

    def __enter__(self):
        os.makedirs(BUILD, exist_ok=True)
        self.f = open(os.path.join(BUILD, "make.lock"), "w")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self.f.close()
