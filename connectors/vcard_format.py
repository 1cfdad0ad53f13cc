"""The vCard format as contact exports and CardDAV servers write it: bytes, lines, cards, facts.

Shared by the ``vcard`` file source (:mod:`connectors.vcard`) and CardDAV
(:mod:`connectors.carddav`). Reading goes in three steps, each tolerant in its own way:

1. :func:`iter_lines`: bytes to text lines. A UTF-16 byte order mark (or the NUL pattern of
   UTF-16 without one) decodes the whole stream as UTF-16; a UTF-8 BOM is dropped; otherwise
   each line is UTF-8 if it decodes, else Windows-1252 (Outlook, old phones), else Latin-1, so
   one stray byte never garbles a whole file (a line folded inside a UTF-8 character is
   unfolded first). Lines are split on LF only (CRLF's CR is stripped): other Unicode line
   breaks inside values are data.
2. :func:`split_cards`: lines to :class:`RawCard` objects (numbered from 1) between
   ``BEGIN:VCARD`` and ``END:VCARD``. A missing ``END:VCARD`` (a truncated export) ends the
   card where the next ``BEGIN:VCARD`` or the file does. The card embedded in a vCard 2.1
   ``AGENT`` property stays out of its host card. Text outside cards is ignored.
3. :func:`parse_card`: one card to a :class:`Card` (UID, name, addresses, birthday), read
   with ``vobject`` (what Radicale validates with): it unfolds lines, decodes vCard 2.1
   quoted-printable (Android's ``CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE``) and unescapes
   values. Only the properties syncd reads are handed to vobject; photos (large base64
   blocks), labels and the dozens of properties syncd never reads are dropped unparsed, so a
   broken photo costs no contact and a file of thousands of cards reads fast. A card whose
   read properties do not parse raises :class:`CardError` with a one-line reason.
"""

from __future__ import annotations

import codecs
import email.utils
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, BinaryIO

UNKNOWN_YEAR = 1900  # what syncd.models.Contact uses for "year unknown"

# The properties syncd reads; every other one is dropped before vobject sees the card.
# X-ABUID: macOS Contacts exports carry no UID, but this, stable across its exports.
READ_PROPERTIES = frozenset({"VERSION", "UID", "X-ABUID", "FN", "N", "EMAIL", "BDAY"})

# A property line: optional group (Apple's item1.EMAIL), name, then parameters or the value.
# None of these allow leading whitespace: a line that starts with it continues the one before.
_PROPERTY = re.compile(r"(?:[A-Za-z0-9_-]+\.)?([A-Za-z0-9_-]+)[ \t]*[;:]")
_BEGIN = re.compile(r"BEGIN[ \t]*:[ \t]*VCARD[ \t]*$", re.I)
_END = re.compile(r"END[ \t]*:[ \t]*VCARD[ \t]*$", re.I)
_AGENT_OPEN = re.compile(r"(?:[A-Za-z0-9_-]+\.)?AGENT\b[^:]*:[ \t]*$", re.I)
_UID = re.compile(r"(?:[A-Za-z0-9_-]+\.)?(X-AB)?UID\b[^:]*:(.*)$", re.I)

# 1985-04-12, 19850412, 1985-04-12T00:00:00Z (the time is dropped: the date is the fact).
_FULL = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})(?:T|$)")
# vCard 4 / ISO 8601 truncated forms without a year: --0412, --04-12.
_NO_YEAR = re.compile(r"^--(\d{2})-?(\d{2})$")
# Years that exporters write when they do not know it (0000: some Android and Samsung apps).
_PLACEHOLDER_YEARS = frozenset({"0000"})


class CardError(ValueError):
    """A card whose names, addresses or birthday cannot be read; the message is one line."""


@dataclass(frozen=True, slots=True)
class RawCard:
    """One card's lines as they stand in its file, before any parsing."""

    number: int  # 1-based position in its file
    line: int  # 1-based line of its BEGIN:VCARD
    lines: tuple[str, ...]  # the physical lines between BEGIN:VCARD and END:VCARD
    complete: bool = True  # False when END:VCARD was missing

    def where(self) -> str:
        return f"card {self.number} (line {self.line})"

    def uid_hint(self) -> str | None:
        """The UID as written, found without parsing (to recognise a card that fails to)."""
        found: dict[bool, str] = {}  # is it X-ABUID? -> the first such value
        for text in self.lines:
            if (m := _UID.match(text)) and (uid := _text(m.group(2))):
                found.setdefault(bool(m.group(1)), uid)
        return found.get(False) or found.get(True)  # UID first, as parse_card does


