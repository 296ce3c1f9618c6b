#!/usr/bin/python3
"""CPU and peak RSS per minute of audio through locate-kvs's Matroska
reader (plugins/locate-kvs/mkv.c, kvs_audio.c): a GetMedia answer laid out
as Amazon Connect writes it (tests/fakes/connect_mkv.py: both tracks, one
fragment a second), 1 and 10 minutes long, fed in 16 KiB pieces from a file
by tests/bench/mkv_bench.c; measured with wait4 (user+sys CPU) and the
harness's own VmHWM (peak RSS)
beside `cat` of the same file (the cost of only moving the bytes) and an
empty answer (the harness's own RSS).  Peak RSS grows with the audio kept
(the caller's track: 0.96 MB a minute), not with the stream read.

usage: mkv_bench.py [BUILD_DIR]   (env BENCH_MKV_RUNS, default 3)
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import connect_mkv  # noqa: E402

BUILD = os.path.join(ROOT, sys.argv[1] if len(sys.argv) > 1 else "build")
RUNS = int(os.environ.get("BENCH_MKV_RUNS", "3"))
CID = "0c1d2e3f-1111-4e5f-8a9b-0c1d2e3f4a5b"


def build_harness():
    out = os.path.join(BUILD, "bench", "mkv_bench")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-O2", "-Wall", "-Wextra", "-Werror", "-o", out,
                    os.path.join(ROOT, "tests/bench/mkv_bench.c"), os.path.join(ROOT, "plugins/locate-kvs/mkv.c"),
                    os.path.join(ROOT, "plugins/locate-kvs/kvs_audio.c")], check=True)
    return out


def measure(cmd, keep_output=True):
    best = None
    for _ in range(RUNS):
        with tempfile.TemporaryFile() as sink:
            p = subprocess.Popen(cmd, stdout=sink if keep_output else subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            _, status, ru = os.wait4(p.pid, 0)
            sink.seek(0)
            out = sink.read()
        if status != 0:
            raise RuntimeError(f"{cmd}: status {status}")
        # The harness reports its own peak (VmHWM); ru_maxrss would include this
        # Python process's from before exec.  `cat` reports none: 0.
        rss = json.loads(out).get("hwm_kb", 0) if keep_output else 0
        r = {"cpu_s": ru.ru_utime + ru.ru_stime, "rss_kb": rss, "out": out}
        best = r if best is None or r["cpu_s"] < best["cpu_s"] else best
    return best


def stream(path, minutes):
    tone = connect_mkv.tone_pcm(60, 440)
    other = connect_mkv.tone_pcm(60, 660)
    with open(path, "wb") as f:
        for m in range(minutes):
            for _, frag in connect_mkv.contact(CID, tone, other, connect_mkv.FIRST_FRAGMENT + m * 10 ** 6,
                                               1714558500000 + m * 60000):
                f.write(frag)
    return os.path.getsize(path)


def main():
    harness = build_harness()
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        empty = os.path.join(tmp, "empty.mkv")
        open(empty, "wb").close()
        base = measure([harness, empty, CID, "16384"])
        for minutes in (1, 10):
            path = os.path.join(tmp, f"{minutes}.mkv")
            size = stream(path, minutes)
            ours = measure([harness, path, CID, "16384"])
            both = measure([harness, path, CID, "16384", "both"])
            cat = measure(["cat", path], keep_output=False)
            got = json.loads(ours["out"])
            if got["frames"] != minutes * 60 * 8000:
                raise RuntimeError(f"{got['frames']} frames from {minutes} min")
            res[f"{minutes}min"] = {
                "stream_bytes": size,
                "cpu_ms_per_audio_minute": round(ours["cpu_s"] * 1000 / minutes, 2),
                "cpu_ms_per_audio_minute_both_tracks": round(both["cpu_s"] * 1000 / minutes, 2),
                "cat_cpu_ms_per_audio_minute": round(cat["cpu_s"] * 1000 / minutes, 2),
                "peak_rss_kb": ours["rss_kb"], "peak_rss_kb_both_tracks": both["rss_kb"],
                "rss_over_empty_kb_per_audio_minute": round((ours["rss_kb"] - base["rss_kb"]) / minutes, 1),
                "mb_per_s": round(size / 1e6 / max(ours["cpu_s"], 1e-6), 1)}
    ten = res["10min"]
    rows = [["Matroska reader: CPU ms per audio minute (vs cat)", "%.2f" % ten["cpu_ms_per_audio_minute"],
             "%.2f" % ten["cat_cpu_ms_per_audio_minute"],
             "%.1fx" % (ten["cpu_ms_per_audio_minute"] / max(ten["cat_cpu_ms_per_audio_minute"], 0.01))],
            ["Matroska reader: peak RSS KB, 10 min (empty run)", "%d" % ten["peak_rss_kb"], "%d" % base["rss_kb"],
             "+%.0f KB/min" % ten["rss_over_empty_kb_per_audio_minute"]]]
    print(json.dumps({"what": "GetMedia answers in Connect's layout (both tracks, 1 s fragments), 16 KiB pieces; "
                              f"best of {RUNS}", "empty_rss_kb": base["rss_kb"], **res, "rows": rows}))


if __name__ == "__main__":
    main()
