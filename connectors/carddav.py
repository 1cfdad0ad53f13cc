"""CardDAV address books of a ``caldav`` source: vCards as :class:`syncd.models.Contact`.

A contact is a fact for the identity model: the addresses listed together in one vCard belong
to one person, its name is the person's name, its birthday shows in the digest. Each vCard
resource is one contact, keyed by its href; a deleted (or now unreadable) vCard is a
``contact_deletions`` entry. Syncing the address books themselves (listing, etags, sync
tokens) is the same algorithm as for calendars, in :mod:`connectors.caldav`.

Reading a vCard (3.0 and 4.0, grouped properties such as ``item1.EMAIL``, folded lines,
year-less birthdays) is shared with the ``vcard`` file source: :mod:`connectors.vcard_format`.
"""

from __future__ import annotations

from collections.abc import Iterable

from connectors.vcard_format import CardError, lines_of, parse_birthday, parse_card, split_cards
from syncd.models import Batch, Contact, Skip

__all__ = ["contact_from_vcard", "contacts_batch", "parse_birthday"]


def contacts_batch(items: Iterable[tuple[str, tuple[str, bytes | None]]]) -> Batch:
    """One batch with a contact (or a skip and a deletion) per (href, (etag, vCard data))."""
    batch = Batch(progress_unit="contacts")
    for href, (_etag, data) in items:
        item = contact_from_vcard(data, href)
        if isinstance(item, Contact):
            batch.contacts.append(item)
        else:  # what it said before no longer holds: forget it
            batch.skipped.append(item)
            batch.contact_deletions.append(href)
    return batch


def contact_from_vcard(data: bytes | None, href: str) -> Contact | Skip:
    """The names, addresses and birthday of one vCard resource (its first card)."""
    if data is None:
        return Skip(href, "the server sent no vCard data")
    raw = next(split_cards(lines_of(data)), None)
    if raw is None:
        return Skip(href, "not a vCard: no BEGIN:VCARD")
    try:
        card = parse_card(raw)
    except CardError as e:
        return Skip(href, str(e))
    return Contact(source_id=href, name=card.name, emails=card.emails, birthday=card.birthday)
