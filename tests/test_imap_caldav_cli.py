"""IMAP and CalDAV sources through the real CLI, engine and store, against the session's real
Dovecot and Radicale (tests/servers/): only the config file tells syncd where they are."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import caldav as caldav_lib
import pytest
from imapclient import IMAPClient

from tests.conftest import Syncd
from tests.servers.dovecot import Dovecot, ImapUser
from tests.servers.radicale import DavUser, Radicale
from tests.test_carddav import make_addressbook, put_vcard

pytest_plugins = ["tests.servers.fixtures"]  # the session's real servers

IMAP_ENV = "SYNCD_TEST_CLI_IMAP_PASSWORD"
DAV_ENV = "SYNCD_TEST_CLI_DAV_PASSWORD"
AS_OF = "2024-06-01"
_ids = itertools.count()


@pytest.fixture
def imap_user(dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> ImapUser:
    u = dovecot.add_user()
    monkeypatch.setenv(IMAP_ENV, u.password)
    return u


@pytest.fixture
def dav_user(radicale: Radicale, monkeypatch: pytest.MonkeyPatch) -> DavUser:
    u = radicale.add_user()
    monkeypatch.setenv(DAV_ENV, u.password)
    return u


@pytest.fixture
def mailbox(dovecot: Dovecot, imap_user: ImapUser) -> Iterator[IMAPClient]:
    """The user's own mail client: how mail gets into the folders."""
    client = IMAPClient(dovecot.host, dovecot.port, ssl=False)
    client.login(imap_user.name, imap_user.password)
    yield client
    client.logout()


@pytest.fixture
def dav(radicale: Radicale, dav_user: DavUser) -> Iterator[Any]:
    """The user's own calendar app."""
    client = caldav_lib.DAVClient(
        radicale.url,
        username=dav_user.name,
        password=dav_user.password,
        ssl_verify_cert=str(radicale.pki.ca_file),
    )
    yield client
    client.close()


def message(sender: str, to: str, when: datetime, subject: str, **headers: str) -> bytes:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, to, subject
    m["Date"] = format_datetime(when)
    m["Message-ID"] = f"<{next(_ids)}.cli@test.example>"
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content("The body is never read.\n")
    return m.as_bytes()


def event(uid: str, start: str, organizer: str, *attendees: str, summary: str) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//syncd tests//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20240101T000000Z",
        f"DTSTART:{start}",
        f"DTEND:{start[:9]}{int(start[9:11]) + 1:02d}{start[11:]}",
        f"SUMMARY:{summary}",
        f"ORGANIZER:mailto:{organizer}",
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{organizer}",
        *(f"ATTENDEE;PARTSTAT=ACCEPTED;{a}" for a in attendees),
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
    return "\r\n".join(lines)


def put(dav: Any, collection: Any, name: str, data: str, content_type: str) -> None:
    url = f"{str(collection.url).rstrip('/')}/{name}"
    resp = dav.put(url, data, {"Content-Type": content_type})
    assert resp.status in (201, 204), (name, resp.status, resp.raw)


def write_config(
    syncd: Syncd,
    dovecot: Dovecot,
    radicale: Radicale,
    imap_user: ImapUser,
    dav_user: DavUser,
    **caldav_options: Any,
) -> None:
    syncd.write_config(
        {
            "mail": {
                "type": "imap",
                "host": dovecot.host,
                "port": dovecot.ssl_port,
                "security": "tls",
                "ca_file": str(dovecot.pki.ca_file),
                "username": imap_user.name,
                "password_env": IMAP_ENV,
                "since": "2020-01-01",
            },
            "cal": {
                "type": "caldav",
                "url": radicale.url,
                "username": dav_user.name,
                "password_env": DAV_ENV,
                "ca_file": str(radicale.pki.ca_file),
                "since": "2020-01-01",
                **caldav_options,
            },
        },
        me={"emails": [imap_user.name]},
    )


