"""The contact-flow modules (etc/connect/): the contact flow's trigger
(voicemail-module.json), the contact record's with IVR recording
(voicemail-module-ctr.json) and with media streaming
(voicemail-module-kvs.json).  Each is well formed in the flow language
(every transition lands on a block, every block has its designer position);
the record variants invoke no function, mark the contact with the attribute
the template's stream filter and VMPIPE_CTR_FILTER's default look for, and
record or stream the caller as the flow language's reference spells the
actions (UpdateContactRecordingBehavior, UpdateContactMediaStreamingBehavior)."""
import json
import os

import pytest
import yaml

from conftest import ROOT
from test_template import Loader

DIR = os.path.join(ROOT, "etc", "connect")


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