@dataclass(frozen=True, slots=True)
class Card:
    """What syncd reads from one vCard."""

    uid: str | None
    name: str | None
    emails: tuple[str, ...]  # lowercased, without duplicates, in the card's order
    birthday: date | None  # year 1900 when the card does not know the year


# -- 1. bytes to lines ----------------------------------------------------------------------------


def iter_lines(f: BinaryIO) -> Iterator[str]:
    """The text lines of a vCard stream, without line endings (see the module docstring)."""
    head = f.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding: str | None = "utf-16"
    elif len(head) >= 2 and head[0] and not head[1]:
        encoding = "utf-16-le"
    elif len(head) >= 2 and not head[0] and head[1]:
        encoding = "utf-16-be"
    else:
        encoding = None
    if encoding:  # rare (some Windows tools): read whole, not line by line
        for line in (head + f.read()).decode(encoding, "replace").split("\n"):
            yield line.rstrip("\r")
        return
    pending: bytes | None = None  # a line that ends inside a UTF-8 sequence
    for n, raw in enumerate(_chain_first(head, f)):
        raw = raw.rstrip(b"\r\n")
        if n == 0:
            raw = raw.removeprefix(codecs.BOM_UTF8)
        if pending is not None:
            if raw[:1] in (b" ", b"\t"):
                # Folded in the middle of a character (against RFC 6350, but writers that
                # fold by octets do it): unfold here, where the octets can still be joined.
                raw = pending + raw[1:]
            else:
                yield _decode_fallback(pending)
            pending = None
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as e:
            if e.reason == "unexpected end of data":
                pending = raw
            else:
                yield _decode_fallback(raw)
    if pending is not None:
        yield _decode_fallback(pending)


def _chain_first(head: bytes, f: BinaryIO) -> Iterator[bytes]:
    """The LF-terminated byte lines of ``head`` (already read) followed by the rest of ``f``."""
    *complete, pending = head.split(b"\n")
    for piece in complete:
        yield piece + b"\n"
    for raw in f:
        if pending:
            raw, pending = pending + raw, b""
        yield raw
    if pending:
        yield pending


def _decode_fallback(raw: bytes) -> str:
    """A line that is not UTF-8: Windows-1252 (what Outlook and old phones write)."""
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
        return raw.decode("latin-1")


def lines_of(data: bytes) -> list[str]:
    """The text lines of a vCard held in memory (a CardDAV resource)."""
    return list(iter_lines(io.BytesIO(data)))


# -- 2. lines to cards ----------------------------------------------------------------------------


def split_cards(lines: Iterable[str]) -> Iterator[RawCard]:
    """The cards among ``lines``, in order; see the module docstring for what is tolerated."""
    number = 0
    current: list[str] | None = None
    start = 0
    nested = 0  # depth inside an AGENT's embedded card
    for lineno, text in enumerate(lines, 1):
        if current is None:
            if _BEGIN.match(text):
                number, current, start = number + 1, [], lineno
            continue
        if nested:
            if _BEGIN.match(text):
                nested += 1
            elif _END.match(text):
                nested -= 1
            continue
        if _BEGIN.match(text):
            if current and _AGENT_OPEN.match(current[-1]):
                nested = 1
                continue
            yield RawCard(number, start, tuple(current), complete=False)
            number, current, start = number + 1, [], lineno
            continue
        if _END.match(text):
            yield RawCard(number, start, tuple(current))
            current = None
            continue
        current.append(text)
    if current is not None:
        yield RawCard(number, start, tuple(current), complete=False)


# -- 3. one card to its facts ----------------------------------------------------------------------


def read_lines(raw: RawCard) -> list[tuple[int, str]]:
    """The card's physical lines (with their line numbers in the file) that belong to the
    properties syncd reads.

    A property runs over its continuation lines: those starting with a space or tab (folding)
    and, after a line ending in ``=`` of a quoted-printable property, the next line (a vCard
    2.1 soft line break). The quoted-printable test is vobject's own (the property's text
    mentions it), so that vobject groups the kept lines as they were grouped here. A blank
    line ends a property (and a vCard 2.1 base64 block); a line that starts no property
    (garbage, an unindented base64 line) is dropped.
    """
    groups: list[list[tuple[int, str]]] = []
    keep = qp = qp_open = False
    for lineno, text in enumerate(raw.lines, raw.line + 1):
        if not text.strip():
            keep = qp = qp_open = False
            continue
        if not (qp_open or text[0] in " \t"):  # a new property
            m = _PROPERTY.match(text)
            keep = m is not None and m.group(1).upper() in READ_PROPERTIES
            qp = False
            if keep:
                groups.append([])
        if keep:
            groups[-1].append((lineno, text))
        qp = qp or "quoted-printable" in text.lower()
        qp_open = qp and text.endswith("=")
    for lines in groups:
        lineno, last = lines[-1]
        if (len(last) - len(last.rstrip("\\"))) % 2:
            # A value ending in a lone backslash escapes nothing; vobject would read the
            # end of the value as the characters "eof" ("a@b.example\eof").
            lines[-1] = (lineno, last[:-1])
    return [line for lines in groups for line in lines]


