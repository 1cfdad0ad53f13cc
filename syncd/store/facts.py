"""The facts: sources and their cursors, interactions and their participants, address-book
contacts, skipped items. What connectors report, as they reported it; never a judgment.

:class:`Facts` is the base of :class:`syncd.store.Store`: these are the store's own methods.
Writes happen in :meth:`Store.apply_batch` (one batch and its cursor per transaction) and in the
small source marks below, each its own write transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from syncd.models import (
    Batch,
    BookEntry,
    Contact,
    Interaction,
    Participant,
    StoredInteraction,
)
from syncd.store.connection import Connection, chunks, marks


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds")


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


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
    """What one batch changed in the store, compared with what was stored before it.

    A source that reads a file again (an mbox a mail client rewrote, a touched .ics) hands
    over items the store already holds as they are: those are ``unchanged``, not news."""

    inserted: int = 0  # interactions new to the store
    changed: int = 0  # interactions stored before, now different (a field or a participant)
    unchanged: int = 0  # interactions read again exactly as stored
    deleted: int = 0
    swept: int = 0
    skipped: int = 0
    contacts: int = 0  # address-book entries new or changed
    contacts_unchanged: int = 0  # address-book entries read again exactly as stored

    @property
    def upserted(self) -> int:
        """Every interaction the batch handed over, whether it changed anything or not."""
        return self.inserted + self.changed + self.unchanged


@dataclass(frozen=True)
class WrittenFacts:
    """What one batch changed, for the derived tables: interactions written (new or
    changed; an unchanged one keeps what was derived from it) and interactions removed, by
    id."""

    upserted: list[int]
    removed: list[int]


# The stored columns of an interaction that a batch may change, in this order (then seq,
# source, source_id in the statements below).
_FIELDS = (
    "kind, occurred_at, ts, ends_at, subject, thread_id, message_id, in_reply_to, flags, "
    "head_count, scope"
)


_SOURCE_COLUMNS = (
    "name, type, cursor, account, seq, last_ok_at, last_attempt_at, last_error, auth_state"
)


def _source_state(row: Sequence[Any]) -> SourceState:
    name, type_, cursor, account, seq, ok_at, attempt_at, error, auth = row
    return SourceState(
        name=name,
        type=type_,
        cursor=json.loads(cursor) if cursor else None,
        account=account,
        seq=seq,
        last_ok_at=_dt(ok_at),
        last_attempt_at=_dt(attempt_at),
        last_error=error,
        auth_state=auth,
    )


class Facts:
    def __init__(self, db: Connection):
        self._db = db

    # ----------------------------------------------------------------- sources
    def ensure_source(self, name: str, type_name: str) -> None:
        with self._db.write() as sql:
            sql.execute(
                "INSERT INTO sources (name, type) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET type = excluded.type",
                (name, type_name),
            )

    def source_state(self, name: str) -> SourceState | None:
        row = self._db.sql.execute(
            f"SELECT {_SOURCE_COLUMNS} FROM sources WHERE name = ?", (name,)
        ).fetchone()
        return _source_state(row) if row else None

    def source_states(self) -> list[SourceState]:
        rows = self._db.sql.execute(f"SELECT {_SOURCE_COLUMNS} FROM sources ORDER BY name")
        return [_source_state(r) for r in rows]

    def accounts(self) -> list[str]:
        """The user's own addresses as the sources reported them."""
        rows = self._db.sql.execute("SELECT DISTINCT account FROM sources WHERE account != ''")
        return [r[0] for r in rows if r[0]]

    def mark_attempt(self, name: str) -> None:
        self._update_source(name, "last_attempt_at = ?", iso(utcnow()))

    def mark_ok(self, name: str) -> None:
        self._update_source(
            name, "last_ok_at = ?, last_error = NULL, auth_state = 'ok'", iso(utcnow())
        )

    def mark_error(self, name: str, message: str, *, needs_reauth: bool = False) -> None:
        self._update_source(
            name,
            "last_error = ?, auth_state = CASE WHEN ? THEN 'needs_reauth' ELSE auth_state END",
            message,
            needs_reauth,
        )

    def mark_signed_in(self, name: str) -> None:
        """``syncd auth NAME`` succeeded: the source no longer needs a sign-in."""
        self._update_source(name, "auth_state = 'ok'")

    def reset_source(self, name: str) -> None:
        """Forget the cursor so that the next sync is a full one (data stays)."""
        self._update_source(name, "cursor = NULL")

    def _update_source(self, name: str, assignments: str, *args: Any) -> None:
        with self._db.write() as sql:
            sql.execute(f"UPDATE sources SET {assignments} WHERE name = ?", (*args, name))

    # ----------------------------------------------------------------- writing a batch
    def _write_facts(self, source: str, batch: Batch, res: BatchResult) -> WrittenFacts:
        """The facts of one batch and its cursor; the caller holds the write transaction."""
        sql = self._db.sql
        row = sql.execute("SELECT seq, sweeps FROM sources WHERE name = ?", (source,)).fetchone()
        if row is None:
            raise KeyError(f"unknown source {source!r}: call ensure_source first")
        seq = row[0] + 1
        sweeps: dict[str, int] = json.loads(row[1] or "{}")
        for scope in batch.full_sync_start:
            sweeps[scope] = seq
        upserted = self._upsert_many(source, batch.upserts, seq, res)
        removed: list[int] = []
        for sid in batch.deletions:
            removed += self._delete_where("source = ? AND source_id = ?", (source, sid))
        for scope, sid in batch.scoped_deletions:
            # Only if still there: the item may have moved to another scope since.
            removed += self._delete_where(
                "source = ? AND source_id = ? AND scope = ?", (source, sid, scope)
            )
        res.deleted = len(removed)
        for scope in batch.full_sync_end:
            start = sweeps.pop(scope, None)
            if start is not None:
                swept = self._delete_where(
                    "source = ? AND scope = ? AND seq < ?", (source, scope, start)
                )
                res.swept += len(swept)
                removed += swept
        self._upsert_contacts(source, batch.contacts, res)
        if batch.contact_deletions:
            sql.executemany(
                "DELETE FROM contacts WHERE source = ? AND source_id = ?",
                [(source, sid) for sid in batch.contact_deletions],
            )
        now = iso(utcnow())
        sql.executemany(
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
        sql.execute(f"UPDATE sources SET {', '.join(sets)} WHERE name = ?", (*args, source))
        return WrittenFacts(upserted, removed)

    def _upsert_many(
        self, source: str, items: Sequence[Interaction], seq: int, res: BatchResult
    ) -> list[int]:
        """Insert or update interactions and replace their participants, in bulk; returns
        the ids of those that are new or changed, and counts each kind in ``res``.

        An interaction read again exactly as stored only has its ``seq`` moved on (a full
        sync's sweep must see it as seen): its participants and what was derived from it stay.
        A batch may name the same source_id twice (a message copied into two folders of an
        mbox): the last one wins, as if they had come one after the other.
        """
        sql = self._db.sql
        latest: dict[str, Interaction] = {}
        for it in items:
            latest[it.source_id] = it
        sids = list(latest)
        existing = self._ids_of(source, sids)
        stored = self._stored_versions(list(existing.values()))
        fresh: list[tuple[Any, ...]] = []  # inserted
        changed: list[tuple[Any, ...]] = []
        same: list[tuple[int, str, str]] = []  # (seq, source, source_id) of unchanged ones
        parts_of: dict[str, list[tuple[str, str, str | None, str | None]]] = {}
        for sid, it in latest.items():
            occurred = it.occurred_at.astimezone(UTC)
            fields = (
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
            )
            parts: dict[tuple[str, str], tuple[str, str, str | None, str | None]] = {}
            for p in it.participants:
                parts.setdefault((p.address, p.role), (p.address, p.role, p.name, p.response))
            parts_of[sid] = list(parts.values())
            row = (*fields, seq, source, sid)
            if sid not in existing:
                fresh.append(row)
            elif stored.get(existing[sid]) == (fields, frozenset(parts_of[sid])):
                same.append((seq, source, sid))
            else:
                changed.append(row)
        res.inserted += len(fresh)
        res.changed += len(changed)
        res.unchanged += len(same)
        sql.executemany(
            "UPDATE interactions SET kind = ?, occurred_at = ?, ts = ?, ends_at = ?, subject = ?, "
            "thread_id = ?, message_id = ?, in_reply_to = ?, flags = ?, head_count = ?, "
            "scope = ?, seq = ? WHERE source = ? AND source_id = ?",
            changed,
        )
        sql.executemany("UPDATE interactions SET seq = ? WHERE source = ? AND source_id = ?", same)
        sql.executemany(
            f"INSERT INTO interactions ({_FIELDS}, seq, source, source_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            fresh,
        )
        ids = dict(existing)
        ids.update(self._ids_of(source, [r[-1] for r in fresh]))
        written = [r[-1] for r in (*fresh, *changed)]
        for chunk in chunks([existing[r[-1]] for r in changed]):
            sql.execute(
                f"DELETE FROM participants WHERE interaction_id IN ({marks(len(chunk))})", chunk
            )
        sql.executemany(
            "INSERT INTO participants (interaction_id, address, role, name, response) "
            "VALUES (?, ?, ?, ?, ?)",
            [(ids[sid], *p) for sid in written for p in parts_of[sid]],
        )
        wrote = set(written)
        return [ids[sid] for sid in sids if sid in wrote]

    def _stored_versions(
        self, ids: Sequence[int]
    ) -> dict[int, tuple[tuple[Any, ...], frozenset[tuple[Any, ...]]]]:
        """What is stored of these interactions, by id: their fields (in ``_FIELDS`` order)
        and their participants, to tell a changed item from one read again."""
        sql = self._db.sql
        out: dict[int, tuple[tuple[Any, ...], frozenset[tuple[Any, ...]]]] = {}
        for chunk in chunks(list(ids)):
            m = marks(len(chunk))
            parts: dict[int, set[tuple[Any, ...]]] = {}
            for iid, *p in sql.execute(
                f"SELECT interaction_id, address, role, name, response FROM participants "
                f"WHERE interaction_id IN ({m})",
                chunk,
            ):
                parts.setdefault(iid, set()).add(tuple(p))
            for iid, *fields in sql.execute(
                f"SELECT id, {_FIELDS} FROM interactions WHERE id IN ({m})", chunk
            ):
                out[iid] = (tuple(fields), frozenset(parts.get(iid, ())))
        return out

    def _ids_of(self, source: str, sids: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in chunks(sids):
            out.update(
                self._db.sql.execute(
                    f"SELECT source_id, id FROM interactions WHERE source = ? "
                    f"AND source_id IN ({marks(len(chunk))})",
                    (source, *chunk),
                ).fetchall()
            )
        return out

    def _delete_where(self, where: str, args: Sequence[Any]) -> list[int]:
        """Delete the matching interactions and their participants; returns their ids (the
        caller removes what was derived from them)."""
        sql = self._db.sql
        ids = [r[0] for r in sql.execute(f"SELECT id FROM interactions WHERE {where}", args)]
        for chunk in chunks(ids):
            m = marks(len(chunk))
            sql.execute(f"DELETE FROM participants WHERE interaction_id IN ({m})", chunk)
            sql.execute(f"DELETE FROM interactions WHERE id IN ({m})", chunk)
        return ids

    def _upsert_contacts(self, source: str, contacts: Sequence[Contact], res: BatchResult) -> None:
        """Insert or update address-book entries; counts the new or changed ones and those
        read again exactly as stored in ``res``."""
        sql = self._db.sql
        rows: dict[str, tuple[str | None, str, str | None]] = {}
        for c in contacts:  # the same entry twice: the last one wins
            rows[c.source_id] = (
                c.name,
                json.dumps(sorted({e.lower() for e in c.emails})),
                c.birthday.isoformat() if c.birthday else None,
            )
        stored: dict[str, tuple[Any, ...]] = {}
        for chunk in chunks(list(rows)):
            for sid, *values in sql.execute(
                f"SELECT source_id, name, emails, birthday FROM contacts WHERE source = ? "
                f"AND source_id IN ({marks(len(chunk))})",
                (source, *chunk),
            ):
                stored[sid] = tuple(values)
        news = [(source, sid, *v) for sid, v in rows.items() if stored.get(sid) != v]
        res.contacts += len(news)
        res.contacts_unchanged += len(rows) - len(news)
        sql.executemany(
            "INSERT INTO contacts (source, source_id, name, emails, birthday) VALUES (?,?,?,?,?) "
            "ON CONFLICT (source, source_id) DO UPDATE SET name = excluded.name, "
            "emails = excluded.emails, birthday = excluded.birthday",
            news,
        )

    # ----------------------------------------------------------------- reading facts
    def counts(self) -> dict[str, int]:
        return {
            t: self._db.sql.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("interactions", "participants", "contacts", "skipped")
        }

    def skipped_count(self, source: str) -> int:
        return self._db.sql.execute(
            "SELECT count(*) FROM skipped WHERE source = ?", (source,)
        ).fetchone()[0]

    def interaction_count(self) -> int:
        return self._db.sql.execute("SELECT count(*) FROM interactions").fetchone()[0]

    def load_interactions(self, ids: Sequence[int]) -> list[StoredInteraction]:
        """The interactions with these ids (in id order within each 500), participants
        included."""
        out: list[StoredInteraction] = []
        sql = self._db.sql
        for chunk in chunks(list(ids)):
            m = marks(len(chunk))
            parts: dict[int, list[Participant]] = {}
            for iid, address, role, name, response in sql.execute(
                f"SELECT interaction_id, address, role, name, response FROM participants "
                f"WHERE interaction_id IN ({m})",
                chunk,
            ):
                parts.setdefault(iid, []).append(Participant(address, role, name, response))
            for (
                iid,
                source,
                source_id,
                kind,
                occurred_at,
                subject,
                thread_id,
                message_id,
                in_reply_to,
                flags,
                head_count,
            ) in sql.execute(
                f"SELECT id, source, source_id, kind, occurred_at, subject, thread_id, "
                f"message_id, in_reply_to, flags, head_count FROM interactions WHERE id IN ({m})",
                chunk,
            ):
                out.append(
                    StoredInteraction(
                        id=iid,
                        source=source,
                        source_id=source_id,
                        kind=kind,
                        occurred_at=datetime.fromisoformat(occurred_at),
                        subject=subject,
                        thread_id=thread_id,
                        message_id=message_id,
                        in_reply_to=in_reply_to,
                        flags=flags,
                        head_count=head_count,
                        participants=tuple(parts.get(iid, ())),
                    )
                )
        return out

    def interaction_ids(self, after: int = 0, limit: int = 5000) -> list[int]:
        """Ids of stored interactions above ``after``, ascending, at most ``limit``."""
        return [
            r[0]
            for r in self._db.sql.execute(
                "SELECT id FROM interactions WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
            )
        ]

    def interaction_ids_for(self, addresses: Iterable[str]) -> list[int]:
        """Ids of the interactions any of ``addresses`` took part in."""
        addrs = sorted(set(addresses))
        ids: set[int] = set()
        for chunk in chunks(addrs):
            ids.update(
                r[0]
                for r in self._db.sql.execute(
                    f"SELECT interaction_id FROM participants WHERE address IN "
                    f"({marks(len(chunk))})",
                    chunk,
                )
            )
        return sorted(ids)

    def addresses_matching(self, query: str, limit: int = 20) -> list[str]:
        """Participant addresses equal to ``query``, containing it, or whose display name
        contains it (case-insensitive); sorted."""
        q = query.strip().lower()
        rows = self._db.sql.execute(
            "SELECT DISTINCT address FROM participants WHERE address = ? OR address LIKE ? "
            "OR lower(name) LIKE ? LIMIT ?",
            (q, f"%{q}%", f"%{q}%", limit),
        ).fetchall()
        return sorted(r[0] for r in rows)

    def contacts(self) -> list[Contact]:
        """Every address-book entry (addresses lowercase), in stored order."""
        return [
            Contact(
                source_id=source_id,
                name=name,
                emails=tuple(json.loads(emails)),
                birthday=date.fromisoformat(birthday) if birthday else None,
            )
            for source_id, name, emails, birthday in self._db.sql.execute(
                "SELECT source_id, name, emails, birthday FROM contacts"
            )
        ]

    def book_entries(self) -> list[BookEntry]:
        """Every address-book entry with the source it came from (addresses lowercase)."""
        return [
            BookEntry(
                source,
                Contact(
                    source_id=source_id,
                    name=name,
                    emails=tuple(json.loads(emails)),
                    birthday=date.fromisoformat(birthday) if birthday else None,
                ),
            )
            for source, source_id, name, emails, birthday in self._db.sql.execute(
                "SELECT source, source_id, name, emails, birthday FROM contacts "
                "ORDER BY source, source_id"
            )
        ]
