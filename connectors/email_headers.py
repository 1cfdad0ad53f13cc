"""Email headers -> one :class:`~syncd.models.Interaction`: shared by mbox, IMAP, Gmail, Outlook.

The public surface is small:

``HEADER_FIELDS``
    the header names the rules need (for IMAP ``BODY.PEEK[HEADER.FIELDS (...)]`` and Gmail's
    ``metadataHeaders``); other headers are ignored.
``interaction_from_headers(headers, *, source_id=None, scope="", flags=0)``
    ``headers`` is an :class:`email.message.Message` (from a headers-only parser, any policy) or
    a sequence of ``(name, value)`` pairs. Raises :class:`HeaderError` when the message has no
    usable Date; the caller turns that into a ``Skip``.
``header_pairs(block)``
    the ``(name, value)`` pairs of the ``HEADER_FIELDS`` found in a raw header block (bytes),
    a fast alternative to a full ``BytesHeaderParser`` parse when only these fields matter.
``flags_from_gmail_labels(labels)``
    Takeout's ``X-Gmail-Labels`` value, or Gmail API label names/ids, as :class:`Flag` bits.

Parsing choices: addresses go through :func:`email.utils.getaddresses` (forgiving, keeps the
old-style ``addr (Name)`` comment as the name, and about 10x faster than
``email.headerregistry``, which drops comment names and raises on some group syntax); display
names and subjects are decoded with :mod:`email.header`. Raw 8-bit bytes (surrogate-escaped by
the bytes parsers) are read as UTF-8 with replacement characters, never raised on.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache

from syncd.models import Flag, Interaction, Participant, Role

HEADER_FIELDS: tuple[str, ...] = (
    "From",
    "To",
    "Cc",
    "Bcc",
    "Date",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    "List-Id",
    "List-Unsubscribe",
    "Precedence",
    "Auto-Submitted",
    "X-Autoreply",
    "X-Autorespond",
    "Return-Path",
    "Content-Type",
    "X-Syncd-Digest",
    "X-GM-THRID",
    "X-Gmail-Labels",
)
_WANTED = frozenset(h.lower() for h in HEADER_FIELDS)
_CANONICAL = {h.lower(): h for h in HEADER_FIELDS}

SUBJECT_MAX = 300  # characters kept of a decoded subject
_SUBJECT_RAW_MAX = 8000  # raw characters decoded at most (a 200 KB subject exists in the wild)

_ADDRESS_ROLES: tuple[tuple[str, Role], ...] = (("to", "to"), ("cc", "cc"), ("bcc", "bcc"))
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_MSG_ID = re.compile(r"<([^<>\s]+)>")
_DOMAIN_JUNK = re.compile(r"[\s<>(),;:\\\"@]")
# ``alice@example.com <bob@example.com>``: an unquoted address used as a display name (common in
# phishing). getaddresses() would report two mailboxes; quoting the phrase gives the real one.
_BARE_ADDRESS_PHRASE = re.compile(r'(^|,)\s*([^\s",<>()]+@[^\s",<>()]+)\s+<')
_DATE_COMMENT = re.compile(r"\([^()]*\)")
# One mailbox of a list: quoted strings, comments and angle-addrs may hold commas; a top-level
# ':' or ';' (group syntax, obsolete routes) sends the whole value to getaddresses() instead.
_MAILBOX = r'(?:"(?:[^"\\]|\\.)*"|\((?:[^()\\]|\\.)*\)|<[^<>]*>|[^,"()<>:;])*'
_ADDRESS_LIST = re.compile(rf"{_MAILBOX}(?:,{_MAILBOX})*")
_LIST_ITEM = re.compile(rf"({_MAILBOX})(?:,|\Z)")

_GMAIL_LABEL_FLAGS: dict[str, Flag] = {
    "sent": Flag.SENT,
    "spam": Flag.SPAM,
    "trash": Flag.TRASH,
    "draft": Flag.DRAFT,
    "drafts": Flag.DRAFT,
    "chat": Flag.CHAT,
    "category promotions": Flag.CATEGORY,
    "category social": Flag.CATEGORY,
    "category updates": Flag.CATEGORY,
    "category forums": Flag.CATEGORY,
}


# Plain ints: IntFlag arithmetic is slow in a per-message loop.
_LIST, _BULK, _AUTOMATED = int(Flag.LIST), int(Flag.BULK), int(Flag.AUTOMATED)
_AUTO_REPLY, _DIGEST = int(Flag.AUTO_REPLY), int(Flag.DIGEST)


class HeaderError(ValueError):
    """The headers cannot make an interaction (no Date, or a Date that is not a date)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


HeaderSource = Message | Sequence[tuple[str, str]]


