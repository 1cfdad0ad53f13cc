"""``syncd run``: the background service.

One loop, one thread: sync each source when its (jittered) interval is up, send the digest
when the weekly slot (``[digest] schedule`` in the user's zone) has passed and its period has
no digest yet, then sleep until the next thing is due. Times are wall-clock and sleeps are
capped at a minute, so a machine that slept through Monday morning notices on wake and sends
the missed digest once (the exactly-once record is syncd.sendlog).

- A lock file next to the store (syncd.locks) keeps a second instance out.
- SIGTERM/SIGINT: stop after the current batch (sync_source's ``should_stop``).
- SIGHUP: reload the config; a broken config is logged and the old one kept.
- A failing source backs off (interval x 2^failures, at most MAX_BACKOFF); others go on.
- What the loop plans (next sync per source, next digest) is written to the store's meta
  table so that ``syncd status`` can show it.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from syncd.config import Config, load_config
from syncd.errors import SyncdError
from syncd.schedule import META_HANDLED, META_SINCE, META_STATE, due_digest, next_slot
from syncd.store import Store

log = logging.getLogger("syncd.daemon")

JITTER = 0.1  # each interval is stretched or shrunk by up to 10% so sources do not align
MAX_BACKOFF = 6 * 3600.0
DIGEST_RETRY = (300.0, 3600.0)  # first retry of a failed send, and the longest wait
MAX_SLEEP = 60.0  # re-read the wall clock at least this often (suspend, clock changes)


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
                # Items read again as stored (a rewritten or touched file) are no news.
                news = res.inserted or res.changed or res.deleted or res.skipped
                log.log(
                    logging.INFO if news else logging.DEBUG,
                    "%s: synced in %.1fs: %d new, %d changed, %d deleted, %d skipped%s",
                    name,
                    took,
                    res.inserted,
                    res.changed,
                    res.deleted,
                    res.skipped,
                    f" ({res.unchanged} read again unchanged)" if res.unchanged else "",
                )
                for reason, n in sorted(res.ignored.items()):
                    log.info("%s: %d ignored (%s)", name, n, reason)
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
