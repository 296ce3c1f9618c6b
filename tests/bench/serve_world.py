#!/usr/bin/python3
"""What serve_bench.py drives: the strict AWS fakes each in a process of its
own, a spool fed the Maildir way, `vmpipe serve` with its log in a file, and
readings of a process from /proc.

The fakes run as separate processes (this file, `fake KIND OPTIONS`) so they
do not share one interpreter's lock with each other or with the benchmark,
and so their CPU is not the engine's: /proc/<pid>/stat of the serve process
counts only the engine.  Each is the tests' own fake (tests/fakes/), SigV4
checked with botocore, faults injected by the fakes' own set_faults.
"""
import datetime
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
PY = "/usr/bin/python3"
AKID, SECRET = "AKIDSERVEBENCH", "serve/bench+secret0123456789"
BUCKET, PREFIX = "vm-connect-recordings", "connect/acme/CallRecordings"
CLK_TCK = os.sysconf("SC_CLK_TCK")
BOUND = float(os.environ.get("BENCH_SERVE_BOUND", "900"))  # s: a broken build fails, never hangs


def cid(n, run=0):
    """Contact id of voicemail n in run `run` (plain, unique, deterministic)."""
    return f"5e7e{run:04x}-0000-4000-8000-{n:012d}"


def connect_wav(seconds=0.2, rate=8000):
    """A short 8 kHz stereo PCM WAV, as Connect writes (only its size matters:
    nothing downloads it with attach = no)."""
    n = int(seconds * rate)
    frames = struct.pack("<hh", 1000, 0) * n
    hdr = b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVE"
    hdr += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 2, rate, rate * 4, 4, 16)
    return hdr + b"data" + struct.pack("<I", len(frames)) + frames


def recording_key(contact):
    """Where Connect would have written the recording (started 15 s ago)."""
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=15)
    return f"{PREFIX}/ivr/{when:%Y/%m/%d}/{contact}_{when:%Y%m%dT%H:%M}_UTC.wav"


def connect_event(contact):
    return {"Details": {"ContactData": {
        "Attributes": {"emailRecipient": "owner@example.com", "RecipientName": "Pat Owner"},
        "Channel": "VOICE", "ContactId": contact, "InitialContactId": contact,
        "CustomerEndpoint": {"Address": "+15555550123", "Type": "TELEPHONE_NUMBER"},
        "InstanceARN": "arn:aws:connect:us-east-1:123456789012:instance/"
                       "abcdef01-2345-6789-abcd-ef0123456789",
        "SystemEndpoint": {"Address": "+15555550100", "Type": "TELEPHONE_NUMBER"}},
        "Parameters": {}}, "Name": "ContactFlowEvent"}


def wait_until(what, check, bound=BOUND, every=0.05):
    end = time.monotonic() + bound
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > end:
            raise RuntimeError(f"gave up waiting for {what}")
        time.sleep(every)


# ------------------------------------------------------------------ /proc

def cpu_split(pid):
    """(utime, stime) of every thread of `pid` (those that ended included), s."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_s(pid):
    return sum(cpu_split(pid))


def proc_status(pid):
    """VmRSS, VmHWM (KiB), Threads, and open descriptors of `pid`."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                out[k] = int(v.split()[0])
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


def fs_type(path):
    """The file system a path is on (from /proc/mounts: the longest mount prefix)."""
    path = os.path.realpath(path)
    best, kind = "", "?"
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            mnt = parts[1]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                best, kind = mnt, parts[2]
    return kind


# ------------------------------------------------------------------ fakes

class Fake:
    """One strict fake in a process of its own: FAKE(kind, **options)."""

    def __init__(self, kind, **opts):
        self.kind = kind
        self.proc = subprocess.Popen([PY, os.path.abspath(__file__), "fake", kind, json.dumps(opts)],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"the {kind} fake did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def control(self, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + "/__fake/" + path, data=data,
                                     method="POST" if data is not None else "GET")
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read() or b"{}")

    def faults(self, rate, seed, kinds=("503", "throttle", "reset")):
        self.control("faults", {"rate": rate, "kinds": list(kinds), "seed": seed})

    def cpu_s(self):
        return cpu_s(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc.stdout.close()


class Fakes:
    """S3 holding the recordings of `contacts`, Transcribe (jobs IN_PROGRESS
    for `transcribe_s`, no quota), SES; `fault_rate` of every request answered
    503, throttled or reset (seeded)."""

    def __init__(self, tmp, contacts, transcribe_s=0.0, fault_rate=0.0, seed=1):
        keys = os.path.join(tmp, "recording-keys.txt")
        with open(keys, "w") as f:
            f.write("\n".join(recording_key(c) for c in contacts))
        self.s3 = self.tr = self.ses = None
        try:
            self.s3 = Fake("s3", keys=keys)
            self.tr = Fake("transcribe", duration=transcribe_s)
            self.ses = Fake("ses")
            if fault_rate:
                for i, fk in enumerate((self.s3, self.tr, self.ses)):
                    fk.faults(fault_rate, seed + i)
        except Exception:
            self.stop()
            raise

    def all(self):
        return [f for f in (self.s3, self.tr, self.ses) if f]

    def env(self, home):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and not k.startswith("VMPIPE_")}
        env.update({"HOME": home, "AWS_EC2_METADATA_DISABLED": "true",
                    "AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET,
                    "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": self.s3.url,
                    "AWS_ENDPOINT_URL_TRANSCRIBE": self.tr.url,
                    "AWS_ENDPOINT_URL_SESV2": self.ses.url})
        return env

    def mails_by_contact(self):
        """contact id -> number of messages SES accepted for it."""
        count = {}
        for m in self.ses.control("messages"):
            c = m["tags"].get("contact_id")
            count[c] = count.get(c, 0) + 1
        return count

    def cpu_s(self):
        return sum(f.cpu_s() for f in self.all())

    def stop(self):
        for f in self.all():
            f.stop()


