#!/usr/bin/python3
"""Write the committed seed corpora of the fuzz targets (tests/fuzz/corpus/NAME/).

    /usr/bin/python3 tests/fuzz/make_seeds.py [NAME ...]

Small, real-looking inputs in each target's input format (see the comment at
the top of tests/fuzz/fuzz_NAME.c): the shapes the real peers send (Amazon
Connect, PBX recorders, S3, STS, Amazon Transcribe, the mail's job record)
and the awkward corners each parser was written for.  Deterministic: running
it again rewrites the same bytes.  The event, config and drop seeds are kept
by hand and are not touched; of the pbxmail seeds, only pbxsrc-*.eml are
written here.
"""
import json
import math
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# Inputs a fuzzer found (each with its fix): they stay when a corpus is
# written again, so the smoke keeps replaying them.
FOUND = {
    "awsxml": {"s3-nested-code"},
    "mail": {"bcc-text-across-a-c1-control", "bcc-text-across-a-control-character", "bcc-text-in-caller"},
}


def clear(target):
    d = os.path.join(HERE, "corpus", target)
    if os.path.isdir(d):
        for n in os.listdir(d):
            if n not in FOUND.get(target, ()):
                os.remove(os.path.join(d, n))


# ------------------------------------------------------------------ wav

def tone(n, rate, freq=440.0, amp=0.5):
    """n samples of a sine in [-1, 1], rounded so every run is identical."""
    return [round(amp * math.sin(2 * math.pi * freq * i / rate), 6) for i in range(n)]


def ulaw(x):
    v = max(-32635, min(32635, int(x * 32767)))
    sign = 0x80 if v < 0 else 0
    v = abs(v) + 0x84
    exp = 7
    while exp > 0 and not v & (0x4000 >> (7 - exp)):
        exp -= 1
    mant = (v >> (exp + 3)) & 0x0F
    return ~(sign | exp << 4 | mant) & 0xFF


def alaw(x):
    v = max(-32767, min(32767, int(x * 32767))) >> 3
    sign = 0x80 if v >= 0 else 0
    v = v if v >= 0 else -v - 1
    seg = 0
    while seg < 7 and v >= (32 << seg):
        seg += 1
    mant = (v >> (seg if seg else 1)) & 0x0F
    return (sign | seg << 4 | mant) ^ 0x55


def pcm(samples, bits, fmt):
    out = bytearray()
    for x in samples:
        if fmt == 3:
            out += struct.pack("<f", x)
        elif fmt == 6:
            out.append(alaw(x))
        elif fmt == 7:
            out.append(ulaw(x))
        elif bits == 8:
            out.append(int(round(x * 127)) + 128)
        elif bits == 16:
            out += struct.pack("<h", int(round(x * 32767)))
        elif bits == 24:
            out += struct.pack("<i", int(round(x * 8388607)))[:3]
        else:
            out += struct.pack("<i", int(round(x * 2147483647)))
    return bytes(out)


def fmt_chunk(fmt, channels, rate, bits, extensible=False):
    block = channels * bits // 8
    body = struct.pack("<HHIIHH", 0xFFFE if extensible else fmt, channels, rate, rate * block,
                       block, bits)
    if extensible:
        guid = struct.pack("<H", fmt) + bytes([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00,
                                               0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71])
        body += struct.pack("<HHI", 22, bits, (1 << channels) - 1) + guid
    return b"fmt " + struct.pack("<I", len(body)) + body


def chunk(cid, body):
    return cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def riff(*chunks, size=None):
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body) if size is None else size) + body


def wav(fmt, channels, rate, bits, frames=120, extensible=False, extra=(), data_size=None):
    samples = []
    for i, x in enumerate(tone(frames, rate)):
        samples += [x if c == 0 else -x / 2 for c in range(channels)]
    audio = pcm(samples, bits, fmt)
    data = b"data" + struct.pack("<I", len(audio) if data_size is None else data_size) + audio
    return riff(fmt_chunk(fmt, channels, rate, bits, extensible), *extra, data)


