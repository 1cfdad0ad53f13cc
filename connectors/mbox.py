"""The ``mbox`` connector: header blocks of mbox files (Google Takeout and others).

Only the header block of each message is read and parsed; bodies are skipped as raw bytes and
never decoded or kept. Files are streamed in large binary chunks, so memory stays bounded on
multi-GB files (``mailbox.mbox`` parses every body and is the slow baseline, see bench/).

Terminology:
- A **separator** is a ``From `` line that starts a message. ``>From`` lines are escaped body
  lines, and an unescaped ``From `` line inside a body must not split a message, so a line
  counts as a separator only at the start of the file, or when it looks like one: ``From``
  + sender + an asctime date (``From a@b Mon Aug  7 11:40:37 2022``) after a blank line or
  before a header line (Takeout does not always leave a blank line), or ``From`` + a single
  token (``From -``, ``From 1844...@xxx``) before a header line.
- The **cursor** holds, per file: size, mtime_ns, inode, the offset just after the last message
  stored, and a SHA-1 of the file's first 64 KiB. An unchanged file costs one ``stat``; a file
  that grew with the same head is read from the stored offset; any other change is a full
  resync of that file (scope = the resolved path), bracketed by ``full_sync_start``/``_end``.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from connectors.base import SourceConfig, SourceContext
from connectors.email_headers import (
    HeaderError,
    flags_from_gmail_labels,
    header_pairs,
    interaction_from_headers,
)
from syncd.errors import SourceError
from syncd.models import Batch, Flag, Interaction, Skip
from syncd.options import Option, integer, nonempty_string

log = logging.getLogger(__name__)

OPTIONS: dict[str, Option] = {
    "path": Option(
        nonempty_string,
        help="An mbox file, or a glob of them (`~/Takeout/Mail/*.mbox`). `~` is expanded.",
    ),
    "batch_size": Option(
        integer(minimum=1, maximum=100_000),
        2000,
        help="Messages per stored batch (each batch is one transaction with its cursor).",
    ),
}

CURSOR_VERSION = 1
HEAD_BYTES = 64 * 1024  # hashed to recognise a file that was rewritten rather than appended to
CHUNK_BYTES = 4 * 1024 * 1024
MAX_HEADER_BYTES = 1024 * 1024  # a header block beyond this is skipped, not buffered

_BOM = b"\xef\xbb\xbf"
_SEP_DATED = re.compile(rb"From \S*[ \t]+(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b[^\n]*?\d{1,2}:\d\d")
_SEP_TOKEN = re.compile(rb"From \S+[ \t]*\r?\Z")
_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
_BLANK_LINE = re.compile(rb"\n\r?\n")
_SEP_LOOKAHEAD = 200  # bytes of the line after a candidate separator needed to judge it


def open(source: SourceConfig, ctx: SourceContext) -> MboxConnector:
    return MboxConnector(
        pattern=str(source["path"]),
        batch_size=int(source.get("batch_size", 2000)),
        log=ctx.log,
    )


# -- scanning -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawMessage:
    start: int  # file offset of the message (its separator line)
    end: int  # file offset just after the message (the next separator, or the end)
    header: bytes | None  # the header block; None when it is larger than MAX_HEADER_BYTES


class _Window:
    """A sliding window over ``[start, stop)`` of a file; offsets are absolute file offsets."""

    def __init__(self, f: BinaryIO, start: int, stop: int, chunk: int):
        self.f, self.stop, self.chunk = f, stop, chunk
        self.base = start
        self.buf = b""
        self.read_to = start
        f.seek(start)

    @property
    def eof(self) -> bool:
        return self.read_to >= self.stop

    @property
    def end(self) -> int:
        return self.base + len(self.buf)

    def more(self, keep_from: int) -> None:
        """Forget the bytes before absolute offset ``keep_from`` and read the next chunk."""
        data = self.f.read(min(self.chunk, self.stop - self.read_to))
        if not data:  # the file shrank under us: stop where it ends
            self.stop = self.read_to
        self.read_to += len(data)
        drop = max(0, min(keep_from - self.base, len(self.buf)))
        self.buf = self.buf[drop:] + data
        self.base += drop


def scan(f: BinaryIO, start: int, stop: int, chunk: int = CHUNK_BYTES) -> Iterator[RawMessage]:
    """Yield the messages of ``f`` between ``start`` (a message start) and ``stop``."""
    w = _Window(f, start, stop, chunk)
    w.more(start)
    if not w.buf:
        return
    msg = start + 3 if start == 0 and w.buf.startswith(_BOM) else start
    while True:
        header, header_start, scan_from = _read_header(w, msg)
        nxt = _next_separator(w, scan_from)
        end = w.end if nxt is None else nxt
        if header is not None and header_start + len(header) > end:
            header = header[: max(0, end - header_start)]  # no blank line before the next one
        yield RawMessage(msg, end, header)
        if nxt is None:
            return
        msg = nxt


def _read_header(w: _Window, msg: int) -> tuple[bytes | None, int, int]:
    """(header block, its offset, where to look for the next separator) of the message at msg."""
    while True:
        rel = msg - w.base
        if len(w.buf) - rel < 5 and not w.eof:
            w.more(msg)
            continue
        if w.buf.startswith(b"From ", rel):
            nl = w.buf.find(b"\n", rel)
            if nl < 0:
                if not w.eof:
                    w.more(msg)
                    continue
                return b"", w.end, w.end
            hs = nl + 1
        else:
            hs = rel  # a file that does not start with a separator line
        m = _BLANK_LINE.search(w.buf, max(hs - 1, rel), hs + MAX_HEADER_BYTES + 2)
        if m is not None:
            he = m.start() + 1
        elif len(w.buf) - hs > MAX_HEADER_BYTES:
            return None, w.base + hs, w.base + hs
        elif w.eof:
            he = len(w.buf)
        else:
            w.more(msg)
            continue
        # Separators are searched from the header's start: a message may have no blank line.
        return w.buf[hs:he], w.base + hs, w.base + max(hs - 1, rel)


def _next_separator(w: _Window, scan_from: int) -> int | None:
    """Absolute offset of the next separator line at or after scan_from, or None at the end."""
    pos = scan_from
    while True:
        buf = w.buf
        idx = buf.find(b"\nFrom ", pos - w.base)
        if idx < 0:
            if w.eof:
                return None
            pos = max(pos, w.end - 6)  # a candidate may straddle the chunk boundary
            w.more(pos - 3)  # keep the bytes that say whether the line before is blank
            continue
        line = idx + 1
        eol = buf.find(b"\n", line)
        incomplete = eol < 0 or (len(buf) - eol < _SEP_LOOKAHEAD and buf.find(b"\n", eol + 1) < 0)
        if incomplete and not w.eof:
            pos = w.base + idx
            w.more(pos - 3)
            continue
        if _is_separator(buf, idx, line, eol):
            return w.base + line
        pos = w.base + line


def _is_separator(buf: bytes, idx: int, line: int, eol: int) -> bool:
    text = buf[line : eol if eol >= 0 else len(buf)][:_SEP_LOOKAHEAD]
    next_is_header = eol >= 0 and _HEADER_LINE.match(buf, eol + 1) is not None
    if _SEP_DATED.match(text):
        prev_blank = (idx >= 1 and buf[idx - 1] == 0x0A) or (
            idx >= 2 and buf[idx - 1] == 0x0D and buf[idx - 2] == 0x0A
        )
        return prev_blank or next_is_header
    return next_is_header and _SEP_TOKEN.match(text) is not None


# -- the connector ------------------------------------------------------------------------------


def _head_digest(path: Path, length: int) -> str:
    with path.open("rb") as f:
        return hashlib.sha1(f.read(length), usedforsecurity=False).hexdigest()


class MboxConnector:
    def __init__(self, pattern: str, batch_size: int = 2000, log: logging.Logger = log):
        self.pattern = pattern
        self.batch_size = batch_size
        self.log = log

    def files(self) -> list[Path]:
        """The files the ``path`` option names now (resolved); SourceError if there are none."""
        expanded = os.path.expanduser(self.pattern)
        if glob.has_magic(expanded):
            found = sorted(Path(p).resolve() for p in glob.glob(expanded) if os.path.isfile(p))
            if not found:
                raise SourceError(f"mbox path {self.pattern}: no file matches")
            return found
        p = Path(expanded)
        if not p.exists():
            raise SourceError(f"mbox path {self.pattern}: no such file")
        if not p.is_file():
            raise SourceError(f"mbox path {self.pattern}: not a file")
        return [p.resolve()]

    def fetch(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        prev: dict[str, dict[str, Any]] = {}
        if cursor and cursor.get("version") == CURSOR_VERSION:
            prev = {k: dict(v) for k, v in cursor.get("files", {}).items()}
        files = self.files()
        state = {k: v for k, v in prev.items() if k in {str(p) for p in files}}

        def snapshot() -> dict[str, Any]:
            return {"version": CURSOR_VERSION, "files": {k: dict(v) for k, v in state.items()}}

        for gone in sorted(set(prev) - set(state)):
            # The file vanished or left the glob: a full sync that sees nothing sweeps it.
            yield Batch(cursor=snapshot(), full_sync_start=[gone], full_sync_end=[gone])

        plans = []
        for path in files:
            plan = self._plan(path, state.get(str(path)))
            if plan is not None:
                plans.append(plan)
        total = sum(p[2] - p[1] for p in plans)
        done = 0
        for path, start, stop, entry, full in plans:
            key = str(path)
            state[key] = entry
            for batch, consumed in self._read_file(path, start, stop, entry, full, snapshot):
                done += consumed
                batch.progress = (done, total)
                batch.progress_unit = "bytes"
                yield batch

    def _plan(
        self, path: Path, prev: dict[str, Any] | None
    ) -> tuple[Path, int, int, dict[str, Any], bool] | None:
        """(path, start, stop, cursor entry, full resync?) or None when nothing is to be read."""
        try:
            st = path.stat()
        except OSError as e:
            raise SourceError(f"mbox path {path}: {e.strerror or e}") from None
        same_stat = (
            prev is not None
            and prev.get("size") == st.st_size
            and prev.get("mtime_ns") == st.st_mtime_ns
            and prev.get("inode") == st.st_ino
        )
        if same_stat and prev is not None:
            if prev.get("offset", 0) >= st.st_size:
                return None  # unchanged: this stat is all it costs
            return path, int(prev["offset"]), st.st_size, dict(prev), bool(prev.get("full"))
        try:
            if (
                prev is not None
                and prev.get("inode") == st.st_ino
                and st.st_size > prev.get("size", 0)
                and _head_digest(path, prev.get("head_len", 0)) == prev.get("head")
                and self._starts_message(path, int(prev.get("offset", 0)))
            ):
                entry = {**prev, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
                return path, int(prev["offset"]), st.st_size, entry, bool(prev.get("full"))
            head_len = min(st.st_size, HEAD_BYTES)
            entry = {
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "inode": st.st_ino,
                "offset": 0,
                "head": _head_digest(path, head_len),
                "head_len": head_len,
                "full": True,
            }
        except OSError as e:
            raise SourceError(f"mbox path {path}: {e.strerror or e}") from None
        return path, 0, st.st_size, entry, True

    @staticmethod
    def _starts_message(path: Path, offset: int) -> bool:
        if offset == 0:
            return True
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(5) == b"From "

    def _read_file(
        self,
        path: Path,
        start: int,
        stop: int,
        entry: dict[str, Any],
        full: bool,
        snapshot: Any,
    ) -> Iterator[tuple[Batch, int]]:
        scope = str(path)
        upserts: list[Interaction] = []
        skipped: list[Skip] = []
        first = full and start == 0
        batch_start = start
        try:
            f = path.open("rb")
        except OSError as e:
            raise SourceError(f"mbox path {path}: {e.strerror or e}") from None
        with f:
            for raw in scan(f, start, stop):
                item = self._parse(raw, scope)
                if isinstance(item, Skip):
                    skipped.append(item)
                else:
                    upserts.append(item)
                if len(upserts) + len(skipped) >= self.batch_size and raw.end < stop:
                    entry["offset"] = raw.end
                    batch = Batch(upserts=upserts, skipped=skipped, cursor=snapshot())
                    if first:
                        batch.full_sync_start = [scope]
                        first = False
                    yield batch, raw.end - batch_start
                    upserts, skipped, batch_start = [], [], raw.end
        entry["offset"] = stop
        entry.pop("full", None)
        batch = Batch(upserts=upserts, skipped=skipped, cursor=snapshot())
        if first:
            batch.full_sync_start = [scope]
        if full:
            batch.full_sync_end = [scope]
        yield batch, stop - batch_start

    def _parse(self, raw: RawMessage, scope: str) -> Interaction | Skip:
        where = f"{scope}:offset {raw.start}"
        if raw.header is None:
            return Skip(where, f"header block larger than {MAX_HEADER_BYTES} bytes")
        pairs: list[tuple[str, str]] = []
        try:
            pairs = header_pairs(raw.header)
            return interaction_from_headers(pairs, scope=scope)
        except HeaderError as e:
            if e.reason == "no Date header" and _is_chat(pairs):
                return Skip(where, "chat entry without Date")
            return Skip(where, e.reason)
        except Exception as e:  # hostile input must never stop an import; keep a trace for bugs
            self.log.debug("mbox: unparseable message at %s", where, exc_info=True)
            return Skip(where, f"unparseable header block ({type(e).__name__}: {e})"[:200])


def _is_chat(pairs: list[tuple[str, str]]) -> bool:
    return any(
        name.lower() == "x-gmail-labels" and flags_from_gmail_labels(value) & Flag.CHAT
        for name, value in pairs
    )