def people(syncd: Syncd) -> dict[str, dict[str, Any]]:
    """``syncd people --format json`` keyed by each person's first address."""
    out = syncd.json("people", "--as-of", AS_OF)
    return {p["emails"][0]: p for p in out}


def snapshot(syncd: Syncd) -> tuple[Any, ...]:
    store = syncd.open_store()
    try:
        rows = store.conn.execute(
            "SELECT source, source_id, occurred_at, flags FROM interactions ORDER BY 1, 2"
        ).fetchall()
        cursors = {s.name: s.cursor for s in store.source_states()}
        return store.counts(), rows, cursors
    finally:
        store.close()


def test_sync_then_people_shows_mail_and_meetings_and_a_wrong_password_needs_reauth(
    syncd: Syncd,
    dovecot: Dovecot,
    radicale: Radicale,
    imap_user: ImapUser,
    dav_user: DavUser,
    mailbox: IMAPClient,
    dav: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    me = imap_user.name
    mailbox.append(
        "Sent",
        message(
            me, "Grace Hopper <grace@example.com>", datetime(2024, 5, 1, 10, tzinfo=UTC), "Lisbon"
        ),
    )
    mailbox.append(
        "INBOX",
        message(
            "Grace Hopper <grace@example.com>",
            me,
            datetime(2024, 5, 3, 9, tzinfo=UTC),
            "Re: Lisbon",
        ),
    )
    # Bulk mail and people who only write to the user are facts, not relationships.
    mailbox.append(
        "INBOX",
        message(
            "Shop <news@shop.example>",
            me,
            datetime(2024, 5, 4, 9, tzinfo=UTC),
            "Sale",
            List_Unsubscribe="<mailto:unsubscribe@shop.example>",
        ),
    )
    mailbox.append(
        "INBOX",
        message("Stranger <s@example.net>", me, datetime(2024, 5, 5, 9, tzinfo=UTC), "Hello"),
    )
    cal = dav.principal().make_calendar(name="Work", cal_id="work")
    put(
        dav,
        cal,
        "q3.ics",
        event(
            "q3-planning",
            "20240520T100000Z",
            me,
            "CN=Heidi Klum:mailto:Heidi@Example.com",
            summary="Q3 planning",
        ),
        "text/calendar",
    )
    write_config(syncd, dovecot, radicale, imap_user, dav_user)

    first = syncd.run("sync")
    assert re.search(r"^mail: 4 new, 0 changed, 0 removed$", first.stderr, re.M)
    assert re.search(r"^cal: 1 new, 0 changed, 0 removed$", first.stderr, re.M)

    found = people(syncd)
    assert sorted(found) == ["grace@example.com", "heidi@example.com"]
    grace, heidi = found["grace@example.com"], found["heidi@example.com"]
    assert (grace["name"], grace["emails"]) == ("Grace Hopper", ["grace@example.com"])
    assert datetime.fromisoformat(grace["last_contact"]) == datetime(2024, 5, 3, 9, tzinfo=UTC)
    assert (heidi["name"], heidi["emails"]) == ("Heidi Klum", ["heidi@example.com"])
    assert datetime.fromisoformat(heidi["last_contact"]) == datetime(2024, 5, 20, 10, tzinfo=UTC)
    assert grace["tracked"] and heidi["tracked"]
    everyone = {p["emails"][0] for p in syncd.json("people", "--as-of", AS_OF, "--all")}
    assert "s@example.net" in everyone and "news@shop.example" not in found

    # A second run with nothing new changes nothing.
    before = snapshot(syncd)
    again = syncd.run("sync")
    assert re.search(r"^mail: 0 new, 0 changed, 0 removed$", again.stderr, re.M)
    assert re.search(r"^cal: 0 new, 0 changed, 0 removed$", again.stderr, re.M)
    assert snapshot(syncd) == before

    # A wrong password fails that source alone, in one line; the calendar still syncs.
    monkeypatch.setenv(IMAP_ENV, "not the password")
    put(
        dav,
        cal,
        "lunch.ics",
        event(
            "lunch", "20240525T120000Z", me, "CN=Grace:mailto:grace@example.com", summary="Lunch"
        ),
        "text/calendar",
    )
    failed = syncd.run("sync", expect=1)
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("syncd: 1 of 2 sources failed: mail: ")
    assert f"login as {me} refused" in last and "syncd auth mail" in last
    assert "Traceback" not in failed.stderr + failed.stdout
    assert datetime.fromisoformat(people(syncd)["grace@example.com"]["last_contact"]) == datetime(
        2024, 5, 25, 12, tzinfo=UTC
    )

    status = syncd.run("status").stdout
    assert re.search(r"^mail \(imap\): needs reauth; last success ", status, re.M)
    assert re.search(r"^\s+fix: syncd auth mail$", status, re.M)
    assert re.search(r"^cal \(caldav\): ok; ", status, re.M)
    by_name = {s["name"]: s for s in syncd.json("status")["sources"]}
    assert (
        by_name["mail"]["state"] == "needs_reauth" and by_name["mail"]["fix"] == "syncd auth mail"
    )

    # `syncd auth mail` checks the password again: refused while wrong, then clears the state.
    refused = syncd.run("auth", "mail", expect=1)
    assert f"login as {me} refused" in refused.stderr and "Traceback" not in refused.stderr
    monkeypatch.setenv(IMAP_ENV, imap_user.password)
    ok = syncd.run("auth", "mail")
    assert f"logged in as {me}" in ok.stdout and "mail: signed in" in ok.stdout
    syncd.run("sync")
    by_name = {s["name"]: s for s in syncd.json("status")["sources"]}
    assert by_name["mail"]["state"] == "ok" and by_name["mail"]["last_error"] is None


def test_carddav_contact_merges_addresses_names_the_person_and_brings_the_birthday(
    syncd: Syncd,
    dovecot: Dovecot,
    radicale: Radicale,
    imap_user: ImapUser,
    dav_user: DavUser,
    mailbox: IMAPClient,
    dav: Any,
) -> None:
    me = imap_user.name
    mailbox.append(
        "Sent",
        message(me, "Heidi <heidi.personal@home.example>", datetime(2024, 5, 10, tzinfo=UTC), "Hi"),
    )
    cal = dav.principal().make_calendar(name="Work", cal_id="work")
    put(
        dav,
        cal,
        "review.ics",
        event(
            "review", "20240520T100000Z", me, "CN=H. K.:mailto:heidi@work.example", summary="Review"
        ),
        "text/calendar",
    )
    book = make_addressbook(dav)
    put_vcard(
        dav,
        book,
        "heidi.vcf",
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:heidi\r\nFN:Heidi Klum\r\n"
        "EMAIL:heidi@work.example\r\nEMAIL:Heidi.Personal@home.example\r\n"
        "BDAY:--0610\r\nEND:VCARD\r\n",
    )
    write_config(syncd, dovecot, radicale, imap_user, dav_user)

    result = syncd.run("sync")
    assert re.search(r"^cal: 1 new, 0 changed, 0 removed, 1 contacts$", result.stderr, re.M)

    (heidi,) = syncd.json("people", "--as-of", AS_OF)
    assert heidi["name"] == "Heidi Klum"
    assert sorted(heidi["emails"]) == ["heidi.personal@home.example", "heidi@work.example"]
    assert datetime.fromisoformat(heidi["last_contact"]) == datetime(2024, 5, 20, 10, tzinfo=UTC)
    assert heidi["contact_days"] == 2  # the mail and the meeting count for one person

    soon = syncd.json("digest", "--as-of", AS_OF)["birthdays"]
    assert [(b["name"], b["on"], b["in_days"]) for b in soon] == [("Heidi Klum", "2024-06-10", 9)]
    assert syncd.json("digest", "--as-of", "2024-05-01")["birthdays"] == []  # 40 days ahead

    # A second sync reads nothing again, contacts included.
    again = syncd.run("sync")
    assert re.search(r"^cal: 0 new, 0 changed, 0 removed$", again.stderr, re.M)
