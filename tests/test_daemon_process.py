"""`syncd run` as a real process: it syncs an mbox on a short interval, notices appended mail,
reloads its config on SIGHUP, refuses a second instance, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from builders import Mail, append_mbox, at, write_mbox
from conftest import Syncd

ADA = "Ada Lovelace <ada@example.org>"
CLI = [sys.executable, "-c", "from syncd.cli import main; main()"]


def start(syncd: Syncd, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    log = (syncd.root / "daemon.log").open("a")
    return subprocess.Popen(
        [*CLI, "--config", str(syncd.config_path), "run", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=Path(__file__).resolve().parents[1],
    )


def wait_for(what: str, check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def count(db: Path, sql: str = "SELECT count(*) FROM interactions") -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # not created or not migrated yet
        return -1


def log_text(syncd: Syncd) -> str:
    p = syncd.root / "daemon.log"
    return p.read_text() if p.exists() else ""


@pytest.fixture
def daemon_env(syncd: Syncd) -> Iterator[Syncd]:
    write_mbox(syncd.root / "mail.mbox", [Mail(ADA, ["bob@x.example"], at("2026-01-05"))])
    syncd.write_config(
        {"mail": {"type": "mbox", "path": str(syncd.root / "mail.mbox"), "interval": "1s"}},
        digest={"via": "file", "file_path": str(syncd.root / "out")},
    )
    yield syncd


def test_run_syncs_appended_mail_and_stops_cleanly_on_sigterm(daemon_env: Syncd) -> None:
    syncd = daemon_env
    proc = start(syncd)
    try:
        wait_for("the first sync", lambda: count(syncd.store_path) == 1)
        append_mbox(
            syncd.root / "mail.mbox",
            [Mail(ADA, ["carol@x.example"], at(f"2026-02-{d:02d}")) for d in range(1, 4)],
        )
        wait_for("appended mail to be synced", lambda: count(syncd.store_path) == 4)

        second = subprocess.run(
            [*CLI, "--config", str(syncd.config_path), "run"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 1
        assert "already running" in second.stderr and str(proc.pid) in second.stderr

        status = syncd.run("status").stdout
        assert f"syncd run: running (pid {proc.pid})" in status
        assert "next sync of mail: " in status

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = log_text(syncd)
    assert "SIGTERM: stopping after the current batch" in log and "stopped" in log
    assert not any(line[:4].isdigit() for line in log.splitlines())  # no timestamps
    with sqlite3.connect(syncd.store_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute(
            "SELECT count(*), count(DISTINCT source_id) FROM interactions"
        ).fetchone() == (4, 4)
    # The lock went with the process: a new instance starts (and stops) fine.
    again = start(syncd, "--once")
    assert again.wait(timeout=30) == 0
    assert "syncd run: not running" in syncd.run("status").stdout


def test_sighup_reloads_the_config(daemon_env: Syncd) -> None:
    syncd = daemon_env
    proc = start(syncd)
    try:
        wait_for("the first sync", lambda: count(syncd.store_path) == 1)
        write_mbox(syncd.root / "more.mbox", [Mail(ADA, ["dan@x.example"], at("2026-03-01"))])
        syncd.write_config(
            {
                "mail": {"type": "mbox", "path": str(syncd.root / "mail.mbox"), "interval": "1s"},
                "more": {"type": "mbox", "path": str(syncd.root / "more.mbox"), "interval": "1s"},
            },
            digest={"via": "file", "file_path": str(syncd.root / "out")},
        )
        proc.send_signal(signal.SIGHUP)
        wait_for("the new source to sync", lambda: count(syncd.store_path) == 2)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "config reloaded" in log_text(syncd)
