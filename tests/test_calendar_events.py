"""iCalendar -> Interactions: recurrence, time zones, participants, flags, bad data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors import calendar_events
from connectors.calendar_events import interactions_from_calendar, parse_calendar
from syncd.models import Flag, Interaction, Participant, Skip

WINDOW = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))


def ics(*events: str, head: str = "") -> bytes:
    body = "".join(f"BEGIN:VEVENT\n{e.strip()}\nEND:VEVENT\n" for e in events)
    text = f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n{head}{body}END:VCALENDAR\n"
    return text.replace("\n", "\r\n").encode()


def run(
    data: bytes, timezone: str = "Europe/London", window: tuple[datetime, datetime] = WINDOW
) -> tuple[list[Interaction], list[Skip]]:
    cal = parse_calendar(data, "test.ics")
    items = list(
        interactions_from_calendar(
            cal,
            scope="test.ics",
            window_start=window[0],
            window_end=window[1],
            timezone=timezone,
        )
    )
    return (
        [i for i in items if isinstance(i, Interaction)],
        [i for i in items if isinstance(i, Skip)],
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


WEEKLY = """
UID:weekly-1
SUMMARY:Team sync
DTSTART;TZID=Europe/Berlin:20240304T100000
DTEND;TZID=Europe/Berlin:20240304T110000
RRULE:FREQ=WEEKLY;COUNT=5
EXDATE;TZID=Europe/Berlin:20240311T100000
ORGANIZER;CN=Heidi:mailto:heidi@example.org
ATTENDEE;PARTSTAT=ACCEPTED:mailto:ada@example.org
"""

MOVED = """
UID:weekly-1
RECURRENCE-ID;TZID=Europe/Berlin:20240318T100000
SUMMARY:Team sync (moved)
DTSTART;TZID=Europe/Berlin:20240319T150000
DTEND;TZID=Europe/Berlin:20240319T160000
ORGANIZER;CN=Heidi:mailto:heidi@example.org
ATTENDEE;PARTSTAT=DECLINED:mailto:ada@example.org
"""


def test_weekly_rule_with_exdate_and_moved_override():
    found, skipped = run(ics(WEEKLY, MOVED))
    assert skipped == []
    by_id = {i.source_id: i for i in found}
    # 5 weeks, minus the EXDATE; the moved one keeps the id of the slot it replaces.
    assert sorted(by_id) == [
        "weekly-1/2024-03-04T09:00:00Z",
        "weekly-1/2024-03-18T09:00:00Z",
        "weekly-1/2024-03-25T09:00:00Z",
        "weekly-1/2024-04-01T08:00:00Z",  # Berlin summer time from March 31
    ]
    moved = by_id["weekly-1/2024-03-18T09:00:00Z"]
    assert moved.occurred_at == utc(2024, 3, 19, 14)
    assert moved.ends_at == utc(2024, 3, 19, 15)
    assert moved.subject == "Team sync (moved)"
    assert moved.participants[1].response == "declined"
    first = by_id["weekly-1/2024-03-04T09:00:00Z"]
    assert first == Interaction(
        source_id="weekly-1/2024-03-04T09:00:00Z",
        kind="meeting",
        occurred_at=utc(2024, 3, 4, 9),
        ends_at=utc(2024, 3, 4, 10),
        participants=(
            Participant("heidi@example.org", "organizer", "Heidi"),
            Participant("ada@example.org", "attendee", None, "accepted"),
        ),
        subject="Team sync",
        thread_id="weekly-1",
        flags=0,
        head_count=2,
        scope="test.ics",
    )


def test_rdate_adds_occurrences_including_periods():
    event = """
