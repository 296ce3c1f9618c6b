"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, a free port.

    with SmtpServer(tmp_path, users={"vm": "s3cret"}) as srv:
        ...  # url = srv.url, ca_file = srv.cert
        srv.messages  # [Received(mail_from, rcpt_tos, data, login), ...]

- tls="starttls" (default): plain connection, STARTTLS offered and required
  before MAIL; tls="smtps": implicit TLS; tls="none": no TLS at all.
- With `users`, AUTH (PLAIN and LOGIN) is required, and only offered after TLS.
- Scripted replies: data_replies=["451 4.3.0 Try again later"] answers the
  first DATA with 451 and every later one normally; rcpt_replies maps an
  address to the reply its RCPT TO gets ("550 5.1.1 No such user").
- size_limit=N: aiosmtpd's data_size_limit, advertised as EHLO "SIZE N" and
  enforced as aiosmtpd does (552 at MAIL FROM for a declared SIZE=n over it,
  552 after DATA for more data); size_limit=0: no SIZE advertised, no limit
  (Postfix's message_size_limit = 0).  Default: aiosmtpd's 32 MiB.
- reject_non_fqdn_helo=True: RCPT TO is refused as Postfix's
  reject_non_fqdn_helo_hostname refuses it (postfix/src/smtpd/smtpd_check.c,
  reject_non_fqdn_hostname(): a HELO name without a dot, not an address
  literal, gets "504 5.5.2 <name>: Helo command rejected: need
  fully-qualified hostname" at RCPT, smtpd_delay_reject being the default).
  Received.helo is the name the client gave in EHLO.
- The certificate is self-signed for localhost / 127.0.0.1, made by openssl at
  construction; trust it with ca_file = srv.cert.

Run on Debian's /usr/bin/python3 (python3-aiosmtpd).
"""
import os
import socket
import ssl
import subprocess
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Received:
    def __init__(self, mail_from, rcpt_tos, data, login, helo=None):
        self.helo = helo
        self.mail_from = mail_from
        self.rcpt_tos = list(rcpt_tos)
        self.data = data  # bytes as stored: dot-unstuffed, CRLF line ends
        self.login = login

    def __repr__(self):
        return f"<Received from={self.mail_from} to={self.rcpt_tos} {len(self.data)} bytes>"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(directory, cn="localhost"):
    """A self-signed certificate + key (PEM) valid for localhost and 127.0.0.1."""
    cert = os.path.join(str(directory), "smtp-cert.pem")
    key = os.path.join(str(directory), "smtp-key.pem")
    if not os.path.exists(cert):
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", key, "-out", cert, "-subj", f"/CN={cn}",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True)
    return cert, key


class _Handler:
    def __init__(self, server):
        self.server = server

    async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
        helo = session.host_name or ""
        if self.server.reject_non_fqdn_helo and not helo.startswith("[") and "." not in helo:
            return f"504 5.5.2 <{helo}>: Helo command rejected: need fully-qualified hostname"
        reply = self.server.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp, session, envelope):
        with self.server.lock:
            self.server.data_attempts += 1
            if self.server.data_replies:
                return self.server.data_replies.pop(0)
            login = session.auth_data if session.authenticated else None
            self.server.messages.append(
                Received(envelope.mail_from, envelope.rcpt_tos, envelope.original_content, login,
                         session.host_name))
            n = len(self.server.messages)
        return f"250 2.0.0 Ok: queued as Q{n}"


class SmtpServer:
    def __init__(self, directory, tls="starttls", users=None, data_replies=None,
                 rcpt_replies=None, size_limit=None, reject_non_fqdn_helo=False):
        self.tls = tls
        self.reject_non_fqdn_helo = reject_non_fqdn_helo
        self.size_limit = size_limit
        self.users = dict(users or {})
        self.data_replies = list(data_replies or [])
        self.rcpt_replies = {k.lower(): v for k, v in (rcpt_replies or {}).items()}
        self.messages = []
        self.auth_attempts = []  # (mechanism, login, ok)
        self.data_attempts = 0
        self.lock = threading.Lock()
        self.port = free_port()
        self.cert, self.key = make_cert(directory) if tls != "none" else (None, None)
        self.controller = None

    @property
    def url(self):
        return f"{'smtps' if self.tls == 'smtps' else 'smtp'}://127.0.0.1:{self.port}"

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = False
        login = None
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode()
            ok = self.users.get(login) == auth_data.password.decode()
        with self.lock:
            self.auth_attempts.append((mechanism, login, ok))
        return AuthResult(success=ok, handled=False, auth_data=login)

    def start(self):
        ctx = None
        if self.cert:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.cert, self.key)
        kwargs = dict(hostname="127.0.0.1", port=self.port, ready_timeout=10)
        smtp_kwargs = {}
        if self.size_limit is not None:
            smtp_kwargs["data_size_limit"] = self.size_limit or None
        if self.tls == "starttls":
            smtp_kwargs.update(tls_context=ctx, require_starttls=True)
        elif self.tls == "smtps":
            kwargs["ssl_context"] = ctx
        if self.users:
            # aiosmtpd only counts STARTTLS as TLS; an smtps connection is TLS
            # from the first byte, so AUTH needs no further condition there.
            smtp_kwargs.update(authenticator=self._authenticate, auth_required=True,
                               auth_require_tls=self.tls == "starttls")
        self.controller = Controller(_Handler(self), **kwargs, **smtp_kwargs)
        self.controller.start()
        return self

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":  # a manual peer: python3 smtp_server.py DIR
    import sys
    import time
    srv = SmtpServer(sys.argv[1] if len(sys.argv) > 1 else ".", users={"vm": "secret"}).start()
    print(srv.url, "ca_file =", srv.cert, flush=True)
    try:
        while True:
            time.sleep(1)
            for m in srv.messages:
                print(m)
            srv.messages.clear()
    except KeyboardInterrupt:
        srv.stop()
