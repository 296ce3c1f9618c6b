#!/usr/bin/python3
"""The contact record (CTR) as the trigger, beside the contact flow's
invocation and the original's strategy: hang-up -> mail on the time-scaled
simulation of lambda_suspend_bench.py (time 10x, Transcribe 45 s, the same
strict fakes, suspend mode as the template deploys it), per voicemail.

  * contact flow: today's trigger (lambda_suspend_bench's suspend side): the
    flow's invocation, the recording visible in S3 at T+20 s (VISIBLE_S),
    found by its S3 event;
  * original: the original Lambda's control flow (sleeps 70 s, guesses keys);
  * CTR, IVR recording: Connect's contact record on the Kinesis stream
    (tests/fakes/connect_ctr.py's mapping) at T+CTR_S naming the recording,
    which is there (the record names finished audio): one HEAD, no search;
  * CTR, recording late: the same record, but the object visible only at
    T+20 s: the named object is looked at again with locate-s3's backoff;
  * CTR, KVS: a media-streaming contact: the record names the video stream,
    locate-kvs reads GetMedia (tests/fakes/kvs_fake.py, Connect's Matroska
    layout, 15 s of caller audio) and writes the WAV.

How soon Connect publishes a contact record after the contact ends is not
something these fakes can know: CTR_S (default 5 s, env BENCH_CTR_S) is an
assumption, printed with the figures.  The floor of each side is when its
trigger can first know where the audio is, plus Transcribe's own time.

usage: ctr_bench.py [BUILD_DIR]   (env BENCH_CTR_RUNS, default 1; BENCH_CTR_S)
"""
import datetime
import json
import os
import statistics
import sys
import tempfile
import threading

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aws_pipeline_bench as apb  # noqa: E402
import connect_ctr  # noqa: E402
import connect_mkv  # noqa: E402
import kvs_fake  # noqa: E402
import lambda_suspend_bench as lsb  # noqa: E402
import lambda_world  # noqa: E402

SCALE = apb.SCALE
VISIBLE_S, TRANSCRIBE_S = apb.VISIBLE_S, apb.TRANSCRIBE_S
CTR_S = float(os.environ.get("BENCH_CTR_S", "5"))
RUNS = int(os.environ.get("BENCH_CTR_RUNS", "1"))
STREAM = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/connect-acme-contact-bench/1714558500000"


def ivr_key(start):
    s = datetime.datetime.fromtimestamp(start, datetime.timezone.utc)
    return f"{apb.PREFIX}/ivr/{s:%Y/%m/%d}/{apb.CID}_{s:%Y%m%dT%H:%M}_UTC.wav"


