"""SigV4 benchmark (`make bench` runs every tests/bench/*_bench.py).

Builds tests/bench/sigv4_bench.c against engine/aws/sigv4.c, runs it, and
signs the same S3 GET with botocore (AWS's Python signer) in the same run,
so the figures come with their reference: signatures per second and CPU
microseconds per signed request, cached key and cold key.

Usage: sigv4_bench.py [BUILD_DIR]   (prints one JSON object)
"""
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import types
from unittest import mock

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SECONDS = float(os.environ.get("SIGV4_BENCH_SECONDS", "1"))


def build(tmp):
    out = os.path.join(tmp, "sigv4_bench")
    libs = subprocess.run(["pkg-config", "--cflags", "--libs", "libcrypto"],
                          capture_output=True, text=True, check=True).stdout.split()
    cmd = [os.environ.get("CC", "cc"), "-std=c11", "-D_GNU_SOURCE", "-O2", "-Wall", "-Wextra",
           "-Werror", "-Iinclude", "-iquote", "engine", "-o", out,
           "tests/bench/sigv4_bench.c", "engine/aws/sigv4.c", "engine/aws/uri.c", *libs]
    subprocess.run(cmd, cwd=ROOT, check=True)
    return out


class _Fixed(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return datetime.datetime(2024, 12, 11, 15, 30, 5)


def botocore_figures():
    """The same S3 GET as sigv4_bench.c's, signed by botocore's S3SigV4Auth."""
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                        "FwoGZXIvYXdzEXAMPLEtokenFwoGZXIvYXdzEXAMPLEtokenFwoGZXIvYXdzEXAMPLE")
    url = ("https://vm-bucket.s3.eu-west-1.amazonaws.com/connect/inst/CallRecordings/"
           "2024/12/11/abc_20241211T15%3A30_UTC.wav")
    signer = botocore.auth.S3SigV4Auth(creds, "s3", "eu-west-1")
    n = 0
    with mock.patch.object(botocore.auth, "datetime", types.SimpleNamespace(datetime=_Fixed)):
        w0, c0 = time.monotonic(), time.process_time()
        while time.monotonic() - w0 < SECONDS:
            for _ in range(100):
                req = AWSRequest(method="GET", url=url,
                                 headers={"User-Agent": "vmpipe", "Range": "bytes=0-1048575"})
                signer.add_auth(req)
                n += 1
        w1, c1 = time.monotonic(), time.process_time()
    # botocore derives the key on every request: it has no cache, so this is
    # its only figure, compared with both of ours.
    return {"signatures_per_s": round(n / (w1 - w0)), "cpu_us_per_request": round((c1 - c0) * 1e6 / n, 2),
            "n": n}


def main():
    with tempfile.TemporaryDirectory() as tmp:
        exe = build(tmp)
        ours = json.loads(subprocess.run([exe, str(SECONDS)], capture_output=True, text=True,
                                         check=True).stdout)
    ref = botocore_figures()
    cached = ours["s3_get_header_cached_key"]["cpu_us_per_request"]
    cold = ours["s3_get_header_cold_key"]["cpu_us_per_request"]
    ours["botocore_s3_get_header"] = ref
    ours["cpu_ratio_botocore_over_vmpipe_cached"] = round(ref["cpu_us_per_request"] / cached, 1)
    ours["cpu_ratio_botocore_over_vmpipe_cold"] = round(ref["cpu_us_per_request"] / cold, 1)
    json.dump(ours, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