UID:r
DTSTART:20240701T090000Z
DTEND:20240701T100000Z
RDATE:20240703T090000Z,20240705T090000Z
RDATE;VALUE=PERIOD:20240710T150000Z/PT2H
"""
    found, skipped = run(ics(event))
    assert skipped == []
    assert [(i.occurred_at, i.ends_at) for i in found] == [
        (utc(2024, 7, 1, 9), utc(2024, 7, 1, 10)),
        (utc(2024, 7, 3, 9), utc(2024, 7, 3, 10)),
        (utc(2024, 7, 5, 9), utc(2024, 7, 5, 10)),
        (utc(2024, 7, 10, 15), utc(2024, 7, 10, 17)),
    ]


def test_cancelled_occurrence_is_flagged_and_the_others_are_not():
    cancelled = """
UID:weekly-1
RECURRENCE-ID;TZID=Europe/Berlin:20240325T100000
STATUS:CANCELLED
SUMMARY:Team sync
DTSTART;TZID=Europe/Berlin:20240325T100000
DTEND;TZID=Europe/Berlin:20240325T110000
"""
    found, _ = run(ics(WEEKLY, cancelled))
    flags = {i.source_id: i.flags for i in found}
    assert flags["weekly-1/2024-03-25T09:00:00Z"] == Flag.CANCELLED
    assert [f for k, f in flags.items() if k != "weekly-1/2024-03-25T09:00:00Z"] == [0, 0, 0]


def test_overrides_without_master_are_occurrences_of_their_own():
    a = "UID:lonely\nRECURRENCE-ID:20240105T100000Z\nDTSTART:20240105T110000Z\nSUMMARY:A"
    b = "UID:lonely\nRECURRENCE-ID:20240112T100000Z\nDTSTART:20240112T100000Z\nSUMMARY:B"
    found, skipped = run(ics(a, b))
    assert skipped == []
    assert [(i.source_id, i.occurred_at, i.subject) for i in found] == [
        ("lonely/2024-01-05T10:00:00Z", utc(2024, 1, 5, 11), "A"),
        ("lonely/2024-01-12T10:00:00Z", utc(2024, 1, 12, 10), "B"),
    ]


def test_floating_time_is_read_in_the_users_zone():
    found, _ = run(ics("UID:f\nDTSTART:20240701T090000\nDTEND:20240701T100000"), "America/New_York")
    assert found[0].occurred_at == utc(2024, 7, 1, 13)
    assert found[0].ends_at == utc(2024, 7, 1, 14)
    # The id keeps the wall time, so changing [me] timezone does not change ids.
    assert found[0].source_id == "f/2024-07-01T09:00:00"


def test_x_wr_timezone_gives_floating_and_utc_rules_the_calendars_wall_clock():
    # Google exports a 09:00 Berlin weekly meeting in UTC with X-WR-TIMEZONE.
    weekly = "UID:g\nDTSTART:20240325T080000Z\nRRULE:FREQ=WEEKLY;COUNT=2"
    floating = "UID:h\nDTSTART:20240701T090000"
    found, _ = run(ics(weekly, floating, head="X-WR-TIMEZONE:Europe/Berlin\n"), "Asia/Tokyo")
    assert [i.occurred_at for i in found] == [
        utc(2024, 3, 25, 8),
        utc(2024, 4, 1, 7),  # still 09:00 in Berlin after the switch to summer time
        utc(2024, 7, 1, 7),
    ]


@pytest.mark.parametrize(
    ("tzid", "expected"),
    [
        ("W. Europe Standard Time", utc(2024, 7, 1, 7)),
        ("Atlantic Standard Time", utc(2024, 7, 1, 12)),
        ('"(UTC+02:00) Athens, Bucharest, Istanbul"', utc(2024, 7, 1, 6)),
        ('"(UTC-05:00) Somewhere Without A City"', utc(2024, 7, 1, 14)),
        ("/freeassociation.sourceforge.net/Tzfile/Europe/Paris", utc(2024, 7, 1, 7)),
    ],
)
def test_windows_and_outlook_zone_names_without_vtimezone(tzid: str, expected: datetime):
    found, skipped = run(ics(f"UID:w\nDTSTART;TZID={tzid}:20240701T090000"))
    assert skipped == []
    assert found[0].occurred_at == expected


def test_unknown_tzid_is_read_like_a_floating_time():
    found, skipped = run(ics("UID:u\nDTSTART;TZID=Mars/Olympus:20240701T090000"), "Europe/Paris")
    assert skipped == []
    assert found[0].occurred_at == utc(2024, 7, 1, 7)


def test_vtimezone_with_windows_name_gives_the_right_utc_time():
    vtimezone = """BEGIN:VTIMEZONE
