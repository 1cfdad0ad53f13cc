"""Sample data for ``syncd demo``: two years of a fictional user's mail and calendar.

``write_demo_sources(folder, today)`` writes a Takeout-style mbox (headers as Gmail exports them,
``X-Gmail-Labels`` included, short bodies) and an iCalendar export for Ada Lovelace, generated
from a fixed seed with dates relative to ``today``: the same ``today`` gives the same bytes.

The cast is written so that the digest tells a story (``cast.CAST`` says who plays which part):
a close friend who wrote every week until two months ago, a mentor met monthly until a few weeks
too long ago, a sister on a steady fortnightly rhythm, a former colleague with quarterly lunches,
a collaborator waiting on a reply, a project that ended; and around them the noise real
mailboxes carry: newsletters, no-reply senders, a mailing list, promotions, spam, a draft, an
auto-reply, a bounce, a crowd cc, an all-hands of 40, a declined and a cancelled meeting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, timedelta
from pathlib import Path

from syncd.demo_data.calendar_story import calendar
from syncd.demo_data.cast import (
    CAST,
    GRACE,
    GRACE_NEW,
    ICS_NAME,
    MARY,
    MBOX_NAME,
    ME_EMAILS,
    ME_NAME,
    MEDORA,
    TIMEZONE,
)
from syncd.demo_data.mail_story import friends, noise, team_and_crowds
from syncd.demo_data.writer import VTIMEZONE, Writer

__all__ = ["CAST", "DemoSources", "PersonHint", "write_demo_sources"]


@dataclass(frozen=True)
class PersonHint:
    """A ``[[people]]`` entry for the demo config, and the part the person plays."""

    name: str
    emails: tuple[str, ...]
    role: str
    every: str | None = None  # pinned rhythm, e.g. "90d"
    birthday: date | None = None


@dataclass(frozen=True)
class DemoSources:
    mbox_path: Path
    ics_path: Path
    me_name: str
    me_emails: tuple[str, ...]
    timezone: str
    people: tuple[PersonHint, ...]  # config hints: merged addresses, birthdays
    messages: int
    events: int

    def config_toml(self, store_path: Path) -> str:
        """A complete config for the demo: [me], [store], both sources and the people hints."""
        q = _toml_str
        lines = [
            "[me]",
            f"name = {q(self.me_name)}",
            f"emails = [{', '.join(q(e) for e in self.me_emails)}]",
            f"timezone = {q(self.timezone)}",
            "",
            "[store]",
            f"path = {q(str(store_path))}",
            "",
            "[sources.archive]",
            'type = "mbox"',
            f"path = {q(str(self.mbox_path))}",
            "",
            "[sources.calendar]",
            'type = "ics"',
            f"path = {q(str(self.ics_path))}",
        ]
        for p in self.people:
            lines += ["", "[[people]]", f"name = {q(p.name)}"]
            lines.append(f"emails = [{', '.join(q(e) for e in p.emails)}]")
            if p.every:
                lines.append(f"every = {q(p.every)}")
            if p.birthday:
                lines.append(f"birthday = {q(p.birthday.isoformat())}")
        return "\n".join(lines) + "\n"


def _toml_str(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in out) + '"'


def _hints(today: date) -> tuple[PersonHint, ...]:
    birthday = today + timedelta(days=9)
    roles = dict((a[1], role) for a, role in CAST)
    return (
        PersonHint(GRACE[0], (GRACE_NEW[1], GRACE[1]), roles[GRACE[1]]),
        PersonHint(
            MEDORA[0],
            (MEDORA[1],),
            roles[MEDORA[1]],
            birthday=date(
                1984 if (birthday.month, birthday.day) == (2, 29) else 1985,
                birthday.month,
                birthday.day,
            ),
        ),
        PersonHint(MARY[0], (MARY[1],), roles[MARY[1]], every="90d"),
    )


def write_demo_sources(folder: Path, today: date) -> DemoSources:
    """Write the demo mbox and .ics into ``folder`` (created if needed); deterministic."""
    folder.mkdir(parents=True, exist_ok=True)
    w = Writer(today)
    friends(w)
    team_and_crowds(w)
    noise(w)
    calendar(w)
    w.mails.sort(key=lambda m: m.at)
    mbox = folder / MBOX_NAME
    with mbox.open("wb") as f:
        for m in w.mails:
            stamp = m.at.astimezone(UTC)
            f.write(f"From {m.thread}@xxx {stamp:%a %b %d %H:%M:%S +0000 %Y}\n".encode())
            f.write(m.raw)
            f.write(b"\n")
    ics = folder / ICS_NAME
    head = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//syncd//demo data//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{ME_EMAILS[0]}",
        f"X-WR-TIMEZONE:{TIMEZONE}",
        VTIMEZONE.replace("\n", "\r\n"),
    ]
    ics.write_bytes("\r\n".join([*head, *w.events, "END:VCALENDAR", ""]).encode())
    return DemoSources(
        mbox_path=mbox,
        ics_path=ics,
        me_name=ME_NAME,
        me_emails=ME_EMAILS,
        timezone=TIMEZONE,
        people=_hints(today),
        messages=len(w.mails),
        events=len(w.events),
    )
