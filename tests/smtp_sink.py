"""A real SMTP server on 127.0.0.1 for the delivery tests: aiosmtpd, with STARTTLS or implicit
TLS (certificates from tests.servers.tls, made by trustme) and a login, keeping every message
it accepts."""

from __future__ import annotations

import ssl
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from servers.net import free_port
from servers.tls import TestPKI, make_pki

USER, PASSWORD = "ada@example.org", "s3cret pass"


class _Handler:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == (
        USER,
        PASSWORD,
    )
    return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535


class SmtpSink:
    """``mode``: starttls | tls | none; ``rogue``: serve a certificate from an untrusted CA."""

    def __init__(self, pki: TestPKI, mode: str = "starttls", *, rogue: bool = False):
        self.pki, self.mode = pki, mode
        self.handler = _Handler()
        self.port = free_port()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        if rogue:
            ctx.load_cert_chain(pki.rogue_cert_file, pki.rogue_key_file)
        else:
            ctx.load_cert_chain(pki.cert_file, pki.key_file)
        kwargs: dict[str, Any] = {"authenticator": _authenticator, "auth_required": True}
        if mode == "starttls":
            kwargs.update(tls_context=ctx, require_starttls=True)
            self.controller = Controller(
                self.handler, hostname="127.0.0.1", port=self.port, **kwargs
            )
        elif mode == "tls":
            # aiosmtpd only counts STARTTLS as TLS for AUTH; here the whole session is TLS.
            kwargs["auth_require_tls"] = False
            self.controller = Controller(
                self.handler, hostname="127.0.0.1", port=self.port, ssl_context=ctx, **kwargs
            )
        else:
            self.controller = Controller(
                self.handler,
                hostname="127.0.0.1",
                port=self.port,
                auth_required=False,
                auth_require_tls=False,
            )

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        out = []
        for _frm, _to, raw in self.handler.received:
            msg = BytesParser(policy=policy.default).parsebytes(raw)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
        return out

    def smtp_table(self) -> dict[str, Any]:
        """The ``[smtp]`` table that reaches this server."""
        table: dict[str, Any] = {"host": "127.0.0.1", "port": self.port, "security": self.mode}
        if self.mode != "none":
            table.update(
                username=USER,
                password_env="SYNCD_TEST_SMTP_PASSWORD",
                ca_file=str(self.pki.ca_file),
            )
        return table


def pki_in(directory: Path) -> TestPKI:
    return make_pki(directory)
