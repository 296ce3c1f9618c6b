"""Bad inputs end to end through the built binary: malformed events, a
missing recording, an event without a recipient, hostile caller IDs,
recording paths that try to leave the spool, a recording still being
written, notifier failures.  Each test asserts the exit status and that
the message names the cause; where the owner must still hear of the call,
it checks the .eml."""
import base64
import email
import email.policy
import io
import json
import os
import threading
import time
import wave

import pytest

from conftest import ROOT, connect_event, run_vmpipe, write

EX_OK, EX_DATAERR, EX_NOINPUT, EX_UNAVAILABLE, EX_TEMPFAIL, EX_CONFIG = 0, 65, 66, 69, 75, 78
CID = "11111111-2222-3333-4444-555555555555"
FAKE = {"VMPIPE_CLOCK": "fake"}  # waits take no real time


def wav_bytes(seconds=0.2, rate=8000):
    """A small valid WAV (silence): locate-file and notify-file never decode it."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(seconds * rate))
    return buf.getvalue()


def pipeline(tmp_path, plugdir, locate=None, transcribe=None, notify="", extra=""):
    """locate-file on tmp/rec -> [transcribe] -> notify-file into tmp/out.
    `locate` overrides locate-file's options (a dict)."""
    (tmp_path / "rec").mkdir(exist_ok=True)
    opts = {"dir": "rec", "settle": "0", "poll": "100ms"}
    opts.update(locate or {})
    loc = "".join(f"{k} = {v}\n" for k, v in opts.items())
    text = (f"[pipeline]\nplugin_dir = {plugdir}\ntimeout = 10m\n"
            f"[locate]\nplugin = locate-file\n{loc}"
            f"[notify]\nplugin = notify-file\ndir = out\n{notify}")
    if transcribe:
        text += f"[transcribe]\n{transcribe}"
    return write(tmp_path / "pipeline.ini", text + extra)


def event_file(tmp_path, ev, name="event.json"):
    return write(tmp_path / name, ev if isinstance(ev, str) else json.dumps(ev))


def eml(tmp_path, cid=CID):
    path = tmp_path / "out" / f"{cid}.eml"
    assert path.exists(), f"no {path}; outbox has {list((tmp_path / 'out').glob('*'))}"
    with open(path, "rb") as f:
        raw = f.read()
    return raw, email.message_from_bytes(raw, policy=email.policy.default)


def header_block(raw):
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")


def text_body(msg):
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None, msg
    return part.get_content()


def error_messages(rec, stage=None):
    return [e["message"] for e in rec.get("errors", []) if stage is None or e["stage"] == stage]


# ------------------------------------------------------------ events


@pytest.mark.valgrind
def test_malformed_event_json(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir)
    r = run_vmpipe("run", "-c", ini, input='{"Details": {"ContactData": ')
    assert r.code == EX_DATAERR, r
    assert "bad event (stdin): event is not valid JSON (line 1 column" in r.err, r
    assert "expected an Amazon Connect contact-flow event (Details.ContactData.ContactId)" in r.err, r
    assert r.out == "", r
    assert not list((tmp_path / "out").glob("*")), "nothing may be sent for a bad event"


@pytest.mark.parametrize("event,why", [
    ("[1, 2]", "event is not a JSON object"),
    ('{"hello": "world"}', "unrecognised event"),
    ('{"Details": {"ContactData": {"ContactId": "../../etc/passwd"}}}',
     "Details.ContactData.ContactId is not a plain id"),
    ('{"Details": {"ContactData": {}}}', "no Details.ContactData.ContactId string"),
    ('{"id": "j1", "recipient": {"email": 5}}', "job record field 'recipient.email' must be a string (got a number)"),
    ('{"Records": [{"eventName": "ObjectRemoved:Delete"}]}', "not an ObjectCreated event"),
])
def test_bad_events(tmp_path, plugdir, event, why):
    ini = pipeline(tmp_path, plugdir)
    ev = event_file(tmp_path, event)
    r = run_vmpipe("run", "-c", ini, ev)
    assert r.code == EX_DATAERR, r
    assert f"bad event ({ev}): " in r.err and why in r.err, r
    assert r.out == "", r


def test_event_too_large(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir)
    ev = connect_event()
    ev["Details"]["Parameters"]["padding"] = "x" * (1024 * 1024)
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(ev))
    assert r.code == EX_DATAERR, r
    assert "larger than 1 MiB" in r.err, r