TZID:Pacific Standard Time
BEGIN:STANDARD
DTSTART:16010101T020000
TZOFFSETFROM:-0700
TZOFFSETTO:-0800
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=1SU;BYMONTH=11
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:-0800
TZOFFSETTO:-0700
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=2SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
"""
    event = "UID:p\nDTSTART;TZID=Pacific Standard Time:20240105T090000\nRRULE:FREQ=MONTHLY;COUNT=7"
    found, _ = run(ics(event, head=vtimezone))
    assert [i.occurred_at.hour for i in found] == [17, 17, 17, 16, 16, 16, 16]


def test_all_day_event_starts_at_midnight_in_the_users_zone():
    found, _ = run(
        ics("UID:d\nDTSTART;VALUE=DATE:20240704\nDTEND;VALUE=DATE:20240706\nSUMMARY:Trip"),
        "America/Los_Angeles",
    )
    (trip,) = found
    assert trip.flags == Flag.ALL_DAY
    assert trip.occurred_at == utc(2024, 7, 4, 7)
    assert trip.ends_at == utc(2024, 7, 6, 7)
    assert trip.source_id == "d/2024-07-04"


def test_participants_responses_and_rooms():
    event = """
UID:p
DTSTART:20240701T090000Z
ORGANIZER;CN="Heidi Klum":MAILTO:Heidi@Example.ORG
ATTENDEE;CN=Heidi Klum;PARTSTAT=ACCEPTED:mailto:heidi@example.org
ATTENDEE;PARTSTAT=TENTATIVE;CN=bob@example.org:mailto:bob@example.org
ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:carol@example.org
ATTENDEE;PARTSTAT=DELEGATED:mailto:dave@example.org
ATTENDEE;PARTSTAT=DECLINED;CN=Eve:mailto:eve@example.org
ATTENDEE;PARTSTAT=X-WHATEVER:mailto:frank@example.org
ATTENDEE;CUTYPE=ROOM;CN=Room 1:mailto:room1@example.org
ATTENDEE;CUTYPE=RESOURCE;CN=Projector:mailto:projector@example.org
ATTENDEE;CN=Boardroom:mailto:c_123@resource.calendar.google.com
ATTENDEE;CN=Not an address:invalid:nomail
ATTENDEE;CN=Grace;EMAIL=grace@example.org:urn:uuid:0b3c8a51-4e5c-4a8e-9d2f-1c2b3a4d5e6f
"""
    (found,), _ = run(ics(event))
    assert found.participants == (
        Participant("heidi@example.org", "organizer", "Heidi Klum"),
        Participant("heidi@example.org", "attendee", "Heidi Klum", "accepted"),
        Participant("bob@example.org", "attendee", None, "tentative"),
        Participant("carol@example.org", "attendee", None, "needs-action"),
        Participant("dave@example.org", "attendee", None, "delegated"),
        Participant("eve@example.org", "attendee", "Eve", "declined"),
        Participant("frank@example.org", "attendee", None, None),
        Participant("grace@example.org", "attendee", "Grace", None),
    )
    assert found.head_count == 7  # heidi counted once; rooms and resources not at all


@pytest.mark.parametrize(
    ("extra", "head", "flags"),
    [
        ("STATUS:CANCELLED", "", Flag.CANCELLED),
        ("TRANSP:TRANSPARENT", "", Flag.NOT_MEETING),
        ("", "METHOD:CANCEL\n", Flag.CANCELLED),
        ("X-MICROSOFT-CDO-BUSYSTATUS:FREE\nSTATUS:CONFIRMED", "", Flag.NONE),
    ],
)
def test_status_transparency_and_method_flags(extra: str, head: str, flags: Flag):
    found, _ = run(ics(f"UID:s\nDTSTART:20240701T090000Z\n{extra}", head=head))
    assert found[0].flags == flags


def test_cancelled_series_flags_every_occurrence():
    found, _ = run(
        ics("UID:c\nDTSTART:20240701T090000Z\nRRULE:FREQ=DAILY;COUNT=3\nSTATUS:CANCELLED")
    )
    assert [i.flags for i in found] == [Flag.CANCELLED] * 3


def test_event_without_dtstart_is_skipped_and_the_others_survive():
    found, skipped = run(ics("UID:bad\nSUMMARY:no start", "UID:good\nDTSTART:20240701T090000Z"))
    assert [i.source_id for i in found] == ["good/2024-07-01T09:00:00Z"]
    assert skipped == [Skip("test.ics UID=bad", "no DTSTART")]


def test_unreadable_dtstart_is_skipped():
    found, skipped = run(ics("UID:bad\nDTSTART:INVALID-DATE", "UID:good\nDTSTART:20240701"))
    assert len(found) == 1
    assert skipped[0].where == "test.ics UID=bad"
    assert "DTSTART" in skipped[0].reason


def test_invalid_rrule_keeps_the_first_occurrence_and_says_so():
    found, skipped = run(
        ics("UID:r\nDTSTART:20240701T090000Z\nRRULE:FREQ=WEEKLY;BYDAY=TH;UNTL=20241023")
    )
    assert [i.source_id for i in found] == ["r/2024-07-01T09:00:00Z"]
    assert len(skipped) == 1
    assert skipped[0].where == "test.ics UID=r"
    assert "kept the first occurrence only" in skipped[0].reason


def test_unreadable_exdate_with_broken_rule_skips_the_series():
    event = "UID:x\nDTSTART:20240701T090000Z\nRRULE:FREQ=DAILY;UNTL=2024\nEXDATE:garbage"
    found, skipped = run(ics(event))
    assert found == []
    assert "skipped the series" in skipped[0].reason


def test_end_before_start_keeps_the_start():
    found, skipped = run(ics("UID:e\nDTSTART:20240701T090000Z\nDTEND:20240701T080000Z"))
    assert skipped == []
    # The end is dropped: a zero-length meeting at its start.
    assert (found[0].occurred_at, found[0].ends_at) == (utc(2024, 7, 1, 9), utc(2024, 7, 1, 9))


def test_event_without_uid_gets_a_stable_derived_id():
    data = ics("DTSTART:20240701T090000Z\nSUMMARY:Coffee")
    first, _ = run(data)
    second, _ = run(data)
    assert first[0].source_id == second[0].source_id
    assert first[0].source_id.startswith("nouid-")
    other, _ = run(ics("DTSTART:20240701T090000Z\nSUMMARY:Tea"))
    assert other[0].source_id != first[0].source_id


def test_source_ids_are_stable_across_runs():
    data = ics(WEEKLY, MOVED)
    assert [i.source_id for i in run(data)[0]] == [i.source_id for i in run(data)[0]]


def test_only_occurrences_starting_inside_the_window_are_returned():
    event = "UID:w\nDTSTART:20240101T090000Z\nRRULE:FREQ=MONTHLY;COUNT=12"
    found, _ = run(ics(event), window=(utc(2024, 3, 1), utc(2024, 6, 1, 9)))
    assert [i.occurred_at.month for i in found] == [3, 4, 5]


def test_a_rule_with_too_many_occurrences_is_cut_and_reported(monkeypatch):
    monkeypatch.setattr(calendar_events, "MAX_OCCURRENCES", 50)
    found, skipped = run(ics("UID:m\nDTSTART:20240101T090000Z\nRRULE:FREQ=MINUTELY"))
    assert len(found) == 50
    assert found[-1].occurred_at == utc(2024, 1, 1, 9, 49)
    assert skipped[0].where == "test.ics UID=m"
    assert "more than 50 occurrences" in skipped[0].reason


def test_the_callers_calendar_is_not_modified():
    cal = parse_calendar(ics("DTSTART:20240701T090000Z"), "t")
    before = cal.to_ical()
    list(
        interactions_from_calendar(
            cal, scope="t", window_start=WINDOW[0], window_end=WINDOW[1], timezone="UTC"
        )
    )
    assert cal.to_ical() == before


def test_id_prefix_is_prepended():
    cal = parse_calendar(ics("UID:a\nDTSTART:20240701"), "t")
    (item,) = interactions_from_calendar(
        cal, scope="s", window_start=WINDOW[0], window_end=WINDOW[1], timezone="UTC", id_prefix="p#"
    )
    assert item.source_id == "p#a/2024-07-01"


# --- parse_calendar -------------------------------------------------------------------


def test_parse_tolerates_bom_bare_lf_and_lower_case_names():
    data = b"\xef\xbb\xbfbegin:vcalendar\nversion:2.0\nbegin:vevent\nuid:x\n"
    data += b"dtstart:20240701T090000Z\nsummary:Caf\xc3\xa9\nend:vevent\nend:vcalendar\n"
    found, _ = run(data)
    assert [(i.source_id, i.subject) for i in found] == [("x/2024-07-01T09:00:00Z", "Café")]


def test_parse_salvages_events_around_a_broken_line_and_unterminated_file():
    data = (
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART:20240701T090000Z\r\n"
        b"END:VEVENT\r\nX\r\nBEGIN:VEVENT\r\nUID:b\r\nDTSTART:20240702T090000Z\r\n"
    )
    found, skipped = run(data)
    assert [i.thread_id for i in found] == ["a", "b"]
    assert skipped == []


def test_parse_keeps_an_event_whose_alarm_is_broken():
    data = ics("UID:a\nDTSTART:20240701T090000Z\nBEGIN:VALARM\nTRIGGER:PT-2H\nEND:VALARM")
    found, _ = run(data)
    assert [i.thread_id for i in found] == ["a"]


def test_parse_salvages_a_file_with_a_stray_line_and_a_broken_todo():
    data = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nX\r\nBEGIN:VEVENT\r\nUID:ok\r\n"
        b"DTSTART:20240701T090000Z\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:rule\r\n"
        b"DTSTART:20240701T090000Z\r\nSEQUENCE:abc\r\nRRULE:FREQ=NEVER\r\nEND:VEVENT\r\n"
        b"BEGIN:VTODO\r\nDUE:-0011130T160000\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    )
    found, skipped = run(data)
    assert [i.thread_id for i in found] == ["ok", "rule"]
    assert [s.where for s in skipped] == ["test.ics UID=rule"]  # its rule, not the event


def test_events_the_parser_gave_up_on_come_back_as_skips():
    cal = parse_calendar(ics("UID:ok\nDTSTART:20240701"), "t")
    cal.errors.append(("VEVENT", "UID=lost: Content line could not be parsed"))
    cal.errors.append(("VTIMEZONE", "not about an event"))
    items = list(
        interactions_from_calendar(
            cal, scope="t", window_start=WINDOW[0], window_end=WINDOW[1], timezone="UTC"
        )
    )
    assert items[0] == Skip("t UID=lost", "Content line could not be parsed")
    assert [type(i) for i in items] == [Skip, Interaction]


def test_several_calendars_in_one_file_are_merged_with_their_own_method():
    data = ics("UID:a\nDTSTART:20240701T090000Z") + ics(
        "UID:b\nDTSTART:20240702T090000Z", head="METHOD:CANCEL\n"
    )
    found, _ = run(data)
    assert [(i.thread_id, i.flags) for i in found] == [("a", 0), ("b", Flag.CANCELLED)]


@pytest.mark.parametrize(
    "data",
    [b"", b"hello world\n", b'["vcalendar", [["version", {}, "text", "2.0"]], []]', b"\x00\xff"],
)
def test_parse_rejects_what_is_not_icalendar(data: bytes):
    with pytest.raises(ValueError, match="not an iCalendar file"):
        parse_calendar(data, "x.ics")
