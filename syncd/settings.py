"""Per-person settings kept in the store (not the config): snooze, mute, rhythm, merges."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from syncd.errors import UserError
from syncd.store import Store


def _clean(address: str) -> str:
    a = address.strip().lower()
    if "@" not in a:
        raise UserError(f"{address!r} is not an email address")
    return a


def merge_addresses(store: Store, addresses: Iterable[str]) -> str:
    """Merge the addresses into one person; returns the person's key."""
    addrs = sorted({_clean(a) for a in addresses})
    key = addrs[0]
    with store.db.atomic():
        for a in addrs:
            store.conn.execute(
                "INSERT INTO addresses (address, person_key) VALUES (?, ?) "
                "ON CONFLICT (address) DO UPDATE SET person_key = excluded.person_key",
                (a, key),
            )
    return key


def _set(store: Store, key: str, column: str, value: object) -> None:
    store.conn.execute(
        f"INSERT INTO people (key, {column}) VALUES (?, ?) "
        f"ON CONFLICT (key) DO UPDATE SET {column} = excluded.{column}",
        (key, value),
    )


def snooze(store: Store, address: str, until: date | None) -> None:
    _set(store, _clean(address), "snoozed_until", until.isoformat() if until else None)


def mute(store: Store, address: str, muted: bool = True) -> None:
    _set(store, _clean(address), "muted", int(muted))


def set_rhythm(store: Store, address: str, days: int | None) -> None:
    _set(store, _clean(address), "rhythm_days", days)
