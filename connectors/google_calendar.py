"""Google Calendar: every calendar the user takes part in, as meeting facts.

``events.list`` with ``singleEvents=True`` (Google expands recurrences for us) and a
``syncToken`` per calendar (api-facts.md §13.2). A 410 means the token expired: that calendar
alone is synced again from scratch, bracketed so that the engine sweeps what vanished.
Cancelled instances are deletions. Focus time, out-of-office, working-location and birthday
entries are kept as facts flagged NOT_MEETING; the rules ignore them.

State (the ``"calendar"`` part of the source cursor)::

    {"calendars": {"<calendarId>": {"sync_token": "..."}}}
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.google_quota import Caller, http_status
from syncd.errors import CursorExpiredError
from syncd.models import Batch, Flag, Interaction, Participant, Response, Skip

# No description or location: they are free text, closer to a body than to metadata.
EVENT_FIELDS = (
    "items(id,status,eventType,summary,start,end,transparency,organizer,recurringEventId,"
    "iCalUID,attendeesOmitted,attendees(email,displayName,self,organizer,resource,"
    "responseStatus)),nextPageToken,nextSyncToken"
)
NOT_MEETING_TYPES = frozenset({"focusTime", "outOfOffice", "workingLocation", "birthday"})
RESPONSES: dict[str, Response] = {
    "accepted": "accepted",
    "declined": "declined",
    "tentative": "tentative",
    "needsAction": "needs-action",
}
# Calendars Google fills by itself: public holidays, contacts' birthdays, weather...
SPECIAL_SUFFIX = "group.v.calendar.google.com"
READ_ONLY_ROLES = frozenset({"reader", "freeBusyReader"})


def event_source_id(calendar_id: str, event_id: str) -> str:
    return f"gcal:{calendar_id}/{event_id}"


def scope_of(calendar_id: str) -> str:
    return f"gcal:{calendar_id}"


def choose_calendars(
    entries: Sequence[dict[str, Any]], include: Sequence[str], exclude: Sequence[str]
) -> list[dict[str, Any]]:
    """The calendars to sync: the user's own by default; ``include``/``exclude`` name ids
    or titles (exclude wins)."""

    def named(entry: dict[str, Any], names: Sequence[str]) -> bool:
        keys = {entry.get("id"), entry.get("summary"), entry.get("summaryOverride")}
        return bool(keys & set(names)) or (bool(entry.get("primary")) and "primary" in names)

    chosen = []
    for entry in entries:
        if named(entry, exclude):
            continue
        special = str(entry.get("id", "")).endswith(SPECIAL_SUFFIX)
        subscribed = entry.get("accessRole") in READ_ONLY_ROLES and not entry.get("primary")
        if named(entry, include) or not (special or subscribed):
            chosen.append(entry)
    return chosen


def _when(value: dict[str, Any] | None, tz: ZoneInfo) -> tuple[datetime, bool]:
    """(UTC datetime, all-day?) from an event's start or end."""
    if not value:
        raise ValueError("no start/end")
    if value.get("dateTime"):
        dt = datetime.fromisoformat(str(value["dateTime"]))
        if dt.tzinfo is None:
            zone = _zone(value.get("timeZone")) or tz
            dt = dt.replace(tzinfo=zone)
        return dt.astimezone(UTC), False
    if value.get("date"):
        d = date.fromisoformat(str(value["date"]))
        # All-day events are floating: midnight in the user's zone.
        return datetime.combine(d, time(), tzinfo=tz).astimezone(UTC), True
    raise ValueError("start/end has neither dateTime nor date")


def _zone(name: Any) -> ZoneInfo | None:
    try:
        return ZoneInfo(str(name)) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def normalize_event(event: dict[str, Any], calendar_id: str, tz: ZoneInfo) -> Interaction:
    """A non-cancelled event as a meeting Interaction (ValueError when unusable)."""
    eid = event.get("id")
    if not eid:
        raise ValueError("event without id")
    start, all_day = _when(event.get("start"), tz)
    end = _when(event.get("end"), tz)[0] if event.get("end") else None
    flags = Flag.NONE
    if all_day:
        flags |= Flag.ALL_DAY
    if event.get("eventType") in NOT_MEETING_TYPES or event.get("transparency") == "transparent":
        flags |= Flag.NOT_MEETING
    participants: list[Participant] = []
    organizer = event.get("organizer") or {}
    org_email = str(organizer.get("email") or "").strip().lower()
    attendees = [a for a in event.get("attendees") or () if isinstance(a, dict)]
    humans = [a for a in attendees if not a.get("resource") and a.get("email")]
    org_response: Response | None = None
    for a in humans:
        address = str(a["email"]).strip().lower()
        response = RESPONSES.get(str(a.get("responseStatus")))
        if a.get("self") and response == "declined":
            flags |= Flag.DECLINED
        if address == org_email or a.get("organizer"):
            org_response = response
            if address == org_email:
                continue  # listed once, as the organizer
        participants.append(
            Participant(address, "attendee", a.get("displayName") or None, response)
        )
    if org_email and "@" in org_email:
        participants.insert(
            0, Participant(org_email, "organizer", organizer.get("displayName"), org_response)
        )
    head_count = len({str(a["email"]).strip().lower() for a in humans} | ({org_email} - {""}))
    return Interaction(
        source_id=event_source_id(calendar_id, str(eid)),
        kind="meeting",
        occurred_at=start,
        ends_at=end,
        participants=tuple(participants),
        subject=event.get("summary") or None,
        thread_id=event.get("recurringEventId") or event.get("iCalUID") or None,
        flags=int(flags),
        head_count=head_count,
        scope=scope_of(calendar_id),
    )


