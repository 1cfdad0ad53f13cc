"""The Outlook source through the real CLI and store, and sending the digest through Graph.

Same https fake as test_outlook_sync.py; the CLI finds it through the config keys
``authority`` and ``graph_endpoint`` alone (plus REQUESTS_CA_BUNDLE for the test CA).
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fakes.ms_server import MsFake
from test_outlook_sync import CLIENT_ID, ME, ctx, fake, make_source, seed, sign_in, sleeps, tls

from connectors import outlook
from syncd.errors import DeliveryError

__all__ = ["ctx", "fake", "sleeps", "tls"]  # fixtures shared with test_outlook_sync

ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//syncd tests//EN
{events}END:VCALENDAR
"""
VEVENT = """BEGIN:VEVENT
UID:{uid}@tests
DTSTAMP:20260101T000000Z
DTSTART:{day}T100000Z
DTEND:{day}T110000Z
SUMMARY:Coffee
ORGANIZER:mailto:{me}
ATTENDEE;PARTSTAT=ACCEPTED:mailto:grace@example.org
END:VEVENT
"""


def _ics(path: Path, *days: str) -> None:
    events = "".join(VEVENT.format(uid=d, day=d, me=ME) for d in days)
    path.write_text(ICS.format(events=events))


def test_cli_sync_reports_the_revoked_outlook_source_and_syncs_the_others(
    fake: MsFake, syncd: Any, tmp_path: Path
) -> None:
    seed(fake)
    fake.auto_approve = True  # the user types the code in a browser right away
    cal = tmp_path / "cal.ics"
    _ics(cal, "20260105")
    syncd.write_config(
        {
            "work": {
                "type": "outlook",
                "client_id": CLIENT_ID,
                "authority": fake.authority("common"),
                "graph_endpoint": fake.graph_url,
                "since": "2020-01-01",
                "token_cache_file": str(tmp_path / "msal-cache.json"),
            },
            "cal": {"type": "ics", "path": str(cal)},
        },
        me={"emails": [ME]},
    )
    auth = syncd.run("auth", "work")
    assert "https://microsoft.com/devicelogin" in auth.output
    assert f"Signed in as {ME}" in auth.output

    syncd.run("sync")
    store = syncd.open_store()
    work = store.source_state("work")
    assert work.account == ME and work.last_error is None
    assert work.cursor["lanes"]["inbox"]["done"] is True
    n_first = store.counts()
    store.close()

    fake.revoke()
    _ics(cal, "20260105", "20260112")  # something new for the other source
    result = syncd.run("sync", expect=1)

    assert "work" in result.stderr and "syncd auth work" in result.stderr
    assert "invalid_grant" in result.stderr
    assert "1 of 2 sources failed: work:" in result.stderr
    store = syncd.open_store()
    assert store.source_state("work").auth_state == "needs_reauth"
    assert store.source_state("cal").last_error is None
    assert store.counts()["interactions"] == n_first["interactions"] + 1
    store.close()


def test_send_message_posts_the_mime_message_base64_encoded(fake: MsFake, ctx: Any) -> None:
    source = make_source(fake, send_digest=True)
    sign_in(fake, source, ctx)
    msg = EmailMessage()
    msg["From"] = ME
    msg["To"] = ME
    msg["Subject"] = "Your week: 3 people to catch up with"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content("Grace Hopper: last contact 94 days ago.")

    outlook.send_message(source, ctx, msg)

    assert len(fake.sent) == 1
    got = email.message_from_bytes(fake.sent[0], policy=email.policy.default)
    assert got["Auto-Submitted"] == "auto-generated"
    assert got["Subject"] == msg["Subject"]
    assert got.get_content().strip() == "Grace Hopper: last contact 94 days ago."


def test_send_message_without_send_digest_says_how_to_enable_it(fake: MsFake, ctx: Any) -> None:
    source = make_source(fake)
    sign_in(fake, source, ctx)
    with pytest.raises(DeliveryError, match="send_digest = true"):
        outlook.send_message(source, ctx, EmailMessage())
    assert fake.sent == []


def test_send_digest_turned_on_after_sign_in_needs_a_new_sign_in(fake: MsFake, ctx: Any) -> None:
    sign_in(fake, make_source(fake), ctx)  # granted without Mail.Send
    fake.expire_access_tokens()
    msg = EmailMessage()
    msg.set_content("x")
    with pytest.raises(Exception, match=r"AADSTS65001|consent") as err:
        outlook.send_message(make_source(fake, send_digest=True), ctx, msg)
    assert type(err.value).__name__ == "NeedsReauthError"
    assert fake.sent == []
