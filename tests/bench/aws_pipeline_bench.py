#!/usr/bin/python3
"""The AWS pipeline, time-scaled: hang-up-to-mail latency and AWS requests
per voicemail, vmpipe side by side with the original Lambda's strategy.

The simulation (the issue's "Measured in make bench"): the caller hangs up
at T; Connect's recording (started 15 s earlier) becomes visible in S3 at
T+20 s; an Amazon Transcribe job takes 45 s.  Time runs SCALE (10) times
faster: vmpipe runs etc/pipeline.ini with VMPIPE_CLOCK=scaled:10, the fakes'
delays are divided by 10, and the original's strategy, re-implemented below
in a few lines of Python with botocore, sleeps 1/10 of its sleeps and reads
a clock that runs 10x.  Both talk to the same strict fakes (S3, Transcribe,
SES; SigV4 checked with botocore), fresh for every run; every HTTP request
they see is counted (the transcript download included).

The original's strategy (godwillcho/Amazon-Connect-Voicemail-System,
lambda/lambda_function.py): sleep RECORDING_WAIT_TIME (70 s); HEAD the
guessed keys {prefix}/ivr/Y/m/d/{InitialContactId}_{YmdTH:M}_UTC.wav for the
minutes around "now", in windows of +-5, +-4, ... +-1 minutes, nearest first,
0.5 s apart, and once more after 30 s; StartTranscriptionJob; poll
GetTranscriptionJob every 3 s; download the transcript; SES SendEmail.  It is
given s3:ListBucket here (a miss is a 404, not the 403 that made the real
one abort), i.e. its best case.

Prints one JSON object: per side the latency (virtual seconds, median of
RUNS runs) and the requests per voicemail (by service), the ratios
original/vmpipe, and whether the issue's goals hold (latency under half the
original's, at most 8 requests).

usage: aws_pipeline_bench.py [BUILD_DIR]      (env BENCH_AWS_RUNS, default 2)
"""
import datetime
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import awsfake  # noqa: E402
import ses_fake  # noqa: E402
import transcribe_fake  # noqa: E402

SCALE = 10.0
VISIBLE_S = 20.0      # recording visible in S3 this long after hang-up
TRANSCRIBE_S = 45.0   # Transcribe job duration
RECORDING_S = 15.0    # the message's length: the key's timestamp is T - this
AKID, SECRET = "AKIDBENCHPIPE", "bench/pipe+secret0123456789"
BUCKET, PREFIX = "vm-connect-recordings", "connect/acme/CallRecordings"
CID = "0b5e3c1a-7d2f-4e68-9a0b-1c2d3e4f5a6b"
RUNS = int(os.environ.get("BENCH_AWS_RUNS", "2"))


def connect_wav(seconds=RECORDING_S, rate=8000):
    n = int(seconds * rate)
    frames = struct.pack("<hh", 1000, 0) * n
    hdr = b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVE"
    hdr += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 2, rate, rate * 4, 4, 16)
    return hdr + b"data" + struct.pack("<I", len(frames)) + frames


class Clock:
    """Virtual time running SCALE times faster from `origin` (real epoch s)."""

    def __init__(self, origin):
        self.origin = origin

    def now(self):
        return self.origin + (time.time() - self.origin) * SCALE

    def sleep(self, s):
        time.sleep(s / SCALE)


