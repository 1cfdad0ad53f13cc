"""The records that connectors produce and the store keeps.

Terminology:
- An **interaction** is one email or one meeting occurrence, as a fact: who took part, when,
  in which role, and flags describing it (bulk, spam, cancelled...). Whether it counts as
  contact is decided later, by the rules, never by a connector.
- A **batch** is what a connector yields: upserts, deletions and the cursor that is valid once
  both are stored. The sync engine writes a batch and its cursor in one transaction.
- A **scope** is the part of a source an interaction came from (a folder, a calendar, a file):
  a full resync of one scope sweeps away what it did not see again.
- A **contact row** is a judgment derived from one stored interaction by the rules: "this
  interaction counts as contact with this address". The store keeps them (``contact_log``) and
  per-address summaries of them; only writers derive them (see syncd.store).

The records the store hands out live here too, so that the rules and the relationship model
read them without importing the store.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Protocol

Kind = Literal["email", "meeting"]
Role = Literal["from", "to", "cc", "bcc", "organizer", "attendee"]
# iCalendar PARTSTAT values, lowercased; Google/Graph responses are mapped onto these.
Response = Literal["accepted", "declined", "tentative", "needs-action", "delegated"]


class Flag(enum.IntFlag):
    """Facts about an interaction, stored as a bitmask so that SQL can filter on them."""

    NONE = 0
    SENT = 1 << 0  # the provider says the user sent it (Gmail SENT, Outlook sentitems)
    LIST = 1 << 1  # List-Id: mailing list traffic
    BULK = 1 << 2  # List-Unsubscribe, Precedence bulk/list/junk
    AUTOMATED = 1 << 3  # Auto-Submitted other than "no", null Return-Path, DSN/MDN reports
    SPAM = 1 << 4
    TRASH = 1 << 5
    DRAFT = 1 << 6
    CATEGORY = 1 << 7  # Gmail Promotions/Social/Updates/Forums, Outlook "other"
    CHAT = 1 << 8  # Hangouts/Chat entries in a Takeout mbox
    CANCELLED = 1 << 9  # the meeting (or this occurrence) was cancelled
    DECLINED = 1 << 10  # the user declined the meeting
    ALL_DAY = 1 << 11  # an all-day event (birthdays, holidays, out-of-office)
    NOT_MEETING = 1 << 12  # focus time, out of office, working location, transparent/free
    AUTO_REPLY = 1 << 13  # out-of-office and other automatic replies
    DIGEST = 1 << 14  # a syncd digest: never an interaction with anyone

    @classmethod
    def names(cls, value: int) -> list[str]:
        return [f.name.lower() for f in cls if f.value and value & f.value and f.name]


@dataclass(frozen=True, slots=True)
class Participant:
    address: str  # normalized: lowercased, stripped
    role: Role
    name: str | None = None  # display name as seen in this interaction
    response: Response | None = None


@dataclass(frozen=True, slots=True)
class Interaction:
    source_id: str  # unique within its source and stable across syncs
    kind: Kind
    occurred_at: datetime  # timezone-aware; stored as UTC
    participants: tuple[Participant, ...]
    subject: str | None = None
    thread_id: str | None = None
    message_id: str | None = None  # RFC 5322 Message-ID, without angle brackets
    in_reply_to: str | None = None
    flags: int = 0  # Flag bitmask
    # For email: To + Cc + Bcc addresses; for meetings: attendees (organizer included).
    # Kept separately from the participants so that a crowd is known even when the
    # connector only kept some of them.
    head_count: int = 0
    scope: str = ""
    ends_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    """An address-book entry: names and addresses that belong to one person."""

    source_id: str
    name: str | None
    emails: tuple[str, ...]
    birthday: date | None = None  # year 1900 stands for "year unknown"


@dataclass(frozen=True, slots=True)
class Skip:
    """An item that could not be parsed: counted and reported, never silently dropped."""

    where: str  # file and offset, folder and UID, event id...
    reason: str


@dataclass(slots=True)
class Batch:
    """One unit of work for the store, written in one transaction with its cursor.

    ``cursor`` is the connector's whole state after this batch (JSON-serializable), or None
    to keep the stored one. ``full_sync_start`` / ``full_sync_end`` bracket a full resync of
    the named scopes: at the end, interactions of those scopes that were not upserted since
    the start are deleted (they vanished from the server while our cursor was stale).

    ``scoped_deletions`` are (scope, source_id) pairs: "this item left this scope", which deletes
    it only if it is still stored under that scope. A source whose ids survive a move between
    scopes (Outlook's immutable ids) uses them, so that a removal from the old folder reported
    after the addition to the new one (a later page, a later sync) cannot delete the moved item.
    """

    upserts: list[Interaction] = field(default_factory=list)
    deletions: list[str] = field(default_factory=list)  # source_ids
    scoped_deletions: list[tuple[str, str]] = field(default_factory=list)  # (scope, source_id)
    contacts: list[Contact] = field(default_factory=list)
    contact_deletions: list[str] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    # Items read and deliberately left out, counted by reason ({"no email address": 3}):
    # nothing is wrong with them (not skips), syncd just has no use for them.
    ignored: dict[str, int] = field(default_factory=dict)
    cursor: dict[str, Any] | None = None
    account: str | None = None  # the user's own address at this source, once known
    full_sync_start: list[str] = field(default_factory=list)
    full_sync_end: list[str] = field(default_factory=list)
    # Progress for the CLI: items done so far and the total when known (bytes for files).
    progress: tuple[int, int | None] | None = None
    progress_unit: str = "items"


# ------------------------------------------------------------------ what the store hands out


@dataclass(frozen=True, slots=True)
class StoredInteraction:
    """An interaction as read back from the store, with its participants (ordered by address,
    then role, and each (address, role) once)."""

    id: int
    source: str
    source_id: str
    kind: str
    occurred_at: datetime  # UTC, whole seconds
    subject: str | None
    thread_id: str | None
    message_id: str | None
    in_reply_to: str | None
    flags: int
    head_count: int
    participants: tuple[Participant, ...]


@dataclass(frozen=True, slots=True)
class ContactRow:
    """One derived contact: this interaction counts as contact with this address."""

    interaction_id: int
    address: str
    ts: int  # epoch seconds of the interaction
    day: int  # days since 1970-01-01 in the user's time zone
    kind: str  # email | meeting
    dir: str  # out (the user wrote) | in (they wrote) | meet
    weight: float  # smaller for bigger groups
    name: str | None  # the display name seen in this interaction


class ContactDeriver(Protocol):
    """What turns stored interactions into contact rows: the rules (syncd.rules.RuleSet).

    The store is handed one (it never imports the rules): writers derive each batch with it, and
    its fingerprint tells when the stored rows were derived by other rules and must be redone.
    """

    def fingerprint(self) -> str: ...

    def derive(self, items: list[StoredInteraction]) -> list[ContactRow]: ...


# The rules for the user's own addresses plus these accounts (the addresses the sources report
# as the user's): a new account changes what counts as contact, so the store asks again.
DeriverFactory = Callable[[frozenset[str]], ContactDeriver]


# Recency weighting of contacts decays exponentially with time constant TAU, so that the
# weighted sum as of any time A is exp(-(A - T0) / TAU) * sum(weight * exp((ts - T0) / TAU)):
# a summary keeps the second factor per address and never needs a rescan for a new A.
SUMMARY_T0 = 1577836800  # 2020-01-01T00:00:00Z
SUMMARY_TAU = 365.0 * 86400
RECENT_DAYS = 13  # distinct contact days kept per address to infer a rhythm (12 gaps)


def decay_to(as_of_ts: int) -> float:
    """The factor that turns a stored weight sum (``AddressSummary.wsum``) into the weight
    of an address's contacts as of ``as_of_ts``."""
    return math.exp(-(as_of_ts - SUMMARY_T0) / SUMMARY_TAU)


@dataclass(frozen=True, slots=True)
class AddressSummary:
    """The aggregates of one address's contact rows (all of them, or up to some time)."""

    address: str
    days: int  # distinct contact days
    last_ts: int
    n_out: int
    n_in: int
    n_meet: int
    wsum: float  # sum(weight * exp((ts - SUMMARY_T0) / SUMMARY_TAU)): see decay_to
    last_in_ts: int  # their personal mail (0: never)
    last_mine_ts: int  # the user's mail to them, or a meeting (0: never)
    recent: tuple[int, ...]  # the newest RECENT_DAYS distinct contact days, newest first


@dataclass(frozen=True, slots=True)
class ContactRef:
    """The interaction behind a contact, and its direction."""

    interaction_id: int
    dir: str  # out | in | meet


@dataclass(frozen=True, slots=True)
class PersonSettings:
    """What the user set for one person: in the config's [[people]] or from the CLI (snooze,
    mute, rhythm), kept in the store under the person's key address."""

    name: str | None = None
    rhythm: int | None = None  # pinned rhythm in days
    muted: bool = False
    snoozed_until: date | None = None
    birthday: date | None = None


@dataclass(frozen=True, slots=True)
class BookEntry:
    """An address-book entry as stored, with the source it came from (to name it)."""

    source: str
    contact: Contact


# Where a stored merge came from: `syncd people merge`, a digest's "Same person" link (issue
# 13), or `syncd people unmerge`, which keeps the rest of a person together when the address
# it split out was what joined them.
MERGE_CLI = "cli"
MERGE_DIGEST_ACTION = "digest-action"
MERGE_UNMERGE = "unmerge"


@dataclass(frozen=True, slots=True)
class MergeRecord:
    """Addresses the user said are one person, as stored: where it came from and when, and
    which addresses were split back out of it since (``syncd people unmerge``)."""

    id: int
    origin: str  # MERGE_CLI | MERGE_DIGEST_ACTION | MERGE_UNMERGE | a later one
    made_at: datetime | None  # None: carried over from an older syncd, which kept no time
    addresses: tuple[str, ...]  # the addresses it joins now, sorted
    split: tuple[str, ...] = ()  # the addresses split back out of it since, sorted
    note: str | None = None  # e.g. the Message-ID of the digest action that made it

    @property
    def joins(self) -> bool:
        """Whether it still joins anything (two addresses or more)."""
        return len(self.addresses) > 1
