"""The store's small key-value table ``meta``: bookkeeping of the store itself and of the
daemon (its plan, shown by ``syncd status``)."""

from __future__ import annotations

from syncd.store.connection import Connection


class Meta:
    def __init__(self, db: Connection):
        self._db = db

    def get(self, key: str) -> str | None:
        row = self._db.sql.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set(self, key: str, value: str) -> None:
        """Set ``key`` (in the caller's write transaction, or its own)."""
        with self._db.write() as sql:
            sql.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
