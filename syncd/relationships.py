"""The relationship model: from derived contacts to people, rhythms and who is overdue.

Two layers:

- **Pure functions** over plain values (no store, no SQL): who is one person
  (:func:`identities`), what the user set for them (:func:`person_settings`), their rhythm
  (:func:`infer_rhythm`), how strong the tie is (:func:`tie_strength`), whether and how much
  they are overdue (:func:`overdue_by`, :func:`urgency`), and the whole judgment of one person
  (:func:`judge_group`). Each can be tested without a database.
- :class:`syncd.relationships_reader.Relationships`, a thin layer elsewhere that reads a
  :class:`Snapshot` from the store (per-address summaries of the derived contacts, names,
  address book, settings, merges) and calls them: this module never sees the store.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from syncd.config import PersonEntry, Rules
from syncd.identity import Identities
from syncd.models import (
    RECENT_DAYS,
    AddressSummary,
    Contact,
    MergeRecord,
    PersonSettings,
)
from syncd.rules import EPOCH


@dataclass
class Person:
    key: str
    name: str
    emails: list[str]
    tracked: bool
    contact_days: int
    last_ts: int | None
    n_out: int
    n_in: int
    n_meet: int
    strength: float
    rhythm_days: int
    rhythm_source: str  # pinned | inferred | default
    days_since: int | None
    overdue: bool
    overdue_days: int
    score: float
    muted: bool = False
    snoozed_until: date | None = None
    forgotten: bool = False  # out of contact for longer than forget_after
    last_in_ts: int = 0
    last_mine_ts: int = 0
    birthday: date | None = None
    recent_days: list[int] = field(default_factory=list)

    @property
    def last_contact(self) -> datetime | None:
        return datetime.fromtimestamp(self.last_ts, UTC) if self.last_ts else None

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "emails": self.emails,
            "last_contact": self.last_contact.isoformat() if self.last_contact else None,
            "rhythm_days": self.rhythm_days,
            "rhythm_source": self.rhythm_source,
            "overdue": self.overdue,
            "overdue_days": self.overdue_days,
            "days_since": self.days_since,
            "contact_days": self.contact_days,
            "tracked": self.tracked,
            "score": round(self.score, 3),
            "muted": self.muted,
            "snoozed_until": self.snoozed_until.isoformat() if self.snoozed_until else None,
        }


@dataclass(frozen=True)
class Snapshot:
    """What judging people reads from the store, as of one time."""

    as_of_ts: int
    summaries: dict[str, AddressSummary]  # per address: its contacts up to as_of_ts
    names_seen: dict[str, str]  # per address: the display name seen most
    address_book: list[Contact]
    stored_settings: dict[str, PersonSettings]  # by the key they were stored under
    merges: list[MergeRecord]  # stored merges (`syncd people merge`, digest actions)


# ====================================================================== pure functions
def identities(
    me: Iterable[str],
    declared: Sequence[PersonEntry],
    address_book: Sequence[Contact],
    merges: Iterable[Iterable[str]],
) -> Identities:
    """Addresses merged into people: by the config's [[people]], by address-book entries
    with several addresses, and by stored merges (``syncd people merge``, digest actions:
    each the addresses it joins now)."""
    ids = Identities(me)
    for entry in declared:
        ids.merge(entry.emails)
    for contact in address_book:
        if len(contact.emails) > 1:
            ids.merge(contact.emails)
    for addresses in merges:
        ids.merge(addresses)
    return ids


def person_settings(
    stored: Mapping[str, PersonSettings], declared: Sequence[PersonEntry], ids: Identities
) -> dict[str, PersonSettings]:
    """Per person key: what the CLI stored, with the config's [[people]] laid over it."""
    out = {ids.find(key): s for key, s in stored.items()}
    for e in declared:
        if not e.emails:
            continue
        k = ids.find(e.emails[0])
        prev = out.get(k, PersonSettings())
        out[k] = PersonSettings(
            e.name or prev.name,
            e.every or prev.rhythm,
            e.mute or prev.muted,
            prev.snoozed_until,
            e.birthday or prev.birthday,
        )
    return out


