"""Per-person settings the user sets from the CLI: snooze, mute, rhythm, and address merges.

They are kept in the store (``store.people``); these functions check the user's input first.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from syncd.errors import UserError
from syncd.models import MERGE_CLI, MergeRecord
from syncd.store import Store, Unmerged


def clean_address(address: str) -> str:
    """An address as the store keeps it (trimmed, lowercase); not one is a UserError."""
    a = address.strip().lower()
    if "@" not in a:
        raise UserError(f"{address!r} is not an email address")
    return a


def merge_addresses(store: Store, addresses: Iterable[str], origin: str = MERGE_CLI) -> MergeRecord:
    """Store that the addresses are one person (the caller checked that it makes sense:
    syncd.merging.refuse_merge)."""
    return store.people.merge((clean_address(a) for a in addresses), origin)


def unmerge_address(store: Store, address: str) -> Unmerged:
    """Split the address back out of every stored merge (syncd.store.people.People.unmerge)."""
    return store.people.unmerge(clean_address(address))


def snooze(store: Store, address: str, until: date | None) -> None:
    store.people.set_snoozed_until(clean_address(address), until)


def mute(store: Store, address: str, muted: bool = True) -> None:
    store.people.set_muted(clean_address(address), muted)


def set_rhythm(store: Store, address: str, days: int | None) -> None:
    store.people.set_rhythm(clean_address(address), days)
