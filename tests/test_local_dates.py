"""Every date a person reads is in ``[me] timezone``: `people`, `explain` and the digest agree
on each last contact, for users far west (UTC-10), at UTC and far east (UTC+13) of Greenwich,
with contacts close to midnight on either side; JSON keeps the instant, with its offset
(issue 15)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from builders import Event, Mail, write_ics, write_mbox
from conftest import Syncd

ADA = "Ada Lovelace <ada@example.org>"
AS_OF = "2026-09-01"

# The last contact with each person: near midnight UTC, Honolulu (10:00 UTC) or Tonga
# (11:00 UTC), so that the UTC date and the local date differ in at least one zone.
LAST = {
    "jamie@x.example": datetime(2026, 3, 10, 23, 30, tzinfo=UTC),  # Tonga: the 11th
    "kim@x.example": datetime(2026, 3, 10, 0, 30, tzinfo=UTC),  # Honolulu: the 9th
    "lee@x.example": datetime(2026, 3, 10, 10, 30, tzinfo=UTC),  # both: the 10th
    "max@x.example": datetime(2026, 3, 10, 11, 30, tzinfo=UTC),  # Tonga: the 11th
    "noa@x.example": datetime(2026, 3, 10, 9, 45, tzinfo=UTC),  # a meeting; Honolulu: the 9th
}
NAMES = {
    "jamie@x.example": "Jamie Doe",
    "kim@x.example": "Kim Park",
    "lee@x.example": "Lee Chan",
    "max@x.example": "Max Roe",
    "noa@x.example": "Noa Ito",
}
ZONES = ["Pacific/Honolulu", "UTC", "Pacific/Tongatapu"]  # UTC-10, UTC, UTC+13


@pytest.fixture(params=ZONES)
def zoned(request: pytest.FixtureRequest, syncd: Syncd) -> tuple[Syncd, ZoneInfo]:
    zone: str = request.param
    mails, events = [], []
    for address, when in LAST.items():
        earlier = when - timedelta(days=30)
        mails.append(Mail(ADA, [f"{NAMES[address]} <{address}>"], earlier, "Catch-up"))
        if address == "noa@x.example":
            events.append(
                Event(
                    "late-call",
                    when,
                    "Late call",
                    organizer="ada@example.org",
                    attendees=[(address, "ACCEPTED")],
                )
            )
        else:
            mails.append(Mail(ADA, [f"{NAMES[address]} <{address}>"], when, "Near midnight"))
    write_mbox(syncd.root / "mail.mbox", mails)
    write_ics(syncd.root / "cal.ics", events)
    syncd.write_config(
        {
            "mail": {"type": "mbox", "path": str(syncd.root / "mail.mbox")},
            "cal": {"type": "ics", "path": str(syncd.root / "cal.ics"), "since": "2020-01-01"},
        },
        me={"timezone": zone},
    )
    syncd.run("sync")
    return syncd, ZoneInfo(zone)


def _table(out: str) -> dict[str, tuple[str, str]]:
    """people's table: address -> (LAST CONTACT, STATUS)."""
    rows = {}
    for line in out.splitlines()[1:]:
        m = re.match(r"^(.+?)\s{2,}(\S+@\S+)\s{2,}(\S+)\s{2,}(.+?)\s{2,}(.+)$", line)
        assert m, line
        rows[m.group(2)] = (m.group(3), m.group(5))
    return rows


def test_people_explain_and_digest_agree_on_every_date(zoned: tuple[Syncd, ZoneInfo]) -> None:
    syncd, tz = zoned
    expected = {a: when.astimezone(tz).date() for a, when in LAST.items()}
    as_of_day = date.fromisoformat(AS_OF)
    table = _table(syncd.run("people", "--as-of", AS_OF).stdout)
    as_json = {p["emails"][0]: p for p in syncd.json("people", "--as-of", AS_OF)}
    digest = syncd.run("digest", "--as-of", AS_OF).stdout
    for address, day in expected.items():
        # people: the local date, and the days since counted in local days
        assert table[address][0] == day.isoformat(), address
        assert as_json[address]["days_since"] == (as_of_day - day).days
        # JSON: the instant itself, ISO 8601 with an offset
        stamp = datetime.fromisoformat(as_json[address]["last_contact"])
        assert stamp.utcoffset() is not None and stamp == LAST[address]
        # explain: the summary and the newest interaction, on the same local day
        out = syncd.run("explain", address, "--as-of", AS_OF).stdout
        days = (as_of_day - day).days
        assert f"Last contact: {day.isoformat()} ({days} days ago)" in out, out
        newest = re.search(r"^  \+ (\d{4}-\d\d-\d\d) \d\d:\d\d ", out, re.M)
        assert newest and newest.group(1) == day.isoformat(), out
        # the digest's text: "Last contact 6 months ago (Wed 11 Mar 2026):"
        block = digest[digest.index(f"<{address}>") :]
        shown = re.search(r"Last contact [^(]*\((\w{3} \d{1,2} \w{3} \d{4})\)", block)
        assert shown, block
        assert datetime.strptime(shown.group(1), "%a %d %b %Y").date() == day


def test_the_zones_really_move_the_dates() -> None:
    # The fixture's times are only a test if they fall on different days in different zones.
    days = {z: {a: w.astimezone(ZoneInfo(z)).date() for a, w in LAST.items()} for z in ZONES}
    assert days["Pacific/Honolulu"]["kim@x.example"] == date(2026, 3, 9)
    assert days["Pacific/Tongatapu"]["jamie@x.example"] == date(2026, 3, 11)
    assert days["UTC"]["max@x.example"] == date(2026, 3, 10)
    assert days["Pacific/Tongatapu"]["max@x.example"] == date(2026, 3, 11)