def wav_files():
    """Name -> (fuzz_wav's rate pick, the file).  The first byte picks the rate
    the caller asks for (fuzz_wav.c): 0 is vm_wav_decode() at 16 kHz, 1 the
    file's own rate, 2 8 kHz, 6 44.1 kHz."""
    return {
        "connect-pcm16-8k.wav": (0, wav(1, 1, 8000, 16)),
        "asterisk-ulaw-8k.wav": (0, wav(7, 1, 8000, 8)),
        "alaw-8k.wav": (2, wav(6, 1, 8000, 8)),
        "pcm8-unsigned-11k.wav": (1, wav(1, 1, 11025, 8)),
        "stereo-pcm24-48k.wav": (0, wav(1, 2, 48000, 24, frames=200)),
        "float32-44k.wav": (6, wav(3, 1, 44100, 32, frames=150)),
        "pcm32-16k-keep.wav": (1, wav(1, 1, 16000, 32)),
        "extensible-pcm16-stereo.wav": (0, wav(1, 2, 16000, 16, extensible=True)),
        "six-channels-22k.wav": (0, wav(1, 6, 22050, 16, frames=40)),
        # A LIST chunk of odd length (padded) before the audio, as recorders write.
        "list-chunk-before-data.wav": (0, wav(1, 1, 8000, 16, extra=[chunk(b"LIST", b"INFOISFT\x05\0\0\0sox\0\0")])),
        # Streaming writers leave the data size at 0xFFFFFFFF.
        "streaming-size.wav": (0, wav(1, 1, 8000, 16, data_size=0xFFFFFFFF)),
        # Cut short: the header promises more than is there.
        "truncated.wav": (0, wav(1, 1, 8000, 16, data_size=4000)),
        "odd-data-bytes.wav": (0, wav(1, 1, 8000, 16)[:-1]),
        # Refusals: MP3 with a .wav name, RF64, ADPCM, data before fmt.
        "id3-mp3.wav": (0, b"ID3\x04\0\0\0\0\0\x21" + b"\xff\xfb\x90\x64" + b"\0" * 60),
        "rf64.wav": (0, b"RF64" + wav(1, 1, 8000, 16)[4:]),
        "ima-adpcm.wav": (0, riff(b"fmt " + struct.pack("<IHHIIHHHH", 20, 0x11, 1, 8000, 4055, 256, 4, 2, 505),
                                  chunk(b"data", b"\0" * 256))),
        "data-before-fmt.wav": (0, riff(chunk(b"data", b"\0" * 32), fmt_chunk(1, 1, 8000, 16))),
    }


def wav_seeds():
    clear("wav")
    for name, (pick, data) in wav_files().items():
        write("wav", name, bytes([pick]) + data)


def wavchan_seeds():
    # fuzz_wavchan.c: a rate pick (0 16 kHz, 1 the file's, 2 8 kHz), a channel
    # pick (0 the mixdown, 1 the left channel, 2 the right, 3 the third), the file.
    files = wav_files()
    picks = {
        # Amazon Connect: stereo, the caller on the left, at the file's rate and at 16 kHz.
        "connect-stereo-left-keep.wav": (1, 1, wav(1, 2, 8000, 16)),
        "connect-stereo-right-16k.wav": (0, 2, wav(1, 2, 8000, 16)),
        "stereo-ulaw-left.wav": (2, 1, wav(7, 2, 8000, 8)),
        "stereo-pcm24-48k-right.wav": (0, 2, files["stereo-pcm24-48k.wav"][1]),
        "six-channels-third.wav": (1, 3, files["six-channels-22k.wav"][1]),
        "extensible-stereo-mixdown.wav": (0, 0, files["extensible-pcm16-stereo.wav"][1]),
        # A channel the file does not have, and a mono file whatever is asked.
        "stereo-channel-5.wav": (1, 5, wav(1, 2, 8000, 16, frames=40)),
        "mono-channel-2.wav": (0, 2, files["connect-pcm16-8k.wav"][1]),
        "stereo-truncated.wav": (0, 1, wav(1, 2, 8000, 16, data_size=4000)),
        "stereo-streaming-size.wav": (1, 2, wav(1, 2, 8000, 16, data_size=0xFFFFFFFF)),
        "rf64-left.wav": (0, 1, files["rf64.wav"][1]),
    }
    clear("wavchan")
    for name, (rate, ch, data) in picks.items():
        write("wavchan", name, bytes([rate, ch]) + data)


