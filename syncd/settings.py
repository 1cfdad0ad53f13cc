"""Per-person settings the user sets from the CLI: snooze, mute, rhythm, and address merges.

They are kept in the store (``store.people``); these functions check the user's input first.
"""

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
    return store.people.merge(_clean(a) for a in addresses)


def snooze(store: Store, address: str, until: date | None) -> None:
    store.people.set_snoozed_until(_clean(address), until)


def mute(store: Store, address: str, muted: bool = True) -> None:
    store.people.set_muted(_clean(address), muted)


def set_rhythm(store: Store, address: str, days: int | None) -> None:
    store.people.set_rhythm(_clean(address), days)