NO_SETTINGS = PersonSettings()


def group_addresses(addresses: Iterable[str], ids: Identities) -> dict[str, list[str]]:
    """Addresses by person key, in the order given."""
    groups: dict[str, list[str]] = {}
    for address in addresses:
        groups.setdefault(ids.find(address), []).append(address)
    return groups


def infer_rhythm(days: Sequence[int], pinned: int | None, rules: Rules) -> tuple[int, str]:
    """(rhythm in days, where it came from): ``pinned`` if set; else the median gap between
    the distinct contact ``days`` (newest first), bounded by min/max, once there are three;
    else the default."""
    if pinned:
        return pinned, "pinned"
    if len(days) >= 3:
        gaps = [a - b for a, b in itertools.pairwise(days)]
        rhythm = round(statistics.median(gaps))
        return min(max(rhythm, rules.min_rhythm), rules.max_rhythm), "inferred"
    return rules.default_rhythm, "default"


def balance(n_out: int, n_in: int, n_meet: int) -> float:
    """How two-way the contact is: 1.0 when the user writes as often as they write back or
    meet, down to 0.6 when one-sided; only meetings 0.8, only their mail 0.5."""
    if n_out == 0:
        return 0.8 if n_meet else 0.5
    back = n_in + n_meet
    return 0.6 + 0.4 * (min(n_out, back) / max(n_out, back))


def tie_strength(weight: float, n_out: int, n_in: int, n_meet: int) -> float:
    """The strength of a tie: the recency-weighted amount of contact (``weight``, small groups
    counting more), damped by its square root, times its :func:`balance`."""
    return math.sqrt(weight) * balance(n_out, n_in, n_meet)


def overdue_by(days_since: int, rhythm: int, slack: float) -> int | None:
    """Days past the rhythm plus slack (at least 0), or None when not overdue."""
    threshold = rhythm * (1 + slack)
    return max(0, math.ceil(days_since - threshold)) if days_since > threshold else None


def urgency(strength: float, days_since: int, rhythm: int) -> float:
    """The rank of an overdue person: tie strength times how many rhythms have passed (at
    most six)."""
    return strength * min(days_since / rhythm, 6.0)


def merged_recent_days(recent: Iterable[Sequence[int]]) -> list[int]:
    """The newest RECENT_DAYS distinct days of several addresses, newest first."""
    return sorted({d for days in recent for d in days}, reverse=True)[:RECENT_DAYS]


@dataclass(slots=True)
class Group:
    """One person's addresses and their contact summaries, as judging needs them."""

    key: str
    addresses: list[str]  # the address last in touch first (replies go there)
    summaries: list[AddressSummary]  # in the order the addresses were grouped
    recent_days: list[int]  # newest distinct contact days, newest first
    contact_days: int  # distinct contact days, all addresses together


