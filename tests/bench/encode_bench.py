"""Playable attachments (attach_format, vm_audio_playable): what encoding
costs and what a voicemail weighs in each form.

1. CPU per audio minute of making the MP3 of a 1-minute 8 kHz voicemail with
   the host API (tests/bench/encode_bench.c: the engine's decoder, then LAME
   through libmp3lame, in process), beside the `lame` command line encoding
   the same audio from PCM and sox (libsox-fmt-mp3, the same libmp3lame)
   converting the mu-law recording, in the same run, at the same 24 kbit/s
   mono.  The command lines are whole processes (their start-up included, as
   a PBX script pays it); ours is the function's CPU alone.
2. The size of that minute in each form: as recorded (16-bit PCM, mu-law,
   GSM raw and WAV49) and as attached (MP3, 16-bit WAV), and the base64 each
   adds to a mail; and the MP3's length decoded back with `lame --decode`.

Prints one JSON object on stdout (merged into build/bench.json by bench.py,
which prints its "rows") and nothing else.
"""
import json
import os
import subprocess
import sys
import tempfile
import wave

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.dirname(__file__))
import engine_link  # noqa: E402
import speech  # noqa: E402

BUILD = os.path.join(ROOT, sys.argv[1] if len(sys.argv) > 1 else "build")
RUNS = int(os.environ.get("BENCH_RUNS", "40"))
KBPS = 24  # what vm_audio_playable uses at 8 kHz (engine/audio/mp3.c)


def build_harness():
    out = os.path.join(BUILD, "bench", "encode_bench")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-O2", "-Wall", "-Wextra", "-Werror",
                    "-I" + os.path.join(ROOT, "include"), "-iquote", os.path.join(ROOT, "engine"),
                    "-o", out, os.path.join(ROOT, "tests/bench/encode_bench.c"),
                    *engine_link.engine_objects(BUILD), *engine_link.engine_libs()], check=True)
    return out


