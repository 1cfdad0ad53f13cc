"""Render a :class:`~syncd.digest_model.Digest` as an email: Subject, plain text and HTML.

Rendering is pure: a Digest in, strings out. Every name, subject and address in a digest came
from a stranger's mail, so:

- the HTML environment autoescapes everything (names, subjects, ``mailto:`` attributes);
- all displayed strings first pass :func:`clean`, which turns CR/LF and other control or
  bidi-override characters into spaces, so nothing can forge lines in the text version or
  headers, nor reorder what the reader sees;
- ``mailto:`` links are only emitted when they really are ``mailto:`` URLs.

Dates are shown relative to ``Digest.as_of`` ("3 weeks ago") and, in the user's timezone, as
absolute dates ("Tue 3 Nov 2026"). The timezone is ``Digest.extra["timezone"]`` (an IANA name)
when the builder provides it, else the timezone of ``as_of``, else UTC.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2

from syncd.digest_model import AwaitingReply, Birthday, Digest, DigestPerson, SourceHealth

TEXT_WIDTH = 72
MONTHS_SHOWN = 12
BAR_MAX_PX = 36
SUBJECT_MAX = 90
NAME_MAX = 80
# Enough distinct contact days to infer a rhythm (syncd.relationships): "regular" touch.
REGULAR_DAYS = 3

# C0/C1 controls, line/paragraph separators, and bidi embedding/override/isolate marks.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"\s+")
_PERIOD = re.compile(r"^(\d{4})-W(\d{2})$")
_SPARK = "▁▂▃▄▅▆▇█"
# Bar shades from light to dark, by the month's share of the busiest month.
_SHADES = ("#b8cff5", "#7fa6ea", "#4a7fdb", "#2356b8")
_EMPTY_SHADE = "#e4e8ef"


def clean(value: object, limit: int | None = None) -> str:
    """One safe display line: controls and bidi marks become spaces, whitespace collapses."""
    text = _SPACES.sub(" ", _UNSAFE.sub(" ", "" if value is None else str(value))).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def safe_mailto(url: str | None) -> str | None:
    """The URL if it is a well-formed ``mailto:`` link (no spaces or controls), else None."""
    if not url or not url.lower().startswith("mailto:"):
        return None
    if _UNSAFE.search(url) or any(c.isspace() for c in url):
        return None
    return url


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def duration(days: int) -> str:
    """A span in the unit a person would use: ``5 days``, ``3 weeks``, ``4 months``, ``2 years``."""
    days = max(0, days)
    if days < 14:
        return _plural(days, "day")
    if days < 60:
        return _plural(round(days / 7), "week")
    if days < 548:
        return _plural(round(days / 30.44), "month")
    return _plural(round(days / 365.25), "year")


def ago(days: int | None) -> str:
    """``today``, ``yesterday``, ``5 days ago``, ``3 weeks ago``, ``4 months ago``."""
    if days is None:
        return "never"
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    return f"{duration(days)} ago"


def every(days: int) -> str:
    """A rhythm: ``every day``, ``every 10 days``, ``every 2 weeks``, ``every month``..."""
    if days <= 1:
        return "every day"
    if days == 7:
        return "every week"
    if days < 14:
        return f"every {days} days"
    if 26 <= days <= 34:
        return "every month"
    if days < 60:
        return f"every {round(days / 7)} weeks"
    if 330 <= days <= 400:
        return "every year"
    if days < 548:
        return f"every {round(days / 30.44)} months"
    return f"every {round(days / 365.25)} years"


def rhythm_phrase(p: DigestPerson) -> str:
    if p.rhythm_source == "pinned":
        return f"you wanted {every(p.rhythm_days)}"
    if p.rhythm_source == "default":
        return f"{every(p.rhythm_days)} (default rhythm)"
    return f"usually {every(p.rhythm_days)}"


def overdue_phrase(p: DigestPerson) -> str:
    return f"{duration(p.overdue_days)} overdue" if p.overdue_days > 0 else "due now"


def first_name(name: str) -> str:
    """The first word of the name as displayed (cut at NAME_MAX like the name itself), or ""
    when the name is an address."""
    name = clean(name, NAME_MAX)
    if not name or "@" in name:
        return ""
    return name.split(" ")[0]


@dataclass(frozen=True)
class Bar:
    initial: str  # month initial shown under the bar
    label: str  # "Mar 2026"
    count: int  # contact days that month
    height: int  # px
    shade: str  # CSS colour
    spark: str  # one character for the text version


@dataclass(frozen=True)
class PersonView:
    name: str
    first_name: str
    email: str
    last_ago: str  # "3 weeks ago" / "never"
    last_date: str  # "Tue 3 Nov 2026" or ""
    last_what: str  # "Email: Re: the Lisbon conference" or ""
    rhythm: str
    overdue: str
    bars: tuple[Bar, ...]
    spark: str  # the bars as one line of block characters, for the text version
    initials: str  # month initials under ``spark``
    recent_days: int  # contact days within the bars
    mailto: str | None


@dataclass(frozen=True)
class AwaitingView:
    name: str
    email: str
    subject: str
    waiting: str  # "5 days"
    since: str  # "Thu 19 Nov"
    mailto: str | None


@dataclass(frozen=True)
class BirthdayView:
    name: str
    when: str  # "Sat 28 Nov"
    in_days: str  # "today", "tomorrow", "in 3 days"
    mailto: str | None


@dataclass(frozen=True)
class SourceView:
    name: str
    type: str
    ok: bool
    status: str  # "OK, last synced 2 hours ago" / "needs you to sign in again"
    fix: str | None


def _zone(d: Digest) -> tzinfo:
    name = d.extra.get("timezone") if d.extra else None
    if isinstance(name, str) and name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return d.as_of.tzinfo or ZoneInfo("UTC")


def _local(dt: datetime, tz: tzinfo) -> datetime:
    if dt.tzinfo is None:  # the model says UTC
        dt = dt.replace(tzinfo=ZoneInfo("UTC"))
    return dt.astimezone(tz)


def _day(d: date, year: bool = True) -> str:
    text = f"{d:%a} {d.day} {d:%b}"
    return f"{text} {d.year}" if year else text


def _since(dt: datetime | None, now: datetime) -> str:
    """How long ago a sync happened, down to minutes for recent ones."""
    if dt is None:
        return "never"
    if dt.tzinfo is None:  # the model says UTC
        dt = dt.replace(tzinfo=ZoneInfo("UTC"))
    seconds = (now - dt).total_seconds()
    if seconds < 90:
        return "just now"
    if seconds < 3600:
        return f"{_plural(round(seconds / 60), 'minute')} ago"
    if seconds < 86400:
        return f"{_plural(round(seconds / 3600), 'hour')} ago"
    return ago(int(seconds // 86400))


def _month_labels(as_of: date, n: int) -> list[str]:
    out: list[str] = []
    y, m = as_of.year, as_of.month
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


def bars(p: DigestPerson, as_of: date) -> tuple[Bar, ...]:
    """Exactly 12 bars, oldest first, ending with the as-of month."""
    counts = list(p.monthly[-MONTHS_SHOWN:])
    counts = [0] * (MONTHS_SHOWN - len(counts)) + [max(0, int(c)) for c in counts]
    labels = list(p.months[-MONTHS_SHOWN:])
    if len(labels) != MONTHS_SHOWN or len(p.months) != len(p.monthly):
        labels = _month_labels(as_of, MONTHS_SHOWN)
    peak = max(counts) or 1
    out = []
    for count, label in zip(counts, labels, strict=True):
        try:
            month = date(int(label[:4]), int(label[5:7]), 1)
            initial, long_label = f"{month:%b}"[0], f"{month:%b %Y}"
        except ValueError:
            initial, long_label = "?", clean(label, 10)
        share = count / peak
        if count:
            height = max(4, round(BAR_MAX_PX * share))
            shade = _SHADES[min(len(_SHADES) - 1, int(share * len(_SHADES) - 1e-9))]
            spark = _SPARK[min(len(_SPARK) - 1, max(0, round(share * len(_SPARK)) - 1))]
        else:
            height, shade, spark = 2, _EMPTY_SHADE, "·"
        out.append(Bar(initial, long_label, count, height, shade, spark))
    return tuple(out)


def _person(p: DigestPerson, now: datetime, tz: tzinfo) -> PersonView:
    lc = p.last_contact
    days = p.days_since
    if days is None and lc is not None:
        days = (now.date() - _local(lc.at, tz).date()).days
    shown = bars(p, now.date())
    return PersonView(
        name=clean(p.name, NAME_MAX)
        or clean(p.emails[0] if p.emails else "", NAME_MAX)
        or "(no name)",
        first_name=first_name(p.name),
        email=clean(p.emails[0], 120) if p.emails else "",
        last_ago=ago(days) if lc is not None else "never",
        last_date=_day(_local(lc.at, tz).date()) if lc is not None else "",
        last_what=clean(lc.describe(), SUBJECT_MAX) if lc is not None else "",
        rhythm=rhythm_phrase(p),
        overdue=overdue_phrase(p),
        bars=shown,
        spark="".join(b.spark for b in shown),
        initials="".join(b.initial for b in shown),
        recent_days=sum(b.count for b in shown),
        mailto=safe_mailto(p.mailto),
    )


def _awaiting(a: AwaitingReply, tz: tzinfo) -> AwaitingView:
    return AwaitingView(
        name=clean(a.name, 80) or clean(a.email, 120),
        email=clean(a.email, 120),
        subject=clean(a.subject, SUBJECT_MAX) or "(no subject)",
        waiting=duration(a.days_waiting),
        since=_day(_local(a.received_at, tz).date(), year=False),
        mailto=safe_mailto(a.mailto),
    )


def _birthday(b: Birthday) -> BirthdayView:
    when = {0: "today", 1: "tomorrow"}.get(b.in_days, f"in {b.in_days} days")
    mailto = None
    if b.email and "@" in b.email:
        address = quote(clean(b.email), safe="@")
        mailto = safe_mailto(f"mailto:{address}?subject={quote('Happy birthday!')}")
    return BirthdayView(clean(b.name, 80) or clean(b.email, 120), _day(b.on, False), when, mailto)


def _source(s: SourceHealth, now: datetime) -> SourceView:
    fix = clean(s.fix, 120) or None
    if s.state == "ok":
        status = f"OK, last synced {_since(s.last_ok_at, now)}"
    elif s.state == "needs_reauth":
        status = "needs you to sign in again; syncing it has stopped"
        fix = fix or f"syncd auth {clean(s.name)}"
    elif s.state == "never_synced":
        status = "not synced yet"
    else:
        error = clean(s.last_error, 160) or "unknown error"
        last = f" (last success {_since(s.last_ok_at, now)})" if s.last_ok_at else ""
        status = f"last sync failed: {error}{last}"
    return SourceView(clean(s.name, 60), clean(s.type, 20), s.state == "ok", status, fix)


def _period(d: Digest, now: datetime) -> str:
    m = _PERIOD.match(d.period or "")
    week = f"Week {int(m.group(2))}" if m else clean(d.period, 20)
    return f"{week} · {now:%A} {now.day} {now:%B %Y}" if week else f"{now:%A} {now.day} {now:%B %Y}"


def headline(d: Digest) -> str:
    """The digest's one-line summary, shared by the Subject and the page title."""
    people, waiting = len(d.people), len(d.awaiting_reply)
    if people and waiting:
        return (
            f"{_plural(people, 'person', 'people')} to reach out to, "
            f"{_plural(waiting, 'reply', 'replies')} waiting"
        )
    if people:
        return f"{_plural(people, 'person', 'people')} to reach out to this week"
    if waiting:
        return f"{_plural(waiting, 'email')} waiting on your reply"
    if d.birthdays:
        return f"{_plural(len(d.birthdays), 'birthday')} coming up"
    return "nobody is overdue this week"


