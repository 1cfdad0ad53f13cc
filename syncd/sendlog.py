"""The exactly-once record of digests: one row per period in the store's ``digests`` table.

Protocol (see syncd.delivery.deliver_digest):

1. Under the send lock, in one transaction: if the period has no row (or ``--force``), store
   the rendered MIME message and its Message-ID as ``pending``.
2. Send the stored bytes.
3. Mark the row ``sent``.

A crash between 1 and 3 leaves ``pending``: the next attempt resends the *stored* message,
same Message-ID, which mail clients show once. A row in ``sent`` is never sent again without
``--force``. The send lock (a lock file next to the store, syncd.locks) makes a second process wait
for the first to finish instead of racing it, so a ``pending`` row seen under the lock really
is a crash's leftover.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from syncd import locks
from syncd.errors import DeliveryError
from syncd.store import DigestRecord, Store
from syncd.store.digests import PENDING, SENT

__all__ = ["PENDING", "SENT", "DigestRecord", "get", "last_sent", "pending", "reserve"]


def get(store: Store, period: str) -> DigestRecord | None:
    return store.digests.get(period)


def last_sent(store: Store) -> DigestRecord | None:
    return store.digests.last_sent()


def pending(store: Store) -> list[DigestRecord]:
    return store.digests.pending()


def reserve(
    store: Store,
    period: str,
    message_id: str,
    message: str,
    people: Sequence[str],
    *,
    replace: bool,
) -> DigestRecord:
    """Store ``message`` as the period's pending digest and count an attempt, in one
    transaction (step 1). Without ``replace`` an existing row wins (and is returned, attempt
    counted only if it is still pending)."""
    return store.digests.reserve(period, message_id, message, people, replace=replace)


def retry_pending(store: Store, period: str) -> None:
    """Count one more attempt at a pending row (before resending it)."""
    store.digests.retry_pending(period)


def mark_sent(store: Store, period: str, message_id: str) -> None:
    """Step 3: the digest is known sent."""
    store.digests.mark_sent(period, message_id)


def lock_path(store: Store, suffix: str) -> Path | None:
    if store.path is None or str(store.path) == ":memory:":
        return None
    return Path(str(store.path) + suffix)


@contextlib.contextmanager
def send_lock(store: Store, wait: float) -> Iterator[None]:
    """Hold the store's send lock; wait up to ``wait`` seconds for another sender."""
    path = lock_path(store, ".send.lock")
    if path is None:
        yield
        return
    fd = locks.acquire(path, wait)
    if fd is None:
        raise DeliveryError(
            f"another syncd process has been sending the digest for over {wait:.0f}s "
            f"({path}); nothing sent"
        )
    try:
        yield
    finally:
        os.close(fd)  # closing releases the lock
