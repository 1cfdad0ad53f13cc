"""The local store: SQLite through sqlite-utils, holding facts and sync state.

Writes come in batches: one batch and the cursor that is valid after it are written in one
transaction, so a crash at any point leaves the store consistent and the next run resumes from
the last stored cursor. Upserts are keyed by (source, source_id), so a replayed batch changes
nothing. The rules' judgments are derived into ``contact_log`` lazily (see
:meth:`Store.refresh_contacts`) so that a rule change never needs a re-sync.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from syncd.migrations import migrations
from syncd.models import Batch, Contact, Interaction, Participant

log = logging.getLogger(__name__)


# Recency weighting of contacts decays exponentially with time constant TAU, so that the
# weighted sum as of any time A is exp(-(A - T0) / TAU) * sum(weight * exp((ts - T0) / TAU)):
# the store keeps the second factor per address and never needs to rescan for a new A.
SUMMARY_T0 = 1577836800  # 2020-01-01T00:00:00Z
SUMMARY_TAU = 365.0 * 86400
RECENT_DAYS = 13  # distinct contact days kept per address to infer a rhythm (12 gaps)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class SourceState:
    name: str
    type: str
    cursor: dict[str, Any] | None
    account: str | None
    seq: int
    last_ok_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    auth_state: str


@dataclass
class BatchResult:
    upserted: int = 0
    deleted: int = 0
    swept: int = 0
    skipped: int = 0
    contacts: int = 0


@dataclass(frozen=True)
class StoredInteraction:
    """An interaction as read back from the store, with its participants."""

    id: int
    source: str
    source_id: str
    kind: str
    occurred_at: datetime
    subject: str | None
    thread_id: str | None
    message_id: str | None
    in_reply_to: str | None
    flags: int
    head_count: int
    participants: tuple[Participant, ...]


@dataclass(frozen=True)
class ContactRow:
    """One derived contact: this interaction counts as contact with this address."""

    interaction_id: int
    address: str
    ts: int
    day: int
    kind: str
    dir: str  # out | in | meet
    weight: float
    name: str | None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class Store:
    def __init__(self, db: Database, path: Path | None = None):
        self.db = db
        self.path = path

    # ----------------------------------------------------------------- lifecycle
    @classmethod
    def open(cls, path: Path | str) -> Store:
        """Open (creating if needed) the store at ``path``: owner-only, WAL, migrated."""
        p = Path(path)
        if str(p) != ":memory:":
            p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not p.exists():
                fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
                os.close(fd)
            os.chmod(p, 0o600)
        conn = sqlite3.connect(str(p), timeout=30, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 30000")
        db = Database(conn)
        if str(p) != ":memory:":
            db.enable_wal()
        conn.execute("PRAGMA synchronous = NORMAL")  # durable with WAL at commit boundaries
        # The default 2 MB page cache thrashes on index inserts once the store passes a few
        # hundred MB (a million interactions); 64 MB keeps a backfill's writes in memory.
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA foreign_keys = OFF")
        try:
            conn.execute("SELECT exp(0)")
        except sqlite3.OperationalError:  # SQLite built without math functions
            conn.create_function("exp", 1, math.exp, deterministic=True)
        migrations.apply(db)
        # WAL and SHM side files inherit the umask; keep them owner-only too.
        for suffix in ("-wal", "-shm"):
            side = Path(str(p) + suffix)
            if side.exists():
                os.chmod(side, 0o600)
        return cls(db, p)

    def close(self) -> None:
        self.db.close()

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    # ----------------------------------------------------------------- sources
    def ensure_source(self, name: str, type_name: str) -> None:
        self.conn.execute(
            "INSERT INTO sources (name, type) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET type = excluded.type",
            (name, type_name),
        )

    def source_state(self, name: str) -> SourceState | None:
        row = self.conn.execute(
            "SELECT name, type, cursor, account, seq, last_ok_at, last_attempt_at, last_error, "
            "auth_state FROM sources WHERE name = ?",
            (name,),
        ).fetchone()
        if row is None:
            return None
        return SourceState(
            name=row[0],
            type=row[1],
            cursor=json.loads(row[2]) if row[2] else None,
            account=row[3],
            seq=row[4],
            last_ok_at=_dt(row[5]),
            last_attempt_at=_dt(row[6]),
            last_error=row[7],
            auth_state=row[8],
        )

    def source_states(self) -> list[SourceState]:
        names = [r[0] for r in self.conn.execute("SELECT name FROM sources ORDER BY name")]
        return [s for n in names if (s := self.source_state(n)) is not None]

    def accounts(self) -> list[str]:
        return [
            r[0]
            for r in self.conn.execute("SELECT DISTINCT account FROM sources WHERE account != ''")
            if r[0]
        ]

    def mark_attempt(self, name: str) -> None:
        self.conn.execute(
            "UPDATE sources SET last_attempt_at = ? WHERE name = ?", (iso(utcnow()), name)
        )

    def mark_ok(self, name: str) -> None:
        self.conn.execute(
            "UPDATE sources SET last_ok_at = ?, last_error = NULL, auth_state = 'ok' "
            "WHERE name = ?",
            (iso(utcnow()), name),
        )

    def mark_error(self, name: str, message: str, *, needs_reauth: bool = False) -> None:
        self.conn.execute(
            "UPDATE sources SET last_error = ?, auth_state = CASE WHEN ? THEN 'needs_reauth' "
            "ELSE auth_state END WHERE name = ?",
            (message, needs_reauth, name),
        )

    def reset_source(self, name: str) -> None:
        """Forget the cursor so that the next sync is a full one (data stays)."""
        self.conn.execute("UPDATE sources SET cursor = NULL WHERE name = ?", (name,))

    # ----------------------------------------------------------------- batches
    def apply_batch(self, source: str, batch: Batch) -> BatchResult:
        """Write one batch and its cursor atomically; replaying it changes nothing."""
        res = BatchResult()
        with self.db.atomic():
            row = self.conn.execute(
                "SELECT seq, sweeps FROM sources WHERE name = ?", (source,)
            ).fetchone()
            if row is None:
                raise KeyError(f"unknown source {source!r}: call ensure_source first")
            seq = row[0] + 1
            sweeps: dict[str, int] = json.loads(row[1] or "{}")
            for scope in batch.full_sync_start:
                sweeps[scope] = seq
            self._upsert_many(source, batch.upserts, seq)
            res.upserted = len(batch.upserts)
            for sid in batch.deletions:
                res.deleted += self._delete_where("source = ? AND source_id = ?", (source, sid))
            for scope, sid in batch.scoped_deletions:
                # Only if still there: the item may have moved to another scope since.
                res.deleted += self._delete_where(
                    "source = ? AND source_id = ? AND scope = ?", (source, sid, scope)
                )
            for scope in batch.full_sync_end:
                start = sweeps.pop(scope, None)
                if start is not None:
                    res.swept += self._delete_where(
                        "source = ? AND scope = ? AND seq < ?", (source, scope, start)
                    )
            for c in batch.contacts:
                self._upsert_contact(source, c)
            res.contacts = len(batch.contacts)
            if batch.contact_deletions:
                self.conn.executemany(
                    "DELETE FROM contacts WHERE source = ? AND source_id = ?",
                    [(source, sid) for sid in batch.contact_deletions],
                )
            now = iso(utcnow())
            self.conn.executemany(
                "INSERT INTO skipped (source, location, reason, seen_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (source, location) DO UPDATE SET reason = excluded.reason, "
                "seen_at = excluded.seen_at",
                [(source, s.where, s.reason, now) for s in batch.skipped],
            )
            res.skipped = len(batch.skipped)
            sets = ["seq = ?", "sweeps = ?"]
            args: list[Any] = [seq, json.dumps(sweeps)]
            if batch.cursor is not None:
                sets.append("cursor = ?")
                args.append(json.dumps(batch.cursor, separators=(",", ":")))
            if batch.account:
                sets.append("account = ?")
                args.append(batch.account.lower())
            self.conn.execute(
                f"UPDATE sources SET {', '.join(sets)} WHERE name = ?", (*args, source)
            )
        return res

    def _upsert_many(self, source: str, items: Sequence[Interaction], seq: int) -> None:
        """Insert or update interactions and replace their participants, in bulk.

        A batch may name the same source_id twice (a message copied into two folders of an
        mbox): the last one wins, as if they had come one after the other.
        """
        latest: dict[str, Interaction] = {}
        for it in items:
            latest[it.source_id] = it
        sids = list(latest)
        existing: dict[str, int] = {}
        for chunk in _chunks(sids, 500):
            marks = ",".join("?" * len(chunk))
            existing.update(
                self.conn.execute(
                    f"SELECT source_id, id FROM interactions WHERE source = ? "
                    f"AND source_id IN ({marks})",
                    (source, *chunk),
                ).fetchall()
            )
        rows = []
        for it in latest.values():
            occurred = it.occurred_at.astimezone(UTC)
            rows.append(
                (
                    it.kind,
                    occurred.isoformat(timespec="seconds"),
                    int(occurred.timestamp()),
                    iso(it.ends_at) if it.ends_at else None,
                    it.subject,
                    it.thread_id,
                    it.message_id,
                    it.in_reply_to,
                    int(it.flags),
                    it.head_count,
                    it.scope,
                    seq,
                    source,
                    it.source_id,
                )
            )
        old_ids = [existing[sid] for sid in sids if sid in existing]
        self.conn.executemany(
            "UPDATE interactions SET kind = ?, occurred_at = ?, ts = ?, ends_at = ?, subject = ?, "
            "thread_id = ?, message_id = ?, in_reply_to = ?, flags = ?, head_count = ?, "
            "scope = ?, seq = ? WHERE source = ? AND source_id = ?",
            [r for r in rows if r[-1] in existing],
        )
        self.conn.executemany(
            "INSERT INTO interactions (kind, occurred_at, ts, ends_at, subject, thread_id, "
            "message_id, in_reply_to, flags, head_count, scope, seq, source, source_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [r for r in rows if r[-1] not in existing],
        )
        ids = dict(existing)
        new = [sid for sid in sids if sid not in existing]
        for chunk in _chunks(new, 500):
            marks = ",".join("?" * len(chunk))
            ids.update(
                self.conn.execute(
                    f"SELECT source_id, id FROM interactions WHERE source = ? "
                    f"AND source_id IN ({marks})",
                    (source, *chunk),
                ).fetchall()
            )
        for chunk in _chunks(old_ids, 500):
            marks = ",".join("?" * len(chunk))
            self.conn.execute(f"DELETE FROM participants WHERE interaction_id IN ({marks})", chunk)
            self.conn.execute(f"DELETE FROM contact_log WHERE interaction_id IN ({marks})", chunk)
        parts = []
        for sid, it in latest.items():
            iid = ids[sid]
            seen: set[tuple[str, str]] = set()
            for p in it.participants:
                if (p.address, p.role) not in seen:
                    seen.add((p.address, p.role))
                    parts.append((iid, p.address, p.role, p.name, p.response))
        self.conn.executemany(
            "INSERT INTO participants (interaction_id, address, role, name, response) "
            "VALUES (?, ?, ?, ?, ?)",
            parts,
        )
        self.conn.executemany(
            "INSERT OR IGNORE INTO contact_queue VALUES (?)", [(ids[sid],) for sid in sids]
        )

    def _delete_where(self, where: str, args: Sequence[Any]) -> int:
        ids = [r[0] for r in self.conn.execute(f"SELECT id FROM interactions WHERE {where}", args)]
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            for table, col in (
                ("participants", "interaction_id"),
                ("contact_log", "interaction_id"),
                ("contact_queue", "interaction_id"),
                ("interactions", "id"),
            ):
                self.conn.execute(f"DELETE FROM {table} WHERE {col} IN ({marks})", chunk)
        return len(ids)

    def _upsert_contact(self, source: str, c: Contact) -> None:
        self.conn.execute(
            "INSERT INTO contacts (source, source_id, name, emails, birthday) VALUES (?,?,?,?,?) "
            "ON CONFLICT (source, source_id) DO UPDATE SET name = excluded.name, "
            "emails = excluded.emails, birthday = excluded.birthday",
            (
                source,
                c.source_id,
                c.name,
                json.dumps(sorted({e.lower() for e in c.emails})),
                c.birthday.isoformat() if c.birthday else None,
            ),
        )

    # ----------------------------------------------------------------- reading facts
    def counts(self) -> dict[str, int]:
        return {
            t: self.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("interactions", "participants", "contacts", "skipped")
        }

    def skipped_count(self, source: str) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM skipped WHERE source = ?", (source,)
        ).fetchone()[0]

    def load_interactions(self, ids: Sequence[int]) -> list[StoredInteraction]:
        out: list[StoredInteraction] = []
        for chunk in _chunks(list(ids), 500):
            marks = ",".join("?" * len(chunk))
            parts: dict[int, list[Participant]] = {}
            for iid, address, role, name, response in self.conn.execute(
                f"SELECT interaction_id, address, role, name, response FROM participants "
                f"WHERE interaction_id IN ({marks})",
                chunk,
            ):
                parts.setdefault(iid, []).append(Participant(address, role, name, response))
            for r in self.conn.execute(
                f"SELECT id, source, source_id, kind, occurred_at, subject, thread_id, message_id, "
                f"in_reply_to, flags, head_count FROM interactions WHERE id IN ({marks})",
                chunk,
            ):
                out.append(
                    StoredInteraction(
                        id=r[0],
                        source=r[1],
                        source_id=r[2],
                        kind=r[3],
                        occurred_at=datetime.fromisoformat(r[4]),
                        subject=r[5],
                        thread_id=r[6],
                        message_id=r[7],
                        in_reply_to=r[8],
                        flags=r[9],
                        head_count=r[10],
                        participants=tuple(parts.get(r[0], ())),
                    )
                )
        return out

    def interaction_ids_for(self, addresses: Iterable[str]) -> list[int]:
        addrs = sorted(set(addresses))
        ids: set[int] = set()
        for chunk in _chunks(addrs, 500):
            marks = ",".join("?" * len(chunk))
            ids.update(
                r[0]
                for r in self.conn.execute(
                    f"SELECT interaction_id FROM participants WHERE address IN ({marks})", chunk
                )
            )
        return sorted(ids)

    def contacts(self) -> list[tuple[str | None, tuple[str, ...], str | None]]:
        return [
            (r[0], tuple(json.loads(r[1])), r[2])
            for r in self.conn.execute("SELECT name, emails, birthday FROM contacts")
        ]

    # ----------------------------------------------------------------- derived contacts
    def refresh_contacts(
        self,
        fingerprint: str,
        derive: Callable[[list[StoredInteraction]], list[ContactRow]],
        progress: Callable[[int, int], None] | None = None,
        chunk: int = 5000,
    ) -> int:
        """Bring ``contact_log`` up to date with the facts and the rules.

        ``fingerprint`` identifies the rules (and the user's addresses); when it differs from
        the one the log was built with, the whole log is rebuilt. Otherwise only interactions
        written since the last refresh are derived. Returns how many interactions were derived.
        """
        old = self.get_meta("contact_rules")
        with self.db.atomic():
            if old != fingerprint:
                self.conn.execute("DELETE FROM contact_log")
                self.conn.execute("DELETE FROM address_names")
                self.conn.execute("DELETE FROM address_summary")
                self.conn.execute("DELETE FROM summary_dirty")
                self.conn.execute("DELETE FROM contact_queue")
                self.conn.execute("INSERT INTO contact_queue SELECT id FROM interactions")
                self.set_meta("contact_rules", fingerprint)
        total = self.conn.execute("SELECT count(*) FROM contact_queue").fetchone()[0]
        done = 0
        while True:
            ids = [
                r[0]
                for r in self.conn.execute(
                    "SELECT interaction_id FROM contact_queue ORDER BY interaction_id LIMIT ?",
                    (chunk,),
                )
            ]
            if not ids:
                break
            rows = derive(self.load_interactions(ids))
            with self.db.atomic():
                marks = ",".join("?" * len(ids))
                self.conn.execute(f"DELETE FROM contact_log WHERE interaction_id IN ({marks})", ids)
                self.conn.executemany(
                    "INSERT OR REPLACE INTO contact_log "
                    "(interaction_id, address, ts, day, kind, dir, weight, name) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (r.interaction_id, r.address, r.ts, r.day, r.kind, r.dir, r.weight, r.name)
                        for r in rows
                    ],
                )
                self.conn.execute(
                    f"DELETE FROM contact_queue WHERE interaction_id IN ({marks})", ids
                )
            done += len(ids)
            if progress:
                progress(done, total)
        self.refresh_summary()
        return done

    def refresh_summary(self) -> int:
        """Recompute ``address_summary`` for the addresses whose contacts changed."""
        dirty = [r[0] for r in self.conn.execute("SELECT address FROM summary_dirty")]
        for chunk in _chunks(dirty, 500):
            aggregates = list(self.contact_aggregates(chunk, None))
            recent = self.recent_contact_days(chunk, None)
            with self.db.atomic():
                marks = ",".join("?" * len(chunk))
                self.conn.execute(f"DELETE FROM address_summary WHERE address IN ({marks})", chunk)
                self.conn.executemany(
                    "INSERT INTO address_summary (address, days, last_ts, n_out, n_in, n_meet, "
                    "wsum, last_in_ts, last_mine_ts, recent) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [(*row, json.dumps(recent.get(row[0], []))) for row in aggregates],
                )
                self.conn.execute(f"DELETE FROM summary_dirty WHERE address IN ({marks})", chunk)
        return len(dirty)

    def contact_aggregates(
        self, addresses: Sequence[str], until_ts: int | None
    ) -> Iterator[tuple[Any, ...]]:
        """Per address: (address, distinct days, last ts, #out, #in, #meet, decayed weight sum,
        last ts of their personal mail, last ts of your mail or a meeting)."""
        marks = ",".join("?" * len(addresses))
        cond = "" if until_ts is None else " AND ts <= ?"
        args: list[Any] = [SUMMARY_T0, SUMMARY_TAU, *addresses]
        if until_ts is not None:
            args.append(until_ts)
        yield from self.conn.execute(
            f"""
            SELECT address, count(DISTINCT day), max(ts),
                   sum(dir = 'out'), sum(dir = 'in'), sum(dir = 'meet'),
                   sum(weight * exp((ts - ?) / ?)),
                   max(CASE WHEN dir = 'in' THEN ts ELSE 0 END),
                   max(CASE WHEN dir != 'in' THEN ts ELSE 0 END)
            FROM contact_log WHERE address IN ({marks}){cond} GROUP BY address
            """,
            args,
        )

    def recent_contact_days(
        self, addresses: Sequence[str], until_ts: int | None, n: int = RECENT_DAYS
    ) -> dict[str, list[int]]:
        """Per address, its newest ``n`` distinct contact days, newest first."""
        marks = ",".join("?" * len(addresses))
        cond = "" if until_ts is None else " AND ts <= ?"
        args: list[Any] = [*addresses]
        if until_ts is not None:
            args.append(until_ts)
        out: dict[str, list[int]] = {}
        for address, day in self.conn.execute(
            f"""
            SELECT address, day FROM (
                SELECT address, day,
                       row_number() OVER (PARTITION BY address ORDER BY day DESC) AS rn
                FROM (SELECT DISTINCT address, day FROM contact_log
                      WHERE address IN ({marks}){cond})
            ) WHERE rn <= ? ORDER BY address, day DESC
            """,
            (*args, n),
        ):
            out.setdefault(address, []).append(day)
        return out

    def summaries(self) -> Iterator[tuple[Any, ...]]:
        """Every row of address_summary, ``recent`` decoded."""
        for row in self.conn.execute(
            "SELECT address, days, last_ts, n_out, n_in, n_meet, wsum, last_in_ts, last_mine_ts, "
            "recent FROM address_summary"
        ):
            yield (*row[:9], json.loads(row[9]))

    def addresses_with_contacts_after(self, ts: int) -> set[str]:
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT DISTINCT address FROM contact_log WHERE ts > ?", (ts,)
            )
        }

    # ----------------------------------------------------------------- meta and settings
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def _chunks(items: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]