class Sim:
    """Fresh fakes and the recording's upload at T + VISIBLE_S (virtual)."""

    def __init__(self):
        creds = [(AKID, SECRET, None)]
        self.s3 = awsfake.S3Fake(creds).start()
        with self.s3.lock:
            self.s3.buckets[BUCKET] = {}
        self.tr = transcribe_fake.TranscribeFake(creds, duration=TRANSCRIBE_S / SCALE,
                                                 s3_put=self.s3.put,
                                                 default_text="Hi, this is Sam. Please call me back.")
        self.tr.start()
        self.ses = ses_fake.SESFake(creds, verified=["example.com"]).start()
        self.t0 = time.time()
        start = datetime.datetime.fromtimestamp(self.t0 - RECORDING_S, datetime.timezone.utc)
        self.key = (f"{PREFIX}/ivr/{start:%Y/%m/%d}/{CID}_{start:%Y%m%dT%H:%M}_UTC.wav")
        self.timer = threading.Timer(VISIBLE_S / SCALE, self.s3.put,
                                     (BUCKET, self.key, connect_wav(), "audio/wav"))
        self.timer.start()

    def stop(self):
        self.timer.cancel()
        for f in (self.s3, self.tr, self.ses):
            f.stop()

    def result(self):
        if len(self.ses.messages) != 1:
            raise RuntimeError(f"{len(self.ses.messages)} mails captured, expected 1")
        by = {"s3": len(self.s3.requests()), "transcribe": len(self.tr.requests()),
              "ses": len(self.ses.requests())}
        latency = (self.ses.messages[0]["time"] - self.t0) * SCALE
        return {"latency_s": round(latency, 1), "requests": sum(by.values()), "by_service": by}


def event():
    return {"Details": {"ContactData": {
        "Attributes": {"emailRecipient": "owner@example.com", "RecipientName": "Pat Owner"},
        "Channel": "VOICE", "ContactId": CID, "InitialContactId": CID,
        "CustomerEndpoint": {"Address": "+15555550123", "Type": "TELEPHONE_NUMBER"},
        "InstanceARN": "arn:aws:connect:us-east-1:123456789012:instance/"
                       "abcdef01-2345-6789-abcd-ef0123456789",
        "SystemEndpoint": {"Address": "+15555550100", "Type": "TELEPHONE_NUMBER"}},
        "Parameters": {}}, "Name": "ContactFlowEvent"}


# ------------------------------------------------------------------ vmpipe

def run_vmpipe(build, tmp):
    sim = Sim()
    try:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and not k.startswith("VMPIPE_")}
        env.update({"HOME": tmp, "AWS_EC2_METADATA_DISABLED": "true",
                    "AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET,
                    "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": sim.s3.url,
                    "AWS_ENDPOINT_URL_TRANSCRIBE": sim.tr.url,
                    "AWS_ENDPOINT_URL_SESV2": sim.ses.url, "VMPIPE_CLOCK": f"scaled:{SCALE:g}",
                    "VMPIPE_LOG_LEVEL": "warn",
                    "BASE_PATH": BUCKET + "/" + PREFIX,
                    "EMAIL_SENDER": "voicemail@example.com",
                    "ALLOWED_RECIPIENT_DOMAINS": "example.com"})
        ev = os.path.join(tmp, "event.json")
        with open(ev, "w") as f:
            json.dump(event(), f)
        p = subprocess.run([os.path.join(build, "vmpipe"), "run", "-c",
                            os.path.join(ROOT, "etc", "pipeline.ini"), ev],
                           capture_output=True, text=True, env=env, timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"vmpipe exit {p.returncode}: {p.stderr[-1500:]}")
        return sim.result()
    finally:
        sim.stop()


# ------------------------------------------------------------------ the original