def subject_line(d: Digest) -> str:
    """The email Subject, e.g. ``syncd: 3 people to reach out to this week`` (one line, always)."""
    return clean(f"syncd: {headline(d)}", 200)


def _considered(d: Digest) -> str:
    if not d.considered:
        return ""
    text = f"Considered {_plural(d.considered, 'person', 'people')}; {d.overdue_total} overdue"
    shown = len(d.people)
    if d.overdue_total > shown:
        text += f"; showing the {shown} that matter most" if shown else ""
    return text + "."


def _intro(d: Digest) -> str:
    """The opening sentence, without the greeting: what this week's digest holds."""
    parts = []
    if d.people:
        n = len(d.people)
        verb = "has" if n == 1 else "have"
        # "Regular" only when every one of them had a rhythm to keep, not one email.
        regular = all(p.contact_days >= REGULAR_DAYS for p in d.people)
        touch = "you were in regular touch with" if regular else "you have been in touch with"
        who = f"{'person' if n == 1 else 'people'} {touch}"
        parts.append(f"{n} {who} {verb} slipped out of sight")
    if d.awaiting_reply:
        n = len(d.awaiting_reply)
        parts.append(f"{_plural(n, 'email')} {'is' if n == 1 else 'are'} waiting on your reply")
    if d.birthdays:
        n = len(d.birthdays)
        parts.append(f"{_plural(n, 'birthday')} {'is' if n == 1 else 'are'} coming up")
    if not parts:
        return (
            "nobody is overdue this week. Everyone you keep in touch with is within their "
            "usual rhythm, and nobody is waiting on a reply. Nothing to do; enjoy the week."
        )
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return text + "."


