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
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from syncd import locks
from syncd.errors import DeliveryError
from syncd.store import Store

PENDING, SENT = "pending", "sent"


@dataclass(frozen=True)
class DigestRecord:
    period: str
    state: str  # pending | sent
    message_id: str
    message: str  # the exact MIME text
    people: list[str]
    created_at: datetime
    sent_at: datetime | None
    attempts: int


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_COLUMNS = "period, state, message_id, message, people, created_at, sent_at, attempts"


def _record(row: Sequence[object]) -> DigestRecord:
    return DigestRecord(
        period=str(row[0]),
        state=str(row[1]),
        message_id=str(row[2]),
        message=str(row[3] or ""),
        people=json.loads(str(row[4] or "[]")),
        created_at=_dt(str(row[5])) or datetime.now(UTC),
        sent_at=_dt(row[6]),  # type: ignore[arg-type]
        attempts=int(row[7]),  # type: ignore[call-overload]
    )


def get(store: Store, period: str) -> DigestRecord | None:
    row = store.conn.execute(
        f"SELECT {_COLUMNS} FROM digests WHERE period = ?", (period,)
    ).fetchone()
    return _record(row) if row else None


def last_sent(store: Store) -> DigestRecord | None:
    row = store.conn.execute(
        f"SELECT {_COLUMNS} FROM digests WHERE state = 'sent' ORDER BY sent_at DESC LIMIT 1"
    ).fetchone()
    return _record(row) if row else None


def pending(store: Store) -> list[DigestRecord]:
    rows = store.conn.execute(
        f"SELECT {_COLUMNS} FROM digests WHERE state = 'pending' ORDER BY period"
    ).fetchall()
    return [_record(r) for r in rows]


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
    transaction. Without ``replace`` an existing row wins (and is returned, attempt counted
    only if it is still pending)."""
    conn = store.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = get(store, period)
        if row is None or replace:
            conn.execute(
                f"INSERT OR REPLACE INTO digests ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, 1)",
                (period, PENDING, message_id, message, json.dumps(list(people)), _now()),
            )
        elif row.state == PENDING:
            conn.execute("UPDATE digests SET attempts = attempts + 1 WHERE period = ?", (period,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    found = get(store, period)
    assert found is not None
    return found


def retry_pending(store: Store, period: str) -> None:
    """Count one more attempt at a pending row (before resending it)."""
    store.conn.execute(
        "UPDATE digests SET attempts = attempts + 1 WHERE period = ? AND state = 'pending'",
        (period,),
    )


def mark_sent(store: Store, period: str, message_id: str) -> None:
    store.conn.execute(
        "UPDATE digests SET state = 'sent', sent_at = ? WHERE period = ? AND message_id = ?",
        (_now(), period, message_id),
    )


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
