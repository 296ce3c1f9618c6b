"""Strict fakes of the two ways vmpipe sends an SMS, for its tests:

  EndUserMessagingFake   AWS End User Messaging SMS, SendTextMessage
                         (botocore model pinpoint-sms-voice-v2 2022-03-31:
                         JSON 1.0, X-Amz-Target PinpointSMSVoiceV2.SendTextMessage,
                         SigV4 signing name "sms-voice")
  SNSFake                Amazon SNS Publish to a PhoneNumber (model sns
                         2010-03-31: query protocol, signing name "sns")

Both are awsfake.FakeAWS services (every request's SigV4 signature
recomputed with botocore; fault plans and rates) and validate every request
against botocore's model with model_check (required and unknown members,
types, lengths, enums, patterns).  Beyond the model, what the services
document:

End User Messaging (API reference, SendTextMessage; user guide, "Opting
out" and "SMS character limits"):
  DestinationPhoneNumber must be E.164 (ValidationException
    FIELD_VALIDATION_FAILED otherwise);
  a number in `opted_out` is refused with ConflictException, Reason
    DESTINATION_PHONE_NUMBER_OPTED_OUT, ResourceType opted-out-number;
  OriginationIdentity and ConfigurationSetName must exist when given
    (ResourceNotFoundException, ResourceType phone-number /
    configuration-set);
  `spend_limit_reached`: ServiceQuotaExceededException
    MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT;
  `denied`: AccessDeniedException (as IAM words it).
  Errors are JSON 1.0: {"__type": "com.amazonaws.pinpointsmsvoicev2#Code",
  "Message", "Reason", …}, HTTP 400 (500 for InternalServerException).

SNS (API reference, Publish; developer guide, "Publishing to a mobile
phone"): PhoneNumber E.164 (InvalidParameter otherwise); the SMS attributes
AWS.SNS.SMS.SMSType (Promotional | Transactional), AWS.SNS.SMS.SenderID,
AWS.MM.SMS.OriginationNumber; an opted-out number is accepted by Publish
and not delivered (SNS says so only in its delivery status logs): the fake
keeps it with "dropped": "opted out".

Each accepted text is kept in `messages` with its segment count computed
here, independently of vmpipe's counter (3GPP TS 23.038 GSM-7 default
alphabet and extension table, TS 23.040 concatenation: 160/153 septets,
70/67 UTF-16 units, nothing split across a segment boundary).
"""
import json
import os
import re
import sys
import uuid
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import awsfake  # noqa: E402
import model_check  # noqa: E402
from awsfake import Reply  # noqa: E402

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
GSM_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
             "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXT = "\f^{}\\[~]|€"


