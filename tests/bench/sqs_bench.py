#!/usr/bin/python3
"""`vmpipe serve` on Amazon SQS: voicemails per second through the fakes, one
host and two hosts sharing one queue, side by side with today's one process
per voicemail (`vmpipe run`, as a PBX hook runs it) in the same run.

Every side runs the same pipeline against the same kind of fakes, started
fresh for it (in this process): the strict SQS fake (queue), the S3 fake
(the checkpoints and claims: [pipeline] state = s3://…, which two hosts need
to mail each voicemail once), locate-file (recordings already on disk) and
notify-file; no speech engine.  N job records wait in the queue before the
hosts start; the time counted is from the first ReceiveMessage the fake
answers to the last DeleteMessage, so start-up is not in it.  The reference
runs `vmpipe run` on N_REF events one after the other (each claims and
checkpoints in the same S3 fake).  Every side is checked: one mail per
voicemail, every message deleted.

The fakes are Python and share the machine's cores with vmpipe: the figures
are what this machine does through them, not what SQS and S3 would allow.

Prints one JSON object (and its "rows", which `make bench` prints):
  one_host, two_hosts: {voicemails, seconds, per_second, requests_per_voicemail}
  reference_run: {voicemails, seconds, per_second}
  two_over_one, one_host_over_reference: ratios

usage: sqs_bench.py [BUILD_DIR]      (env BENCH_SQS_N, default 400; BENCH_SQS_REF, default 60)
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import awsfake  # noqa: E402
import sqs_fake  # noqa: E402

BUILD = os.path.join(ROOT, sys.argv[1] if len(sys.argv) > 1 else "build")
VMPIPE = os.path.join(BUILD, "vmpipe")
N = int(os.environ.get("BENCH_SQS_N", "400"))
N_REF = int(os.environ.get("BENCH_SQS_REF", "60"))
AKID, SECRET = "AKIDBENCHSQS", "bench/sqs+secret0123456789"
QUEUE, STATE = "vm-bench", "vm-state"
WORKERS = 2


def wav(seconds=0.5, rate=8000):
    import struct
    n = int(seconds * rate)
    data = b"".join(struct.pack("<h", 8000 if (i // 20) % 2 else -8000) for i in range(n))
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" +
            b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) +
            b"data" + struct.pack("<I", len(data)) + data)


def cid(side, i):
    return f"{side:02x}{i:06x}-be0c-4a11-8b22-c33d44e55f66"


def ini(tmp, name, owner):
    path = os.path.join(tmp, name + ".ini")
    with open(path, "w") as f:
        f.write(f"""[pipeline]
