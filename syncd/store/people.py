"""Per-person settings the user set from the CLI (snooze, mute, rhythm), and merges of
addresses into one person (``syncd people merge``, a digest's "Same person" link) as records
that ``syncd people unmerge`` can undo. The config's ``[[people]]`` entries are not stored:
syncd.relationships lays them over these.

Merges are only read and written here; what they mean (who is one person, what unmerge cannot
undo, which merges to suggest) is decided by pure functions elsewhere (syncd.relationships,
syncd.merging).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from syncd.models import MERGE_CLI, MERGE_UNMERGE, MergeRecord, PersonSettings
from syncd.store.connection import Connection, chunks, marks


@dataclass(frozen=True)
class Unmerged:
    """What ``People.unmerge`` did: the records the address was split out of (as they were
    before), and the record that keeps the rest together when the address was what joined
    them (None when nothing needed it)."""

    undone: list[MergeRecord]
    kept_together: MergeRecord | None = None


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds")


class People:
    def __init__(self, db: Connection):
        self._db = db

    def settings(self) -> dict[str, PersonSettings]:
        """Stored settings by person key (the key address given when they were set)."""
        return {
            key: PersonSettings(
                name=name,
                rhythm=rhythm,
                muted=bool(muted),
                snoozed_until=date.fromisoformat(snoozed) if snoozed else None,
                birthday=date.fromisoformat(birthday) if birthday else None,
            )
            for key, name, rhythm, muted, snoozed, birthday in self._db.sql.execute(
                "SELECT key, name, rhythm_days, muted, snoozed_until, birthday FROM people"
            )
        }

    # ----------------------------------------------------------------- merges
    def merges(self) -> list[MergeRecord]:
        """Every stored merge, oldest first, with the addresses split out of it since."""
        heads: dict[int, tuple[str, str | None, str | None]] = {}
        joined: dict[int, list[str]] = {}
        split: dict[int, list[str]] = {}
        for merge_id, origin, made_at, note, address, split_at in self._db.sql.execute(
            "SELECT m.id, m.origin, m.made_at, m.note, mm.address, mm.split_at FROM merges m "
            "JOIN merge_members mm ON mm.merge_id = m.id ORDER BY m.id, mm.address"
        ):
            heads[merge_id] = (origin, made_at, note)
            (split if split_at else joined).setdefault(merge_id, []).append(address)
        return [
            MergeRecord(
                id=merge_id,
                origin=origin,
                made_at=datetime.fromisoformat(made_at) if made_at else None,
                addresses=tuple(joined.get(merge_id, ())),
                split=tuple(split.get(merge_id, ())),
                note=note,
            )
            for merge_id, (origin, made_at, note) in heads.items()
        ]

    def merge(
        self,
        addresses: Iterable[str],
        origin: str = MERGE_CLI,
        *,
        at: datetime | None = None,
        note: str | None = None,
    ) -> MergeRecord:
        """Store that the (normalized) addresses are one person, made by ``origin`` at ``at``
        (default: now). The caller checks that the merge makes sense (syncd.merging)."""
        addrs = tuple(sorted(set(addresses)))
        if len(addrs) < 2:
            raise ValueError("a merge needs two addresses or more")
        when = at or datetime.now(UTC)
        with self._db.write():
            return self._insert_merge(addrs, origin, when, note)

    def _insert_merge(
        self, addrs: tuple[str, ...], origin: str, when: datetime, note: str | None
    ) -> MergeRecord:
        sql = self._db.sql
        merge_id = sql.execute(
            "INSERT INTO merges (origin, made_at, note) VALUES (?, ?, ?)",
            (origin, _iso(when), note),
        ).lastrowid
        assert merge_id is not None
        sql.executemany(
            "INSERT INTO merge_members (merge_id, address) VALUES (?, ?)",
            [(merge_id, a) for a in addrs],
        )
        return MergeRecord(merge_id, origin, datetime.fromisoformat(_iso(when)), addrs, (), note)

    def unmerge(self, address: str, *, at: datetime | None = None) -> Unmerged:
        """Split the (normalized) address out of every stored merge that joins it with another
        address, at ``at`` (default: now). The other addresses of each stay joined; when the
        address was what joined several merges, a record of origin ``unmerge`` keeps their
        remaining addresses together (the person loses one address, it does not fall apart).
        Merges the config or an address book makes are not stored, so not undone here."""
        when = at or datetime.now(UTC)
        with self._db.write() as sql:
            undone = [r for r in self.merges() if address in r.addresses and r.joins]
            if not undone:
                return Unmerged([])
            sql.executemany(
                "UPDATE merge_members SET split_at = ? WHERE merge_id = ? AND address = ?",
                [(_iso(when), r.id, address) for r in undone],
            )
            rests = [set(r.addresses) - {address} for r in undone]
            kept = None
            if len(rests) > 1:
                kept = self._insert_merge(
                    tuple(sorted(set().union(*rests))),
                    MERGE_UNMERGE,
                    when,
                    f"kept together when {address} was split out",
                )
        return Unmerged(undone, kept)

    def known_addresses(self, addresses: Iterable[str]) -> set[str]:
        """Those of ``addresses`` that appear in an interaction or an address-book entry."""
        addrs = sorted(set(addresses))
        found: set[str] = set()
        for chunk in chunks(addrs):
            found.update(
                r[0]
                for r in self._db.sql.execute(
                    f"SELECT DISTINCT address FROM participants WHERE address IN "
                    f"({marks(len(chunk))})",
                    chunk,
                )
            )
        rest = set(addrs) - found
        if rest:
            for (emails,) in self._db.sql.execute("SELECT emails FROM contacts"):
                found.update(rest.intersection(json.loads(emails)))
        return found

    def set_snoozed_until(self, key: str, until: date | None) -> None:
        self._set(key, "snoozed_until", until.isoformat() if until else None)

    def set_muted(self, key: str, muted: bool) -> None:
        self._set(key, "muted", int(muted))

    def set_rhythm(self, key: str, days: int | None) -> None:
        self._set(key, "rhythm_days", days)

    def _set(self, key: str, column: str, value: object) -> None:
        with self._db.write() as sql:
            sql.execute(
                f"INSERT INTO people (key, {column}) VALUES (?, ?) "
                f"ON CONFLICT (key) DO UPDATE SET {column} = excluded.{column}",
                (key, value),
            )
