"""Graph contacts -> syncd Contacts: names, extra addresses (identity merge), birthdays."""

from __future__ import annotations

from datetime import date
from typing import Any

from connectors.outlook_mail import parse_datetime
from syncd.models import Contact, Skip

# /me/contacts?$select=...: only what identity and birthdays need.
CONTACT_FIELDS = "id,displayName,emailAddresses,birthday"


def contact_from_graph(item: Any) -> Contact | Skip:
    """A Graph contact as names, addresses and a birthday (year 1900 = year unknown)."""
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        return Skip("outlook contacts", "contact without an id")
    emails: list[str] = []
    for e in item.get("emailAddresses") or []:
        addr = str((e or {}).get("address") or "").strip().lower() if isinstance(e, dict) else ""
        if "@" in addr and addr not in emails:
            emails.append(addr)
    birthday: date | None = None
    raw = item.get("birthday")
    if isinstance(raw, str) and raw:
        try:
            # Outlook stores birthdays near midday UTC; the calendar date is the fact. Year
            # 1604 is Outlook's "no year".
            b = parse_datetime(raw).date() if "T" in raw else date.fromisoformat(raw[:10])
            birthday = date(1900, b.month, b.day) if b.year <= 1604 else b
        except ValueError:
            birthday = None
    name = item.get("displayName")
    return Contact(
        source_id=f"contact:{item['id']}",
        name=name.strip() if isinstance(name, str) and name.strip() else None,
        emails=tuple(emails),
        birthday=birthday,
    )
