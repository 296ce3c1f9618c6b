"""deploy/template.yaml: it parses (YAML with CloudFormation's short tags),
every reference resolves, and suspend mode's resources are wired as
docs/lambda.md says, with the least IAM for each.  cfn-lint, when it is
installed, checks it against CloudFormation's own schemas too."""
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import ROOT, VMPIPE

TEMPLATE = os.path.join(ROOT, "deploy", "template.yaml")
PSEUDO = {"AWS::AccountId", "AWS::NoValue", "AWS::Partition", "AWS::Region", "AWS::StackName",
          "AWS::StackId", "AWS::URLSuffix", "AWS::NotificationARNs"}
TAGS = ["Ref", "Sub", "GetAtt", "If", "Equals", "Not", "And", "Or", "Condition", "FindInMap", "Join",
        "Select", "Split", "GetAZs", "Base64", "ImportValue", "Contains"]


class Tag:
    def __init__(self, name, value):
        self.name, self.value = name, value

    def __repr__(self):
        return f"!{self.name} {self.value!r}"


class Loader(yaml.SafeLoader):
    pass


def _construct(name):
    def f(loader, node):
        if isinstance(node, yaml.ScalarNode):
            v = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            v = loader.construct_sequence(node, deep=True)
        else:
            v = loader.construct_mapping(node, deep=True)
        return Tag(name, v)
    return f


for _t in TAGS:
    Loader.add_constructor("!" + _t, _construct(_t))


@pytest.fixture(scope="module")
def tpl():
    with open(TEMPLATE) as f:
        return yaml.load(f, Loader=Loader)


def walk(node, fn):
    fn(node)
    if isinstance(node, Tag):
        walk(node.value, fn)
    elif isinstance(node, dict):
        for v in node.values():
            walk(v, fn)
    elif isinstance(node, list):
        for v in node:
            walk(v, fn)


def test_references_resolve(tpl):
    params, res, conds = set(tpl["Parameters"]), set(tpl["Resources"]), set(tpl["Conditions"])
    bad = []

    def check(n):
        if not isinstance(n, Tag):
            return
        if n.name == "Ref" and n.value not in params | res | PSEUDO:
            bad.append(n)
        if n.name == "GetAtt" and (n.value if isinstance(n.value, str) else n.value[0]).split(".")[0] not in res:
            bad.append(n)
        if n.name == "Condition" and n.value not in conds:
            bad.append(n)
        if n.name == "If" and n.value[0] not in conds:
            bad.append(n)
        if n.name == "Sub":
            text = n.value if isinstance(n.value, str) else n.value[0]
            for name in re.findall(r"\$\{([^}!]+)\}", text):
                if name.split(".")[0] not in params | res | PSEUDO:
                    bad.append((n, name))
    walk(tpl, check)
    for name, r in tpl["Resources"].items():
        if "Condition" in r:
            assert r["Condition"] in conds, name
    assert not bad, bad


def resource(tpl, name):
    r = tpl["Resources"][name]
    assert r.get("Condition") == "HasSuspend", name
    return r["Properties"]


def statements(tpl):
    out = {}
    for st in tpl["Resources"]["VoicemailFunction"]["Properties"]["Policies"][0]["Statement"]:
        if isinstance(st, Tag):  # !If [cond, statement, NoValue]
            st = st.value[1]
        out[st["Sid"]] = st
    return out


