"""Progress of long syncs on the terminal: one updating line per source on a TTY, and a
one-line summary per source in every case."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from syncd.models import Batch
from syncd.sync import SyncResult


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GB"


class SyncProgress:
    def __init__(self, stream: TextIO | None = None, min_interval: float = 0.2):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.min_interval = min_interval
        self._last = 0.0
        self._dirty = False

    def __enter__(self) -> SyncProgress:
        return self

    def __exit__(
        self,
        et: type[BaseException] | None,
        ev: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._clear()

    def _clear(self) -> None:
        if self.tty and self._dirty:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._dirty = False

    def update(self, source: str, batch: Batch, res: SyncResult) -> None:
        if not self.tty or batch.progress is None:
            return
        now = time.monotonic()
        if now - self._last < self.min_interval:
            return
        self._last = now
        done, total = batch.progress
        if batch.progress_unit == "bytes":
            amount = f"{_size(done)}" + (f" of {_size(total)}" if total else "")
        else:
            amount = f"{done:,}" + (f" of {total:,}" if total else "") + f" {batch.progress_unit}"
        pct = f"{100 * done / total:3.0f}% " if total else ""
        line = f"{source}: {pct}{amount}, {res.upserted:,} stored"
        if res.skipped:
            line += f", {res.skipped:,} skipped"
        self.stream.write("\r\033[K" + line[:200])
        self.stream.flush()
        self._dirty = True

    def derived(self, done: int, total: int) -> None:
        """Progress of deriving contacts after a rule change: one updating line on a TTY."""
        if not self.tty or not total:
            return
        now = time.monotonic()
        if now - self._last < self.min_interval and done < total:
            return
        self._last = now
        line = f"contacts: {100 * done / total:3.0f}% {done:,} of {total:,} interactions derived"
        self.stream.write("\r\033[K" + line)
        self.stream.flush()
        self._dirty = True

    def derived_done(self, count: int) -> None:
        """One line when contacts were derived outside the sources' batches (a rule change)."""
        self._clear()
        if count:
            self.stream.write(f"contacts: derived {count:,} interactions with the current rules\n")
            self.stream.flush()

    def finish(self, res: SyncResult) -> None:
        self._clear()
        if not res.ok:
            line = f"{res.source}: FAILED: {res.error}"
        else:
            line = (
                f"{res.source}: {res.inserted:,} new, {res.changed:,} changed, "
                f"{res.deleted:,} removed"
            )
            if res.unchanged:
                line += f", {res.unchanged:,} read again unchanged"
            if res.contacts:
                line += f", {res.contacts:,} contacts"
            for reason, n in sorted(res.ignored.items()):
                line += f", {n:,} ignored ({reason})"
            if res.skipped:
                line += f", {res.skipped:,} skipped (unparseable; see `syncd status`)"
                for sample in res.skipped_samples[:3]:
                    line += f"\n    skipped {sample}"
        self.stream.write(line + "\n")
        self.stream.flush()