def fake_main(kind, opts):
    """The child: start the fake, print its port, serve until SIGTERM."""
    import awsfake
    import ses_fake
    import transcribe_fake
    creds = [(AKID, SECRET, None)]
    if kind == "s3":
        fake = awsfake.S3Fake(creds)
        wav = connect_wav()
        etag = '"%s"' % hashlib.md5(wav).hexdigest()
        objs = fake.buckets.setdefault(BUCKET, {})
        with open(opts["keys"]) as f:
            for key in f.read().split():
                objs[key] = (wav, "audio/wav", etag)   # one shared bytes object
    elif kind == "transcribe":
        fake = transcribe_fake.TranscribeFake(creds, duration=opts.get("duration", 0.0),
                                              max_running=None,
                                              default_text="Hi, this is Sam. Please call me back.")
    elif kind == "ses":
        fake = ses_fake.SESFake(creds, verified=["example.com"])
    else:
        sys.exit(f"no fake {kind}")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    fake.start()
    # A client killed mid-request (the soak's kill -9) is no error of the fake.
    loud = fake.server.handle_error

    def handle_error(request, address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            loud(request, address)
    fake.server.handle_error = handle_error
    print(f"PORT {fake.port}", flush=True)
    threading.Event().wait()


# ------------------------------------------------------------------ the pipeline

def aws_pipeline(tmp, build, transcribe_poll="100ms", timeout="30m"):
    """etc/pipeline.ini's three AWS plugins, with the waits that only model
    Connect and Transcribe latency made short (initial_delay 0, polls from
    100 ms) so that a batch measures the engine, not those delays."""
    path = os.path.join(tmp, "aws-pipeline.ini")
    with open(path, "w") as f:
        f.write(f"""[pipeline]
name = voicemail
plugin_dir = {build}/plugins
timeout = {timeout}
notify_grace = 30s

[locate]
plugin = locate-s3
base_path = {BUCKET}/{PREFIX}
initial_delay = 0s
poll = 500ms
wait = 2m

[transcribe]
plugin = transcribe-aws
language = en-US
poll_min = {transcribe_poll}
poll_max = {transcribe_poll}
wait = 1h

[notify]
plugin = notify-ses
from = voicemail@example.com
allowed_recipient_domains = example.com
""")
    return path


# ------------------------------------------------------------------ the spool

def spool_put(spool, name, event):
    """Hand one event to the spool the Maildir way (tmp/, then rename to new/),
    as `vmpipe enqueue` does, without a process per event."""
    tmp = os.path.join(spool, "tmp", name)
    with open(tmp, "w") as f:
        json.dump(event, f)
    os.rename(tmp, os.path.join(spool, "new", name))


def spool_prepare(spool):
    for sub in ("tmp", "new"):
        os.makedirs(os.path.join(spool, sub), exist_ok=True)


def states(spool):
    """state -> count over the spool's checkpoints."""
    out = {}
    d = os.path.join(spool, "state")
    for name in os.listdir(d) if os.path.isdir(d) else []:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(d, name)) as f:
                st = json.load(f).get("state", "?")
        except (OSError, ValueError):
            st = "unreadable"
        out[st] = out.get(st, 0) + 1
    return out


# ------------------------------------------------------------------ serve

class Serve:
    """`vmpipe serve` with its log appended to `log` (JSON lines)."""

    def __init__(self, build, ini, spool, env, log, workers=2, metrics_port=None,
                 level="warn"):
        e = dict(env)
        e.update({"VMPIPE_LOG_FORMAT": "json", "VMPIPE_LOG_LEVEL": level})
        cmd = [os.path.join(build, "vmpipe"), "serve", "-c", ini, "--spool", spool,
               "--workers", str(workers)]
        self.metrics_port = metrics_port
        if metrics_port:
            cmd += ["--metrics", f"127.0.0.1:{metrics_port}"]
        self.log = log
        self.logf = open(log, "a")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.logf, env=e)
        self.pid = self.proc.pid

    def cpu_s(self):
        return cpu_s(self.pid)

    def cpu_split(self):
        return cpu_split(self.pid)

    def status(self):
        return proc_status(self.pid)

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                    timeout=60) as r:
            return r.read().decode()

    def samples(self):
        """One scrape of the metrics: {'name{labels}': value}."""
        out = {}
        for line in self.metrics().splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out

    def counter(self, name_and_labels):
        """A sample of the metrics, e.g. 'vmpipe_jobs_total{outcome="done"}' (0 if absent)."""
        return self.samples().get(name_and_labels, 0.0)

    def wait_ready(self):
        """Ready once the metrics answer (or, without them, the log says so)."""
        def ok():
            if self.proc.poll() is not None:
                raise RuntimeError(f"vmpipe serve exited {self.proc.returncode}: "
                                   + open(self.log).read()[-2000:])
            if self.metrics_port:
                try:
                    self.metrics()
                    return True
                except OSError:
                    return False
            return "serving spool" in open(self.log).read()
        wait_until("vmpipe serve to be ready", ok, every=0.02)
        return self

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        return self.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait()

    def wait(self):
        rc = self.proc.wait(timeout=BOUND)
        self.logf.close()
        return rc


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "fake":
        fake_main(sys.argv[2], json.loads(sys.argv[3]))
    else:
        sys.exit("usage: serve_world.py fake s3|transcribe|ses OPTIONS-JSON")
