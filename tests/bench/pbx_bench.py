#!/usr/bin/python3
"""PBX bench: the Asterisk path end to end, and the GSM decoder against sox.

    /usr/bin/python3 tests/bench/pbx_bench.py [BUILD_DIR]

1. GSM 6.10: the speech fixtures of speech.py (four sentences) and a loud
   square wave, as wav49 (GSM in a WAV, Asterisk's msg0000.WAV) and as raw
   .gsm, decoded by the engine's WAV reader (tests/bench/gsm_bench.c, built
   here with engine/audio/wav.c, engine/audio/gsm.c and libgsm) and by sox to 16-bit
   PCM: the largest sample difference, and the CPU time of each decoder.
2. Asterisk end to end: an app_voicemail-shaped mail carrying a generated
   8 kHz GSM voicemail (the first sentence, 6.8 s) piped into
   `vmpipe sendmail -c etc/asterisk.ini -t`: intake, PocketSphinx, SMTP
   delivery (aiosmtpd, tests/fakes/smtp_server.py) with the audio attached.
   Wall time, CPU and peak RSS per voicemail (one process each, the mail
   checked on the server); and the hand-over to a running `vmpipe serve`
   (a listener on SPOOL/serve.sock), which returns without running the pipeline.

Prints one JSON object on stdout (merged into build/bench.json by bench.py)
and a table on stderr.
"""
import json
import os
import socket
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import speech  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_link  # noqa: E402
from pbxmail import asterisk_mail  # noqa: E402
from smtp_server import SmtpServer  # noqa: E402

BUILD = os.path.join(ROOT, sys.argv[1] if len(sys.argv) > 1 else "build")
VMPIPE = os.path.join(BUILD, "vmpipe")
RUNS = int(os.environ.get("BENCH_PBX_RUNS", "5"))


def build_harness():
    out = os.path.join(BUILD, "bench", "gsm_bench")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-O2", "-Wall", "-Wextra", "-Werror",
                    "-I" + os.path.join(ROOT, "include"), "-iquote", os.path.join(ROOT, "engine"),
                    "-o", out, os.path.join(ROOT, "tests/bench/gsm_bench.c"),
                    *engine_link.engine_objects(BUILD), *engine_link.engine_libs()], check=True)
    return out


