"""Voicemail e-mails shaped as the PBXs write them, for the `vmpipe sendmail` tests.

asterisk_mail(): app_voicemail's make_email_file() for its mailcmd (imap = 0):
LF line ends, X-Asterisk-CallerID / -CallerIDName, Message-ID
<Asterisk-MSGNUM-RANDOM-MAILBOX-PID@HOST>, the text part, the recording as
msg0000.WAV (format=wav49), .gsm or .wav in base64 lines of 72, and a lone
"." after the closing boundary.

freeswitch_mail(): switch_simple_email() with mod_voicemail's vanilla
voicemail.tpl plus the X-Voicemail-* headers docs/pbx.md asks for: the
template's multipart/alternative inside the multipart/mixed, X-Voicemail-Length
appended by mod_voicemail, the recording as msg_UUID.wav.
"""
import base64


def _b64(data, eol="\n"):
    s = base64.b64encode(data).decode()
    return eol.join(s[i:i + 72] for i in range(0, len(s), 72)) + eol


def asterisk_mail(audio, fmt="WAV", mime="audio/x-WAV", to='"Pat Owner" <pat@example.com>',
                  cidnum="5551234", cidname="John Doe", mailbox="1234", msgnum=1, attach=True):
    bound = f"----voicemail_{msgnum}{mailbox}4242846930886"
    h = ["Date: Sun, 29 Nov 2026 20:44:05 +0100",
         "From: \"Asterisk PBX\" <asterisk@pbx.example.com>",
         f"To: {to}",
         f"Subject: [PBX]: New message {msgnum} in mailbox {mailbox}",
         f"Message-ID: <Asterisk-{msgnum}-1804289383-{mailbox}-4242@pbx.example.com>"]
    if cidnum:
        h.append(f"X-Asterisk-CallerID: {cidnum}")
    if cidname:
        h.append(f"X-Asterisk-CallerIDName: {cidname}")
    h.append("MIME-Version: 1.0")
    out = "\n".join(h) + "\n"
    if attach:
        out += (f'Content-Type: multipart/mixed; boundary="{bound}"\n\n\n'
                f"This is a multi-part message in MIME format.\n\n--{bound}\n")
    out += ("Content-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: 8bit\n\n"
            "Dear Pat Owner:\n\n\tJust wanted to let you know you were just left a 0:07 long "
            f"message (number {msgnum})\nin mailbox {mailbox} from {cidname} <{cidnum}>, on Sunday, "
            "November 29, 2026 at 08:44:05 PM so you might\nwant to check it when you get a "
            "chance.  Thanks!\n\n\t\t\t\t--Asterisk\n\n")
    if attach:
        name = f"msg{msgnum - 1:04d}.{fmt}"
        out += (f'--{bound}\nContent-Type: {mime}; name="{name}"\n'
                "Content-Transfer-Encoding: base64\n"
                "Content-Description: Voicemail sound attachment.\n"
                f'Content-Disposition: attachment; filename="{name}"\n\n')
        out += _b64(audio)
        out += f"\n\n--{bound}--\n.\n"
    return out


def freeswitch_mail(audio, uuid="3f2a9c1e-7d7b-4a8e-9b51-0c2d4e6f8a90", to="owner@example.org",
                    number="5551000", name="Jane Caller", account="1000",
                    domain="pbx.example.org", seconds=12):
    bound = "XXXX_boundary_XXXX"
    out = (f'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="{bound}"\n'
           f'From: "{name}" <{number}@{domain}>\n'
           "Date: Tue, 01 Dec 2026 10:15:00 +0000\n"
           f"To: {to}\n"
           f'Subject: Voicemail from "{name}" <{number}> 00:00:{seconds:02d}\n'
           "X-Priority: 3\nX-Mailer: FreeSWITCH\n"
           f"X-Voicemail-Caller-ID-Number: {number}\n"
           f"X-Voicemail-Caller-ID-Name: {name}\n"
           f"X-Voicemail-Account: {account}\n"
           f"X-Voicemail-Domain: {domain}\n"
           f"X-Voicemail-UUID: {uuid}\n"
           f"X-Voicemail-Length: {seconds}\n\n"
           f"--{bound}\n"
           'Content-Type: multipart/alternative; \n\tboundary="000XXX000"\n\n'
           "--000XXX000\nContent-Type: text/plain; charset=ISO-8859-1; Format=Flowed\n"
           "Content-Disposition: inline\nContent-Transfer-Encoding: 7bit\n\n"
           f"Created: Tuesday, December 01 2026, 10 15 AM\nDuration: 00:00:{seconds:02d}\n"
           f"Account: {account}@{domain}\n\n"
           "--000XXX000\nContent-Type: text/html; charset=ISO-8859-1\n"
           "Content-Disposition: inline\nContent-Transfer-Encoding: 7bit\n\n<html></html>\n"
           "--000XXX000--\n\n"
           f"--{bound}\n"
           f'Content-Type: audio/x-wav; name="msg_{uuid}.wav"\n'
           "Content-ID: <ATTACHED@freeswitch.org>\n"
           "Content-Transfer-Encoding: base64\n"
           "Content-Description: Sound attachment.\n"
           f'Content-Disposition: attachment; filename="msg_{uuid}.wav"\n\n')
    out += _b64(audio)
    out += f"\n\n--{bound}--\n.\n"
    return out
