#!/usr/bin/python3
"""Once and only once, measured (issue: "Hostile neighbours and twice-sent
mail", item 8): how often a voicemail is mailed twice

  concurrent   the same event run twice at the same moment (two `vmpipe run`
               started together, racing for the claim), BENCH_ONCE_TRIALS
               (30) trials;
  kill9-file   `vmpipe run` killed with SIGKILL just after notify-file's .eml
               became real (tests/tools/crash_rename.c), then run again;
  kill9-ses    killed just after SES accepted the mail, before the checkpoint
               recorded it, then run again: SES cannot be asked whether it
               delivered, so this is the window the docs name.

All with `[pipeline] state` (a directory), the configuration that promises
once-only.  The audit before the fix: concurrent 5 of 5 mailed twice, kill -9
after delivery 14 of 15.  Prints one JSON object with its table rows.

usage: once_bench.py [BUILD_DIR]
"""
import email
import glob
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, sys.argv[1] if len(sys.argv) > 1 else "build")
VMPIPE = os.path.join(BUILD, "vmpipe")
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import ses_fake  # noqa: E402

TRIALS = int(os.environ.get("BENCH_ONCE_TRIALS", "30"))
AKID, SECRET = "AKIDONCEBENCH", "once/bench+secret0123456789"


def wav_bytes(seconds=0.2, rate=8000):
    n = int(seconds * rate)
    samples = b"".join(struct.pack("<h", 6000 if (i // 20) % 2 else -6000) for i in range(n))
    return (b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVE" +
            b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) +
            b"data" + struct.pack("<I", len(samples)) + samples)


def event(cid):
    return {"Details": {"ContactData": {
        "ContactId": cid, "InitialContactId": cid,
        "CustomerEndpoint": {"Address": "+15555550123", "Type": "TELEPHONE_NUMBER"},
        "Attributes": {"emailRecipient": "owner@example.com", "RecipientName": "Pat"},
        "InstanceARN": "arn:aws:connect:us-east-1:123456789012:instance/abcdef01-2345-6789-abcd-ef0123456789"}}}


def pipeline(tmp, notify):
    with open(os.path.join(tmp, "p.ini"), "w") as f:
        f.write(f"[pipeline]\nplugin_dir = {BUILD}/plugins\ntimeout = 1m\nnotify_grace = 0s\n"
                f"state = {tmp}/state\n\n[locate]\nplugin = locate-file\ndir = {tmp}/rec\n"
                f"pattern = {{initial_contact_id}}.wav\nsettle = 0s\n\n{notify}\n")
    return os.path.join(tmp, "p.ini")


def start(ini, ev, env, preload=None):
    e = dict(env)
    if preload:
        e["LD_PRELOAD"] = preload
    return subprocess.Popen([VMPIPE, "run", "-c", ini, ev], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=e)


def trial_dir(tmp, i):
    d = os.path.join(tmp, f"t{i}")
    os.makedirs(os.path.join(d, "rec"))
    return d


def concurrent(tmp, base_env):
    twice = 0
    for i in range(TRIALS):
        d = trial_dir(tmp, i)
        cid = f"c0c0c0c0-0000-4000-8000-{i:012d}"
        open(os.path.join(d, "rec", cid + ".wav"), "wb").write(wav_bytes())
        ini = pipeline(d, f"[notify]\nplugin = notify-file\ndir = {d}/out\n")
        ev = os.path.join(d, "ev.json")
        json.dump(event(cid), open(ev, "w"))
        procs = [start(ini, ev, base_env) for _ in range(2)]
        for p in procs:
            p.wait(timeout=120)
        # Every message written: a second one would be a second file (the
        # first is never replaced), or a second Message-ID.
        ids = set()
        for f in glob.glob(os.path.join(d, "out", "*.eml")):
            ids.add(email.message_from_bytes(open(f, "rb").read())["Message-ID"])
        n = len(glob.glob(os.path.join(d, "out", "*.eml")))
        twice += n > 1 or len(ids) > 1
    return {"trials": TRIALS, "mailed_twice": twice}


def kill9(tmp, base_env, shim, ses=None):
    twice = lost = killed = 0
    for i in range(TRIALS):
        d = trial_dir(tmp, i)
        cid = f"d0d0d0d0-0000-4000-8000-{i:012d}"
        open(os.path.join(d, "rec", cid + ".wav"), "wb").write(wav_bytes())
        ev = os.path.join(d, "ev.json")
        json.dump(event(cid), open(ev, "w"))
        env = dict(base_env)
        if ses:
            ini = pipeline(d, "[notify]\nplugin = notify-ses\nfrom = Voicemail <voicemail@example.com>\n"
                              "allowed_recipient_domains = example.com\n")
            env.update({"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET,
                        "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_SESV2": ses.url,
                        "AWS_EC2_METADATA_DISABLED": "true", "HOME": d})
            # Checkpoint renames: locate done, sending, notify done: killed
            # before the third, i.e. after SES accepted the mail.
            crash = {"CRASH_RENAME_MATCH": f"{cid}.json", "CRASH_RENAME_NTH": "3",
                     "CRASH_RENAME_BEFORE": "1"}
            before = len(ses.messages)
        else:
            ini = pipeline(d, f"[notify]\nplugin = notify-file\ndir = {d}/out\n")
            crash = {"CRASH_RENAME_MATCH": ".eml"}
        p = start(ini, ev, dict(env, **crash), shim)
        killed += p.wait(timeout=120) == -signal.SIGKILL
        p = start(ini, ev, env)
        rc = p.wait(timeout=120)
        if ses:
            n = len(ses.messages) - before
        else:
            n = len(glob.glob(os.path.join(d, "out", "*.eml")))
        twice += n > 1
        lost += n == 0 or rc != 0
    return {"trials": TRIALS, "killed_after_delivery": killed, "mailed_twice": twice, "lost": lost}


def main():
    tmp = tempfile.mkdtemp(prefix="oncebench")
    try:
        shim = os.path.join(tmp, "crash_rename.so")
        subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", shim,
                        os.path.join(ROOT, "tests", "tools", "crash_rename.c"), "-ldl"], check=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and not k.startswith("VMPIPE_")}
        env["VMPIPE_LOG_LEVEL"] = "error"
        out = {}
        for name in ("concurrent", "kill9_file", "kill9_ses"):
            os.makedirs(os.path.join(tmp, name))
        out["concurrent"] = concurrent(os.path.join(tmp, "concurrent"), env)
        out["kill9_file"] = kill9(os.path.join(tmp, "kill9_file"), env, shim)
        fake = ses_fake.SESFake([(AKID, SECRET, None)], verified=["example.com"]).start()
        try:
            out["kill9_ses"] = kill9(os.path.join(tmp, "kill9_ses"), env, shim, fake)
        finally:
            fake.stop()
        c, f, s = out["concurrent"], out["kill9_file"], out["kill9_ses"]
        out["rows"] = [
            ["once: same event twice at once, mailed twice", f"{c['mailed_twice']}/{c['trials']}",
             "audit: 5/5", ""],
            ["once: kill -9 after notify-file wrote, twice", f"{f['mailed_twice']}/{f['trials']}",
             "audit: 14/15", f"lost {f['lost']}"],
            ["once: kill -9 in the SES window, twice", f"{s['mailed_twice']}/{s['trials']}",
             "the SES window", f"lost {s['lost']}"],
        ]
        print(json.dumps(out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
