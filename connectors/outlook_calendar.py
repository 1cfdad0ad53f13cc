"""Graph calendarView delta items -> meeting Interactions, one per occurrence.

calendarView expands recurring series into occurrences, but the delta variant returns them
skeletal (id, seriesMasterId, start, end: no attendees, organizer or subject; api-facts §9.1),
so each occurrence borrows those from its series master, fetched once per master.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.outlook_mail import parse_datetime
from syncd.models import Flag, Interaction, Participant, Response, Skip

# What an occurrence borrows from its master when it does not carry it itself.
MASTER_FIELDS = (
    "subject",
    "organizer",
    "attendees",
    "isCancelled",
    "showAs",
    "responseStatus",
    "isAllDay",
    "type",
)
_RESPONSES: dict[str, Response | None] = {
    "accepted": "accepted",
    "organizer": "accepted",
    "declined": "declined",
    "tentativelyaccepted": "tentative",
    "notresponded": "needs-action",
    "none": None,
}
# showAs values that say "this is not a meeting with people" (focus time, OOF, location).
_NOT_MEETING = frozenset({"free", "oof", "workingelsewhere"})


def needs_master(item: dict[str, Any]) -> str | None:
    """The series master id an item must borrow from, if any."""
    if item.get("@removed") or item.get("type") != "occurrence":
        return None
    master = item.get("seriesMasterId")
    if not isinstance(master, str) or not master:
        return None
    if "attendees" in item and "organizer" in item and "subject" in item:
        return None
    return master


def _when(value: Any) -> datetime:
    if not isinstance(value, dict):
        raise ValueError("missing")
    return parse_datetime(value.get("dateTime"), str(value.get("timeZone") or "UTC"))


def _address(recipient: Any) -> tuple[str | None, str | None]:
    if not isinstance(recipient, dict):
        return None, None
    ea = recipient.get("emailAddress")
    if not isinstance(ea, dict):
        return None, None
    addr = str(ea.get("address") or "").strip().lower()
    name = str(ea.get("name") or "").strip() or None
    return (addr if "@" in addr else None), name


def event_to_interaction(
    item: dict[str, Any], master: dict[str, Any] | None = None
) -> Interaction | Skip | None:
    """One event occurrence as a meeting; None for series masters (their occurrences count)."""
    event_id = item.get("id")
    if not isinstance(event_id, str) or not event_id:
        return Skip("outlook calendar", "event without an id")
    where = f"outlook calendar {event_id}"
    if item.get("type") == "seriesMaster":
        return None
    ev = dict(item)
    if needs_master(item):
        if master is None:
            return Skip(where, f"series master {item['seriesMasterId']} not found")
        for key in MASTER_FIELDS:
            if key not in ev and key in master:
                ev[key] = master[key]
        ev["type"] = "occurrence"
    try:
        start = _when(ev.get("start"))
    except ValueError as e:
        return Skip(where, f"unusable start: {e}")
    try:
        end: datetime | None = _when(ev.get("end"))
    except ValueError:
        end = None
    flags = 0
    if ev.get("isCancelled") is True:
        flags |= Flag.CANCELLED
    own = ev.get("responseStatus")
    if isinstance(own, dict) and str(own.get("response") or "").lower() == "declined":
        flags |= Flag.DECLINED
    if str(ev.get("showAs") or "").lower() in _NOT_MEETING:
        flags |= Flag.NOT_MEETING
    if ev.get("isAllDay") is True:
        flags |= Flag.ALL_DAY
    participants: list[Participant] = []
    seen: set[str] = set()
    organizer, org_name = _address(ev.get("organizer"))
    if organizer:
        participants.append(Participant(organizer, "organizer", org_name, "accepted"))
        seen.add(organizer)
    attendees = ev.get("attendees") or []
    if not isinstance(attendees, list):
        return Skip(where, "attendees is not a list")
    for att in attendees:
        if not isinstance(att, dict) or str(att.get("type") or "").lower() == "resource":
            continue  # rooms and equipment are not people
        addr, name = _address(att)
        if addr is None or addr in seen:
            continue
        seen.add(addr)
        status = att.get("status")
        raw = str(status.get("response") or "").lower() if isinstance(status, dict) else ""
        participants.append(Participant(addr, "attendee", name, _RESPONSES.get(raw)))
    subject = ev.get("subject")
    series = ev.get("seriesMasterId")
    return Interaction(
        source_id=f"event:{event_id}",
        kind="meeting",
        occurred_at=start,
        ends_at=end,
        participants=tuple(participants),
        subject=subject if isinstance(subject, str) else None,
        thread_id=series if isinstance(series, str) and series else None,
        flags=flags,
        head_count=len(seen),
        scope="calendar",
    )
