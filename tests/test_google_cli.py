"""The Google source through the real CLI, engine and store, pointed at the fake server by
the config keys ``api_endpoint`` and ``token_file`` alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes.google_server import FakeGoogle
from fakes.google_state import event, person
from test_google_auth import browser, client_secrets

__all__ = ["browser"]  # fixture shared with test_google_auth

ME = "ada@example.org"
NOW = datetime.now(UTC).replace(microsecond=0)
ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//syncd tests//EN
{events}END:VCALENDAR
"""
VEVENT = """BEGIN:VEVENT
UID:{day}@tests
DTSTAMP:20260101T000000Z
DTSTART:{day}T100000Z
DTEND:{day}T110000Z
SUMMARY:Coffee
ORGANIZER:mailto:{me}
ATTENDEE;PARTSTAT=ACCEPTED:mailto:grace@example.org
END:VEVENT
"""


def write_ics(path: Path, *days: str) -> None:
    path.write_text(ICS.format(events="".join(VEVENT.format(day=d, me=ME) for d in days)))


@pytest.fixture
def fake():
    with FakeGoogle() as f:
        user = f.add_user(ME)
        f.auth_user = ME
        for i in range(5):
            user.mailbox.add(
                sender=ME,
                to=f"friend{i}@example.com",
                when=NOW - timedelta(days=i),
                labels=["SENT"],
            )
            user.mailbox.add(
                sender=f"friend{i}@example.com", to=ME, when=NOW - timedelta(days=i, hours=3)
            )
        user.add_calendar(ME, primary=True).put(
            event(
                "m1",
                NOW - timedelta(days=2),
                NOW - timedelta(days=2, hours=-1),
                organizer=ME,
                attendees=[{"email": ME, "self": True}, {"email": "heidi@example.com"}],
            )
        )
        user.contacts.put(
            person("people/c1", "Heidi Klum", ["heidi@example.com", "hk@home.example"])
        )
        yield f


def test_cli_auth_then_sync_then_revoked_token_marks_needs_reauth_and_syncs_the_others(
    fake: FakeGoogle, syncd: Any, tmp_path: Path, browser: Any
) -> None:
    cal = tmp_path / "cal.ics"
    write_ics(cal, "20260105")
    syncd.write_config(
        {
            "personal": {
                "type": "google",
                "client_secrets": str(client_secrets(fake, tmp_path)),
                "token_file": str(tmp_path / "personal.json"),
                "api_endpoint": fake.url,
                "since": "2020-01-01",
            },
            "cal": {"type": "ics", "path": str(cal)},
        },
        me={"emails": [ME]},
    )
    auth = syncd.run("auth", "personal")
    assert browser.urls[0] in auth.output
    assert "personal: signed in" in auth.output
    assert json.loads((tmp_path / "personal.json").read_text())["token_uri"] == fake.url + "token"

    syncd.run("sync")
    store = syncd.open_store()
    personal = store.source_state("personal")
    assert personal.account == ME and personal.last_error is None
    assert personal.cursor["gmail"]["history_id"]
    first = store.counts()
    store.close()
    assert first["interactions"] == 10 + 1 + 1  # mail, the Google meeting, the ics meeting

    # A second run with nothing new changes nothing.
    syncd.run("sync")
    store = syncd.open_store()
    assert store.counts() == first
    store.close()

    fake.revoke()
    write_ics(cal, "20260105", "20260112")  # something new for the other source
    result = syncd.run("sync", expect=1)

    assert "1 of 2 sources failed: personal:" in result.stderr
    assert "syncd auth personal" in result.stderr and "invalid_grant" in result.stderr
    store = syncd.open_store()
    assert store.source_state("personal").auth_state == "needs_reauth"
    assert store.source_state("cal").last_error is None
    assert store.counts()["interactions"] == first["interactions"] + 1
    store.close()