def wavprobe_seeds():
    # fuzz_wavprobe.c: how many bytes the probe is shown (16-bit little-endian),
    # then the file: all of it, or a head as locate-file reads one.
    clear("wavprobe")
    for name, (_, data) in wav_files().items():
        write("wavprobe", name, struct.pack("<H", min(len(data), 0xFFFF)) + data)
    head = wav(1, 2, 8000, 16, frames=400)
    write("wavprobe", "head-44-of-stereo.wav", struct.pack("<H", 44) + head)
    write("wavprobe", "head-30-cut-in-fmt.wav", struct.pack("<H", 30) + head)
    listed = wav(1, 1, 8000, 16, extra=[chunk(b"LIST", b"INFOISFT\x05\0\0\0sox\0\0")])
    write("wavprobe", "head-in-list-chunk.wav", struct.pack("<H", 50) + listed)


# -------------------------------------------------------------- template

# enum mail_var order (engine/mail/vars.h).
VARS = ["id", "caller", "dialed", "recipient_name", "recipient_email", "contact_id", "tenant",
        "duration", "duration_seconds", "transcript", "transcript_preview", "transcript_status",
        "no_speech", "transcript_unavailable", "recording_missing", "language", "url",
        "url_expires_at", "received_at", "date"]

JOB_VALUES = {
    "id": "5b1c2f4e-7a39-4a8e-9d61-0c6f1b2a3d4e",
    "caller": "+14155550123",
    "dialed": "+18005550199",
    "recipient_name": "Jane Doe",
    "recipient_email": "jane.doe@example.com",
    "contact_id": "5b1c2f4e-7a39-4a8e-9d61-0c6f1b2a3d4e",
    "tenant": "acme",
    "duration": "42s",
    "duration_seconds": "42",
    "transcript": "Hi Jane, this is Bob from accounts.\nPlease call me back about invoice 4411.",
    "transcript_preview": "Hi Jane, this is Bob from accounts. Please call me back",
    "transcript_status": "completed",
    "language": "en-US",
    "url": "https://rec-bucket.s3.eu-west-1.amazonaws.com/ivr/2024/12/11/5b1c.wav?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=604800&X-Amz-Signature=0f3c",
    "url_expires_at": "2024-12-18T15:30:05Z",
    "received_at": "2024-12-11T15:30:05Z",
    "date": "11 December 2024, 15:30 UTC",
}

HOSTILE = {
    "caller": "<script>alert(1)</script>\r\nBcc: victim@example.com",
    "recipient_name": "\"Tom & Jerry's\" <b>",
    "transcript": "</div><img src=x onerror=alert(1)>\r\nline two\ttabbed \u00e9\u202e",
    "url": "javascript:alert('x')\"onmouseover=\"x",
    "tenant": "acme\x00globex",
}


def values(overrides=None):
    v = dict(JOB_VALUES)
    v.update(overrides or {})
    return [v.get(n, "") for n in VARS]


def template_seed(mode, src, vals):
    return bytes([mode]) + b"\0".join([src.encode()] + [x.encode() for x in vals])


