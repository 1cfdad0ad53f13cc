"""The run lock: a file next to the store (``<store>.lock``, fcntl) that keeps a second
``syncd run`` for the same store out, and tells ``syncd status`` which pid holds it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from syncd.errors import SyncdError


class AlreadyRunning(SyncdError):
    """Another ``syncd run`` holds the store's lock."""

    exit_code = 1


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