def interaction_from_headers(
    headers: HeaderSource,
    *,
    source_id: str | None = None,
    scope: str = "",
    flags: int = 0,
) -> Interaction:
    """Normalize one message's headers into an email Interaction (facts only, no judgment).

    ``source_id`` defaults to ``"mid:<Message-ID>"``, else ``"h:"`` + a SHA-1 of the raw
    header pairs (stable across runs). ``flags`` are OR-ed with the flags the headers imply.
    """
    pairs = _raw_pairs(headers)
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        key = name.strip().lower()
        if key in _WANTED:
            fields.setdefault(key, []).append(_unfold(str(value)))

    def first(name: str) -> str | None:
        values = fields.get(name)
        return values[0] if values else None

    occurred_at = _parse_date(first("date"))

    participants: list[Participant] = []
    seen: set[tuple[str, str]] = set()
    recipients: set[str] = set()
    for header, role in (("from", "from"), *_ADDRESS_ROLES):
        for value in fields.get(header, ()):
            for display, address in _parse_addresses(value):
                if role != "from":
                    recipients.add(address)
                if (address, role) not in seen:
                    seen.add((address, role))
                    participants.append(Participant(address=address, role=role, name=display))

    message_id = _first_msg_id(first("message-id"))
    in_reply_to = _first_msg_id(first("in-reply-to"))
    references = _first_msg_id(first("references"))
    thread_id = (first("x-gm-thrid") or "").strip() or references or in_reply_to or message_id

    subject = first("subject")
    if source_id is None:
        source_id = f"mid:{message_id}" if message_id else "h:" + _pairs_digest(pairs)

    return Interaction(
        source_id=source_id,
        kind="email",
        occurred_at=occurred_at,
        participants=tuple(participants),
        subject=_decode_subject(subject) if subject is not None else None,
        thread_id=thread_id,
        message_id=message_id,
        in_reply_to=in_reply_to,
        flags=int(flags) | _flags_from_fields(fields),
        head_count=len(recipients),
        scope=scope,
    )


def flags_from_gmail_labels(labels: str | Iterable[str]) -> int:
    """Flag bits for Gmail labels: a Takeout ``X-Gmail-Labels`` value (comma separated,
    possibly quoted) or an iterable of label names or API ids (``CATEGORY_SOCIAL``)."""
    if isinstance(labels, str):
        row = next(csv.reader([_unfold(labels)], skipinitialspace=True), [])
        labels = row
    result = 0
    for label in labels:
        key = " ".join(label.replace("_", " ").lower().split())
        result |= _GMAIL_LABEL_FLAGS.get(key, 0)
    return result


def header_pairs(block: bytes) -> list[tuple[str, str]]:
    """The ``HEADER_FIELDS`` of a raw header block as ``(name, value)`` pairs, in order.

    Folded values are unfolded (RFC 5322 2.2.3: CRLF removed, whitespace kept). Values are
    surrogate-escaped like the ``email`` bytes parsers do, so 8-bit garbage is kept for
    :func:`interaction_from_headers` to read leniently. Other fields are skipped without
    being decoded: about 5x faster than ``BytesHeaderParser`` on a typical header block.
    """
    out: list[tuple[str, str]] = []
    name: str | None = None
    parts: list[bytes] = []
    for line in block.removeprefix(b"\xef\xbb\xbf").split(b"\n"):
        if line[:1] in (b" ", b"\t"):  # a continuation line
            if name is not None:
                parts.append(line.rstrip(b"\r"))
            continue
        if name is not None:
            out.append((name, b"".join(parts).strip().decode("ascii", "surrogateescape")))
            name = None
        field, colon, value = line.partition(b":")
        if colon:
            key = field.strip().lower().decode("ascii", "replace")
            if key in _WANTED:
                name, parts = _CANONICAL[key], [value.rstrip(b"\r")]
    if name is not None:
        out.append((name, b"".join(parts).strip().decode("ascii", "surrogateescape")))
    return out


# -- helpers ------------------------------------------------------------------------------------


def _raw_pairs(headers: HeaderSource) -> list[tuple[str, str]]:
    if isinstance(headers, Message):
        # raw_items(): the values as parsed, without the policy's (slow) header objects.
        return [(n, str(v)) for n, v in headers.raw_items()]
    return [(str(n), str(v)) for n, v in headers]


def _unfold(value: str) -> str:
    return (_FOLD.sub("", value) if "\n" in value else value).strip()


