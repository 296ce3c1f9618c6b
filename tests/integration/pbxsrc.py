"""PBX mails byte for byte as the PBXs' own code writes them (for `vmpipe sendmail`).

Each function follows one function of the PBX source, named in its docstring,
at these commits (fetched from GitHub):

  asterisk/asterisk   f0c1c1a7b79b0f8cc0311649bf36824cbeee30a9 (2026-08-06)
      apps/app_voicemail.c: make_email_file(), add_email_attachment(),
      sendpage(), strip_control_and_high(), check_mime(),
      ast_str_encode_mime(), ast_str_quote(); ENDL ("\\n", "\\r\\n" with
      IMAP_STORAGE); main/utils.c: ast_base64_encode_file() (72 columns,
      a line end after the last line); configs/samples/voicemail.conf.sample
      (format=wav49|gsm|wav: only the first format is attached; serveremail
      asterisk; emaildateformat %A, %B %d, %Y at %r; no charset: ISO-8859-1).
  signalwire/freeswitch cc93a683ca6e1f8f47c1d6e38bd2daf8fa6a7b1c (2026-08-21)
      src/mod/applications/mod_voicemail/mod_voicemail.c: deliver_vm() (the
      template split at its first empty line into headers and body, the
      headers' last line end dropped, "\\nX-Voicemail-Length: %u" appended,
      the built-in headers without a template, priority 3, email-from),
      src/switch_utils.c: switch_simple_email() (MIME-Version and the
      multipart/mixed Content-Type before the template's headers, the
      attachment's part, its own base64: a line end after every 72nd
      character, none after the last, padding uncounted, then
      "\\n\\n--XXXX_boundary_XXXX--\\n.\\n"); conf/vanilla/voicemail.tpl,
      conf/vanilla/notify-voicemail.tpl (reproduced below: the templates
      whose output is tested); conf/vanilla/mime.types (wav: audio/x-wave,
      its first line for the extension); ${RFC2822_DATE} is set nowhere in
      src/, so the stock template's Date: is empty.

Everything is bytes: the PBXs write the bytes of their configuration and of
the caller id as they are.
"""
import base64

# ------------------------------------------------------------------ Asterisk

ENDL = b"\n"


def _strip_control_and_high(s, arch):
    """strip_control_and_high(): `*input < 32` on a plain char, which is
    signed on x86-64 (bytes >= 0x80 are negative: dropped) and unsigned on
    arm64 (kept); into a 256-byte buffer."""
    out = bytearray()
    for c in s:
        if c < 32 or (arch == "x86_64" and c >= 0x80):
            continue
        out.append(c)
        if len(out) == 255:
            break
    return bytes(out)


def _signed(c):
    return c - 256 if c >= 128 else c


def _check_mime(s):
    """check_mime(): anything outside 32..126 (signed char) or a special."""
    return any(_signed(c) > 126 or _signed(c) < 32 or bytes([c]) in b'()<>@,:;/"[]?.=' for c in s)


def _encode_mime(s, charset, preamble, postamble):
    """ast_str_encode_mime(): Q-encoded words of at most ~76 columns, joined by spaces."""
    end = b""
    tmp = b"=?" + charset + b"?Q?"
    first = True
    for c in s:
        need = _signed(c) < 33 or _signed(c) > 126 or bytes([c]) in b'()<>@,:;/"[]?.=_'
        if ((first and need and preamble + len(tmp) > 70) or (first and not need and preamble + len(tmp) > 72)
                or (not first and need and len(tmp) > 70) or (not first and not need and len(tmp) > 72)):
            end += (b"" if first else b" ") + tmp + b"?="
            tmp = b"=?" + charset + b"?Q?"
            first = False
        if need and c == 0x20:
            tmp += b"_"
        elif need:
            tmp += b"=%02X" % c
        else:
            tmp += bytes([c])
    end += (b"" if first else b" ") + tmp + b"?=" + (b" " if len(tmp) + postamble > 74 else b"")
    return end


def _quote(s):
    """ast_str_quote()."""
    return b'"' + s.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def ast_base64(data, endl=ENDL):
    """ast_base64_encode_file(): 72 columns, a line end after the last line too."""
    s = base64.b64encode(data)
    return endl.join(s[i:i + 72] for i in range(0, len(s), 72)) + endl


def _b(x):
    return x.encode() if isinstance(x, str) else x


