"""Google Contacts through the People API: names, every address, birthdays.

Contacts merge identities (one person, several addresses) and give the digest its names and
birthdays; "Other contacts" (people the user wrote to) only give names. Both are synced with
sync tokens; a token expires 7 days after its full sync (400 ``EXPIRED_SYNC_TOKEN``), so we
start a full sync ourselves every 6 days (api-facts.md §13.3).

State (the ``"people"`` part of the source cursor)::

    {"connections": {"sync_token": "...", "full_sync_at": "2024-05-01T10:00:00+00:00"},
     "other": {...}}
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connectors.google_quota import Caller, error_reasons, http_status
from syncd.errors import CursorExpiredError
from syncd.models import Batch, Contact, Skip

FULL_SYNC_EVERY = timedelta(days=6)
PERSON_FIELDS = "names,emailAddresses,birthdays,metadata"
OTHER_FIELDS = "names,emailAddresses,metadata"


def _primary(items: Any) -> dict[str, Any] | None:
    items = [i for i in items or () if isinstance(i, dict)]
    for item in items:
        if (item.get("metadata") or {}).get("primary"):
            return item
    return items[0] if items else None


def _birthday(person: dict[str, Any]) -> date | None:
    bday = _primary(person.get("birthdays"))
    d = (bday or {}).get("date") or {}
    try:
        # Year 0 or absent: "a date without a year"; the model uses 1900 for that.
        return date(int(d.get("year") or 1900), int(d["month"]), int(d["day"]))
    except (KeyError, TypeError, ValueError):
        return None


def normalize_person(person: dict[str, Any]) -> Contact:
    name = _primary(person.get("names"))
    emails = []
    for e in person.get("emailAddresses") or ():
        value = str((e or {}).get("value") or "").strip().lower()
        if "@" in value and value not in emails:
            emails.append(value)
    return Contact(
        source_id=str(person["resourceName"]),
        name=((name or {}).get("displayName") or None),
        emails=tuple(emails),
        birthday=_birthday(person),
    )


class PeopleSync:
    def __init__(
        self,
        service: Any,
        caller: Caller,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        other_contacts: bool = True,
        source_name: str = "contacts",
    ):
        self.service = service
        self.caller = caller
        self.now = now
        self.other_contacts = other_contacts
        self.source_name = source_name
        self.full_syncs = 0

    def fetch(self, state: dict[str, Any]) -> Iterator[tuple[Batch, bool]]:
        yield from self._list("connections", state)
        if self.other_contacts:
            yield from self._list("other", state)

    def _request(self, kind: str, sync_token: str | None, page_token: str | None) -> Any:
        extra = {k: v for k, v in (("syncToken", sync_token), ("pageToken", page_token)) if v}
        if kind == "connections":
            return (
                self.service.people()
                .connections()
                .list(
                    resourceName="people/me",
                    personFields=PERSON_FIELDS,
                    pageSize=1000,
                    requestSyncToken=True,
                    **extra,
                )
            )
        return self.service.otherContacts().list(
            readMask=OTHER_FIELDS, pageSize=1000, requestSyncToken=True, **extra
        )

    def _list(self, kind: str, state: dict[str, Any]) -> Iterator[tuple[Batch, bool]]:
        from googleapiclient.errors import HttpError

        st = state.get(kind) or {}
        token = st.get("sync_token")
        try:
            last_full = datetime.fromisoformat(st["full_sync_at"])
        except (KeyError, TypeError, ValueError):
            last_full = None
        if last_full is None or self.now() - last_full >= FULL_SYNC_EVERY:
            token = None
        full = token is None
        page_token: str | None = None
        while True:
            try:
                page = self.caller.call(self._request(kind, token, page_token), f"{kind}.list")
            except HttpError as e:
                expired = http_status(e) == 400 and (
                    "EXPIRED_SYNC_TOKEN" in error_reasons(e) or b"expired" in (e.content or b"")
                )
                if not expired:
                    raise
                if full:
                    raise CursorExpiredError(
                        f"{self.source_name}: People API refused a fresh sync token"
                    ) from e
                token, full, page_token = None, True, None
                continue
            if full and page_token is None:
                self.full_syncs += 1
            key = "connections" if kind == "connections" else "otherContacts"
            batch = Batch()
            for person in page.get(key) or ():
                if not isinstance(person, dict) or not person.get("resourceName"):
                    batch.skipped.append(Skip(f"{kind}", "person without resourceName"))
                    continue
                meta = person.get("metadata") or {}
                # Renamed resources: the old name's entry is replaced by the new one.
                batch.contact_deletions += [str(p) for p in meta.get("previousResourceNames") or ()]
                if meta.get("deleted"):
                    batch.contact_deletions.append(str(person["resourceName"]))
                else:
                    batch.contacts.append(normalize_person(person))
            page_token = page.get("nextPageToken")
            if page_token:
                yield batch, False
                continue
            new = {"sync_token": page.get("nextSyncToken")}
            new["full_sync_at"] = (
                self.now().isoformat() if full else st.get("full_sync_at", self.now().isoformat())
            )
            state[kind] = new
            yield batch, True
            return