def run_ctr(build, tmp, kind):
    """kind: "ivr" (the recording there when the record comes), "late", "kvs"."""
    kvs = None
    pipeline = "pipeline-kvs.ini" if kind == "kvs" else "pipeline.ini"
    env = {"VMPIPE_PIPELINE": os.path.join(ROOT, "etc", pipeline), "VMPIPE_LOG_LEVEL": "warn",
           "RECORDING_WAIT_TIME": "120"}
    if kind == "kvs":
        kvs = kvs_fake.KVSFake([(lambda_world.AKID, lambda_world.SECRET, None)]).start()
        kvs.skew_s = 10 * 365 * 86400
        env["AWS_ENDPOINT_URL_KINESIS_VIDEO"] = kvs.url
    w = lambda_world.World([os.path.join(build, "vmpipe"), "lambda"], scale=SCALE, suspend=True,
                           transcribe_s=TRANSCRIBE_S, function_timeout_s=60, extra_env=env, cwd=tmp,
                           prefix=apb.PREFIX, bucket=apb.BUCKET)
    k = connect_ctr.KinesisMapping(w)
    try:
        t0 = w.clock.now()  # the caller hangs up
        start = t0 - apb.RECORDING_S
        if kind == "kvs":
            caller = connect_mkv.tone_pcm(apb.RECORDING_S, 440)  # the Transcribe fake does not listen
            frags = connect_mkv.contact(apb.CID, caller, b"", connect_mkv.FIRST_FRAGMENT, int(start * 1000))
            kvs.add_stream(STREAM, frags, live=True)
            rec = connect_ctr.kvs_recording(STREAM, str(frags[0][0]), str(frags[-1][0]), start, t0)
        else:
            key = ivr_key(start)
            rec = connect_ctr.s3_recording(apb.BUCKET, key, start, t0)
            w.upload_recording(key, apb.connect_wav(), t0 + (VISIBLE_S if kind == "late" else 0))
        ctr = connect_ctr.ctr(apb.CID, start - 10, t0, [rec], connect_ctr.vmx3_attributes(
            recipient="owner@example.com"))
        threading.Timer(w.clock.real(CTR_S), k.put, (ctr,)).start()
        w.wait(lambda: len(w.mails()) >= 1, 120, "the mail")
        w.wait(lambda: w.idle() and k.idle(), 120, "an idle function")
        if len(w.mails()) != 1 or w.failed_async or w.rt.violations or k.on_failure:
            raise RuntimeError(f"{len(w.mails())} mails, failed {w.failed_async}, {w.rt.violations}")
        mail_v = w.clock.origin + (w.mails()[0]["time"] - w.clock.origin) * SCALE
        invs = [i for i in w.invocations if i.result]
        by = {"s3": len(w.s3.requests()), "transcribe": len(w.tr.requests()), "ses": len(w.ses.requests()),
              "sqs": len([e for e in w.sqs.requests() if e.get("op") == "SendMessage"])}
        if kvs:
            by["kinesisvideo"] = len(kvs.requests())
        by["s3_listings"] = len([r for r in w.s3.requests(f"/{apb.BUCKET}") if "list-type" in r["query"]])
        return {"latency_s": round(mail_v - t0, 2), "invocations": len(invs),
                "by_source": {s: sum(1 for i in invs if i.source == s) for s in ("kinesis", "s3", "transcribe", "sqs")},
                "billed_s": lsb.billed(i.result["v_elapsed"] for i in invs),
                "work_real_s": round(sum(i.result["elapsed"] for i in invs), 3),
                "requests": sum(v for n, v in by.items() if n != "s3_listings"), "by_service": by}
    finally:
        k.stop()
        w.stop()
        if kvs:
            kvs.stop()


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    build = build if os.path.isabs(build) else os.path.join(ROOT, build)
    sides = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("ivr", "late", "kvs"):
            sides["ctr_" + kind] = lsb.summary([run_ctr(build, tmp, kind) for _ in range(RUNS)])
        sides["contact_flow"] = lsb.summary([lsb.run_world(build, True, tmp) for _ in range(RUNS)])
    sides["original"] = lsb.summary([lsb.run_original() for _ in range(RUNS)])
    floors = {"contact_flow": VISIBLE_S + TRANSCRIBE_S, "original": VISIBLE_S + TRANSCRIBE_S,
              "ctr_ivr": CTR_S + TRANSCRIBE_S, "ctr_late": max(CTR_S, VISIBLE_S) + TRANSCRIBE_S,
              "ctr_kvs": CTR_S + TRANSCRIBE_S}
    for name, s in sides.items():
        s["floor_s"] = floors[name]
        s["over_floor_s"] = round(s["latency_s"] - floors[name], 2)
    order = ("ctr_ivr", "ctr_kvs", "ctr_late", "contact_flow", "original")
    rows = []
    for what, key, fmt in (("hang-up -> mail s", "latency_s", "%.1f"), ("mail s over its floor", "over_floor_s", "%.2f"),
                           ("billed s/voicemail", "billed_s", "%.2f"), ("AWS requests/voicemail", "requests", "%g")):
        rows.append([f"trigger {what}: ctr-ivr|ctr-kvs|ctr-late|flow|orig",
                     "|".join(fmt % sides[n][key] for n in order[:3]), fmt % sides["contact_flow"][key],
                     fmt % sides["original"][key]])
    out = {"what": (f"hang-up at T -> mail, suspend mode, strict fakes, time x{SCALE:g}: contact record published "
                    f"at T+{CTR_S:g}s (an assumption), recording visible at T+{VISIBLE_S:g}s for the contact flow "
                    f"and the late case, Transcribe {TRANSCRIBE_S:g}s; virtual seconds; {RUNS} run(s) each"),
           "ctr_published_s": CTR_S, **sides,
           "latency_saved_ctr_ivr_vs_contact_flow_s": round(sides["contact_flow"]["latency_s"]
                                                             - sides["ctr_ivr"]["latency_s"], 1),
           "rows": rows}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
