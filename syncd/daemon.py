"""``syncd run``: the background service.

One loop, one thread: sync each source when its (jittered) interval is up, send the digest
when the weekly slot (``[digest] schedule`` in the user's zone) has passed and its period has
no digest yet, then sleep until the next thing is due. Times are wall-clock and sleeps are
capped at a minute, so a machine that slept through Monday morning notices on wake and sends
the missed digest once (the exactly-once record is syncd.sendlog).

- A lock file next to the store (``<store>.lock``, fcntl) keeps a second instance out.
- SIGTERM/SIGINT: stop after the current batch (sync_source's ``should_stop``).
- SIGHUP: reload the config; a broken config is logged and the old one kept.
- A failing source backs off (interval x 2^failures, at most MAX_BACKOFF); others go on.
- What the loop plans (next sync per source, next digest) is written to the store's meta
  table so that ``syncd status`` can show it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from syncd.config import Config, load_config
from syncd.digest import period_of
from syncd.errors import SyncdError
from syncd.store import Store

log = logging.getLogger("syncd.daemon")

JITTER = 0.1  # each interval is stretched or shrunk by up to 10% so sources do not align
MAX_BACKOFF = 6 * 3600.0
DIGEST_RETRY = (300.0, 3600.0)  # first retry of a failed send, and the longest wait
MAX_SLEEP = 60.0  # re-read the wall clock at least this often (suspend, clock changes)
META_STATE = "daemon.state"
META_SINCE = "daemon.first_run"  # slots before the first ever start are not "missed"
META_HANDLED = "daemon.digest_handled"  # last period whose slot was dealt with (even empty)


class AlreadyRunning(SyncdError):
    """Another ``syncd run`` holds the store's lock."""

    exit_code = 1


# ------------------------------------------------------------------------------ logging
_PRIORITY = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


class JournalFormatter(logging.Formatter):
    """No timestamps (journald and launchd add their own). Under systemd (JOURNAL_STREAM is
    set) each line starts with the sd-daemon ``<N>`` priority; in a terminal, ``level: ``."""

    def __init__(self, journal: bool):
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.name.startswith("syncd.connectors") or not record.name.startswith("syncd"):
            text = f"{record.name}: {text}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if self.journal:
            prefix = f"<{_PRIORITY.get(record.levelname, 6)}>"
            return "\n".join(prefix + line for line in text.splitlines())
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {text}"
        return text


