#!/usr/bin/python3
"""AWS client under faults: requests and retries per call.

Runs the strict S3 fake with a random fault rate (default 30%: 503, SlowDown
throttling and connection resets, seeded) and makes N signed GETs through the
host API (vm_aws_send, via tests/tools/aws_tool.c on the engine's virtual
clock, so backoff costs no wall time).  Prints one JSON object:

  calls, done, failed          outcome of the N calls
  requests_per_call            HTTP requests the fake saw / calls
  retries_per_call             requests_per_call - 1
  attempts_histogram           {"1": n, "2": n, "3": n}
  backoff_ms_mean              virtual backoff slept per call (full jitter)
  expected_failure_rate        rate^3 (three attempts all faulted)
  wall_ms_per_call             real time per call (signing + HTTP + parsing)

usage: aws_bench.py [BUILD_DIR] [--calls N] [--rate R] [--seed S]
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import awsfake  # noqa: E402


def build_tool(build):
    # Named from the sources: objects of files that moved are never linked.
    srcs = sorted(glob.glob(os.path.join(ROOT, "engine", "**", "*.c"), recursive=True))
    objs = [os.path.join(build, "obj", os.path.relpath(s, ROOT))[:-2] + ".o"
            for s in srcs if os.path.basename(s) != "main.c"]
    if not all(os.path.exists(o) for o in objs):
        sys.exit(f"aws_bench: engine objects missing in {build}; build first")
    out = os.path.join(build, "bench", "aws_tool")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    libs = subprocess.run(["pkg-config", "--cflags", "--libs", "libcurl", "libcrypto", "inih",
                           "jansson", "expat", "libmicrohttpd"], capture_output=True, text=True,
                          check=True).stdout.split()
    subprocess.run([os.environ.get("CC", "cc"), "-std=c11", "-D_GNU_SOURCE", "-O2",
                    "-Iinclude", "-iquote", "engine", "-o", out, "tests/tools/aws_tool.c",
                    *objs, *libs, "-lgsm", "-lmp3lame", "-ldl", "-lpthread", "-lm"], cwd=ROOT, check=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default=os.path.join(ROOT, "build"))
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--rate", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    tool = build_tool(os.path.abspath(a.build))
    fake = awsfake.S3Fake([("AKIDBENCH", "bench-secret", None)]).start()
    home = tempfile.TemporaryDirectory(prefix="awsbench")
    try:
        fake.put("bench", "voicemail.wav", b"x" * 4096)
        fake.set_faults(rate=a.rate, kinds=["503", "throttle", "reset"], seed=a.seed)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"HOME": home.name, "AWS_EC2_METADATA_DISABLED": "true",
                    "AWS_ACCESS_KEY_ID": "AKIDBENCH", "AWS_SECRET_ACCESS_KEY": "bench-secret",
                    "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": fake.url})
        t0 = time.monotonic()
        proc = subprocess.run([tool, "--fake-clock", "send", "--service", "s3",
                               "--bucket", "bench", "--method", "GET", "--path",
                               "voicemail.wav", "--repeat", str(a.calls)],
                              env=env, capture_output=True, text=True, timeout=600)
        wall = time.monotonic() - t0
        lines = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
        if len(lines) != a.calls:
            sys.exit(f"aws_bench: {len(lines)} results for {a.calls} calls\n{proc.stderr[-2000:]}")
        reqs = len([r for r in fake.requests() if r["path"] == "/bench/voicemail.wav"])
    finally:
        fake.stop()
        home.cleanup()
    hist = {}
    for l in lines:
        hist[str(l["attempts"])] = hist.get(str(l["attempts"]), 0) + 1
    done = sum(1 for l in lines if l["vm_status"] == "done")
    print(json.dumps({
        "bench": "aws_retries",
        "fault_rate": a.rate,
        "calls": a.calls,
        "done": done,
        "failed": a.calls - done,
        "failure_rate": round((a.calls - done) / a.calls, 4),
        "expected_failure_rate": round(a.rate ** 3, 4),
        "requests_per_call": round(reqs / a.calls, 3),
        "retries_per_call": round(reqs / a.calls - 1, 3),
        "attempts_histogram": dict(sorted(hist.items())),
        "backoff_ms_mean": round(sum(l["waited_ms"] for l in lines) / a.calls, 1),
        "wall_ms_per_call": round(wall * 1000 / a.calls, 3),
    }, indent=None))


if __name__ == "__main__":
    main()
