"""Sending the digest through a Google or Outlook source (``[digest] via = NAME``), end to end.

The real CLI signs in (`syncd auth`), syncs an mbox with an overdue friend, and sends the digest;
the message arrives at the HTTP fakes (Gmail ``messages.send``, Graph ``/me/sendMail``) exactly
as the connectors post it, and is checked as MIME there.
"""

from __future__ import annotations

import base64
import email
import email.policy
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from builders import Mail, at, write_mbox
from conftest import Syncd
from fakes.google_server import FakeGoogle
from fakes.ms_server import MsFake, tls_pair
from test_google_auth import browser, client_secrets

from syncd import sendlog
from syncd.cli_state import parse_as_of
from syncd.config import load_config
from syncd.digest import build_digest
from syncd.render import subject_line
from syncd.store import Store

__all__ = ["browser"]  # fixture shared with test_google_auth

AS_OF = "2026-05-01"
ADA = "Ada Lovelace <ada@example.org>"
MS_CLIENT_ID = "11111111-2222-3333-4444-555555555555"
MS_ME = "ada@contoso.example"


class Account:
    """One provider's fake, how a config names it, and what it received."""

    name: str
    api: str

    def table(self, tmp_path: Path, *, send: bool) -> dict[str, Any]:
        raise NotImplementedError

    def sent(self) -> list[EmailMessage]:
        raise NotImplementedError


class GoogleAccount(Account):
    name, api = "personal", "the Gmail API"

    def __init__(self, fake: FakeGoogle):
        self.fake = fake

    def table(self, tmp_path: Path, *, send: bool) -> dict[str, Any]:
        return {
            "type": "google",
            "client_secrets": str(client_secrets(self.fake, tmp_path)),
            "token_file": str(tmp_path / "personal.json"),
            "api_endpoint": self.fake.url,
            "since": "2020-01-01",
            "send_digest": send,
        }

    def sent(self) -> list[EmailMessage]:
        raws = self.fake.users["ada@example.org"].mailbox.sent
        return [parse(base64.urlsafe_b64decode(r)) for r in raws]


class OutlookAccount(Account):
    name, api = "work", "Microsoft Graph"

    def __init__(self, fake: MsFake):
        self.fake = fake

    def table(self, tmp_path: Path, *, send: bool) -> dict[str, Any]:
        return {
            "type": "outlook",
            "client_id": MS_CLIENT_ID,
            "authority": self.fake.authority("common"),
            "graph_endpoint": self.fake.graph_url,
            "since": "2020-01-01",
            "token_cache_file": str(tmp_path / "msal-cache.json"),
            "send_digest": send,
        }

    def sent(self) -> list[EmailMessage]:
        return [parse(m) for m in self.fake.sent]


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


@pytest.fixture(scope="module")
def ms_tls() -> tuple[Any, str]:
    return tls_pair()


@pytest.fixture(params=["google", "outlook"])
def account(
    request: pytest.FixtureRequest, ms_tls: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Account]:
    if request.param == "google":
        request.getfixturevalue("browser")  # `syncd auth` clicks through the fake consent page
        with FakeGoogle() as g:
            g.add_user("ada@example.org").add_calendar("ada@example.org", primary=True)
            g.auth_user = "ada@example.org"
            yield GoogleAccount(g)
    else:
        ctx, bundle = ms_tls
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", bundle)  # the fake's https certificate
        ms = MsFake(user=MS_ME, client_ids=(MS_CLIENT_ID,), tls=ctx).start()
        ms.auto_approve = True  # the user types the device code in a browser right away
        try:
            yield OutlookAccount(ms)
        finally:
            ms.stop()


def configure(syncd: Syncd, account: Account, tmp_path: Path, *, send: bool) -> None:
    """The account (sending the digest) plus an mbox where Bob, once weekly, went quiet."""
    mbox = syncd.root / "mail.mbox"
    if not mbox.exists():
        weekly = [at("2026-01-05") + timedelta(days=7 * i) for i in range(6)]
        write_mbox(mbox, [Mail(ADA, ["Bob Noyce <bob@x.example>"], w) for w in weekly])
    syncd.write_config(
        {
            account.name: account.table(tmp_path, send=send),
            "mail": {"type": "mbox", "path": str(mbox)},
        },
        me={"emails": ["ada@example.org", MS_ME]},
        digest={"via": account.name},
    )


