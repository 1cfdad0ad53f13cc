"""IMAP login with XOAUTH2 (``oauth2_token_command``) against a real Dovecot.

Dovecot's ``oauth2`` passdb checks each XOAUTH2 login by POSTing the bearer token to an
introspection URL (RFC 7662 style); here that URL is a tiny HTTP server on 127.0.0.1 that knows
one good token per user. This Dovecot is a separate instance from the session's (its config has
the extra passdb); PLAIN logins still work on it, which is how the test puts mail in.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from connectors import imap
from connectors.base import SourceConfig, SourceContext
from syncd.errors import NeedsReauthError
from syncd.secrets import SecretStore
from tests.conftest import Syncd
from tests.servers.dovecot import DOVECOT, Dovecot, ImapUser

pytestmark = pytest.mark.skipif(
    DOVECOT is None, reason="dovecot is not installed (apt dovecot-imapd)"
)

GOOD = "ya29.syncd-test-good-token-7f3a"  # distinctive, so a leak is easy to find
BAD = "ya29.syncd-test-expired-token-c01d"


class Introspection:
    """The token endpoint Dovecot asks: ``token=...`` in, ``{"active", "username"}`` out."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}  # token -> the user it belongs to
        self.asked: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                token = form.get("token", [""])[0]
                owner.asked.append(token)
                user = owner.tokens.get(token)
                answer = {"active": True, "username": user} if user else {"active": False}
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # keep pytest's output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/introspect"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def introspection() -> Iterator[Introspection]:
    server = Introspection()
    yield server
    server.close()


@pytest.fixture(scope="module")
def oauth_dovecot(introspection: Introspection) -> Iterator[Dovecot]:
    server = Dovecot(users=5, oauth2_introspection_url=introspection.url)
    yield server
    server.stop()


@pytest.fixture
def user(oauth_dovecot: Dovecot, introspection: Introspection) -> ImapUser:
    u = oauth_dovecot.add_user()
    introspection.tokens[GOOD + u.name] = u.name
    introspection.asked.clear()
    return u


def good_token(u: ImapUser) -> str:
    return GOOD + u.name


def put_mail(server: Dovecot, u: ImapUser) -> None:
    """Two messages, appended with an ordinary password login."""
    client = IMAPClient(server.host, server.port, ssl=False)
    client.login(u.name, u.password)
    try:
        for folder, sender, to, day in (
            ("INBOX", "Grace Hopper <grace@example.com>", u.name, 3),
            ("Sent", u.name, "Grace Hopper <grace@example.com>", 1),
        ):
            m = EmailMessage()
            m["From"], m["To"], m["Subject"] = sender, to, f"Lisbon {day}"
            m["Date"] = format_datetime(datetime(2024, 5, day, 9, tzinfo=UTC))
            m["Message-ID"] = f"<{day}.{u.name}>"
            m.set_content("The body is never read.\n")
            client.append(folder, m.as_bytes())
    finally:
        client.logout()


def source(server: Dovecot, u: ImapUser, token: str, **options: Any) -> SourceConfig:
    opts: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "security": "none",
        "username": u.name,
        "oauth2_token_command": ["printf", token],
        "reconnects": 0,
    }
    opts.update(options)
    return SourceConfig("mail", "imap", opts)


def context(tmp_path: Path) -> SourceContext:
    return SourceContext(
        name="mail",
        state_dir=tmp_path,
        secrets=SecretStore(tmp_path, use_keyring=False),
        sleep=lambda s: None,
    )


def leaks(token: str, user: str) -> list[bytes]:
    """The forms a token could leak in: as is, and inside the base64 XOAUTH2 string."""
    sasl = f"user={user}\1auth=Bearer {token}\1\1".encode()
    return [token.encode(), base64.b64encode(sasl)]


def files_containing(root: Path, needles: list[bytes]) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles)]


