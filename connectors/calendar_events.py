"""iCalendar events -> meeting Interactions, shared by the ``ics`` and ``caldav`` connectors.

Public API (two functions, nothing else is meant to be imported):

``parse_calendar(data, where) -> icalendar.Calendar``
    Tolerant parse of one iCalendar file or CalDAV object: BOM, CRLF/LF/CR line ends,
    lower-case names, broken lines, unterminated components and several VCALENDARs in one
    file (merged into one calendar). Events that cannot be parsed at all are recorded in
    ``calendar.errors`` as ``("VEVENT", "UID=<uid>: <reason>")`` and come back as ``Skip``
    from ``interactions_from_calendar``. Raises ``ValueError`` when ``data`` is not
    iCalendar at all (jCal JSON, HTML, empty...).

``interactions_from_calendar(cal, *, scope, window_start, window_end, timezone, id_prefix="")``
    Expands recurring events (RRULE, RDATE, EXDATE, RECURRENCE-ID overrides, overrides
    without a master) with recurring-ical-events and yields one ``Interaction`` per
    occurrence that starts in ``[window_start, window_end)``, or a ``Skip`` for what cannot
    be read. Never raises on bad data.

Facts recorded per occurrence (the rules decide later what counts as contact):

- ``source_id = id_prefix + UID + "/" + RECURRENCE-ID`` (the occurrence's original start:
  ``2024-03-05T09:00:00Z`` in UTC for zoned times, ``2024-03-05`` for all-day events, the wall
  time ``2024-03-05T09:00:00`` for floating times so a change of the user's zone keeps ids),
  stable across runs, and a moved occurrence keeps the id of the slot it replaces.
- ``occurred_at``/``ends_at`` in UTC; floating times are read in X-WR-TIMEZONE if the calendar
  has one, else in the user's ``timezone``; all-day events start at midnight of that day in
  the user's zone and carry ``Flag.ALL_DAY``.
- participants: ORGANIZER (role organizer) and ATTENDEEs (role attendee), addresses without
  ``mailto:`` and lowercased, ``name`` = CN, ``response`` = PARTSTAT lowercased. Rooms and
  resources (CUTYPE=RESOURCE/ROOM) are not people and are left out, also from ``head_count``
  (distinct people among organizer and attendees). Values that are not email addresses are
  left out too (RFC 7986 ``EMAIL=`` is used for ``urn:uuid:`` attendees).
- flags: STATUS:CANCELLED (series or occurrence) or METHOD:CANCEL -> CANCELLED,
  TRANSP:TRANSPARENT -> NOT_MEETING. The user's own decline is not decided here.

Time zones: IANA names, Windows names (``Atlantic Standard Time``) and VTIMEZONEs are
resolved by icalendar; Outlook display names without a VTIMEZONE
(``(UTC+02:00) Athens, Bucharest, Istanbul``) are matched by city, else by their offset;
a TZID nobody knows is read like a floating time.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import zoneinfo
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from datetime import timezone as fixed_timezone
from typing import Any

import icalendar
import recurring_ical_events
import x_wr_timezone
from dateutil.rrule import rrulestr
from icalendar.prop import vDDDLists, vDDDTypes

from syncd.models import Flag, Interaction, Participant, Skip

__all__ = ["MAX_OCCURRENCES", "interactions_from_calendar", "parse_calendar"]

log = logging.getLogger(__name__)

# A series that yields more occurrences than this inside the window is cut there (a daily
# meeting over 11 years is about 4,000); a FREQ=SECONDLY rule would otherwise take hours.
MAX_OCCURRENCES = 10_000

_RESPONSES = {"accepted", "declined", "tentative", "needs-action", "delegated"}
_NOT_PEOPLE = {"RESOURCE", "ROOM"}
_EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+$")
_DT_PROPS = ("DTSTART", "DTEND", "RECURRENCE-ID")
_DT_LIST_PROPS = ("EXDATE", "RDATE")
# Rules that can yield more than one occurrence a day (the only ones that need counting).
_DENSE = re.compile(r"FREQ=(SECONDLY|MINUTELY|HOURLY)|BYHOUR=|BYMINUTE=|BYSECOND=", re.I)
_BEGIN = re.compile(r"^[ \t]*BEGIN[ \t]*:[ \t]*V", re.I | re.M)
_OUTLOOK_ZONE = re.compile(r"^\(\s*(?:UTC|GMT)\s*(?:([+-])(\d{1,2}):?(\d{2}))?\s*\)\s*(.*)$", re.I)


# --- parsing -------------------------------------------------------------------------


def parse_calendar(data: bytes, where: str) -> icalendar.Calendar:
    """Parse ``data`` leniently into one calendar; ValueError if it is not iCalendar."""
    text = _decode(data)
    if not _BEGIN.search(text):
        hint = " (it looks like jCal JSON)" if text.lstrip().startswith(("[", "{")) else ""
        raise ValueError(f"{where}: not an iCalendar file{hint}: no BEGIN:VCALENDAR")
    text = re.sub(r"\r\n|\r|\n", "\r\n", text)
    try:
        found = icalendar.Calendar.from_ical(text, multiple=True)
        calendars = [c for c in found if c.name == "VCALENDAR"]
        if len(calendars) != len(found) or not calendars:
            raise ValueError("unterminated or stray components")
    except Exception as e:  # icalendar raises ValueError and friends on broken files
        log.debug("%s: strict parse failed (%s); salvaging component by component", where, e)
        calendars = [_salvage(text)]
    return _merge(calendars)


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Old Outlook and Lotus exports are Windows-1252 more often than anything else.
        return data.decode("cp1252", errors="replace")


def _merge(calendars: list[icalendar.Calendar]) -> icalendar.Calendar:
    if len(calendars) == 1:
        return calendars[0]
    merged = icalendar.Calendar()
    for key, value in calendars[0].property_items(recursive=False):
        if key not in ("BEGIN", "END", "METHOD", "X-WR-TIMEZONE"):
            merged.add(key, value)
    for cal in calendars:
        # METHOD and X-WR-TIMEZONE belong to each calendar: apply them before merging.
        cancel = _text(cal.get("METHOD")).upper() == "CANCEL"
        zone = _calendar_zone(cal)
        if zone is not None:
            cal = _to_standard(cal, zone)
        for comp in cal.subcomponents:
            if cancel and comp.name == "VEVENT":
                comp["STATUS"] = "CANCELLED"
            merged.add_component(comp)
        merged.errors.extend(cal.errors)
    return merged


def _salvage(text: str) -> icalendar.Calendar:
    """Rebuild a calendar from the components that parse on their own."""
    lines = re.sub(r"\r\n[ \t]", "", text).split("\r\n")
    header: list[str] = []
    blocks: list[list[str]] = []
    stack: list[str] = []
    block: list[str] | None = None
    for line in lines:
        if not line.strip():
            continue
        name, _, value = line.partition(":")
        name = name.split(";", 1)[0].strip().upper()
        value = value.strip().upper()
        if name == "BEGIN":
            if value == "VCALENDAR" and not stack:
                stack.append(value)
                continue
            if len(stack) <= 1 and block is None:
                block = []
            stack.append(value)
            assert block is not None
            block.append(line)
        elif name == "END":
            if value in stack:
                while stack and stack.pop() != value:
                    pass
            if block is not None:
                block.append(line)
                if len(stack) <= 1 and (not stack or stack[0] == "VCALENDAR"):
                    blocks.append(block)
                    block = None
        elif block is not None:
            block.append(line)
        elif stack:
            header.append(line)
    if block:  # unterminated at the end of the file: close what is open
        blocks.append(block + [f"END:{n}" for n in reversed(stack) if n != "VCALENDAR"])

    cal = icalendar.Calendar()
    for line in header:
        try:
            one = icalendar.Calendar.from_ical(_wrap([line]))
        except Exception:
            continue
        for prop_name, prop_value in one.property_items(recursive=False):
            if prop_name not in ("BEGIN", "END"):
                cal.add(str(prop_name), prop_value)
    # VTIMEZONEs first: parsing them registers their TZIDs for the events that follow.
    blocks.sort(key=lambda b: not b[0].upper().startswith("BEGIN:VTIMEZONE"))
    for b in blocks:
        kind = b[0].partition(":")[2].strip().upper()
        comp, error = _parse_block(b)
        if comp is not None:
            cal.add_component(comp)
        elif kind == "VEVENT":
            cal.errors.append(("VEVENT", f"UID={_uid_in_lines(b) or '?'}: {error}"))
        else:
            cal.errors.append((kind, str(error)))
    return cal


def _parse_block(block: list[str]) -> tuple[Any, str | None]:
    try:
        return icalendar.Calendar.from_ical(_wrap(block)).subcomponents[0], None
    except Exception as e:
        error = str(e) or type(e).__name__
    # A broken VALARM or other nested component should not cost the event itself.
    flat = [block[0]]
    depth = 0
    for line in block[1:-1]:
        head = line.partition(":")[0].split(";", 1)[0].strip().upper()
        if head == "BEGIN":
            depth += 1
        elif head == "END" and depth:
            depth -= 1
        elif depth == 0:
            flat.append(line)
    flat.append(block[-1])
    if len(flat) < len(block):
        try:
            return icalendar.Calendar.from_ical(_wrap(flat)).subcomponents[0], None
        except Exception:
            pass
    return None, error


def _wrap(lines: list[str]) -> str:
    return "BEGIN:VCALENDAR\r\n" + "\r\n".join(lines) + "\r\nEND:VCALENDAR\r\n"


def _uid_in_lines(lines: list[str]) -> str | None:
    for line in lines:
        name, _, value = line.partition(":")
        if name.split(";", 1)[0].strip().upper() == "UID":
            return value.strip()
    return None


# --- time zones ----------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> tzinfo | None:
    """An IANA, Windows or Outlook display-name zone, or None if nobody knows it."""
    name = name.strip().strip('"')
    if not name:
        return None
    try:
        from icalendar.timezone import tzp

        found = tzp.timezone(name)  # IANA, Windows names, VTIMEZONEs parsed so far
        if found is not None:
            return found
    except Exception:
        pass
    found = _iana(name)
    if found is not None:
        return found
    m = _OUTLOOK_ZONE.match(name)
    if not m or m.group(1) is None:
        return UTC if m else None
    sign, hours, minutes = m.group(1, 2, 3)
    # Only the offset is left: right for half the year in zones with summer time.
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    return fixed_timezone(-offset if sign == "-" else offset, name)


@functools.lru_cache(maxsize=1024)
def _iana(name: str) -> zoneinfo.ZoneInfo | None:
    """The IANA zone a TZID stands for: itself, a Windows name, an Outlook display name
    ("(UTC+02:00) Athens, Bucharest, Istanbul", matched by city) or a vendor-prefixed id."""
    name = name.strip().strip('"')
    candidates = [name, name.strip("/")]
    try:
        from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

        candidates.append(WINDOWS_TO_OLSON.get(name, ""))
    except ImportError:
        pass
    parts = name.strip("/").split("/")
    candidates += ["/".join(parts[i:]) for i in range(1, len(parts))]
    m = _OUTLOOK_ZONE.match(name)
    if m:
        cities = re.split(r"\s*[,/]\s*|\s+and\s+", m.group(4))
        candidates += [_cities().get(c.strip().lower(), "") for c in cities]
    for candidate in candidates:
        if candidate and candidate in _known_zones():
            return zoneinfo.ZoneInfo(candidate)
    return None


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@functools.cache
def _cities() -> dict[str, str]:
    """'athens' -> 'Europe/Athens', for every IANA zone with a city in its name."""
    out: dict[str, str] = {}
    for zone in sorted(_known_zones()):
        if "/" in zone and not zone.startswith(("Etc/", "SystemV/", "US/")):
            out.setdefault(zone.rsplit("/", 1)[1].replace("_", " ").lower(), zone)
    return out


def _calendar_zone(cal: icalendar.Calendar) -> tzinfo | None:
    value = cal.get("X-WR-TIMEZONE")
    return _zone(_text(value)) if value is not None else None


def _to_standard(cal: icalendar.Calendar, zone: tzinfo) -> icalendar.Calendar:
    try:
        return x_wr_timezone.to_standard(cal, timezone=zone)
    except Exception as e:  # broken values inside: keep the calendar as it is
        log.debug("X-WR-TIMEZONE conversion failed: %s", e)
        return cal


# --- events --------------------------------------------------------------------------


def interactions_from_calendar(
    cal: icalendar.Calendar,
    *,
    scope: str,
    window_start: datetime,
    window_end: datetime,
    timezone: str,
    id_prefix: str = "",
) -> Iterator[Interaction | Skip]:
    """One Interaction per occurrence starting in ``[window_start, window_end)``, or Skips.

    ``window_start``/``window_end`` must be timezone-aware; ``timezone`` is the user's
    IANA zone, used for floating times and all-day events.
    """
    user_tz = _zone(timezone) or UTC
    xwr_zone = _calendar_zone(cal)
    cancelled = _text(cal.get("METHOD")).upper() == "CANCEL"
    for name, message in cal.errors:
        if name == "VEVENT":
            uid_part, _, reason = str(message).partition(": ")
            yield Skip(f"{scope} {uid_part}", reason or "unreadable event")

    groups: dict[str, list[Any]] = {}
    for comp in cal.walk("VEVENT"):
        uid = _text(comp.get("UID")).strip() or _derived_uid(comp)
        groups.setdefault(uid, []).append(comp)

    ctx = _Context(scope, window_start, window_end, user_tz, xwr_zone, cancelled, id_prefix)
    for uid, comps in groups.items():
        try:
            results = list(_series(uid, comps, ctx))
        except Exception as e:  # a bug or data nobody foresaw: count it, keep going
            log.debug("%s UID=%s failed", scope, uid, exc_info=True)
            results = [Skip(f"{scope} UID={uid}", f"unreadable event: {type(e).__name__}: {e}")]
        yield from results


class _Context:
    __slots__ = (
        "cancelled",
        "id_prefix",
        "scope",
        "user_tz",
        "window_end",
        "window_start",
        "xwr_zone",
    )

    def __init__(
        self,
        scope: str,
        window_start: datetime,
        window_end: datetime,
        user_tz: tzinfo,
        xwr_zone: tzinfo | None,
        cancelled: bool,
        id_prefix: str,
    ) -> None:
        self.scope = scope
        self.window_start = window_start.astimezone(UTC)
        self.window_end = window_end.astimezone(UTC)
        # Floating times: the calendar's X-WR-TIMEZONE first, else the user's zone.
        self.user_tz = xwr_zone or user_tz
        self.xwr_zone = xwr_zone
        self.cancelled = cancelled
        self.id_prefix = id_prefix


def _derived_uid(comp: Any) -> str:
    """A stable stand-in for a missing UID: DTSTART + SUMMARY."""
    start = comp.get("DTSTART")
    try:
        raw = start.to_ical().decode() if start is not None else ""
    except Exception:
        raw = str(start)
    key = f"{raw}\x00{_text(comp.get('SUMMARY'))}".encode()
    return "nouid-" + hashlib.sha256(key).hexdigest()[:16]


def _series(uid: str, comps: list[Any], ctx: _Context) -> Iterator[Interaction | Skip]:
    where = f"{ctx.scope} UID={uid}"
    good: list[Any] = []
    for comp in comps:
        copy = comp.copy()  # never change the caller's calendar
        copy["UID"] = uid
        problem = _normalize(copy)
        if problem:
            yield Skip(where, problem)
        else:
            good.append(copy)
    if not good:
        return

    mini = icalendar.Calendar()
    for comp in good:
        mini.add_component(comp)
    if ctx.xwr_zone is not None and _has_floating_or_utc(good):
        # Google exports recurring events in UTC and means the X-WR-TIMEZONE wall clock.
        mini = _to_standard(mini, ctx.xwr_zone)
        good = list(mini.subcomponents)

    end, truncated = _bounded_end(good, ctx)
    if truncated:
        yield Skip(where, f"more than {MAX_OCCURRENCES} occurrences; expanded until {end:%Y-%m-%d}")
    margin = timedelta(days=1)  # floating and all-day times: filtered exactly below
    try:
        occurrences = recurring_ical_events.of(mini).between(
            ctx.window_start - margin, end + margin
        )
    except Exception as e:
        occurrences, safe = _first_occurrences(good)
        if _is_recurring(good) or not safe:
            what = "kept the first occurrence only" if safe else "skipped the series"
            if not safe and any("RECURRENCE-ID" in c for c in good):
                what += " but kept its overrides"
            yield Skip(where, f"recurrence could not be expanded ({_reason(e)}); {what}")
    found: dict[str, Interaction] = {}
    for occ in occurrences:
        try:
            item = _interaction(uid, occ, ctx, end)
        except Exception as e:
            yield Skip(where, f"unreadable occurrence: {_reason(e)}")
            continue
        if item is not None:
            found.setdefault(item.source_id, item)
    # recurring-ical-events returns overrides in set order: sort for reproducible output.
    yield from sorted(found.values(), key=lambda i: (i.occurred_at, i.source_id))


def _has_floating_or_utc(comps: list[Any]) -> bool:
    # x-wr-timezone only changes floating and UTC times; skip its copy when there are none.
    for comp in comps:
        value = comp.get("DTSTART")
        dt = getattr(value, "dt", None)
        if isinstance(dt, datetime) and (dt.tzinfo is None or dt.utcoffset() == timedelta(0)):
            return True
    return False


def _reason(e: Exception) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _normalize(comp: Any) -> str | None:
    """Resolve TZIDs icalendar could not, drop unusable ends; a reason if DTSTART is bad."""
    start_prop = comp.get("DTSTART")
    if start_prop is None:
        return "no DTSTART"
    if isinstance(start_prop, list):
        start_prop = start_prop[0]
        comp["DTSTART"] = start_prop
    try:
        start = start_prop.dt
    except Exception as e:
        return f"unreadable DTSTART: {e}"
    if not isinstance(start, date):
        return f"DTSTART is not a date or date-time: {start!r}"
    for name in _DT_PROPS:
        prop = comp.get(name)
        if prop is None or isinstance(prop, list):
            continue
        try:
            dt = prop.dt
        except Exception:
            if name == "RECURRENCE-ID":
                return "unreadable RECURRENCE-ID"
            del comp[name]
            continue
        fixed = _with_zone(dt, prop)
        if fixed is not dt:
            comp[name] = vDDDTypes(fixed)
    for name in _DT_LIST_PROPS:
        values = comp.get(name)
        if values is None:
            continue
        lists = values if isinstance(values, list) else [values]
        if any(not isinstance(v, vDDDLists) for v in lists):
            continue  # broken: recurring-ical-events rejects it and we fall back
        out = []
        for v in lists:
            dts = [_with_zone_any(d.dt, v) for d in v.dts]
            out.append(vDDDLists(dts) if dts else v)
        comp[name] = out if isinstance(values, list) else out[0]
    start = comp["DTSTART"].dt
    end_prop = comp.get("DTEND")
    if end_prop is not None:
        end = end_prop.dt
        if type(end) is not type(start) or _order_key(end) < _order_key(start):
            del comp["DTEND"]  # mixed types or end before start: keep the start only
    duration = comp.get("DURATION")
    if duration is not None:
        try:
            ok = isinstance(duration.dt, timedelta) and duration.dt >= timedelta(0)
        except Exception:
            ok = False
        if not ok or "DTEND" in comp:
            del comp["DURATION"]
    return None


def _order_key(value: date) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _with_zone(dt: Any, prop: Any) -> Any:
    """Resolve a TZID icalendar did not know (Outlook display names); replace zones built
    from a VTIMEZONE by the IANA zone their TZID names: same wall time, and dateutil's
    VTIMEZONE zones walk their rules from 1601 on every offset lookup (100x slower)."""
    if not isinstance(dt, datetime):
        return dt
    tzid = getattr(prop, "params", {}).get("TZID")
    if not tzid:
        return dt
    if dt.tzinfo is None:
        zone = _zone(str(tzid))
        return dt.replace(tzinfo=zone) if zone is not None else dt
    if not isinstance(dt.tzinfo, zoneinfo.ZoneInfo) and dt.tzinfo is not UTC:
        iana = _iana(str(tzid))
        if iana is not None:
            return dt.replace(tzinfo=iana)
    return dt


def _with_zone_any(value: Any, prop: Any) -> Any:
    if isinstance(value, tuple):  # RDATE periods
        return (_with_zone(value[0], prop), _with_zone(value[1], prop))
    return _with_zone(value, prop)


def _is_recurring(comps: list[Any]) -> bool:
    return any("RRULE" in c or "RDATE" in c for c in comps)


def _bounded_end(comps: list[Any], ctx: _Context) -> tuple[datetime, bool]:
    """The window end, pulled in when a rule yields more than MAX_OCCURRENCES in it."""
    end = ctx.window_end
    truncated = False
    for comp in comps:
        rules = comp.get("RRULE")
        if rules is None or "RECURRENCE-ID" in comp:
            continue
        start = comp["DTSTART"].dt
        zone = start.tzinfo if isinstance(start, datetime) and start.tzinfo else ctx.user_tz
        wall_start = start if isinstance(start, datetime) else datetime.combine(start, time())
        wall_start = wall_start.replace(tzinfo=None)

        def wall(t: datetime, zone: tzinfo = zone) -> datetime:
            return t.astimezone(zone).replace(tzinfo=None)

        for rule in rules if isinstance(rules, list) else [rules]:
            try:
                text = rule.to_ical().decode()
                if not _DENSE.search(text):
                    continue  # at most daily: about 4,000 a decade, no need to count
                parsed = rrulestr(text, dtstart=wall_start, ignoretz=True)
                occurrences = parsed.xafter(wall(ctx.window_start), count=MAX_OCCURRENCES + 1)
                for count, occ in enumerate(occurrences, start=1):
                    if occ >= wall(end):
                        break
                    if count > MAX_OCCURRENCES:
                        end = occ.replace(tzinfo=zone).astimezone(UTC)
                        truncated = True
                        break
            except Exception:
                continue  # recurring-ical-events will judge the rule
    return end, truncated


def _first_occurrences(comps: list[Any]) -> tuple[list[Any], bool]:
    """When expansion fails: the overrides as they are, plus the master's DTSTART if safe.

    The DTSTART of a master is always its first occurrence (RFC 5545 3.8.5.3) unless an
    EXDATE removes it or an override replaces it; if EXDATE cannot be read we cannot tell.
    """
    out = [c for c in comps if "RECURRENCE-ID" in c]
    overridden = {_order_key(c["RECURRENCE-ID"].dt) for c in out}
    safe = True
    for master in (c for c in comps if "RECURRENCE-ID" not in c):
        start = master["DTSTART"].dt
        excluded: set[datetime] = set()
        values = master.get("EXDATE")
        for v in values if isinstance(values, list) else [values] if values else []:
            try:
                excluded.update(_order_key(d.dt) for d in v.dts)
            except Exception:
                safe = False
        if not safe:
            continue
        if _order_key(start) in excluded or _order_key(start) in overridden:
            continue
        occ = master.copy()
        occ["RECURRENCE-ID"] = vDDDTypes(start)
        out.append(occ)
    return out, safe


def _interaction(uid: str, occ: Any, ctx: _Context, end_limit: datetime) -> Interaction | None:
    start = occ["DTSTART"].dt
    all_day = not isinstance(start, datetime)
    occurred_at = _utc(start, ctx.user_tz)
    if not (ctx.window_start <= occurred_at < end_limit):
        return None
    end = _end(occ, start)
    ends_at = _utc(end, ctx.user_tz) if end is not None else None
    rid_prop = occ.get("RECURRENCE-ID")
    rid = rid_prop.dt if rid_prop is not None else start
    participants, head_count = _participants(occ)
    flags = Flag.NONE
    if ctx.cancelled or _text(occ.get("STATUS")).upper() == "CANCELLED":
        flags |= Flag.CANCELLED
    if _text(occ.get("TRANSP")).upper() == "TRANSPARENT":
        flags |= Flag.NOT_MEETING
    if all_day:
        flags |= Flag.ALL_DAY
    subject = _text(occ.get("SUMMARY")).strip() or None
    return Interaction(
        source_id=f"{ctx.id_prefix}{uid}/{_rid_text(rid)}",
        kind="meeting",
        occurred_at=occurred_at,
        participants=participants,
        subject=subject,
        thread_id=uid,
        flags=int(flags),
        head_count=head_count,
        scope=ctx.scope,
        ends_at=ends_at,
    )


def _end(occ: Any, start: date) -> date | None:
    prop = occ.get("DTEND")
    if prop is not None:
        return prop.dt
    duration = occ.get("DURATION")
    if duration is not None:
        return start + duration.dt
    return start + timedelta(days=1) if not isinstance(start, datetime) else None


def _utc(value: date, zone: tzinfo) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _rid_text(value: date) -> str:
    if not isinstance(value, datetime):
        return value.isoformat()
    if value.tzinfo is None:
        return value.isoformat()
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _participants(occ: Any) -> tuple[tuple[Participant, ...], int]:
    people: list[Participant] = []
    for prop in _as_list(occ.get("ORGANIZER")):
        p = _participant(prop, "organizer")
        if p:
            people.append(p)
    for prop in _as_list(occ.get("ATTENDEE")):
        if _param(prop, "CUTYPE").upper() in _NOT_PEOPLE:
            continue
        p = _participant(prop, "attendee")
        if p:
            people.append(p)
    unique: list[Participant] = []
    seen: set[tuple[str, str]] = set()
    for p in people:
        if (p.address, p.role) not in seen:  # Outlook repeats attendees now and then
            seen.add((p.address, p.role))
            unique.append(p)
    return tuple(unique), len({p.address for p in unique})


def _participant(prop: Any, role: Any) -> Participant | None:
    address = _address(str(prop))
    if address is None:
        address = _address(_param(prop, "EMAIL"))  # RFC 7986, e.g. urn:uuid: attendees
    if address is None or address.endswith("@resource.calendar.google.com"):
        return None
    name = _param(prop, "CN").strip().strip('"').strip() or None
    if name and name.lower() in (address, f"mailto:{address}"):
        name = None  # Exchange repeats the address as CN: no name in it
    partstat = _param(prop, "PARTSTAT").lower()
    response = partstat if partstat in _RESPONSES else None
    return Participant(address=address, role=role, name=name, response=response)  # type: ignore[arg-type]


def _address(value: str) -> str | None:
    value = value.strip().strip("<>").strip()
    if value.lower().startswith("mailto:"):
        value = value[7:].strip()
    value = value.lower()
    return value if _EMAIL.match(value) else None


def _param(prop: Any, name: str) -> str:
    params = getattr(prop, "params", None)
    if not params:
        return ""
    value = params.get(name)
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = value[0] if value else ""
    return str(value)


def _as_list(value: Any) -> Iterable[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value)
