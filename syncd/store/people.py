"""Per-person settings the user set from the CLI (snooze, mute, rhythm) and manual merges of
addresses into one person (``syncd people merge``). The config's ``[[people]]`` entries are
not stored: syncd.relationships lays them over these."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from syncd.models import PersonSettings
from syncd.store.connection import Connection


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

    def merges(self) -> dict[str, str]:
        """The person key each address was merged into by ``syncd people merge``."""
        return dict(self._db.sql.execute("SELECT address, person_key FROM addresses").fetchall())

    def merge(self, addresses: Iterable[str]) -> str:
        """Merge the (normalized) addresses into one person keyed by the smallest; returns
        the key."""
        addrs = sorted(set(addresses))
        key = addrs[0]
        with self._db.write() as sql:
            sql.executemany(
                "INSERT INTO addresses (address, person_key) VALUES (?, ?) "
                "ON CONFLICT (address) DO UPDATE SET person_key = excluded.person_key",
                [(a, key) for a in addrs],
            )
        return key

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
