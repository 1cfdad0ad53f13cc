"""The relationship model: from derived contacts to people, rhythms and who is overdue.

Two layers:

- **Pure functions** over plain values (no store, no SQL): who is one person
  (:func:`identities`), what the user set for them (:func:`person_settings`), their rhythm
  (:func:`infer_rhythm`), how strong the tie is (:func:`tie_strength`), whether and how much
  they are overdue (:func:`overdue_by`, :func:`urgency`), and the whole judgment of one person
  (:func:`judge_group`). Each can be tested without a database.
- :class:`Relationships`, a thin layer that reads a :class:`Snapshot` from the store (per-address
  summaries of the derived contacts, names, address book, settings, merges) and calls them.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from syncd.config import Config, PersonEntry, Rules
from syncd.errors import UserError
from syncd.identity import Identities
from syncd.models import (
    RECENT_DAYS,
    AddressSummary,
    Contact,
    ContactRef,
    PersonSettings,
    StoredInteraction,
    decay_to,
)
from syncd.rules import EPOCH, RuleSet, contact_rules
from syncd.store import Store


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
    merges: dict[str, str]  # address -> person key, from `syncd people merge`


# ====================================================================== pure functions
def identities(
    me: Iterable[str],
    declared: Sequence[PersonEntry],
    address_book: Sequence[Contact],
    merges: Mapping[str, str],
) -> Identities:
    """Addresses merged into people: by the config's [[people]], by address-book entries
    with several addresses, and by ``syncd people merge``."""
    ids = Identities(me)
    for entry in declared:
        ids.merge(entry.emails)
    for contact in address_book:
        if len(contact.emails) > 1:
            ids.merge(contact.emails)
    for address, key in merges.items():
        ids.merge([address, key])
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


# ====================================================================== reading the store
class Relationships:
    """The people in one store, judged with one config's rules.

    Reads only: on a reader store, stale derived contacts are computed in memory; on a writer
    store they are brought up to date first (syncd.store.derived)."""

    def __init__(self, store: Store, config: Config):
        self.store = store
        self.config = config
        self.rules: RuleSet = contact_rules(config)(store.accounts())
        self._ready_done = False

    def _ready(self) -> None:
        if not self._ready_done:
            self.store.derived.prepare(self.rules)
            self._ready_done = True

    # ------------------------------------------------------------------ reading
    def summaries(self, as_of_ts: int) -> dict[str, AddressSummary]:
        """Per address: its contacts up to ``as_of_ts``. From the stored summaries, except for
        addresses with contacts after ``as_of_ts`` (upcoming meetings, or an as-of date in the
        past): those are recomputed exactly."""
        self._ready()
        derived = self.store.derived
        later = derived.addresses_with_contacts_after(as_of_ts)
        out = {s.address: s for s in derived.summaries() if s.address not in later}
        for s in derived.summaries_until(sorted(later), as_of_ts):
            out[s.address] = s
        return out

    def snapshot(self, as_of_ts: int) -> Snapshot:
        summaries = self.summaries(as_of_ts)
        return Snapshot(
            as_of_ts=as_of_ts,
            summaries=summaries,
            names_seen=self.store.derived.best_names(),
            address_book=self.store.contacts(),
            stored_settings=self.store.people.settings(),
            merges=self.store.people.merges(),
        )

    def identities(self, snap: Snapshot | None = None) -> Identities:
        book = snap.address_book if snap else self.store.contacts()
        merges = snap.merges if snap else self.store.people.merges()
        return identities(self.rules.me, self.config.people, book, merges)

    # ------------------------------------------------------------------ people
    def people(self, as_of: datetime, *, include_untracked: bool = False) -> list[Person]:
        """Every person with contact up to ``as_of``, judged as of then; tracked ones only
        unless ``include_untracked``."""
        as_of_ts = int(as_of.timestamp())
        snap = self.snapshot(as_of_ts)
        as_of_day = self.rules.day_of(as_of)
        decay = decay_to(as_of_ts)
        ids = self.identities(snap)
        settings = person_settings(snap.stored_settings, self.config.people, ids)
        book_names, book_birthdays = address_book_index(snap.address_book)
        stats = snap.summaries
        groups = group_addresses(stats, ids)
        people: list[Person] = []
        for key, addrs in groups.items():
            s = [stats[a] for a in addrs]
            if not include_untracked and not any(x.n_out or x.n_meet for x in s):
                continue
            addrs.sort(key=lambda a: (-stats[a].last_ts, a))
            if len(addrs) == 1:
                recent, contact_days = list(s[0].recent), s[0].days
            else:
                recent = merged_recent_days(stats[a].recent for a in addrs)
                contact_days = self.store.derived.distinct_days(addrs, as_of_ts)
            st = settings.get(key, NO_SETTINGS)
            last_ts = max(x.last_ts for x in s)
            people.append(
                judge_group(
                    Group(key, addrs, s, recent, contact_days),
                    st,
                    display_name(st, addrs, book_names, snap.names_seen),
                    st.birthday
                    or next((book_birthdays[a] for a in addrs if a in book_birthdays), None),
                    decay,
                    as_of_day,
                    self.rules.day_of(datetime.fromtimestamp(last_ts, UTC)),
                    self.config.rules,
                )
            )
        for entry in self.config.people:
            if not entry.emails or ids.find(entry.emails[0]) in groups:
                continue
            key = ids.find(entry.emails[0])
            people.append(
                declared_person(
                    key, entry.emails, settings.get(key, PersonSettings()), self.config.rules
                )
            )
        people.sort(key=rank_key)
        return people

    # ------------------------------------------------------------------ details
    def last_interaction(self, emails: list[str], as_of_ts: int) -> ContactRef | None:
        """The latest contact with any of ``emails``."""
        self._ready()
        return self.store.derived.last_contact(emails, as_of_ts)

    def last_incoming(self, emails: list[str], as_of_ts: int) -> int | None:
        """The interaction id of their latest personal mail."""
        self._ready()
        ref = self.store.derived.last_contact(emails, as_of_ts, incoming=True)
        return ref.interaction_id if ref else None

    def interaction(self, interaction_id: int) -> StoredInteraction:
        return self.store.load_interactions([interaction_id])[0]

    def monthly(
        self, emails: list[str], as_of: datetime, months: int = 12
    ) -> list[tuple[str, int]]:
        """Distinct contact days per calendar month, oldest first, ending with as_of's month."""
        self._ready()
        labels = month_labels(as_of.astimezone(self.rules.tz).date(), months)
        first = date(labels[0][0], labels[0][1], 1)
        days = self.store.derived.contact_days(emails, int(as_of.timestamp()), (first - EPOCH).days)
        return monthly_counts(days, labels)

    def find_person(self, query: str, as_of: datetime) -> list[Person]:
        """People whose address or name matches ``query`` (exact address first)."""
        q = query.strip().lower()
        everyone = self.people(as_of, include_untracked=True)
        exact = [p for p in everyone if q in p.emails]
        if exact:
            return exact
        return [p for p in everyone if q in p.name.lower() or any(q in e for e in p.emails)]

    def find_one(self, query: str, as_of: datetime) -> Person | None:
        """The one person ``query`` means, None when nobody matches; an ambiguous query is a
        UserError listing the candidates (an exact name match settles it)."""
        matches = self.find_person(query, as_of)
        if len(matches) > 1:
            exact = [p for p in matches if p.name.lower() == query.strip().lower()]
            if len(exact) != 1:
                names = "; ".join(f"{p.name} <{p.emails[0]}>" for p in matches[:10])
                raise UserError(
                    f"{query!r} matches {len(matches)} people: {names}. Be more specific."
                )
            matches = exact
        return matches[0] if matches else None
