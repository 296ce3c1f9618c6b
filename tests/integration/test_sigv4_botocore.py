"""SigV4 cross-check: vmpipe's signer (engine/aws/sigv4.c) against botocore.

Random requests (seeded; the seed is printed, SIGV4_SEED=N replays one run,
SIGV4_CASES=N changes the count) are signed by botocore's own signers
(SigV4Auth, S3SigV4Auth, SigV4QueryAuth, S3SigV4QueryAuth) at a fixed time
and by ours through tests/tools/sigv4_tool.c (JSON lines in, JSON lines out,
one process for the whole batch).  The first difference fails the test and
prints both canonical requests.

Both sides sign the same wire request:
  * non-S3 paths are built the way a client puts them on the wire (segments
    percent-encoded with a random choice of the characters RFC 3986 allows
    raw), so botocore's normalize-then-quote and ours meet on a real input;
  * S3 paths are keys encoded as botocore's REST serializer encodes them
    (percent_encode(key, safe='/~')), dot segments and '//' included, and
    signed as they are by both;
  * queries are canonical on the wire (upper-case escapes, no raw '+'),
    which is what a correct client sends and what botocore signs verbatim.
Presigning avoids what botocore's query signer rewrites on its own
(repeated keys, bodies moved into the query).
"""
import datetime
import hashlib
import json
import os
import random
import subprocess
import sys
import types
from unittest import mock
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

import botocore.auth
import botocore.session
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import percent_encode

from conftest import BUILD, ROOT, shared_tool

CASES = int(os.environ.get("SIGV4_CASES", "1500"))

# ---------------------------------------------------------------- fixed time

_NOW = [datetime.datetime(2024, 12, 11, 15, 30, 5)]


class _FixedDateTime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return _NOW[0]


@pytest.fixture
def fixed_clock():
    fake = types.SimpleNamespace(datetime=_FixedDateTime)
    with mock.patch.object(botocore.auth, "datetime", fake):
        yield _NOW


def _epoch(dt):
    return int(dt.replace(tzinfo=datetime.timezone.utc).timestamp())


# ------------------------------------------------------------ our C signer