def asterisk_voicemail(audio=None, *, fmt="WAV", msgnum=0, mailbox="1234", fullname="Pat Owner",
                       email="pat@example.com", cidnum="5551234", cidname="John Doe",
                       charset="ISO-8859-1", serveremail="asterisk", host="pbx.example.com",
                       pid=4242, rand=1804289383, date="Sun, 29 Nov 2026 20:44:05 +0100",
                       emaildate="Sunday, November 29, 2026 at 08:44:05 PM", duration=7,
                       intro=None, forwarded=None, endl=ENDL, arch="x86_64"):
    """make_email_file() for the mailcmd (imap = 0), default emailsubject,
    emailbody and fromstring; `audio` None is attach=no; `intro` the
    introduction of a forward (attach2: msgNNNN then msgintroNNNN);
    `forwarded` (origcallerid, origdate) for the forwarded body.  msgnum is
    app_voicemail's 0-based index: the Subject says msgnum + 1, the file
    msg%04d of msgnum."""
    E = endl
    cidnum, cidname, fullname, email = _b(cidnum), _b(cidname), _b(fullname), _b(email)
    charset = _b(charset)
    enc_cidnum = _strip_control_and_high(cidnum, arch) if cidnum is not None else b""
    enc_cidname = _strip_control_and_high(cidname, arch) if cidname is not None else b""
    who = _b(serveremail) if b"@" in _b(serveremail) else _b(serveremail) + b"@" + _b(host)
    dur = b"%d:%02d" % (duration // 60, duration % 60)
    out = b"Date: " + _b(date) + E
    out += b"From: Asterisk PBX <" + who + b">" + E
    out += b"To:"
    emails = email.split(b"|")
    for i, addr in enumerate(emails):
        nxt = i + 1 < len(emails)
        if _check_mime(fullname):
            enc = _encode_mime(fullname, charset, len("To: ") if i == 0 else 0, len(addr) + 3 + (1 if nxt else 0))
            *heads, last = enc.split(b" ")
            for h in heads:
                out += b" " + h + E
            out += b" " + last + b" <" + addr + b">" + (b"," if nxt else b"") + E
        else:
            out += b" " + _quote(fullname) + b" <" + addr + b">" + (b"," if nxt else b"") + E
    out += b"Subject: [PBX]: New message %d in mailbox %s" % (msgnum + 1, _b(mailbox)) + E
    out += b"Message-ID: <Asterisk-%d-%d-%s-%d@%s>" % (msgnum + 1, rand, _b(mailbox), pid, _b(host)) + E
    if cidnum:
        out += b"X-Asterisk-CallerID: " + enc_cidnum + E
    if cidname:
        out += b"X-Asterisk-CallerIDName: " + enc_cidname + E
    out += b"MIME-Version: 1.0" + E
    bound = b"----voicemail_%d%s%d%d" % (msgnum + 1, _b(mailbox), pid, rand)
    if audio is not None:
        out += b'Content-Type: multipart/mixed; boundary="' + bound + b'"' + E
        out += E + E + b"This is a multi-part message in MIME format." + E + E
        out += b"--" + bound + E
    out += b"Content-Type: text/plain; charset=" + charset + E + b"Content-Transfer-Encoding: 8bit" + E + E
    who_called = cidname or cidnum or b"an unknown caller"
    if forwarded:
        out += (b"Dear " + fullname + b":" + E + E + b"\tJust wanted to let you know you were just forwarded"
                b" a " + dur + b" long message (number %d)" % (msgnum + 1) + E + b"in mailbox " + _b(mailbox)
                + b" from " + who_called + b", on " + _b(emaildate) + E + b"(originally sent by "
                + _b(forwarded[0]) + b" on " + _b(forwarded[1]) + b")" + E
                + b"so you might want to check it when you get a chance.  Thanks!" + E + E
                + b"\t\t\t\t--Asterisk" + E + E)
    else:
        out += (b"Dear " + fullname + b":" + E + E + b"\tJust wanted to let you know you were just left a "
                + dur + b" long message (number %d)" % (msgnum + 1) + E + b"in mailbox " + _b(mailbox)
                + b" from " + who_called + b", on " + _b(emaildate) + b" so you might" + E
                + b"want to check it when you get a chance.  Thanks!" + E + E + b"\t\t\t\t--Asterisk" + E + E)
    if audio is not None:
        parts = [(b"msg%04d.%s" % (msgnum, _b(fmt)), audio)]
        if intro is not None:
            parts.append((b"msgintro%04d.%s" % (msgnum, _b(fmt)), intro))
        mime = b"application/" if fmt.lower() == "ogg" else b"audio/x-"
        for i, (name, data) in enumerate(parts):
            out += b"--" + bound + E
            out += b"Content-Type: " + mime + _b(fmt) + b'; name="' + name + b'"' + E
            out += b"Content-Transfer-Encoding: base64" + E
            out += b"Content-Description: Voicemail sound attachment." + E
            out += b'Content-Disposition: attachment; filename="' + name + b'"' + E + E
            out += ast_base64(data, E)
            if i == len(parts) - 1:
                out += E + E + b"--" + bound + b"--" + E + b"." + E
    return out


def asterisk_pager(*, mailbox="1234", fullname="Pat Owner", pager="5551234567@pager.example.com",
                   cidnum="5551234", cidname="John Doe", serveremail="asterisk", host="pbx.example.com",
                   date="Sun, 29 Nov 2026 20:44:05 +0100",
                   pagerdate="Sunday, November 29, 2026 at 08:44:05 PM", duration=7):
    """sendpage() with no pagerfromstring, pagersubject or pagerbody: no MIME,
    no Message-ID, no X-Asterisk-* header."""
    who = _b(serveremail) + b"@" + _b(host)
    out = b"Date: " + _b(date) + b"\n"
    out += b"From: Asterisk PBX <" + who + b">" + ENDL
    out += b"To: " + _quote(_b(fullname)) + b" <" + _b(pager) + b">" + ENDL
    out += b"Subject: New VM" + ENDL + ENDL
    dur = b"%d:%02d" % (duration // 60, duration % 60)
    out += (b"New " + dur + b" long  msg in box " + _b(mailbox) + b"\nfrom "
            + (_b(cidname) or _b(cidnum) or b"unknown") + b", on " + _b(pagerdate))
    return out


# ---------------------------------------------------------------- FreeSWITCH

# conf/vanilla/voicemail.tpl (notify-voicemail.tpl differs only in its To:, "<${voicemail_notify_email}>").
VOICEMAIL_TPL = """From: "${voicemail_caller_id_name}" <${voicemail_caller_id_number}@${voicemail_domain}>
Date: ${RFC2822_DATE}
To: ${voicemail_email}
Subject: Voicemail from "${voicemail_caller_id_name}" <${voicemail_caller_id_number}> ${voicemail_message_len}
X-Priority: ${voicemail_priority}
X-Mailer: FreeSWITCH

Content-Type: multipart/alternative; 
	boundary="000XXX000"

--000XXX000
Content-Type: text/plain; charset=ISO-8859-1; Format=Flowed
Content-Disposition: inline
Content-Transfer-Encoding: 7bit

Created: ${voicemail_time}
From: "${voicemail_caller_id_name}" <${voicemail_caller_id_number}>
Duration: ${voicemail_message_len}
Account: ${voicemail_account}@${voicemail_domain}

--000XXX000
Content-Type: text/html; charset=ISO-8859-1
Content-Disposition: inline
Content-Transfer-Encoding: 7bit

<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<META http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">
<title>Voicemail from "${voicemail_caller_id_name}" <${voicemail_caller_id_number}> ${voicemail_message_len}</title>
<meta content="text/html; charset=iso-8859-1" http-equiv="content-type"/>
</head>
<body>

<font face=arial>
<b>Message From "${voicemail_caller_id_name}" <A HREF="tel:${voicemail_caller_id_number}">${voicemail_caller_id_number}</A></b><br>
<hr noshade size=1>
Created: ${voicemail_time}<br>
Duration: ${voicemail_message_len}<br>
Account: ${voicemail_account}@${voicemail_domain}<br>
</font>

</body>
</html>
--000XXX000--
"""

NOTIFY_TPL = VOICEMAIL_TPL.replace("To: ${voicemail_email}", "To: <${voicemail_notify_email}>")

# The headers docs/pbx.md suggests adding (optional since vmpipe reads the stock ones).
EXTRA_HEADERS = ("X-Voicemail-Caller-ID-Number: ${voicemail_caller_id_number}\n"
                 "X-Voicemail-Caller-ID-Name: ${voicemail_caller_id_name}\n"
                 "X-Voicemail-Account: ${voicemail_account}\n"
                 "X-Voicemail-Domain: ${voicemail_domain}\n"
                 "X-Voicemail-UUID: ${voicemail_uuid}\n")


def with_extra_headers(tpl):
    head, body = tpl.split("\n\n", 1)
    return head + "\n" + EXTRA_HEADERS.rstrip("\n") + "\n\n" + body


def _expand(text, vars_):
    """switch_event_expand_headers(): ${name} -> its value, "" when unset."""
    out, i = "", 0
    while i < len(text):
        j = text.find("${", i)
        if j < 0:
            return out + text[i:]
        k = text.find("}", j)
        out += text[i:j] + vars_.get(text[j + 2:k], "")
        i = k + 1
    return out


def fs_base64(data):
    """switch_simple_email()'s encoder: a "\\n" after every 72nd character, none at the end."""
    s = base64.b64encode(data).decode()
    pad = len(s) - len(s.rstrip("="))
    body = s[:len(s) - pad]
    out = "".join(c + ("\n" if (i + 1) % 72 == 0 else "") for i, c in enumerate(body))
    return out + "=" * pad


def freeswitch_voicemail(audio=None, *, template=VOICEMAIL_TPL, account="1001", domain="pbx.example.org",
                         cid_number="5551000", cid_name="Extension 1001", email="owner@example.org",
                         notify_email=None, uuid="3f2a9c1e-7d7b-4a8e-9b51-0c2d4e6f8a90", seconds=12,
                         vm_time="Tuesday, December 01 2026, 10 15 AM", ext="wav",
                         mime_type="audio/x-wave", storage="/var/lib/freeswitch/storage/voicemail"):
    """deliver_vm() + switch_simple_email(): returns (mail, argv) where argv is
    what mod_voicemail gives the mailer-app: -f FROM [mailer-app-args] TO
    (FROM: email-from of the vanilla profile, ${voicemail_account}@${voicemail_domain}).
    `template` None: no template-file, mod_voicemail's built-in headers and body.
    `audio` None: vm-attach-file false."""
    hh, mm, ss = seconds // 3600, seconds // 60 % 60, seconds % 60
    v = {"voicemail_account": account, "voicemail_domain": domain,
         "voicemail_caller_id_number": cid_number, "voicemail_caller_id_name": cid_name,
         "voicemail_time": vm_time, "voicemail_uuid": uuid, "voicemail_priority": "3",
         "voicemail_email": email, "voicemail_message_len": "%02d:%02d:%02d" % (hh, mm, ss),
         "voicemail_file_path": f"{storage}/default/{domain}/{account}/msg_{uuid}.{ext}"}
    if notify_email:
        v["voicemail_notify_email"] = notify_email
    if template is None:
        headers = (f"From: FreeSWITCH mod_voicemail <{account}@{domain}>\n"
                   f"Subject: Voicemail from {cid_name} {cid_number}\nX-Priority: 3")
        body = f"{seconds} second Voicemail from {cid_name} {cid_number}"
    else:
        head, body = template.split("\n\n", 1)
        headers, body = _expand(head, v), _expand(body, v)
        if headers.endswith("\n"):
            headers = headers[:-1]
    header_string = headers + f"\nX-Voicemail-Length: {seconds}"
    bound = "XXXX_boundary_XXXX"
    has_ct = "content-type" in body.lower()
    use_bound = audio is not None or has_ct
    out = ""
    if use_bound:
        out += f'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="{bound}"\n'
    out += header_string + "\n\n"
    if use_bound:
        out += f"--{bound}\n" if has_ct else f"--{bound}\nContent-Type: text/plain\n\n"
    out += body
    if audio is not None:
        name = f"msg_{uuid}.{ext}"
        out += (f'\n\n--{bound}\nContent-Type: {mime_type}; name="{name}"\n'
                "Content-ID: <ATTACHED@freeswitch.org>\n"
                "Content-Transfer-Encoding: base64\n"
                "Content-Description: Sound attachment.\n"
                f'Content-Disposition: attachment; filename="{name}"\n\n')
        out += fs_base64(audio)
    if use_bound:
        out += f"\n\n--{bound}--\n.\n"
    argv = ["-f", f"{account}@{domain}"]
    return out.encode("utf-8"), argv, (notify_email or email)
