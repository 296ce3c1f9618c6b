#!/usr/bin/python3
"""Speech bench: PocketSphinx real-time factor and word error rate.

    /usr/bin/python3 tests/bench/sphinx_bench.py [--quick] [BUILD_DIR]

--quick: 4 fixtures instead of 8 and only the default and one native-8k
variant (~30 s instead of ~2.5 min on 2 cores).

Builds tests/bench/sphinx_bench.c (the plugin's decoder pool + the engine's
WAV reader, linked with the built engine) into BUILD_DIR/bench/, synthesises the speech
fixtures of tests/integration/speech.py, and decodes them:

  * 16 kHz mono, the model's own rate, with the plugin's defaults;
  * 8 kHz telephone-band audio with each front-end variant side by side:
    upsampled to 16 kHz (the plugin's default) with and without PocketSphinx
    options, and decoded natively at 8 kHz (-samprate 8000 -nfft 256 with the
    filter bank's upper edge moved below 4 kHz).

Prints JSON on stdout (the lead merges it into build/bench.json) and a table
on stderr.  RTF = CPU seconds spent decoding / seconds of audio (model load
reported apart); WER = word edits / reference words over all fixtures.
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import speech  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_link  # noqa: E402

MODEL = "/usr/share/pocketsphinx/model/en-us"
CFLAGS = ["-std=c11", "-D_GNU_SOURCE", "-O2", "-Wall", "-Wextra", "-Werror",
          "-I" + os.path.join(ROOT, "include"), "-iquote", os.path.join(ROOT, "engine")]


def build(build_dir):
    out = os.path.join(build_dir, "bench", "sphinx_bench")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    pc = subprocess.run(["pkg-config", "--cflags", "--libs", "pocketsphinx"],
                        capture_output=True, text=True, check=True).stdout.split()
    srcs = [os.path.join(ROOT, p) for p in
            ("tests/bench/sphinx_bench.c", "plugins/transcribe-sphinx/decoder.c")]
    subprocess.run(["cc", *CFLAGS, "-o", out, *srcs, *engine_link.engine_objects(build_dir), *pc,
                    *engine_link.engine_libs()], check=True)
    return out


def native_8k_args(upperf):
    """PocketSphinx reads the model's feat.params after the command line, so
    its -upperf 6800 would win (and fail at 8 kHz): replace the file with
    /dev/null and pass its settings ourselves with the new upper edge."""
    args = ["-featparams", "/dev/null"]
    with open(os.path.join(MODEL, "en-us", "feat.params")) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 2 or parts[0] in ("-upperf", "-model"):
                continue
            args += parts
    return " ".join(args + ["-nfft", "256", "-upperf", str(upperf)])


# name -> (decode rate, extra PocketSphinx arguments); the first is the plugin's default.
VARIANTS_8K = [
    ("upsample-16k", 16000, ""),
    ("upsample-16k+no-remove-noise", 16000, "-remove_noise no"),
    ("upsample-16k+dither", 16000, "-dither yes"),
    ("upsample-16k+upperf-3500", 16000, None),   # filled in main(): needs feat.params
    ("native-8k+upperf-3500", 8000, None),
    ("native-8k+upperf-3800", 8000, None),
]


def decode(binary, rate, args, files):
    cmd = [binary, "-m", MODEL, "-r", str(rate)]
    if args:
        cmd += ["-a", args]
    proc = subprocess.run(cmd + [f for f, _ in files], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"sphinx_bench failed: {proc.stderr.strip()}")
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    load = lines[0]["load_cpu_seconds"]
    results = lines[1:]
    edits = ref_words = 0
    cpu = audio = 0.0
    per_file = []
    for (path, text), r in zip(files, results):
        n = len(speech.words(text))
        w = speech.wer(text, r["text"])
        edits += w * n
        ref_words += n
        cpu += r["cpu_seconds"]
        audio += r["audio_seconds"]
        per_file.append({"file": os.path.basename(path), "wer": round(w, 3), "text": r["text"]})
    return {
        "rate": rate,
        "args": args,
        "wer": round(edits / ref_words, 4),
        "rtf": round(cpu / audio, 4),
        "cpu_seconds": round(cpu, 3),
        "audio_seconds": round(audio, 3),
        "load_cpu_seconds": load,
        "files": per_file,
    }


def main():
    argv = sys.argv[1:]
    quick = "--quick" in argv
    argv = [a for a in argv if a != "--quick"]
    build_dir = os.path.abspath(argv[0] if argv else os.path.join(ROOT, "build"))
    binary = build(build_dir)
    texts = speech.SENTENCES + ([] if quick else speech.MORE_SENTENCES)
    variants = [VARIANTS_8K[0], VARIANTS_8K[4]] if quick else VARIANTS_8K
    with tempfile.TemporaryDirectory() as tmp:
        f16 = [(speech.make_16k(t, os.path.join(tmp, f"vm{i}-16k.wav")), t)
               for i, t in enumerate(texts)]
        f8 = [(speech.make_8k(t, os.path.join(tmp, f"vm{i}-8k.wav")), t)
              for i, t in enumerate(texts)]
        report = {"16k": decode(binary, 16000, "", f16), "8k": {}}
        for name, rate, args in variants:
            if args is None:
                upperf = 3500 if "3500" in name else 3800
                args = native_8k_args(upperf)
                if rate == 16000:
                    args = args.replace("-nfft 256 ", "")
            report["8k"][name] = decode(binary, rate, args, f8)
    best = min(report["8k"], key=lambda k: report["8k"][k]["wer"])
    out = {"speech": {
        "engine": "pocketsphinx",
        "fixtures": len(texts),
        "rtf_16k": report["16k"]["rtf"],
        "wer_16k": report["16k"]["wer"],
        "rtf_8k": report["8k"][VARIANTS_8K[0][0]]["rtf"],
        "wer_8k": report["8k"][VARIANTS_8K[0][0]]["wer"],
        "default_8k_variant": VARIANTS_8K[0][0],
        "best_8k_variant": best,
        "detail": report,
    }}
    print(f"{'fixture/variant':34} {'WER':>6} {'RTF':>6}", file=sys.stderr)
    print(f"{'16k mono':34} {report['16k']['wer']:6.3f} {report['16k']['rtf']:6.3f}", file=sys.stderr)
    for name, r in report["8k"].items():
        print(f"{'8k ' + name:34} {r['wer']:6.3f} {r['rtf']:6.3f}", file=sys.stderr)
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