class CalendarSync:
    def __init__(
        self,
        service: Any,
        caller: Caller,
        *,
        since: datetime,
        timezone: str = "UTC",
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        source_name: str = "calendar",
    ):
        self.service = service
        self.caller = caller
        self.since = since
        self.tz = _zone(timezone) or ZoneInfo("UTC")
        self.include = include
        self.exclude = exclude
        self.source_name = source_name
        self.resyncs = 0

    def calendars(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        token = None
        while True:
            req = self.service.calendarList().list(pageToken=token, maxResults=250)
            page = self.caller.call(req, "calendarList.list")
            entries += [e for e in page.get("items") or () if isinstance(e, dict)]
            token = page.get("nextPageToken")
            if not token:
                return entries

    def fetch(self, state: dict[str, Any]) -> Iterator[tuple[Batch, bool]]:
        known: dict[str, Any] = state.setdefault("calendars", {})
        chosen = choose_calendars(self.calendars(), self.include, self.exclude)
        ids = [str(c["id"]) for c in chosen if c.get("id")]
        for gone in [cid for cid in known if cid not in ids]:
            # Unsubscribed or excluded: sweep its events with an empty full sync.
            del known[gone]
            yield Batch(full_sync_start=[scope_of(gone)], full_sync_end=[scope_of(gone)]), True
        for cid in ids:
            yield from self._calendar(cid, known)

    def _calendar(self, cid: str, known: dict[str, Any]) -> Iterator[tuple[Batch, bool]]:
        from googleapiclient.errors import HttpError

        token = (known.get(cid) or {}).get("sync_token")
        full = token is None
        page_token: str | None = None
        first = True
        while True:
            params: dict[str, Any] = {
                "calendarId": cid,
                "singleEvents": True,
                "maxResults": 2500,
                "fields": EVENT_FIELDS,
            }
            if token:
                params["syncToken"] = token  # and no timeMin/timeMax with it
            else:
                params["timeMin"] = self.since.isoformat().replace("+00:00", "Z")
            if page_token:
                params["pageToken"] = page_token
            try:
                page = self.caller.call(self.service.events().list(**params), "events.list")
            except HttpError as e:
                if http_status(e) == 404:
                    # Deleted or unshared since calendarList answered: sweep what we had.
                    known.pop(cid, None)
                    yield (
                        Batch(full_sync_start=[scope_of(cid)], full_sync_end=[scope_of(cid)]),
                        True,
                    )
                    return
                if http_status(e) != 410:
                    raise
                if full:  # expired right after a full sync: never loop
                    raise CursorExpiredError(
                        f"{self.source_name}: calendar {cid} refused a fresh sync token"
                    ) from e
                self.resyncs += 1
                token, full, page_token, first = None, True, None, True
                continue
            batch = Batch()
            for item in page.get("items") or ():
                eid = item.get("id") if isinstance(item, dict) else None
                if item.get("status") == "cancelled" and eid:
                    batch.deletions.append(event_source_id(cid, str(eid)))
                    continue
                try:
                    batch.upserts.append(normalize_event(item, cid, self.tz))
                except (ValueError, TypeError, KeyError) as e:
                    batch.skipped.append(Skip(f"calendar {cid} event {eid}", str(e)))
            if full and first:
                batch.full_sync_start.append(scope_of(cid))
            first = False
            page_token = page.get("nextPageToken")
            if page_token:
                yield batch, False
                continue
            if full:
                batch.full_sync_end.append(scope_of(cid))
            next_token = page.get("nextSyncToken")
            known[cid] = {"sync_token": next_token} if next_token else {}
            yield batch, True
            return
