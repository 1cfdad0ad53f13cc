"""The daemon's decisions, in process with a controlled clock: the weekly slot in the user's
zone, a digest missed while asleep (sent once), backoff of a failing source, the lock, the
log format, and what `syncd status` shows."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from builders import Mail, at, write_mbox
from conftest import Syncd

from syncd import sendlog
from syncd.config import Config, load_config
from syncd.daemon import Daemon
from syncd.locks import AlreadyRunning, acquire_lock, running_pid
from syncd.logsetup import JournalFormatter
from syncd.schedule import META_SINCE, due_digest, latest_slot, next_slot
from syncd.status import schedule_status
from syncd.store import Store

LONDON = ZoneInfo("Europe/London")
ADA = "Ada Lovelace <ada@example.org>"


class Clock:
    def __init__(self, start: datetime):
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw).total_seconds()


def setup(syncd: Syncd, **digest: Any) -> tuple[Config, Store]:
    weekly = [at("2026-01-05") + timedelta(days=7 * i) for i in range(5)]  # rhythm: a week
    mails = [Mail(ADA, ["Bob <bob@x.example>"], when) for when in weekly]
    write_mbox(syncd.root / "mail.mbox", mails)
    syncd.write_config(
        {"mail": {"type": "mbox", "path": str(syncd.root / "mail.mbox"), "interval": "10m"}},
        me={"timezone": "Europe/London"},
        digest={"via": "file", "file_path": str(syncd.root / "out"), **digest},
    )
    config = load_config(syncd.config_path)
    store = Store.open(config.store_path)
    store.set_meta(META_SINCE, "2026-01-01T00:00:00+00:00")
    return config, store


def eml_count(syncd: Syncd) -> int:
    out = syncd.root / "out"
    return len(list(out.glob("*.eml"))) if out.exists() else 0


# ------------------------------------------------------------------------------ schedule
def test_weekly_slot_is_in_the_users_zone_across_dst() -> None:
    monday_8 = (0, 8, 0)
    # Summer: 08:00 BST is 07:00 UTC; winter: 08:00 GMT is 08:00 UTC.
    summer = datetime(2026, 7, 8, 12, 0, tzinfo=UTC)  # a Wednesday
    assert latest_slot(summer, monday_8, LONDON) == datetime(2026, 7, 6, 7, 0, tzinfo=UTC)
    assert next_slot(summer, monday_8, LONDON) == datetime(2026, 7, 13, 7, 0, tzinfo=UTC)
    # The Monday after the clocks go back (25 Oct 2026): a week apart in local time only.
    before = datetime(2026, 10, 21, tzinfo=UTC)
    assert next_slot(before, monday_8, LONDON) == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)
    # At the slot itself it is the latest one; a minute before, the previous week's.
    slot = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert latest_slot(slot, monday_8, LONDON) == slot
    assert latest_slot(slot - timedelta(minutes=1), monday_8, LONDON) == slot - timedelta(days=7)


def test_missed_digest_is_sent_once_on_wake(syncd: Syncd) -> None:
    config, store = setup(syncd)
    # The machine slept from Sunday to Wednesday: Monday 08:00 passed unseen.
    clock = Clock(datetime(2026, 7, 8, 9, 30, tzinfo=UTC))
    daemon = Daemon(config=config, store=store, clock=clock, once=True)
    daemon.run()
    assert eml_count(syncd) == 1
    row = sendlog.get(store, "2026-W28")
    assert row is not None and row.state == "sent"
    for _ in range(3):  # later rounds in the same week send nothing
        clock.advance(hours=6)
        Daemon(config=config, store=store, clock=clock, once=True).run()
    assert eml_count(syncd) == 1
    clock.advance(days=5)  # next Monday 08:00 has passed: that week's digest
    Daemon(config=config, store=store, clock=clock, once=True).run()
    assert eml_count(syncd) == 2
    assert sendlog.get(store, "2026-W29") is not None


def test_weeks_asleep_send_one_digest_not_a_backlog(syncd: Syncd) -> None:
    config, store = setup(syncd)
    Daemon(config=config, store=store, clock=Clock(at("2026-03-04")), once=True).run()
    Daemon(config=config, store=store, clock=Clock(at("2026-03-30")), once=True).run()
    assert eml_count(syncd) == 2
    assert [r[0] for r in store.conn.execute("SELECT period FROM digests ORDER BY 1")] == [
        "2026-W10",
        "2026-W14",
    ]


def test_slots_before_the_first_start_are_not_missed_digests(syncd: Syncd) -> None:
    config, store = setup(syncd)
    store.set_meta(META_SINCE, "2026-07-07T00:00:00+00:00")  # installed on Tuesday
    now = datetime(2026, 7, 8, 9, 30, tzinfo=UTC)
    assert due_digest(store, config, now) is None
    Daemon(config=config, store=store, clock=Clock(now), once=True).run()
    assert eml_count(syncd) == 0
    assert due_digest(store, config, datetime(2026, 7, 13, 7, 1, tzinfo=UTC)) == (
        "2026-W29",
        datetime(2026, 7, 13, 7, 0, tzinfo=UTC),
    )


def test_an_empty_week_is_decided_once_and_not_retried(syncd: Syncd) -> None:
    config, store = setup(syncd)
    now = datetime(2026, 1, 7, 9, 0, tzinfo=UTC)  # Bob was written to two days ago
    Daemon(config=config, store=store, clock=Clock(now), once=True).run()
    assert eml_count(syncd) == 0
    assert sendlog.get(store, "2026-W02") is None
    assert due_digest(store, config, now + timedelta(hours=1)) is None


def test_a_failing_source_backs_off_while_the_others_sync(syncd: Syncd) -> None:
    write_mbox(syncd.root / "good.mbox", [Mail(ADA, ["bob@x.example"], at("2026-01-05"))])
    syncd.write_config(
        {
            "good": {"type": "mbox", "path": str(syncd.root / "good.mbox"), "interval": "10m"},
            "bad": {"type": "mbox", "path": str(syncd.root / "missing.mbox"), "interval": "10m"},
        },
        digest={"via": "file", "file_path": str(syncd.root / "out")},
    )
    (syncd.root / "missing.mbox").mkdir()  # a folder where a file should be: reading fails
    config = load_config(syncd.config_path)
    store = Store.open(config.store_path)
    clock = Clock(at("2026-01-07"))
    d = Daemon(config=config, store=store, clock=clock)
    d._plan_sources()
    waits = []
    for _ in range(4):
        clock.now = d.plans["bad"].due
        d._sync_due()
        waits.append(d.plans["bad"].due - clock.now)
    assert d.plans["bad"].failures == 4
    assert d.plans["good"].failures == 0
    assert store.conn.execute("SELECT count(*) FROM interactions").fetchone()[0] == 1
    # 10m, 20m, 40m, 80m, each jittered by at most 10%.
    for n, w in enumerate(waits):
        assert 600 * 2**n * 0.89 <= w <= 600 * 2**n * 1.11
    state = store.source_state("bad")
    assert state is not None and state.last_error


def test_jitter_spreads_the_interval(syncd: Syncd) -> None:
    config, store = setup(syncd)
    clock = Clock(at("2026-01-07"))
    dues = set()
    for _ in range(20):
        d = Daemon(config=config, store=store, clock=clock)
        d._plan_sources()
        d._sync_due()
        dues.add(round(d.plans["mail"].due - clock.now))
    assert len(dues) > 5 and all(540 <= s <= 660 for s in dues)


def test_sighup_reload_keeps_the_old_config_when_the_new_one_is_broken(
    syncd: Syncd, caplog: pytest.LogCaptureFixture
) -> None:
    config, store = setup(syncd)
    d = Daemon(config=config, store=store, config_path=syncd.config_path)
    syncd.config_path.write_text(syncd.config_path.read_text() + "\n[digest\n")
    with caplog.at_level(logging.ERROR):
        d.reload()
    assert d.config is config and "config not reloaded" in caplog.text
    syncd.write_config(
        {"other": {"type": "mbox", "path": str(syncd.root / "mail.mbox")}},
        me={"timezone": "Europe/London"},
    )
    d.reload()
    assert list(d.plans) == ["other"]


# ------------------------------------------------------------------------------ the lock
def test_second_instance_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    db = tmp_path / "syncd.db"
    assert running_pid(db) is None
    fd = acquire_lock(db)
    try:
        with pytest.raises(AlreadyRunning, match=r"already running .*pid \d+"):
            acquire_lock(db)
        assert running_pid(db) is not None
    finally:
        import os

        os.close(fd)
    assert running_pid(db) is None
    os_fd = acquire_lock(db)  # free again once the holder is gone
    import os

    os.close(os_fd)


# ------------------------------------------------------------------------------ logs
def _record(level: int, msg: str, name: str = "syncd.daemon") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, None, None)


def test_journal_lines_carry_a_priority_prefix_and_no_timestamp() -> None:
    f = JournalFormatter(journal=True)
    assert f.format(_record(logging.INFO, "mail: synced")) == "<6>mail: synced"
    assert f.format(_record(logging.ERROR, "a\nb")) == "<3>a\n<3>b"
    assert f.format(_record(logging.WARNING, "x", "urllib3")) == "<4>urllib3: x"
    plain = JournalFormatter(journal=False)
    assert plain.format(_record(logging.INFO, "mail: synced")) == "mail: synced"
    assert plain.format(_record(logging.WARNING, "slow")) == "warning: slow"


# ------------------------------------------------------------------------------ status
def test_status_shows_next_digest_and_the_last_one_sent(syncd: Syncd) -> None:
    config, store = setup(syncd)
    now = datetime(2026, 7, 8, 9, 30, tzinfo=UTC)
    s = schedule_status(store, config, now)
    assert s.next_digest is None and s.next_digest_period == "2026-W28"  # due (missed)
    Daemon(config=config, store=store, clock=Clock(now), once=True).run()
    s = schedule_status(store, config, now)
    assert s.next_digest == datetime(2026, 7, 13, 7, 0, tzinfo=UTC)
    assert s.last_sent_period == "2026-W28" and s.last_sent_message_id
    out = syncd.run("status").stdout
    assert "last digest sent: 2026-W28" in out
    assert "next digest: " in out and "syncd run: not running" in out
    js = syncd.json("status")
    assert js["last_digest"]["period"] == "2026-W28"
    assert js["sources"][0]["name"] == "mail"
