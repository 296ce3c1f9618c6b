"""locate-s3 against a real S3 server (s3rver) and the strict S3 fake.

The pipeline is locate-s3 -> notify-file, so the tests see the final job
record (stdout) and the mail notify-file wrote.  s3rver speaks S3's real
wire format (ListObjectsV2, HEAD, presigned GET); the strict fake checks
every signature with botocore and injects SlowDown storms.
"""
import datetime
import email
import email.policy
import json
import subprocess
import threading
import urllib.request

import pytest

from aws_helpers import AKID, SECRET, clean_env, s3rver, awsfake  # noqa: F401
from conftest import connect_event, run_vmpipe

BUCKET = "vm-bucket"
CID = "6b1c9d2e-0f3a-4b5c-8d7e-9f0a1b2c3d4e"
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(200))


def utc(ms_or_dt):
    return ms_or_dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def connect_key(cid, when, prefix="connect/acme/CallRecordings/"):
    return (f"{prefix}ivr/{when:%Y/%m/%d}/{cid}_{when:%Y%m%dT%H:%M}_UTC.wav")


def pipeline(tmp_path, timeout="5m", **opts):
    o = {"bucket": BUCKET, "prefix": "connect/acme/CallRecordings", "initial_delay": "0s",
         "wait": "4s", "poll": "200ms", "poll_max": "500ms"}
    o.update(opts)
    body = "".join(f"{k} = {v}\n" for k, v in o.items() if v is not None)
    out = tmp_path / "outbox"
    out.mkdir(exist_ok=True)
    ini = tmp_path / "p.ini"
    ini.write_text(f"[pipeline]\ntimeout = {timeout}\n\n[locate]\nplugin = locate-s3\n{body}\n"
                   f"[notify]\nplugin = notify-file\ndir = {out}\n"
                   "from = Voicemail <vm@example.com>\n")
    return str(ini), out


def s3_env(tmp_path, endpoint, s3rver_creds=True, **extra):
    """s3rver checks signatures made with its fixed S3RVER/S3RVER key."""
    e = clean_env(tmp_path / "home")
    akid, secret = ("S3RVER", "S3RVER") if s3rver_creds else (AKID, SECRET)
    e.update({"AWS_ACCESS_KEY_ID": akid, "AWS_SECRET_ACCESS_KEY": secret,
              "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": endpoint,
              "VMPIPE_LOG_FORMAT": "text"})
    e.update(extra)
    return e


def run(tmp_path, ini, event, env):
    ev = tmp_path / "event.json"
    ev.write_text(json.dumps(event))
    return run_vmpipe("run", "-c", ini, str(ev), env=env, timeout=90)


