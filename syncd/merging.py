"""Merges of addresses into one person, as the user asks for them or syncd suggests them: pure
functions over plain records (no store, no SQL), fed by syncd.relationships_reader.

- :func:`refuse_merge`: why ``syncd people merge`` must not join these addresses (the user's
  own, or addresses syncd has never seen), or None.
- :func:`what_still_joins`: the config's ``[[people]]`` entries and the address-book contacts
  that list an address with others: ``syncd people unmerge`` cannot undo those.
- :func:`suggest_merges`: likely duplicates, one name on several people (seen in mail, in the
  address book or the config), strongest first. A name alone never merges anyone: each
  suggestion is a command for the user to run.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from syncd.config import PersonEntry
from syncd.identity import Identities
from syncd.models import BookEntry, MergeRecord

# Letters that Unicode does not decompose into a base letter and an accent.
_FOLD = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ð": "d", "æ": "ae", "œ": "oe", "ı": "i"})
_NOT_WORD = re.compile(r"[\W_]+")


@functools.lru_cache(maxsize=1 << 16)  # one name is seen in mail and in the address book
def normalise_name(name: str) -> str:
    """A display name as compared: without case or accents, "Last, First" as "first last",
    punctuation as spaces (apostrophes dropped: O'Brien is OBrien)."""
    text = name.strip().strip("'\"")
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    if text.count(",") == 1:
        last, first = (part.strip() for part in text.split(","))
        if last and first:
            text = f"{first} {last}"
    text = text.replace("'", "").replace("\u2019", "").casefold().translate(_FOLD)
    return " ".join(_NOT_WORD.sub(" ", text).split())


# ====================================================================== merge and unmerge
def refuse_merge(
    addresses: Sequence[str], own: Mapping[str, str], known: Iterable[str]
) -> str | None:
    """Why these (normalized) addresses must not be merged, in one line, or None.

    ``own`` gives, for each of the user's addresses, where syncd has it from ("[me] emails",
    the account of a source); ``known`` are the addresses that appear in an interaction, an
    address-book contact or a ``[[people]]`` entry."""
    mine = [a for a in addresses if a in own]
    if mine:
        return "; ".join(
            f"{a} is your own address ({own[a]}): it never joins a person" for a in mine
        )
    seen = set(known)
    unknown = [a for a in addresses if a not in seen]
    if unknown:
        verb = "appears" if len(unknown) == 1 else "appear"
        return (
            f"{_and(unknown)} {verb} in no interaction, address-book contact or [[people]] "
            "entry: check the spelling (`syncd people --all` lists everyone syncd knows)"
        )
    return None


@dataclass(frozen=True)
class Join:
    """Something outside the store that lists an address with others: a ``[[people]]`` entry
    of the config (``source`` None) or an address-book contact of ``source``."""

    name: str | None
    others: tuple[str, ...]
    source: str | None = None


def what_still_joins(
    address: str,
    declared: Sequence[PersonEntry],
    book: Sequence[BookEntry],
    me: Iterable[str] = (),
) -> list[Join]:
    """The config entries and address-book contacts that list ``address`` with another
    address (never the user's own, which joins nobody): unmerge cannot undo them."""
    mine = frozenset(me) | {address}
    out: list[Join] = []
    for entry in declared:
        emails = [e.lower() for e in entry.emails]
        others = tuple(e for e in emails if e not in mine)
        if address in emails and others:
            out.append(Join(entry.name, others))
    for item in book:
        emails = list(item.contact.emails)
        others = tuple(e for e in emails if e not in mine)
        if address in emails and others:
            out.append(Join(item.contact.name, others, item.source))
    return out


# ====================================================================== suggestions
@dataclass(frozen=True)
class NameUse:
    """One address going by a name: seen in mail, in an address-book contact (of
    ``source``), or in a ``[[people]]`` entry of the config."""

    address: str
    name: str  # as written
    where: str  # mail | contact | config
    source: str | None = None


# Strongest first: the user's own records name both, one name at one organisation, one name.
KINDS = ("address book", "config", "same domain", "same name")


@dataclass(frozen=True)
class Suggestion:
    """Two people (one address of each) that are likely one."""

    addresses: tuple[str, str]
    name: str  # the shared name, as most often written
    kind: str  # one of KINDS
    uses: tuple[NameUse, ...]  # how each of the two goes by the name

    @property
    def command(self) -> str:
        return f"syncd people merge {self.addresses[0]} {self.addresses[1]}"


def suggest_merges(
    names_seen: Mapping[str, Mapping[str, int]],
    book: Sequence[BookEntry],
    declared: Sequence[PersonEntry],
    ids: Identities,
    excluded: Callable[[str], str | None],
    merges: Sequence[MergeRecord] = (),
) -> list[Suggestion]:
    """Likely merges: two people going by the same normalised name (:func:`normalise_name`),
    from mail (``names_seen``: per address, the names seen and how often), address-book
    contacts and the config's ``[[people]]`` names.

    Never suggested: an address ``excluded`` gives a reason for (the user's own, automated,
    ignored, list addresses), two addresses already one person (``ids``), two addresses the
    user split apart (``syncd people unmerge``, in ``merges``), and a one-word name seen in
    mail only ("Support", "Alex": too common to mean one person). One suggestion per pair of
    people, the strongest reason first."""
    uses: dict[str, list[NameUse]] = {}
    counts: dict[tuple[str, str], int] = {}

    def add(use: NameUse, n: int = 1) -> None:
        if "@" in use.name or excluded(use.address) is not None:
            return
        key = normalise_name(use.name)
        if key:
            uses.setdefault(key, []).append(use)
            counts[key, use.name] = counts.get((key, use.name), 0) + n

    for address, names in names_seen.items():
        for name, n in names.items():
            add(NameUse(address, name, "mail"), n)
    for entry in book:
        for address in entry.contact.emails:
            if entry.contact.name:
                add(NameUse(address, entry.contact.name, "contact", entry.source))
    for person in declared:
        for address in person.emails:
            if person.name:
                add(NameUse(address.lower(), person.name, "config"))

    apart = _kept_apart(merges)
    best: dict[tuple[str, str], tuple[int, str, Suggestion]] = {}
    for key, found in uses.items():
        if len(found) < 2:
            continue
        by_person: dict[str, list[NameUse]] = {}
        for use in found:
            by_person.setdefault(ids.find(use.address), []).append(use)
        for p, q in itertools.combinations(sorted(by_person), 2):
            pair = sorted(by_person[p] + by_person[q], key=_use_order)
            if len(key.split()) < 2 and all(u.where == "mail" for u in pair):
                continue
            if apart and any(frozenset((a.address, b.address)) in apart
                             for a in by_person[p] for b in by_person[q]):  # fmt: skip
                continue
            a, b = _closest(by_person[p], by_person[q])
            kind = _kind(pair, a, b)
            # Shown as written most often, "First Last" before "Last, First".
            name = max(("," not in u.name, counts[key, u.name], u.name) for u in pair)[2]
            rank = KINDS.index(kind)
            if (p, q) not in best or rank < best[p, q][0]:
                best[p, q] = (rank, key, Suggestion((a, b), name, kind, tuple(pair)))
    return [s for *_, s in sorted(best.values(), key=lambda b: (b[0], b[1], b[2].addresses))]


def oldest_first(s: Suggestion, first_contact: Mapping[str, datetime]) -> Suggestion:
    """The suggestion with the address in contact first (``first_contact``) first: the new
    one joins the known one. An address without contact counts as the newest."""
    a, b = s.addresses
    if b in first_contact and (a not in first_contact or first_contact[b] < first_contact[a]):
        return dataclasses.replace(s, addresses=(b, a))
    return s


def _use_order(u: NameUse) -> tuple[str, str, str, str]:
    return u.address, u.where, u.name, u.source or ""


def _kept_apart(merges: Sequence[MergeRecord]) -> set[frozenset[str]]:
    """Pairs the user split apart: each address split out of a merge, with the others."""
    out: set[frozenset[str]] = set()
    for r in merges:
        for gone in r.split:
            out.update(frozenset((gone, o)) for o in (*r.addresses, *r.split) if o != gone)
    return out


def _domain(address: str) -> str:
    return address.rpartition("@")[2]


def _closest(p: Sequence[NameUse], q: Sequence[NameUse]) -> tuple[str, str]:
    """One address of each person: two at the same domain when there are, else the first."""
    for a, b in itertools.product(sorted({u.address for u in p}), sorted({u.address for u in q})):
        if _domain(a) == _domain(b):
            return a, b
    return min(u.address for u in p), min(u.address for u in q)


def _kind(pair: Sequence[NameUse], a: str, b: str) -> str:
    if any(u.where == "contact" for u in pair):
        return "address book"
    if any(u.where == "config" for u in pair):
        return "config"
    return "same domain" if _domain(a) == _domain(b) else "same name"


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
