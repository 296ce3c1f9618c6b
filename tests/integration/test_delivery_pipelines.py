"""etc/aws/*.ini, the pipelines deploy/template.yaml's Delivery parameter
picks: each loads (`vmpipe check`) with the variables the template sets, runs
the notifiers its name says, and shares [pipeline], [locate], [transcribe]
and the e-mail [notify] with etc/pipeline.ini word for word (so a fix there
cannot miss them)."""
import glob
import os
import re

import pytest

from conftest import ROOT, run_vmpipe

FILES = sorted(glob.glob(os.path.join(ROOT, "etc", "aws", "*.ini")))
ENV = {"BASE_PATH": "vm-bucket/connect/CallRecordings", "EMAIL_SENDER": "voicemail@example.com",
       "TASK_CONTACT_FLOW_ID": "11111111-aaaa-bbbb-cccc-000000000001",
       "TASK_DEFAULT_QUEUE_ARN": "arn:aws:connect:us-east-1:123456789012:instance/"
                                 "abcdef01-2345-6789-abcd-ef0123456789/queue/q-1",
       "SMS_DEFAULT_RECIPIENT": "+15555550187", "AWS_REGION": "us-east-1"}


def sections(text):
    """{section: body without comments} of an INI text."""
    out, cur = {}, None
    for line in text.splitlines():
        if line.startswith(";") or not line.strip():
            continue
        m = re.match(r"\[(.+)\]", line)
        if m:
            cur = m.group(1)
            out[cur] = []
        elif cur:
            out[cur].append(line)
    return out


def test_every_delivery_has_its_file():
    names = sorted(os.path.basename(f)[:-4] for f in FILES)
    assert names == sorted(["task", "email-task", "email-sms", "task-sms", "email-task-sms"])


@pytest.mark.parametrize("path", FILES, ids=lambda p: os.path.basename(p))
def test_loads_and_runs_what_its_name_says(path):
    r = run_vmpipe("check", "-c", path, env=ENV)
    assert r.code == 0, r
    parts = os.path.basename(path)[:-4].split("-")
    assert ("notify-ses" in r.out) == ("email" in parts)
    assert ("notify-connect-task" in r.out) == ("task" in parts)
    assert ("notify-sms" in r.out) == ("sms" in parts)


@pytest.mark.parametrize("path", FILES, ids=lambda p: os.path.basename(p))
def test_shares_the_base_pipelines_sections(path):
    base = sections(open(os.path.join(ROOT, "etc", "pipeline.ini")).read())
    mine = sections(open(path).read())
    for name in ("pipeline", "locate", "transcribe"):
        assert mine[name] == base[name], name
    if "email" in os.path.basename(path):
        assert mine["notify"] == base["notify"]


def test_a_task_pipeline_without_its_flow_is_refused():
    env = dict(ENV)
    env.pop("TASK_CONTACT_FLOW_ID")
    r = run_vmpipe("check", "-c", os.path.join(ROOT, "etc", "aws", "email-task.ini"), env=env)
    assert r.code == 78, r
    assert "TASK_CONTACT_FLOW_ID" in r.err
