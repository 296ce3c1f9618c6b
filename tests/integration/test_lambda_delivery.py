"""The new notifiers on Lambda in suspend mode, unchanged: `vmpipe lambda`
runs etc/aws/email-task-sms.ini (what the template's Delivery =
email-task-sms picks) in the simulated Lambda of test_lambda_suspend.py, and
the voicemail reaches the owner three ways, once each: an e-mail (SES fake),
an Amazon Connect Task (Connect fake) and an SMS (End User Messaging fake),
every request SigV4-checked."""
import os
import sys

from conftest import ROOT
from test_lambda_suspend import CID, call, checkpoint, make_world, settle  # noqa: F401 (fixture)

sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import connect_fake  # noqa: E402
import lambda_world  # noqa: E402
import sms_fake  # noqa: E402

INSTANCE = "abcdef01-2345-6789-abcd-ef0123456789"
FLOW = "11111111-aaaa-bbbb-cccc-000000000001"
OWNER_SMS = "+15555550187"


def test_email_task_and_sms_in_suspend_mode(make_world):  # noqa: F811
    creds = [(lambda_world.AKID, lambda_world.SECRET, None)]
    connect = connect_fake.ConnectFake(creds)
    connect.add_instance(INSTANCE, flows={FLOW: "vmpipe"})
    eum = sms_fake.EndUserMessagingFake(creds)
    for f in (connect, eum):
        f.skew_s = 10 * 365 * 86400  # vmpipe signs with its scaled clock
        f.start()
    try:
        w = make_world({"VMPIPE_PIPELINE": os.path.join(ROOT, "etc", "aws", "email-task-sms.ini"),
                        "AWS_ENDPOINT_URL_CONNECT": connect.url,
                        "AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2": eum.url,
                        "TASK_CONTACT_FLOW_ID": FLOW, "SMS_DEFAULT_RECIPIENT": OWNER_SMS})
        call(w)
        settle(w)
        w.wait(lambda: len(connect.tasks) == 1 and len(eum.messages) == 1, 60,
               "the task and the text")
        w.wait(w.idle, 60, "an idle function")
        rec = checkpoint(w)
    finally:
        connect.stop()
        eum.stop()
    assert rec["state"] == "done", rec
    assert len(w.ses.sends()) == 1 and len(connect.started()) == 1 and len(eum.requests()) == 1
    task = connect.tasks[0]["request"]
    assert task["ContactFlowId"] == FLOW and task["PreviousContactId"] == CID
    assert "call me back" in task["Description"]
    assert task["References"]["Recording"]["Type"] == "URL"
    [text] = eum.messages
    assert text["to"] == OWNER_SMS and "call me back" in text["body"]
    assert sorted(n["stage"] for n in rec["notifications"]) == ["notify", "notify.sms",
                                                                "notify.task"]
