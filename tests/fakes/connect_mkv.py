"""Matroska streams laid out as Amazon Connect's media streaming writes them
to Kinesis Video Streams and as GetMedia returns them (plugins/locate-kvs/
kvs_audio.h), for the GetMedia fake, the locate-kvs tests and the fuzz seeds.

What each fragment is, in order (a real GetMedia capture of a Connect stream
as ebmlite prints it, and the parser library's captures in
aws/amazon-kinesis-video-streams-parser-library src/test/resources/*.mkv for
the GetMedia parts):

  EBML header (EBMLVersion 1, ReadVersion 1, MaxIDLength 4, MaxSizeLength 8,
    DocType "matroska", DocTypeVersion 2, DocTypeReadVersion 2)
  Segment, unknown size
    Info: SegmentUID, TimecodeScale 1000000, Title "Kinesis Video SDK",
      MuxingApp/WritingApp "Kinesis Video SDK 1.1.0 JNI 2.0"
    Tracks: TrackEntry (TrackNumber 1, TrackUID 1, TrackType 2, Name
      AUDIO_FROM_CUSTOMER, CodecID A_AAC, CodecPrivate) and the same for 2,
      AUDIO_TO_CUSTOMER; no Audio element
    Tags: AWS_KINESISVIDEO_FRAGMENT_NUMBER, _SERVER_TIMESTAMP, _PRODUCER_TIMESTAMP
    Cluster, unknown size: Timecode (ms since the epoch), Position 0,
      SimpleBlocks of both tracks in turn (16-bit LE PCM at 8 kHz)
  Tags ContactId, Tags InstanceId, Tags MimeType "audio/L16;rate=8000;channels=1;",
  Tags AUDIO_FROM_CUSTOMER "1", Tags AUDIO_TO_CUSTOMER "2", Tags Events "[]",
  Tags AWS_KINESISVIDEO_MILLIS_BEHIND_NOW + AWS_KINESISVIDEO_CONTINUATION_TOKEN

Deterministic: the same arguments give the same bytes.
"""
import struct

RATE = 8000
FRAGMENT_S = 1.0            # Connect's fragments are about a second
BLOCK_SAMPLES = 500         # 62.5 ms per SimpleBlock and track
INSTANCE_ID = "abcdef01-2345-6789-abcd-ef0123456789"
FIRST_FRAGMENT = 91343852333181432392682062607743920146264440559


def vint_size(n, unknown=False):
    if unknown:
        return b"\x01\xff\xff\xff\xff\xff\xff\xff"
    for length in range(1, 9):
        if n < (1 << (7 * length)) - 1:
            return (n | (1 << (7 * length))).to_bytes(length, "big")
    raise ValueError(n)


def el(eid, body=b"", unknown=False):
    return eid.to_bytes((eid.bit_length() + 7) // 8, "big") + vint_size(len(body), unknown) + body


def uint(eid, v, width=None):
    width = width or max(1, (v.bit_length() + 7) // 8)
    return el(eid, v.to_bytes(width, "big"))


def string(eid, s):
    return el(eid, s.encode())


def simple_tag(name, value):
    return el(0x67C8, string(0x45A3, name) + string(0x4487, value))


def tags(*pairs):
    return el(0x1254C367, el(0x7373, b"".join(simple_tag(n, v) for n, v in pairs)))


EBML_HEADER = el(0x1A45DFA3, uint(0x4286, 1) + uint(0x42F7, 1) + uint(0x42F2, 4) + uint(0x42F3, 8) +
                 string(0x4282, "matroska") + uint(0x4287, 2) + uint(0x4285, 2))
# AudioSpecificConfig of AAC-LC 8 kHz mono: what Connect puts in CodecPrivate
# beside its A_AAC label (the payload is PCM all the same).
CODEC_PRIVATE = bytes([0x15, 0x88])


def track_entry(number, name):
    return el(0xAE, uint(0xD7, number) + uint(0x73C5, number) + uint(0x83, 2) + string(0x536E, name) +
              string(0x86, "A_AAC") + el(0x63A2, CODEC_PRIVATE))


def info(uid):
    return el(0x1549A966, el(0x73A4, uid) + uint(0x2AD7B1, 1000000) + string(0x7BA9, "Kinesis Video SDK") +
              string(0x4D80, "Kinesis Video SDK 1.1.0 JNI 2.0") + string(0x5741, "Kinesis Video SDK 1.1.0 JNI 2.0"))


def simple_block(track, rel_ms, payload, flags=0x80):
    return el(0xA3, bytes([0x80 | track]) + struct.pack(">hB", rel_ms, flags) + payload)


def fragment(number, contact_id, start_ms, caller, agent, millis_behind=0, tracks=True, contact_tag=True,
             mime="audio/L16;rate=8000;channels=1;"):
    """One fragment: `caller` and `agent` are its PCM bytes (16-bit LE)."""
    uid = (number % (1 << 128)).to_bytes(16, "big")
    head = EBML_HEADER
    seg = info(uid)
    if tracks:
        seg += el(0x1654AE6B, track_entry(1, "AUDIO_FROM_CUSTOMER") + track_entry(2, "AUDIO_TO_CUSTOMER"))
    seg += tags(("AWS_KINESISVIDEO_FRAGMENT_NUMBER", str(number)),
                ("AWS_KINESISVIDEO_SERVER_TIMESTAMP", "%.3f" % (start_ms / 1000 + 0.2)),
                ("AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", "%.3f" % (start_ms / 1000)))
    cluster = uint(0xE7, start_ms) + uint(0xA7, 0)
    step = BLOCK_SAMPLES * 2
    for i in range(0, max(len(caller), len(agent)), step):
        rel = i // 2 * 1000 // RATE
        if i < len(caller):
            cluster += simple_block(1, rel, caller[i:i + step])
        if i < len(agent):
            cluster += simple_block(2, rel, agent[i:i + step])
    seg += el(0x1F43B675, cluster, unknown=True)
    after = b""
    if contact_tag:
        after += tags(("ContactId", contact_id))
    after += tags(("InstanceId", INSTANCE_ID)) + tags(("MimeType", mime))
    after += tags(("AUDIO_FROM_CUSTOMER", "1")) + tags(("AUDIO_TO_CUSTOMER", "2")) + tags(("Events", "[]"))
    after += tags(("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", str(millis_behind)),
                  ("AWS_KINESISVIDEO_CONTINUATION_TOKEN", str(number)))
    # Tags after the Cluster end it (they cannot be its children) and belong to the Segment.
    return head + el(0x18538067, seg + after, unknown=True)


def contact(contact_id, caller, agent, first_number, start_ms, **kw):
    """A contact's fragments: [(number, bytes)], FRAGMENT_S of audio each."""
    per = int(RATE * FRAGMENT_S) * 2
    out = []
    n = max(len(caller), len(agent))
    for k, i in enumerate(range(0, max(n, 1), per)):
        number = first_number + k * 7919
        out.append((number, fragment(number, contact_id, start_ms + k * int(FRAGMENT_S * 1000),
                                     caller[i:i + per], agent[i:i + per], **kw)))
    return out


def tone_pcm(seconds, freq, amp=8000):
    """Deterministic integer tone (no floats in the bytes: a table of one period)."""
    import math
    period = [int(round(amp * math.sin(2 * math.pi * freq * i / RATE))) for i in range(RATE)]
    return b"".join(struct.pack("<h", period[i % RATE]) for i in range(int(seconds * RATE)))
