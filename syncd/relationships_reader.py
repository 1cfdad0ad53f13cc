"""The people in one store, judged with one config's rules: reads a
:class:`~syncd.relationships.Snapshot` from the store (per-address summaries of the derived
contacts, names, address book, settings, merges) and judges it with the pure functions of
:mod:`syncd.relationships`, which never see the store.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from syncd.config import Config
from syncd.errors import UserError
from syncd.identity import Identities
from syncd.merging import Suggestion, suggest_merges
from syncd.models import (
    AddressSummary,
    ContactRef,
    PersonSettings,
    StoredInteraction,
    decay_to,
)
from syncd.relationships import (
    NO_SETTINGS,
    Group,
    Person,
    Snapshot,
    address_book_index,
    declared_person,
    display_name,
    group_addresses,
    identities,
    judge_group,
    merged_recent_days,
    month_labels,
    monthly_counts,
    person_settings,
    rank_key,
)
from syncd.rules import EPOCH, RuleSet, contact_rules
from syncd.store import Store


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
        return identities(self.rules.me, self.config.people, book, (m.addresses for m in merges))

    # ------------------------------------------------------------------ merges
    def merge_suggestions(self) -> list[Suggestion]:
        """Likely duplicates among the people (syncd.merging.suggest_merges): reads only."""
        self._ready()
        book = self.store.book_entries()
        merges = self.store.people.merges()
        ids = identities(
            self.rules.me,
            self.config.people,
            [b.contact for b in book],
            (m.addresses for m in merges),
        )
        return suggest_merges(
            self.store.derived.names_seen(),
            book,
            self.config.people,
            ids,
            self.rules.address_reason,
            merges,
        )

    def first_contacts(self, addresses: list[str]) -> dict[str, datetime]:
        """When each of ``addresses`` (those with contacts) was first in contact."""
        self._ready()
        return {
            a: datetime.fromtimestamp(ts, UTC)
            for a, ts in self.store.derived.first_contacts(addresses).items()
        }

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
