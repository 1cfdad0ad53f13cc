"""Every file of the third-party iCalendar corpus goes through the ics connector.

Nothing may crash; each file is either read (one bracketed full sync of its scope) or
skipped with a reason, and the counts add up. Spot checks pin the tricky cases listed in
../shared/corpus/ics/SOURCES.md. The main pass expands a bounded window (2013-2015) to stay
fast; spot checks use a window around their own dates.
"""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import corpus
import pytest

from connectors import ics
from connectors.base import SourceConfig, SourceContext
from syncd.models import Flag, Interaction, Participant, Skip
from syncd.options import Since
from syncd.secrets import SecretStore

CORPUS = corpus.CORPUS / "ics"

pytestmark = corpus.needs_corpus("ics")


def read(
    path: Path,
    since: date,
    now: datetime,
    horizon_days: int = 365,
    timezone: str = "Europe/London",
    tmp: Path = Path("/nonexistent"),
) -> tuple[list[Interaction], list[Skip], list[ics.Batch]]:
    options = {"path": path, "since": Since(at=since), "horizon": timedelta(days=horizon_days)}
    ctx = SourceContext("corpus", tmp, SecretStore(tmp), timezone=timezone)
    conn = ics.open(SourceConfig("corpus", "ics", options), ctx)
    conn.now = lambda: now
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # icalendar warns about guessed TZIDs and the like
        batches = list(conn.fetch(None))
    return (
        [i for b in batches for i in b.upserts],
        [s for b in batches for s in b.skipped],
        batches,
    )


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "SOURCES.md")


NOT_ICALENDAR = {
    # jCal (RFC 7265) is JSON, not the text format: counted as unparseable.
    "collective-icalendar/calendars/issue_1237_x_property.jcal",
    "collective-icalendar/calendars/rfc_7265_appendix_example_1_jcal.jcal",
    "collective-icalendar/calendars/rfc_7265_appendix_example_2_jcal.jcal",
    "collective-icalendar/calendars/rfc_7265_example_2.jcal",
    "collective-icalendar/calendars/rfc_7265_example_3.jcal",
    # Fuzzer finds with no component at all.
    "collective-icalendar/calendars/fuzz_testcase_0_char_in_component_name.ics",
    "collective-icalendar/calendars/issue_178_component_with_invalid_name_represented.ics",
}


def test_every_corpus_file_is_read_or_skipped_and_the_counts_add_up():
    files = corpus_files()
    since, now = date(2013, 1, 1), datetime(2015, 1, 1, tzinfo=UTC)
    read_files, unparseable, meetings, skips = 0, set(), 0, 0
    scopes_per_file: dict[str, int] = {}
    for path in files:
        found, skipped, batches = read(path, since, now)
        key = str(path.resolve())
        starts = [s for b in batches for s in b.full_sync_start]
        ends = [s for b in batches for s in b.full_sync_end]
        file_skips = [s for s in skipped if s.where == key]
        if file_skips:
            assert (found, starts, ends) == ([], [], []), path
            unparseable.add(str(path.relative_to(CORPUS)))
            continue
        read_files += 1
        # One full sync of the file's scope; every event Skip names the file and a UID.
        assert starts == [key] and ends == [key], path
        assert all(s.where.startswith(f"{key} UID=") and s.reason for s in skipped), path
        assert all(i.scope == key and i.source_id.startswith(f"{key}#") for i in found), path
        assert len({i.source_id for i in found}) == len(found), f"duplicate ids in {path}"
        assert all(
            datetime(2013, 1, 1, tzinfo=UTC) <= i.occurred_at < datetime(2016, 1, 1, tzinfo=UTC)
            for i in found
        ), path
        meetings += len(found)
        skips += len(skipped)
        scopes_per_file[key] = len(found)

    assert len(files) == 438  # SOURCES.md: 438 files in all
    assert unparseable == NOT_ICALENDAR
    assert read_files + len(unparseable) == len(files)
    assert sum(scopes_per_file.values()) == meetings
    # Bounds rather than exact numbers, so that a library upgrade that reads one more
    # broken event does not fail the suite; measured: 13,660 meetings in 2013-2015 from
    # 106 files, 94 event skips (no DTSTART, unusable RRULE...).
    assert 12_000 <= meetings <= 15_500
    assert 80 <= skips <= 110
    assert sum(1 for n in scopes_per_file.values() if n) >= 95


