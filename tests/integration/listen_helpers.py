"""A `vmpipe serve` with listen pages, and links made the way link.h says.

The pipeline locates recordings in tmp/rec, transcribes with the test
transcriber (a fixed text with markup in it) and mails with notify-file;
[serve] listen and public_url point at one ephemeral port.
"""
import base64
import email
import email.policy
import glob
import hashlib
import hmac
import json
import os
import re
import struct
import urllib.error
import urllib.request

from conftest import connect_event, run_vmpipe, write
from serve_helpers import Serve, free_port, wait_until

TRANSCRIPT = "Hi, it's <b>Maria</b> & co.\nCall me back about the invoice."


def wav(seconds, rate=8000):
    """A 16-bit mono WAV of a square wave (deterministic)."""
    n = int(seconds * rate)
    period = struct.pack("<h", -6000) * 20 + struct.pack("<h", 6000) * 20
    samples = (period * (n // 40 + 1))[:2 * n]
    hdr = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVE"
    hdr += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return hdr + b"data" + struct.pack("<I", len(samples)) + samples


def ulaw(sample):
    """One 16-bit sample in G.711 mu-law (ITU-T G.711; Sun's g711.c linear2ulaw)."""
    sign = 0x80 if sample < 0 else 0
    mag = min(-sample if sample < 0 else sample, 32635) + 0x84
    exponent = min(max((mag >> 7).bit_length() - 1, 0), 7)
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_wav(seconds, rate=8000):
    """A G.711 mu-law WAV (format 7, as Asterisk's wav49-less 'wav' of
    mu-law trunks), the same square wave: browsers do not all play it."""
    n = int(seconds * rate)
    pcm = wav(seconds, rate)[44:]
    data = bytes(ulaw(v) for (v,) in struct.iter_unpack("<h", pcm))
    fmt = struct.pack("<HHIIHH", 7, 1, rate, rate, 1, 8) + struct.pack("<H", 0)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"fact" + struct.pack("<II", 4, n) + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


class Listen:
    def __init__(self, tmp, plugdir, extra="", expires="7d", rec=None, pipeline_extra=""):
        self.tmp = tmp
        self.port = free_port()
        self.rec = rec or tmp / "rec"
        self.rec.mkdir(exist_ok=True)
        self.key = tmp / "link.key"
        self.spool = tmp / "spool"
        self.ini = write(tmp / "pipeline.ini", f"""[pipeline]
plugin_dir = {plugdir}
timeout = 5m
notify_grace = 0s
{pipeline_extra}

[serve]
listen = 127.0.0.1:{self.port}
public_url = http://127.0.0.1:{self.port}/
link_key_file = {self.key}
link_expires = {expires}
{extra}

[locate]
plugin = locate-file
dir = {self.rec}
pattern = {{initial_contact_id}}.wav
wait = 1m
settle = 0s

[transcribe]
plugin = test-flaky-transcribe
text = {TRANSCRIPT.replace(chr(10), chr(92) + 'n')}

[notify]
plugin = notify-file
dir = {tmp}/out
""")
        self.srv = None

    def start(self):
        self.srv = Serve(self.ini, self.spool).ready()
        return self

    def stop(self):
        return self.srv.stop() if self.srv else 0

    def voicemail(self, cid, seconds=2.0, data=None):
        """Record, enqueue, wait for the mail; the mail (email.message)."""
        (self.rec / f"{cid}.wav").write_bytes(data if data is not None else wav(seconds))
        ev = write(self.tmp / f"ev-{cid}.json", json.dumps(connect_event(cid)))
        r = run_vmpipe("enqueue", "--spool", self.spool, ev)
        assert r.code == 0, r
        path = self.tmp / "out" / f"{cid}.eml"
        wait_until(f"the mail of {cid}", path.exists)
        with open(path, "rb") as f:
            return email.message_from_binary_file(f, policy=email.policy.default)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def secret(self):
        return self.key.read_bytes().rstrip(b"\r\n")

    def sign(self, job_id, expires, what=""):
        """A job link as link.h specifies it, made here independently."""
        def n(s):
            b = s.encode()
            return str(len(b)).encode() + b":" + b + b","
        msg = n("vmpipe-listen-v2") + n(job_id) + n(str(expires))
        sig = base64.urlsafe_b64encode(hmac.new(self.secret(), msg, hashlib.sha256).digest())
        sig = sig.rstrip(b"=").decode()
        return self.url(f"/l/{what}?v=2&job={job_id}&expires={expires}&sig={sig}")


def link_in(msg):
    """The listen link of a mail's text part (and the same in the HTML part)."""
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    links = re.findall(r"http://127\.0\.0\.1:\d+/l/\?\S+", text)
    assert len(links) == 1, text
    assert f'href="{links[0].replace("&", "&amp;")}"' in html
    return links[0]


def fetch(url, method="GET", headers=None):
    """(status, headers, body) without raising on 4xx/5xx."""
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def files_in(d):
    return sorted(glob.glob(os.path.join(str(d), "*")))