def test_suspend_mode_resources(tpl):
    assert set(tpl["Conditions"]["HasSuspend"].value) and tpl["Parameters"]["SuspendMode"]["Default"] == "true"
    q = resource(tpl, "WakeupQueue")
    dlq_arn = q["RedrivePolicy"]["deadLetterTargetArn"]
    assert dlq_arn.name == "GetAtt" and dlq_arn.value.startswith("WakeupDeadLetterQueue")
    assert 1 <= q["RedrivePolicy"]["maxReceiveCount"] <= 10
    resource(tpl, "WakeupDeadLetterQueue")
    fn = tpl["Resources"]["VoicemailFunction"]["Properties"]
    timeout = fn["Timeout"].value  # !If [HasSuspend, 60, ...]
    assert timeout[0] == "HasSuspend"
    # Lambda refuses a mapping whose queue hides messages for less than the function may run.
    assert q["VisibilityTimeout"] >= timeout[1]
    m = resource(tpl, "WakeupMapping")
    assert m["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert m["MaximumBatchingWindowInSeconds"] == 0 and 1 <= m["BatchSize"] <= 10
    assert m["EventSourceArn"].value.startswith("WakeupQueue")
    env = fn["Environment"]["Variables"]
    for var in ("VMPIPE_WAKEUP_QUEUE", "VMPIPE_WAKEUP_EVENTS", "VMPIPE_SUSPEND_AFTER"):
        assert env[var].name == "If" and env[var].value[0] == "HasSuspend", var
    assert env["VMPIPE_WAKEUP_QUEUE"].value[1].value == "WakeupQueue"
    assert env["VMPIPE_WAKEUP_EVENTS"].value[1] == "s3,transcribe"


def plugin_default(plugin, option):
    out = subprocess.run([VMPIPE, "plugins"], capture_output=True, text=True, check=True).stdout
    block = re.split(r"(?m)^" + re.escape(plugin) + r" \(", out, maxsplit=1)[1]  # its own heading
    line = next(l for l in block.splitlines() if l.strip().startswith(option + " "))
    return re.search(r"\(default: ([^)]*)\)", line).group(1)


def test_event_rules_match_what_the_plugins_name(tpl):
    tr = resource(tpl, "TranscribeDoneRule")
    pat = tr["EventPattern"]
    assert pat["source"] == ["aws.transcribe"] and pat["detail-type"] == ["Transcribe Job State Change"]
    assert set(pat["detail"]["TranscriptionJobStatus"]) == {"COMPLETED", "FAILED"}
    # transcribe-aws names its jobs job_prefix + contact id.
    assert pat["detail"]["TranscriptionJobName"] == [{"prefix": plugin_default("transcribe-aws", "job_prefix")}]
    s3 = resource(tpl, "RecordingCreatedRule")["EventPattern"]
    assert s3["source"] == ["aws.s3"] and s3["detail-type"] == ["Object Created"]
    prefix = s3["detail"]["object"]["key"][0]["prefix"]
    # locate-s3 finds recordings under prefix/<layout>, whose first folder is ivr/.
    layout = plugin_default("locate-s3", "layout")
    assert prefix.value == "${RecordingsPrefix}/" + layout.split("/")[0] + "/"
    for rule, perm in (("TranscribeDoneRule", "TranscribeDoneInvokePermission"),
                       ("RecordingCreatedRule", "RecordingCreatedInvokePermission"),
                       ("SweeperRule", "SweeperInvokePermission")):
        p = resource(tpl, perm)
        assert p["Principal"] == "events.amazonaws.com" and p["Action"] == "lambda:InvokeFunction"
        assert p["SourceArn"].value == rule + ".Arn"  # only that rule may invoke


def test_the_sweeper_is_scheduled_and_watched(tpl):
    rule = resource(tpl, "SweeperRule")
    assert rule["ScheduleExpression"] == "rate(5 minutes)" and "EventPattern" not in rule
    assert rule["Targets"][0]["Arn"].value == "VoicemailFunction.Arn"
    alarm = resource(tpl, "StrandedVoicemailAlarm")
    assert alarm["Namespace"] == "vmpipe" and alarm["MetricName"] == "StrandedVoicemails"
    # Its one LIST is of the checkpoints' prefix, which the role may list.
    cond = statements(tpl)["ListCheckpoints"]["Condition"]["StringLike"]["s3:prefix"]
    assert [c.value for c in cond] == ["${StatePrefix}/*"]


def test_least_iam_for_the_wakeup_queue(tpl):
    st = statements(tpl)
    assert st["SendWakeups"]["Action"] == "sqs:SendMessage"
    assert sorted(st["ReceiveWakeups"]["Action"]) == ["sqs:DeleteMessage", "sqs:GetQueueAttributes",
                                                       "sqs:ReceiveMessage"]
    for sid in ("SendWakeups", "ReceiveWakeups"):
        assert st[sid]["Resource"].value == "WakeupQueue.Arn", sid
    # Nothing anywhere is granted on every resource or every action.
    for sid, s in st.items():
        acts = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        assert all(not a.endswith(":*") and a != "*" for a in acts), sid
        assert s.get("Resource") != "*", sid
    # SNS has no ARN for a phone number: Publish to anything but a topic.
    assert st["PublishSms"]["NotResource"].value == "arn:${AWS::Partition}:sns:*:*:*"
    # The index of waiting jobs lives under the checkpoints' prefix, already granted.
    assert "${StatePrefix}/*" in st["JobCheckpoints"]["Resource"].value


@pytest.mark.skipif(not shutil.which("cfn-lint"), reason="cfn-lint is not installed")
def test_cfn_lint():
    p = subprocess.run(["cfn-lint", TEMPLATE], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_contact_record_trigger(tpl):
    """The Kinesis mapping of the CTR trigger filters as VMPIPE_CTR_FILTER
    does (other contacts never invoke the function), reports failures per
    record, ends at the failure queue, and its role may read only that stream."""
    m = tpl["Resources"]["CtrMapping"]
    assert m["Condition"] == "HasCtr"
    p = m["Properties"]
    assert p["EventSourceArn"].value == "CtrStreamArn"
    assert p["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 0 < p["MaximumRetryAttempts"] <= 10 and p["DestinationConfig"]["OnFailure"]["Destination"].value == \
        "FailureQueue.Arn"
    pattern = p["FilterCriteria"]["Filters"][0]["Pattern"].value
    env = tpl["Resources"]["VoicemailFunction"]["Properties"]["Environment"]["Variables"]["VMPIPE_CTR_FILTER"]
    assert env.value[0] == "HasCtr" and env.value[1].value == "${CtrFilterAttribute}=${CtrFilterValue}"
    params = tpl["Parameters"]
    text = pattern.replace("${CtrFilterAttribute}", params["CtrFilterAttribute"]["Default"]).replace(
        "${CtrFilterValue}", params["CtrFilterValue"]["Default"])
    # Lambda filters on the decoded record: {"data": {...the CTR...}}; the default is VMX3's flag.
    assert json.loads(text) == {"data": {"Attributes": {"vmx3_flag": ["1"]}}}
    st = statements(tpl)
    assert sorted(st["ReadContactRecords"]["Action"]) == sorted([
        "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:DescribeStream",
        "kinesis:DescribeStreamSummary", "kinesis:ListShards"])
    assert st["ReadContactRecords"]["Resource"].value == "CtrStreamArn"
    assert st["UnreadableContactRecords"]["Resource"].value == "FailureQueue.Arn"


def test_media_streaming_variant(tpl):
    """Kinesis Video permissions only with MediaStreaming (and the CTR trigger),
    only on the instance's streams; the WAV only under the kvs/ folder
    locate-kvs writes to; the pipeline that reads the streams."""
    assert tpl["Parameters"]["MediaStreaming"]["Default"] == "false"
    conds = tpl["Conditions"]["HasKvs"].value
    assert any(isinstance(c, Tag) and c.name == "Condition" and c.value == "HasCtr" for c in conds)
    st = statements(tpl)
    assert sorted(st["ReadMediaStreams"]["Action"]) == ["kinesisvideo:GetDataEndpoint", "kinesisvideo:GetMedia"]
    assert st["ReadMediaStreams"]["Resource"].value.endswith(":stream/${KvsStreamPrefix}*")
    layout = plugin_default("locate-kvs", "layout")
    assert st["WriteStreamedRecordings"]["Resource"].value.endswith(
        "/${RecordingsPrefix}/" + layout.split("/")[0] + "/*")
    fn = tpl["Resources"]["VoicemailFunction"]["Properties"]["Environment"]["Variables"]
    assert fn["VMPIPE_PIPELINE"].value[:2] == ["HasKvs", "/var/task/etc/pipeline-kvs.ini"]
    for pol in tpl["Resources"]["VoicemailFunction"]["Properties"]["Policies"][0]["Statement"]:
        if isinstance(pol, Tag) and pol.value[1]["Sid"] in ("ReadMediaStreams", "WriteStreamedRecordings"):
            assert pol.value[0] == "HasKvs"
    assert os.path.exists(os.path.join(ROOT, "etc", "pipeline-kvs.ini"))


def evaluate(cond, tpl, params):
    """A CloudFormation condition's value for these parameter values."""
    if isinstance(cond, Tag):
        v = cond.value
        if cond.name == "Equals":
            return evaluate(v[0], tpl, params) == evaluate(v[1], tpl, params)
        if cond.name == "Or":
            return any(evaluate(x, tpl, params) for x in v)
        if cond.name == "And":
            return all(evaluate(x, tpl, params) for x in v)
        if cond.name == "Not":
            return not evaluate(v[0], tpl, params)
        if cond.name == "Condition":
            return evaluate(tpl["Conditions"][v], tpl, params)
        if cond.name == "Ref":
            return params.get(v, tpl["Parameters"].get(v, {}).get("Default"))
        raise AssertionError(cond)
    return cond


def granted(tpl, params):
    """The IAM actions the role gets with these parameters."""
    out = set()
    for st in tpl["Resources"]["VoicemailFunction"]["Properties"]["Policies"][0]["Statement"]:
        if isinstance(st, Tag):
            if not evaluate(tpl["Conditions"][st.value[0]], tpl, params):
                continue
            st = st.value[1]
        acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        out |= set(acts)
    return out


@pytest.mark.parametrize("delivery", ["email", "task", "email-task", "email-sms", "task-sms",
                                      "email-task-sms"])
@pytest.mark.parametrize("sms", ["end-user-messaging", "sns"])
def test_each_notifier_gets_its_iam_only_when_the_delivery_uses_it(tpl, delivery, sms):
    assert delivery in tpl["Parameters"]["Delivery"]["AllowedValues"]
    acts = granted(tpl, {"Delivery": delivery, "SmsService": sms, "StatePrefix": "s"})
    parts = delivery.split("-")
    assert ("ses:SendEmail" in acts) == ("email" in parts)
    assert ("connect:StartTaskContact" in acts) == ("task" in parts)
    assert ("connect:SearchUsers" in acts) == ("task" in parts)
    assert ("sms-voice:SendTextMessage" in acts) == ("sms" in parts and sms == "end-user-messaging")
    assert ("sns:Publish" in acts) == ("sms" in parts and sms == "sns")
    # The pipeline the function runs is the one that uses exactly those.
    env = tpl["Resources"]["VoicemailFunction"]["Properties"]["Environment"]["Variables"]
    pick = env["VMPIPE_PIPELINE"].value
    if pick[0] == "HasKvs":  # media streaming's own pipeline first (MediaStreaming false here)
        pick = pick[2].value
    if evaluate(tpl["Conditions"][pick[0]], tpl, {"Delivery": delivery}):
        path = os.path.join(ROOT, "etc", "pipeline.ini")
    else:
        path = pick[2].value.replace("/var/task", ROOT).replace("${Delivery}", delivery)
    text = open(path).read()
    assert ("plugin = notify-ses" in text) == ("email" in parts)
    assert ("plugin = notify-connect-task" in text) == ("task" in parts)
    assert ("plugin = notify-sms" in text) == ("sms" in parts)
