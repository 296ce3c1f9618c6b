"""The reference for vmpipe's engine-time benchmark: what the original Python
Lambda does for one voicemail once the recording and transcript are known —
read the Connect event, look at the recording, render the same two-part e-mail
with Python's email package, and write it out atomically.  No sleeping, no AWS:
only the per-voicemail work, to compare with `vmpipe run` on a pipeline without
a transcriber (locate-file -> notify-file)."""
import html
import json
import os
import sys
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate


def main(event_path, rec_dir, out_dir):
    ev = json.load(open(event_path))
    cd = ev["Details"]["ContactData"]
    cid = cd["ContactId"]
    caller = cd["CustomerEndpoint"]["Address"]
    attrs = cd.get("Attributes", {})
    path = os.path.join(rec_dir, cd["InitialContactId"] + ".wav")
    size = os.stat(path).st_size
    msg = EmailMessage()
    msg["From"] = "Voicemail <voicemail@localhost>"
    msg["To"] = "%s <%s>" % (attrs.get("RecipientName", ""), attrs["emailRecipient"])
    msg["Subject"] = "Voicemail message from: " + caller.replace("\r", "").replace("\n", "")
    msg["Date"] = formatdate(time.time(), usegmt=True)
    msg["Message-ID"] = "<%s@localhost>" % uuid.uuid4().hex
    url = "file://" + path
    text = ("Voicemail for: %s\n\nThere is a voicemail from %s.\nDuration: unknown\n\n"
            "Listen to the voicemail:\n%s\n\nVoicemail transcription\n%s\n" %
            (attrs.get("RecipientName"), caller, url, "(transcription unavailable)"))
    msg.set_content(text)
    msg.add_alternative(
        "<html><body><h1>Voicemail for: %s</h1><p>There is a voicemail from %s.</p>"
        "<p><a href=\"%s\">Listen to the voicemail</a></p><p>Duration: unknown</p>"
        "<h2>Voicemail transcription</h2><p>%s</p></body></html>" %
        (html.escape(attrs.get("RecipientName", "")), html.escape(caller), html.escape(url),
         "(transcription unavailable)"), subtype="html")
    data = bytes(msg)
    dst = os.path.join(out_dir, cid + ".eml")
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, dst)
    job = {"id": cid, "recording": {"uri": url, "size": size}, "state": "done"}
    json.dump(job, sys.stdout)


if __name__ == "__main__":
    main(*sys.argv[1:4])
