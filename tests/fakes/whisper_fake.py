"""A strict fake of OpenAI's speech-to-text endpoint for vmpipe's tests.

    with WhisperFake(api_key="sk-test") as fake:
        fake.text = "what the server heard"      # nothing is recognised
        url = fake.url                            # http://127.0.0.1:PORT
        ...
        fake.received    # [Upload, ...]: every request that passed validation
        fake.log         # every request: path, status, fault, problem

It serves POST /v1/audio/transcriptions (or `path`) on 127.0.0.1 with
http.server, and validates every request as OpenAI's API reference states
(https://platform.openai.com/docs/api-reference/audio/createTranscription):

  * multipart/form-data with a boundary and a Content-Length, parsed with
    Python's email parser; every part a form-data part with a name, each
    name once, none unknown (the API's own fields only);
  * `file` (required): a file name whose extension is one of the supported
    formats, a Content-Type, at most `max_bytes` (413 as OpenAI answers it);
    a .wav file must be a well-formed PCM WAV: RIFF size = file size - 8,
    a data chunk holding exactly its frames (read with Python's wave module);
  * `model` (required; one of `models` when given, else 404 model_not_found),
    `language` (ISO-639-1: two lower-case letters), `prompt`,
    `response_format` (json, text, srt, verbose_json, vtt), `temperature`
    (a number from 0 to 1);
  * `Authorization: Bearer <api_key>` when api_key is set (401
    invalid_api_key otherwise), and no Authorization header at all when not.

It answers as the server `style` does ("openai": language as Whisper's name,
duration a number, segments in seconds; "whispercpp": the same plus
detected_language, errors as {"error": "..."}; "vllm": duration a string,
language a code; "localai": segment times in nanoseconds, no duration or
language), with the segments it makes from `text` (one per sentence, spread
evenly over the audio's duration when it can read it, else `duration`).
`report_model` adds a "model" field to the answer.

Faults, one per request in order (then normal answers): fake.plan =
["429", "429:7" (Retry-After: 7), "429:date:120" (Retry-After as an HTTP-date
120 s ahead), "429:ms:2500" (retry-after-ms), "429:quota" (insufficient_quota),
"500", "502", "503", "503:7" (Retry-After: 7), "503:date:120", "reset" (TCP RST after reading the request), "400",
"401", "404", "413", "308" (a redirect), "slow:SECONDS", "garbage" (200 with
an HTML page)].
"""
import email.parser
import email.policy
import email.utils
import io
import json
import re
import socket
import ssl
import struct
import threading
import time
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FORMATS = {"flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm"}
FIELDS = {"file", "model", "language", "prompt", "response_format", "temperature",
          "timestamp_granularities[]", "chunking_strategy", "include[]", "stream"}
RESPONSE_FORMATS = {"json", "text", "srt", "verbose_json", "vtt"}
NAMES = {"en": "english", "es": "spanish", "fr": "french", "de": "german"}


class Upload:
    """One accepted request: the form's fields and the audio file."""

    def __init__(self, fields, filename, content_type, audio, auth, headers):
        self.fields = fields          # name -> str, for every text field
        self.filename = filename
        self.content_type = content_type
        self.audio = audio            # bytes, exactly as received
        self.auth = auth              # the Authorization header or None
        self.headers = headers
        self.wav = None               # (channels, rate, bits, frames) when a WAV

    def samples(self):
        """The WAV's samples as a list of ints (16-bit PCM only)."""
        with wave.open(io.BytesIO(self.audio)) as w:
            raw = w.readframes(w.getnframes())
        return list(struct.unpack(f"<{len(raw) // 2}h", raw))

    def __repr__(self):
        return f"<Upload {self.filename} {len(self.audio)} bytes {self.fields}>"


class Bad(Exception):
    def __init__(self, status, message, code=None, param=None, etype="invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.etype = (
            status, message, code, param, etype)


