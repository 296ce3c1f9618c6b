"""`make bench`: engine benchmarks, each measured side by side with its
reference in the same run and reported as a ratio.  Prints a table and writes
build/bench.json.  Sub-benchmarks of other areas (speech, SigV4, AWS requests)
are run when present and merged in."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, sys.argv[1] if len(sys.argv) > 1 else "build")
VMPIPE = os.path.join(BUILD, "vmpipe")
PY = "/usr/bin/python3"
N = int(os.environ.get("BENCH_RUNS", "40"))


def measure(cmd, env=None, runs=N):
    """Run cmd `runs` times; CPU seconds (user+sys), wall and peak RSS per run."""
    cpu, wall, rss = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        wall.append(time.perf_counter() - t0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit("bench: %s failed with %d" % (cmd, os.waitstatus_to_exitcode(status)))
        cpu.append(ru.ru_utime + ru.ru_stime)
        rss.append(ru.ru_maxrss)  # KiB
    cpu.sort()
    wall.sort()
    return {"cpu_ms_median": round(cpu[len(cpu) // 2] * 1000, 2),
            "wall_ms_median": round(wall[len(wall) // 2] * 1000, 2),
            "peak_rss_kib": max(rss)}


def engine_bench(tmp):
    rec = os.path.join(tmp, "rec")
    out = os.path.join(tmp, "out")
    os.makedirs(rec)
    event = os.path.join(ROOT, "samples", "connect-event.json")
    cid = json.load(open(event))["Details"]["ContactData"]["InitialContactId"]
    shutil.copy(os.path.join(ROOT, "samples", "recordings", cid + ".wav"), rec)
    ini = os.path.join(tmp, "notranscribe.ini")
    with open(ini, "w") as f:
        f.write("[pipeline]\nplugin_dir = %s/plugins\n[locate]\nplugin = locate-file\ndir = %s\n"
                "pattern = {initial_contact_id}.wav\nsettle = 0s\n[notify]\nplugin = notify-file\n"
                "dir = %s\n" % (BUILD, rec, out))
    env = dict(os.environ, VMPIPE_LOG_LEVEL="error")
    # notify-file does not mail a job twice: each run is a new job, so nothing is skipped.
    ours = measure([VMPIPE, "run", "-c", ini, event], env)
    os.makedirs(out, exist_ok=True)
    ref = measure([PY, os.path.join(ROOT, "tests", "bench", "reference_notify.py"), event, rec, out])
    full_ini = os.path.join(ROOT, "etc", "local.ini")
    full_env = dict(env, VMPIPE_OUTBOX=out)
    full = measure([VMPIPE, "run", "-c", full_ini, event], full_env, runs=3)
    return {
        "engine_per_job": {
            "what": "vmpipe run, locate-file -> notify-file (no transcriber), one process per job",
            "vmpipe": ours, "python_reference": ref,
            "cpu_ratio_python_over_vmpipe": round(ref["cpu_ms_median"] / max(ours["cpu_ms_median"], 0.01), 1),
            "rss_ratio_python_over_vmpipe": round(ref["peak_rss_kib"] / ours["peak_rss_kib"], 1),
        },
        "local_pipeline": {
            "what": "vmpipe run -c etc/local.ini on the 14 s sample (PocketSphinx included)",
            "vmpipe": full,
        },
    }


def sub_benches():
    """Other areas' benchmarks: tests/bench/*_bench.py print one JSON object."""
    res = {}
    here = os.path.dirname(__file__)
    for name in sorted(os.listdir(here)):
        if name.endswith("_bench.py"):
            p = subprocess.run([PY, os.path.join(here, name), BUILD], capture_output=True, text=True)
            key = name[:-len("_bench.py")]
            if p.returncode != 0:
                res[key] = {"error": p.stderr.strip()[-500:]}
                continue
            try:
                res[key] = json.loads(p.stdout)
            except ValueError:
                res[key] = {"error": "no JSON on stdout", "stdout": p.stdout[-500:]}
    return res


