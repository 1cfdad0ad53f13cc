"""The relationship model: from derived contacts to people, rhythms and who is overdue.

Reads the store's ``contact_log`` (kept up to date by :meth:`Model.refresh`) with a few
aggregate queries, merges addresses into people (syncd.identity), and judges each person as
of a given time: tracked or not, usual rhythm, overdue or not, how strongly tied, awaiting a
reply or not.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from syncd.config import Config
from syncd.errors import UserError
from syncd.identity import Identities
from syncd.rules import EPOCH, RuleSet
from syncd.store import RECENT_DAYS, SUMMARY_T0, SUMMARY_TAU, Store


@dataclass
class AddressStats:
    days: int = 0
    last_ts: int = 0
    n_out: int = 0
    n_in: int = 0
    n_meet: int = 0
    weight: float = 0.0
    last_in_ts: int = 0  # personal mail from them
    last_mine_ts: int = 0  # your mail to them, or a meeting

    @classmethod
    def from_row(cls, row: tuple[Any, ...], decay: float) -> AddressStats:
        """From a row of Store.summaries or Store.contact_aggregates (address first); the
        stored weight sum is decayed to the as-of time by ``decay``."""
        return cls(
            days=row[1],
            last_ts=row[2],
            n_out=row[3],
            n_in=row[4],
            n_meet=row[5],
            weight=row[6] * decay,
            last_in_ts=row[7],
            last_mine_ts=row[8],
        )


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
class Settings:
    name: str | None = None
    rhythm: int | None = None
    muted: bool = False
    snoozed_until: date | None = None
    birthday: date | None = None


class Model:
    def __init__(self, store: Store, config: Config):
        self.store = store
        self.config = config
        me = set(config.me.emails) | set(store.accounts())
        self.rules = RuleSet(config.rules, me, config.me.timezone)

    def refresh(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Derive contacts for everything written since the last refresh (or all, if the
        rules changed)."""
        return self.store.refresh_contacts(self.rules.fingerprint(), self.rules.derive, progress)

    # ------------------------------------------------------------------ identity
    def identities(self) -> Identities:
        ids = Identities(self.rules.me)
        for entry in self.config.people:
            ids.merge(entry.emails)
        for _name, emails, _bday in self.store.contacts():
            if len(emails) > 1:
                ids.merge(emails)
        for address, key in self.store.conn.execute("SELECT address, person_key FROM addresses"):
            ids.merge([address, key])
        return ids

    def _settings(self, ids: Identities) -> dict[str, Settings]:
        """Per person key: config [[people]] first, then what the CLI stored."""
        out: dict[str, Settings] = {}
        for key, name, rhythm, muted, snoozed, bday in self.store.conn.execute(
            "SELECT key, name, rhythm_days, muted, snoozed_until, birthday FROM people"
        ):
            out[ids.find(key)] = Settings(
                name,
                rhythm,
                bool(muted),
                date.fromisoformat(snoozed) if snoozed else None,
                date.fromisoformat(bday) if bday else None,
            )
        for e in self.config.people:
            if not e.emails:
                continue
            k = ids.find(e.emails[0])
            prev = out.get(k, Settings())
            out[k] = Settings(
                e.name or prev.name,
                e.every or prev.rhythm,
                e.mute or prev.muted,
                prev.snoozed_until,
                e.birthday or prev.birthday,
            )
        return out

    # ------------------------------------------------------------------ people
    def address_stats(self, as_of_ts: int) -> tuple[dict[str, AddressStats], dict[str, list[int]]]:
        """Per address: aggregates of its contacts up to ``as_of_ts``, and its newest contact
        days. Read from the summary table, except for addresses with contacts after
        ``as_of_ts`` (upcoming meetings, or an as-of date in the past), recomputed exactly."""
        decay = math.exp(-(as_of_ts - SUMMARY_T0) / SUMMARY_TAU)
        later = self.store.addresses_with_contacts_after(as_of_ts)
        stats: dict[str, AddressStats] = {}
        recent: dict[str, list[int]] = {}
        for row in self.store.summaries():
            if row[0] in later:
                continue
            stats[row[0]] = AddressStats.from_row(row, decay)
            recent[row[0]] = row[9]
        exact = sorted(later)
        for i in range(0, len(exact), 500):
            chunk = exact[i : i + 500]
            for row in self.store.contact_aggregates(chunk, as_of_ts):
                stats[row[0]] = AddressStats.from_row(row, decay)
            recent.update(self.store.recent_contact_days(chunk, as_of_ts))
        return stats, recent

    def names(self) -> dict[str, str]:
        best: dict[str, tuple[int, str]] = {}
        for address, name, n in self.store.conn.execute(
            "SELECT address, name, n FROM address_names"
        ):
            if n > best.get(address, (0, ""))[0]:
                best[address] = (n, name)
        return {a: v[1] for a, v in best.items()}

    def people(self, as_of: datetime, *, include_untracked: bool = False) -> list[Person]:
        """Every person with contact up to ``as_of``, judged as of then; tracked ones only
        unless ``include_untracked``."""
        self.refresh()
        as_of_ts = int(as_of.timestamp())
        as_of_day = self.rules.day_of(as_of)
        stats, recent = self.address_stats(as_of_ts)
        ids = self.identities()
        settings = self._settings(ids)
        seen_names = self.names()
        contact_names: dict[str, str] = {}
        contact_bdays: dict[str, date] = {}
        for contact_name, emails, contact_bday in self.store.contacts():
            for e in emails:
                if contact_name:
                    contact_names.setdefault(e, contact_name)
                if contact_bday:
                    contact_bdays.setdefault(e, date.fromisoformat(contact_bday))

        groups: dict[str, list[str]] = {}
        for address in stats:
            groups.setdefault(ids.find(address), []).append(address)

        people: list[Person] = []
        r = self.config.rules
        for key, addrs in groups.items():
            s = [stats[a] for a in addrs]
            tracked = any(x.n_out or x.n_meet for x in s)
            if not tracked and not include_untracked:
                continue
            # The address they were last in touch from comes first: replies go there.
            addrs.sort(key=lambda a: (-stats[a].last_ts, a))
            if len(addrs) == 1:
                days_list = recent.get(addrs[0], [])
                contact_days = s[0].days
            else:
                days_list = sorted({d for a in addrs for d in recent.get(a, [])}, reverse=True)
                days_list = days_list[:RECENT_DAYS]
                contact_days = self._distinct_days(addrs, as_of_ts)
            st = settings.get(key, Settings())
            last_ts = max(x.last_ts for x in s)
            days_since = as_of_day - self.rules.day_of(datetime.fromtimestamp(last_ts, UTC))
            if st.rhythm:
                rhythm, source = st.rhythm, "pinned"
            elif len(days_list) >= 3:
                gaps = [a - b for a, b in itertools.pairwise(days_list)]
                rhythm = round(statistics.median(gaps))
                rhythm = min(max(rhythm, r.min_rhythm), r.max_rhythm)
                source = "inferred"
            else:
                rhythm, source = r.default_rhythm, "default"
            threshold = rhythm * (1 + r.slack)
            overdue = tracked and days_since > threshold
            n_out = sum(x.n_out for x in s)
            n_in = sum(x.n_in for x in s)
            n_meet = sum(x.n_meet for x in s)
            back = n_in + n_meet
            balance = 0.6 + 0.4 * (min(n_out, back) / max(n_out, back) if max(n_out, back) else 0)
            if n_out == 0:  # only meetings or only their mail
                balance = 0.8 if n_meet else 0.5
            strength = math.sqrt(sum(x.weight for x in s)) * balance
            score = strength * min(days_since / rhythm, 6.0) if overdue else 0.0
            name = (
                st.name
                or next((contact_names[a] for a in addrs if a in contact_names), None)
                or next((seen_names[a] for a in addrs if a in seen_names), None)
                or addrs[0].split("@")[0]
            )
            bday = st.birthday or next(
                (contact_bdays[a] for a in addrs if a in contact_bdays), None
            )
            people.append(
                Person(
                    key=key,
                    name=name,
                    emails=addrs,
                    tracked=tracked,
                    contact_days=contact_days,
                    last_ts=last_ts,
                    n_out=n_out,
                    n_in=n_in,
                    n_meet=n_meet,
                    strength=strength,
                    rhythm_days=rhythm,
                    rhythm_source=source,
                    days_since=days_since,
                    overdue=overdue,
                    overdue_days=max(0, math.ceil(days_since - threshold)) if overdue else 0,
                    score=score,
                    muted=st.muted,
                    snoozed_until=st.snoozed_until,
                    forgotten=days_since > r.forget_after,
                    last_in_ts=max(x.last_in_ts for x in s),
                    last_mine_ts=max(x.last_mine_ts for x in s),
                    birthday=bday,
                    recent_days=days_list,
                )
            )
        # People named in [[people]] are relationships the user declared: list them even
        # before any contact ("never"), so that a typo in an address shows up.
        for entry in self.config.people:
            if not entry.emails or ids.find(entry.emails[0]) in groups:
                continue
            key = ids.find(entry.emails[0])
            st = settings.get(key, Settings())
            people.append(
                Person(
                    key=key,
                    name=st.name or entry.emails[0].split("@")[0],
                    emails=list(entry.emails),
                    tracked=True,
                    contact_days=0,
                    last_ts=None,
                    n_out=0,
                    n_in=0,
                    n_meet=0,
                    strength=0.0,
                    rhythm_days=st.rhythm or r.default_rhythm,
                    rhythm_source="pinned" if st.rhythm else "default",
                    days_since=None,
                    overdue=False,
                    overdue_days=0,
                    score=0.0,
                    muted=st.muted,
                    snoozed_until=st.snoozed_until,
                    birthday=st.birthday,
                )
            )
        people.sort(key=lambda p: (-p.score, -(p.last_ts or 0), p.name.lower()))
        return people

    def _distinct_days(self, addrs: list[str], as_of_ts: int) -> int:
        marks = ",".join("?" * len(addrs))
        return self.store.conn.execute(
            f"SELECT count(DISTINCT day) FROM contact_log WHERE address IN ({marks}) AND ts <= ?",
            (*addrs, as_of_ts),
        ).fetchone()[0]

    # ------------------------------------------------------------------ details
    def last_interaction(self, emails: list[str], as_of_ts: int) -> tuple[int, str] | None:
        """(interaction id, dir) of the latest contact with any of ``emails``."""
        marks = ",".join("?" * len(emails))
        row = self.store.conn.execute(
            f"SELECT interaction_id, dir FROM contact_log WHERE address IN ({marks}) AND ts <= ? "
            "ORDER BY ts DESC LIMIT 1",
            (*emails, as_of_ts),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def last_incoming(self, emails: list[str], as_of_ts: int) -> int | None:
        marks = ",".join("?" * len(emails))
        row = self.store.conn.execute(
            f"SELECT interaction_id FROM contact_log WHERE address IN ({marks}) AND ts <= ? "
            "AND dir = 'in' ORDER BY ts DESC LIMIT 1",
            (*emails, as_of_ts),
        ).fetchone()
        return row[0] if row else None

    def monthly(
        self, emails: list[str], as_of: datetime, months: int = 12
    ) -> list[tuple[str, int]]:
        """Distinct contact days per calendar month, oldest first, ending with as_of's month."""
        local = as_of.astimezone(self.rules.tz).date()
        labels: list[tuple[int, int]] = []
        y, m = local.year, local.month
        for _ in range(months):
            labels.append((y, m))
            y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        labels.reverse()
        first = date(labels[0][0], labels[0][1], 1)
        marks = ",".join("?" * len(emails))
        counts: dict[tuple[int, int], int] = {}
        for (day,) in self.store.conn.execute(
            f"SELECT DISTINCT day FROM contact_log WHERE address IN ({marks}) AND ts <= ? "
            "AND day >= ?",
            (*emails, int(as_of.timestamp()), (first - EPOCH).days),
        ):
            d = EPOCH + timedelta(days=day)
            counts[(d.year, d.month)] = counts.get((d.year, d.month), 0) + 1
        return [(f"{yy:04d}-{mm:02d}", counts.get((yy, mm), 0)) for yy, mm in labels]

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


def settings_json(p: Person) -> str:
    return json.dumps(p.as_json())