def segments(text):
    """(encoding, units, segments) of `text` as a handset would split it."""
    if all(c in GSM_BASIC or c in GSM_EXT for c in text):
        widths = [2 if c in GSM_EXT else 1 for c in text]
        single, per, enc = 160, 153, "gsm7"
    else:
        widths = [len(c.encode("utf-16-le")) // 2 for c in text]
        single, per, enc = 70, 67, "ucs2"
    units = sum(widths)
    if units == 0:
        return enc, 0, 0
    if units <= single:
        return enc, units, 1
    segs, used = 1, 0
    for w in widths:
        if used + w > per:
            segs, used = segs + 1, 0
        used += w
    return enc, units, segs


class Refused(Exception):
    def __init__(self, code, message, **extra):
        super().__init__(message)
        self.code, self.message, self.extra = code, message, extra


class EndUserMessagingFake(awsfake.FakeAWS):
    service = "sms-voice"
    protocol = awsfake.JSON11
    target = "PinpointSMSVoiceV2.SendTextMessage"

    def __init__(self, creds=None, region="us-east-1", origination=("+18445550100",),
                 config_sets=(), opted_out=(), denied=False):
        super().__init__(creds, region)
        self.origination = set(origination)
        self.config_sets = set(config_sets)
        self.opted_out = set(opted_out)
        self.denied = denied
        self.spend_limit_reached = False
        self.messages = []

    def error(self, status, code, message, headers=None, **extra):
        rid = str(uuid.uuid4())
        h = dict(headers or {})
        h.update({"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": rid})
        body = dict({"__type": f"com.amazonaws.pinpointsmsvoicev2#{code}", "Message": message},
                    **extra)
        return Reply(status, json.dumps(body), h)

    def throttle_error(self):
        return self.error(400, "ThrottlingException", "Rate exceeded")

    def server_error(self, status):
        return self.error(status, "InternalServerException", "Internal server error")

    def handle(self, req):
        fault = req.entry.get("fault")
        if fault in ("ValidationException", "ServiceQuotaExceededException",
                     "ResourceNotFoundException", "ConflictException", "AccessDeniedException"):
            return self.error(400, fault, f"{fault} (injected fault)")
        try:
            return self._json(self.send_text(req))
        except Refused as r:
            with self.lock:
                req.entry["refused"] = f"{r.code}: {r.message}"
            return self.error(500 if r.code == "InternalServerException" else 400, r.code,
                              r.message, **r.extra)

    @staticmethod
    def _json(obj):
        return Reply(200, json.dumps(obj), {"Content-Type": "application/x-amz-json-1.0",
                                            "x-amzn-RequestId": str(uuid.uuid4())})

    def send_text(self, req):
        if req.method != "POST" or req.path != "/":
            raise Refused("UnknownOperationException", f"{req.method} {req.path}")
        if req.headers.get("X-Amz-Target") != self.target:
            raise Refused("UnknownOperationException",
                          f"X-Amz-Target {req.headers.get('X-Amz-Target')!r}")
        if req.headers.get("Content-Type") != "application/x-amz-json-1.0":
            raise Refused("ValidationException", "Content-Type must be application/x-amz-json-1.0",
                          Reason="CANNOT_PARSE")
        try:
            b = json.loads(req.body)
        except (ValueError, UnicodeDecodeError):
            raise Refused("ValidationException", "cannot parse the body", Reason="CANNOT_PARSE")
        problems = model_check.check("pinpoint-sms-voice-v2", "SendTextMessage", b)
        if problems:
            raise Refused("ValidationException", "; ".join(problems),
                          Reason="FIELD_VALIDATION_FAILED")
        if self.denied:
            raise Refused("AccessDeniedException",
                          "User: arn:aws:sts::123456789012:assumed-role/vmpipe/fn is not "
                          "authorized to perform: sms-voice:SendTextMessage")
        to = b["DestinationPhoneNumber"]
        if not E164.match(to):
            raise Refused("ValidationException", "DestinationPhoneNumber is not E.164",
                          Reason="FIELD_VALIDATION_FAILED")
        oi = b.get("OriginationIdentity")
        if oi is not None and oi not in self.origination:
            raise Refused("ResourceNotFoundException", f"Origination identity {oi} not found",
                          ResourceType="phone-number", ResourceId=oi)
        cs = b.get("ConfigurationSetName")
        if cs is not None and cs not in self.config_sets:
            raise Refused("ResourceNotFoundException", f"Configuration set {cs} not found",
                          ResourceType="configuration-set", ResourceId=cs)
        if to in self.opted_out:
            raise Refused("ConflictException", "The destination phone number is opted out",
                          Reason="DESTINATION_PHONE_NUMBER_OPTED_OUT",
                          ResourceType="opted-out-number", ResourceId=to)
        if self.spend_limit_reached:
            raise Refused("ServiceQuotaExceededException", "Monthly spend limit reached",
                          Reason="MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT")
        enc, units, segs = segments(b["MessageBody"])
        mid = str(uuid.uuid4())
        with self.lock:
            self.messages.append({"id": mid, "to": to, "body": b["MessageBody"],
                                  "encoding": enc, "units": units, "segments": segs,
                                  "request": b, "access_key": req.access_key})
        return {"MessageId": mid}


class SNSFake(awsfake.FakeAWS):
    service = "sns"
    protocol = awsfake.QUERY

    def __init__(self, creds=None, region="us-east-1", opted_out=(), denied=False):
        super().__init__(creds, region)
        self.opted_out = set(opted_out)
        self.denied = denied
        self.messages = []

    def error(self, status, code, message, headers=None):
        rid = str(uuid.uuid4())
        kind = "Receiver" if status >= 500 else "Sender"
        body = ('<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
                f"<Error><Type>{kind}</Type><Code>{escape(code)}</Code>"
                f"<Message>{escape(message)}</Message></Error>"
                f"<RequestId>{rid}</RequestId></ErrorResponse>")
        h = dict(headers or {})
        h.update({"Content-Type": "text/xml", "x-amzn-RequestId": rid})
        return Reply(status, body, h)

    def server_error(self, status):
        return self.error(status, "InternalError", "Internal error")

    def handle(self, req):
        fault = req.entry.get("fault")
        if fault in ("InvalidParameter", "AuthorizationError"):
            return self.error(403 if fault == "AuthorizationError" else 400, fault,
                              f"{fault} (injected fault)")
        try:
            return self.publish(req)
        except Refused as r:
            with self.lock:
                req.entry["refused"] = f"{r.code}: {r.message}"
            return self.error({"AuthorizationError": 403}.get(r.code, 400), r.code, r.message)

    def publish(self, req):
        if req.method != "POST" or req.path != "/":
            raise Refused("InvalidAction", f"{req.method} {req.path}")
        if not req.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            raise Refused("InvalidParameter", "form body expected")
        form = dict(parse_qsl(req.body.decode("utf-8"), keep_blank_values=True))
        if form.pop("Action", None) != "Publish" or form.pop("Version", None) != "2010-03-31":
            raise Refused("InvalidAction", "Action=Publish&Version=2010-03-31 expected")
        params, attrs = {}, {}
        for k, v in form.items():
            m = re.fullmatch(r"MessageAttributes\.entry\.(\d+)\.(Name|Value\.DataType|"
                             r"Value\.StringValue)", k)
            if m:
                attrs.setdefault(m.group(1), {})[m.group(2)] = v
            else:
                params[k] = v
        if attrs:
            params["MessageAttributes"] = {
                a["Name"]: {"DataType": a.get("Value.DataType"),
                            "StringValue": a.get("Value.StringValue")}
                for a in attrs.values() if "Name" in a}
        problems = model_check.check("sns", "Publish", params)
        if problems:
            raise Refused("InvalidParameter", "; ".join(problems))
        if self.denied:
            raise Refused("AuthorizationError", "User: arn:aws:sts::123456789012:assumed-role/"
                          "vmpipe/fn is not authorized to perform: SNS:Publish on resource: "
                          + params.get("PhoneNumber", ""))
        to = params.get("PhoneNumber")
        if not to or not E164.match(to):
            raise Refused("InvalidParameter", "Invalid parameter: PhoneNumber Reason: "
                          "it is not an E.164 number")
        sms_attrs = {k: v["StringValue"] for k, v in params.get("MessageAttributes", {}).items()}
        if sms_attrs.get("AWS.SNS.SMS.SMSType", "Promotional") not in ("Promotional",
                                                                        "Transactional"):
            raise Refused("InvalidParameter", "Invalid parameter: AWS.SNS.SMS.SMSType")
        enc, units, segs = segments(params["Message"])
        mid = str(uuid.uuid4())
        with self.lock:
            self.messages.append({"id": mid, "to": to, "body": params["Message"],
                                  "encoding": enc, "units": units, "segments": segs,
                                  "attributes": sms_attrs, "access_key": req.access_key,
                                  "dropped": "opted out" if to in self.opted_out else None})
        body = ('<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
                f"<PublishResult><MessageId>{mid}</MessageId></PublishResult>"
                f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
                "</PublishResponse>")
        return Reply(200, body, {"Content-Type": "text/xml"})


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="strict SMS fakes (End User Messaging, SNS)")
    ap.add_argument("service", choices=["sms-voice", "sns"])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--creds", action="append", default=[], help="AKID:SECRET[:TOKEN]")
    ap.add_argument("--faults", default=os.environ.get("AWSFAKE_FAULTS"))
    a = ap.parse_args(argv)
    cls = EndUserMessagingFake if a.service == "sms-voice" else SNSFake
    awsfake.serve(cls([c.split(":", 2) for c in a.creds], a.region), a.faults, a.port)


if __name__ == "__main__":
    main(sys.argv[1:])