def template_seeds():
    clear("template")
    for rel in ["voicemail.txt", "voicemail.html", "acme/voicemail.txt", "acme/voicemail.html",
                "globex/voicemail.txt", "globex/voicemail.html"]:
        with open(os.path.join(ROOT, "etc", "templates", rel), encoding="utf-8") as f:
            src = f.read()
        mode = 1 if rel.endswith(".html") else 0
        name = rel.replace("/", "-")
        write("template", name, template_seed(mode, src, values()))
        write("template", "hostile-" + name, template_seed(mode, src, values(HOSTILE)))
    subject = "Voicemail message from: {{caller}}{{#tenant}} ({{tenant}}){{/tenant}}"
    write("template", "subject", template_seed(2, subject, values()))
    write("template", "subject-injection", template_seed(2, subject, values(HOSTILE)))
    write("template", "subject-transcript", template_seed(2, "{{transcript_preview}}", values(HOSTILE)))
    write("template", "sections", template_seed(0, "{{#url}}\n  Listen: {{url}}\n{{/url}}\n{{^url}}\nNo link.\n{{/url}}\n{{! a comment }}\n", values()))
    write("template", "unknown-variable", template_seed(0, "line one\n{{calller}}\n", values()))
    write("template", "unclosed", template_seed(1, "<p>{{#transcript}}{{transcript}}</p>", values()))
    write("template", "builtin", bytes([3]) + b"\0".join(x.encode() for x in values()))
    write("template", "builtin-hostile", bytes([3]) + b"\0".join(x.encode() for x in values(HOSTILE)))


# ------------------------------------------------------------ transcript

def transcribe_doc(words, channels=False, job="vmpipe-5b1c2f4e"):
    """An Amazon Transcribe result document: words is [(content, start, end) or (punct,)]."""
    def items(ws, offset=0):
        out = []
        for w in ws:
            if len(w) == 1:
                out.append({"type": "punctuation", "alternatives": [{"confidence": "0.0", "content": w[0]}]})
            else:
                out.append({"start_time": "%.2f" % (w[1] + offset), "end_time": "%.2f" % (w[2] + offset),
                            "type": "pronunciation",
                            "alternatives": [{"confidence": "0.998", "content": w[0]}]})
        return out
    text = ""
    for w in words:
        text += w[0] if len(w) == 1 else (" " if text else "") + w[0]
    results = {"transcripts": [{"transcript": text}]}
    if channels:
        half = len(words) // 2
        results["channel_labels"] = {"channels": [
            {"channel_label": "ch_0", "items": items(words[:half])},
            {"channel_label": "ch_1", "items": items(words[half:], 0.05)}],
            "number_of_channels": 2}
        results["items"] = items(words)
    else:
        results["items"] = items(words)
    return json.dumps({"jobName": job, "accountId": "123456789012", "status": "COMPLETED",
                       "results": results}, indent=1, ensure_ascii=False)


def transcript_seeds():
    clear("transcript")
    words = [("Hi", 0.12, 0.31), ("Jane", 0.31, 0.62), (",",), ("this", 0.7, 0.85), ("is", 0.85, 0.97),
             ("Bob", 0.97, 1.3), ("from", 1.3, 1.5), ("accounts", 1.5, 2.1), (".",), ("Please", 2.4, 2.8),
             ("call", 2.8, 3.0), ("me", 3.0, 3.1), ("back", 3.1, 3.5), ("?",)]
    write("transcript", "completed", bytes([255]) + transcribe_doc(words).encode())
    write("transcript", "short-preview", bytes([12]) + transcribe_doc(words).encode())
    write("transcript", "channels", bytes([255]) + transcribe_doc(words, channels=True).encode())
    accents = [("Hola", 0.1, 0.4), ("José", 0.4, 0.9), (",",), ("¿", ), ("me", 1.0, 1.1), ("llamas", 1.1, 1.6), ("?",)]
    write("transcript", "utf8-cut", bytes([5]) + transcribe_doc(accents).encode())
    write("transcript", "silence", bytes([255]) + json.dumps(
        {"jobName": "vmpipe-x", "status": "COMPLETED",
         "results": {"transcripts": [{"transcript": ""}], "items": []}}).encode())
    write("transcript", "no-items", bytes([255]) + json.dumps(
        {"results": {"transcripts": [{"transcript": "Call me back."}]}}).encode())
    write("transcript", "numeric-times", bytes([255]) + json.dumps(
        {"results": {"transcripts": [{"transcript": "yes"}],
                     "items": [{"start_time": 0.5, "end_time": 1e3, "type": "pronunciation",
                                "alternatives": [{"content": "yes"}]}]}}).encode())
    write("transcript", "not-a-transcript", bytes([255]) + b'{"results": {"transcripts": []}}')
    write("transcript", "truncated", bytes([255]) + transcribe_doc(words).encode()[:200])


