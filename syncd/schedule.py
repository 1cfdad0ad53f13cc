"""When the weekly digest is due: slots of ``[digest] schedule`` in the user's zone, and
whether the latest slot's digest is still owed (the exactly-once record is syncd.sendlog).

Times are UTC datetimes; a slot is the local wall-clock time on the schedule's weekday, so it
follows daylight-saving changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from syncd import sendlog
from syncd.config import Config
from syncd.digest import period_of
from syncd.store import Store

# What the daemon keeps in the store's meta table.
META_STATE = "daemon.state"  # its plan (next sync per source), for `syncd status`
META_SINCE = "daemon.first_run"  # slots before the first ever start are not "missed"
META_HANDLED = "daemon.digest_handled"  # last period whose slot was dealt with (even empty)


def _slot_on(day: date, schedule: tuple[int, int, int], tz: ZoneInfo) -> datetime:
    return datetime.combine(day, dtime(schedule[1], schedule[2]), tz).astimezone(UTC)


def latest_slot(now: datetime, schedule: tuple[int, int, int], tz: ZoneInfo) -> datetime:
    """The most recent weekly send time at or before ``now`` (UTC)."""
    local = now.astimezone(tz)
    day = local.date() - timedelta(days=(local.weekday() - schedule[0]) % 7)
    slot = _slot_on(day, schedule, tz)
    return slot if slot <= now else _slot_on(day - timedelta(days=7), schedule, tz)


def next_slot(now: datetime, schedule: tuple[int, int, int], tz: ZoneInfo) -> datetime:
    last = latest_slot(now, schedule, tz)
    return _slot_on(last.astimezone(tz).date() + timedelta(days=7), schedule, tz)


def due_digest(store: Store, config: Config, now: datetime) -> tuple[str, datetime] | None:
    """(period, slot) when the latest slot's digest is still owed, else None.

    Slots before ``syncd run`` first started are not owed (the daemon records its first
    start before it asks); with no start recorded yet, none is owed either, so that
    ``syncd status`` and the daemon agree on which digest comes next."""
    tz = ZoneInfo(config.me.timezone)
    slot = latest_slot(now, config.digest.schedule, tz)
    since = store.get_meta(META_SINCE)
    if since is None or slot < datetime.fromisoformat(since):
        return None
    period = period_of(slot, config.me.timezone)
    row = sendlog.get(store, period)
    if row and row.state == sendlog.SENT:
        return None
    if row is None and store.get_meta(META_HANDLED) == period:
        return None  # nothing to say that week
    return period, slot