def _text(value: str) -> str:
    """Raw 8-bit bytes arrive surrogate-escaped: read them as UTF-8, replacing garbage."""
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words; undecodable input is returned as it is."""
    value = _text(value)
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, UnicodeError, ValueError, AssertionError):
        # Unknown charset or a broken encoded word: keep what can be read.
        try:
            return "".join(
                part.decode(_charset_or_utf8(cs), "replace") if isinstance(part, bytes) else part
                for part, cs in decode_header(value)
            )
        except Exception:
            return value


def _charset_or_utf8(charset: str | None) -> str:
    if not charset:
        return "utf-8"
    try:
        "".encode(charset)
    except LookupError:
        return "utf-8"
    return charset


def _decode_subject(raw: str) -> str:
    if len(raw) > _SUBJECT_RAW_MAX:
        cut = raw.rfind(" ", 0, _SUBJECT_RAW_MAX)
        raw = raw[: cut if cut > 0 else _SUBJECT_RAW_MAX]
    text = " ".join(_decode_words(raw).split())
    return text[:SUBJECT_MAX]


@lru_cache(maxsize=4096)  # header values repeat (the same From on every mail of a person)
def _parse_addresses(value: str) -> tuple[tuple[str | None, str], ...]:
    text = _text(value)
    if len(text) < 8192 and _ADDRESS_LIST.fullmatch(text):
        # A plain list (no group syntax): parse each mailbox on its own, so that the cache
        # below serves a person's mailbox whatever company it keeps in To and Cc.
        out: list[tuple[str | None, str]] = []
        for item in _LIST_ITEM.findall(text):
            if item.strip():
                out.extend(_parse_list(item.strip()))
        return tuple(out)
    return _parse_list(text)


@lru_cache(maxsize=16384)
def _parse_list(text: str) -> tuple[tuple[str | None, str], ...]:
    if "<" in text:
        text = _BARE_ADDRESS_PHRASE.sub(r'\1 "\2" <', text)
    try:
        parsed = getaddresses([text])
    except Exception:  # the parser has had IndexError bugs on hostile input: drop, never crash
        return ()
    out: list[tuple[str | None, str]] = []
    for name, addr in parsed:
        address = _normalize_address(addr)
        if address is None:
            continue
        display = " ".join(_decode_words(name).split()) if name else ""
        out.append((display or None, address))
    return tuple(out)


def _normalize_address(addr: str) -> str | None:
    """Lowercased ``local@domain``, or None for junk that is not an address."""
    s = addr.strip().strip("<>").strip().lower()
    local, at, domain = s.rpartition("@")
    if not at or not local or not domain or _DOMAIN_JUNK.search(domain) or "\ufffd" in s:
        return None  # not an address, or one whose bytes cannot be read
    if any(c.isspace() for c in local) and not local.startswith('"'):
        return None
    return s


def _parse_date(value: str | None) -> datetime:
    if value is None or not value.strip():
        raise HeaderError("no Date header")
    text = _text(value)
    if "(" in text:  # "00:19:00 (EDT) -0400": a comment before the zone hides the zone
        text = _DATE_COMMENT.sub(" ", text)
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError) as e:
        raise HeaderError(f"unparseable Date {value[:80]!r}: {e}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError) as e:
        raise HeaderError(f"Date out of range {value[:80]!r}: {e}") from None


def _first_msg_id(value: str | None) -> str | None:
    if not value:
        return None
    m = _MSG_ID.search(value)
    if m:
        return _text(m.group(1))
    token = value.split()[0].strip("<>") if value.split() else ""
    return _text(token) or None


def _token(value: str) -> str:
    """The first word of a structured value, lowercased (``auto-replied; x=y``)."""
    return value.split(";", 1)[0].strip().lower()


def _flags_from_fields(fields: dict[str, list[str]]) -> int:
    flags = 0
    if any(v for v in fields.get("list-id", ())):
        flags |= _LIST
    if "list-unsubscribe" in fields or any(
        _token(v) in ("bulk", "list", "junk") for v in fields.get("precedence", ())
    ):
        flags |= _BULK
    for value in fields.get("auto-submitted", ()):
        token = _token(value)
        if token and token != "no":
            flags |= _AUTOMATED
            if token.startswith("auto-replied"):
                flags |= _AUTO_REPLY
    if "x-autoreply" in fields or "x-autorespond" in fields:
        flags |= _AUTO_REPLY | _AUTOMATED
    if any(v.replace(" ", "") == "<>" for v in fields.get("return-path", ())):
        flags |= _AUTOMATED
    if any(_token(v) == "multipart/report" for v in fields.get("content-type", ())):
        flags |= _AUTOMATED  # DSN, MDN and ARF reports
    if "x-syncd-digest" in fields:
        flags |= _DIGEST
    for value in fields.get("x-gmail-labels", ()):
        flags |= flags_from_gmail_labels(value)
    return flags


def _pairs_digest(pairs: list[tuple[str, str]]) -> str:
    h = hashlib.sha1(usedforsecurity=False)
    for name, value in pairs:
        h.update(name.encode("utf-8", "surrogateescape"))
        h.update(b":")
        h.update(str(value).encode("utf-8", "surrogateescape"))
        h.update(b"\n")
    return h.hexdigest()