def parse_card(raw: RawCard) -> Card:
    """The UID, name, addresses and birthday of one card; CardError when they do not parse."""
    import vobject

    kept = read_lines(raw)
    text = "BEGIN:VCARD\r\n" + "".join(f"{line}\r\n" for _, line in kept) + "END:VCARD\r\n"
    try:
        card = vobject.readOne(text, allowQP=True)
    except vobject.base.VObjectError as e:
        # Its line number counts in the text above (BEGIN:VCARD is line 1): the file's is
        # the one to show.
        n = getattr(e, "lineNumber", None)
        where = f"line {kept[n - 2][0]}: " if isinstance(n, int) and 2 <= n < len(kept) + 2 else ""
        raise CardError(f"unreadable vCard: {where}{_text(e.msg)[:200]}") from None
    except Exception as e:  # vobject raises several unrelated types on bad input
        reason = _text(str(e))[:200] or type(e).__name__
        raise CardError(f"unreadable vCard: {reason}") from None
    contents: dict[str, list[Any]] = card.contents
    return Card(
        uid=_uid(contents),
        name=_name(contents),
        emails=_emails(contents),
        birthday=_birthday(contents),
    )


def _text(value: Any) -> str:
    """A property value as one clean line: control characters (Cc) become spaces, runs of
    whitespace one space. Format characters (Cf: the zero-width joiners of Persian or emoji
    names) stay."""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    text = str(value or "")
    if not text.isprintable():
        text = "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)
    return " ".join(text.split())


def _uid(contents: dict[str, list[Any]]) -> str | None:
    for line in contents.get("uid", []) + contents.get("x-abuid", []):
        uid = _text(line.value)
        if uid:
            return uid
    return None


def _emails(contents: dict[str, list[Any]]) -> tuple[str, ...]:
    emails: list[str] = []
    for line in contents.get("email", []):
        addr = _text(line.value).lower()
        if "<" in addr:  # "Grace Hopper <grace@navy.example>", as some exporters write
            addr = email.utils.parseaddr(addr)[1]
        addr = addr.removeprefix("mailto:")
        if "@" in addr and not any(c.isspace() for c in addr) and addr not in emails:
            emails.append(addr)
    return tuple(emails)


def _name(contents: dict[str, list[Any]]) -> str | None:
    for line in contents.get("fn", []):
        text = _text(line.value)
        if text:
            return text
    for line in contents.get("n", []):  # FN is mandatory, but not every writer knows it
        n = line.value
        parts = [getattr(n, k, "") for k in ("prefix", "given", "additional", "family", "suffix")]
        if not any(parts) and isinstance(n, str):  # a value vobject did not split
            parts = [n]
        text = _text(" ".join(_text(p) for p in parts))
        if text:
            return text
    return None


def _birthday(contents: dict[str, list[Any]]) -> date | None:
    for line in contents.get("bday", []):
        params = {k.upper(): v for k, v in line.params.items()}
        if [str(v).lower() for v in params.get("VALUE", [])] == ["text"]:
            continue  # "circa 1800": words, not a date
        found = parse_birthday(_text(line.value), params.get("X-APPLE-OMIT-YEAR", []))
        if found:
            return found
    return None


def parse_birthday(value: str, omit_year: Iterable[str] = ()) -> date | None:
    """A vCard BDAY as a date; year 1900 when the card does not know the year.

    Apple writes year-less birthdays as ``1604-MM-DD;X-APPLE-OMIT-YEAR=1604``, vCard 4 as
    ``--MMDD``, Google as ``--MM-DD``, some phones as ``0000-MM-DD``. A year-less 29 February
    becomes 28 February 1900 (1900 is not a leap year).
    """
    value = value.strip()
    if m := _NO_YEAR.match(value):
        year, month, day = UNKNOWN_YEAR, int(m.group(1)), int(m.group(2))
    elif m := _FULL.match(value):
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if m.group(1) in _PLACEHOLDER_YEARS or m.group(1) in {str(y).strip() for y in omit_year}:
            year = UNKNOWN_YEAR
    else:
        return None
    if year == UNKNOWN_YEAR and (month, day) == (2, 29):
        day = 28
    try:
        return date(year, month, day)
    except ValueError:
        return None