# ---------------------------------------------------------------- awsxml

def awsxml_seed(proto, status, body, request_id="", error_type=""):
    return bytes([proto, status >> 8, status & 255]) + request_id.encode() + b"\0" + \
        error_type.encode() + b"\0" + body.encode()


def awsxml_seeds():
    clear("awsxml")
    xml = '<?xml version="1.0" encoding="UTF-8"?>\n'
    write("awsxml", "s3-nosuchkey", awsxml_seed(0, 404, xml +
          "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>"
          "<Key>ivr/2024/12/11/5b1c.wav</Key><RequestId>4442587FB7D0A2F9</RequestId>"
          "<HostId>nk0T1Xz2R6aHVmGr0M2y4A==</HostId></Error>"))
    write("awsxml", "s3-slowdown", awsxml_seed(0, 503, xml +
          "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
          request_id="TX234SLOW"))
    write("awsxml", "s3-accessdenied", awsxml_seed(0, 403, xml +
          "<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
          "<RequestId>N5T9ZXQ</RequestId></Error>"))
    write("awsxml", "s3-redirect", awsxml_seed(0, 301, xml +
          "<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access "
          "must be addressed using the specified endpoint.</Message>"
          "<Endpoint>rec-bucket.s3.eu-west-1.amazonaws.com</Endpoint><Bucket>rec-bucket</Bucket></Error>"))
    write("awsxml", "sts-expired", awsxml_seed(1, 400,
          '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n'
          "  <Error>\n    <Type>Sender</Type>\n    <Code>ExpiredTokenException</Code>\n"
          "    <Message>Token expired: current date/time 1733931005 must be before the expiration "
          "date/time 1733927405</Message>\n  </Error>\n"
          "  <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>\n</ErrorResponse>\n"))
    write("awsxml", "sts-assume-role", awsxml_seed(1, 200,
          '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
          "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId>"
          "<SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>"
          "<SessionToken>FwoGZXIvYXdzEXAMPLE</SessionToken><Expiration>2024-12-11T16:30:05Z</Expiration>"
          "</Credentials></AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>ad4156e9</RequestId>"
          "</ResponseMetadata></AssumeRoleWithWebIdentityResponse>"))
    write("awsxml", "xml-entities", awsxml_seed(0, 400, xml +
          '<!DOCTYPE Error [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
          "<Error><Code>&b;</Code></Error>"))
    write("awsxml", "xml-prefixed", awsxml_seed(0, 500,
          '<s3:Error xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/"><s3:Code>InternalError</s3:Code>'
          "<s3:Message>We encountered an internal error. Please try again.</s3:Message></s3:Error>"))
    write("awsxml", "xml-key-named-code", awsxml_seed(0, 404, xml +
          "<ListBucketResult><Contents><Key>&lt;Code&gt;Throttling&lt;/Code&gt;</Key></Contents>"
          "</ListBucketResult>"))
    write("awsxml", "empty-404", awsxml_seed(0, 404, ""))
    write("awsxml", "transcribe-conflict", awsxml_seed(2, 400, json.dumps(
          {"__type": "com.amazonaws.transcribe#ConflictException",
           "Message": "The requested job name already exists. Use a different job name."}),
          request_id="5f4e0c7a-3b1d-4c1e-9a7f-2b8d6e4f1a3c"))
    write("awsxml", "transcribe-throttled", awsxml_seed(2, 400, json.dumps(
          {"__type": "ThrottlingException", "message": "Rate exceeded"})))
    write("awsxml", "sesv2-header", awsxml_seed(3, 400, json.dumps(
          {"message": "Email address is not verified. The following identities failed the check "
                      "in region EU-WEST-1: voicemail@example.com"}),
          error_type="MessageRejected:http://internal.amazon.com/coral/com.amazonaws.sesv2/"))
    write("awsxml", "sesv2-429", awsxml_seed(3, 429, '{"message":"Maximum sending rate exceeded."}',
          error_type="TooManyRequestsException"))


