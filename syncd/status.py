"""What ``syncd status`` shows, as text and as JSON: each source's state (its health, as the
digest's footer has it, and how many items it skipped), then the background side: whether
``syncd run`` is running, the next sync of each source, the next digest, the last one sent and
any send in doubt."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from syncd import sendlog
from syncd.config import Config
from syncd.digest import period_of
from syncd.digest_model import SourceHealth
from syncd.locks import running_pid
from syncd.schedule import META_SINCE, META_STATE, due_digest, next_slot
from syncd.store import Store


@dataclass(frozen=True)
class ScheduleStatus:
    running_pid: int | None
    next_sync: dict[str, datetime]  # only when a daemon is running
    next_digest: datetime | None  # None: due now
    next_digest_period: str
    first_digest: bool  # no digest was ever sent: the next one is the first
    first_started: datetime | None  # when `syncd run` first started (None: never)
    last_sent_period: str | None
    last_sent_at: datetime | None
    last_sent_message_id: str | None
    in_doubt: list[str]  # periods whose send was interrupted

    def as_json(self) -> dict[str, Any]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat(timespec="seconds") if d else None

        return {
            "daemon_pid": self.running_pid,
            "next_sync": {k: iso(v) for k, v in self.next_sync.items()},
            "next_digest": iso(self.next_digest),
            "next_digest_period": self.next_digest_period,
            "first_digest": self.first_digest,
            "daemon_first_started": iso(self.first_started),
            "last_digest": {
                "period": self.last_sent_period,
                "sent_at": iso(self.last_sent_at),
                "message_id": self.last_sent_message_id,
            }
            if self.last_sent_period
            else None,
            "digests_in_doubt": self.in_doubt,
        }


def schedule_status(store: Store, config: Config, now: datetime | None = None) -> ScheduleStatus:
    now = now or datetime.now(UTC)
    pid = running_pid(config.store_path)
    next_sync: dict[str, datetime] = {}
    if pid:
        raw = store.get_meta(META_STATE)
        state = json.loads(raw) if raw else {}
        next_sync = {k: datetime.fromisoformat(v) for k, v in state.get("next_sync", {}).items()}
    due = due_digest(store, config, now)
    if due:
        nxt, period = None, due[0]
    else:
        nxt = next_slot(now, config.digest.schedule, ZoneInfo(config.me.timezone))
        period = period_of(nxt, config.me.timezone)
    last = sendlog.last_sent(store)
    started = store.get_meta(META_SINCE)
    return ScheduleStatus(
        running_pid=pid,
        next_sync=next_sync,
        next_digest=nxt,
        next_digest_period=period,
        first_digest=last is None,
        first_started=datetime.fromisoformat(started) if started else None,
        last_sent_period=last.period if last else None,
        last_sent_at=last.sent_at if last else None,
        last_sent_message_id=last.message_id if last else None,
        in_doubt=[r.period for r in sendlog.pending(store)],
    )


def status_lines(s: ScheduleStatus, timezone: str) -> list[str]:
    """The lines ``syncd status`` prints after the sources."""
    tz = ZoneInfo(timezone)

    def local(d: datetime) -> str:
        return d.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z")

    lines = []
    if s.running_pid:
        lines.append(f"syncd run: running (pid {s.running_pid})")
        for name, when in sorted(s.next_sync.items()):
            lines.append(f"next sync of {name}: {local(when)}")
    else:
        lines.append(
            "syncd run: not running (start it with `syncd run` or `syncd service install`)"
        )
    label = "first digest" if s.first_digest else "next digest"
    if s.next_digest is None:
        lines.append(f"{label}: {s.next_digest_period}, due now")
    elif s.first_started is None:
        # The daemon's first start decides: slots before it are skipped, not sent late.
        lines.append(
            f"{label}: {s.next_digest_period}, {local(s.next_digest)}, if `syncd run` is "
            "running by then (slots before its first start are not sent)"
        )
    else:
        lines.append(f"{label}: {s.next_digest_period}, {local(s.next_digest)}")
    if s.last_sent_period and s.last_sent_at:
        lines.append(
            f"last digest sent: {s.last_sent_period} on {local(s.last_sent_at)} "
            f"({s.last_sent_message_id})"
        )
    else:
        lines.append("last digest sent: none yet")
    for p in s.in_doubt:
        lines.append(f"digest {p}: interrupted while sending; it will be resent as is")
    return lines


def source_json(h: SourceHealth, skipped: int) -> dict[str, Any]:
    """One source in ``syncd status --format json``."""
    return {
        "name": h.name,
        "type": h.type,
        "state": h.state,
        "last_ok_at": h.last_ok_at.isoformat() if h.last_ok_at else None,
        "last_error": h.last_error,
        "fix": h.fix,
        "skipped": skipped,
    }


def source_lines(h: SourceHealth, skipped: int, timezone: str) -> list[str]:
    """One source in ``syncd status``: its state, then its error and fix, if any; times in
    the user's ``timezone``."""
    last = "never"
    if h.last_ok_at:
        at = h.last_ok_at if h.last_ok_at.tzinfo else h.last_ok_at.replace(tzinfo=UTC)
        last = f"{at.astimezone(ZoneInfo(timezone)):%Y-%m-%d %H:%M %Z}"
    line = f"{h.name} ({h.type}): {h.state.replace('_', ' ')}; last success {last}"
    if skipped:
        line += f"; {skipped} items skipped"
    lines = [line]
    if h.last_error:
        lines.append(f"    error: {h.last_error}")
    if h.fix and h.state != "ok":
        lines.append(f"    fix: {h.fix}")
    return lines


def status_json(
    health: Sequence[SourceHealth], skipped: Mapping[str, int], sched: ScheduleStatus
) -> dict[str, Any]:
    """``syncd status --format json``: the sources, then the schedule's fields."""
    sources = [source_json(h, skipped.get(h.name, 0)) for h in health]
    return {"sources": sources, **sched.as_json()}


def status_text(
    health: Sequence[SourceHealth],
    skipped: Mapping[str, int],
    sched: ScheduleStatus,
    timezone: str,
) -> list[str]:
    """``syncd status``: the sources' lines, then the schedule's."""
    lines = [line for h in health for line in source_lines(h, skipped.get(h.name, 0), timezone)]
    return lines + status_lines(sched, timezone)