def cpu_of(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    out = p.stdout.read()
    err = p.stderr.read()
    p.stdout.close()
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("pbx bench: %s failed: %s" % (cmd, err.decode()[-500:]))
    return out, ru.ru_utime + ru.ru_stime


def gsm_vs_sox(tmp, harness):
    files = []
    for i, text in enumerate(speech.SENTENCES):
        files.append(speech.make_8k_gsm(text, os.path.join(tmp, "s%d.wav" % i)))
        files.append(speech.make_8k_gsm_raw(text, os.path.join(tmp, "s%d.gsm" % i)))
    sq = os.path.join(tmp, "square.s16.wav")
    subprocess.run(["sox", "-V1", "-R", "-D", "-n", "-r", "8000", "-c", "1", "-b", "16", sq,
                    "synth", "3", "square", "440", "vol", "0.99"], check=True)
    for ext, args in (("wav", ["-e", "gsm-full-rate"]), ("gsm", ["-t", "gsm"])):
        out = os.path.join(tmp, "square." + ext)
        subprocess.run(["sox", "-V1", "-R", "-D", sq, *args, out], check=True)
        files.append(out)
    worst, total, ours_cpu, sox_cpu, seconds = 0, 0, 0.0, 0.0, 0.0
    for f in files:
        mine, ref = f + ".vmpipe.s16", f + ".sox.s16"
        raw = ["-t", "gsm"] if f.endswith(".gsm") else []
        out, _ = cpu_of([harness, f, mine, "20"])
        info = json.loads(out)
        ours_cpu += info["cpu_s"] / 20
        _, c = cpu_of(["sox", "-R", "-D", *raw, f, "-t", "raw", "-e", "signed-integer", "-b", "16",
                       "-L", ref])
        sox_cpu += c
        a, b = open(mine, "rb").read(), open(ref, "rb").read()
        if len(a) != len(b):
            raise SystemExit("pbx bench: %s: %d samples, sox %d" % (f, len(a) // 2, len(b) // 2))
        n = len(a) // 2
        sa = memoryview(a).cast("h")
        sb = memoryview(b).cast("h")
        worst = max(worst, max((abs(sa[i] - sb[i]) for i in range(n)), default=0))
        total += n
        seconds += n / 8000
    return {
        "what": "GSM 6.10 wav49 + raw .gsm (speech and a clipping square wave) decoded by "
                "vmpipe's WAV reader (libgsm) and by sox",
        "files": len(files), "samples": total,
        "max_abs_diff_lsb": worst,
        "vmpipe_decode_cpu_ms_per_audio_minute": round(ours_cpu / seconds * 60 * 1000, 2),
        "sox_process_cpu_ms_per_audio_minute": round(sox_cpu / seconds * 60 * 1000, 2),
    }


def run_sendmail(mail, ini, env):
    t0 = time.perf_counter()
    p = subprocess.Popen([VMPIPE, "sendmail", "-c", ini, "-t"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    p.stdin.write(mail.encode())
    p.stdin.close()
    err = p.stderr.read()
    p.stderr.close()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("pbx bench: sendmail exited %d: %s" % (os.waitstatus_to_exitcode(status),
                                                               err.decode()[-800:]))
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def summary(walls, cpus, rss):
    walls, cpus = sorted(walls), sorted(cpus)
    return {"wall_ms_median": round(walls[len(walls) // 2] * 1000, 1),
            "cpu_ms_median": round(cpus[len(cpus) // 2] * 1000, 1),
            "peak_rss_kib": max(rss), "runs": len(walls)}


def asterisk_end_to_end(tmp):
    audio = open(speech.make_8k_gsm(speech.VOICEMAIL, os.path.join(tmp, "vm.WAV")), "rb").read()
    spool = os.path.join(tmp, "spool")
    os.makedirs(os.path.join(spool, "recordings"))
    srv = SmtpServer(tmp, tls="none").start()
    ini = os.path.join(ROOT, "etc", "asterisk.ini")
    env = dict(os.environ, VMPIPE_SPOOL=spool, VMPIPE_STATE=os.path.join(tmp, "jobs"),
               VMPIPE_SMTP_URL=srv.url, VMPIPE_SMTP_TLS="none", VMPIPE_LOG_LEVEL="error",
               VMPIPE_MAIL_FROM="Voicemail <vm@pbx.example.com>")
    walls, cpus, rss = [], [], []
    try:
        for n in range(RUNS):
            # A new message number each run: a new job (the same mail would be a duplicate).
            w, c, r = run_sendmail(asterisk_mail(audio, msgnum=n + 1), ini, env)
            walls.append(w)
            cpus.append(c)
            rss.append(r)
        delivered = len(srv.messages)
        sizes = sorted(len(m.data) for m in srv.messages)
        words = b"tomorrow" in srv.messages[-1].data if srv.messages else False
    finally:
        srv.stop()
    if delivered != RUNS or not words:
        raise SystemExit("pbx bench: %d of %d mails delivered (transcript ok: %s)" % (delivered, RUNS, words))
    inline = summary(walls, cpus, rss)

    walls, cpus, rss = [], [], []
    # A running serve is one listening on SPOOL/serve.sock (spool.c: sendmail
    # only connects to learn it): sendmail drops the mail and returns.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(os.path.join(spool, "serve.sock"))
        sock.listen(64)
        for n in range(RUNS):
            w, c, r = run_sendmail(asterisk_mail(audio, msgnum=100 + n), ini, env)
            walls.append(w)
            cpus.append(c)
            rss.append(r)
    queued = len(os.listdir(os.path.join(spool, "new")))
    if queued != RUNS:
        raise SystemExit("pbx bench: %d of %d jobs queued" % (queued, RUNS))
    return {
        "what": "Asterisk mail with a 6.8 s 8 kHz GSM (wav49) voicemail -> vmpipe sendmail -c "
                "etc/asterisk.ini: intake, PocketSphinx, SMTP to aiosmtpd with the audio attached",
        "audio_seconds": 6.8, "mail_bytes": len(asterisk_mail(audio)),
        "delivered_bytes_median": sizes[len(sizes) // 2],
        "inline": inline,
        "serve_running_enqueue": summary(walls, cpus, rss),
    }


def main():
    harness = build_harness()
    with tempfile.TemporaryDirectory() as tmp:
        gsm = gsm_vs_sox(tmp, harness)
    with tempfile.TemporaryDirectory() as tmp:
        e2e = asterisk_end_to_end(tmp)
    res = {"gsm_vs_sox": gsm, "asterisk_end_to_end": e2e}
    print(json.dumps(res))
    i, q = e2e["inline"], e2e["serve_running_enqueue"]
    print("%-52s %s" % ("GSM decode, max |vmpipe - sox|", "%d LSB over %d samples" % (gsm["max_abs_diff_lsb"], gsm["samples"])),
          file=sys.stderr)
    print("%-52s %8.1f ms (sox process %.1f ms)" % ("GSM decode CPU per minute of audio",
          gsm["vmpipe_decode_cpu_ms_per_audio_minute"], gsm["sox_process_cpu_ms_per_audio_minute"]), file=sys.stderr)
    print("%-52s %8.1f ms wall, %.1f ms CPU, %d KiB" % ("Asterisk -> sendmail -> sphinx -> SMTP (inline)",
          i["wall_ms_median"], i["cpu_ms_median"], i["peak_rss_kib"]), file=sys.stderr)
    print("%-52s %8.1f ms wall, %.1f ms CPU, %d KiB" % ("Asterisk -> sendmail, serve running (enqueue)",
          q["wall_ms_median"], q["cpu_ms_median"], q["peak_rss_kib"]), file=sys.stderr)


if __name__ == "__main__":
    main()
