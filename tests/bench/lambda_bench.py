"""Lambda benchmark (`make bench` runs every tests/bench/*_bench.py).

Side by side, in the same run, against the strict Runtime API fake:
  * cold start: from exec to the first GET /invocation/next, for the packaged
    `bootstrap` (static launcher -> bundled loader -> vmpipe, pipeline and
    plugins loaded) and for the reference, a Python 3 runtime that imports
    boto3 and creates the S3, Transcribe and SES v2 clients as the original
    function did (tests/bench/lambda_reference.py);
  * per-event overhead: hand-out of an event to the runtime's answer, for a
    link click (the loop plus a small handler) and the Python loop answering
    {"ok": true}; plus vmpipe's full local pipeline (locate-file -> notify-file);
  * peak RSS (VmHWM) of each after the events; the package size.

Usage: lambda_bench.py [BUILD_DIR]   (prints one JSON object)
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
from lambda_runtime import LambdaRuntimeFake  # noqa: E402

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
RUNS = int(os.environ.get("LAMBDA_BENCH_RUNS", "10"))
EVENTS = int(os.environ.get("LAMBDA_BENCH_EVENTS", "40"))
PY = "/usr/bin/python3"
CONTACT = "5b1c2f4e-7a39-4a8e-9d61-0c6f1b2a3d4e"


def lambda_env(rt, root, **extra):
    e = {"AWS_LAMBDA_RUNTIME_API": rt.address, "LAMBDA_TASK_ROOT": root, "_HANDLER": "vmpipe",
         "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
         "AWS_LAMBDA_FUNCTION_NAME": "vmpipe", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
         "AWS_ACCESS_KEY_ID": "ASIABENCH", "AWS_SECRET_ACCESS_KEY": "bench-secret",
         "AWS_SESSION_TOKEN": "bench-token", "AWS_EC2_METADATA_DISABLED": "true",
         "LANG": "C.UTF-8", "TZ": ":UTC", "PATH": "/usr/bin:/bin", "VMPIPE_LOG_LEVEL": "error"}
    e.update(extra)
    return e


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def run_once(cmd, env, events, cwd):
    """Start the runtime, time exec -> first /next, push `events`, return
    (cold_ms, [per-event ms], peak RSS KiB)."""
    with LambdaRuntimeFake() as rt:
        env = dict(env, AWS_LAMBDA_RUNTIME_API=rt.address)
        t0 = time.time()
        p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            rt.wait_next(1, timeout=60)
            cold = (rt.first_next_at - t0) * 1000
            per = []
            for ev in events:
                rid = rt.add_event(ev, timeout_ms=60000)
                res = rt.wait_result(rid, timeout=60)
                if res["kind"] != "response":
                    raise SystemExit("bench: %s answered %s" % (cmd[0], res["body"][:300]))
                per.append(res["elapsed"] * 1000)
            rt.wait_next(len(events) + 1, timeout=60)
            rss = vm_hwm_kib(p.pid)
        finally:
            p.kill()
            p.wait()
        if rt.violations:
            raise SystemExit("bench: Runtime API violations: %s" % rt.violations)
        return cold, per, rss


def click_event():
    return {"version": "2.0", "rawPath": "/voicemail", "rawQueryString": "bucket=b&key=k&expires=1&sig=x",
            "headers": {}, "requestContext": {"http": {"method": "GET", "path": "/voicemail"}},
            "isBase64Encoded": False}


def connect_event():
    return json.load(open(os.path.join(ROOT, "samples", "connect-event.json")))


def med(xs):
    return round(statistics.median(xs), 2)


def main():
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        zpath = os.path.join(tmp, "vmpipe-lambda.zip")
        p = subprocess.run(["sh", "scripts/package-lambda.sh", BUILD, zpath], cwd=ROOT,
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit("bench: packaging failed: " + p.stderr)
        root = os.path.join(tmp, "task")
        with zipfile.ZipFile(zpath) as z:
            for info in z.infolist():
                z.extract(info, root)
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    os.chmod(os.path.join(root, info.filename), mode)
        rec, outbox = os.path.join(tmp, "rec"), os.path.join(tmp, "out")
        os.makedirs(rec)
        os.makedirs(outbox)
        wav = os.path.join(ROOT, "samples", "recordings", CONTACT + ".wav")
        shutil.copy(wav, os.path.join(rec, CONTACT + ".wav"))
        ini = os.path.join(root, "etc", "bench.ini")
        with open(ini, "w") as f:
            f.write(f"[pipeline]\ntimeout = 30s\n[locate]\nplugin = locate-file\ndir = {rec}\n"
                    f"pattern = {{initial_contact_id}}.wav\nsettle = 0s\n[notify]\n"
                    f"plugin = notify-file\ndir = {outbox}\nfrom = Voicemail <vm@localhost>\n")
        ours = {"cold": [], "per": [], "rss": []}
        ref = {"cold": [], "per": [], "rss": []}
        pipe = {"per": []}
        for _ in range(RUNS):
            env = lambda_env(_Addr(), root, VMPIPE_PIPELINE=ini,
                             VMPIPE_LINK_BASE_URL="https://x.lambda-url.us-east-1.on.aws",
                             VMPIPE_LINK_SECRET="b" * 40)
            c, per, rss = run_once([os.path.join(root, "bootstrap")], env,
                                   [click_event()] * (EVENTS // 2), tmp)
            ours["cold"].append(c)
            ours["per"] += per
            ours["rss"].append(rss)
            c, per, rss = run_once([PY, os.path.join(ROOT, "tests", "bench", "lambda_reference.py")],
                                   dict(lambda_env(_Addr(), root), PYTHONDONTWRITEBYTECODE="1"),
                                   [click_event()] * (EVENTS // 2), tmp)
            ref["cold"].append(c)
            ref["per"] += per
            ref["rss"].append(rss)
        # The whole local pipeline per event (locate-file, mail build, notify-file with fsync).
        _, per, rss_pipe = run_once([os.path.join(root, "bootstrap")],
                                    dict(lambda_env(_Addr(), root), VMPIPE_PIPELINE=ini),
                                    [connect_event()] * EVENTS, tmp)
        pipe["per"] = per
        out["lambda"] = {
            "what": "bootstrap (packaged) vs a Python 3 runtime that imports boto3 and creates "
                    "S3/Transcribe/SESv2 clients; strict Runtime API fake; %d cold starts each" % RUNS,
            "package_bytes": os.path.getsize(zpath),
            "cold_start_ms_median": {"vmpipe": med(ours["cold"]), "python_boto3": med(ref["cold"])},
            "cold_start_ratio_python_over_vmpipe": round(med(ref["cold"]) / max(med(ours["cold"]), 0.01), 1),
            "per_event_ms_median": {"vmpipe_link_click": med(ours["per"]),
                                    "python_noop": med(ref["per"]),
                                    "vmpipe_local_pipeline": med(pipe["per"])},
            "per_event_ratio_python_over_vmpipe": round(med(ref["per"]) / max(med(ours["per"]), 0.001), 1),
            "peak_rss_kib": {"vmpipe": max(ours["rss"]), "vmpipe_local_pipeline": rss_pipe,
                             "python_boto3": max(ref["rss"])},
            "rss_ratio_python_over_vmpipe": round(max(ref["rss"]) / max(max(ours["rss"]), 1), 1),
            "goal_50x_start": med(ref["cold"]) / max(med(ours["cold"]), 0.01) >= 50,
            "goal_rss_under_16MiB": max(max(ours["rss"]), rss_pipe) < 16 * 1024,
        }
    print(json.dumps(out))


class _Addr:
    """lambda_env() wants rt.address; run_once() replaces it with the real one."""
    address = "127.0.0.1:0"


if __name__ == "__main__":
    main()
