"""The records that connectors produce and the store keeps.

Terminology:
- An **interaction** is one email or one meeting occurrence, as a fact: who took part, when,
  in which role, and flags describing it (bulk, spam, cancelled...). Whether it counts as
  contact is decided later, by the rules, never by a connector.
- A **batch** is what a connector yields: upserts, deletions and the cursor that is valid once
  both are stored. The sync engine writes a batch and its cursor in one transaction.
- A **scope** is the part of a source an interaction came from (a folder, a calendar, a file):
  a full resync of one scope sweeps away what it did not see again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

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
