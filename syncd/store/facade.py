"""The :class:`Store`: one object per open store file, the only way in."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from syncd.models import Batch, ContactDeriver, DeriverFactory
from syncd.store.connection import (
    BUSY_WAIT,
    Connection,
    open_reader,
    open_writer,
    pending_migrations,
)
from syncd.store.derived import Derived, ProgressFn
from syncd.store.digests import Digests
from syncd.store.facts import BatchResult, Facts
from syncd.store.meta import Meta
from syncd.store.people import People


class Store(Facts):
    """An open store: the facts are its own methods (sources, batches, interactions,
    contacts); its parts are ``derived`` (what the rules made of the facts), ``people``
    (per-person settings and merges), ``digests`` (the send log's table) and ``meta``.

    Open it with :meth:`open` to write (sync, settings, sending) or :meth:`open_reader` to
    read (``people``, ``digest``, ``explain``, ``status``): a reader never changes the file.
    """

    def __init__(self, db: Connection, on_stale: Callable[[str], None] | None = None):
        super().__init__(db)
        self.meta = Meta(db)
        self.derived = Derived(
            db, self.meta, self.load_interactions, self.interaction_ids, on_stale=on_stale
        )
        self.people = People(db)
        self.digests = Digests(db)

    # ----------------------------------------------------------------- lifecycle
    @classmethod
    def open(cls, path: Path | str, *, busy_wait: float = BUSY_WAIT) -> Store:
        """Open (creating if needed) the store at ``path`` to write: owner-only, WAL,
        migrated."""
        return cls(open_writer(path, busy_wait))

    @classmethod
    def open_reader(
        cls,
        path: Path | str,
        *,
        on_stale: Callable[[str], None] | None = None,
        busy_wait: float = BUSY_WAIT,
    ) -> Store:
        """Open the store at ``path`` to read only (a missing store reads as empty).

        ``on_stale`` hears, once, that the stored derivation was out of date and was computed
        in memory instead (default: a logged warning)."""
        return cls(open_reader(path, busy_wait), on_stale=on_stale)

    def close(self) -> None:
        self._db.close()

    @property
    def path(self) -> Path | None:
        """The store's file (None for a store in memory)."""
        return self._db.path

    @property
    def writable(self) -> bool:
        return self._db.writable

    @property
    def conn(self) -> sqlite3.Connection:
        """The raw connection, for tests and tools that inspect the file. syncd's own code
        never uses it outside this package (tests/test_layering.py)."""
        return self._db.sql

    def pending_migrations(self) -> list[str]:
        return pending_migrations(self._db)

    # ----------------------------------------------------------------- writing
    def apply_batch(
        self, source: str, batch: Batch, derive: DeriverFactory | None = None
    ) -> BatchResult:
        """Write one batch, its cursor and what the rules derive from it, atomically;
        replaying it changes nothing.

        ``derive`` gives the rules for the user's accounts (a new account in this batch counts
        from this batch on). Without it, the batch's interactions are queued for the next
        writer that has the rules (:meth:`bring_derived_up_to_date`)."""
        res = BatchResult()
        with self._db.write():
            written = self._write_facts(source, batch, res)
            deriver = derive(frozenset(self.accounts())) if derive else None
            if self.derived.begin_batch(deriver):
                assert deriver is not None
                ids = [*written.upserted, *written.removed]
                rows = deriver.derive(self.load_interactions(written.upserted))
                self.derived.replace(ids, rows)
            else:
                self.derived.forget(written.upserted, written.removed)
        return res

    def bring_derived_up_to_date(
        self,
        derive: DeriverFactory,
        progress: ProgressFn | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> int:
        """Derive every interaction not derived yet with the current rules (all of them after
        a rule change), in chunks that each commit; returns how many were derived."""
        deriver: ContactDeriver = derive(frozenset(self.accounts()))
        return self.derived.bring_up_to_date(deriver, progress, should_stop)

    # ----------------------------------------------------------------- meta
    def get_meta(self, key: str) -> str | None:
        return self.meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self.meta.set(key, value)