# ---------------------------------------------------------------- s3list

def listing(keys, truncated=False, token=None, prefix="ivr/2024/12/11/5b1c2f4e_"):
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
           "<Name>rec-bucket</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount><MaxKeys>1000</MaxKeys>" % (prefix, len(keys)),
           "<IsTruncated>%s</IsTruncated>" % ("true" if truncated else "false")]
    for k, size in keys:
        out.append("<Contents><Key>%s</Key><LastModified>2024-12-11T15:31:10.000Z</LastModified>"
                   '<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>%d</Size>'
                   "<StorageClass>STANDARD</StorageClass></Contents>" % (k, size))
    if token:
        out.append("<NextContinuationToken>%s</NextContinuationToken>" % token)
    out.append("</ListBucketResult>")
    return "\n".join(out)


def s3list_seeds():
    clear("s3list")
    p = "ivr/2024/12/11/5b1c2f4e-7a39-4a8e-9d61-0c6f1b2a3d4e_"
    write("s3list", "one-recording", listing([(p + "20241211T15:30_UTC.wav", 450924)], prefix=p))
    write("s3list", "two-recordings-and-folder", listing(
        [(p + "/", 0), (p + "20241211T15:29_UTC.wav", 120044), (p + "20241211T15:30_UTC.wav", 450924)], prefix=p))
    write("s3list", "empty", listing([], prefix=p))
    write("s3list", "two-pages", listing([(p + "20241211T15:29_UTC.wav", 1000)], True,
                                         "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=", prefix=p)
          + "\0" + listing([(p + "20241211T15:30_UTC.wav", 2000)], prefix=p))
    write("s3list", "key-with-entities", listing([(p + "a&amp;b &lt;c&gt; &#233;.wav", 10)], prefix=p))
    write("s3list", "nested-contents", "<ListBucketResult><Contents><Contents><Key>deep.wav</Key>"
          "</Contents><Key>shallow.wav</Key></Contents></ListBucketResult>")
    write("s3list", "truncated-without-token", listing([(p + "x.wav", 1)], True, None, prefix=p))
    write("s3list", "malformed", listing([(p + "x.wav", 1)], prefix=p)[:180])


# ------------------------------------------------------------------ link

def link_seed(bucket, key, expires, edits=b""):
    return b"\x01" + bucket.encode() + b"\0" + key.encode() + b"\0" + struct.pack("<Q", expires) + edits


def link_seeds():
    clear("link")
    key = "connect/acme/CallRecordings/ivr/2024/12/11/5b1c2f4e-7a39-4a8e-9d61-0c6f1b2a3d4e_20241211T15:30_UTC.wav"
    write("link", "genuine", link_seed("rec-bucket", key, 1766000000 - 1))
    write("link", "genuine-expired", link_seed("rec-bucket", key, 1733931005 - 1))
    # Edits are (what, where, byte): 4 moves a field boundary, 3 inserts an escape.
    # A key that starts with a newline, and "&key=" moved 3 places right past
    # its "%0A": the boundary between bucket and key moves (issue 10, item 6).
    write("link", "newline-boundary", link_seed("rec-bucket", "\nivr/x.wav", 1766000000 - 1,
                                                bytes([4, 10, 11])))
    write("link", "newline-in-key", link_seed("rec-bucket", "x\ny/z.wav", 1766000000 - 1,
                                              bytes([4, 20, 12, 3, 40, 0x41])))
    write("link", "edited-expiry", link_seed("rec-bucket", key, 1766000000 - 1, bytes([2, 200, 0x39, 0, 150, 0x2B])))
    write("link", "extra-parameter", link_seed("rec-bucket", "a b+c%.wav", 1766000000 - 1,
                                               bytes([5, 3, 0, 7, 10, 0, 6, 30, 0])))
    q = ("bucket=rec-bucket&key=ivr%2F2024%2F12%2F11%2F5b1c.wav&expires=1766000000"
         "&sig=Zm9yZ2VkLXNpZ25hdHVyZS0wMTIzNDU2Nzg5YWJjZGVmZ2hpams")
    write("link", "random-forged", b"\x00" + q.encode())
    write("link", "random-repeated", b"\x00" + (q + "&bucket=other").encode())
    write("link", "random-click-post", b"\x00/P" + q.encode())
    write("link", "random-empty", b"\x00")


