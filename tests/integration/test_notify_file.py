"""notify-file's outbox: <id>.eml and <id>.json, the job record as the mail
was written ("state": "notified", the notification with the mail's
Message-ID), not a record that claims the job is still pending."""
import email
import email.policy
import json
import wave

from conftest import connect_event, run_vmpipe, write

CID = "11111111-2222-3333-4444-555555555555"
FAKE = {"VMPIPE_CLOCK": "fake"}


def setup_pipeline(tmp_path, plugdir, extra=""):
    (tmp_path / "rec").mkdir()
    with wave.open(str(tmp_path / "rec" / f"{CID}.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(16000))
    return write(tmp_path / "pipeline.ini",
                 f"[pipeline]\nplugin_dir = {plugdir}\n"
                 f"[locate]\nplugin = locate-file\ndir = rec\nsettle = 0\n"
                 f"[notify]\nplugin = notify-file\ndir = out\n{extra}")


def outbox(tmp_path, d="out"):
    with open(tmp_path / d / f"{CID}.json") as f:
        rec = json.load(f)
    with open(tmp_path / d / f"{CID}.eml", "rb") as f:
        msg = email.message_from_bytes(f.read(), policy=email.policy.default)
    return rec, msg


def test_outbox_record_is_the_record_as_notified(tmp_path, plugdir):
    ini = setup_pipeline(tmp_path, plugdir)
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()), env=FAKE)
    assert r.code == 0, r
    final = r.json()
    rec, msg = outbox(tmp_path)
    assert rec["state"] == "notified", rec
    (n,) = rec["notifications"]
    assert n["stage"] == "notify" and n["transport"] == "file"
    assert n["message_id"] == msg["Message-ID"], (n, msg["Message-ID"])
    # The job's own record is unchanged by it: it ends done, with the same mail.
    assert final["state"] == "done"
    assert final["notifications"] == rec["notifications"]
    assert final["stages"] == dict(rec["stages"], notify="done"), (final["stages"], rec["stages"])
    for k in ("id", "contact", "recipient", "recording"):
        assert rec[k] == final[k], k


def test_second_notifier_file_lists_both(tmp_path, plugdir):
    ini = setup_pipeline(tmp_path, plugdir, "[notify.archive]\nplugin = notify-file\ndir = archive\n")
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()), env=FAKE)
    assert r.code == 0, r
    first, _ = outbox(tmp_path)
    second, msg = outbox(tmp_path, "archive")
    assert [n["stage"] for n in first["notifications"]] == ["notify"]
    assert [n["stage"] for n in second["notifications"]] == ["notify", "notify.archive"]
    assert second["notifications"][1]["message_id"] == msg["Message-ID"]
    assert second["state"] == "notified"
    assert second["stages"].get("notify") == "done"


def test_outbox_record_run_again_mails_nobody_twice(tmp_path, plugdir):
    """The outbox record is a job record vmpipe takes: run again (a new run of
    the same job: what an event says it sent is not taken from it), notify-file
    finds the message it wrote for this job and does not write a second."""
    ini = setup_pipeline(tmp_path, plugdir)
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()), env=FAKE)
    assert r.code == 0, r
    rec, msg = outbox(tmp_path)
    eml = (tmp_path / "out" / f"{CID}.eml").read_bytes()
    again = run_vmpipe("run", "-c", ini, str(tmp_path / "out" / f"{CID}.json"), env=FAKE)
    assert again.code == 0, again
    assert "already holds" in again.err, again
    assert (tmp_path / "out" / f"{CID}.eml").read_bytes() == eml
    assert [n["message_id"] for n in again.json()["notifications"]] == \
        [n["message_id"] for n in rec["notifications"]]
    assert again.json()["state"] == "done"


def test_a_default_may_hold_braces(tmp_path, plugdir):
    """${SUBJ:-Voicemail from {{caller}}}: the default's braces balance (it
    stopped at the first '}' and the pipeline failed with 78)."""
    ini = setup_pipeline(tmp_path, plugdir, "subject = ${VMT_SUBJ_UNSET:-Voicemail from {{caller}}}\n")
    env = dict(FAKE)
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()), env=env)
    assert r.code == 0, r
    _, msg = outbox(tmp_path)
    assert msg["Subject"] == "Voicemail from " + r.json()["contact"]["caller"]
    for f in ("out/" + CID + ".eml", "out/" + CID + ".json"):
        (tmp_path / f).unlink()
    env["VMT_SUBJ_UNSET"] = "Call from {{caller}}"
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()), env=env)
    assert r.code == 0, r
    _, msg = outbox(tmp_path)
    assert msg["Subject"] == "Call from " + r.json()["contact"]["caller"]
