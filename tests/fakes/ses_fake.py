"""A strict fake of Amazon SES v2 SendEmail (REST-JSON) for vmpipe's tests.

Built on awsfake.FakeAWS, so every request's SigV4 signature is recomputed
with botocore (signing name "ses", as botocore's sesv2 model says) and faults
can be injected (plan or rate; "throttle" is SES's 429
TooManyRequestsException).  On top of that it checks what the API reference
(botocore's sesv2 2019-09-27 model and the SES developer guide) states:

  POST /v2/email/outbound-emails, JSON body:
    Content (required) with exactly one of Simple / Raw / Template (Simple
      is assembled into a message and then checked like a Raw one; Template
      is not implemented);
    Raw.Data: base64, at most 40 MB as sent (the SES v2 limit counts the
      base64), decoding to a message with a header, a blank line and a body,
      a From header, 7-bit headers and no line over 1,000 characters;
    FromEmailAddress and every recipient a plain address whose local part is
      7-bit ASCII (SES has no SMTPUTF8); From must be a verified identity
      (address or domain), and in sandbox mode so must every recipient;
    recipients from Destination, else from the message's To/Cc/Bcc; at
      least one, at most 50;
    EmailTags: Name and Value each 1-256 of [A-Za-z0-9_-];
    ConfigurationSetName must exist (NotFoundException otherwise);
    unknown members are refused (catches misspelt field names).

Errors come in the documented REST-JSON shape (x-amzn-ErrorType header plus
{"message": …}): MessageRejected, BadRequestException, NotFoundException
(404), TooManyRequestsException (429), LimitExceededException,
SendingPausedException, AccountSuspendedException,
MailFromDomainNotVerifiedException.  Any of those names may appear in a
fault plan ({"plan": ["throttle", "MessageRejected", "ok"]}) or in the
random fault kinds; `max_send_rate` adds SES's per-second sending quota.

Accepted messages are kept in `messages` (and served unsigned at
GET /__fake/messages) with the decoded raw bytes, the envelope and the tags.

Command line: python3 tests/fakes/ses_fake.py --port 0 --creds AK:SK
[--verified example.com] [--sandbox] [--config-set NAME] prints "PORT n".
"""
import base64
import binascii
import email
import email.policy
import json
import os
import re
import sys
import threading
import time
import uuid
from email.utils import getaddresses

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import awsfake  # noqa: E402
from awsfake import Reply  # noqa: E402

SEND_PATH = "/v2/email/outbound-emails"
MAX_B64 = 40 * 1024 * 1024
MAX_RECIPIENTS = 50
MAX_LINE = 1000  # RFC 5321, CRLF included
TAG_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
ADDR_RE = re.compile(r"^[!#$%&'*+/=?^_`{|}~0-9A-Za-z.-]{1,64}@[0-9A-Za-z.-]{1,253}$")
REQUEST_MEMBERS = {"FromEmailAddress", "FromEmailAddressIdentityArn", "Destination",
                   "ReplyToAddresses", "FeedbackForwardingEmailAddress",
                   "FeedbackForwardingEmailAddressIdentityArn", "Content", "EmailTags",
                   "ConfigurationSetName", "ListManagementOptions"}
DEST_MEMBERS = {"ToAddresses", "CcAddresses", "BccAddresses"}
# Documented SendEmail errors: name -> (HTTP status, message the fault answers with).
SES_ERRORS = {
    "MessageRejected": (400, "The message was rejected (injected fault)."),
    "BadRequestException": (400, "The request is invalid (injected fault)."),
    "NotFoundException": (404, "The resource was not found (injected fault)."),
    "TooManyRequestsException": (429, "Too many requests."),
    "LimitExceededException": (400, "Maximum sending rate exceeded."),
    "SendingPausedException": (400, "Sending is paused for this account."),
    "AccountSuspendedException": (400, "The account is suspended from sending."),
    "MailFromDomainNotVerifiedException": (400, "The MAIL FROM domain is not verified."),
}


