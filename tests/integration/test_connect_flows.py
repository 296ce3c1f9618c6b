"""etc/connect/: the flow module sets the contact attributes the notifiers
read (by their defaults, as `vmpipe plugins` prints them), and the task flow
routes by the attribute notify-connect-task sets.  Both are flow-language
documents whose every transition leads to an action of the document."""
import json
import os
import re
import subprocess

from conftest import ROOT, VMPIPE

MODULE = os.path.join(ROOT, "etc", "connect", "voicemail-module.json")
TASK_FLOW = os.path.join(ROOT, "etc", "connect", "voicemail-task-flow.json")


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