def judge_group(
    g: Group,
    settings: PersonSettings,
    name: str,
    birthday: date | None,
    decay: float,
    as_of_day: int,
    last_day: int,
    rules: Rules,
) -> Person:
    """One person as of a day: tracked, rhythm, overdue, strength, score. ``last_day`` is the
    local day of the last contact; ``decay`` turns stored weight sums into weights as of now
    (syncd.models.decay_to)."""
    s = g.summaries
    if len(s) == 1:  # most people have one address: no sums over generators
        x = s[0]
        last_ts, n_out, n_in, n_meet = x.last_ts, x.n_out, x.n_in, x.n_meet
        weight, last_in_ts, last_mine_ts = x.wsum * decay, x.last_in_ts, x.last_mine_ts
    else:
        last_ts = max(x.last_ts for x in s)
        n_out = sum(x.n_out for x in s)
        n_in = sum(x.n_in for x in s)
        n_meet = sum(x.n_meet for x in s)
        weight = sum(x.wsum * decay for x in s)
        last_in_ts = max(x.last_in_ts for x in s)
        last_mine_ts = max(x.last_mine_ts for x in s)
    tracked = bool(n_out or n_meet)
    days_since = as_of_day - last_day
    rhythm, source = infer_rhythm(g.recent_days, settings.rhythm, rules)
    late = overdue_by(days_since, rhythm, rules.slack) if tracked else None
    strength = tie_strength(weight, n_out, n_in, n_meet)
    return Person(
        key=g.key,
        name=name,
        emails=g.addresses,
        tracked=tracked,
        contact_days=g.contact_days,
        last_ts=last_ts,
        n_out=n_out,
        n_in=n_in,
        n_meet=n_meet,
        strength=strength,
        rhythm_days=rhythm,
        rhythm_source=source,
        days_since=days_since,
        overdue=late is not None,
        overdue_days=late or 0,
        score=urgency(strength, days_since, rhythm) if late is not None else 0.0,
        muted=settings.muted,
        snoozed_until=settings.snoozed_until,
        forgotten=days_since > rules.forget_after,
        last_in_ts=last_in_ts,
        last_mine_ts=last_mine_ts,
        birthday=birthday,
        recent_days=g.recent_days,
    )


def declared_person(
    key: str, emails: Sequence[str], settings: PersonSettings, rules: Rules
) -> Person:
    """A person named in [[people]] with no contact yet: listed ("never") so that a typo in
    an address shows up."""
    return Person(
        key=key,
        name=settings.name or emails[0].split("@")[0],
        emails=list(emails),
        tracked=True,
        contact_days=0,
        last_ts=None,
        n_out=0,
        n_in=0,
        n_meet=0,
        strength=0.0,
        rhythm_days=settings.rhythm or rules.default_rhythm,
        rhythm_source="pinned" if settings.rhythm else "default",
        days_since=None,
        overdue=False,
        overdue_days=0,
        score=0.0,
        muted=settings.muted,
        snoozed_until=settings.snoozed_until,
        birthday=settings.birthday,
    )


def display_name(
    settings: PersonSettings,
    addresses: Sequence[str],
    book_names: Mapping[str, str],
    seen_names: Mapping[str, str],
) -> str:
    """The config's or CLI's name, else the address book's, else the name seen most, else
    the local part of the first address."""
    return (
        settings.name
        or next((book_names[a] for a in addresses if a in book_names), None)
        or next((seen_names[a] for a in addresses if a in seen_names), None)
        or addresses[0].split("@")[0]
    )


def address_book_index(book: Iterable[Contact]) -> tuple[dict[str, str], dict[str, date]]:
    """Per address: the first name and the first birthday the address book gives."""
    names: dict[str, str] = {}
    birthdays: dict[str, date] = {}
    for contact in book:
        for e in contact.emails:
            if contact.name:
                names.setdefault(e, contact.name)
            if contact.birthday:
                birthdays.setdefault(e, contact.birthday)
    return names, birthdays


def rank_key(p: Person) -> tuple[float, int, str]:
    """Most urgent first, then the most recently in touch, then by name."""
    return (-p.score, -(p.last_ts or 0), p.name.lower())


def month_labels(local: date, months: int) -> list[tuple[int, int]]:
    """(year, month) of the ``months`` calendar months ending with ``local``'s, oldest first."""
    labels: list[tuple[int, int]] = []
    y, m = local.year, local.month
    for _ in range(months):
        labels.append((y, m))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    labels.reverse()
    return labels


def monthly_counts(days: Iterable[int], labels: Sequence[tuple[int, int]]) -> list[tuple[str, int]]:
    """How many of the (distinct) ``days`` fall in each labelled month."""
    counts: dict[tuple[int, int], int] = {}
    for day in days:
        d = EPOCH + timedelta(days=day)
        counts[(d.year, d.month)] = counts.get((d.year, d.month), 0) + 1
    return [(f"{yy:04d}-{mm:02d}", counts.get((yy, mm), 0)) for yy, mm in labels]
