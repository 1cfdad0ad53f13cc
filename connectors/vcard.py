"""The ``vcard`` connector: contacts from vCard files (a phone's or a mail app's export).

Each card with at least one email address is a :class:`syncd.models.Contact`: its addresses
belong to one person, its name names them, its birthday (year-less too) shows in the digest;
the identity model merges them like CardDAV contacts. A card without an email address is of
no use to syncd: it is counted as ignored, not as a skip. A card whose name, addresses or
birthday do not parse is a counted :class:`Skip` naming the file and the card's number; the
other cards go on. Reading vCards is :mod:`connectors.vcard_format`, shared with CardDAV.

Terminology: each file (its resolved path) is read as a whole. The cursor remembers, per
file, ``{size, mtime_ns, sha256, ids}``, ``ids`` being the file's contacts:

- an unchanged file (same size and mtime) costs one ``stat``: nothing is read;
- a touched file with the same content (same SHA-256) only updates the cursor;
- a changed file is read again: its contacts are upserted, and those that vanished from it
  are ``contact_deletions``;
- a file that left the folder or glob deletes its contacts (but a path, folder or glob that
  names no file at all is a SourceError, never a deletion of everything);
- a file with no card at all (not a vCard, or emptied while being rewritten) is a Skip, and
  its previous contacts stay until it holds cards again.

Contact ids are ``<file>#uid:<UID>`` when the card has a UID, else ``<file>#sha:<hash>`` of
what syncd reads from it (name, sorted addresses, birthday), so they are stable across
re-reads and re-exports in another vCard version. Two cards with the same id in one file
(duplicates without UID, or a UID written twice) are both kept: the second is ``...~2``, the
third ``...~3``, by their order in the file; nothing collapses silently. A card that fails to
parse keeps the contact of its UID (when one can be read from the raw lines), so a card
broken by an edit does not lose its contact until it is fixed or removed.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.base import SourceConfig, SourceContext
from connectors.vcard_format import Card, CardError, iter_lines, parse_card, split_cards
from syncd.errors import SourceError
from syncd.models import Batch, Contact, Skip
from syncd.options import Option, path

log = logging.getLogger(__name__)

OPTIONS: dict[str, Option] = {
    "path": Option(
        path,
        help="A .vcf file, a folder of them (searched recursively), or a glob (~/Contacts/*.vcf).",
    ),
}

BATCH_SIZE = 500  # contacts per stored batch
CURSOR_VERSION = 1
SUFFIXES = (".vcf", ".vcard")
NO_EMAIL = "no email address"


def open(source: SourceConfig, ctx: SourceContext) -> VcardConnector:
    return VcardConnector(name=source.name, path=Path(source["path"]), log=ctx.log)


def card_id(card: Card) -> str:
    """A card's id within its file: its UID, else a hash of what syncd reads from it."""
    if card.uid:
        return f"uid:{card.uid}"
    facts = [card.name, sorted(card.emails), card.birthday.isoformat() if card.birthday else None]
    digest = hashlib.sha256(json.dumps(facts, ensure_ascii=False).encode()).hexdigest()
    return f"sha:{digest[:20]}"


