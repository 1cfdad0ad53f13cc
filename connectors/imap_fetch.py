"""IMAP wire details of the imap source (private): header FETCHes, CONDSTORE/QRESYNC
changes, message flags, and the UID ranges its cursor keeps.

Kept apart from :mod:`connectors.imap` (the sync algorithm) because it is the part tuned for
speed (see bench/bench_imap.py) and read against raw server responses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from copy import deepcopy
from datetime import datetime
from typing import Any

from connectors.email_headers import HEADER_FIELDS
from syncd.errors import SourceError
from syncd.models import Flag

# IMAP message flags that are facts for the rules.
MESSAGE_FLAGS = {
    b"\\Deleted": Flag.TRASH,
    b"\\Draft": Flag.DRAFT,
    b"$Junk": Flag.SPAM,
    b"Junk": Flag.SPAM,
}
_FIELDS = " ".join(h.upper() for h in HEADER_FIELDS)
HEADER_ITEM = f"BODY.PEEK[HEADER.FIELDS ({_FIELDS})]"


# UID FETCH responses are read with a few regular expressions instead of imapclient's
# general parser: its pure-Python lexer spends most of a backfill re-reading the echoed
# HEADER.FIELDS list of every message (about 3x the cost of everything else together).
_RESPONSE_START = re.compile(rb"^\d+ \(")
_UID_ITEM = re.compile(rb"[( ]UID (\d+)")
_FLAGS_ITEM = re.compile(rb"[( ]FLAGS \(([^)]*)\)")
_INTERNALDATE_ITEM = re.compile(rb'[( ]INTERNALDATE "([^"]+)"')

FetchedHeaders = tuple[tuple[bytes, ...], datetime | None, bytes | None]


def fetch_headers(client: Any, uids: list[int]) -> dict[int, FetchedHeaders]:
    """UID -> (flags, INTERNALDATE, header block) for ``uids`` of the selected folder."""
    from imapclient.datetime_util import parse_to_datetime

    items = f"(UID FLAGS INTERNALDATE {HEADER_ITEM})"
    typ, data = client._imap.uid("FETCH", uid_set(uids), items)
    if typ != "OK":
        raise SourceError(f"UID FETCH failed: {data!r}")
    records: list[tuple[bytes, bytes | None]] = []  # (response text, header literal)
    for part in data:
        if isinstance(part, tuple):
            records.append((part[0], part[1]))
        elif part and _RESPONSE_START.match(part):
            records.append((part, None))
        elif part and records:  # the rest of a response after its literal
            text, literal = records[-1]
            records[-1] = (text + part, literal)
    out: dict[int, FetchedHeaders] = {}
    for text, literal in records:
        uid = _UID_ITEM.search(text)
        if uid is None:
            continue
        key = int(uid.group(1))
        if literal is None and key in out:  # an unsolicited flag update: keep the headers
            continue
        flags = _FLAGS_ITEM.search(text)
        date = _INTERNALDATE_ITEM.search(text)
        out[key] = (
            tuple(flags.group(1).split()) if flags else (),
            parse_to_datetime(date.group(1), normalise=False) if date else None,
            literal,
        )
    return out


def uid_set(uids: list[int]) -> str:
    return ",".join(f"{a}:{b}" if a != b else str(a) for a, b in ranges_from(sorted(uids)))


def changed_since(client: Any, modseq: int, qresync: bool) -> tuple[set[int], dict[int, int]]:
    """UIDs expunged (QRESYNC only) and UID -> flag bits of messages changed since ``modseq``.

    imapclient's fetch() insists on explicit UID lists; the sequence ``1:*`` goes through
    imaplib's UID command (RFC 7162 3.1.4 / 3.2.6).
    """
    from imapclient.response_parser import parse_fetch_response

    imap = client._imap
    imap.untagged_responses.pop("VANISHED", None)
    modifiers = f"(CHANGEDSINCE {modseq}{' VANISHED' if qresync else ''})"
    typ, data = imap.uid("FETCH", "1:*", "(UID FLAGS)", modifiers)
    if typ != "OK":
        raise SourceError(f"UID FETCH CHANGEDSINCE failed: {data!r}")
    changed = {
        uid: message_flags(item.get(b"FLAGS", ()))
        for uid, item in parse_fetch_response([d for d in data if d], True, True).items()
    }
    vanished: set[int] = set()
    for line in imap.untagged_responses.pop("VANISHED", []):
        text = line.decode() if isinstance(line, bytes) else str(line)
        vanished.update(parse_uid_set(text.replace("(EARLIER)", "").strip()))
    return vanished, changed


def message_flags(flags: Iterable[bytes]) -> int:
    bits = 0
    for f in flags:
        bits |= MESSAGE_FLAGS.get(f, 0)
    return bits


def uid_chunks(items: list[int], n: int) -> Iterator[list[int]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def ranges_from(sorted_uids: Iterable[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for u in sorted_uids:
        if out and u == out[-1][1] + 1:
            out[-1][1] = u
        elif not out or u > out[-1][1]:
            out.append([u, u])
    return out


def ranges_add(ranges: list[list[int]], sorted_uids: list[int]) -> list[list[int]]:
    if not sorted_uids:
        return ranges
    if not ranges or sorted_uids[0] > ranges[-1][1]:  # the usual case: new UIDs come last
        out = deepcopy(ranges)
        for u in sorted_uids:
            if out and u == out[-1][1] + 1:
                out[-1][1] = u
            else:
                out.append([u, u])
        return out
    return ranges_from(sorted(set(ranges_iter(ranges)) | set(sorted_uids)))


def ranges_iter(ranges: list[list[int]]) -> Iterator[int]:
    for a, b in ranges:
        yield from range(a, b + 1)


def parse_uid_set(text: str) -> Iterator[int]:
    for part in text.split(","):
        if not part:
            continue
        a, _, b = part.partition(":")
        lo, hi = sorted((int(a), int(b or a)))
        yield from range(lo, hi + 1)
