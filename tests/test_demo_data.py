"""The demo's sample mailbox and calendar: well-formed, deterministic, and the cast's story.

Read back with the standard library and icalendar only (not syncd's own parsers), so that a
bug in the generator and a bug in a connector cannot hide each other.
"""

from __future__ import annotations

import email
import itertools
import mailbox
import statistics
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events

from syncd.demo_data import DemoSources, write_demo_sources

TODAY = date(2026, 11, 23)
LONDON = ZoneInfo("Europe/London")
ADA = {"ada@example.org", "ada.lovelace@gmail.com", "ada@lovelace.example"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSources:
    return write_demo_sources(tmp_path_factory.mktemp("demo"), TODAY)


@dataclass
class Msg:
    """One parsed message, with the fields the tests look at decoded once (parsing is slow)."""

    headers: Message  # compat32: raw header strings
    sender: str
    sender_name: str
    recipients: list[str]
    at: datetime
    subject: str
    labels: set[str]

    def __getitem__(self, name: str) -> str | None:
        value = self.headers[name]
        return None if value is None else str(value)

    @property
    def day(self) -> date:
        return self.at.astimezone(LONDON).date()


def decoded(value: str | None) -> str:
    return str(make_header(decode_header(value or "")))


def parse(raw: bytes) -> Msg:
    m = email.message_from_bytes(raw)
    name, address = getaddresses([decoded(m["From"])])[0]
    fields = [decoded(m[h]) for h in ("To", "Cc", "Bcc") if m[h] is not None]
    return Msg(
        headers=m,
        sender=address.lower(),
        sender_name=name,
        recipients=[a.lower() for _, a in getaddresses(fields)],
        at=parsedate_to_datetime(m["Date"]),
        subject=decoded(m["Subject"]),
        labels={x.strip() for x in m["X-Gmail-Labels"].split(",")},
    )


@pytest.fixture(scope="module")
def messages(demo: DemoSources) -> list[Msg]:
    box = mailbox.mbox(demo.mbox_path, create=False)
    try:
        return [parse(box.get_bytes(k)) for k in box.iterkeys()]
    finally:
        box.close()


@pytest.fixture(scope="module")
def occurrences(demo: DemoSources) -> list[icalendar.Event]:
    cal = icalendar.Calendar.from_ical(demo.ics_path.read_bytes())
    return list(
        recurring_ical_events.of(cal).between(TODAY - timedelta(days=800), TODAY + timedelta(60))
    )


def with_person(messages: list[Msg], *addresses: str) -> list[Msg]:
    """One-to-one mail between Ada and the person (either direction), oldest first."""
    found = [
        m
        for m in messages
        if (m.sender in addresses and set(m.recipients) <= ADA)
        or (m.sender in ADA and set(m.recipients) <= set(addresses))
    ]
    return sorted(found, key=lambda m: m.at)


def test_same_day_gives_the_same_bytes_and_another_day_shifts_the_dates(
    tmp_path: Path, demo: DemoSources
) -> None:
    again = write_demo_sources(tmp_path / "again", TODAY)
    assert again.mbox_path.read_bytes() == demo.mbox_path.read_bytes()
    assert again.ics_path.read_bytes() == demo.ics_path.read_bytes()
    later = write_demo_sources(tmp_path / "later", TODAY + timedelta(days=7))
    assert later.messages == demo.messages and later.events == demo.events
    first = email.message_from_bytes(later.mbox_path.read_bytes().split(b"\n", 1)[1])
    first_before = email.message_from_bytes(demo.mbox_path.read_bytes().split(b"\n", 1)[1])
    shift = parsedate_to_datetime(first["Date"]) - parsedate_to_datetime(first_before["Date"])
    assert shift == timedelta(days=7)


def test_mbox_holds_two_years_of_well_formed_messages(
    demo: DemoSources, messages: list[Msg]
) -> None:
    assert len(messages) == demo.messages > 1000
    ids = [str(m["Message-ID"]) for m in messages]
    assert len(set(ids)) == len(ids) and all(i.startswith("<") and i.endswith(">") for i in ids)
    days = [m.day for m in messages]
    assert TODAY - timedelta(days=731) <= min(days) and max(days) <= TODAY
    for m in messages:
        assert m["From"] and m["To"] and m["Subject"] is not None and m["X-Gmail-Labels"]
        assert m.headers.get_content_type() == "text/plain"
        assert 0 < len(m.headers.get_payload(decode=True)) < 200
    # Headers are 7-bit: non-ASCII names and subjects are RFC 2047 encoded words.
    raw = demo.mbox_path.read_bytes()
    headers = b"\n".join(block.split(b"\n\n", 1)[0] for block in raw.split(b"\nFrom "))
    assert headers.isascii()
    assert b"=?utf-8?" in headers


def test_non_ascii_names_and_subjects_decode(messages: list[Msg]) -> None:
    names = {m.sender_name for m in messages}
    assert {"Zoë Ångström", "Małgorzata Kowalska", "田中 博", "Émilie du Châtelet"} <= names
    subjects = {m.subject for m in messages}
    assert "Café on Saturday?" in subjects and "Zdjęcia z Krakowa" in subjects


def test_replies_thread_to_earlier_messages(messages: list[Msg]) -> None:
    by_id = {str(m["Message-ID"]): m for m in messages}
    replies = [m for m in messages if m["In-Reply-To"]]
    assert len(replies) > 300
    for m in replies:
        parent = by_id[str(m["In-Reply-To"])]
        assert str(m["References"]).split()[-1] == str(m["In-Reply-To"])
        assert m["X-GM-THRID"] == parent["X-GM-THRID"]
        assert m.at >= parent.at
    assert sum(m.subject.startswith("Re: ") for m in replies) > 300


def test_adas_mail_is_labelled_sent_and_uses_her_aliases(messages: list[Msg]) -> None:
    mine = [m for m in messages if m.sender in ADA]
    assert len(mine) > 300
    assert all(m.labels & {"Sent", "Draft"} for m in mine)
    assert {m.sender for m in mine} == {"ada@example.org", "ada.lovelace@gmail.com"}
    assert not any("Sent" in m.labels for m in messages if m.sender not in ADA)


def test_close_friend_wrote_weekly_until_two_months_ago(messages: list[Msg]) -> None:
    grace = with_person(messages, "grace.hopper@example.com", "grace@cobol.example")
    sent = [m for m in grace if "Draft" not in m.labels]
    days = sorted({m.day for m in sent})
    assert (
        statistics.median(b.toordinal() - a.toordinal() for a, b in itertools.pairwise(days)) == 7
    )
    assert days[-1] == TODAY - timedelta(days=61)
    assert sent[-1].subject == "Re: the Lisbon conference"
    # Two addresses over time (a config hint merges them), and an unsent draft since.
    assert {m.sender for m in sent} - ADA == {"grace.hopper@example.com", "grace@cobol.example"}
    drafts = [m for m in grace if "Draft" in m.labels]
    assert [m.day for m in drafts] == [TODAY - timedelta(days=20)]


def test_sister_writes_every_two_weeks_and_ada_answered(messages: list[Msg]) -> None:
    medora = with_person(messages, "medora.leigh@example.net")
    days = sorted({m.day for m in medora})
    gaps = [b.toordinal() - a.toordinal() for a, b in itertools.pairwise(days)]
    assert 12 <= statistics.median(gaps) <= 16 and max(gaps) <= 16
    assert days[-1] == TODAY - timedelta(days=4)
    assert medora[-1].sender in ADA  # nothing waiting on Ada


def test_two_people_wait_on_adas_reply(messages: list[Msg]) -> None:
    faraday = with_person(messages, "m.faraday@royal-institution.example")
    last = faraday[-1]
    assert last.sender == "m.faraday@royal-institution.example"
    assert last.subject == "Could you look at the induction figures?"
    assert last.day == TODAY - timedelta(days=6) and not last["In-Reply-To"]
    assert any(m.sender in ADA for m in faraday)  # an established correspondent
    emilie = with_person(messages, "emilie@cirey.example")
    assert [(m.sender, m.day) for m in emilie] == [
        ("emilie@cirey.example", TODAY - timedelta(days=2))
    ]


def test_mentor_and_former_colleague_show_their_rhythm_in_mail(
    messages: list[Msg],
) -> None:
    charles = with_person(messages, "charles@babbage.example")
    assert {m.subject.removeprefix("Re: ") for m in charles} == {"Notes from today's catch-up"}
    assert max(m.day for m in charles) == TODAY - timedelta(days=58)
    mary = with_person(messages, "mary.somerville@example.co.uk")
    assert max(m.day for m in mary) == TODAY - timedelta(days=170 - 3)


def test_mailbox_carries_the_noise_of_a_real_one(messages: list[Msg]) -> None:
    newsletters = [m for m in messages if m["List-Unsubscribe"] and not m["List-Id"]]
    assert {m.sender for m in newsletters} == {
        "sophie@analytical-review.example",
        "offers@babbage-co.example",
    }
    assert all(m["Precedence"] == "bulk" for m in newsletters if "sophie" in m.sender)
    listed = [m for m in messages if m["List-Id"]]
    assert len(listed) > 50 and {m["Precedence"] for m in listed} == {"list"}
    assert "lise.meitner@lab.example" in {m.sender for m in listed}  # a colleague, on a list
    senders = Counter(m.sender for m in messages)
    assert senders["notifications@github.example"] > 30 and senders["no-reply@bank.example"] > 20
    label_sets = Counter(lbl for m in messages for lbl in m.labels)
    for lbl in ("Sent", "Spam", "Category Promotions", "Category Updates", "Draft", "Inbox"):
        assert label_sets[lbl] > 0, lbl
    crowd = [m for m in messages if len(m.recipients) >= 15]
    assert {m.sender for m in crowd} == {"harriet@martineau.example", "ada@example.org"}
    auto = {str(m["Auto-Submitted"]) for m in messages if m["Auto-Submitted"]}
    assert auto == {"auto-replied", "auto-generated"}
    out_of_office = [m for m in messages if m["X-Autoreply"] == "yes"]
    assert [m.sender for m in out_of_office] == ["augustus@de-morgan.example"]
    bounce = [m for m in messages if m["Return-Path"] == "<>"]
    assert [m.sender for m in bounce] == ["mailer-daemon@googlemail.example"]
    assert any(str(m["Date"]).endswith("+0900") for m in messages)  # written in Tokyo


def test_calendar_parses_with_series_exceptions_and_crowds(
    demo: DemoSources, occurrences: list[icalendar.Event]
) -> None:
    cal = icalendar.Calendar.from_ical(demo.ics_path.read_bytes())
    assert str(cal["X-WR-TIMEZONE"]) == "Europe/London"
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["Europe/London"]
    masters = cal.walk("VEVENT")
    assert len(masters) == demo.events
    assert {str(e["RRULE"].to_ical().decode()).split(";")[0] for e in masters if "RRULE" in e} == {
        "FREQ=MONTHLY",
        "FREQ=WEEKLY",
    }

    def when(summary: str) -> list[date]:
        return sorted(
            e["DTSTART"].dt.date()
            for e in occurrences
            if str(e["SUMMARY"]).startswith(summary) and str(e.get("STATUS")) != "CANCELLED"
        )

    mentor = when("Monthly catch-up")
    assert mentor[-1] == TODAY - timedelta(days=58) and len(mentor) == 22  # 23 months, 1 skipped
    team = when("Weekly team sync")
    assert team[-1] > TODAY and min(team) < TODAY - timedelta(days=500)  # ongoing
    cancelled = [e for e in occurrences if str(e.get("STATUS")) == "CANCELLED"]
    assert sorted(str(e["SUMMARY"]) for e in cancelled) == ["Dinner with José", "Weekly team sync"]
    lunches = when("Lunch with Mary")
    assert lunches[-1] == TODAY - timedelta(days=167) and len(lunches) == 7
    assert when("Coffee with Chloé")[-1] == TODAY + timedelta(days=10)  # a future meeting
    all_hands = [e for e in occurrences if str(e["SUMMARY"]) == "Company all-hands"]
    assert len(all_hands) > 20 and len(all_hands[0]["ATTENDEE"]) == 40

    def partstat(e: icalendar.Event, address: str) -> str:
        attendees = e["ATTENDEE"] if isinstance(e["ATTENDEE"], list) else [e["ATTENDEE"]]
        return next(
            str(a.params["PARTSTAT"]) for a in attendees if a.lower() == f"mailto:{address}"
        )

    pitch = next(e for e in occurrences if "Mk II" in str(e["SUMMARY"]))
    assert partstat(pitch, "ada@example.org") == "DECLINED"
    assert partstat(pitch, "tom.sellers@vendor.example") == "ACCEPTED"
    trip = next(e for e in occurrences if str(e["SUMMARY"]) == "Lisbon conference")
    assert type(trip["DTSTART"].dt) is date and str(trip["TRANSP"]) == "TRANSPARENT"
    zoe = next(e for e in masters if str(e["SUMMARY"]) == "Weekly team sync")
    assert zoe["ORGANIZER"].params["CN"] == "Zoë Ångström"


def test_config_for_the_demo_is_valid_toml_with_the_people_hints(demo: DemoSources) -> None:
    config = tomllib.loads(demo.config_toml(Path("/tmp/store with space/syncd.db")))
    assert config["me"] == {
        "name": "Ada Lovelace",
        "emails": ["ada@example.org", "ada.lovelace@gmail.com", "ada@lovelace.example"],
        "timezone": "Europe/London",
    }
    assert config["store"]["path"] == "/tmp/store with space/syncd.db"
    assert config["sources"] == {
        "archive": {"type": "mbox", "path": str(demo.mbox_path)},
        "calendar": {"type": "ics", "path": str(demo.ics_path)},
    }
    people = {p["name"]: p for p in config["people"]}
    assert people["Grace Hopper"]["emails"] == ["grace@cobol.example", "grace.hopper@example.com"]
    assert people["Mary Somerville"]["every"] == "90d"
    birthday = date.fromisoformat(people["Medora Leigh"]["birthday"])
    assert birthday.replace(year=TODAY.year) == TODAY + timedelta(days=9)  # next week or so


@pytest.mark.parametrize(
    "today", [date(2026, 3, 1), date(2026, 10, 1), date(2026, 12, 31), date(2027, 1, 1)]
)
def test_any_day_gives_the_same_story(tmp_path: Path, demo: DemoSources, today: date) -> None:
    # 700 days before each is a 30th or 31st that the following month lacks (the all-hands
    # series starts the month after).
    other = write_demo_sources(tmp_path, today)
    assert (other.messages, other.events) == (demo.messages, demo.events)
