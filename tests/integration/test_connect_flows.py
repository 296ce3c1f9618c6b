"""The contact-flow modules (etc/connect/): the contact flow's trigger
(voicemail-module.json), the contact record's with IVR recording
(voicemail-module-ctr.json) and with media streaming
(voicemail-module-kvs.json), and the task flow.  Each is well formed in the flow
language (every transition lands on a block, every block has its designer
position); the record variants invoke no function, mark the contact with the
attribute the template's stream filter and VMPIPE_CTR_FILTER's default look for,
and record or stream the caller as the flow language's reference spells the
actions (UpdateContactRecordingBehavior, UpdateContactMediaStreamingBehavior);
the module sets the contact attributes the notifiers read (by their defaults,
as `vmpipe plugins` prints them), and the task flow routes by the attribute
notify-connect-task sets."""
import json
import os
import re
import subprocess

import pytest
import yaml

from conftest import ROOT, VMPIPE
from test_template import Loader

DIR = os.path.join(ROOT, "etc", "connect")
MODULE = os.path.join(DIR, "voicemail-module.json")
TASK_FLOW = os.path.join(DIR, "voicemail-task-flow.json")


def module(name):
    with open(os.path.join(DIR, name)) as f:
        return json.load(f)


@pytest.mark.parametrize("name", ["voicemail-module.json", "voicemail-module-ctr.json", "voicemail-module-kvs.json"])
def test_well_formed(name):
    d = module(name)
    ids = [a["Identifier"] for a in d["Actions"]]
    assert len(ids) == len(set(ids)) and d["StartAction"] in ids
    for a in d["Actions"]:
        t = a.get("Transitions", {})
        for nxt in [t.get("NextAction")] + [e["NextAction"] for e in t.get("Errors", [])]:
            assert nxt is None or nxt in ids, (a["Identifier"], nxt)
    assert set(d["Metadata"]["ActionMetadata"]) == set(ids)
    # Every block but the last is reached.
    reached = {d["StartAction"]} | {a["Transitions"].get("NextAction") for a in d["Actions"]}
    assert set(ids) <= reached


@pytest.mark.parametrize("name,action", [("voicemail-module-ctr.json", "UpdateContactRecordingBehavior"),
                                         ("voicemail-module-kvs.json", "UpdateContactMediaStreamingBehavior")])
def test_record_variants(name, action):
    d = module(name)
    types = [a["Type"] for a in d["Actions"]]
    assert "InvokeLambdaFunction" not in types  # the contact record is the trigger
    with open(os.path.join(ROOT, "deploy", "template.yaml")) as f:
        params = yaml.load(f, Loader=Loader)["Parameters"]
    attrs = next(a for a in d["Actions"] if a["Type"] == "UpdateContactAttributes")["Parameters"]["Attributes"]
    assert attrs[params["CtrFilterAttribute"]["Default"]] == params["CtrFilterValue"]["Default"]
    assert "emailRecipient" in attrs and "RecipientName" in attrs
    acts = [a for a in d["Actions"] if a["Type"] == action]
    assert len(acts) == 2  # on before the caller speaks, off after
    if action == "UpdateContactMediaStreamingBehavior":
        assert "UpdateContactRecordingBehavior" not in types
        states = [a["Parameters"]["MediaStreamingState"] for a in acts]
        assert states == ["Enabled", "Disabled"]
        for a in acts:
            assert a["Parameters"]["MediaStreamType"] == "Audio"
            assert a["Parameters"]["Participants"] == [{"ParticipantType": "Customer", "MediaDirections": ["From"]}]
    else:
        states = [a["Parameters"]["RecordingBehavior"]["IVRRecordingBehavior"] for a in acts]
        assert states == ["Enabled", "Disabled"]


def default(plugin, option):
    out = subprocess.run([VMPIPE, "plugins"], capture_output=True, text=True, check=True).stdout
    block = out.split(plugin + " ", 1)[1]
    line = next(l for l in block.splitlines() if l.strip().startswith(option + " "))
    return re.search(r"\(default: ([^)]*)\)", line).group(1)


def actions(path):
    doc = json.load(open(path))
    assert doc["Version"] == "2019-10-30"
    acts = {a["Identifier"]: a for a in doc["Actions"]}
    assert doc["StartAction"] in acts
    for a in acts.values():
        t = a.get("Transitions", {})
        nexts = [t.get("NextAction")] + [e["NextAction"] for e in t.get("Errors", [])] + \
                [c["NextAction"] for c in t.get("Conditions", [])]
        for n in nexts:
            assert n is None or n in acts, (a["Identifier"], n)
    return acts


def test_module_sets_what_the_notifiers_read():
    acts = actions(MODULE)
    [attrs] = [a["Parameters"]["Attributes"] for a in acts.values()
               if a["Type"] == "UpdateContactAttributes"]
    for option in ("agent_attribute", "queue_attribute", "target_attribute"):
        first = default("notify-connect-task", option).split(",")[0]
        assert first in attrs, option
    assert default("notify-sms", "recipient_attribute") in attrs
    # The voicemail's queue is the one the caller was in.
    assert attrs["taskQueue"] == "$.Queue.ARN"
    # The attributes are set before the function is invoked (it reads them from the event).
    order = [a["Identifier"] for a in json.load(open(MODULE))["Actions"]]
    invoke = next(i for i, a in acts.items() if a["Type"] == "InvokeLambdaFunction")
    setter = next(i for i, a in acts.items() if a["Type"] == "UpdateContactAttributes")
    assert order.index(setter) < order.index(invoke)


def test_task_flow_routes_by_vmpipe_queue_arn():
    acts = actions(TASK_FLOW)
    [q] = [a for a in acts.values() if a["Type"] == "UpdateContactTargetQueue"]
    assert q["Parameters"]["QueueId"] == "$.Attributes.vmpipe_queue_arn"
    transfer = acts[q["Transitions"]["NextAction"]]
    assert transfer["Type"] == "TransferContactToQueue"
    # notify-connect-task sets that attribute on every task (plugins/notify-connect-task).
    src = open(os.path.join(ROOT, "plugins", "notify-connect-task", "connect_task.c")).read()
    assert '"vmpipe_queue_arn"' in src
