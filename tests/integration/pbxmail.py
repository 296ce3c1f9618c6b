"""Voicemail e-mails for the older `vmpipe sendmail` tests and the benchmark.

Thin wrappers over pbxsrc.py, which builds each mail as the PBX's own code
writes it (app_voicemail.c make_email_file(); mod_voicemail.c deliver_vm() and
switch_utils.c switch_simple_email(); the commits are named there):

asterisk_mail(): the mailcmd mail (imap = 0) with default settings: LF line
ends, From: Asterisk PBX <asterisk@HOST> unquoted, X-Asterisk-CallerID /
-CallerIDName only, Message-ID <Asterisk-MSGNUM-RANDOM-MAILBOX-PID@HOST>, the
recording as msgNNNN.FMT typed audio/x-FMT, base64 at 72 columns with a line
end after the last line, a lone "." after the closing boundary.

freeswitch_mail(): the vanilla voicemail.tpl with the X-Voicemail-* headers
docs/pbx.md offers as a refinement; MIME-Version and the multipart/mixed
Content-Type first, wav typed audio/x-wave, base64 without a final line end.
"""
from pbxsrc import VOICEMAIL_TPL, asterisk_voicemail, freeswitch_voicemail, with_extra_headers


def _text(b):
    return b.decode("utf-8", "surrogateescape")


def asterisk_mail(audio, fmt="WAV", mime=None, to='"Pat Owner" <pat@example.com>',
                  cidnum="5551234", cidname="John Doe", mailbox="1234", msgnum=1, attach=True):
    """msgnum as the Subject counts it (app_voicemail's index + 1); `mime` is
    what Asterisk derives from the format ("audio/x-" + fmt) and only checked."""
    assert mime in (None, "audio/x-" + fmt), "Asterisk types a part audio/x-FORMAT"
    name, _, addr = to.rpartition(" <")
    return _text(asterisk_voicemail(audio if attach else None, fmt=fmt, msgnum=msgnum - 1,
                                    mailbox=mailbox, fullname=name.strip('"'), email=addr.rstrip(">"),
                                    cidnum=cidnum, cidname=cidname))


def freeswitch_mail(audio, uuid="3f2a9c1e-7d7b-4a8e-9b51-0c2d4e6f8a90", to="owner@example.org",
                    number="5551000", name="Jane Caller", account="1000",
                    domain="pbx.example.org", seconds=12):
    mail, _, _ = freeswitch_voicemail(audio, template=with_extra_headers(VOICEMAIL_TPL), account=account,
                                      domain=domain, cid_number=number, cid_name=name, email=to,
                                      uuid=uuid, seconds=seconds)
    return _text(mail)