def configure_logging(verbose: int = 0) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JournalFormatter(journal="JOURNAL_STREAM" in os.environ))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
    if verbose < 2:  # client libraries are chatty at INFO
        for noisy in ("googleapiclient", "urllib3", "msal", "caldav", "imapclient", "mail.log"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


# ------------------------------------------------------------------------------ the lock
def lock_file(store_path: Path) -> Path:
    return Path(str(store_path) + ".lock")


def acquire_lock(store_path: Path) -> int:
    """Take the run lock (a file descriptor to keep open), or raise AlreadyRunning."""
    path = lock_file(store_path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        pid = running_pid(store_path)
        who = f" (pid {pid})" if pid else ""
        raise AlreadyRunning(
            f"another `syncd run` is already running for {store_path}{who}; not starting a "
            f"second one (lock file {path})"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def running_pid(store_path: Path) -> int | None:
    """The pid of the ``syncd run`` holding the lock, or None when nobody holds it."""
    path = lock_file(store_path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = path.read_text().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------ schedule
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
    """(period, slot) when the latest slot's digest is still owed, else None."""
    from syncd import sendlog

    tz = ZoneInfo(config.me.timezone)
    slot = latest_slot(now, config.digest.schedule, tz)
    since = store.get_meta(META_SINCE)
    if since and slot < datetime.fromisoformat(since):
        return None
    period = period_of(slot, config.me.timezone)
    row = sendlog.get(store, period)
    if row and row.state == sendlog.SENT:
        return None
    if row is None and store.get_meta(META_HANDLED) == period:
        return None  # nothing to say that week
    return period, slot


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


# ------------------------------------------------------------------------------ the loop
@dataclass
class _SourcePlan:
    due: float  # wall-clock epoch seconds
    failures: int = 0
    needs_reauth: bool = False


@dataclass
class Daemon:
    config: Config
    store: Store
    config_path: Path | None = None
    once: bool = False  # one round (sync every source, send a due digest), then return
    clock: Callable[[], float] = time.time
    max_sleep: float = MAX_SLEEP
    plans: dict[str, _SourcePlan] = field(default_factory=dict)
    _stop: bool = False
    _reload: bool = False
    _wake: threading.Event = field(default_factory=threading.Event)
    _digest_retry_at: float = 0.0
    _digest_failures: int = 0

    # -- signals
    def stop(self, *_: Any) -> None:
        self._stop = True
        self._wake.set()

    def request_reload(self, *_: Any) -> None:
        self._reload = True
        self._wake.set()

    def install_signal_handlers(self) -> None:
        def on_stop(signum: int, _frame: FrameType | None) -> None:
            if not self._stop:
                log.info("%s: stopping after the current batch", signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, lambda *_: self.request_reload())

    def should_stop(self) -> bool:
        return self._stop

    # -- main loop
    def run(self) -> int:
        if self.store.get_meta(META_SINCE) is None:
            self.store.set_meta(META_SINCE, _iso(self.clock()))
        self._plan_sources()
        names = ", ".join(self.plans) or "none"
        wd, hh, mm = self.config.digest.schedule
        day = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"][wd]
        log.info(
            "syncd run: pid %d; sources: %s; digest %s %02d:%02d %s via %s",
            os.getpid(),
            names,
            day,
            hh,
            mm,
            self.config.me.timezone,
            self.config.digest.via,
        )
        while not self._stop:
            if self._reload:
                self._reload = False
                self.reload()
            self._sync_due()
            if self._stop:
                break
            self._digest_tick()
            self._save_state()
            if self.once:
                break
            self._wake.wait(self._sleep_for())
            self._wake.clear()
        self._save_state(stopped=True)
        log.info("syncd run: stopped")
        return 0

    def _interval(self, name: str) -> float:
        src = self.config.sources[name]
        iv = src.get("interval")
        return iv.total_seconds() if iv else 900.0

    def _jittered(self, seconds: float) -> float:
        return seconds * random.uniform(1 - JITTER, 1 + JITTER)

    def _plan_sources(self) -> None:
        now = self.clock()
        enabled = [n for n, s in self.config.sources.items() if s.get("enabled", True)]
        self.plans = {n: self.plans.get(n) or _SourcePlan(due=now) for n in enabled}

    def _sync_due(self) -> None:
        from syncd.rules import contact_rules
        from syncd.sync import sync_source

        # After a rule change (config reload, new syncd) contacts are re-derived first, in
        # chunks that each commit: a stop between two leaves the rest for the next round.
        n = self.store.bring_derived_up_to_date(
            contact_rules(self.config), should_stop=self.should_stop
        )
        if n:
            log.info("contacts: derived %d interactions with the current rules", n)

        for name in sorted(self.plans, key=lambda n: self.plans[n].due):
            plan = self.plans[name]
            if self._stop:
                return
            if plan.needs_reauth and self._reauthed(name):
                log.info("%s: signed in again; syncing now", name)
                plan.needs_reauth, plan.failures, plan.due = False, 0, self.clock()
            if plan.due > self.clock() and not self.once:
                continue
            src = self.config.sources[name]
            started = time.monotonic()
            try:
                res = sync_source(self.store, self.config, src, should_stop=self.should_stop)
            except Exception:  # a bug in one connector must not stop the others
                log.exception("%s: sync crashed", name)
                self._backoff(name, "crashed")
                continue
            took = time.monotonic() - started
            if res.ok:
                plan.failures, plan.needs_reauth = 0, False
                plan.due = self.clock() + self._jittered(self._interval(name))
                level = logging.INFO if (res.upserted or res.deleted or res.skipped) else 10
                log.log(
                    level,
                    "%s: synced in %.1fs: %d new or changed, %d deleted, %d skipped",
                    name,
                    took,
                    res.upserted,
                    res.deleted,
                    res.skipped,
                )
            elif res.needs_reauth:
                plan.needs_reauth = True
                plan.due = self.clock() + MAX_BACKOFF
                log.error("%s: needs you to sign in again: %s", name, res.error)
            else:
                self._backoff(name, res.error or "failed")

    def _backoff(self, name: str, error: str) -> None:
        plan = self.plans[name]
        plan.failures += 1
        wait = min(self._interval(name) * 2 ** (plan.failures - 1), MAX_BACKOFF)
        wait = self._jittered(wait)
        plan.due = self.clock() + wait
        log.warning(
            "%s: sync failed (%d in a row): %s; next try in %s",
            name,
            plan.failures,
            error,
            _span(wait),
        )

    def _reauthed(self, name: str) -> bool:
        st = self.store.source_state(name)
        return st is not None and st.auth_state == "ok"

    def _digest_tick(self) -> None:
        from syncd.delivery import deliver_digest
        from syncd.digest import build_digest

        now_ts = self.clock()
        if now_ts < self._digest_retry_at:
            return
        now = datetime.fromtimestamp(now_ts, UTC)
        try:
            due = due_digest(self.store, self.config, now)
            if due is None:
                return
            period, slot = due
            late = now - slot
            if late > timedelta(minutes=10):
                log.info("digest for %s was due %s ago: sending it now", period, _span(late))
            d = build_digest(self.store, self.config, now)
            outcome = deliver_digest(self.store, self.config, d, period=period, now=now)
        except SyncdError as e:
            self._digest_failures += 1
            wait = min(DIGEST_RETRY[0] * 2 ** (self._digest_failures - 1), DIGEST_RETRY[1])
            self._digest_retry_at = now_ts + wait
            log.error("digest: %s; next try in %s", e, _span(wait))
            return
        except Exception:
            self._digest_failures += 1
            self._digest_retry_at = now_ts + DIGEST_RETRY[1]
            log.exception("digest: sending crashed; next try in %s", _span(DIGEST_RETRY[1]))
            return
        self._digest_failures, self._digest_retry_at = 0, 0.0
        self.store.set_meta(META_HANDLED, period)
        log.info("digest: %s", outcome)

    def _next_digest_ts(self) -> float:
        now = datetime.fromtimestamp(self.clock(), UTC)
        if due_digest(self.store, self.config, now) is not None:
            return max(self._digest_retry_at, self.clock())
        tz = ZoneInfo(self.config.me.timezone)
        return next_slot(now, self.config.digest.schedule, tz).timestamp()

    def _sleep_for(self) -> float:
        nxt = min([p.due for p in self.plans.values()] + [self._next_digest_ts()])
        return min(max(nxt - self.clock(), 0.05), self.max_sleep)

    def reload(self) -> None:
        if self.config_path is None:
            log.warning("SIGHUP: no config file to reload")
            return
        try:
            new = load_config(self.config_path)
        except SyncdError as e:
            log.error("SIGHUP: config not reloaded, keeping the old one: %s", e)
            return
        if new.store_path != self.config.store_path:
            log.warning("SIGHUP: [store] path changed; restart syncd run to use the new store")
            new = replace(new, store_path=self.config.store_path)
        self.config = new
        self._plan_sources()
        log.info("SIGHUP: config reloaded from %s (%d sources)", self.config_path, len(self.plans))

    def _save_state(self, stopped: bool = False) -> None:
        state = {
            "pid": os.getpid(),
            "updated_at": _iso(self.clock()),
            "stopped": stopped,
            "next_sync": {n: _iso(p.due) for n, p in self.plans.items()},
            "failures": {n: p.failures for n, p in self.plans.items() if p.failures},
        }
        self.store.set_meta(META_STATE, json.dumps(state))


def _span(seconds: float | timedelta) -> str:
    s = seconds.total_seconds() if isinstance(seconds, timedelta) else seconds
    if s < 90:
        return f"{s:.0f}s"
    if s < 5400:
        return f"{s / 60:.0f}m"
    if s < 2 * 86400:
        return f"{s / 3600:.1f}h"
    return f"{s / 86400:.1f}d"


# ------------------------------------------------------------------------------ status
@dataclass(frozen=True)
class ScheduleStatus:
    running_pid: int | None
    next_sync: dict[str, datetime]  # only when a daemon is running
    next_digest: datetime | None  # None: due now
    next_digest_period: str
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
    from syncd import sendlog

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
    return ScheduleStatus(
        running_pid=pid,
        next_sync=next_sync,
        next_digest=nxt,
        next_digest_period=period,
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
    if s.next_digest is None:
        lines.append(f"next digest: {s.next_digest_period}, due now")
    else:
        lines.append(f"next digest: {s.next_digest_period}, {local(s.next_digest)}")
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
