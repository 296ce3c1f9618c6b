"""Running `vmpipe serve` in tests: a process with its log collected, and
waits that end on an observable fact (a file, a log line), never on time.

Every wait has a generous bound only so that a broken build fails instead of
hanging; nothing asserts how long anything took.
"""
import json
import os
import shlex
import signal
import socket
import subprocess
import threading
import time

from conftest import VMPIPE

BOUND = 120 if os.environ.get("VMPIPE_WRAPPER") else 60


def wait_until(what, check, bound=BOUND):
    """Poll check() until it returns something true; fail naming `what`."""
    end = time.monotonic() + bound
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# Every Serve started and not yet reaped: conftest.py ends what a test left.
RUNNING = []


def end_group(proc):
    """SIGKILL the process group `proc` leads (it and anything it started)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=BOUND)


class Serve:
    """`vmpipe serve -c INI --spool DIR` with its stderr collected line by line.
    It leads a process group of its own, so a test that fails ends it whole.
    `prefix`: words before the command (e.g. setpriv to run as another user)."""

    def __init__(self, ini, spool, env=None, args=(), wrapper=True, preexec_fn=None, prefix=()):
        e = dict(os.environ)
        e["VMPIPE_LOG_FORMAT"] = "json"
        e.update(env or {})
        cmd = [VMPIPE, "serve", "-c", str(ini), "--spool", str(spool), *map(str, args)]
        w = os.environ.get("VMPIPE_WRAPPER")
        if w and wrapper:
            cmd = shlex.split(w) + cmd
        cmd = list(prefix) + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=e, preexec_fn=preexec_fn, start_new_session=True)
        RUNNING.append(self)
        self.lines = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def logs(self):
        with self.lock:
            out = []
            for line in self.lines:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"msg": line})
            return out

    def text(self):
        with self.lock:
            return "\n".join(self.lines)

    def saw(self, fragment):
        return any(fragment in entry.get("msg", "") for entry in self.logs())

    def wait_log(self, fragment, count=1):
        wait_until(f"log line {fragment!r} x{count}\n{self.text()[-3000:]}",
                   lambda: sum(fragment in e.get("msg", "") for e in self.logs()) >= count)

    def ready(self):
        self.wait_log("serving spool")
        return self

    def signal(self, sig):
        self.proc.send_signal(sig)

    def _reaped(self):
        if self in RUNNING:
            RUNNING.remove(self)

    def kill9(self):
        end_group(self.proc)
        self.reader.join(timeout=BOUND)
        self._reaped()

    def stop(self):
        """SIGTERM and the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=BOUND)
        finally:
            end_group(self.proc)  # whatever it left in its group
            self._reaped()
        self.reader.join(timeout=BOUND)
        self.proc.stdout.close()
        return rc

    def wait_exit(self):
        try:
            rc = self.proc.wait(timeout=BOUND)
        finally:
            end_group(self.proc)
            self._reaped()
        self.reader.join(timeout=BOUND)
        self.proc.stdout.close()
        return rc

    def end(self):
        """Kill the whole group, without asking (a test that failed)."""
        end_group(self.proc)
        self._reaped()
        self.reader.join(timeout=BOUND)
        self.proc.stdout.close()