def cpu_of(cmd):
    """CPU seconds (user + sys) of one process, and its stdout."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    out, err = p.stdout.read(), p.stderr.read()
    p.stdout.close()
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("encode bench: %s failed: %s" % (cmd, err.decode()[-500:]))
    return ru.ru_utime + ru.ru_stime, out


def median_cpu(cmd, runs):
    t = sorted(cpu_of(cmd)[0] for _ in range(runs))
    return t[len(t) // 2]


def minute(tmp):
    """A 1-minute 8 kHz voicemail: the speech fixture, repeated and cut."""
    one = speech.make_8k(speech.VOICEMAIL, os.path.join(tmp, "one.wav"))
    out = os.path.join(tmp, "pcm.wav")
    speech._run("sox", one, out, "repeat", "9", "trim", "0", "60")
    return out


def b64(n):
    """Bytes of n bytes in a mail: base64 in 76-character lines and CRLF."""
    chars = (n + 2) // 3 * 4
    return chars + (chars + 75) // 76 * 2


def decoded_seconds(mp3, tmp):
    out = os.path.join(tmp, "back.wav")
    subprocess.run(["lame", "--quiet", "--decode", mp3, out], check=True)
    with wave.open(out) as w:
        return w.getnframes() / w.getframerate()


def main():
    harness = build_harness()
    with tempfile.TemporaryDirectory(dir=os.path.join(BUILD)) as tmp:
        pcm = minute(tmp)
        ulaw, gsm, wav49 = (os.path.join(tmp, n) for n in ("ulaw.wav", "rec.gsm", "wav49.wav"))
        speech._run("sox", pcm, "-e", "u-law", "-b", "8", ulaw)
        speech._run("sox", pcm, "-t", "gsm", gsm)
        speech._run("sox", pcm, "-e", "gsm-full-rate", wav49)
        with wave.open(pcm) as w:
            seconds = w.getnframes() / w.getframerate()
        per_min = 60.0 / seconds

        ours = {}
        for name, src, fmt in (("mp3_from_pcm", pcm, 3), ("mp3_from_ulaw", ulaw, 3),
                               ("mp3_from_gsm", gsm, 3), ("wav_from_gsm", gsm, 2)):
            out = os.path.join(tmp, name)
            _, stdout = cpu_of([harness, src, out, str(fmt), str(RUNS)])
            r = json.loads(stdout)
            ours[name] = {"cpu_ms_per_audio_minute": round(r["cpu_s"] / RUNS * per_min * 1000, 2),
                          "bytes": r["bytes"], "type": r["type"]}
        mp3 = os.path.join(tmp, "mp3_from_ulaw")
        back = decoded_seconds(mp3, tmp)

        lame_out, sox_out = os.path.join(tmp, "lame.mp3"), os.path.join(tmp, "sox.mp3")
        lame_cpu = median_cpu(["lame", "--quiet", "-m", "m", "-b", str(KBPS), pcm, lame_out], RUNS)
        sox_cpu = median_cpu(["sox", ulaw, "-C", str(KBPS), sox_out], RUNS)
        ref = {"lame_cli_from_pcm": {"cpu_ms_per_audio_minute": round(lame_cpu * per_min * 1000, 2),
                                     "bytes": os.path.getsize(lame_out)},
               "sox_from_ulaw": {"cpu_ms_per_audio_minute": round(sox_cpu * per_min * 1000, 2),
                                 "bytes": os.path.getsize(sox_out)}}
        sizes = {"pcm16_wav": os.path.getsize(pcm), "ulaw_wav": os.path.getsize(ulaw),
                 "gsm_raw": os.path.getsize(gsm), "wav49": os.path.getsize(wav49),
                 "mp3": ours["mp3_from_ulaw"]["bytes"], "wav16_from_gsm": ours["wav_from_gsm"]["bytes"]}

    o, l, s = (ours["mp3_from_pcm"]["cpu_ms_per_audio_minute"],
               ref["lame_cli_from_pcm"]["cpu_ms_per_audio_minute"],
               ref["sox_from_ulaw"]["cpu_ms_per_audio_minute"])
    u = ours["mp3_from_ulaw"]["cpu_ms_per_audio_minute"]
    kb = lambda n: "%.0fKB" % (n / 1000)  # noqa: E731
    rows = [
        ["Encode MP3, 8 kHz: CPU per audio minute (vs lame CLI)", "%.1fms" % o, "%.1fms" % l,
         "%.1fx" % (l / max(o, 1e-9))],
        ["Encode MP3 from mu-law: CPU per audio min (vs sox)", "%.1fms" % u, "%.1fms" % s,
         "%.1fx" % (s / max(u, 1e-9))],
        ["Encode MP3 from GSM / WAV from GSM: CPU per audio min",
         "%.1fms" % ours["mp3_from_gsm"]["cpu_ms_per_audio_minute"],
         "%.1fms" % ours["wav_from_gsm"]["cpu_ms_per_audio_minute"], ""],
        ["1-min voicemail: MP3 attachment (vs mu-law WAV)", kb(sizes["mp3"]), kb(sizes["ulaw_wav"]),
         "%.1fx" % (sizes["ulaw_wav"] / sizes["mp3"])],
        ["1-min voicemail: MP3 (vs GSM raw / WAV49)", kb(sizes["mp3"]),
         "%s/%s" % (kb(sizes["gsm_raw"]), kb(sizes["wav49"])), ""],
        ["1-min voicemail: 16-bit WAV (vs MP3), in the mail", kb(b64(sizes["pcm16_wav"])),
         kb(b64(sizes["mp3"])), "%.1fx" % (b64(sizes["pcm16_wav"]) / b64(sizes["mp3"]))],
        ["1-min voicemail: MP3 decoded back, s (vs recorded)", "%.3f" % back, "%.3f" % seconds, ""],
    ]
    print(json.dumps({"seconds": seconds, "runs": RUNS, "kbps": KBPS, "vmpipe": ours,
                      "reference": ref, "sizes": sizes,
                      "in_mail_base64": {k: b64(v) for k, v in sizes.items()},
                      "mp3_decoded_seconds": back, "rows": rows}))


if __name__ == "__main__":
    main()