# ------------------------------------------------------------------ mail

MAIL_FIELDS = ["contact.caller", "recipient.email", "recipient.name", "transcript.text",
               "transcript.status", "transcript.preview", "recording.url",
               "recording.url_expires_at", "received_at", "id", "tenant", "contact.id",
               "contact.dialed", "transcript.language", "recording.content_type",
               "recording.duration_seconds", "transcript.speech_seconds"]


def mail_seed(flags, fields):
    return bytes([flags]) + b"\0".join(fields.get(f, "").encode() for f in MAIL_FIELDS)


def mail_seeds():
    clear("mail")
    job = {
        "contact.caller": "+14155550123",
        "recipient.email": "jane.doe@example.com",
        "recipient.name": "Jane Doe",
        "transcript.text": "Hi Jane, this is Bob from accounts. Please call me back about invoice 4411.",
        "transcript.status": "completed",
        "recording.url": "https://rec-bucket.s3.eu-west-1.amazonaws.com/ivr/2024/12/11/5b1c.wav?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIA%2F20241211%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Expires=604800&X-Amz-Signature=0f3c",
        "recording.url_expires_at": "2024-12-18T15:30:05Z",
        "received_at": "2024-12-11T15:30:05Z",
        "id": "5b1c2f4e-7a39-4a8e-9d61-0c6f1b2a3d4e",
        "tenant": "acme",
        "contact.id": "5b1c2f4e-7a39-4a8e-9d61-0c6f1b2a3d4e",
        "contact.dialed": "+18005550199",
        "transcript.language": "en-US",
        "recording.content_type": "audio/wav",
        "recording.duration_seconds": "42.5",
    }
    write("mail", "connect-voicemail", mail_seed(0, job))
    write("mail", "attached-with-copies", mail_seed(1 | 2, job))
    write("mail", "attach-smaller-than", mail_seed(1 | 8, job))
    write("mail", "no-recipient-recording-missing", mail_seed(4, dict(job, **{
        "recipient.email": "", "recording.url": "", "transcript.status": "failed", "transcript.text": ""})))
    write("mail", "no-speech", mail_seed(0, dict(job, **{"transcript.text": "  ", "transcript.status": "completed"})))
    write("mail", "unicode-names", mail_seed(2, dict(job, **{
        "contact.caller": "José Ñúñez — Ventas",
        "recipient.name": "Zoë Ångström, Müller & Söhne",
        "recipient.email": "\"Ops, EU\" <ops-eu@example.com>, zoe@example.com",
        "transcript.text": "¿Me llamas? 電話してください。 " * 8})))
    write("mail", "header-injection", mail_seed(2, dict(job, **{
        "contact.caller": "+1555\r\nBcc: victim@evil.example\r\n\r\n<html>",
        "recipient.name": "Jane\r\nX-Evil: 1",
        "transcript.text": "line\rbare CR\nbare LF\r\n.\r\nFrom the start\r\n--=_vmpipe_alt_0000000000000000--",
        "recording.url": "javascript:alert(1)\"><script>x</script>"})))
    long_word = "W" * 1200
    write("mail", "long-fields", mail_seed(0, dict(job, **{
        "contact.caller": "Caller " + long_word, "recipient.name": long_word,
        "transcript.text": ("word " * 400) + long_word})))
    write("mail", "bad-recipient", mail_seed(0, dict(job, **{"recipient.email": "jane.doe@"})))
    write("mail", "hour-long", mail_seed(0, dict(job, **{"recording.duration_seconds": "",
                                                                "transcript.speech_seconds": "3600.4"})))


# ------------------------------------------------------------------ mkv