def derived_rows(k, v):
    """Table lines for the sub-benchmarks that print only their JSON object:
    [what, ours, compared to, ratio or remark].  None when the shape is not known."""
    try:
        if k == "aws":
            return [["AWS calls, 30% faults: failed (expected 0.3^3)", "%.4f" % v["failure_rate"],
                     "%.4f" % v["expected_failure_rate"], "%d calls" % v["calls"]],
                    ["AWS calls, 30% faults: requests per call", "%.2f" % v["requests_per_call"], "",
                     "%.0fms backoff" % v["backoff_ms_mean"]]]
        if k == "aws_pipeline":
            a, o = v["vmpipe"], v["original_strategy"]
            return [["AWS pipeline: hang-up to mail (vs original)", "%.1fs" % a["latency_s"],
                     "%.1fs" % o["latency_s"], "%.2fx" % v["latency_ratio_original_over_vmpipe"]],
                    ["AWS pipeline: over the %.0f s floor (vs original)" % v["latency_floor_s"],
                     "%.1fs" % v["vmpipe_over_floor_s"], "%.1fs" % v["original_over_floor_s"], ""],
                    ["AWS pipeline: requests per voicemail (vs original)", "%d" % a["requests"],
                     "%d" % o["requests"], "%.2fx" % v["requests_ratio_original_over_vmpipe"]]]
        if k == "lambda":
            v = v["lambda"]
            c, e, r = v["cold_start_ms_median"], v["per_event_ms_median"], v["peak_rss_kib"]
            return [["Lambda: cold start (vs Python + boto3)", "%.1fms" % c["vmpipe"],
                     "%.1fms" % c["python_boto3"], "%.1fx" % v["cold_start_ratio_python_over_vmpipe"]],
                    ["Lambda: per event, link click (vs Python no-op)", "%.2fms" % e["vmpipe_link_click"],
                     "%.2fms" % e["python_noop"], "%.1fx" % v["per_event_ratio_python_over_vmpipe"]],
                    ["Lambda: peak RSS (vs Python + boto3)", "%dKiB" % r["vmpipe"], "%dKiB" % r["python_boto3"],
                     "%.1fx" % v["rss_ratio_python_over_vmpipe"]],
                    ["Lambda: package size", "%.1fMB" % (v["package_bytes"] / 1e6), "", ""]]
        if k == "sigv4":
            b = v["botocore_s3_get_header"]
            return [["SigV4: CPU per S3 GET, cached key (vs botocore)",
                     "%.2fus" % v["s3_get_header_cached_key"]["cpu_us_per_request"],
                     "%.2fus" % b["cpu_us_per_request"], "%.1fx" % v["cpu_ratio_botocore_over_vmpipe_cached"]],
                    ["SigV4: CPU per S3 GET, new key (vs botocore)",
                     "%.2fus" % v["s3_get_header_cold_key"]["cpu_us_per_request"],
                     "%.2fus" % b["cpu_us_per_request"], "%.1fx" % v["cpu_ratio_botocore_over_vmpipe_cold"]]]
        if k == "pbx":
            g, a = v["gsm_vs_sox"], v["asterisk_end_to_end"]
            i, q = a["inline"], a["serve_running_enqueue"]
            return [["GSM decode: max |vmpipe - sox|, LSB", "%d" % g["max_abs_diff_lsb"], "0",
                     "%d samples" % g["samples"]],
                    ["GSM decode: CPU per audio minute (vs sox)", "%.1fms" % g["vmpipe_decode_cpu_ms_per_audio_minute"],
                     "%.1fms" % g["sox_process_cpu_ms_per_audio_minute"],
                     "%.1fx" % (g["sox_process_cpu_ms_per_audio_minute"] /
                                max(g["vmpipe_decode_cpu_ms_per_audio_minute"], 1e-9))],
                    ["Asterisk mail: sendmail wall (serve up vs inline)", "%.0fms" % q["wall_ms_median"],
                     "%.0fms" % i["wall_ms_median"], "%.0fx" % (i["wall_ms_median"] / max(q["wall_ms_median"], 1e-9))],
                    ["Asterisk mail: sendmail RSS (serve up vs inline)", "%dKiB" % q["peak_rss_kib"],
                     "%dKiB" % i["peak_rss_kib"], ""]]
        if k == "sphinx":
            v = v["speech"]
            return [["PocketSphinx: WER / RTF, 16 kHz", "%.3f" % v["wer_16k"], "", "RTF %.3f" % v["rtf_16k"]],
                    ["PocketSphinx: WER / RTF, 8 kHz (%s)" % v["default_8k_variant"], "%.3f" % v["wer_8k"], "",
                     "RTF %.3f" % v["rtf_8k"]]]
    except (KeyError, TypeError, ZeroDivisionError):
        return None
    return None


def main():
    with tempfile.TemporaryDirectory() as tmp:
        result = engine_bench(tmp)
    result.update(sub_benches())
    with open(os.path.join(BUILD, "bench.json"), "w") as f:
        json.dump(result, f, indent=2)
    e = result["engine_per_job"]
    print("%-44s %12s %12s %8s" % ("benchmark", "vmpipe", "reference", "ratio"))
    print("%-44s %10.2fms %10.2fms %7.1fx" % ("CPU per job, no transcriber (vs Python)", e["vmpipe"]["cpu_ms_median"],
                                              e["python_reference"]["cpu_ms_median"], e["cpu_ratio_python_over_vmpipe"]))
    print("%-44s %9dKiB %9dKiB %7.1fx" % ("peak RSS, no transcriber (vs Python)", e["vmpipe"]["peak_rss_kib"],
                                            e["python_reference"]["peak_rss_kib"], e["rss_ratio_python_over_vmpipe"]))
    f = result["local_pipeline"]["vmpipe"]
    print("%-44s %9dKiB" % ("peak RSS, etc/local.ini with PocketSphinx", f["peak_rss_kib"]))
    print("%-44s %10.0fms" % ("wall, etc/local.ini on the 14 s sample", f["wall_ms_median"]))
    for k, v in result.items():
        if k in ("engine_per_job", "local_pipeline"):
            continue
        if isinstance(v, dict) and v.get("rows"):
            # A sub-benchmark's own lines: [what, ours, compared to, ratio].
            for row in v["rows"]:
                print("%-52s %12s %12s %12s" % tuple(row))
            continue
        rows = derived_rows(k, v)
        if rows:
            for row in rows:
                print("%-52s %12s %12s %12s" % tuple(row))
            continue
        print("%s: %s" % (k, json.dumps(v)[:600]))
    print("written: %s" % os.path.join(BUILD, "bench.json"))


if __name__ == "__main__":
    main()
