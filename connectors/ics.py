"""The ``ics`` connector: meetings from iCalendar files (a Takeout export, an Outlook .ics).

Terminology: each file is one **scope** (its resolved path). The cursor remembers, per file,
``{size, mtime_ns, sha256, expanded_until}``:

- an unchanged file (same size and mtime) costs one ``stat``;
- a touched file with the same content only updates the cursor;
- a changed file, or one whose recurrence window needs rolling forward (``now + horizon/2``
  is past ``expanded_until``), is read again as a full sync of its scope, so occurrences
  that vanished or moved are swept by the store;
- a file that left the folder or glob gets an empty full sync: its meetings go (but a
  path, folder or glob that names no file at all is a SourceError, never a sweep).

Occurrences are expanded from ``since`` back to ``horizon`` ahead of now. Future ones are
stored too: the rules call them upcoming, never contact. A file that is not iCalendar is
a ``Skip`` (the other files go on); its previous meetings are kept until it parses again.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.base import SourceConfig, SourceContext
from syncd.errors import SourceError
from syncd.models import Batch, Interaction, Skip
from syncd.options import Option, Since, duration, path, since

OPTIONS: dict[str, Option] = {
    "path": Option(path, help="An .ics file, a folder of .ics files, or a glob (~/cal/*.ics)."),
    "horizon": Option(
        duration,
        duration("365d"),
        "How far ahead recurring meetings are expanded (future meetings are 'upcoming').",
    ),
    "since": Option(since, since("10y"), "How far back meetings are read: a date or a span."),
}

BATCH_SIZE = 500
_CURSOR_VERSION = 1


def open(source: SourceConfig, ctx: SourceContext) -> IcsConnector:
    return IcsConnector(
        name=source.name,
        path=Path(source["path"]),
        horizon=source.get("horizon", OPTIONS["horizon"].default),
        since=source.get("since", OPTIONS["since"].default),
        timezone=ctx.timezone,
    )


@dataclass
class IcsConnector:
    name: str
    path: Path
    horizon: timedelta
    since: Since
    timezone: str = "UTC"
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def files(self) -> list[Path]:
        """The files the configured path stands for; SourceError if it names nothing."""
        raw = str(self.path)
        if glob.has_magic(raw):
            found = [Path(p) for p in glob.glob(raw, recursive=True) if os.path.isfile(p)]
            if not found:
                raise SourceError(f"source {self.name!r}: no file matches {raw}")
        elif self.path.is_dir():
            found = [p for p in self.path.rglob("*") if p.suffix.lower() == ".ics" and p.is_file()]
            if not found:
                # An empty folder is more often an unmounted drive than a wish to forget
                # every meeting: refuse rather than sweep.
                raise SourceError(f"source {self.name!r}: no .ics file in {raw}")
        elif self.path.is_file():
            found = [self.path]
        else:
            raise SourceError(f"source {self.name!r}: {raw} does not exist")
        return sorted({p.resolve() for p in found})

    def fetch(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        from connectors.calendar_events import interactions_from_calendar, parse_calendar

        now = self.now()
        files = self.files()
        state: dict[str, dict[str, Any]] = {}
        if cursor and cursor.get("version") == _CURSOR_VERSION:
            state = {k: dict(v) for k, v in cursor.get("files", {}).items()}
        # The look-back is fixed at the first sync, so a re-read later does not sweep
        # meetings that have since slid out of a span such as "10y".
        window_start = self.since.start(now)
        if cursor and cursor.get("window_start"):
            window_start = min(window_start, datetime.fromisoformat(cursor["window_start"]))
        window_end = now + self.horizon

        def snapshot() -> dict[str, Any]:
            return {
                "version": _CURSOR_VERSION,
                "window_start": window_start.isoformat(),
                "files": {k: dict(v) for k, v in state.items()},
            }

        stats = {str(p): p.stat() for p in files}
        total = sum(st.st_size for st in stats.values())
        done = 0

        for key in sorted(set(state) - set(stats)):  # gone from the folder or glob
            del state[key]
            yield Batch(full_sync_start=[key], full_sync_end=[key], cursor=snapshot())

        for key, st in stats.items():
            prev = state.get(key)
            stale = prev is None or _expanded_until(prev) < now + self.horizon / 2
            if (
                prev
                and not stale
                and (prev["size"], prev["mtime_ns"])
                == (
                    st.st_size,
                    st.st_mtime_ns,
                )
            ):
                done += st.st_size
                continue  # unchanged: one stat
            data = Path(key).read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            done += st.st_size
            entry = {
                "size": len(data),
                "mtime_ns": st.st_mtime_ns,
                "sha256": digest,
                "expanded_until": window_end.isoformat(),
            }
            if prev and not stale and prev.get("sha256") == digest:
                state[key] = {**prev, "size": entry["size"], "mtime_ns": entry["mtime_ns"]}
                yield Batch(cursor=snapshot(), progress=(done, total), progress_unit="bytes")
                continue
            try:
                cal = parse_calendar(data, key)
            except ValueError as e:
                # Not iCalendar (or a half-written file): keep what it gave before.
                state[key] = {**entry, "expanded_until": (prev or entry)["expanded_until"]}
                yield Batch(
                    skipped=[Skip(key, str(e))],
                    cursor=snapshot(),
                    progress=(done, total),
                    progress_unit="bytes",
                )
                continue
            kept: set[str] = set()  # UIDs with an occurrence kept (or skipped)
            items = _noting_uids(
                interactions_from_calendar(
                    cal,
                    scope=key,
                    window_start=window_start,
                    window_end=window_end,
                    timezone=self.timezone,
                    id_prefix=f"{key}#",
                ),
                key,
                kept,
            )
            for batch in self._file_batches(key, items, entry, state, snapshot, (done, total)):
                if batch.full_sync_end:  # every item was read: say what `since` left out
                    older = _count_before(cal, kept, window_start, self.timezone)
                    if older:
                        batch.ignored[self._older_reason(window_start)] = older
                yield batch

    def _older_reason(self, window_start: datetime) -> str:
        # The day as `since` names it: a date is midnight UTC (syncd.options.Since).
        day = window_start.astimezone(UTC).date().isoformat()
        return (
            f"older than `since`, before {day}; set `since` in [sources.{self.name}] to read them"
        )

    def _file_batches(
        self,
        key: str,
        items: Iterator[Interaction | Skip],
        entry: dict[str, Any],
        state: dict[str, dict[str, Any]],
        snapshot: Callable[[], dict[str, Any]],
        progress: tuple[int, int],
    ) -> Iterator[Batch]:
        """One full sync of one file: start on the first batch, end + cursor on the last."""
        batch = Batch(full_sync_start=[key])
        for item in items:
            if isinstance(item, Skip):
                batch.skipped.append(item)
            else:
                batch.upserts.append(item)
            if len(batch.upserts) >= BATCH_SIZE:
                yield batch
                batch = Batch()
        state[key] = entry
        batch.full_sync_end = [key]
        batch.cursor = snapshot()
        batch.progress = progress
        batch.progress_unit = "bytes"
        yield batch


def _expanded_until(entry: dict[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(entry["expanded_until"])
    except (KeyError, TypeError, ValueError):
        return datetime.min.replace(tzinfo=UTC)


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _noting_uids(
    items: Iterator[Interaction | Skip], key: str, kept: set[str]
) -> Iterator[Interaction | Skip]:
    """``items`` as they come, adding the UID of each to ``kept``."""
    for item in items:
        if isinstance(item, Skip):  # where = scope + " UID=" + UID
            kept.add(item.where.removeprefix(f"{key} UID="))
        else:  # source_id = scope + "#" + UID + "/" + the occurrence's original start
            kept.add(item.source_id.removeprefix(f"{key}#").rpartition("/")[0])
        yield item


def _count_before(cal: Any, kept: set[str], window_start: datetime, timezone: str) -> int:
    """Events of ``cal`` left out because they happened before ``window_start`` (``since``).

    An event (a single one, or a recurring series) counts when it starts before the window
    and none of its occurrences was kept (nor skipped: ``kept`` holds their UIDs). Overrides
    of a series (RECURRENCE-ID) belong to it and are not counted apart. Never raises: an
    event whose start cannot be read is a Skip already, not "older".
    """
    tz = _zone(timezone)
    n = 0
    for comp in cal.walk("VEVENT"):
        try:
            if "RECURRENCE-ID" in comp or str(comp.get("UID", "")).strip() in kept:
                continue
            start = comp.get("DTSTART").dt
            if isinstance(start, datetime):
                at = start if start.tzinfo else start.replace(tzinfo=tz)
            elif isinstance(start, date):
                at = datetime.combine(start, time(), tz)
            else:
                continue
            if at < window_start:
                n += 1
        except Exception:
            continue
    return n
