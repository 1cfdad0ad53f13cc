"""The lock helper under both of syncd's locks (syncd.locks): the run lock and the send lock
exclude a second holder, say who holds them, wait as long as asked, and are released when the
holder's file closes or its process dies."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from syncd import locks, sendlog
from syncd.errors import DeliveryError
from syncd.store import Store


def test_a_second_holder_is_refused_and_told_the_first_ones_pid(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    fd = locks.acquire(path)
    assert fd is not None
    try:
        assert locks.acquire(path) is None
        assert locks.holder(path) == os.getpid()
    finally:
        os.close(fd)
    assert locks.holder(path) is None
    again = locks.acquire(path)
    assert again is not None
    os.close(again)


def test_a_waiter_gets_the_lock_once_the_holder_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    fd = locks.acquire(path)
    assert fd is not None
    threading.Timer(0.3, os.close, (fd,)).start()
    started = time.monotonic()
    mine = locks.acquire(path, wait=10)
    assert mine is not None
    assert 0.2 < time.monotonic() - started < 5
    os.close(mine)


def test_a_waiter_gives_up_after_its_wait(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    fd = locks.acquire(path)
    assert fd is not None
    try:
        started = time.monotonic()
        assert locks.acquire(path, wait=0.3) is None
        assert time.monotonic() - started >= 0.3
    finally:
        os.close(fd)


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    code = (
        "import sys, time; from pathlib import Path; from syncd import locks; "
        "assert locks.acquire(Path(sys.argv[1])) is not None; print('held', flush=True); "
        "time.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert locks.holder(path) == holder.pid
        assert locks.acquire(path) is None
    finally:
        holder.kill()
        holder.wait()
    assert locks.holder(path) is None
    fd = locks.acquire(path)
    assert fd is not None
    os.close(fd)


def test_the_lock_file_is_private_to_the_user(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    fd = locks.acquire(path)
    assert fd is not None
    os.close(fd)
    assert path.stat().st_mode & 0o777 == 0o600


def test_send_lock_gives_up_with_one_clear_line_naming_the_lock_file(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "syncd.db")
    other = locks.acquire(tmp_path / "syncd.db.send.lock")
    assert other is not None
    try:
        with (
            pytest.raises(DeliveryError, match=r"sending the digest for over 0s .*send\.lock"),
            sendlog.send_lock(store, wait=0.2),
        ):
            pass
    finally:
        os.close(other)
    with sendlog.send_lock(store, wait=0.2):  # free again
        assert locks.holder(tmp_path / "syncd.db.send.lock") == os.getpid()
