"""Hand-made mail and calendar files for tests: mbox messages and .ics events, written as
a real export would be, so that the connectors, the store and the rules see them end to end.

Only headers matter to syncd; each message gets a one-line body so the mbox is realistic.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

_ids = itertools.count(1)


def at(day: str, hour: int = 12, minute: int = 0) -> datetime:
    """``at("2026-03-01")``: noon UTC of that day (far from midnight in European zones)."""
    d = date.fromisoformat(day)
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=UTC)


@dataclass
class Mail:
    """One message. Addresses may be bare or ``Name <addr>``."""

    sender: str
    to: Sequence[str] = ()
    when: datetime = field(default_factory=lambda: at("2026-01-01"))
    subject: str = "Hello"
    cc: Sequence[str] = ()
    bcc: Sequence[str] = ()
    message_id: str | None = None
    in_reply_to: str | None = None
    headers: Sequence[tuple[str, str]] = ()  # extra headers: List-Id, Precedence, ...

    def as_bytes(self) -> bytes:
        mid = self.message_id or f"m{next(_ids)}@test.example"
        envelope = _bare(self.sender) or "MAILER-DAEMON"
        lines = [
            f"From {envelope} {self.when.astimezone(UTC):%a %b %d %H:%M:%S %Y}",
            f"From: {self.sender}",
        ]
        for name, addrs in (("To", self.to), ("Cc", self.cc), ("Bcc", self.bcc)):
            if addrs:
                lines.append(f"{name}: {', '.join(addrs)}")
        lines += [
            f"Date: {format_datetime(self.when)}",
            f"Subject: {self.subject}",
            f"Message-ID: <{mid}>",
        ]
        if self.in_reply_to:
            lines.append(f"In-Reply-To: <{self.in_reply_to}>")
        lines += [f"{k}: {v}" for k, v in self.headers]
        lines += ["Content-Type: text/plain; charset=utf-8", "", "A short note.", ""]
        return ("\n".join(lines) + "\n").encode("utf-8")


def _bare(address: str) -> str:
    return address.rsplit("<", 1)[-1].rstrip(">").strip()


def write_mbox(path: Path, mails: Iterable[Mail]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for m in mails:
            f.write(m.as_bytes())
    return path


def append_mbox(path: Path, mails: Iterable[Mail]) -> Path:
    with path.open("ab") as f:
        for m in mails:
            f.write(m.as_bytes())
    return path


@dataclass
class Event:
    """One VEVENT. ``attendees`` are ``(address, PARTSTAT)`` pairs; the organizer is listed
    as an attendee too when ``organizer_attends`` (as Google and Outlook do)."""

    uid: str
    start: datetime
    summary: str = "Meeting"
    minutes: int = 60
    organizer: str | None = None
    attendees: Sequence[tuple[str, str]] = ()
    status: str | None = None  # CONFIRMED | CANCELLED
    rrule: str | None = None  # e.g. "FREQ=WEEKLY;COUNT=10"
    exdates: Sequence[datetime] = ()
    transparent: bool = False
    organizer_attends: bool = True
    extra: Sequence[str] = ()

    def lines(self) -> list[str]:
        out = [
            "BEGIN:VEVENT",
            f"UID:{self.uid}",
            f"DTSTAMP:{_ical(self.start)}",
            f"DTSTART:{_ical(self.start)}",
            f"DTEND:{_ical(self.start + timedelta(minutes=self.minutes))}",
            f"SUMMARY:{self.summary}",
        ]
        if self.organizer:
            out.append(f"ORGANIZER;CN={_local(self.organizer)}:mailto:{self.organizer}")
            if self.organizer_attends:
                out.append(
                    f"ATTENDEE;CN={_local(self.organizer)};PARTSTAT=ACCEPTED:"
                    f"mailto:{self.organizer}"
                )
        for address, partstat in self.attendees:
            out.append(f"ATTENDEE;CN={_local(address)};PARTSTAT={partstat}:mailto:{address}")
        if self.status:
            out.append(f"STATUS:{self.status}")
        if self.rrule:
            out.append(f"RRULE:{self.rrule}")
        out += [f"EXDATE:{_ical(d)}" for d in self.exdates]
        if self.transparent:
            out.append("TRANSP:TRANSPARENT")
        out += list(self.extra)
        out.append("END:VEVENT")
        return out


def _ical(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _local(address: str) -> str:
    return address.split("@")[0].replace(".", " ").title()


def write_ics(path: Path, events: Iterable[Event]) -> Path:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//syncd tests//EN"]
    for e in events:
        lines += e.lines()
    lines.append("END:VCALENDAR")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return path