def _big_caller():
    ev = connect_event(caller="+1" + "5" * 1000000)  # the audit's 1 MB caller id
    return ev, "Details.ContactData.CustomerEndpoint.Address is 1000002 bytes; at most 128 (a caller id)"


def _many_recipients():
    ev = connect_event(recipient=", ".join(f"u{i}@example.com" for i in range(3000)))
    return ev, "Details.ContactData.Attributes.emailRecipient names 3000 addresses; at most 50"


def _numeric_recipient():
    ev = connect_event()
    ev["Details"]["ContactData"]["Attributes"]["emailRecipient"] = 15555550123
    return ev, "Details.ContactData.Attributes.emailRecipient must be a string (got a number)"


def _record_name():
    return ({"id": "j-1", "recipient": {"email": "a@example.com", "name": "N" * 5000}},
            "job record field 'recipient.name' is 5000 bytes; at most 256 (a name)")


@pytest.mark.parametrize("make", [_big_caller, _many_recipients, _numeric_recipient, _record_name],
                         ids=["1MB-caller", "3000-recipients", "numeric-recipient", "record-name"])
def test_event_fields_are_bounded(tmp_path, plugdir, make):
    """What an event carries is bounded by what it can be, and a wrong type is
    refused naming the field: nothing runs, nothing is mailed."""
    ini = pipeline(tmp_path, plugdir)
    (tmp_path / "rec" / f"{CID}.wav").write_bytes(wav_bytes())
    ev, why = make()
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(ev), env=FAKE)
    assert r.code == EX_DATAERR, r
    assert why in r.err, r
    assert r.out == "", r
    assert not list((tmp_path / "out").glob("*.eml")) if (tmp_path / "out").exists() else True


def test_event_file_missing(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir)
    missing = tmp_path / "no-such-event.json"
    r = run_vmpipe("run", "-c", ini, missing)
    assert r.code == EX_NOINPUT, r
    assert f"cannot read event {missing}: No such file or directory" in r.err, r


def test_event_without_recipient(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir)
    (tmp_path / "rec" / f"{CID}.wav").write_bytes(wav_bytes())
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event(recipient=None)))
    assert r.code == EX_OK, r
    assert "names no recipient" in r.err and "emailRecipient" in r.err, r
    raw, msg = eml(tmp_path)
    assert msg["To"] is None, header_block(raw)  # kept in the outbox for a person to see
    assert msg["Subject"] == "Voicemail message from: +15555550123", header_block(raw)
    rec = r.json()
    assert rec["state"] == "done" and rec["notifications"][0]["stage"] == "notify", rec


# ------------------------------------------------------------ the recording


@pytest.mark.valgrind
def test_missing_recording(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir, locate={"wait": "2s"})
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()), env=FAKE)
    assert r.code == EX_NOINPUT, r
    want = f"recording not found: {tmp_path}/rec/{CID}.wav"
    assert want in r.err, r
    rec = r.json()
    assert any(want in m for m in error_messages(rec, "locate")), rec
    assert rec["stages"] == {"locate": "failed", "notify": "done"}, rec
    # The owner still hears that somebody called.
    raw, msg = eml(tmp_path)
    assert msg["To"] is not None and "owner@example.com" in msg["To"], header_block(raw)
    assert not list(msg.iter_attachments())


def test_fake_clock_makes_long_wait_instant(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir, locate={"wait": "10m", "poll": "1s"})
    # A 10 minute wait within run_vmpipe's 60 s subprocess timeout: virtual.
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()), env=FAKE, timeout=60)
    assert r.code == EX_NOINPUT, r
    assert "(waited 600s in rec)" in r.err, r
    assert r.json()["attempts"] >= 600, "polled every virtual second"


def test_recording_that_grows(tmp_path, plugdir):
    """A PBX still writing: locate-file waits until the size settles."""
    ini = pipeline(tmp_path, plugdir, locate={"wait": "30s", "settle": "500ms"})
    path = tmp_path / "rec" / f"{CID}.wav"
    chunk, chunks, period = b"\x01\x02" * 500, 15, 0.1  # ~1.5 s of appending
    head = wav_bytes(0)
    path.write_bytes(head)
    done = threading.Event()

    def writer():
        with open(path, "ab") as f:
            for _ in range(chunks):
                time.sleep(period)
                f.write(chunk)
                f.flush()
        done.set()

    th = threading.Thread(target=writer)
    th.start()
    try:
        r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()))
    finally:
        th.join()
    assert r.code == EX_OK, r
    final = len(head) + chunks * len(chunk)
    rec = r.json()
    assert rec["recording"]["size"] == final, f"took the recording at {rec['recording']['size']} " \
        f"bytes while it was still growing to {final}"
    assert rec["recording"]["uri"] == f"file://{os.path.realpath(path)}", rec