def check_wav(data):
    """(channels, rate, bits, frames) of a well-formed PCM WAV, else Bad."""
    bad = Bad(400, "Audio file might be corrupted or unsupported", "invalid_value", "file")
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise bad
    if struct.unpack_from("<I", data, 4)[0] != len(data) - 8:
        raise bad
    try:
        with wave.open(io.BytesIO(data)) as w:
            ch, width, rate, frames = (w.getnchannels(), w.getsampwidth(), w.getframerate(),
                                       w.getnframes())
            raw = w.readframes(frames)
    except (wave.Error, EOFError, struct.error):
        raise bad
    if len(raw) != frames * ch * width or not 1000 <= rate <= 384000:
        raise bad
    # The data chunk ends the file (or is followed by whole chunks).
    pos = data.find(b"data", 12)
    size = struct.unpack_from("<I", data, pos + 4)[0]
    if size != frames * ch * width or pos + 8 + size > len(data):
        raise bad
    return ch, rate, width * 8, frames


def sentences(text):
    parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+", text.strip()) if p.strip()]
    return parts or []


class WhisperFake:
    def __init__(self, api_key=None, path="/v1/audio/transcriptions", style="openai",
                 models=None, max_bytes=25 * 1024 * 1024, tls=None):
        self.api_key = api_key
        self.path = path
        self.style = style
        self.models = models
        self.max_bytes = max_bytes
        self.tls = tls                  # (certfile, keyfile) to serve https
        self.text = "Hello, this is a test message."
        self.language = None            # reported when no language was asked: a code
        self.duration = 5.0             # seconds, when the audio is not a WAV
        self.report_model = None
        self.plan = []
        self.received = []
        self.log = []
        self.answers = []               # every 2xx body sent, parsed
        self.lock = threading.Lock()
        self.server = None

    # ------------------------------------------------------------ life cycle
    def start(self):
        fake = self

        class Handler(_Handler):
            pass
        Handler.fake = fake
        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        scheme = "https" if self.tls else "http"
        host = "localhost" if self.tls else "127.0.0.1"
        return f"{scheme}://{host}:{self.server.server_address[1]}"

    def next_fault(self):
        with self.lock:
            return self.plan.pop(0) if self.plan else None

    # ------------------------------------------------------------ errors
    def error(self, status, message, code=None, param=None, etype="invalid_request_error",
              headers=None):
        if self.style == "whispercpp":
            body = {"error": message}
        else:
            body = {"error": {"message": message, "type": etype, "param": param, "code": code}}
        return status, json.dumps(body).encode(), dict(headers or {}, **{
            "Content-Type": "application/json"})

    def fault_reply(self, fault):
        if fault.startswith("429"):
            rest = fault[4:]
            h = {}
            code, msg = "rate_limit_exceeded", "Rate limit reached for requests"
            if rest == "quota":
                code = "insufficient_quota"
                msg = ("You exceeded your current quota, please check your plan and billing "
                       "details.")
            elif rest.startswith("date:"):
                h["Retry-After"] = email.utils.formatdate(time.time() + float(rest[5:]),
                                                          usegmt=True)
            elif rest.startswith("ms:"):
                h["retry-after-ms"] = rest[3:]
            elif rest:
                h["Retry-After"] = rest
            return self.error(429, msg, code, None, "requests", h)
        status, _, after = fault.partition(":")
        status = int(status)
        if status == 503 and after:                  # "503:7", "503:date:120"
            h = {"Retry-After": email.utils.formatdate(time.time() + float(after[5:]),
                                                       usegmt=True)
                 if after.startswith("date:") else after}
            return self.error(503, "The engine is currently overloaded, please try again "
                              "later.", None, None, "server_error", h)
        if 300 <= status < 400:
            return status, b"", {"Location": f"{self.url}/elsewhere{self.path}"}
        messages = {
            400: ("Invalid file format.", "invalid_value", "file"),
            401: ("Incorrect API key provided: sk-***. You can find your API key at "
                  "https://platform.openai.com/account/api-keys.", "invalid_api_key", None),
            404: ("The model `whisper-9` does not exist or you do not have access to it.",
                  "model_not_found", None),
            413: (f"Maximum content size limit ({self.max_bytes}) exceeded", None, None),
        }
        msg, code, param = messages.get(status, ("The server had an error while processing "
                                                 "your request. Sorry about that!", None, None))
        return self.error(status, msg, code, param,
                          "server_error" if status >= 500 or status == 413
                          else "invalid_request_error")

    # ------------------------------------------------------------ validation
    def parse(self, headers, body):
        ctype = headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data") or "boundary=" not in ctype:
            raise Bad(400, "Invalid Content-Type header ({}), expected multipart/form-data"
                      .format(ctype))
        head = f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        if not msg.is_multipart() or msg.defects:
            raise Bad(400, f"Could not parse multipart form: {msg.defects}")
        fields, file = {}, None
        for part in msg.iter_parts():
            if part.get_content_disposition() != "form-data":
                raise Bad(400, "Every part must be Content-Disposition: form-data")
            name = part.get_param("name", header="content-disposition")
            if not name:
                raise Bad(400, "A form part has no name")
            if name in fields or (name == "file" and file):
                raise Bad(400, f"Duplicate form field: {name}")
            if name not in FIELDS:
                raise Bad(400, f"Unrecognized request argument supplied: {name}")
            data = part.get_payload(decode=True)
            if name == "file":
                file = (part.get_filename(), part.get_content_type()
                        if part.get("Content-Type") else None, data)
                continue
            if part.get_filename() is not None:
                raise Bad(400, f"{name} must be a text field, not a file")
            try:
                fields[name] = data.decode("utf-8")
            except UnicodeDecodeError:
                raise Bad(400, f"{name} is not valid UTF-8")
        return fields, file

    def validate(self, fields, file):
        if file is None:
            raise Bad(400, "1 validation error for Request\nbody -> file\n  field required",
                      param="file")
        filename, ctype, audio = file
        if not filename or "." not in filename:
            raise Bad(400, "Unrecognized file format: the file has no name", param="file")
        ext = filename.rsplit(".", 1)[1].lower()
        if ext not in FORMATS:
            raise Bad(400, f"Invalid file format. Supported formats: {sorted(FORMATS)}",
                      "invalid_value", "file")
        if not ctype:
            raise Bad(400, "The file part has no Content-Type", param="file")
        if len(audio) > self.max_bytes:
            raise Bad(413, f"Maximum content size limit ({self.max_bytes}) exceeded "
                      f"({len(audio)} bytes read)", etype="server_error")
        model = fields.get("model")
        if not model:
            raise Bad(400, "you must provide a model parameter", param="model")
        if self.models is not None and model not in self.models:
            raise Bad(404, f"The model `{model}` does not exist or you do not have access to it.",
                      "model_not_found")
        lang = fields.get("language")
        if lang is not None and not re.fullmatch(r"[a-z]{2}", lang):
            raise Bad(400, f"Invalid language '{lang}'. Language parameter must be specified in "
                      "ISO-639-1 format.", "invalid_language_format", "language")
        fmt = fields.get("response_format", "json")
        if fmt not in RESPONSE_FORMATS:
            raise Bad(400, f"'{fmt}' is not one of {sorted(RESPONSE_FORMATS)} - "
                      "'response_format'", param="response_format")
        if "temperature" in fields:
            try:
                t = float(fields["temperature"])
            except ValueError:
                t = -1
            if not 0 <= t <= 1:
                raise Bad(400, "temperature must be a number from 0 to 1", param="temperature")
        return check_wav(audio) if ext == "wav" else None

    def check_auth(self, auth):
        if self.api_key is None:
            if auth is not None:
                raise Bad(400, "the fake expects no Authorization header")
            return
        if not auth:
            raise Bad(401, "You didn't provide an API key. You need to provide your API key in "
                      "an Authorization header using Bearer auth (i.e. Authorization: Bearer "
                      "YOUR_KEY).", etype="invalid_request_error")
        if auth != f"Bearer {self.api_key}":
            raise Bad(401, "Incorrect API key provided: sk-***.", "invalid_api_key")

    # ------------------------------------------------------------ answers
    def answer(self, up):
        fmt = up.fields.get("response_format", "json")
        text = self.text
        dur = up.wav[3] / up.wav[1] if up.wav else self.duration
        lang = up.fields.get("language") or self.language or "en"
        if fmt == "text":
            return 200, text.encode(), {"Content-Type": "text/plain; charset=utf-8"}
        if fmt != "verbose_json":
            doc = {"text": text}
        else:
            parts = sentences(text)
            segs, t0 = [], 0.0
            step = (dur * 0.9) / max(len(parts), 1)
            for i, s in enumerate(parts):
                seg = {"id": i, "seek": 0, "start": round(t0, 2), "end": round(t0 + step, 2),
                       "text": " " + s, "tokens": [50364 + i], "temperature": 0.0,
                       "avg_logprob": -0.25, "compression_ratio": 1.1, "no_speech_prob": 0.01}
                segs.append(seg)
                t0 += step
            doc = {"task": "transcribe", "language": NAMES.get(lang, lang),
                   "duration": round(dur, 2), "text": " " + text if text else "",
                   "segments": segs}
            if self.style == "whispercpp":
                doc["detected_language"] = doc["language"]
            elif self.style == "vllm":
                doc["language"] = lang
                doc["duration"] = str(round(dur, 2))
            elif self.style == "localai":
                doc = {"segments": [dict(s, start=int(s["start"] * 1e9), end=int(s["end"] * 1e9))
                                    for s in segs], "text": text}
        if self.report_model:
            doc["model"] = self.report_model
        with self.lock:
            self.answers.append(doc)
        return 200, json.dumps(doc).encode(), {"Content-Type": "application/json"}

    def handle(self, method, path, headers, body, entry):
        if method != "POST":
            return self.error(405, f"Invalid method for URL ({method} {path})")
        if path != self.path:
            return self.error(404, f"Invalid URL ({method} {path})")
        if headers.get("Transfer-Encoding"):
            raise Bad(411, "a Content-Length is required")
        auth = headers.get("Authorization")
        self.check_auth(auth)
        fields, file = self.parse(headers, body)
        wav = self.validate(fields, file)
        up = Upload(fields, file[0], file[1], file[2], auth, dict(headers))
        up.wav = wav
        with self.lock:
            self.received.append(up)
        return self.answer(up)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that gave up on a slow answer (the timeout test)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake = None

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, status, body, headers):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _any(self):
        fake = self.fake
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        path = self.path.split("?", 1)[0]
        entry = {"method": self.command, "path": self.path, "time": time.time(),
                 "bytes": len(body), "expect": self.headers.get("Expect")}
        with fake.lock:
            fake.log.append(entry)
        fault = fake.next_fault()
        entry["fault"] = fault
        if fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if fault == "garbage":
            entry["status"] = 200
            return self.send(200, b"<html><body>It works!</body></html>",
                             {"Content-Type": "text/html"})
        if fault and fault.startswith("slow:"):
            time.sleep(float(fault[5:]))
            fault = None
        try:
            if fault:
                reply = fake.fault_reply(fault)
            else:
                reply = fake.handle(self.command, path, self.headers, body, entry)
        except Bad as e:
            entry["problem"] = e.message
            reply = fake.error(e.status, e.message, e.code, e.param, e.etype)
        entry["status"] = reply[0]
        self.send(*reply)

    do_GET = do_PUT = do_POST = do_DELETE = _any