@pytest.fixture(scope="module")
def tool():
    """Build tests/tools/sigv4_tool.c against the engine's SigV4 sources."""
    flags = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-Wshadow",
             "-Wstrict-prototypes", "-Wformat=2", "-Wno-format-nonliteral", "-O1", "-g",
             "-Iinclude", "-iquote", "engine"]
    if "san" in os.path.basename(BUILD):
        flags += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                  "-fno-sanitize-recover=undefined"]
    srcs = ["tests/tools/sigv4_tool.c", "engine/aws/sigv4.c", "engine/aws/uri.c",
            "engine/aws/presign.c"]

    def build(out):
        libs = subprocess.run(["pkg-config", "--cflags", "--libs", "jansson", "libcrypto"],
                              capture_output=True, text=True, check=True).stdout.split()
        proc = subprocess.run([os.environ.get("CC", "cc"), *flags, "-o", out, *srcs, *libs],
                              cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    return shared_tool("sigv4_tool", srcs, build)


def run_tool(tool, requests):
    cmd = [tool]
    wrapper = os.environ.get("VMPIPE_WRAPPER")
    if wrapper:
        cmd = wrapper.split() + cmd
    payload = "".join(json.dumps(r) + "\n" for r in requests)
    proc = subprocess.run(cmd, input=payload, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(requests), proc.stderr
    return [json.loads(line) for line in lines]


# -------------------------------------------------------------- generation

UNICODE = ["ሴ", "é", "日本語", "😀", "ß", "Ωmega"]
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1", "sa-east-1"]
SERVICES = ["transcribe", "ses", "sts", "email", "execute-api"]
# Characters RFC 3986 allows raw in a path segment besides the unreserved ones.
PCHAR_EXTRA = "!$&'()*+,;=:@"
HEADER_NAMES = ["X-Amz-Meta-Caller", "x-amz-meta-caller", "Content-Type", "X-Custom",
                "x-amz-acl", "Range", "Content-MD5", "X-AMZ-TARGET", "My-Header1",
                "Cache-Control", "User-Agent", "X-Amzn-Trace-Id", "Expect"]


def rand_text(rng, alphabet, lo=1, hi=8):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def rand_segment(rng):
    kind = rng.random()
    if kind < 0.08:
        return "."
    if kind < 0.16:
        return ".."
    if kind < 0.24:
        return ""  # makes "//"
    parts = []
    for _ in range(rng.randint(1, 4)):
        r = rng.random()
        if r < 0.35:
            parts.append(rand_text(rng, "abcXYZ019-._~"))
        elif r < 0.5:
            parts.append(" ")
        elif r < 0.6:
            parts.append("+")
        elif r < 0.7:
            parts.append("%" + rng.choice(["", "20", "2F", "zz"]))
        elif r < 0.8:
            parts.append(rng.choice(UNICODE))
        else:
            parts.append(rng.choice(PCHAR_EXTRA + "~#?[]\"<>"))
    return "".join(parts)


def s3_key(rng):
    r = rng.random()
    if r < 0.2:
        d = rng.randint(1, 28)
        return f"ivr/2024/12/{d:02d}/abc_202412{d:02d}T15:30_UTC.wav"
    segs = [rand_segment(rng) for _ in range(rng.randint(1, 5))]
    return "/".join(segs) or "k"


def wire_path_other(rng):
    """A non-S3 path as a client sends it: each segment encoded, some legal chars raw."""
    segs = []
    for _ in range(rng.randint(0, 5)):
        seg = rand_segment(rng)
        safe = "".join(c for c in PCHAR_EXTRA if rng.random() < 0.5)
        if rng.random() < 0.3:
            # raw UTF-8 on the wire, as in the official suite's get-utf8
            enc = "".join(c if ord(c) > 127 else quote(c, safe=safe) for c in seg)
        else:
            enc = quote(seg, safe=safe)
        segs.append(enc)
    path = "/" + "/".join(segs)
    if rng.random() < 0.2:
        path += "/"
    return path


def query_pairs(rng, presign):
    pairs = []
    keys = ["a", "Param", "param", "x-id", "list-type", "prefix", "", "ሴ", "max-keys", "k+y",
            "marker", "a b"]
    for _ in range(rng.randint(0, 6)):
        key = rng.choice(keys)
        if presign and (key == "" or any(k == key for k, _, _ in pairs)):
            continue
        r = rng.random()
        if r < 0.2:
            value = ""
        elif r < 0.55:
            value = rand_text(rng, "abc123-_.~")
        else:
            value = rand_text(rng, "ab =&/?#+%:,;@$!*'()[]" + "".join(UNICODE), 1, 10)
        # A bare empty segment ("a&&b") is no parameter: the signers differ
        # there (we skip it) and no client sends one.
        has_eq = presign or key == "" or value != "" or rng.random() < 0.5
        pairs.append((key, value, has_eq))
        if not presign and rng.random() < 0.15:
            pairs.append((key, value + "2", True))  # repeated key
    return pairs


def encode_query(pairs):
    out = []
    for k, v, has_eq in pairs:
        ek = quote(k, safe="-_.~")
        out.append(ek + "=" + quote(v, safe="-_.~") if has_eq else ek)
    return "&".join(out)


def header_value(rng):
    r = rng.random()
    if r < 0.3:
        return rand_text(rng, "abcXYZ09")
    words = [rand_text(rng, "abcXYZ09,;:=/\"'()") for _ in range(rng.randint(1, 4))]
    out = rng.choice(["", " ", "   ", "\t"])
    for w in words:
        out += w + rng.choice([" ", "  ", "   ", "\t", " \t "])
    return out if rng.random() < 0.5 else out.rstrip()


def make_case(rng, i):
    presign = rng.random() < 0.4
    s3 = rng.random() < 0.5
    service = "s3" if s3 else rng.choice(SERVICES)
    region = rng.choice(REGIONS)
    if s3:
        bucket = rng.choice(["vm-bucket", "voicemail-recordings", "b1"])
        if rng.random() < 0.5:
            host = f"{bucket}.s3.{region}.amazonaws.com"
            path = "/" + percent_encode(s3_key(rng), safe="/~")
        else:
            host = f"s3.{region}.amazonaws.com"
            path = f"/{bucket}/" + percent_encode(s3_key(rng), safe="/~")
    else:
        host = f"{service}.{region}.amazonaws.com"
        path = wire_path_other(rng)
    methods = ["GET", "HEAD", "DELETE", "PUT"] if presign else ["GET", "PUT", "POST", "DELETE", "HEAD"]
    method = rng.choice(methods)
    headers = []
    for _ in range(rng.randint(0, 5)):
        name = rng.choice(HEADER_NAMES)
        if name == "Content-Type" and presign:
            value = "text/plain"
        else:
            value = header_value(rng)
        headers.append([name, value])
        if rng.random() < 0.2:  # the same header again, another case
            headers.append([name.swapcase(), header_value(rng)])
    body = ""
    if not presign and method in ("PUT", "POST") and rng.random() < 0.7:
        body = rand_text(rng, "abc =&{}\"\n" + "".join(UNICODE), 0, 40)
    token = None
    if rng.random() < 0.5:
        token = rand_text(rng, "ABCabc0123456789+/=", 20, 120)
    secret = rand_text(rng, "ABCabc0123456789+/", 40, 40)
    now = datetime.datetime(2024, 12, 11, 15, 30, 5) + datetime.timedelta(
        seconds=rng.randint(-400 * 86400, 400 * 86400))
    unsigned = (not presign) and rng.random() < 0.2
    sign_body = (not presign) and (not s3) and (not unsigned) and rng.random() < 0.3
    no_wire_query = rng.random() < 0.3
    query = "" if no_wire_query else encode_query(query_pairs(rng, presign))
    return {
        "i": i, "op": "presign" if presign else "sign", "method": method, "path": path,
        "query": query, "host": host, "headers": headers, "body": body, "region": region,
        "service": service, "time": _epoch(now), "now": now, "akid": "AKID" + str(i),
        "secret": secret, "token": token, "s3": s3, "unsigned": unsigned,
        "sign_body": sign_body, "expires": rng.randint(1, 604800),
    }


# ------------------------------------------------------------ botocore side

def botocore_sign(case, clock):
    clock[0] = case["now"]
    creds = Credentials(case["akid"], case["secret"], case["token"])
    url = f"https://{case['host']}{case['path']}"
    if case["query"]:
        url += "?" + case["query"]
    req = AWSRequest(method=case["method"], url=url,
                     data=case["body"].encode("utf-8") if case["body"] else None)
    for name, value in case["headers"]:
        req.headers[name] = value  # HTTPHeaders appends: duplicates kept in order
    if case["sign_body"]:
        req.headers["X-Amz-Content-SHA256"] = hashlib.sha256(case["body"].encode()).hexdigest()
    if case["unsigned"]:
        if case["s3"]:
            req.context["client_config"] = Config(s3={"payload_signing_enabled": False})
        else:
            req.context["payload_signing_enabled"] = False
    if case["op"] == "presign":
        cls = botocore.auth.S3SigV4QueryAuth if case["s3"] else botocore.auth.SigV4QueryAuth
        signer = cls(creds, case["service"], case["region"], expires=case["expires"])
    else:
        cls = botocore.auth.S3SigV4Auth if case["s3"] else botocore.auth.SigV4Auth
        signer = cls(creds, case["service"], case["region"])
    # Recompute what add_auth signs, through the same signer object, so the
    # canonical request can be shown on a mismatch.
    seen = {}
    real_cr = signer.canonical_request

    def spy(request):
        seen["cr"] = real_cr(request)
        return seen["cr"]

    signer.canonical_request = spy
    signer.add_auth(req)
    return req, seen["cr"]


def ours_request(case):
    r = {k: case[k] for k in ("op", "method", "path", "query", "body", "region", "service",
                              "time", "akid", "secret", "token", "s3", "unsigned",
                              "sign_body", "expires")}
    r["headers"] = [["Host", case["host"]]] + case["headers"]
    return r


def describe(case, bc_cr, ours):
    return (f"case {case['i']} ({case['op']}, service {case['service']}, "
            f"s3={case['s3']}):\n  path {case['path']!r}\n  query {case['query']!r}\n"
            f"  headers {case['headers']!r}\n"
            f"--- botocore canonical request ---\n{bc_cr}\n"
            f"--- vmpipe canonical request ---\n{ours.get('canonical_request', ours)}\n---")


def test_sigv4_matches_botocore(tool, fixed_clock):
    seed = int(os.environ.get("SIGV4_SEED", random.SystemRandom().randrange(1 << 30)))
    print(f"sigv4 cross-check seed: {seed} (SIGV4_SEED={seed} replays it)", file=sys.stderr)
    print(f"sigv4 cross-check seed: {seed}")
    rng = random.Random(seed)
    cases = [make_case(rng, i) for i in range(CASES)]
    results = run_tool(tool, [ours_request(c) for c in cases])
    counts = {}
    for case, ours in zip(cases, results):
        req, bc_cr = botocore_sign(case, fixed_clock)
        assert ours["ok"], f"seed {seed}: {describe(case, bc_cr, ours)}\n{ours.get('error')}"
        assert ours["canonical_request"] == bc_cr, f"seed {seed}: {describe(case, bc_cr, ours)}"
        if case["op"] == "sign":
            auth = req.headers["Authorization"]
            sig = auth.rsplit("Signature=", 1)[1]
            assert ours["signature"] == sig, f"seed {seed}: {describe(case, bc_cr, ours)}"
            added = {n.lower(): v for n, v in ours["headers"]}
            assert added["authorization"] == auth
            assert added["x-amz-date"] == req.headers["X-Amz-Date"]
            assert added.get("x-amz-security-token") == req.headers.get("X-Amz-Security-Token")
            assert added.get("x-amz-content-sha256") == req.headers.get("X-Amz-Content-SHA256")
        else:
            bq = urlsplit(req.url).query
            ours_q = ours["query"]
            assert sorted(parse_qsl(ours_q, keep_blank_values=True)) == \
                sorted(parse_qsl(bq, keep_blank_values=True)), \
                f"seed {seed}: {describe(case, bc_cr, ours)}\nbotocore {bq}\nvmpipe   {ours_q}"
        key = (case["op"], "s3" if case["s3"] else "other", bool(case["token"]))
        counts[key] = counts.get(key, 0) + 1
    print(f"agreed on {len(cases)} requests: {sorted(counts.items())}")
    # The mix must really cover every form.
    for op in ("sign", "presign"):
        for svc in ("s3", "other"):
            for tok in (False, True):
                assert counts.get((op, svc, tok), 0) >= CASES // 30, (op, svc, tok, counts)


def test_generator_covers_the_hard_inputs():
    """The cross-check is only as good as its inputs: make sure they are there."""
    rng = random.Random(1)
    cases = [make_case(rng, i) for i in range(CASES)]
    paths = " ".join(c["path"] for c in cases)
    queries = [c["query"] for c in cases if c["op"] == "sign"]
    for needle in ("%20", "%2B", "%25", "~", "%E1%88%B4", "//", "/./", "/../", "%3A30_UTC.wav"):
        assert needle in paths, needle
    assert any(q.startswith("=") or "&=" in q for q in queries)  # empty key
    assert any("=&" in q or q.endswith("=") for q in queries)    # empty value
    assert any(len(q.split("&")) != len({p.split("=")[0] for p in q.split("&")}) for q in queries)
    assert any("%3D" in q or "%26" in q for q in queries)        # reserved chars in values
    hdrs = [v for c in cases for _, v in c["headers"]]
    assert any("   " in v for v in hdrs) and any("\t" in v for v in hdrs)


# ------------------------------------------------------ presigned S3 URLs

def botocore_presigned_url(clock, now, region, bucket, key, expires, token, endpoint, path_style,
                           audio=False):
    clock[0] = now
    session = botocore.session.get_session()
    # botocore 1.29 still presigns virtual-hosted URLs on the global
    # s3.amazonaws.com outside us-east-1; we (like the newer SDKs and the
    # brief) use the regional endpoint, so name it to botocore explicitly:
    # the host is signed, and both must sign the same one.
    if endpoint is None:
        endpoint = f"https://s3.{region}.amazonaws.com"
    cfg = Config(signature_version="s3v4",
                 s3={"addressing_style": "path" if path_style else "virtual"})
    client = session.create_client("s3", region_name=region, aws_access_key_id="AKIDEXAMPLE",
                                   aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                   aws_session_token=token, endpoint_url=endpoint, config=cfg)
    params = {"Bucket": bucket, "Key": key}
    if audio:  # what a mail's audio link asks for: play inline
        params.update(ResponseContentType="audio/wav", ResponseContentDisposition="inline")
    return client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)


def test_presigned_url_matches_botocore(tool, fixed_clock):
    rng = random.Random(7)
    cases = []
    for i in range(60):
        endpoint = rng.choice([None, None, "http://127.0.0.1:4568", "https://minio.example:9000"])
        cases.append({
            "op": "url", "endpoint": endpoint, "region": rng.choice(REGIONS),
            "bucket": rng.choice(["vm-bucket", "voicemail.recordings", "b1-x"]),
            "key": s3_key(rng).strip("/") or "k", "expires": rng.choice([1, 60, 3600, 604800]),
            "now": datetime.datetime(2024, 12, 11, 15, 30, 5) + datetime.timedelta(hours=i * 7),
            "token": rng.choice([None, "FwoGZXIvYXdzE+/token=="]),
            "path_style": endpoint is not None or rng.random() < 0.3,
            "audio": rng.random() < 0.5,
        })
    audio_query = "response-content-disposition=inline&response-content-type=audio%2Fwav"
    reqs = [dict({k: v for k, v in c.items() if k not in ("now", "audio")}, time=_epoch(c["now"]),
                 query=audio_query if c["audio"] else None,
                 akid="AKIDEXAMPLE", secret="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
            for c in cases]
    results = run_tool(tool, reqs)
    for c, ours in zip(cases, results):
        assert ours["ok"], (c, ours)
        theirs = botocore_presigned_url(fixed_clock, c["now"], c["region"], c["bucket"], c["key"],
                                        c["expires"], c["token"], c["endpoint"], c["path_style"],
                                        c["audio"])
        a, b = urlsplit(ours["url"]), urlsplit(theirs)
        assert (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path), (ours["url"], theirs)
        assert sorted(parse_qsl(a.query)) == sorted(parse_qsl(b.query)), (ours["url"], theirs)


def test_presign_refuses_bad_expiry(tool):
    base = {"op": "url", "endpoint": None, "region": "eu-west-1", "bucket": "b1-x", "key": "k",
            "time": 1733931005, "akid": "AK", "secret": "S"}
    out = run_tool(tool, [dict(base, expires=e) for e in (604801, 0, -1, 604800)])
    assert [o["ok"] for o in out] == [False, False, False, True]
    assert "604801" in out[0]["error"]