# ------------------------------------------------------------ escaping the spool


def assert_refused_outside(tmp_path, r, what):
    assert r.code == EX_NOINPUT, r
    assert what in r.err and "refused" in r.err, r
    rec = r.json()
    assert "uri" not in rec.get("recording", {}), f"a refused recording is still named: {rec}"
    assert any("refused" in m for m in error_messages(rec, "locate")), rec
    # The owner still gets the mail, without the file attached.
    raw, msg = eml(tmp_path, rec["id"])
    assert not list(msg.iter_attachments()), header_block(raw)
    assert b"root:" not in raw


def test_symlink_out_of_spool(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir, notify="attach = yes\n")
    os.symlink("/etc/passwd", tmp_path / "rec" / f"{CID}.wav")
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()), env=FAKE)
    assert_refused_outside(tmp_path, r, "resolves outside rec")


def test_relative_symlink_out_of_spool(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir, notify="attach = yes\n")
    (tmp_path / "secret.wav").write_bytes(wav_bytes())
    os.symlink("../secret.wav", tmp_path / "rec" / f"{CID}.wav")
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()), env=FAKE)
    assert_refused_outside(tmp_path, r, "resolves outside rec")


def test_dotdot_in_pattern(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir, locate={"pattern": "../{contact_id}.wav"})
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()))
    assert r.code == EX_CONFIG, r
    assert f"{ini}:4: [locate] plugin 'locate-file' failed to start: option 'pattern'" in r.err, r
    assert "without '..'" in r.err, r


@pytest.mark.parametrize("uri", [
    "file:///etc/passwd",
    "file://{rec}/../secret.wav",
    "file://{rec}/%2e%2e/secret.wav",
    "file://{rec}/%2E%2E%2Fsecret.wav",
])
def test_job_record_uri_outside(tmp_path, plugdir, uri):
    ini = pipeline(tmp_path, plugdir, notify="attach = yes\n")
    (tmp_path / "secret.wav").write_bytes(b"root:x:0:0 not a recording")
    uri = uri.format(rec=os.path.realpath(tmp_path / "rec"))
    job = {"id": "job-1", "recipient": {"email": "owner@example.com"}, "recording": {"uri": uri}}
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(job), env=FAKE)
    assert_refused_outside(tmp_path, r, "outside rec")


def test_job_record_cannot_set_what_the_pipeline_derives(tmp_path, plugdir):
    """The audit's record set the link in the mail (and could set the transcript,
    the duration, a "sent" note that stops the mail): none of it is taken."""
    ini = pipeline(tmp_path, plugdir)
    (tmp_path / "rec" / "job-4.wav").write_bytes(wav_bytes())
    job = {"id": "job-4", "recipient": {"email": "owner@example.com"},
           "contact": {"id": "job-4", "caller": "+15555550123"},
           "recording": {"url": "https://evil.example/login", "url_expires_at": "2099-01-01T00:00:00Z",
                         "url_kind": "link", "size": 1, "duration_seconds": 4242},
           "transcript": {"status": "completed", "text": "Urgent: log in at evil.example"},
           "notifications": [{"stage": "notify", "transport": "file", "message_id": "<x@y>"}],
           "stages": {"locate": "done"}, "state": "done", "attempts": 7}
    for url in ("https://evil.example/login", "javascript:alert(1)"):
        job["recording"]["url"] = url
        r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(job), env=FAKE)
        assert r.code == EX_OK, r
        assert "ignored what the pipeline derives itself" in r.err, r
        raw, msg = eml(tmp_path, "job-4")
        for bad in (b"evil.example", b"javascript:", b"4242", b"1h 10m"):
            assert bad not in raw, (bad, raw[:3000])
        rec = r.json()
        assert "url" not in rec["recording"] and rec["recording"]["size"] == len(wav_bytes())
        assert "transcript" not in rec and rec["attempts"] == 2  # locate and notify, once each
        assert [n["message_id"] for n in rec["notifications"]] != ["<x@y>"]
        (tmp_path / "out" / "job-4.eml").unlink()


def test_job_record_hostile_contact_id(tmp_path, plugdir):
    """contact.id feeds {contact_id}: a record cannot smuggle a path through it."""
    ini = pipeline(tmp_path, plugdir)
    (tmp_path / "secret.wav").write_bytes(wav_bytes())
    job = {"id": "job-2", "contact": {"id": "../secret"}, "recipient": {"email": "o@example.com"}}
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(job), env=FAKE)
    assert r.code == EX_DATAERR, r  # contact ids are plain ids, checked at intake
    assert "job record field 'contact.id' is not a plain id" in r.err, r
    assert not (tmp_path / "out" / "job-2.eml").exists()


