"""Writes the demo's messages (mbox header blocks) and events (VEVENTs) deterministically."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.header import Header
from email.utils import format_datetime, formataddr
from zoneinfo import ZoneInfo

from syncd.demo_data.cast import BODIES, ME, ME_EMAILS, SEED, TIMEZONE, TZ, Addr


@dataclass
class Mail:
    at: datetime  # aware
    raw: bytes  # header block + body, LF line endings, no separator line
    thread: int


class Writer:
    """Accumulates messages and events; everything random comes from one seeded generator."""

    def __init__(self, today: date) -> None:
        self.rng = random.Random(SEED)
        self.today = today
        self.mails: list[Mail] = []
        self.events: list[str] = []  # VEVENT blocks
        self._thread_ids: dict[str, int] = {}

    # ----------------------------------------------------------------------- time helpers
    def day(self, days_ago: int, hour: int, minute: int = 0, tz: ZoneInfo = TZ) -> datetime:
        d = self.today - timedelta(days=days_ago)
        return datetime.combine(d, time(hour, minute), tzinfo=tz)

    def jitter(self, n: int) -> int:
        return self.rng.randint(-n, n)

    # ------------------------------------------------------------------------------- mail
    def message_id(self, sender: str) -> str:
        domain = sender.split("@")[1]
        return f"<{self.rng.getrandbits(64):016x}.{self.rng.randint(1000, 9999)}@{domain}>"

    def mail(
        self,
        at: datetime,
        sender: Addr,
        to: Sequence[Addr],
        subject: str,
        *,
        cc: Sequence[Addr] = (),
        bcc: Sequence[Addr] = (),
        labels: str | None = None,
        extra: Iterable[tuple[str, str]] = (),
        parent: tuple[str, str] | None = None,  # (Message-ID, References) replied to
        thread: int | None = None,
        body: str | None = None,
        from_alias: str | None = None,
    ) -> tuple[str, str, int]:
        """Write one message; returns (its Message-ID, its References, its thread id)."""
        mine = sender[1] == ME[1]
        mid = self.message_id(from_alias or sender[1])
        if labels is None:
            labels = "Sent" if mine else self.rng.choice(("Inbox,Opened", "Important,Inbox,Opened"))
        thread = thread if thread is not None else self.rng.getrandbits(62) | (1 << 62)
        refs = ""
        extra = list(extra)
        overridden = {k.lower() for k, _ in extra}
        headers = [
            ("X-GM-THRID", str(thread)),
            ("X-Gmail-Labels", labels),
            ("Delivered-To", ME_EMAILS[1]),
            ("Return-Path", f"<{sender[1]}>"),
            ("MIME-Version", "1.0"),
            ("Date", format_datetime(at.astimezone(TZ) if mine else at)),
            ("Message-ID", mid),
            ("Subject", _encode(subject)),
            ("From", _addr((sender[0], from_alias) if from_alias else sender)),
            ("To", _addrs(to)),
        ]
        if cc:
            headers.append(("Cc", _addrs(cc)))
        if bcc:
            headers.append(("Bcc", _addrs(bcc)))
        if parent:
            refs = f"{parent[1]} {parent[0]}".strip()
            headers += [("In-Reply-To", parent[0]), ("References", _fold_refs(refs))]
        headers = [h for h in headers if h[0].lower() not in overridden] + extra
        headers += [
            ("Content-Type", 'text/plain; charset="UTF-8"'),
            ("Content-Transfer-Encoding", "8bit"),
        ]
        text = body if body is not None else self.rng.choice(BODIES)
        lines = [f"{k}: {v}" for k, v in headers]
        body_lines = [">" + ln if ln.startswith("From ") else ln for ln in text.splitlines()]
        raw = "\n".join([*lines, "", *body_lines, ""]).encode()
        self.mails.append(Mail(at, raw, thread))
        return mid, refs, thread

    def exchange(
        self,
        at: datetime,
        other: Addr,
        subject: str,
        *,
        starter: str = "them",  # "them" | "me"
        count: int = 2,
        end_with_me: bool = True,
        cc: Sequence[Addr] = (),
    ) -> None:
        """A thread on one day: alternating messages a few hours apart, "Re:" replies."""
        senders = [other, ME] if starter == "them" else [ME, other]
        order = [senders[i % 2] for i in range(count)]
        if end_with_me and order[-1] != ME:
            order.append(ME)
        parent: tuple[str, str] | None = None
        thread: int | None = None
        when = at
        for i, sender in enumerate(order):
            rcpt = [other] if sender == ME else [ME]
            alias = ME_EMAILS[1] if sender == ME and self.rng.random() < 0.2 else None
            subj = subject if i == 0 else f"Re: {subject}"
            mid, refs, thread = self.mail(
                when, sender, rcpt, subj, cc=cc, parent=parent, thread=thread, from_alias=alias
            )
            parent = (mid, refs)
            step = timedelta(minutes=self.rng.randint(20, 150))
            # Same local day: a thread's replies must not smear one exchange over two days.
            if (when + step).date() == when.date() and (when + step).hour < 23:
                when += step
            else:
                when += timedelta(minutes=2)

    def rhythm(
        self,
        other: Addr,
        subjects: Sequence[str],
        *,
        every: int,
        spread: int,
        first: int,
        last: int,
        last_subject: str | None = None,
        end_with_me_within: int = 30,
    ) -> None:
        """Exchanges every ``every`` +- ``spread`` days from ``first`` to ``last`` days ago."""
        starts = []
        ago = last
        while ago <= first:
            starts.append(ago)
            ago += every + self.jitter(spread)
        for i, ago in enumerate(sorted(starts, reverse=True)):
            is_last = i == len(starts) - 1
            subject = last_subject if is_last and last_subject else self.rng.choice(subjects)
            at = self.day(ago, self.rng.randint(8, 20), self.rng.choice((3, 17, 28, 41, 52)))
            self.exchange(
                at,
                other,
                subject,
                starter=self.rng.choice(("them", "me")),
                count=self.rng.choice((2, 2, 3, 4)),
                end_with_me=ago <= end_with_me_within or self.rng.random() < 0.7,
            )

    # ----------------------------------------------------------------------------- events
    def event(
        self,
        uid: str,
        start: datetime,
        minutes: int,
        summary: str,
        organizer: Addr | None,
        attendees: Sequence[tuple[Addr, str]],
        *,
        rrule: str | None = None,
        exdates: Sequence[datetime] = (),
        recurrence_id: datetime | None = None,
        status: str = "CONFIRMED",
        sequence: int = 0,
        all_day_until: date | None = None,
        transparent: bool = False,
    ) -> None:
        stamp = datetime.combine(self.today, time(6, 0), tzinfo=UTC)
        lines = [
            "BEGIN:VEVENT",
            f"UID:{uid}",
            f"DTSTAMP:{stamp:%Y%m%dT%H%M%SZ}",
            f"SEQUENCE:{sequence}",
        ]
        if all_day_until:
            lines += [
                f"DTSTART;VALUE=DATE:{start:%Y%m%d}",
                f"DTEND;VALUE=DATE:{all_day_until:%Y%m%d}",
            ]
        else:
            end = start + timedelta(minutes=minutes)
            lines += [
                f"DTSTART;TZID={TIMEZONE}:{start:%Y%m%dT%H%M%S}",
                f"DTEND;TZID={TIMEZONE}:{end:%Y%m%dT%H%M%S}",
            ]
        if recurrence_id:
            lines.append(f"RECURRENCE-ID;TZID={TIMEZONE}:{recurrence_id:%Y%m%dT%H%M%S}")
        if rrule:
            lines.append(f"RRULE:{rrule}")
        if exdates:
            lines.append(
                f"EXDATE;TZID={TIMEZONE}:" + ",".join(f"{d:%Y%m%dT%H%M%S}" for d in exdates)
            )
        lines += [f"SUMMARY:{_ics_text(summary)}", f"STATUS:{status}"]
        lines.append(f"TRANSP:{'TRANSPARENT' if transparent else 'OPAQUE'}")
        if organizer:
            lines.append(f"ORGANIZER;CN={_ics_param(organizer[0])}:mailto:{organizer[1]}")
        for who, partstat in attendees:
            lines.append(
                f"ATTENDEE;CN={_ics_param(who[0])};CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;"
                f"PARTSTAT={partstat};RSVP=TRUE:mailto:{who[1]}"
            )
        lines.append("END:VEVENT")
        self.events.append("\r\n".join(_fold_ics(ln) for ln in lines))


def _encode(text: str) -> str:
    return text if text.isascii() else Header(text, "utf-8").encode()


def _addr(a: Addr) -> str:
    return formataddr(a, charset="utf-8")


def _addrs(addrs: Sequence[Addr]) -> str:
    return ",\n ".join(_addr(a) for a in addrs)  # folded: one address per line


def _fold_refs(refs: str) -> str:
    return "\n ".join(refs.split())


def _ics_text(s: str) -> str:
    return s.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _ics_param(s: str) -> str:
    return f'"{s}"' if any(c in s for c in ",;:") else s


def _fold_ics(line: str) -> str:
    """RFC 5545 folding: at most 75 octets per line, continuation lines start with a space."""
    out: list[str] = []
    cur = b""
    for ch in line:
        b = ch.encode()
        if len(cur) + len(b) > (75 if not out else 74):
            out.append(cur.decode())
            cur = b""
        cur += b
    out.append(cur.decode())
    return "\r\n ".join(out)


VTIMEZONE = """BEGIN:VTIMEZONE
TZID:Europe/London
X-LIC-LOCATION:Europe/London
BEGIN:DAYLIGHT
TZOFFSETFROM:+0000
TZOFFSETTO:+0100
TZNAME:BST
DTSTART:19700329T010000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0100
TZOFFSETTO:+0000
TZNAME:GMT
DTSTART:19701025T020000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE"""


def until(d: date) -> str:
    end = datetime.combine(d, time(23, 59, 59), tzinfo=TZ).astimezone(UTC)
    return f"{end:%Y%m%dT%H%M%SZ}"