def s3_put(endpoint, key, data, ctype="audio/wav"):
    """An anonymous PUT: s3rver does not check signatures."""
    req = urllib.request.Request(f"{endpoint}/{BUCKET}/{key}", data=data, method="PUT",
                                 headers={"Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


def record(tmp_path, event_id=CID, received=None, initial=None, contact=None):
    rec = {"id": event_id, "contact": {"id": contact or event_id,
                                       "initial_id": initial or contact or event_id,
                                       "caller": "+15555550123"},
           "recipient": {"email": "owner@example.com", "name": "Pat Owner"}}
    if received:
        rec["received_at"] = received
    return rec


# ------------------------------------------------------------------ s3rver


def test_recording_appears_after_a_delay(tmp_path, s3rver):
    """Connect uploads seconds after hang-up: the search lists early and
    keeps looking with backoff; the mail links to the audio."""
    now = datetime.datetime.now(datetime.timezone.utc)
    key = connect_key(CID, now - datetime.timedelta(seconds=40))
    ini, out = pipeline(tmp_path)
    timer = threading.Timer(1.0, s3_put, (s3rver, key, WAV))
    timer.start()
    r = run(tmp_path, ini, connect_event(CID), s3_env(tmp_path, s3rver))
    timer.join()
    assert r.code == 0, r
    rec = r.json()
    rc = rec["recording"]
    assert rc["uri"] == f"s3://{BUCKET}/{key}"
    assert rc["size"] == len(WAV)
    assert rc["content_type"] == "audio/wav"
    assert rc["search_attempts"] >= 2, rec  # it looked before the upload, then again
    assert "search_started_at" not in rc and "wait_until" not in rc
    exp = datetime.datetime.strptime(rc["url_expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    assert abs((exp - now).total_seconds() - 604800) < 120
    # The link in the record and in the mail downloads the audio.
    assert "X-Amz-Expires=604800" in rc["url"]
    # It asks S3 to answer as audio, inline, so a mail client's browser plays it.
    assert "response-content-type=audio%2Fwav" in rc["url"]
    assert "response-content-disposition=inline" in rc["url"]
    got = subprocess.run(["curl", "-sS", "-f", "-D", str(tmp_path / "h.txt"), "-o", "-", rc["url"]],
                         capture_output=True, timeout=30)
    assert got.returncode == 0, got.stderr
    assert got.stdout == WAV
    headers = (tmp_path / "h.txt").read_text().lower()
    assert "content-disposition: inline" in headers, headers
    msg = email.message_from_bytes((out / f"{CID}.eml").read_bytes(), policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()
    assert rc["url"].split("?")[0] in text


@pytest.mark.valgrind
def test_s3_event_needs_no_search(tmp_path, s3rver):
    key = connect_key(CID, datetime.datetime(2024, 12, 11, 15, 30))
    s3_put(s3rver, key, WAV, ctype="binary/octet-stream")
    ev = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                       "eventName": "ObjectCreated:Put",
                       "s3": {"bucket": {"name": BUCKET},
                              "object": {"key": key.replace(":", "%3A"), "size": len(WAV)}}}]}
    ini, out = pipeline(tmp_path, initial_delay="10s")
    r = run(tmp_path, ini, ev, s3_env(tmp_path, s3rver))
    assert r.code == 0, r
    # One locate call and one notify call: the initial delay (a retry-after
    # first) was not waited for.
    assert r.json()["attempts"] == 2, "an S3 event must not wait for the initial delay"
    rc = r.json()["recording"]
    assert rc["uri"] == f"s3://{BUCKET}/{key}"
    assert rc["content_type"] == "audio/wav"  # S3 said octet-stream; the key says .wav
    assert rc["size"] == len(WAV)
    assert rc["search_attempts"] == 1


def test_s3_event_for_another_bucket_is_refused(tmp_path, s3rver):
    ev = {"Records": [{"eventName": "ObjectCreated:Put", "awsRegion": "us-east-1",
                       "s3": {"bucket": {"name": "someone-elses"},
                              "object": {"key": f"ivr/{CID}_x.wav"}}}]}
    ini, _ = pipeline(tmp_path)
    r = run(tmp_path, ini, ev, s3_env(tmp_path, s3rver))
    assert r.code == 66, r
    assert "outside bucket 'vm-bucket'" in r.err, r
    assert "uri" not in r.json()["recording"]


def test_midnight_boundary_previous_day(tmp_path, s3rver):
    """Invoked just after midnight UTC, the recording started (and is filed)
    the day before."""
    key = connect_key(CID, datetime.datetime(2024, 12, 11, 23, 58))
    s3_put(s3rver, key, WAV)
    ini, _ = pipeline(tmp_path)
    r = run(tmp_path, ini, record(tmp_path, received="2024-12-12T00:03:10Z"),
            s3_env(tmp_path, s3rver))
    assert r.code == 0, r
    assert r.json()["recording"]["uri"] == f"s3://{BUCKET}/{key}"


def test_midnight_boundary_next_day(tmp_path, s3rver):
    key = connect_key(CID, datetime.datetime(2024, 12, 12, 0, 0))
    s3_put(s3rver, key, WAV)
    ini, _ = pipeline(tmp_path)
    r = run(tmp_path, ini, record(tmp_path, received="2024-12-11T23:59:30Z"),
            s3_env(tmp_path, s3rver))
    assert r.code == 0, r
    assert r.json()["recording"]["uri"] == f"s3://{BUCKET}/{key}"


def test_midday_does_not_search_other_days(tmp_path, s3rver):
    """Away from midnight only the contact's day is listed."""
    key = connect_key(CID, datetime.datetime(2024, 12, 10, 12, 0))  # the day before
    s3_put(s3rver, key, WAV)
    ini, _ = pipeline(tmp_path, wait="0s")
    r = run(tmp_path, ini, record(tmp_path, received="2024-12-11T12:00:00Z"),
            s3_env(tmp_path, s3rver))
    assert r.code == 66, r
    assert "2024/12/10" not in r.err


def test_contact_id_fallback(tmp_path, s3rver):
    """A transferred contact: the recording carries the ContactId, not the
    InitialContactId."""
    initial = "00000000-aaaa-bbbb-cccc-000000000001"
    now = datetime.datetime.now(datetime.timezone.utc)
    key = connect_key(CID, now)
    s3_put(s3rver, key, WAV)
    ini, _ = pipeline(tmp_path)
    r = run(tmp_path, ini, connect_event(CID, initial_id=initial), s3_env(tmp_path, s3rver))
    assert r.code == 0, r
    assert r.json()["recording"]["uri"] == f"s3://{BUCKET}/{key}"


def test_initial_contact_id_preferred(tmp_path, s3rver):
    initial = "00000000-aaaa-bbbb-cccc-000000000002"
    now = datetime.datetime.now(datetime.timezone.utc)
    s3_put(s3rver, connect_key(CID, now), b"RIFFother")
    key = connect_key(initial, now)
    s3_put(s3rver, key, WAV)
    ini, _ = pipeline(tmp_path)
    r = run(tmp_path, ini, connect_event(CID, initial_id=initial), s3_env(tmp_path, s3rver))
    assert r.code == 0, r
    assert r.json()["recording"]["uri"] == f"s3://{BUCKET}/{key}"


@pytest.mark.valgrind
def test_never_appears_exit_66_names_prefixes(tmp_path, s3rver):
    initial = "00000000-aaaa-bbbb-cccc-000000000003"
    ini, out = pipeline(tmp_path, wait="1500ms")
    r = run(tmp_path, ini, connect_event(CID, initial_id=initial), s3_env(tmp_path, s3rver))
    assert r.code == 66, r
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y/%m/%d")
    for cid in (initial, CID):
        want = f"s3://{BUCKET}/connect/acme/CallRecordings/ivr/{day}/{cid}_*"
        assert want in r.err, r
    rec = r.json()
    assert rec["recording"]["error"] == "not found"
    assert any("recording not found" in e["message"] for e in rec["errors"]), rec
    assert rec["state"] == "failed"
    # The owner still hears that somebody called.
    assert (out / f"{CID}.eml").exists()


def test_s3_event_object_missing_waits_then_fails(tmp_path, s3rver):
    ev = {"Records": [{"eventName": "ObjectCreated:Put", "awsRegion": "us-east-1",
                       "s3": {"bucket": {"name": BUCKET},
                              "object": {"key": f"ivr/2024/12/11/{CID}_20241211T15%3A30_UTC.wav"}}}]}
    ini, _ = pipeline(tmp_path, wait="1s")
    r = run(tmp_path, ini, ev, s3_env(tmp_path, s3rver))
    assert r.code == 66, r
    assert "HEAD s3://vm-bucket/ivr/2024/12/11/" in r.err and "404" in r.err, r


@pytest.mark.parametrize("opt,val,msg", [
    ("url_expires", "8d", "7 days"),
    ("url_expires", "604801", "7 days"),
    ("bucket", "s3://vm-bucket", "not an S3 bucket name"),
    ("layout", "ivr/{year}/", "unknown placeholder {year}"),
    ("prefix", "/abs", "do not start with '/'"),
    ("base_path", "/", "does not start with a bucket name"),
    ("base_path", "Not_A_Bucket/x", "not an S3 bucket name"),
])
def test_bad_options_refused_at_check(tmp_path, opt, val, msg):
    opts = {opt: val}
    if opt == "base_path":
        opts.update(bucket=None, prefix=None)
    ini, _ = pipeline(tmp_path, **opts)
    r = run_vmpipe("check", "-c", ini)
    assert r.code == 78, r
    assert msg in r.err and "[locate]" in r.err, r


def test_base_path_with_bucket_or_nothing_refused(tmp_path):
    ini, _ = pipeline(tmp_path, base_path=f"{BUCKET}/x")
    r = run_vmpipe("check", "-c", ini)
    assert r.code == 78 and "either 'base_path'" in r.err, r
    ini, _ = pipeline(tmp_path, bucket=None, prefix=None)
    r = run_vmpipe("check", "-c", ini)
    assert r.code == 78 and "no bucket" in r.err, r


@pytest.mark.parametrize("base_path", [
    f"{BUCKET}/connect/acme/CallRecordings",
    f"s3://{BUCKET}/connect/acme/CallRecordings/",
    f"/{BUCKET}//connect/acme/CallRecordings",
])
def test_base_path_as_the_original_took_it(tmp_path, s3rver, base_path):
    """The original Lambda's BASE_PATH, BUCKET/PREFIX, carries over unchanged."""
    now = datetime.datetime.now(datetime.timezone.utc)
    key = connect_key(CID, now - datetime.timedelta(seconds=40))
    s3_put(s3rver, key, WAV)
    ini, _ = pipeline(tmp_path, bucket=None, prefix=None, base_path=base_path)
    r = run(tmp_path, ini, connect_event(CID), s3_env(tmp_path, s3rver))
    assert r.code == 0, r
    assert r.json()["recording"]["uri"] == f"s3://{BUCKET}/{key}"


def test_url_expires_from_environment(tmp_path, s3rver):
    """URL_EXPIRATION maps straight in (seconds)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    s3_put(s3rver, connect_key(CID, now), WAV)
    ini, _ = pipeline(tmp_path, url_expires="${URL_EXPIRATION:-604800}")
    r = run(tmp_path, ini, connect_event(CID), s3_env(tmp_path, s3rver, URL_EXPIRATION="3600"))
    assert r.code == 0, r
    assert "X-Amz-Expires=3600" in r.json()["recording"]["url"]


# ------------------------------------------------------------------ strict fake


class AppearingS3(awsfake.S3Fake):
    """The recording appears after `after` listings of its prefix (time-free,
    so it works with VMPIPE_CLOCK=fake)."""

    def __init__(self, key, data, after):
        super().__init__([(AKID, SECRET, None)])
        self.key, self.data, self.after, self.lists = key, data, after, 0
        self.put(BUCKET, "unrelated/other.wav", b"x")

    def handle(self, req):
        if req.args.get("list-type") == "2":
            with self.lock:
                self.lists += 1
                n = self.lists
            if n > self.after:
                self.put(BUCKET, self.key, self.data, "audio/wav")
        return super().handle(req)


def fake_env(tmp_path, fake, **extra):
    return s3_env(tmp_path, fake.url, s3rver_creds=False, VMPIPE_CLOCK="fake", **extra)


def yesterday_noon():
    """A hang-up 12 to 36 hours ago at noon UTC: in the past and far from
    midnight whenever the test runs (within 15 minutes of midnight the search
    lists the adjacent day too, which would change the counts below)."""
    day = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    return day.replace(hour=12, minute=0, second=0, microsecond=0)


@pytest.mark.valgrind
def test_signed_requests_and_backoff_with_fake_clock(tmp_path):
    hangup = yesterday_noon()
    key = connect_key(CID, hangup)
    fake = AppearingS3(key, WAV, after=4).start()
    try:
        ini, _ = pipeline(tmp_path, initial_delay="3s", wait="2m", poll="2s", poll_max="15s")
        r = run(tmp_path, ini, record(tmp_path, received=utc(hangup)), fake_env(tmp_path, fake))
        assert r.code == 0, r
        log = fake.requests()
        lists = [e for e in log if "list-type=2" in e["query"]]
        assert len(lists) == 5, log
        assert all(e["signed"] and e["status"] == 200 for e in log), log
        assert not any("mismatch" in e for e in log), log
        # With the fake clock, the looks are 2 s, 3 s, 5 s, 8 s apart: the
        # engine's virtual sleeps show in the record's attempts only; check
        # the search stayed within the budget of 2 minutes.
        assert r.json()["recording"]["search_attempts"] == 5
    finally:
        fake.stop()


def test_never_appears_with_fake_clock_counts_looks(tmp_path):
    """wait = 2m with backoff 2,3,5,8,13,15,15… -> a bounded number of looks."""
    fake = AppearingS3("nothing", b"", after=10 ** 6).start()
    try:
        ini, _ = pipeline(tmp_path, initial_delay="0s", wait="2m", poll="2s", poll_max="15s")
        r = run(tmp_path, ini, record(tmp_path, received=utc(yesterday_noon())), fake_env(tmp_path, fake))
        assert r.code == 66, r
        lists = [e for e in fake.requests() if "list-type=2" in e["query"]]
        # 0,2,5,10,18,31,46,61,76,91,106,120 -> 12 looks
        assert len(lists) == 12, len(lists)
        assert "after 120s (12 looks)" in r.err, r
        # When it gave up is in the record (Lambda's suspend mode times its wake-up by it).
        rc = r.json()["recording"]
        assert rc["wait_until"] - rc["search_started_at"] == 120000, rc
    finally:
        fake.stop()


def test_slowdown_storm_is_ridden_out(tmp_path):
    """Bursts of 503 SlowDown: the host retries inside a call, the engine
    backs off between calls, and the recording is still found."""
    hangup = yesterday_noon()
    key = connect_key(CID, hangup)
    fake = AppearingS3(key, WAV, after=1).start()
    fake.set_faults(plan=["throttle"] * 5 + ["ok", "throttle", "throttle", "ok"])
    try:
        ini, _ = pipeline(tmp_path, wait="2m")
        r = run(tmp_path, ini, record(tmp_path, received=utc(hangup)), fake_env(tmp_path, fake))
        assert r.code == 0, r
        assert r.json()["recording"]["uri"] == f"s3://{BUCKET}/{key}"
        faults = [e for e in fake.requests() if e.get("fault") == "throttle"]
        assert len(faults) == 7
    finally:
        fake.stop()


def test_wrong_secret_is_a_permanent_error(tmp_path):
    fake = AppearingS3("k", WAV, after=0).start()
    try:
        ini, _ = pipeline(tmp_path)
        env = fake_env(tmp_path, fake, AWS_SECRET_ACCESS_KEY="wrong")
        r = run(tmp_path, ini, record(tmp_path), env)
        assert r.code == 66, r
        assert "SignatureDoesNotMatch" in r.err, r
        assert len(fake.requests()) == 1  # not retried: retrying cannot help
    finally:
        fake.stop()


def test_access_denied_explains_list_permission(tmp_path):
    class Denied(awsfake.S3Fake):
        def handle(self, req):
            return self.error(403, "AccessDenied", "Access Denied")
    fake = Denied([(AKID, SECRET, None)]).start()
    try:
        ini, _ = pipeline(tmp_path)
        r = run(tmp_path, ini, record(tmp_path), fake_env(tmp_path, fake))
        assert r.code == 66, r
        assert "s3:ListBucket" in r.err, r
    finally:
        fake.stop()