SECRET = b"root:x:0:0:SECRET-NOT-A-RECORDING\n"


def assert_secret_not_mailed(raw, msg):
    assert not list(msg.iter_attachments()), [p.get_content_type() for p in msg.iter_attachments()]
    assert b"SECRET-NOT-A-RECORDING" not in raw and base64.b64encode(SECRET)[:24] not in raw


def test_recording_swapped_for_a_link_after_locate(tmp_path, plugdir):
    """The audit: rec/c1.wav replaced by a symlink to another readable file
    between locate and the read, attach = yes, mailed that file.  Now the
    read opens without following the link and checks it is the located file."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    rec = tmp_path / "rec" / f"{CID}.wav"
    ini = pipeline(tmp_path, plugdir, notify="attach = yes\n",
                   transcribe=f"plugin = test-swap\npath = {rec}\ntarget = {secret}\n")
    rec.write_bytes(wav_bytes())
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()), env=FAKE)
    assert r.code == EX_OK, r  # the owner still hears of the call
    assert os.path.islink(rec), "the test plugin did not swap the file"
    raw, msg = eml(tmp_path)
    assert_secret_not_mailed(raw, msg)
    located = os.path.join(os.path.realpath(tmp_path / "rec"), f"{CID}.wav")
    assert f"recording {located} is a symbolic link: refused" in r.err, r
    assert "file_id" in r.json()["recording"]


def stopped_after_locate(tmp_path, plugdir):
    """A run with checkpoints that locates rec/CID.wav and then stops (the
    transcriber and notifier fail for good): the next run resumes after locate.
    Returns the [pipeline] + [locate] text both runs share."""
    (tmp_path / "rec").mkdir(exist_ok=True)
    (tmp_path / "rec" / f"{CID}.wav").write_bytes(wav_bytes())
    head = f"[pipeline]\nplugin_dir = {plugdir}\ntimeout = 10m\nstate = state\n" \
           "[locate]\nplugin = locate-file\ndir = rec\nsettle = 0\n"
    ini = write(tmp_path / "pipeline.ini", head +
                "[transcribe]\nplugin = test-flaky-transcribe\nmode = permanent\ntimes = -1\n"
                "[notify]\nplugin = test-flaky\nmode = permanent\ntimes = -1\n")
    first = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()), env=FAKE)
    assert first.code == EX_UNAVAILABLE, first
    assert first.json()["stages"]["locate"] == "done", first
    return head


def test_recording_replaced_by_another_file_after_locate(tmp_path, plugdir):
    """Not a link but another file renamed over the recording between locate
    and the read (here: between a run and its resumption)."""
    head = stopped_after_locate(tmp_path, plugdir)
    new = tmp_path / "rec" / "new.wav"
    new.write_bytes(SECRET)
    os.rename(new, tmp_path / "rec" / f"{CID}.wav")
    ini = write(tmp_path / "pipeline.ini", head + "[notify]\nplugin = notify-file\ndir = out\nattach = yes\n")
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()), env=FAKE)
    # A checkpoint is no authority for the file: the resumed job locates it
    # again, finds another file and refuses it there (the owner is told
    # without the recording: exit 66).
    assert r.code == 66, r
    assert "resuming from its checkpoint" in r.err, r
    raw, msg = eml(tmp_path)
    assert_secret_not_mailed(raw, msg)
    assert "is not the file the locate stage found (replaced or changed since): refused" in r.err, r


@pytest.mark.skipif(not os.path.isdir("/usr/share/pocketsphinx/model/en-us"),
                    reason="the PocketSphinx en-us model is not installed")
def test_sphinx_reads_only_the_located_recording(tmp_path, plugdir):
    """A job resumed after the recording was swapped for a link transcribes
    nothing of the target: it is located again and refused before
    transcribe-sphinx (which reads through the host's fetch) runs."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    head = stopped_after_locate(tmp_path, plugdir)
    rec = tmp_path / "rec" / f"{CID}.wav"
    os.unlink(rec)
    os.symlink(secret, rec)
    ini = write(tmp_path / "pipeline.ini", head + "[transcribe]\nplugin = transcribe-sphinx\n"
                "[notify]\nplugin = notify-file\ndir = out\nattach = yes\n")
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()), env=FAKE)
    # The resumed job locates the recording again: the link leads outside
    # rec/ and is refused there, before any transcriber reads it.
    assert r.code == 66, r
    rec_json = r.json()
    assert rec_json["transcript"]["status"] == "skipped", rec_json
    assert any("resolves outside" in m for m in error_messages(rec_json, "locate")), rec_json
    raw, msg = eml(tmp_path)
    assert_secret_not_mailed(raw, msg)


