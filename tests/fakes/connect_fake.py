"""A strict fake of Amazon Connect's StartTaskContact and SearchUsers for
vmpipe's tests (REST-JSON, SigV4 signing name "connect").

Built on awsfake.FakeAWS (every request's SigV4 signature recomputed with
botocore; fault plans and rates), and every request body validated against
botocore's connect 2017-08-08 model by model_check (required and unknown
members, types, lengths, enums), as the service's front end does.  Beyond the
model it does what the API reference and the Amazon Connect administrator
guide state:

  PUT /contact/task (StartTaskContact):
    the instance must exist; one of ContactFlowId, QuickConnectId or a
      TaskTemplateId whose template names a flow, each of which must exist
      (ResourceNotFoundException);
    a template's fields: every reference key must be a field of the template
      and of its type (InvalidParameterException);
    a URL reference must be an http(s) URL;
    attributes at most 32,768 UTF-8 bytes in all (the Connect quotas page);
    idempotent on ClientToken: the same token in the same instance answers
      the ContactId of the task it started, and starts nothing (the model
      marks ClientToken idempotencyToken);
    the concurrent active tasks quota (`max_tasks`):
      ServiceQuotaExceededException (HTTP 402, as the model says);
    RelatedContactId is accepted as the current API reference has it (Debian's
      botocore 1.29 model predates it): a string of 1-256.
  POST /search-users (SearchUsers): Username EXACT matches only (what VMX3
    sends, Code/sub_build_data_payload.py).

IAM: `denied` holds actions ("connect:StartTaskContact") the caller may not
perform: HTTP 403 AccessDeniedException with the message IAM gives.

Errors come as REST-JSON with x-amzn-ErrorType and {"Message": …} (Connect's
error shapes have a capitalised Message).  The names of the documented
errors may appear in a fault plan ({"plan": ["ThrottlingException", "ok"]});
"throttle" is ThrottlingException (429).

A started task is routed the way its flow would: flows are registered with a
kind, "vmx3" (VMX3's example task flow, CloudFormation/vmx3-contactflows.yaml
VMXExampleTaskFlow: working queue $.Attributes.vmx3_queue_arn, then, when
vmx3_target is agent, routing criteria preferring
$.Attributes.vmx3_preferred_agent_id) or "vmpipe" (etc/connect's task flow:
working queue $.Attributes.vmpipe_queue_arn, the agent's own queue for an
agent), and `tasks[i]["routed"]` says where it went.
"""
import json
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import awsfake  # noqa: E402
import model_check  # noqa: E402
from awsfake import Reply  # noqa: E402

ERRORS = {
    "InvalidRequestException": 400,
    "InvalidParameterException": 400,
    "ResourceNotFoundException": 404,
    "ThrottlingException": 429,
    "ServiceQuotaExceededException": 402,
    "InternalServiceException": 500,
    "AccessDeniedException": 403,
}
NEWER = {"StartTaskContactRequest": {"RelatedContactId": {"type": "string", "min": 1,
                                                          "max": 256}}}
ACCOUNT = "123456789012"


