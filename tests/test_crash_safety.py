"""Crash safety (DESIGN.md "How we test"): `syncd sync` killed with SIGKILL at several points
and rerun ends with exactly the store a clean run makes: nothing lost, nothing doubled.

The sync runs as a real process (`python -m syncd`); the test watches the store's committed
interaction count through a read-only connection (WAL lets it read while the sync writes) and
kills the process once the count passes a threshold, or after a delay, wherever it is then.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import toml_dumps

from syncd.cli import cli

REPO = Path(__file__).resolve().parents[1]
N = 20_000
BATCH = 1000


def write_big_mbox(path: Path, n: int, start: int = 0) -> None:
    """n small messages, a third of them from Ada, with a few unparseable ones among them."""
    base = datetime(2024, 1, 1, tzinfo=UTC)
    chunks = []
    for i in range(start, start + n):
        d = base + timedelta(minutes=37 * i)
        ada_writes = i % 3 == 0
        frm = "ada@example.org" if ada_writes else f"Person {i % 700} <p{i % 700}@x.example>"
        to = (
            f"p{i % 700}@x.example, p{(i + 1) % 700}@x.example" if ada_writes else "ada@example.org"
        )
        date = "not a date" if i % 997 == 0 else format_datetime(d)
        chunks.append(
            f"From x@y {d:%a %b %d %H:%M:%S %Y}\nFrom: {frm}\nTo: {to}\nDate: {date}\n"
            f"Subject: message {i}\nMessage-ID: <m{i}@crash.test>\n\nBody {i}\n\n"
        )
    path.write_bytes("".join(chunks).encode())


def write_config(root: Path, mbox: Path, batch: int = BATCH) -> Path:
    config = root / "config.toml"
    config.write_text(
        toml_dumps(
            {
                "me": {"emails": ["ada@example.org"], "timezone": "UTC"},
                "store": {"path": str(root / "syncd.db")},
                "sources": {"mail": {"type": "mbox", "path": str(mbox), "batch_size": batch}},
            }
        )
    )
    return config


def sync_and_kill(
    config: Path, env: dict[str, str], until: Callable[[], bool] | None = None, after: float = 0
) -> bool:
    """Run `syncd sync`; SIGKILL it as soon as ``until()`` holds (or ``after`` seconds have
    passed). True when it was killed, False when it finished first."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncd", "--config", str(config), "sync"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    started = time.monotonic()
    try:
        while proc.poll() is None:
            if (until and until()) or (after and time.monotonic() - started >= after):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.005)
        assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def read(db: Path, sql: str) -> int:
    """One number from the store as committed so far (0 while it does not exist yet)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.5) as conn:
            return conn.execute(sql).fetchone()[0]
    except (sqlite3.Error, TypeError):  # not created yet, or mid-migration
        return 0


def committed(db: Path) -> int:
    return read(db, "SELECT count(*) FROM interactions")


def snapshot(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT i.source_id, i.flags, i.occurred_at, i.head_count, "
            "group_concat(p.role || ':' || p.address, ',') "
            "FROM interactions i LEFT JOIN participants p ON p.interaction_id = i.id "
            "GROUP BY i.id ORDER BY i.source_id"
        ).fetchall()
        n_rows = conn.execute("SELECT count(*) FROM interactions").fetchone()[0]
        n_participants = conn.execute("SELECT count(*) FROM participants").fetchone()[0]
        return {
            "interactions": {(*r[:4], tuple(sorted((r[4] or "").split(",")))) for r in rows},
            "rows": n_rows,
            "distinct": len({r[0] for r in rows}),
            "participants": n_participants,
            "skipped": sorted(conn.execute("SELECT location, reason FROM skipped").fetchall()),
            "cursor": conn.execute("SELECT cursor FROM sources WHERE name = 'mail'").fetchone(),
        }


def clean_run(root: Path, mbox: Path, batch: int = BATCH) -> dict[str, Any]:
    config = write_config(root, mbox, batch)
    r = CliRunner().invoke(cli, ["--config", str(config), "sync"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return snapshot(root / "syncd.db")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }


def test_sync_killed_at_random_points_ends_equal_to_a_clean_run(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", env["XDG_STATE_HOME"])
    mbox = tmp_path / "big.mbox"
    write_big_mbox(mbox, N)
    crash = tmp_path / "crash"
    crash.mkdir()
    config = write_config(crash, mbox)
    db = crash / "syncd.db"

    # Killed while starting up, then at growing counts of committed messages.
    sync_and_kill(config, env, after=0.3)
    seen = [committed(db)]
    for threshold in (2 * BATCH, 7 * BATCH, 13 * BATCH):
        killed = sync_and_kill(config, env, lambda t=threshold: committed(db) >= t)
        assert killed, "finished before the kill"
        seen.append(committed(db))
        assert threshold <= seen[-1] < N
    assert seen == sorted(seen)  # each rerun resumed and went on
    assert not sync_and_kill(config, env)  # the last run completes

    reference = tmp_path / "reference"
    reference.mkdir()
    expected = clean_run(reference, mbox)
    got = snapshot(db)
    assert got["rows"] == got["distinct"] == expected["rows"] == N - len(expected["skipped"])
    assert got == expected
    assert len(expected["skipped"]) == len(range(0, N, 997))


def test_a_full_resync_killed_midway_still_sweeps_exactly(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is rewritten (older mail deleted, newer added): a full resync with a sweep.
    Killed in the middle and rerun, the store still holds exactly the new file's mail."""
    monkeypatch.setenv("XDG_STATE_HOME", env["XDG_STATE_HOME"])
    n, batch = 6000, 500
    mbox = tmp_path / "big.mbox"
    write_big_mbox(mbox, n)
    crash = tmp_path / "crash"
    crash.mkdir()
    config = write_config(crash, mbox, batch)
    db = crash / "syncd.db"
    r = CliRunner().invoke(cli, ["--config", str(config), "sync"], catch_exceptions=False)
    assert r.exit_code == 0

    write_big_mbox(mbox, n, start=n // 2)  # the older half deleted, a newer half added
    seq = "SELECT seq FROM sources WHERE name = 'mail'"
    seq_before = read(db, seq)
    assert sync_and_kill(config, env, lambda: read(db, seq) - seq_before >= 3)
    assert 3 <= read(db, seq) - seq_before < n // batch  # killed in the middle
    gone = "SELECT count(*) FROM interactions WHERE source_id = 'mid:m1@crash.test'"
    assert read(db, gone) == 1  # not swept yet: that happens at the end of the resync
    assert not sync_and_kill(config, env)

    reference = tmp_path / "reference"
    reference.mkdir()
    got, expected = snapshot(db), clean_run(reference, mbox, batch)
    # Skips are kept by location (file:offset) and a resync does not sweep them: the old
    # file's unparseable messages are still counted. Everything else is exact.
    assert set(got.pop("skipped")) >= set(expected.pop("skipped"))
    assert got == expected
    unparseable = sum(1 for i in range(n // 2, n + n // 2) if i % 997 == 0)
    assert got["rows"] == got["distinct"] == n - unparseable
