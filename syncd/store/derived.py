"""The derived tables: what the rules made of the facts, kept so that reads are fast.

- ``contact_log``: one row per (interaction, address) that counts as contact (a ContactRow);
- ``address_names``: how often each display name was seen in those rows (kept by triggers);
- ``address_summary``: per address, the aggregates ``people`` and ``digest`` read (an
  AddressSummary), exact for every address at the end of every write transaction;
- bookkeeping: ``meta.contact_rules`` (the fingerprint of the rules the rows were derived
  with), ``contact_queue`` (interactions still to derive) and ``summary_dirty`` (addresses whose
  summary is behind; filled by triggers).

**Writers derive.** :meth:`Derived.replace` runs inside the batch's own transaction
(``Store.apply_batch``), and :meth:`Derived.bring_up_to_date` re-derives everything after a
rule change, in chunks that each commit, so a killed run resumes where it stopped.

**Readers never write.** When a reader finds the stored rows stale (other rules, a queue left
by an older syncd, summaries behind), :meth:`Derived.prepare` computes the missing part with the
same deriver in memory, into TEMP tables of its own connection that shadow the stored ones
(syncd.store.shadow): the read queries below see them and the file is never touched.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from syncd.models import (
    AddressSummary,
    ContactDeriver,
    ContactRef,
    ContactRow,
    StoredInteraction,
)
from syncd.store.connection import Connection, chunks, marks
from syncd.store.meta import Meta
from syncd.store.shadow import build_shadow, drop_shadow
from syncd.store.summaries import (
    LOG_COLUMNS,
    SUMMARY_COLUMNS,
    grow,
    log_row,
    read_summaries,
    summaries_from_log,
    summary_values,
)

log = logging.getLogger(__name__)

RULES_KEY = "contact_rules"  # meta: fingerprint of the rules contact_log was derived with
DERIVE_CHUNK = 5000  # interactions derived per transaction when re-deriving
_DAY = 86400

ProgressFn = Callable[[int, int], None]  # (done, total)
Loader = Callable[[Sequence[int]], list[StoredInteraction]]  # interactions by id
IdPager = Callable[[int, int], list[int]]  # (after id, limit) -> ascending ids


class Derived:
    """The derived tables of one store connection: writes for writers, reads for all."""

    def __init__(
        self,
        db: Connection,
        meta: Meta,
        load: Loader,
        page_ids: IdPager,
        on_stale: Callable[[str], None] | None = None,
    ):
        self._db = db
        self._meta = meta
        self._load = load
        self._page_ids = page_ids
        self.on_stale = on_stale or (lambda message: log.warning("%s", message))
        self._prepared: str | None = None  # fingerprint the reads are current for

    # ================================================================= freshness
    def stale_reason(self, fingerprint: str) -> str | None:
        """Why the stored rows are not current for rules with this fingerprint; None if
        they are."""
        sql = self._db.sql
        if self._meta.get(RULES_KEY) != fingerprint:
            if sql.execute("SELECT 1 FROM main.interactions LIMIT 1").fetchone() is None:
                return None  # nothing to derive
            return "the rules changed since the contacts were derived (config or syncd update)"
        queued = sql.execute("SELECT count(*) FROM main.contact_queue").fetchone()[0]
        if queued:
            return f"{queued:,} interactions have not been derived into contacts yet"
        if sql.execute("SELECT 1 FROM main.summary_dirty LIMIT 1").fetchone():
            return "some contact summaries are out of date"
        return None

    def prepare(self, deriver: ContactDeriver) -> None:
        """Make the reads below current for ``deriver``'s rules.

        A writer brings the stored tables up to date; a reader, which never writes, computes
        what is stale in memory (once per connection) and says so once through ``on_stale``."""
        fingerprint = deriver.fingerprint()
        if self._prepared == fingerprint:
            return
        if self._db.writable:
            self.bring_up_to_date(deriver)
        else:
            reason = self.stale_reason(fingerprint)
            if self._prepared is not None:
                drop_shadow(self._db.sql)
            if reason is not None:
                self._shadow(deriver)
                self.on_stale(
                    f"{reason}: computed them in memory for this command; "
                    "`syncd sync` will store them"
                )
        self._prepared = fingerprint

    # ================================================================= writers
    def bring_up_to_date(
        self,
        deriver: ContactDeriver,
        progress: ProgressFn | None = None,
        should_stop: Callable[[], bool] | None = None,
        chunk: int = DERIVE_CHUNK,
    ) -> int:
        """Derive what is not derived yet (everything, when the rules changed), ``chunk``
        interactions per transaction; returns how many were derived.

        Each chunk commits with its removal from the queue, so a run that is killed or told to
        stop (``should_stop``, checked between chunks) leaves a consistent store and the next
        writer resumes with the rest."""
        fingerprint = deriver.fingerprint()
        if self._meta.get(RULES_KEY) != fingerprint:
            with self._db.write():  # checked again under the lock: another writer may be first
                if self._meta.get(RULES_KEY) != fingerprint:
                    self._reset(fingerprint)
        sql = self._db.sql
        total = sql.execute("SELECT count(*) FROM contact_queue").fetchone()[0]
        done = 0
        while total and not (should_stop and should_stop()):
            with self._db.write():
                ids = [
                    r[0]
                    for r in sql.execute(
                        "SELECT interaction_id FROM contact_queue ORDER BY interaction_id LIMIT ?",
                        (chunk,),
                    )
                ]
                if not ids:
                    break
                # Summaries are caught up once at the end (one pass over the log, not one per
                # chunk); the addresses they miss stay marked dirty until then, even over a kill.
                self.replace(ids, deriver.derive(self._load(ids)), summaries=False)
            done += len(ids)
            if progress:
                progress(done, total)
        if not (should_stop and should_stop()):
            self._catch_up_summaries()
        self._prepared = None
        return done

    def _reset(self, fingerprint: str) -> None:
        """Other rules: forget every derived row and queue every interaction (in the caller's
        transaction)."""
        sql = self._db.sql
        sql.execute("DELETE FROM contact_log")
        sql.execute("DELETE FROM address_names")
        sql.execute("DELETE FROM address_summary")
        sql.execute("DELETE FROM summary_dirty")
        sql.execute("DELETE FROM contact_queue")
        sql.execute("INSERT INTO contact_queue SELECT id FROM interactions")
        self._meta.set(RULES_KEY, fingerprint)
        self._prepared = None

    def _catch_up_summaries(self) -> None:
        """Recompute the summaries marked dirty (by an older syncd, or writes without a
        deriver), 500 addresses per transaction."""
        sql = self._db.sql
        while sql.execute("SELECT 1 FROM summary_dirty LIMIT 1").fetchone():
            with self._db.write():
                dirty = [r[0] for r in sql.execute("SELECT address FROM summary_dirty LIMIT 500")]
                if not dirty:
                    return
                self._recompute_summaries(dirty)
                sql.execute(
                    f"DELETE FROM summary_dirty WHERE address IN ({marks(len(dirty))})", dirty
                )

    def begin_batch(self, deriver: ContactDeriver | None) -> bool:
        """At the start of a batch's transaction: True when the batch can be derived with
        ``deriver`` right away. Other rules than the stored rows' reset the derived tables
        first (everything else is queued, for ``bring_up_to_date``)."""
        if deriver is None:
            return False
        fingerprint = deriver.fingerprint()
        if self._meta.get(RULES_KEY) != fingerprint:
            self._reset(fingerprint)
        return True

    def forget(self, upserted: Sequence[int], removed: Sequence[int]) -> None:
        """Without a deriver: drop the rows of written and removed interactions and queue the
        written ones for the next writer that has one (in the caller's transaction)."""
        self._prepared = None
        sql = self._db.sql
        for chunk in chunks([*upserted, *removed]):
            m = marks(len(chunk))
            sql.execute(f"DELETE FROM contact_log WHERE interaction_id IN ({m})", chunk)
            sql.execute(f"DELETE FROM contact_queue WHERE interaction_id IN ({m})", chunk)
        sql.executemany("INSERT OR IGNORE INTO contact_queue VALUES (?)", [(i,) for i in upserted])

    def replace(
        self, ids: Sequence[int], rows: Iterable[ContactRow], *, summaries: bool = True
    ) -> None:
        """The contact rows of interactions ``ids`` become ``rows`` (an interaction that was
        removed, or no longer counts, gets none); names and summaries follow, exactly. Runs in
        the caller's write transaction.

        Only rows that differ are written: re-storing an unchanged interaction (a replayed
        batch, a full resync) changes nothing. Summaries of addresses that only gained rows
        are updated from the new rows alone; an address that lost one is recomputed. Without
        ``summaries`` they are left marked dirty (summary_dirty) for a later catch-up."""
        sql = self._db.sql
        old: dict[tuple[int, str], tuple[Any, ...]] = {}
        for chunk in chunks(list(ids)):
            for r in sql.execute(
                f"SELECT {LOG_COLUMNS} FROM contact_log WHERE interaction_id IN "
                f"({marks(len(chunk))})",
                chunk,
            ):
                old[(r[0], r[1])] = tuple(r)
        new = {(r.interaction_id, r.address): log_row(r) for r in rows}
        gone = [key for key, value in old.items() if new.get(key) != value]
        added = [value for key, value in new.items() if old.get(key) != value]
        sql.executemany("DELETE FROM contact_log WHERE interaction_id = ? AND address = ?", gone)
        if not summaries:
            sql.executemany(
                f"INSERT INTO contact_log ({LOG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", added
            )
            self._dequeue(ids)
            return
        # Summaries already behind (an older syncd's writes, a catch-up still to come) and
        # those of addresses that lost a row are recomputed; the others grow.
        behind = {r[0] for r in sql.execute("SELECT address FROM summary_dirty")}
        recompute = behind | {address for _, address in gone}
        gained: dict[str, list[tuple[Any, ...]]] = {}
        for row in added:
            if row[1] not in recompute:
                gained.setdefault(row[1], []).append(row)
        updates = self._grown_summaries(gained)  # before the new rows are in
        sql.executemany(
            f"INSERT INTO contact_log ({LOG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", added
        )
        self._dequeue(ids)
        sql.executemany(
            f"INSERT OR REPLACE INTO address_summary ({SUMMARY_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [summary_values(s) for s in updates],
        )
        self._recompute_summaries(sorted(recompute))
        sql.execute("DELETE FROM summary_dirty")  # every address the triggers marked is done

    def _dequeue(self, ids: Sequence[int]) -> None:
        for chunk in chunks(list(ids)):
            self._db.sql.execute(
                f"DELETE FROM contact_queue WHERE interaction_id IN ({marks(len(chunk))})", chunk
            )

    def _grown_summaries(self, gained: dict[str, list[tuple[Any, ...]]]) -> list[AddressSummary]:
        """The summaries of addresses after gaining these rows (none of them stored yet)."""
        current: dict[str, AddressSummary] = {}
        addresses = sorted(gained)
        for chunk in chunks(addresses):
            current.update(
                (s.address, s)
                for s in read_summaries(
                    self._db.sql,
                    f"SELECT {SUMMARY_COLUMNS} FROM address_summary WHERE address IN "
                    f"({marks(len(chunk))})",
                    chunk,
                )
            )
        return [
            grow(current.get(a), a, gained[a], functools.partial(self._had_day, a))
            for a in addresses
        ]

    def _had_day(self, address: str, day: int) -> bool:
        # A local day lies within a day of the same UTC day: the (address, ts) index finds it.
        return (
            self._db.sql.execute(
                "SELECT 1 FROM contact_log WHERE address = ? AND ts BETWEEN ? AND ? AND day = ? "
                "LIMIT 1",
                (address, (day - 1) * _DAY, (day + 2) * _DAY, day),
            ).fetchone()
            is not None
        )

    def _recompute_summaries(self, addresses: Sequence[str]) -> None:
        """Recompute the stored summaries of ``addresses`` from their rows (in the caller's
        transaction); an address without rows loses its summary."""
        sql = self._db.sql
        for chunk in chunks(addresses):
            fresh = summaries_from_log(self._db.sql, chunk, None)
            sql.execute(
                f"DELETE FROM address_summary WHERE address IN ({marks(len(chunk))})", chunk
            )
            sql.executemany(
                f"INSERT INTO address_summary ({SUMMARY_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [summary_values(s) for s in fresh],
            )

    def _shadow(self, deriver: ContactDeriver) -> None:
        same_rules = self._meta.get(RULES_KEY) == deriver.fingerprint()
        build_shadow(self._db.sql, deriver, same_rules, self._load, self._page_ids)

    # ================================================================= reads
    def summaries(self) -> Iterator[AddressSummary]:
        """The summary of every address with contacts."""
        yield from read_summaries(
            self._db.sql, f"SELECT {SUMMARY_COLUMNS} FROM address_summary", ()
        )

    def summaries_until(self, addresses: Sequence[str], until_ts: int) -> list[AddressSummary]:
        """The summaries of ``addresses`` counting only contacts up to ``until_ts``."""
        out: list[AddressSummary] = []
        for chunk in chunks(addresses):
            out.extend(summaries_from_log(self._db.sql, chunk, until_ts))
        return out

    def addresses_with_contacts_after(self, ts: int) -> set[str]:
        return {
            r[0]
            for r in self._db.sql.execute(
                "SELECT DISTINCT address FROM contact_log WHERE ts > ?", (ts,)
            )
        }

    def best_names(self) -> dict[str, str]:
        """Per address, the display name seen most often in its contacts (the first of the
        most frequent, in stored order)."""
        best: dict[str, tuple[int, str]] = {}
        for address, name, n in self._db.sql.execute("SELECT address, name, n FROM address_names"):
            if n > best.get(address, (0, ""))[0]:
                best[address] = (n, name)
        return {a: v[1] for a, v in best.items()}

    def names_seen(self) -> dict[str, dict[str, int]]:
        """Per address, every display name seen in its contacts and how often."""
        out: dict[str, dict[str, int]] = {}
        for address, name, n in self._db.sql.execute("SELECT address, name, n FROM address_names"):
            out.setdefault(address, {})[name] = n
        return out

    def first_contacts(self, addresses: Sequence[str]) -> dict[str, int]:
        """Per address (of those with contacts), the epoch seconds of its first contact."""
        out: dict[str, int] = {}
        for chunk in chunks(sorted(set(addresses))):
            out.update(
                self._db.sql.execute(
                    f"SELECT address, min(ts) FROM contact_log WHERE address IN "
                    f"({marks(len(chunk))}) GROUP BY address",
                    chunk,
                ).fetchall()
            )
        return out

    def distinct_days(self, addresses: Sequence[str], until_ts: int) -> int:
        """How many distinct days any of ``addresses`` was in contact, up to ``until_ts``."""
        return self._db.sql.execute(
            f"SELECT count(DISTINCT day) FROM contact_log WHERE address IN "
            f"({marks(len(addresses))}) AND ts <= ?",
            (*addresses, until_ts),
        ).fetchone()[0]

    def last_contact(
        self, addresses: Sequence[str], until_ts: int, *, incoming: bool = False
    ) -> ContactRef | None:
        """The latest contact with any of ``addresses`` up to ``until_ts`` (only their
        personal mail, with ``incoming``)."""
        cond = " AND dir = 'in'" if incoming else ""
        row = self._db.sql.execute(
            f"SELECT interaction_id, dir FROM contact_log WHERE address IN "
            f"({marks(len(addresses))}) AND ts <= ?{cond} ORDER BY ts DESC LIMIT 1",
            (*addresses, until_ts),
        ).fetchone()
        return ContactRef(row[0], row[1]) if row else None

    def contact_days(self, addresses: Sequence[str], until_ts: int, since_day: int) -> list[int]:
        """The distinct days (from ``since_day`` on, up to ``until_ts``) any of ``addresses``
        was in contact."""
        return [
            r[0]
            for r in self._db.sql.execute(
                f"SELECT DISTINCT day FROM contact_log WHERE address IN "
                f"({marks(len(addresses))}) AND ts <= ? AND day >= ?",
                (*addresses, until_ts, since_day),
            )
        ]

    def row_count(self) -> int:
        return self._db.sql.execute("SELECT count(*) FROM contact_log").fetchone()[0]