def original(sim, wait_s=70, url_expiration=604800):
    """The original Lambda's control flow against the fakes (its best case)."""
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import ClientError

    clock = Clock(sim.t0)
    sess = botocore.session.get_session()
    kw = dict(region_name="us-east-1", aws_access_key_id=AKID, aws_secret_access_key=SECRET)
    s3 = sess.create_client("s3", endpoint_url=sim.s3.url,
                            config=Config(s3={"addressing_style": "path"},
                                          signature_version="s3v4"), **kw)
    tr = sess.create_client("transcribe", endpoint_url=sim.tr.url, **kw)
    ses = sess.create_client("sesv2", endpoint_url=sim.ses.url, **kw)

    clock.sleep(wait_s)
    key = None
    for attempt in (1, 2):
        now = datetime.datetime.fromtimestamp(clock.now(), datetime.timezone.utc)
        for window in range(5, 0, -1):
            for off in sorted(range(-window, window + 1), key=abs):
                dt = now + datetime.timedelta(minutes=off)
                k = f"{PREFIX}/ivr/{dt:%Y/%m/%d}/{CID}_{dt:%Y%m%dT%H:%M}_UTC.wav"
                try:
                    s3.head_object(Bucket=BUCKET, Key=k)
                    key = k
                    break
                except ClientError as e:
                    if e.response["Error"]["Code"] != "404":
                        raise
            if key or window == 1:
                break
            clock.sleep(0.5)
        if key:
            break
        if attempt == 1:
            clock.sleep(30)
    if not key:
        raise RuntimeError("the original did not find the recording")
    name = f"voicemail-transcribe-{int(clock.now())}"
    tr.start_transcription_job(TranscriptionJobName=name, LanguageCode="en-US",
                               Media={"MediaFileUri": f"s3://{BUCKET}/{key}"},
                               MediaFormat="wav", Settings={"ChannelIdentification": True})
    while True:
        job = tr.get_transcription_job(TranscriptionJobName=name)["TranscriptionJob"]
        if job["TranscriptionJobStatus"] in ("COMPLETED", "FAILED"):
            break
        clock.sleep(3)
    with urllib.request.urlopen(job["Transcript"]["TranscriptFileUri"], timeout=10) as r:
        preview = transcribe_fake.original_preview(json.loads(r.read()))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key},
                                    ExpiresIn=url_expiration)
    ses.send_email(FromEmailAddress="voicemail@example.com",
                   Destination={"ToAddresses": ["owner@example.com"]},
                   Content={"Simple": {"Subject": {"Data": "Voicemail message from: +15555550123"},
                                       "Body": {"Text": {"Data": f"{preview}\n{url}"}}}})


def run_original():
    sim = Sim()
    try:
        original(sim)
        return sim.result()
    finally:
        sim.stop()


# ------------------------------------------------------------------ main

def summary(runs):
    lat = [r["latency_s"] for r in runs]
    req = [r["requests"] for r in runs]
    return {"latency_s": round(statistics.median(lat), 1), "latency_s_runs": lat,
            "requests": statistics.median(req), "requests_runs": req,
            "by_service": runs[len(runs) // 2]["by_service"]}


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    build = build if os.path.isabs(build) else os.path.join(ROOT, build)
    with tempfile.TemporaryDirectory() as tmp:
        ours = summary([run_vmpipe(build, tmp) for _ in range(RUNS)])
    ref = summary([run_original() for _ in range(RUNS)])
    out = {
        "what": ("Connect event -> mail on strict S3/Transcribe/SES fakes, time scaled "
                 f"{SCALE:g}x: recording visible at T+{VISIBLE_S:g}s, Transcribe "
                 f"{TRANSCRIBE_S:g}s; latency in virtual seconds after hang-up"),
        "vmpipe": ours,
        "original_strategy": ref,
        "latency_ratio_original_over_vmpipe": round(ref["latency_s"] / ours["latency_s"], 2),
        "requests_ratio_original_over_vmpipe": round(ref["requests"] / ours["requests"], 2),
        "goal_latency_under_half_original": ours["latency_s"] < ref["latency_s"] / 2,
        "goal_at_most_8_requests": ours["requests"] <= 8,
        # Nothing can mail before the recording exists and Transcribe is done.
        "latency_floor_s": VISIBLE_S + TRANSCRIBE_S,
        "vmpipe_over_floor_s": round(ours["latency_s"] - VISIBLE_S - TRANSCRIBE_S, 1),
        "original_over_floor_s": round(ref["latency_s"] - VISIBLE_S - TRANSCRIBE_S, 1),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
