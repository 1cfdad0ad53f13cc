"""Graph messages -> Interactions (metadata only; never body, bodyPreview or uniqueBody).

Graph hands us structured recipients, so interactions are built from them directly; the
``internetMessageHeaders`` (when Graph returns them: never for Sent Items, maybe not under
Mail.ReadBasic, api-facts §7/§8.2) only add the bulk/automated flags and In-Reply-To, through the
shared header parser.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.email_headers import HeaderError, interaction_from_headers
from syncd.models import Flag, Interaction, Participant, Role, Skip

# What the rules need, nothing more (api-facts §13.4). ``subject`` feeds the digest's
# "last contact" line.
MESSAGE_FIELDS = (
    "id",
    "subject",
    "from",
    "sender",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "sentDateTime",
    "receivedDateTime",
    "conversationId",
    "internetMessageId",
    "isDraft",
    "inferenceClassification",
)
HEADERS_FIELD = "internetMessageHeaders"
FORBIDDEN_FIELDS = frozenset({"body", "bodyPreview", "uniqueBody"})

# Well-known folders whose name is itself a fact about the mail in them.
FOLDER_FLAGS: dict[str, Flag] = {
    "sentitems": Flag.SENT,  # the user's own sent mail: the strongest signal
    "drafts": Flag.DRAFT,
    "junkemail": Flag.SPAM,
    "deleteditems": Flag.TRASH,
}
_RECIPIENT_ROLES: tuple[tuple[str, Role], ...] = (
    ("toRecipients", "to"),
    ("ccRecipients", "cc"),
    ("bccRecipients", "bcc"),
)


def select_fields(with_headers: bool) -> str:
    fields = MESSAGE_FIELDS + ((HEADERS_FIELD,) if with_headers else ())
    assert not FORBIDDEN_FIELDS & set(fields)
    return ",".join(fields)


def parse_datetime(value: Any, zone: str = "UTC") -> datetime:
    """Graph's ISO 8601 times (``Z``, offsets, or 7 fractional digits in dateTimeTimeZone)."""
    if not isinstance(value, str) or not value:
        raise ValueError("missing date")
    s = value.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    head, sep, frac = s.partition(".")
    if sep:  # Python accepts at most 6 fractional digits
        digits = "".join(c for c in frac if c.isdigit())
        tail = frac[len(digits) :]
        s = f"{head}.{digits[:6]}{tail}"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        try:
            dt = dt.replace(tzinfo=ZoneInfo(zone) if zone and zone != "UTC" else UTC)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {zone!r}") from e
    return dt.astimezone(UTC)


def _recipient(value: Any) -> tuple[str | None, str | None]:
    """(address, name) of a Graph recipient; address None when it is not an SMTP address."""
    if not isinstance(value, dict):
        return None, None
    ea = value.get("emailAddress")
    if not isinstance(ea, dict):
        return None, None
    addr = str(ea.get("address") or "").strip().lower()
    name = str(ea.get("name") or "").strip() or None
    # Exchange-internal senders can show up as X.500 DNs ("/O=EXCHANGELABS/..."): no address.
    if "@" not in addr or any(c.isspace() for c in addr):
        return None, name
    return addr, name


def message_to_interaction(
    item: dict[str, Any], folder: str, *, since: datetime | None = None
) -> Interaction | Skip | None:
    """One delta item as an Interaction; Skip when unusable; None when older than ``since``."""
    msg_id = item.get("id")
    if not isinstance(msg_id, str) or not msg_id:
        return Skip(f"outlook {folder}", "message without an id")
    where = f"outlook {folder} {msg_id}"
    flags = int(FOLDER_FLAGS.get(folder, Flag.NONE))
    if item.get("isDraft") is True:
        flags |= Flag.DRAFT
    if str(item.get("inferenceClassification") or "").lower() == "other":
        flags |= Flag.CATEGORY
    # The user's own mail is dated when sent; received mail when it arrived (sentDateTime is
    # whatever the sender's clock said).
    order = ("sentDateTime", "receivedDateTime")
    if not flags & Flag.SENT:
        order = order[::-1]
    occurred_at = None
    for key in order:
        try:
            occurred_at = parse_datetime(item.get(key))
            break
        except ValueError:
            continue
    if occurred_at is None:
        return Skip(where, "no usable sentDateTime or receivedDateTime")
    if since is not None and occurred_at < since:
        return None
    participants: list[Participant] = []
    sender, sender_name = _recipient(item.get("from")) if "from" in item else (None, None)
    if sender is None:
        sender, sender_name = _recipient(item.get("sender"))
    if sender is not None:
        participants.append(Participant(sender, "from", sender_name))
    elif not flags & (Flag.SENT | Flag.DRAFT):
        return Skip(where, "no sender address")
    head_count = 0
    for key, role in _RECIPIENT_ROLES:
        recipients = item.get(key) or []
        if not isinstance(recipients, list):
            return Skip(where, f"{key} is not a list")
        head_count += len(recipients)
        for r in recipients:
            addr, name = _recipient(r)
            if addr is not None:
                participants.append(Participant(addr, role, name))
    in_reply_to = None
    headers = item.get(HEADERS_FIELD)
    if isinstance(headers, list) and headers:
        pairs = [
            (str(h.get("name", "")), str(h.get("value", "")))
            for h in headers
            if isinstance(h, dict)
        ]
        if not any(n.lower() == "date" for n, _ in pairs):
            pairs.append(("Date", format_datetime(occurred_at)))
        try:
            parsed = interaction_from_headers(pairs, source_id="x")
            flags |= parsed.flags
            in_reply_to = parsed.in_reply_to
        except HeaderError:
            pass  # headers only add flags; the structured fields above are the facts
    message_id = item.get("internetMessageId")
    if isinstance(message_id, str) and message_id.strip():
        message_id = message_id.strip().strip("<>")
    else:
        message_id = None
    subject = item.get("subject")
    return Interaction(
        source_id=f"msg:{msg_id}",
        kind="email",
        occurred_at=occurred_at,
        participants=tuple(participants),
        subject=subject if isinstance(subject, str) else None,
        thread_id=item.get("conversationId") or None,
        message_id=message_id,
        in_reply_to=in_reply_to,
        flags=flags,
        head_count=head_count,
        scope=folder,
    )
