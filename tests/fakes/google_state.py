"""The data behind the fake Google server: one mailbox, calendars and contacts per user.

Kept apart from the HTTP layer (google_server.py) so that tests and the benchmark can fill
and change it directly: add mail, move it to SPAM, cancel an event, expire a history id.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

GMAIL_METADATA = "https://www.googleapis.com/auth/gmail.metadata"
GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
CALENDAR_READONLY = "https://www.googleapis.com/auth/calendar.readonly"
CONTACTS_READONLY = "https://www.googleapis.com/auth/contacts.readonly"
OTHER_CONTACTS_READONLY = "https://www.googleapis.com/auth/contacts.other.readonly"
ALL_SCOPES = (
    GMAIL_METADATA,
    GMAIL_SEND,
    CALENDAR_READONLY,
    CONTACTS_READONLY,
    OTHER_CONTACTS_READONLY,
)


@dataclass
class Message:
    id: str
    thread_id: str
    labels: list[str]
    internal_date: int  # epoch ms
    headers: list[tuple[str, str]]
    history_id: int


@dataclass
class Mailbox:
    email: str
    messages: dict[str, Message] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    history_id: int = 1000
    min_history_id: int = 0  # startHistoryId below this answers 404 (expired)
    sent: list[str] = field(default_factory=list)  # raw MIME of messages.send
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _order: list[str] | None = None  # ids, newest first (cached)

    def _bump(self) -> int:
        self.history_id += 7  # not contiguous, like Gmail's
        return self.history_id

    def add(
        self,
        *,
        sender: str,
        to: list[str] | str,
        when: datetime,
        subject: str = "hello",
        labels: list[str] | None = None,
        cc: list[str] | None = None,
        extra: list[tuple[str, str]] | None = None,
        date_header: str | None = None,
        thread_id: str | None = None,
        record: bool = True,
    ) -> str:
        """Deliver (or send) one message; returns its id."""
        mid = f"{next(self._ids):016x}"
        to = [to] if isinstance(to, str) else to
        headers = [("From", sender), ("To", ", ".join(to))]
        if cc:
            headers.append(("Cc", ", ".join(cc)))
        headers += [
            ("Subject", subject),
            ("Date", date_header if date_header is not None else format_datetime(when)),
            ("Message-ID", f"<{mid}@fake.example>"),
            ("X-Unrequested", "never asked for"),
        ]
        headers += extra or []
        hid = self._bump() if record else self.history_id
        msg = Message(
            mid,
            thread_id or f"t{mid}",
            list(labels if labels is not None else ["INBOX"]),
            int(when.timestamp() * 1000),
            headers,
            hid,
        )
        self.messages[mid] = msg
        self._order = None
        if record:
            added = {"id": mid, "threadId": msg.thread_id, "labelIds": list(msg.labels)}
            self.history.append(
                {"id": str(hid), "messages": [added], "messagesAdded": [{"message": added}]}
            )
        return mid

    def delete(self, mid: str) -> None:
        msg = self.messages.pop(mid)
        self._order = None
        hid = self._bump()
        ref = {"id": mid, "threadId": msg.thread_id}
        self.history.append(
            {"id": str(hid), "messages": [ref], "messagesDeleted": [{"message": ref}]}
        )

    def relabel(self, mid: str, add: list[str] = (), remove: list[str] = ()) -> None:  # type: ignore[assignment]
        msg = self.messages[mid]
        hid = self._bump()
        msg.labels = [x for x in msg.labels if x not in remove] + [
            x for x in add if x not in msg.labels
        ]
        msg.history_id = hid
        ref = {"id": mid, "threadId": msg.thread_id, "labelIds": list(msg.labels)}
        rec: dict[str, Any] = {"id": str(hid), "messages": [ref]}
        if add:
            rec["labelsAdded"] = [{"message": ref, "labelIds": list(add)}]
        if remove:
            rec["labelsRemoved"] = [{"message": ref, "labelIds": list(remove)}]
        self.history.append(rec)

    def expire_history(self) -> None:
        """Every historyId older than the current one answers 404, as after a week idle."""
        self.min_history_id = self.history_id

    def order(self) -> list[str]:
        if self._order is None:
            self._order = sorted(
                self.messages, key=lambda m: (-self.messages[m].internal_date, m), reverse=False
            )
        return self._order


@dataclass
class Calendar:
    entry: dict[str, Any]
    events: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    seq: int = 0
    min_seq: int = 0  # sync tokens below this answer 410

    def put(self, event: dict[str, Any]) -> None:
        self.seq += 1
        self.events[event["id"]] = (self.seq, event)

    def cancel(self, event_id: str) -> None:
        self.seq += 1
        old = self.events[event_id][1]
        stub = {"id": event_id, "status": "cancelled"}
        if "recurringEventId" in old:
            stub["recurringEventId"] = old["recurringEventId"]
            stub["originalStartTime"] = old["start"]
        self.events[event_id] = (self.seq, stub)

    def expire_tokens(self) -> None:
        self.min_seq = self.seq + 1


@dataclass
class AddressBook:
    people: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    seq: int = 0
    min_seq: int = 0

    def put(self, person: dict[str, Any]) -> None:
        self.seq += 1
        self.people[person["resourceName"]] = (self.seq, person)

    def delete(self, resource_name: str) -> None:
        self.seq += 1
        stub = {"resourceName": resource_name, "metadata": {"deleted": True}}
        self.people[resource_name] = (self.seq, stub)

    def expire_tokens(self) -> None:
        self.min_seq = self.seq + 1


@dataclass
class User:
    email: str
    mailbox: Mailbox
    calendars: dict[str, Calendar] = field(default_factory=dict)
    contacts: AddressBook = field(default_factory=AddressBook)
    other_contacts: AddressBook = field(default_factory=AddressBook)

    def add_calendar(
        self, cid: str, summary: str = "", access_role: str = "owner", primary: bool = False
    ) -> Calendar:
        entry = {"kind": "calendar#calendarListEntry", "id": cid, "summary": summary or cid}
        entry["accessRole"] = access_role
        if primary:
            entry["primary"] = True
        cal = self.calendars[cid] = Calendar(entry)
        return cal


def event(
    eid: str,
    start: datetime,
    end: datetime,
    *,
    organizer: str,
    attendees: list[dict[str, Any]] | None = None,
    summary: str = "meeting",
    **extra: Any,
) -> dict[str, Any]:
    """An events.list item as Google returns it (timed, with an offset)."""
    item = {
        "kind": "calendar#event",
        "id": eid,
        "status": "confirmed",
        "summary": summary,
        "description": "private notes that must never be requested",
        "start": {"dateTime": start.astimezone(UTC).isoformat().replace("+00:00", "Z")},
        "end": {"dateTime": end.astimezone(UTC).isoformat().replace("+00:00", "Z")},
        "organizer": {"email": organizer},
        "eventType": "default",
        "iCalUID": f"{eid}@google.com",
    }
    if attendees is not None:
        item["attendees"] = attendees
    item.update(extra)
    return item


def person(
    resource: str, name: str | None, emails: list[str], birthday: dict[str, int] | None = None
) -> dict[str, Any]:
    p: dict[str, Any] = {"resourceName": resource, "etag": "e"}
    if name:
        p["names"] = [{"displayName": name, "metadata": {"primary": True}}]
    if emails:
        p["emailAddresses"] = [{"value": e} for e in emails]
    if birthday:
        p["birthdays"] = [{"date": birthday}]
    return p
