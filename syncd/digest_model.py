"""The digest as pure data: what the builder produces and the renderers and JSON output read.

Kept apart from the builder so that rendering and delivery can be developed and tested on
hand-made values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Literal


@dataclass(frozen=True)
class LastContact:
    at: datetime  # UTC
    kind: Literal["email", "meeting"]
    subject: str | None
    direction: Literal["in", "out", "both"]  # meetings: "both"

    def describe(self) -> str:
        """``Email: Re: the Lisbon conference`` / ``Meeting: Q3 planning``."""
        label = "Email" if self.kind == "email" else "Meeting"
        return f"{label}: {self.subject}" if self.subject else f"{label} (no subject)"


@dataclass(frozen=True)
class DigestPerson:
    name: str
    emails: tuple[str, ...]  # lowercase; emails[0] is where a reply goes
    last_contact: LastContact | None
    rhythm_days: int
    rhythm_source: Literal["pinned", "inferred", "default"]
    days_since: int | None
    overdue_days: int  # days past rhythm + slack (0 when not overdue)
    score: float
    contact_days: int  # distinct days of contact, all time
    # Contact days per calendar month, oldest first; the last entry is the as-of month.
    monthly: tuple[int, ...]
    months: tuple[str, ...]  # "2026-01" labels matching ``monthly``
    reply_subject: str  # subject for the mailto link ("Re: ..." or "Catching up")
    mailto: str  # ready-made mailto: URL (address and subject percent-encoded)


@dataclass(frozen=True)
class AwaitingReply:
    name: str
    email: str
    received_at: datetime
    subject: str | None
    days_waiting: int
    mailto: str


@dataclass(frozen=True)
class Birthday:
    name: str
    email: str | None
    on: date  # the next occurrence
    in_days: int


@dataclass(frozen=True)
class SourceHealth:
    name: str
    type: str
    state: Literal["ok", "needs_reauth", "error", "never_synced"]
    last_ok_at: datetime | None
    last_error: str | None
    fix: str | None  # the exact command that fixes it, e.g. "syncd auth personal"


@dataclass(frozen=True)
class Digest:
    as_of: datetime
    period: str  # ISO week of as_of in the user's timezone, e.g. "2026-W48"
    me_name: str
    people: tuple[DigestPerson, ...]
    awaiting_reply: tuple[AwaitingReply, ...]
    birthdays: tuple[Birthday, ...] = ()
    sources: tuple[SourceHealth, ...] = ()
    considered: int = 0  # tracked people the model looked at
    overdue_total: int = 0  # overdue people before the max_people cap
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not (self.people or self.awaiting_reply or self.birthdays)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def digest_to_json(d: Digest) -> dict[str, Any]:
    """The ``syncd digest --format json`` object (DESIGN.md's CLI contract, plus extras)."""
    out: dict[str, Any] = _jsonable(asdict(d))
    for p, src in zip(out["people"], d.people, strict=True):
        p["last_contact"] = src.last_contact.at.isoformat() if src.last_contact else None
        p["last_contact_kind"] = src.last_contact.kind if src.last_contact else None
        p["last_subject"] = src.last_contact.subject if src.last_contact else None
        p["last_contact_summary"] = src.last_contact.describe() if src.last_contact else None
    out.pop("extra", None)
    return out