def test_job_record_s3_uri_for_locate_file(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir)
    job = {"id": "job-3", "recording": {"uri": "s3://bucket/key.wav"}}
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(job), env=FAKE)
    assert r.code == EX_NOINPUT, r
    assert "recording.uri 's3://bucket/key.wav' is not a file:// URI" in r.err, r


# ------------------------------------------------------------ mail content


@pytest.mark.skipif(not os.path.isdir(os.path.join(ROOT, "engine", "mail")),
                    reason="needs the real mail module (engine/mail)")
def test_hostile_caller_id(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir)
    (tmp_path / "rec" / f"{CID}.wav").write_bytes(wav_bytes())
    ev = connect_event(caller="+1555\r\nBcc: x@evil.example", name="Pat\r\nCc: y@evil.example")
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(ev))
    assert r.code == EX_OK, r
    raw, msg = eml(tmp_path)
    headers = header_block(raw)
    for line in headers.split("\r\n"):
        assert not line.lower().startswith(("bcc:", "cc:")), f"injected header: {line!r}\n{headers}"
    assert msg["Bcc"] is None and msg["Cc"] is None, headers
    # The display name may keep the text, flattened; the addresses may not change.
    assert [a.addr_spec for a in msg["To"].addresses] == ["owner@example.com"], headers
    assert "\r" not in msg["Subject"] and "\n" not in msg["Subject"], repr(msg["Subject"])
    assert msg["Subject"].startswith("Voicemail message from: +1555"), msg["Subject"]
    # Every header line ends in CRLF: no bare LF or CR that a relay might split on.
    assert b"\n" not in raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b""), headers


def test_transcript_in_mail(tmp_path, plugdir):
    """Control for the failure below: a transcript reaches the mail."""
    ini = pipeline(tmp_path, plugdir, transcribe="plugin = test-flaky-transcribe\n"
                   "text = please call me back about the invoice\n")
    (tmp_path / "rec" / f"{CID}.wav").write_bytes(wav_bytes())
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()))
    assert r.code == EX_OK, r
    _, msg = eml(tmp_path)
    assert "please call me back about the invoice" in text_body(msg)
    assert "unavailable" not in text_body(msg)


def test_transcription_failure_still_notifies(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir, transcribe="plugin = test-flaky-transcribe\nmode = permanent\n"
                   "message = decoder exploded\n")
    (tmp_path / "rec" / f"{CID}.wav").write_bytes(wav_bytes())
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()))
    assert r.code == EX_OK, r
    rec = r.json()
    assert rec["transcript"]["status"] == "failed", rec
    assert "decoder exploded" in rec["transcript"]["error"], rec
    assert any("decoder exploded" in m for m in error_messages(rec, "transcribe")), rec
    _, msg = eml(tmp_path)
    assert "The transcription is unavailable" in text_body(msg)


# ------------------------------------------------------------ notifiers failing


def test_notifier_permanent_failure(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir, extra="[notify.pager]\nplugin = test-flaky\nmode = permanent\n"
                   "message = 550 no such pager\n")
    (tmp_path / "rec" / f"{CID}.wav").write_bytes(wav_bytes())
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()), env=FAKE)
    assert r.code == EX_UNAVAILABLE, r
    assert "550 no such pager" in r.err, r
    rec = r.json()
    assert rec["state"] == "failed", rec
    assert rec["stages"]["notify"] == "done" and rec["stages"]["notify.pager"] == "failed", rec
    eml(tmp_path)  # the other notifier still wrote its mail


def test_notifier_timeout(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir, extra="[notify.pager]\nplugin = test-flaky\nmode = transient\n"
                   "times = -1\nmessage = 503 try later\n")
    (tmp_path / "rec" / f"{CID}.wav").write_bytes(wav_bytes())
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()), env=FAKE)
    assert r.code == EX_TEMPFAIL, r
    assert "timed out waiting in notify.pager: 503 try later" in r.err, r
    kinds = {e["kind"] for e in r.json()["errors"] if e["stage"] == "notify.pager"}
    assert kinds == {"transient", "timeout"}, kinds