class Refused(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


class ConnectFake(awsfake.FakeAWS):
    service = "connect"
    protocol = awsfake.REST_JSON

    def __init__(self, creds=None, region="us-east-1", max_tasks=0, denied=()):
        super().__init__(creds, region)
        self.instances = {}
        self.tasks = []          # started tasks: the request and where it went
        self.tokens = {}         # (instance, ClientToken) -> ContactId
        self.max_tasks = max_tasks
        self.denied = set(denied)
        self.searches = []

    # ---------------------------------------------------------- set-up
    def add_instance(self, instance_id, flows=None, queues=(), users=None, quick_connects=(),
                     templates=None):
        """flows: {id: "vmx3" | "vmpipe" | "plain"}; users: {login: id};
        templates: {id: {"fields": {name: type}, "flow": id or None}}."""
        self.instances[instance_id] = {"flows": dict(flows or {}), "queues": set(queues),
                                       "users": dict(users or {}),
                                       "quick_connects": set(quick_connects),
                                       "templates": dict(templates or {})}

    def arn(self, instance_id, rest=""):
        return f"arn:aws:connect:{self.region}:{ACCOUNT}:instance/{instance_id}{rest}"

    # ---------------------------------------------------------- errors
    def error(self, status, code, message, headers=None):
        r = super().error(status, code, message, headers)
        if self.protocol == awsfake.REST_JSON:
            r.body = json.dumps({"Message": message}).encode()
        return r

    def throttle_error(self):
        return self.error(429, "ThrottlingException", "Rate exceeded")

    def server_error(self, status):
        return self.error(status, "InternalServiceException" if status == 500
                          else "ServiceUnavailableException", "Request processing failed")

    # ---------------------------------------------------------- requests
    def handle(self, req):
        fault = req.entry.get("fault")
        if fault in ERRORS:
            return self.error(ERRORS[fault], fault, f"{fault} (injected fault)")
        try:
            if req.method == "PUT" and req.path == "/contact/task":
                return self._json(self.start_task(req))
            if req.method == "POST" and req.path == "/search-users":
                return self._json(self.search_users(req))
            raise Refused("UnknownOperationException", f"{req.method} {req.path}")
        except Refused as r:
            with self.lock:
                req.entry["refused"] = f"{r.code}: {r.message}"
            return self.error(ERRORS.get(r.code, 404), r.code, r.message)

    @staticmethod
    def _json(obj):
        return Reply(200, json.dumps(obj), {"Content-Type": "application/json",
                                            "x-amzn-RequestId": str(uuid.uuid4())})

    def _body(self, req, op, extra=None):
        ctype = req.headers.get("Content-Type", "")
        if not ctype.startswith("application/json"):
            raise Refused("InvalidRequestException", f"Content-Type {ctype!r}")
        try:
            body = json.loads(req.body)
        except (ValueError, UnicodeDecodeError):
            raise Refused("InvalidRequestException", "The request body is not valid JSON")
        problems = model_check.check("connect", op, body, extra)
        if problems:
            raise Refused("InvalidParameterException", "; ".join(problems))
        return body

    def _allowed(self, action, resource):
        if action in self.denied:
            raise Refused("AccessDeniedException",
                          f"User: arn:aws:sts::{ACCOUNT}:assumed-role/vmpipe/fn is not "
                          f"authorized to perform: {action} on resource: {resource}")

    def _instance(self, iid):
        inst = self.instances.get(iid)
        if inst is None:
            raise Refused("ResourceNotFoundException", f"Instance not found: {iid}")
        return inst

    def start_task(self, req):
        b = self._body(req, "StartTaskContact", NEWER)
        inst = self._instance(b["InstanceId"])
        flow = b.get("ContactFlowId")
        self._allowed("connect:StartTaskContact",
                      self.arn(b["InstanceId"], f"/contact-flow/{flow or '*'}"))
        tpl = None
        if "TaskTemplateId" in b:
            tpl = inst["templates"].get(b["TaskTemplateId"])
            if tpl is None:
                raise Refused("ResourceNotFoundException",
                              f"Task template not found: {b['TaskTemplateId']}")
            flow = flow or tpl.get("flow")
        if "QuickConnectId" in b and b["QuickConnectId"] not in inst["quick_connects"]:
            raise Refused("ResourceNotFoundException",
                          f"Quick connect not found: {b['QuickConnectId']}")
        if not flow and "QuickConnectId" not in b:
            raise Refused("InvalidRequestException",
                          "ContactFlowId, QuickConnectId or a template with a flow is required")
        if flow and flow not in inst["flows"]:
            raise Refused("ResourceNotFoundException", f"Contact flow not found: {flow}")
        refs = b.get("References", {})
        for k, r in refs.items():
            if tpl is not None:
                if k not in tpl["fields"]:
                    raise Refused("InvalidParameterException",
                                  f"Reference {k!r} is not a field of the task template")
                if tpl["fields"][k] != r["Type"]:
                    raise Refused("InvalidParameterException",
                                  f"Field {k!r} is of type {tpl['fields'][k]}, not {r['Type']}")
            if r["Type"] == "URL" and not r["Value"].startswith(("https://", "http://")):
                raise Refused("InvalidParameterException", f"Reference {k!r} is not a URL")
        attrs = b.get("Attributes", {})
        size = sum(len(k.encode()) + len(v.encode()) for k, v in attrs.items())
        if size > 32768:
            raise Refused("InvalidParameterException",
                          f"Attributes total {size} bytes; the limit is 32768")
        key = (b["InstanceId"], b.get("ClientToken"))
        with self.lock:
            if b.get("ClientToken") and key in self.tokens:
                return {"ContactId": self.tokens[key]}
            active = len(self.tasks)
        if self.max_tasks and active >= self.max_tasks:
            raise Refused("ServiceQuotaExceededException",
                          "The service quota has been exceeded: concurrent active tasks")
        cid = str(uuid.uuid4())
        task = {"contact_id": cid, "request": b, "time": time.time(),
                "access_key": req.access_key,
                "routed": self.route(inst, b["InstanceId"], flow, attrs)}
        with self.lock:
            if b.get("ClientToken"):
                self.tokens[key] = cid
            self.tasks.append(task)
        return {"ContactId": cid}

    def route(self, inst, iid, flow, attrs):
        kind = inst["flows"].get(flow)
        if kind == "vmx3":
            out = {"queue": attrs.get("vmx3_queue_arn")}
            if attrs.get("vmx3_target") == "agent":
                out["preferred_agent"] = attrs.get("vmx3_preferred_agent_id")
            return out
        if kind == "vmpipe":
            q = attrs.get("vmpipe_queue_arn")
            agent = q.split("/queue/agent/", 1)[1] if q and "/queue/agent/" in q else None
            return {"queue": q, "agent": agent}
        return {}

    def search_users(self, req):
        b = self._body(req, "SearchUsers")
        inst = self._instance(b.get("InstanceId", ""))
        self._allowed("connect:SearchUsers", self.arn(b["InstanceId"], "/agent/*"))
        self.searches.append(b)
        crit = b.get("SearchCriteria", {})
        conds = [c.get("StringCondition", {}) for c in crit.get("OrConditions", [])]
        if "StringCondition" in crit:
            conds.append(crit["StringCondition"])
        users = []
        for c in conds:
            if c.get("FieldName") != "Username" or c.get("ComparisonType") != "EXACT":
                raise Refused("InvalidParameterException", "this fake answers Username EXACT only")
            uid = inst["users"].get(c.get("Value"))
            if uid:
                users.append({"Id": uid, "Username": c["Value"],
                              "Arn": self.arn(b["InstanceId"], f"/agent/{uid}")})
        return {"Users": users[:b.get("MaxResults", 100)], "ApproximateTotalCount": len(users)}

    def started(self):
        return [r for r in self.requests() if r["path"] == "/contact/task"]


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="strict Amazon Connect StartTaskContact fake")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--creds", action="append", default=[], help="AKID:SECRET[:TOKEN]")
    ap.add_argument("--instance", default="abcdef01-2345-6789-abcd-ef0123456789")
    ap.add_argument("--flow", action="append", default=[], help="ID[:KIND]")
    ap.add_argument("--faults", default=os.environ.get("AWSFAKE_FAULTS"))
    a = ap.parse_args(argv)
    fake = ConnectFake([c.split(":", 2) for c in a.creds], a.region)
    fake.add_instance(a.instance, {f.split(":")[0]: (f.split(":") + ["plain"])[1] for f in a.flow})
    awsfake.serve(fake, a.faults, a.port)


if __name__ == "__main__":
    main(sys.argv[1:])