def expected_subject_and_period(syncd: Syncd) -> tuple[str, str]:
    config = load_config(syncd.config_path)
    store = Store.open(syncd.store_path)
    try:
        d = build_digest(store, config, parse_as_of(AS_OF, config.me.timezone))
    finally:
        store.close()
    assert [p.emails[0] for p in d.people] == ["bob@x.example"]
    return subject_line(d), d.period


def send_state(syncd: Syncd, period: str) -> str | None:
    store = Store.open(syncd.store_path)
    try:
        row = sendlog.get(store, period)
        return row.state if row else None
    finally:
        store.close()


def test_digest_goes_out_once_through_the_account_and_force_sends_another(
    syncd: Syncd, account: Account, tmp_path: Path
) -> None:
    configure(syncd, account, tmp_path, send=True)
    syncd.run("auth", account.name)
    syncd.run("sync")
    subject, period = expected_subject_and_period(syncd)

    first = syncd.run("digest", "--send", "--as-of", AS_OF)

    assert first.stdout.strip() == (
        f"Sent the digest for {period} to ada@example.org through {account.api} ({account.name})."
    )
    (msg,) = account.sent()
    assert msg["Subject"] == subject
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Syncd-Digest"] == period
    assert msg["To"].addresses[0].addr_spec == "ada@example.org"
    assert msg.get_content_type() == "multipart/alternative"
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    assert "Bob Noyce" in text.get_content() and "Bob Noyce" in html.get_content()
    assert send_state(syncd, period) == "sent"

    again = syncd.run("digest", "--send", "--as-of", AS_OF)
    assert "already sent" in again.stdout and "nothing sent" in again.stdout
    assert len(account.sent()) == 1

    syncd.run("digest", "--send", "--force", "--as-of", AS_OF)
    one, two = account.sent()
    assert two["Subject"] == subject and two["X-Syncd-Digest"] == period
    assert one["Message-ID"] != two["Message-ID"]


def test_account_that_may_not_send_names_the_fix_and_the_digest_stays_unsent(
    syncd: Syncd, account: Account, tmp_path: Path
) -> None:
    configure(syncd, account, tmp_path, send=False)
    syncd.run("auth", account.name)  # signed in without the send permission
    syncd.run("sync")
    _, period = expected_subject_and_period(syncd)

    def refused() -> str:
        result = syncd.run("digest", "--send", "--as-of", AS_OF, expect=None)
        assert result.exit_code != 0
        assert "Traceback" not in result.output
        (line,) = result.stderr.strip().splitlines()  # one line
        assert account.name in line and "send_digest = true" in line
        assert f"syncd auth {account.name}" in line
        assert account.sent() == [] and send_state(syncd, period) != "sent"
        return line

    refused()
    # Turning send_digest on is not enough: the stored sign-in still lacks the permission.
    configure(syncd, account, tmp_path, send=True)
    refused()

    syncd.run("auth", account.name)
    sent = syncd.run("digest", "--send", "--as-of", AS_OF)
    assert f"through {account.api} ({account.name})" in sent.stdout
    assert len(account.sent()) == 1 and send_state(syncd, period) == "sent"
    syncd.run("digest", "--send", "--as-of", AS_OF)
    assert len(account.sent()) == 1


def withdraw_send(account: Account) -> None:
    """The user (or an admin) takes the send permission back at the provider."""
    if isinstance(account, GoogleAccount):
        from fakes.google_state import GMAIL_SEND

        f = account.fake
        for table in (f.refresh_tokens, f.access_tokens):
            for k, (who, scopes) in table.items():
                table[k] = (who, tuple(s for s in scopes if s != GMAIL_SEND))
    else:
        assert isinstance(account, OutlookAccount)
        account.fake.granted_scopes.discard("Mail.Send")


def test_send_permission_withdrawn_at_the_provider_names_the_fix(
    syncd: Syncd, account: Account, tmp_path: Path
) -> None:
    configure(syncd, account, tmp_path, send=True)
    syncd.run("auth", account.name)
    syncd.run("sync")
    _, period = expected_subject_and_period(syncd)
    withdraw_send(account)

    result = syncd.run("digest", "--send", "--as-of", AS_OF, expect=None)

    assert result.exit_code != 0 and "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert account.name in line and f"syncd auth {account.name}" in line, line
    assert account.sent() == [] and send_state(syncd, period) != "sent"