plugin_dir = {BUILD}/plugins
timeout = 5m
state = s3://{STATE}/jobs
log_level = warn
[serve]
queue_wait = 1s
queue_visibility = 60s
owner = {owner}
[locate]
plugin = locate-file
dir = {tmp}/rec
pattern = {{initial_contact_id}}.wav
settle = 0s
[notify]
plugin = notify-file
dir = {tmp}/out-{name}
from = Voicemail <vm@localhost>
to = owner@example.com
""")
    return path


def fakes():
    creds = [(AKID, SECRET, None)]
    sqs = sqs_fake.SQSFake(creds).start()
    s3 = awsfake.S3Fake(creds).start()
    with s3.lock:
        s3.buckets[STATE] = {}
    return sqs, s3


def env_for(tmp, sqs, s3):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VMPIPE_"))}
    env.update({"HOME": tmp, "AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": AKID,
                "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL_SQS": sqs.url, "AWS_ENDPOINT_URL_S3": s3.url,
                "VMPIPE_LOG_FORMAT": "text"})
    return env


def mails(tmp):
    return sorted(f[:-4] for d in os.listdir(tmp) if d.startswith("out-")
                  for f in os.listdir(os.path.join(tmp, d)) if f.endswith(".eml"))


def serve_side(side, hosts):
    """N voicemails through `hosts` serve processes on one queue."""
    tmp = tempfile.mkdtemp(prefix="sqsbench")
    sqs, s3 = fakes()
    procs = []
    try:
        os.makedirs(os.path.join(tmp, "rec"))
        audio = wav()
        url = sqs.create_queue(QUEUE, redrive=(QUEUE + "-dlq", 5))
        ids = [cid(side, i) for i in range(N)]
        for c in ids:
            with open(os.path.join(tmp, "rec", c + ".wav"), "wb") as f:
                f.write(audio)
            sqs.send(QUEUE, json.dumps({"id": c, "recipient": {"email": "owner@example.com"}}))
        env = env_for(tmp, sqs, s3)
        for h in range(hosts):
            name = f"h{h}"
            procs.append(subprocess.Popen(
                [VMPIPE, "serve", "-c", ini(tmp, name, name), "--spool", os.path.join(tmp, "spool-" + name),
                 "--workers", str(WORKERS), "--queue", url],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 600
        while sqs.count("delete") < N:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit(f"sqs_bench: {hosts} host(s) did not finish: "
                                 f"{sqs.count('delete')} of {N} deleted")
            time.sleep(0.05)
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            if p.wait(timeout=60) != 0:
                raise SystemExit(f"sqs_bench: serve exited {p.returncode}")
        with sqs.lock:
            t0 = min(e["time"] for e in sqs.events if e["op"] == "receive")
            t1 = max(e["time"] for e in sqs.events if e["op"] == "delete")
        got = mails(tmp)
        if got != sorted(ids) or sqs.queue(QUEUE).messages:
            raise SystemExit(f"sqs_bench: {len(got)} mails for {N} voicemails with {hosts} host(s)")
        requests = len(sqs.requests()) + len(s3.requests())
        return {"voicemails": N, "hosts": hosts, "workers_per_host": WORKERS,
                "seconds": round(t1 - t0, 3), "per_second": round(N / (t1 - t0), 1),
                "requests_per_voicemail": round(requests / N, 2)}
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        sqs.stop()
        s3.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def reference():
    """Today's way on a host: one `vmpipe run` per voicemail, one after the other."""
    tmp = tempfile.mkdtemp(prefix="sqsbench")
    sqs, s3 = fakes()
    try:
        os.makedirs(os.path.join(tmp, "rec"))
        audio = wav()
        path = ini(tmp, "ref", "")
        env = env_for(tmp, sqs, s3)
        events = []
        for i in range(N_REF):
            c = cid(0xff, i)
            with open(os.path.join(tmp, "rec", c + ".wav"), "wb") as f:
                f.write(audio)
            ev = os.path.join(tmp, c + ".json")
            with open(ev, "w") as f:
                json.dump({"id": c, "recipient": {"email": "owner@example.com"}}, f)
            events.append(ev)
        t0 = time.monotonic()
        for ev in events:
            r = subprocess.run([VMPIPE, "run", "-c", path, ev], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            if r.returncode != 0:
                raise SystemExit(f"sqs_bench: vmpipe run exited {r.returncode}")
        secs = time.monotonic() - t0
        if len(mails(tmp)) != N_REF:
            raise SystemExit("sqs_bench: the reference did not mail every voicemail")
        return {"voicemails": N_REF, "seconds": round(secs, 3), "per_second": round(N_REF / secs, 1)}
    finally:
        sqs.stop()
        s3.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    one = serve_side(1, 1)
    two = serve_side(2, 2)
    ref = reference()
    out = {"one_host": one, "two_hosts": two, "reference_run": ref,
           "two_over_one": round(two["per_second"] / one["per_second"], 2),
           "one_host_over_reference": round(one["per_second"] / ref["per_second"], 1)}
    out["rows"] = [
        ["SQS, voicemails/s, 1 host (vs vmpipe run)", f"{one['per_second']}/s",
         f"{ref['per_second']}/s", f"{out['one_host_over_reference']}x"],
        ["SQS, voicemails/s, 2 hosts (vs 1 host)", f"{two['per_second']}/s",
         f"{one['per_second']}/s", f"{out['two_over_one']}x"],
    ]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