def _preheader(people: list[PersonView], waiting: int, birthdays: int) -> str:
    parts = []
    if people:
        names = [p.name for p in people[:2]]
        more = len(people) - len(names)
        who = " and ".join(names) if not more else f"{', '.join(names)} and {more} more"
        parts.append(f"{who}: time to get back in touch.")
    if waiting:
        parts.append(f"{_plural(waiting, 'email')} waiting on your reply.")
    if birthdays:
        parts.append(f"{_plural(birthdays, 'birthday')} coming up.")
    return " ".join(parts) or "Nobody is overdue this week. Nothing to do."


def _context(d: Digest) -> dict[str, Any]:
    tz = _zone(d)
    now = _local(d.as_of, tz)
    people = [_person(p, now, tz) for p in d.people]
    return {
        "subject": subject_line(d),
        "headline": headline(d),
        "when": _period(d, now),
        "me": first_name(d.me_name),
        "intro": _intro(d),
        "preheader": _preheader(people, len(d.awaiting_reply), len(d.birthdays)),
        "people": people,
        "awaiting": [_awaiting(a, tz) for a in d.awaiting_reply],
        "birthdays": [_birthday(b) for b in d.birthdays],
        "sources": [_source(s, now) for s in d.sources],
        "considered": _considered(d),
        "empty": d.is_empty,
    }


def _wrap(text: str, indent: int = 0, first: str | None = None) -> str:
    """Fill to TEXT_WIDTH; ``first`` replaces the indent on the first line (e.g. ``"1. "``)."""
    pad = " " * indent
    return textwrap.fill(
        text,
        width=TEXT_WIDTH,
        initial_indent=pad if first is None else first.ljust(indent),
        subsequent_indent=pad,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("syncd", "templates"),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = _wrap
    return env


_HTML = _environment(autoescape=True)
_TEXT = _environment(autoescape=False)


def render_html(d: Digest) -> str:
    return _HTML.get_template("digest.html.j2").render(_context(d))


def render_text(d: Digest) -> str:
    text = _TEXT.get_template("digest.txt.j2").render(_context(d))
    # Collapse the blank runs that optional sections leave behind.
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


__all__ = [
    "Bar",
    "ago",
    "bars",
    "clean",
    "duration",
    "every",
    "headline",
    "render_html",
    "render_text",
    "safe_mailto",
    "subject_line",
]