class Rejected(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def _bad(msg):
    return Rejected("BadRequestException", msg)


class SESFake(awsfake.FakeAWS):
    service = "ses"   # botocore's sesv2 signingName
    protocol = awsfake.REST_JSON

    def __init__(self, creds=None, region="us-east-1", verified=("example.com",),
                 sandbox=False, config_sets=(), max_send_rate=0.0, time_scale=1.0):
        super().__init__(creds, region)
        self.verified = {v.lower() for v in verified}
        self.sandbox = sandbox
        self.config_sets = set(config_sets)
        self.max_send_rate = float(max_send_rate)   # messages per (virtual) second; 0: none
        self.time_scale = float(time_scale)          # virtual seconds per real second
        self.messages = []
        self._sent_at = []

    # ---------------------------------------------------------- life cycle
    def start(self, port=0):
        """As FakeAWS.start, with /__fake/messages added to the controls."""
        fake = self

        class Handler(awsfake._Handler):
            def _control(self, path, body):
                if path == "/__fake/messages":
                    return Reply(200, json.dumps(fake.messages_json()),
                                 {"Content-Type": "application/json"})
                if path == "/__fake/reset":
                    with fake.lock:
                        fake.messages.clear()
                return super()._control(path, body)
        Handler.fake = fake
        self.server = awsfake.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def messages_json(self):
        with self.lock:
            return [dict({k: v for k, v in m.items() if k != "raw"},
                         raw=m["raw"].decode("ascii", "replace")) for m in self.messages]

    def parsed(self, i=-1):
        """Message i as an email.message.EmailMessage (modern policy)."""
        with self.lock:
            raw = self.messages[i]["raw"]
        return email.message_from_bytes(raw, policy=email.policy.default)

    def sends(self):
        """The SendEmail requests seen (faulted and refused ones included)."""
        return [r for r in self.requests() if r["path"] == SEND_PATH]

    # ---------------------------------------------------------- requests
    def handle(self, req):
        fault = req.entry.get("fault")
        if fault in SES_ERRORS:
            status, msg = SES_ERRORS[fault]
            return self.error(status, fault, msg)
        if req.path != SEND_PATH:
            return self.error(404, "UnknownOperationException", "Unknown operation "
                              f"{req.method} {req.path}")
        if req.method != "POST":
            return self.error(405, "MethodNotAllowedException", "POST only")
        try:
            msg = self.send_email(req)
        except Rejected as r:
            status = SES_ERRORS.get(r.code, (400, ""))[0]
            with self.lock:
                req.entry["rejected"] = f"{r.code}: {r.message}"
            return self.error(status, r.code, r.message)
        return Reply(200, json.dumps({"MessageId": msg["message_id"]}),
                     {"Content-Type": "application/json",
                      "x-amzn-RequestId": str(uuid.uuid4())})

    def _now(self):
        return time.time() * self.time_scale

    def _rate_ok(self):
        if not self.max_send_rate:
            return True
        now = self._now()
        with self.lock:
            self._sent_at = [t for t in self._sent_at if now - t < 1.0]
            if len(self._sent_at) >= self.max_send_rate:
                return False
            self._sent_at.append(now)
        return True

    def _identity_ok(self, addr):
        addr = addr.lower()
        return addr in self.verified or addr.rpartition("@")[2] in self.verified

    @staticmethod
    def _addr(a, what):
        if not isinstance(a, str) or not ADDR_RE.match(a) or ".." in a:
            raise _bad(f"Illegal address in {what}: {a!r}"
                       if isinstance(a, str) else f"{what} must be a string")
        return a

    def send_email(self, req):
        ctype = req.headers.get("Content-Type", "")
        if not ctype.startswith("application/json"):
            raise _bad(f"Content-Type must be application/json, not {ctype!r}")
        try:
            body = json.loads(req.body)
        except (ValueError, UnicodeDecodeError):
            raise _bad("The request body is not valid JSON")
        if not isinstance(body, dict):
            raise _bad("The request body must be a JSON object")
        unknown = set(body) - REQUEST_MEMBERS
        if unknown:
            raise _bad(f"Unknown request members: {sorted(unknown)}")
        content = body.get("Content")
        if not isinstance(content, dict):
            raise _bad("Content is required")
        kinds = [k for k in ("Simple", "Raw", "Template") if k in content]
        if len(kinds) != 1 or set(content) - {"Simple", "Raw", "Template"}:
            raise _bad("Content must have exactly one of Simple, Raw or Template")
        if kinds[0] == "Template":
            raise _bad("this fake does not implement templates")
        if kinds[0] == "Simple":
            return self._send_simple(req, body, content["Simple"])
        data = content["Raw"].get("Data") if isinstance(content["Raw"], dict) else None
        if not isinstance(data, str) or not data:
            raise _bad("Content.Raw.Data is required")
        if len(data) > MAX_B64:
            raise Rejected("MessageRejected", "Message length is more than 40 megabytes "
                           f"({len(data)} bytes as sent)")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise _bad("Content.Raw.Data is not valid base64")
        msg = self._check_raw(raw)

        from_addr = body.get("FromEmailAddress")
        if from_addr is not None:
            self._addr(from_addr, "FromEmailAddress")
        arn = body.get("FromEmailAddressIdentityArn")
        if arn is not None and not (isinstance(arn, str) and arn.startswith("arn:aws:ses:")):
            raise _bad(f"Invalid FromEmailAddressIdentityArn {arn!r}")
        header_from = [a for _, a in getaddresses(msg.get_all("From", []))]
        if not header_from or not header_from[0]:
            raise Rejected("MessageRejected", "Missing required header 'From'.")
        sender = from_addr or header_from[0]
        for ident in {sender, header_from[0]}:
            if not self._identity_ok(ident):
                raise Rejected("MessageRejected", "Email address is not verified. The following "
                               f"identities failed the check in region {self.region.upper()}: "
                               f"{ident}")

        dest = body.get("Destination")
        envelope = {"to": [], "cc": [], "bcc": []}
        if dest is not None:
            if not isinstance(dest, dict) or set(dest) - DEST_MEMBERS:
                raise _bad("Destination may hold ToAddresses, CcAddresses, BccAddresses only")
            for key, name in (("ToAddresses", "to"), ("CcAddresses", "cc"),
                              ("BccAddresses", "bcc")):
                lst = dest.get(key, [])
                if not isinstance(lst, list):
                    raise _bad(f"Destination.{key} must be a list")
                envelope[name] = [self._addr(a, f"Destination.{key}") for a in lst]
        else:
            for h, name in (("To", "to"), ("Cc", "cc"), ("Bcc", "bcc")):
                envelope[name] = [a for _, a in getaddresses(msg.get_all(h, [])) if a]
        rcpts = envelope["to"] + envelope["cc"] + envelope["bcc"]
        if not rcpts:
            raise _bad("No recipients: Destination is empty and the message has no To, Cc or Bcc")
        if len(rcpts) > MAX_RECIPIENTS:
            raise Rejected("MessageRejected", f"Recipient count exceeds {MAX_RECIPIENTS}.")
        if self.sandbox:
            for a in rcpts:
                if not self._identity_ok(a):
                    raise Rejected("MessageRejected", "Email address is not verified. The "
                                   "following identities failed the check in region "
                                   f"{self.region.upper()}: {a}")
        reply_to = body.get("ReplyToAddresses", [])
        if not isinstance(reply_to, list):
            raise _bad("ReplyToAddresses must be a list")
        for a in reply_to:
            self._addr(a, "ReplyToAddresses")

        tags = body.get("EmailTags", [])
        if not isinstance(tags, list):
            raise _bad("EmailTags must be a list")
        for t in tags:
            if not isinstance(t, dict) or set(t) != {"Name", "Value"}:
                raise _bad("Each EmailTag needs exactly Name and Value")
            for k in ("Name", "Value"):
                if not isinstance(t[k], str) or not TAG_RE.match(t[k]):
                    raise _bad(f"Invalid tag {k.lower()} {t[k]!r}: only ASCII letters, digits, "
                               "'_' and '-', at most 256 characters")
        cs = body.get("ConfigurationSetName")
        if cs is not None and cs not in self.config_sets:
            raise Rejected("NotFoundException", f"Configuration set <{cs}> does not exist.")
        if not self._rate_ok():
            raise Rejected("TooManyRequestsException", "Maximum sending rate exceeded.")

        mid = "0100%012x-%s-000000" % (int(time.time() * 1000), uuid.uuid4())
        rec = {"message_id": mid, "raw": raw, "from": sender, "envelope": envelope,
               "reply_to": reply_to, "tags": {t["Name"]: t["Value"] for t in tags},
               "config_set": cs, "time": time.time(), "access_key": req.access_key,
               "request_keys": sorted(body)}
        with self.lock:
            self.messages.append(rec)
        return rec

    def _send_simple(self, req, body, simple):
        """Content.Simple: SES assembles the message; so does the fake, then
        checks it like a raw one (From comes from FromEmailAddress)."""
        from email.message import EmailMessage

        def text(obj, what, required):
            if obj is None and not required:
                return None
            if not isinstance(obj, dict) or not isinstance(obj.get("Data"), str):
                raise _bad(f"{what}.Data is required")
            return obj["Data"]
        if not isinstance(simple, dict):
            raise _bad("Content.Simple must be an object")
        subject = text(simple.get("Subject"), "Content.Simple.Subject", True)
        b = simple.get("Body")
        if not isinstance(b, dict) or not (b.get("Text") or b.get("Html")):
            raise _bad("Content.Simple.Body needs Text or Html")
        plain = text(b.get("Text"), "Content.Simple.Body.Text", False)
        html = text(b.get("Html"), "Content.Simple.Body.Html", False)
        sender = body.get("FromEmailAddress")
        if not isinstance(sender, str):
            raise _bad("FromEmailAddress is required for Simple content")
        dest = body.get("Destination") or {}
        m = EmailMessage()
        m["From"] = sender
        for key, h in (("ToAddresses", "To"), ("CcAddresses", "Cc")):
            if dest.get(key):
                m[h] = ", ".join(dest[key])
        m["Subject"] = subject
        m.set_content(plain if plain is not None else "")
        if html is not None:
            m.add_alternative(html, subtype="html")
        raw = m.as_bytes(policy=email.policy.SMTP)
        body = dict(body, Content={"Raw": {"Data": base64.b64encode(raw).decode()}})
        req.body = json.dumps(body).encode()
        return self.send_email(req)

    @staticmethod
    def _check_raw(raw):
        sep = raw.find(b"\r\n\r\n")
        if sep < 0:
            sep = raw.find(b"\n\n")
        if sep <= 0:
            raise Rejected("MessageRejected", "The message must have a header and a body "
                           "separated by a blank line.")
        if any(b >= 0x80 for b in raw[:sep]):
            raise Rejected("MessageRejected", "Non-ASCII characters in the header: encode them "
                           "(RFC 2047); SES does not support SMTPUTF8.")
        for n, line in enumerate(raw.split(b"\n"), 1):
            if len(line) + (0 if line.endswith(b"\r") else 1) > MAX_LINE:
                raise Rejected("MessageRejected", f"Line {n} is longer than 1000 characters "
                               "(RFC 5321).")
        return email.message_from_bytes(raw, policy=email.policy.default)


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="strict SES v2 SendEmail fake on 127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--creds", action="append", default=[], help="AKID:SECRET[:TOKEN]")
    ap.add_argument("--verified", action="append", default=[],
                    help="verified identity (address or domain); default example.com")
    ap.add_argument("--sandbox", action="store_true")
    ap.add_argument("--config-set", action="append", default=[])
    ap.add_argument("--max-send-rate", type=float, default=0.0)
    ap.add_argument("--faults", default=os.environ.get("AWSFAKE_FAULTS"))
    a = ap.parse_args(argv)
    fake = SESFake([c.split(":", 2) for c in a.creds], a.region,
                   verified=a.verified or ["example.com"], sandbox=a.sandbox,
                   config_sets=a.config_set, max_send_rate=a.max_send_rate)
    awsfake.serve(fake, a.faults, a.port)


if __name__ == "__main__":
    main(sys.argv[1:])
