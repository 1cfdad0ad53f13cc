"""Lock files next to the store, and the one helper both are built on.

- The run lock (``<store>.lock``) keeps a second ``syncd run`` for the same store out, and
  tells ``syncd status`` which pid holds it.
- The send lock (``<store>.send.lock``, syncd.sendlog) makes a second sender of the digest
  wait for the first.

Both are ``flock`` locks on an open file: the kernel releases them when the file is closed or
the process dies (even by SIGKILL), so a crash never leaves a stale lock behind. The holder
writes its pid into the file; the file itself is never removed (removing it would let a second
process lock a new file of the same name while the first still holds the old one).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from syncd.errors import SyncdError

POLL = 0.1  # seconds between tries while waiting for a lock


class AlreadyRunning(SyncdError):
    """Another ``syncd run`` holds the store's lock."""

    exit_code = 1


def acquire(path: Path, wait: float = 0.0) -> int | None:
    """Lock ``path`` (created 0600 if missing) exclusively, trying for up to ``wait`` seconds.

    Returns the open file descriptor that holds the lock (close it to release), or None when
    another process still holds it after ``wait``. The pid of this process is written into the
    file for :func:`holder`.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(POLL)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def holder(path: Path) -> int | None:
    """The pid that holds the lock on ``path`` (-1 when it wrote none yet), or None when nobody
    holds it. Never takes the lock for longer than the probe."""
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


# ------------------------------------------------------------------------------ the run lock
def lock_file(store_path: Path) -> Path:
    return Path(str(store_path) + ".lock")


def acquire_lock(store_path: Path) -> int:
    """Take the run lock (a file descriptor to keep open), or raise AlreadyRunning."""
    path = lock_file(store_path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = acquire(path)
    if fd is None:
        pid = running_pid(store_path)
        who = f" (pid {pid})" if pid else ""
        raise AlreadyRunning(
            f"another `syncd run` is already running for {store_path}{who}; not starting a "
            f"second one (lock file {path})"
        )
    return fd


def running_pid(store_path: Path) -> int | None:
    """The pid of the ``syncd run`` holding the lock, or None when nobody holds it."""
    return holder(lock_file(store_path))