# ---------------------------------------------------------------------------- connector
def test_xoauth2_login_with_the_token_command_reads_mail(
    oauth_dovecot, introspection, user, tmp_path
):
    put_mail(oauth_dovecot, user)

    batches = list(
        imap.open(source(oauth_dovecot, user, good_token(user)), context(tmp_path)).fetch(None)
    )

    got = sorted((i.scope, i.occurred_at.day) for b in batches for i in b.upserts)
    assert got == [("INBOX", 3), ("Sent", 1)]
    # Dovecot checked the token with the introspection endpoint, and the login was XOAUTH2.
    assert introspection.asked == [good_token(user)]
    assert re.search(rf"Login: user=<{re.escape(user.name)}>, method=XOAUTH2", oauth_dovecot.log())


def test_refused_token_needs_reauth_in_one_line_without_the_token(
    oauth_dovecot, introspection, user, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    src = source(oauth_dovecot, user, BAD)

    with pytest.raises(NeedsReauthError) as e:
        list(imap.open(src, context(tmp_path)).fetch(None))

    msg = str(e.value)
    assert "\n" not in msg
    assert f"login as {user.name} refused" in msg and "token" in msg
    assert BAD not in msg
    assert introspection.asked == [BAD]  # refused by the token check, not by something else
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not any(n.decode() in logged for n in leaks(BAD, user.name))


def test_token_command_that_fails_needs_reauth(oauth_dovecot, introspection, user, tmp_path):
    src = source(oauth_dovecot, user, "", oauth2_token_command=["sh", "-c", "exit 3"])

    with pytest.raises(
        NeedsReauthError, match=r"oauth2_token_command: 'sh' gave no token \(exit status 3\)"
    ):
        list(imap.open(src, context(tmp_path)).fetch(None))
    assert introspection.asked == []  # nothing was sent to the server


# ---------------------------------------------------------------------------- CLI
def test_cli_sync_with_xoauth2_never_logs_or_stores_the_token(
    syncd: Syncd, oauth_dovecot, introspection, user, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)  # every logger, imapclient's protocol log included
    put_mail(oauth_dovecot, user)

    # The token comes from a file the user's OAuth helper keeps fresh (outside syncd's folders).
    vault = tmp_path / "vault"
    vault.mkdir()
    token_file = vault / "token"
    syncd.write_config(
        {
            "mail": {
                "type": "imap",
                **source(oauth_dovecot, user, "").options,
                "oauth2_token_command": ["cat", str(token_file)],
                "since": "2020-01-01",
            }
        },
        me={"emails": [user.name]},
    )

    def configure(token: str) -> None:
        token_file.write_text(token + "\n")

    configure(good_token(user))
    ok = syncd.run("sync")
    assert re.search(r"^mail: 2 new, 0 changed, 0 removed$", ok.stderr, re.M)
    (grace,) = syncd.json("people", "--as-of", "2024-06-01")
    assert grace["emails"] == ["grace@example.com"]

    # The token expires: the source needs re-auth, said in one line.
    configure(BAD)
    failed = syncd.run("sync", expect=1)
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("syncd: 1 of 1 sources failed: mail: ")
    assert f"login as {user.name} refused" in last and "syncd auth mail" in last
    assert "Traceback" not in failed.stderr + failed.stdout
    assert {s["name"]: s["state"] for s in syncd.json("status")["sources"]} == {
        "mail": "needs_reauth"
    }

    # A fresh token: `syncd auth` proves it and clears the state.
    configure(good_token(user))
    assert f"logged in as {user.name}" in syncd.run("auth", "mail").stdout
    syncd.run("sync")
    assert syncd.json("status")["sources"][0]["state"] == "ok"

    needles = leaks(good_token(user), user.name) + leaks(BAD, user.name)
    out = ok.stdout + ok.stderr + failed.stdout + failed.stderr
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not any(n.decode() in out + logged for n in needles)
    # Neither the config, the store, the state folder nor anything else of syncd's holds it.
    assert [p for p in files_containing(tmp_path, needles) if vault not in p.parents] == []