def test_exchange_invite_with_atlantic_standard_time():
    found, skipped, _ = read(
        CORPUS / "derived/notmuch-exchange2010-invite-atlantic-standard-time.ics",
        date(2024, 1, 1),
        datetime(2024, 6, 1, tzinfo=UTC),
    )
    assert skipped == []
    # 14:00 in Halifax (summer time, UTC-3) every day from May 27 until Aug 27 inclusive.
    assert len(found) == 93
    first = found[0]
    assert (first.occurred_at, first.ends_at) == (
        datetime(2024, 5, 27, 17, tzinfo=UTC),
        datetime(2024, 5, 27, 17, 30, tzinfo=UTC),
    )
    assert first.participants == (
        Participant("bremner@example.com", "organizer", "David Bremner"),
        Participant("david@tethera.net", "attendee", None, "needs-action"),  # CN = address
    )
    assert first.head_count == 2
    assert first.subject == "test [In-person]"
    assert first.flags == 0  # X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE is left alone
    assert found[-1].occurred_at == datetime(2024, 8, 27, 17, tzinfo=UTC)


def test_outlook_export_with_display_name_zones():
    found, skipped, _ = read(
        CORPUS / "ical4j/transform/outlook2.txt", date(2012, 1, 1), datetime(2015, 1, 1, tzinfo=UTC)
    )
    assert skipped == []
    # 86 VEVENTs: 56 series and single meetings plus 30 overrides of them.
    assert len({i.thread_id for i in found}) == 56
    workshop = [i for i in found if i.subject == "Canceled: Automation Workshop"]
    # TZID="(UTC+02:00) Athens, Bucharest, Istanbul": 16:00 in winter is 14:00 UTC.
    assert workshop[0].occurred_at == datetime(2012, 12, 7, 14, tzinfo=UTC)
    assert workshop[0].flags == Flag.NOT_MEETING  # TRANSP:TRANSPARENT
    assert workshop[0].head_count == 6
    # A weekly series from Friday 2013-04-12 15:00 Athens summer time (12:00 UTC), whose
    # first occurrence was moved to Wednesday 07:00 UTC.
    uid = (
        "040000008200E00074C5B7101A82E0080000000020AB795AD32BCE01000000000000000010000000"
        "2113BDDF7B432F498E5774CA4E56C56D"
    )
    series = {i.source_id.rsplit("/", 1)[1]: i.occurred_at for i in found if i.thread_id == uid}
    assert series["2013-04-12T12:00:00Z"] == datetime(2013, 4, 10, 7, tzinfo=UTC)
    assert series["2013-04-19T12:00:00Z"] == datetime(2013, 4, 19, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rel", "since", "now", "expected"),
    [
        (
            "khal/event_rrule_recuid_cancelled.ics",
            date(2014, 1, 1),
            datetime(2014, 12, 1, tzinfo=UTC),
            [(datetime(2014, 6, 30, 5, tzinfo=UTC), 0),
             (datetime(2014, 7, 7, 7, tzinfo=UTC), 0),  # moved to 09:00 Berlin
             (datetime(2014, 7, 14, 5, tzinfo=UTC), Flag.CANCELLED),
             (datetime(2014, 7, 21, 5, tzinfo=UTC), 0),
             (datetime(2014, 7, 28, 5, tzinfo=UTC), 0),
             (datetime(2014, 8, 4, 5, tzinfo=UTC), 0)],
        ),
        (
            "python-recurring-ical-events/calendars/issue_18_cancel_status.ics",
            date(2020, 1, 1),
            datetime(2020, 6, 1, tzinfo=UTC),
            [(datetime(2020, 1, 28, 21, tzinfo=UTC), 0),
             (datetime(2020, 1, 29, 21, tzinfo=UTC), Flag.CANCELLED),
             (datetime(2020, 1, 30, 21, tzinfo=UTC), 0)],
        ),
    ],
)  # fmt: skip
def test_cancelled_occurrences_of_a_series(rel, since, now, expected):
    found, skipped, _ = read(CORPUS / rel, since, now)
    assert skipped == []
    assert [(i.occurred_at, i.flags) for i in found] == expected