@dataclass
class VcardConnector:
    name: str
    path: Path
    log: logging.Logger = field(default=log)
    batch_size: int = BATCH_SIZE

    def files(self) -> list[Path]:
        """The files the configured path stands for; SourceError if it names nothing."""
        raw = str(self.path)
        if glob.has_magic(raw):
            found = [Path(p) for p in glob.glob(raw, recursive=True) if os.path.isfile(p)]
            if not found:
                raise SourceError(f"source {self.name!r}: no file matches {raw}")
        elif self.path.is_dir():
            found = [
                p
                for p in self.path.rglob("*")
                # "._name.vcf" files are macOS resource forks copied to a foreign disk.
                if p.suffix.lower() in SUFFIXES and not p.name.startswith("._") and p.is_file()
            ]
            if not found:
                # An empty folder is more often an unmounted drive than a wish to forget
                # every contact: refuse rather than delete.
                raise SourceError(f"source {self.name!r}: no .vcf file in {raw}")
        elif self.path.is_file():
            found = [self.path]
        else:
            raise SourceError(f"source {self.name!r}: {raw} does not exist")
        return sorted({p.resolve() for p in found})

    def fetch(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        """Read what changed since ``cursor``. Small files share batches (a folder of
        one-card files is not one transaction per file); every batch carries the cursor of
        the files completed so far, so a crash re-reads at most the file it was in."""
        state: dict[str, dict[str, Any]] = {}
        if cursor and cursor.get("version") == CURSOR_VERSION:
            state = {k: dict(v) for k, v in cursor.get("files", {}).items()}
        stats: dict[str, os.stat_result] = {}
        for p in self.files():
            try:
                stats[str(p)] = p.stat()
            except FileNotFoundError:  # gone between the listing and now: as if not listed
                continue
        total = sum(st.st_size for st in stats.values())
        done = 0
        out = Batch()
        dirty = False  # the cursor moved since the last batch

        def flush() -> Batch:
            nonlocal out, dirty
            batch, out, dirty = out, Batch(), False
            files = {k: dict(v) for k, v in state.items()}
            batch.cursor = {"version": CURSOR_VERSION, "files": files}
            batch.progress, batch.progress_unit = (done, total), "bytes"
            return batch

        for key in sorted(set(state) - set(stats)):  # gone from the folder or glob
            out.contact_deletions += [f"{key}#{i}" for i in state.pop(key).get("ids", [])]
            dirty = True

        for key, st in stats.items():
            prev = state.get(key) or {}
            done += st.st_size
            if (prev.get("size"), prev.get("mtime_ns")) == (st.st_size, st.st_mtime_ns):
                continue  # unchanged: one stat
            try:
                entry = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": _sha256(key)}
                if prev.get("sha256") == entry["sha256"]:
                    state[key] = {**prev, **entry}  # touched, not changed
                    dirty = True
                    continue
                read = _FileRead()
                for item in self._cards(key, read):
                    if item is None:
                        out.ignored[NO_EMAIL] = out.ignored.get(NO_EMAIL, 0) + 1
                    elif isinstance(item, Skip):
                        out.skipped.append(item)
                    else:
                        out.contacts.append(item)
                        if len(out.contacts) >= self.batch_size:
                            yield flush()  # the file goes on in the next batch
            except OSError as e:
                # Unreadable now (permissions, a disk going away): keep what it gave before.
                out.skipped.append(Skip(key, f"cannot read the file: {e.strerror or e}"))
                continue
            if read.cards == 0:
                # Not a vCard, or a file caught while being rewritten: keep its contacts.
                out.skipped.append(Skip(key, "no vCard in the file (no BEGIN:VCARD line)"))
                state[key] = {**entry, "ids": prev.get("ids", [])}
                dirty = True
                continue
            out.contact_deletions += [
                f"{key}#{i}" for i in prev.get("ids", []) if i not in read.ids
            ]
            state[key] = {**entry, "ids": list(read.ids)}
            dirty = True
            if read.skipped:
                self.log.info("%s: %d unreadable cards skipped", key, read.skipped)
        if dirty or out.contacts or out.contact_deletions or out.skipped or out.ignored:
            yield flush()

    def _cards(self, key: str, read: _FileRead) -> Iterator[Contact | Skip | None]:
        """Each card of the file: its contact, a skip, or None (no email address: ignored).
        ``read`` collects the file's contact ids and counts as they come."""
        seen: dict[str, int] = {}
        with Path(key).open("rb") as f:
            for raw in split_cards(iter_lines(f)):
                read.cards += 1
                try:
                    card = parse_card(raw)
                except CardError as e:
                    read.skipped += 1
                    if uid := raw.uid_hint():
                        read.ids[f"uid:{uid}"] = None
                    yield Skip(f"{key}: {raw.where()}", str(e))
                    continue
                if not card.emails:
                    yield None
                    continue
                local = card_id(card)
                seen[local] = n = seen.get(local, 0) + 1
                if n > 1:
                    local = f"{local}~{n}"
                read.ids[local] = None
                yield Contact(f"{key}#{local}", card.name, card.emails, card.birthday)


@dataclass
class _FileRead:
    """What reading one file found besides its contacts."""

    ids: dict[str, None] = field(default_factory=dict)  # contact ids in order (an ordered set)
    cards: int = 0
    skipped: int = 0


def _sha256(key: str) -> str:
    h = hashlib.sha256()
    with Path(key).open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
