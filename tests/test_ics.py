"""The ics connector: files, folders, globs, cursor, full-sync sweeps, bad files."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors import ics
from connectors.base import SourceConfig, SourceContext, options_for
from syncd.errors import SourceError
from syncd.models import Batch, Flag, Interaction
from syncd.options import Since, validate_table
from syncd.secrets import SecretStore

NOW = datetime(2024, 7, 1, tzinfo=UTC)


def ics_text(*events: str) -> str:
    body = "".join(f"BEGIN:VEVENT\r\n{e.strip()}\r\nEND:VEVENT\r\n" for e in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n{body}END:VCALENDAR\r\n"


def event(uid: str, start: str, extra: str = "") -> str:
    return f"UID:{uid}\nDTSTART:{start}\nSUMMARY:{uid}\n{extra}".replace("\n", "\r\n").strip()


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def connector(
    tmp_path: Path,
    path: Path | str,
    clock: Clock | None = None,
    timezone: str = "UTC",
    **options: Any,
) -> ics.IcsConnector:
    opts = {"path": Path(path), "since": Since(at=date(2020, 1, 1)), **options}
    ctx = SourceContext("cal", tmp_path, SecretStore(tmp_path), timezone=timezone)
    conn = ics.open(SourceConfig("cal", "ics", opts), ctx)
    conn.now = clock or Clock()
    return conn


def upserts(batches: list[Batch]) -> list[Interaction]:
    return [i for b in batches for i in b.upserts]


def ids(batches: list[Batch]) -> set[str]:
    return {i.source_id for i in upserts(batches)}


def write(path: Path, text: str, mtime_ns: int | None = None) -> Path:
    path.write_text(text, newline="")
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def test_first_sync_brackets_the_file_and_records_it_in_the_cursor(tmp_path):
    f = write(tmp_path / "a.ics", ics_text(event("x", "20240105T100000Z")))
    batches = list(connector(tmp_path, f).fetch(None))
    key = str(f.resolve())
    assert len(batches) == 1
    (batch,) = batches
    assert batch.full_sync_start == [key] and batch.full_sync_end == [key]
    assert [(i.source_id, i.scope, i.occurred_at) for i in batch.upserts] == [
        (f"{key}#x/2024-01-05T10:00:00Z", key, datetime(2024, 1, 5, 10, tzinfo=UTC))
    ]
    entry = batch.cursor["files"][key]
    assert entry["size"] == f.stat().st_size
    assert entry["mtime_ns"] == f.stat().st_mtime_ns
    assert len(entry["sha256"]) == 64
    assert entry["expanded_until"] == (NOW + timedelta(days=365)).isoformat()
    assert batch.progress == (f.stat().st_size, f.stat().st_size)
    assert batch.progress_unit == "bytes"


def test_unchanged_file_costs_a_stat_and_yields_nothing(tmp_path, monkeypatch):
    f = write(tmp_path / "a.ics", ics_text(event("x", "20240105T100000Z")))
    conn = connector(tmp_path, f)
    cursor = list(conn.fetch(None))[-1].cursor

    def no_read(self: Path) -> bytes:
        raise AssertionError(f"{self} was read")

    monkeypatch.setattr(Path, "read_bytes", no_read)
    assert list(conn.fetch(cursor)) == []


def test_touched_file_with_the_same_content_only_moves_the_cursor(tmp_path):
    f = write(tmp_path / "a.ics", ics_text(event("x", "20240105T100000Z")), 10**18)
    conn = connector(tmp_path, f)
    cursor = list(conn.fetch(None))[-1].cursor
    os.utime(f, ns=(2 * 10**18, 2 * 10**18))
    (batch,) = list(conn.fetch(cursor))
    assert batch.upserts == [] and batch.full_sync_start == [] and batch.full_sync_end == []
    assert batch.cursor["files"][str(f.resolve())]["mtime_ns"] == 2 * 10**18
    assert list(conn.fetch(batch.cursor)) == []


def test_edited_file_is_a_full_sync_and_the_removed_event_is_gone(tmp_path):
    from syncd.store import Store

    f = write(
        tmp_path / "a.ics",
        ics_text(event("keep", "20240105T100000Z"), event("drop", "20240106T100000Z")),
    )
    conn = connector(tmp_path, f)
    store = Store.open(tmp_path / "s.db")
    store.ensure_source("cal", "ics")
    first = list(conn.fetch(None))
    for b in first:
        store.apply_batch("cal", b)
    key = str(f.resolve())
    assert ids(first) == {f"{key}#keep/2024-01-05T10:00:00Z", f"{key}#drop/2024-01-06T10:00:00Z"}

    write(f, ics_text(event("keep", "20240105T100000Z"), event("new", "20240107T100000Z")))
    second = list(conn.fetch(store.source_state("cal").cursor))
    assert second[0].full_sync_start == [key] and second[-1].full_sync_end == [key]
    for b in second:
        store.apply_batch("cal", b)
    stored = {r[0] for r in store.conn.execute("SELECT source_id FROM interactions")}
    assert stored == {f"{key}#keep/2024-01-05T10:00:00Z", f"{key}#new/2024-01-07T10:00:00Z"}
    store.close()


def test_moved_occurrence_replaces_its_slot_after_an_edit(tmp_path):
    rule = event("w", "20240101T100000Z", "RRULE:FREQ=WEEKLY;COUNT=3")
    f = write(tmp_path / "a.ics", ics_text(rule))
    conn = connector(tmp_path, f)
    cursor = list(conn.fetch(None))[-1].cursor
    moved = "UID:w\r\nRECURRENCE-ID:20240108T100000Z\r\nDTSTART:20240109T120000Z"
    write(f, ics_text(rule, moved))
    found = {i.source_id.split("#")[1]: i.occurred_at for i in upserts(list(conn.fetch(cursor)))}
    assert found == {
        "w/2024-01-01T10:00:00Z": datetime(2024, 1, 1, 10, tzinfo=UTC),
        "w/2024-01-08T10:00:00Z": datetime(2024, 1, 9, 12, tzinfo=UTC),
        "w/2024-01-15T10:00:00Z": datetime(2024, 1, 15, 10, tzinfo=UTC),
    }


def test_window_rolls_forward_after_half_the_horizon(tmp_path):
    f = write(tmp_path / "a.ics", ics_text(event("d", "20240601T090000Z", "RRULE:FREQ=MONTHLY")))
    clock = Clock()
    conn = connector(tmp_path, f, clock, horizon=timedelta(days=60))
    first = list(conn.fetch(None))
    assert max(i.occurred_at for i in upserts(first)) == datetime(2024, 8, 1, 9, tzinfo=UTC)
    clock.now = NOW + timedelta(days=29)  # not yet half the horizon: nothing to do
    assert list(conn.fetch(first[-1].cursor)) == []
    clock.now = NOW + timedelta(days=31)
    rolled = list(conn.fetch(first[-1].cursor))
    key = str(f.resolve())
    assert rolled[0].full_sync_start == [key] and rolled[-1].full_sync_end == [key]
    assert max(i.occurred_at for i in upserts(rolled)) == datetime(2024, 9, 1, 9, tzinfo=UTC)
    # The look-back stays where the first sync put it.
    assert min(i.occurred_at for i in upserts(rolled)) == datetime(2024, 6, 1, 9, tzinfo=UTC)


def test_future_occurrences_are_stored_within_the_horizon(tmp_path):
    f = write(tmp_path / "a.ics", ics_text(event("d", "20240601T090000Z", "RRULE:FREQ=YEARLY")))
    found = upserts(list(connector(tmp_path, f, horizon=timedelta(days=400)).fetch(None)))
    assert [i.occurred_at.year for i in found] == [2024, 2025]


def test_since_bounds_the_look_back(tmp_path):
    f = write(tmp_path / "a.ics", ics_text(event("d", "20150601T090000Z", "RRULE:FREQ=YEARLY")))
    found = upserts(list(connector(tmp_path, f, since=Since(span=timedelta(days=400))).fetch(None)))
    assert [i.occurred_at.year for i in found] == [2023, 2024, 2025]


def test_folder_reads_ics_files_and_sweeps_a_file_that_left(tmp_path):
    folder = tmp_path / "cal"
    (folder / "sub").mkdir(parents=True)
    a = write(folder / "a.ics", ics_text(event("a", "20240105T100000Z")))
    b = write(folder / "sub" / "B.ICS", ics_text(event("b", "20240105T100000Z")))
    write(folder / "notes.txt", "not a calendar")
    conn = connector(tmp_path, folder)
    first = list(conn.fetch(None))
    assert {i.thread_id for i in upserts(first)} == {"a", "b"}
    b.unlink()
    (gone,) = list(conn.fetch(first[-1].cursor))
    key = str(b.resolve())
    assert gone.full_sync_start == [key] and gone.full_sync_end == [key]
    assert gone.upserts == []
    assert list(gone.cursor["files"]) == [str(a.resolve())]
    assert list(conn.fetch(gone.cursor)) == []


def test_glob_selects_files(tmp_path):
    write(tmp_path / "work.ics", ics_text(event("w", "20240105T100000Z")))
    write(tmp_path / "home.ics", ics_text(event("h", "20240105T100000Z")))
    write(tmp_path / "other.ical", ics_text(event("o", "20240105T100000Z")))
    found = upserts(list(connector(tmp_path, tmp_path / "*.ics").fetch(None)))
    assert sorted(i.thread_id for i in found) == ["h", "w"]


@pytest.mark.parametrize("name", ["missing.ics", "missing-folder", "*.nothing", "empty"])
def test_missing_path_empty_folder_or_empty_glob_is_a_source_error(tmp_path, name):
    (tmp_path / "empty").mkdir()
    conn = connector(tmp_path, tmp_path / name)
    with pytest.raises(SourceError, match=name.replace("*", r"\*")):
        list(conn.fetch(None))


def test_a_file_that_is_not_icalendar_is_skipped_and_the_others_sync(tmp_path):
    bad = write(tmp_path / "a.ics", '["vcalendar", [], []]')
    good = write(tmp_path / "b.ics", ics_text(event("g", "20240105T100000Z")))
    conn = connector(tmp_path, tmp_path)
    batches = list(conn.fetch(None))
    skipped = [s for b in batches for s in b.skipped]
    assert [s.where for s in skipped] == [str(bad.resolve())]
    assert "not an iCalendar file" in skipped[0].reason
    assert [i.thread_id for i in upserts(batches)] == ["g"]
    # A bad file never brackets a sweep: what it gave before stays until it parses again.
    assert all(str(bad.resolve()) not in b.full_sync_start for b in batches)
    assert list(conn.fetch(batches[-1].cursor)) == []
    assert str(good.resolve()) in batches[-1].cursor["files"]


def test_large_file_is_split_into_batches_with_one_bracket(tmp_path, monkeypatch):
    monkeypatch.setattr(ics, "BATCH_SIZE", 2)
    f = write(
        tmp_path / "a.ics", ics_text(event("d", "20240101T090000Z", "RRULE:FREQ=DAILY;COUNT=5"))
    )
    batches = list(connector(tmp_path, f).fetch(None))
    key = str(f.resolve())
    assert [len(b.upserts) for b in batches] == [2, 2, 1]
    assert [b.full_sync_start for b in batches] == [[key], [], []]
    assert [b.full_sync_end for b in batches] == [[], [], [key]]
    assert [b.cursor is not None for b in batches] == [False, False, True]


def test_floating_times_use_the_users_timezone(tmp_path):
    f = write(tmp_path / "a.ics", ics_text(event("f", "20240105T100000")))
    (found,) = upserts(list(connector(tmp_path, f, timezone="Asia/Tokyo").fetch(None)))
    assert found.occurred_at == datetime(2024, 1, 5, 1, tzinfo=UTC)


def test_cancelled_and_all_day_facts_pass_through(tmp_path):
    f = write(
        tmp_path / "a.ics",
        ics_text(
            event("c", "20240105T100000Z", "STATUS:CANCELLED"),
            event("d", "20240106", ""),
        ),
    )
    found = {i.thread_id: i.flags for i in upserts(list(connector(tmp_path, f).fetch(None)))}
    assert found == {"c": Flag.CANCELLED, "d": Flag.ALL_DAY}


def test_source_ids_are_stable_across_two_full_runs(tmp_path):
    text = ics_text(
        event("w", "20240101T100000Z", "RRULE:FREQ=WEEKLY;COUNT=10"), event("x", "20240301")
    )
    f = write(tmp_path / "a.ics", text)
    first = [i.source_id for i in upserts(list(connector(tmp_path, f).fetch(None)))]
    second = [i.source_id for i in upserts(list(connector(tmp_path, f).fetch(None)))]
    assert first == second and len(first) == 11


def test_options_validate_through_the_shared_spec():
    problems: list[str] = []
    values = validate_table(
        {"type": "ics", "path": "~/cal/*.ics", "horizon": "90d"},
        options_for("ics"),
        "[sources.cal]",
        problems,
    )
    assert problems == []
    assert values["path"] == Path("~/cal/*.ics").expanduser()
    assert values["horizon"] == timedelta(days=90)
    assert values["since"].span == timedelta(days=3650)
    validate_table({"type": "ics"}, options_for("ics"), "[sources.cal]", problems)
    assert problems == ["[sources.cal]: missing required key 'path'"]