def test_overrides_without_master():
    found, _, _ = read(
        CORPUS / "khal/event_dt_recuid_no_master.ics",
        date(2017, 1, 1),
        datetime(2017, 6, 1, tzinfo=UTC),
    )
    assert [i.source_id.rsplit("#", 1)[1] for i in found] == ["406336/2017-03-29T16:00:00"]

    found, skipped, _ = read(
        CORPUS / "python-recurring-ical-events/calendars/issue_173_only_modifications_error.ics",
        date(2010, 1, 1),
        datetime(2024, 6, 1, tzinfo=UTC),
        horizon_days=200,
    )
    assert skipped == []
    assert len(found) > 600
    assert len({i.thread_id for i in found}) > 100


def test_windows_zone_name_with_a_wrong_vtimezone_uses_the_named_zone():
    found, _, _ = read(
        CORPUS / "khal/tz_windows_format.ics", date(2019, 1, 1), datetime(2020, 1, 1, tzinfo=UTC)
    )
    # "New Zealand Standard Time" is Pacific/Auckland: 13:00 NZDT is midnight UTC.
    assert [i.occurred_at for i in found] == [datetime(2019, 11, 20, tzinfo=UTC)]


def test_blank_tzid_is_read_as_floating_in_the_users_zone():
    found, skipped, _ = read(
        CORPUS / "ical4j/samples/valid/blankTzid.ics",
        date(2015, 1, 1),
        datetime(2016, 1, 1, tzinfo=UTC),
        timezone="Europe/Berlin",
    )
    assert skipped == []
    assert [i.occurred_at for i in found] == [datetime(2015, 8, 26, 7, tzinfo=UTC)]


def test_google_x_wr_timezone_files():
    found, skipped, _ = read(
        CORPUS / "python-recurring-ical-events/calendars/x_wr_timezone_simple_events_issue_59.ics",
        date(2000, 1, 1),
        datetime(2030, 1, 1, tzinfo=UTC),
    )
    assert skipped == [] and found
    assert all(i.occurred_at.tzinfo is UTC for i in found)


@pytest.mark.parametrize(
    "rel",
    [
        "ical4j/samples/invalid/korganizer-lowercase.ics",
        "ical4j/samples/invalid/groupwise.ics",
        "ical4j/samples/invalid/tmeher.ics",
        "khal/without_uid.ics",
        "khal/event_dt_floating.ics",
        "khal/event_dt_no_end.ics",
    ],
)
def test_broken_real_client_output_still_yields_its_meetings(rel):
    found, _, _ = read(CORPUS / rel, date(1990, 1, 1), datetime(2030, 1, 1, tzinfo=UTC), 30)
    assert found, rel


def test_bom_calendar_parses_as_an_empty_calendar():
    path = CORPUS / "collective-icalendar/calendars/bom_calendar.ics"
    found, skipped, batches = read(path, date(2000, 1, 1), datetime(2020, 1, 1, tzinfo=UTC))
    assert (found, skipped) == ([], [])
    assert batches[0].full_sync_start == [str(path.resolve())]


def test_jcal_is_counted_as_unparseable_with_a_reason():
    path = CORPUS / "collective-icalendar/calendars/rfc_7265_example_2.jcal"
    found, skipped, _ = read(path, date(2000, 1, 1), datetime(2020, 1, 1, tzinfo=UTC))
    assert found == []
    assert [s.where for s in skipped] == [str(path.resolve())]
    assert "jCal" in skipped[0].reason
