"""The send log's table ``digests``: one row per period, ``pending`` from just before a digest
is sent until it is known sent. The exactly-once protocol that uses it is syncd.sendlog's."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from syncd.store.connection import Connection

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


_COLUMNS = "period, state, message_id, message, people, created_at, sent_at, attempts"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _record(row: Sequence[object]) -> DigestRecord:
    period, state, message_id, message, people, created_at, sent_at, attempts = row
    return DigestRecord(
        period=str(period),
        state=str(state),
        message_id=str(message_id),
        message=str(message or ""),
        people=json.loads(str(people or "[]")),
        created_at=datetime.fromisoformat(str(created_at)) if created_at else datetime.now(UTC),
        sent_at=datetime.fromisoformat(str(sent_at)) if sent_at else None,
        attempts=int(str(attempts)),
    )


class Digests:
    def __init__(self, db: Connection):
        self._db = db

    def get(self, period: str) -> DigestRecord | None:
        row = self._db.sql.execute(
            f"SELECT {_COLUMNS} FROM digests WHERE period = ?", (period,)
        ).fetchone()
        return _record(row) if row else None

    def last_sent(self) -> DigestRecord | None:
        row = self._db.sql.execute(
            f"SELECT {_COLUMNS} FROM digests WHERE state = 'sent' ORDER BY sent_at DESC LIMIT 1"
        ).fetchone()
        return _record(row) if row else None

    def pending(self) -> list[DigestRecord]:
        rows = self._db.sql.execute(
            f"SELECT {_COLUMNS} FROM digests WHERE state = 'pending' ORDER BY period"
        ).fetchall()
        return [_record(r) for r in rows]

    def periods(self) -> list[str]:
        """Every period with a row, in order."""
        return [r[0] for r in self._db.sql.execute("SELECT period FROM digests ORDER BY period")]

    def reserve(
        self,
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
        with self._db.write() as sql:
            row = self.get(period)
            if row is None or replace:
                sql.execute(
                    f"INSERT OR REPLACE INTO digests ({_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, NULL, 1)",
                    (period, PENDING, message_id, message, json.dumps(list(people)), _now()),
                )
            elif row.state == PENDING:
                sql.execute(
                    "UPDATE digests SET attempts = attempts + 1 WHERE period = ?", (period,)
                )
        found = self.get(period)
        assert found is not None
        return found

    def retry_pending(self, period: str) -> None:
        """Count one more attempt at a pending row (before resending it)."""
        with self._db.write() as sql:
            sql.execute(
                "UPDATE digests SET attempts = attempts + 1 WHERE period = ? AND state = ?",
                (period, PENDING),
            )

    def mark_sent(self, period: str, message_id: str) -> None:
        with self._db.write() as sql:
            sql.execute(
                "UPDATE digests SET state = ?, sent_at = ? WHERE period = ? AND message_id = ?",
                (SENT, _now(), period, message_id),
            )