def mkv_seeds():
    """GetMedia answers of a Connect media stream (tests/fakes/connect_mkv.py:
    Connect's layout), behind fuzz_mkv.c's two option bytes."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
    import connect_mkv as c
    clear("mkv")
    first = c.FIRST_FRAGMENT
    c1 = c.contact("c-1", c.tone_pcm(2.25, 440), c.tone_pcm(2.25, 660), first, 1714558502000)
    c2 = c.contact("c-2", c.tone_pcm(1.25, 300), c.tone_pcm(1.25, 500), first + 3 * 7919, 1714558510000)
    both = b"".join(f for _, f in c1 + c2)
    write("mkv", "two-contacts-caller", bytes([0, 7]) + both)
    write("mkv", "two-contacts-both-stop", bytes([3, 9]) + both)
    write("mkv", "second-contact", bytes([4, 11]) + both)
    write("mkv", "cut-mid-cluster", bytes([0, 13]) + both[:len(c1[0][1]) + 700])
    write("mkv", "no-audio", bytes([0, 15]) + c.fragment(first, "c-1", 1714558502000, b"", b""))
    write("mkv", "no-track-names", bytes([0, 17]) + c.fragment(first, "c-1", 1714558502000, c.tone_pcm(0.5, 440),
                                                              b"", tracks=False))
    write("mkv", "other-mime", bytes([0, 19]) + c.fragment(first, "c-1", 1714558502000, c.tone_pcm(0.25, 440),
                                                          b"", mime="audio/L16;rate=16000;channels=1;"))
    write("mkv", "no-contact-tag", bytes([0, 21]) + c.fragment(first, "c-1", 1714558502000,
                                                              c.tone_pcm(0.25, 440), b"", contact_tag=False))


def pbxmail_seeds():
    """Mails as the PBXs write them (tests/integration/pbxsrc.py follows their
    source); written as pbxsrc-*.eml beside the hand-kept seeds, which stay."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    import pbxsrc
    a = wav(1, 1, 8000, 16, frames=400)
    b = wav(1, 1, 8000, 16, frames=200)
    write("pbxmail", "pbxsrc-asterisk.eml", pbxsrc.asterisk_voicemail(a))
    write("pbxmail", "pbxsrc-asterisk-intro-crlf.eml",
          pbxsrc.asterisk_voicemail(a, fmt="wav", msgnum=3, intro=b, endl=b"\r\n",
                                    forwarded=("Alice <5550001>", "Friday")))
    full = pbxsrc.asterisk_voicemail(a, cidname="J\u00fcrgen", fullname="Zo\u00eb \u00dcnal", arch="aarch64")
    write("pbxmail", "pbxsrc-asterisk-utf8-arm64.eml", full)
    write("pbxmail", "pbxsrc-asterisk-cut.eml", full[:len(full) * 2 // 3])
    write("pbxmail", "pbxsrc-asterisk-pager.eml", pbxsrc.asterisk_pager())
    write("pbxmail", "pbxsrc-freeswitch-stock.eml", pbxsrc.freeswitch_voicemail(a)[0])
    write("pbxmail", "pbxsrc-freeswitch-builtin.eml", pbxsrc.freeswitch_voicemail(a, template=None)[0])
    write("pbxmail", "pbxsrc-freeswitch-notify.eml",
          pbxsrc.freeswitch_voicemail(None, template=pbxsrc.NOTIFY_TPL, notify_email="p@example.org")[0])


TARGETS = {"wav": wav_seeds, "wavchan": wavchan_seeds, "wavprobe": wavprobe_seeds, "pbxmail": pbxmail_seeds, "template": template_seeds, "transcript": transcript_seeds,
           "awsxml": awsxml_seeds, "s3list": s3list_seeds, "link": link_seeds, "mail": mail_seeds,
           "mkv": mkv_seeds}


def main(argv):
    names = argv[1:] or sorted(TARGETS)
    for n in names:
        if n not in TARGETS:
            sys.exit("make_seeds.py: no seeds for '%s' (have: %s)" % (n, " ".join(sorted(TARGETS))))
        TARGETS[n]()


if __name__ == "__main__":
    main(sys.argv)
