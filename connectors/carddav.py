"""CardDAV address books of a ``caldav`` source: vCards as :class:`syncd.models.Contact`.

A contact is a fact for the identity model: the addresses listed together in one vCard belong
to one person, its name is the person's name, its birthday shows in the digest. Each vCard
resource is one contact, keyed by its href; a deleted (or now unreadable) vCard is a
``contact_deletions`` entry. Syncing the address books themselves (listing, etags, sync
tokens) is the same algorithm as for calendars, in :mod:`connectors.caldav`.

vCards are read with ``vobject`` (what Radicale itself validates them with): 3.0 and 4.0,
grouped properties (``item1.EMAIL``), folded lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any

from syncd.models import Batch, Contact, Skip

# 1985-04-12, 19850412, 1985-04-12T00:00:00Z (the time is dropped: the date is the fact).
_FULL = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})(?:T|$)")
# vCard 4 / ISO 8601 truncated forms without a year: --0412, --04-12.
_NO_YEAR = re.compile(r"^--(\d{2})-?(\d{2})$")
UNKNOWN_YEAR = 1900  # what syncd.models.Contact uses for "year unknown"


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
    """The names, addresses and birthday of one vCard resource."""
    import vobject

    if data is None:
        return Skip(href, "the server sent no vCard data")
    try:
        card = vobject.readOne(data.decode("utf-8", "replace"))
    except Exception as e:  # vobject raises several unrelated types on bad input
        return Skip(href, f"not a vCard: {str(e)[:200] or type(e).__name__}")
    if card.name != "VCARD":
        return Skip(href, f"not a vCard: {card.name}")
    contents: dict[str, list[Any]] = card.contents
    emails: list[str] = []
    for line in contents.get("email", []):
        addr = str(line.value or "").strip().lower().removeprefix("mailto:")
        if "@" in addr and not any(c.isspace() for c in addr) and addr not in emails:
            emails.append(addr)
    return Contact(
        source_id=href,
        name=_name(contents),
        emails=tuple(emails),
        birthday=_birthday(contents),
    )


def _name(contents: dict[str, list[Any]]) -> str | None:
    for line in contents.get("fn", []):
        text = " ".join(str(line.value or "").split())
        if text:
            return text
    for line in contents.get("n", []):  # FN is mandatory, but not every writer knows it
        n = line.value
        parts = [getattr(n, k, "") for k in ("prefix", "given", "additional", "family", "suffix")]
        text = " ".join(" ".join(p) if isinstance(p, list) else str(p or "") for p in parts)
        text = " ".join(text.split())
        if text:
            return text
    return None


def _birthday(contents: dict[str, list[Any]]) -> date | None:
    for line in contents.get("bday", []):
        params = {k.upper(): v for k, v in line.params.items()}
        if [v.lower() for v in params.get("VALUE", [])] == ["text"]:
            continue  # "circa 1800": words, not a date
        found = parse_birthday(str(line.value or ""), params.get("X-APPLE-OMIT-YEAR", []))
        if found:
            return found
    return None


def parse_birthday(value: str, omit_year: Iterable[str] = ()) -> date | None:
    """A vCard BDAY as a date; year 1900 when the card does not know the year.

    Apple writes year-less birthdays as ``1604-MM-DD;X-APPLE-OMIT-YEAR=1604``. A year-less
    29 February becomes 28 February 1900 (1900 is not a leap year).
    """
    value = value.strip()
    if m := _NO_YEAR.match(value):
        year, month, day = UNKNOWN_YEAR, int(m.group(1)), int(m.group(2))
    elif m := _FULL.match(value):
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if m.group(1) in set(omit_year):
            year = UNKNOWN_YEAR
    else:
        return None
    if year == UNKNOWN_YEAR and (month, day) == (2, 29):
        day = 28
    try:
        return date(year, month, day)
    except ValueError:
        return None
