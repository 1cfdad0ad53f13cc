"""Opening the store's SQLite file, and the one way to write to it.

Writers (:func:`open_writer`) create the file and its folder owner-only, switch the file to WAL,
apply pending migrations, and write only inside :meth:`Connection.write`: ``BEGIN IMMEDIATE``
takes the write lock up front, so a second writer waits its turn (the busy timeout) instead of
failing half-way. A deferred transaction that upgrades to a write cannot wait: SQLite answers
SQLITE_BUSY at once when another writer committed since it began to read.

Readers (:func:`open_reader`) open the file read-only (``mode=ro``): no mkdir, no chmod, no
migration, no journal-mode change; they hold one read transaction (one snapshot) for their whole
life, so a sync committing batches meanwhile never shows them half of its work. A WAL reader
needs the ``-shm`` index: in a folder the user made read-only, SQLite can neither create it nor
(with no ``-wal`` left) needs it, so the file is opened ``immutable``; when a ``-wal`` with
content is left beside the file but no ``-shm`` can be made, the reader works on a private copy
of both.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sqlite3
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from syncd.errors import StoreBusyError, StoreError
from syncd.store import migrations

BUSY_WAIT = 30.0  # seconds a writer waits for another one's lock before giving up

_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class Connection:
    """One SQLite connection of the store, and whether it may write."""

    def __init__(
        self,
        sql: sqlite3.Connection,
        path: Path | None,
        *,
        writable: bool,
        busy_wait: float = BUSY_WAIT,
        cleanup: tempfile.TemporaryDirectory[str] | None = None,
    ):
        self.sql = sql
        self.path = path  # None: a store in memory
        self.writable = writable
        self.busy_wait = busy_wait
        self._depth = 0
        self._cleanup = cleanup

    @property
    def label(self) -> str:
        return str(self.path) if self.path else ":memory:"

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, the write lock taken up front; nested uses join the outer
        one. Raises StoreBusyError when another writer holds the lock past ``busy_wait``."""
        if not self.writable:
            raise StoreError(f"{self.label}: opened for reading only; this command cannot write")
        if self._depth:
            self._depth += 1
            try:
                yield self.sql
            finally:
                self._depth -= 1
            return
        try:
            self.sql.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise self._translate(e) from None
        self._depth = 1
        try:
            yield self.sql
            self.sql.execute("COMMIT")
        except BaseException as e:
            if self.sql.in_transaction:
                self.sql.execute("ROLLBACK")
            if isinstance(e, sqlite3.OperationalError):
                translated = self._translate(e)
                if translated is not e:
                    raise translated from None
            raise
        finally:
            self._depth = 0

    def _translate(self, e: sqlite3.Error) -> Exception:
        code = getattr(e, "sqlite_errorcode", 0) & 0xFF
        if code in _BUSY:
            return StoreBusyError(self.label, self.busy_wait)
        if code == sqlite3.SQLITE_READONLY:
            return read_only_error(self.label)
        return e

    def close(self) -> None:
        self.sql.close()
        if self._cleanup is not None:
            self._cleanup.cleanup()


def read_only_error(label: str) -> StoreError:
    return StoreError(
        f"the store {label} is read-only: this command needs to write to it "
        "(make the file and its folder writable again, e.g. chmod u+w)"
    )


def chunks(items: Sequence[Any], n: int = 500) -> Iterator[Sequence[Any]]:
    """``items`` in slices of at most ``n``: SQLite limits the ``?`` of one statement."""
    for i in range(0, len(items), n):
        yield items[i : i + n]


def marks(n: int) -> str:
    return ",".join("?" * n)


def _setup(conn: sqlite3.Connection, busy_wait: float) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(busy_wait * 1000)}")
    # The default 2 MB page cache thrashes on index inserts once the store passes a few
    # hundred MB (a million interactions); 64 MB keeps a backfill's writes in memory.
    conn.execute("PRAGMA cache_size = -65536")
    conn.execute("PRAGMA foreign_keys = OFF")
    # Replacing a contact_log row fires its delete triggers (which keep address_names and
    # summary_dirty right); sqlite-utils turned this on for every store connection so far.
    conn.execute("PRAGMA recursive_triggers = ON")
    conn.execute("PRAGMA temp_store = MEMORY")  # readers' in-memory derivation (derived.py)
    try:
        conn.execute("SELECT exp(0)")
    except sqlite3.OperationalError:  # SQLite built without math functions
        conn.create_function("exp", 1, math.exp, deterministic=True)


def _is_memory(path: Path | str) -> bool:
    return str(path) == ":memory:"


def open_writer(path: Path | str, busy_wait: float = BUSY_WAIT) -> Connection:
    """Open (creating if needed) the store at ``path`` for writing: owner-only, WAL, migrated.

    A new file and folder are created owner-only (0600, 0700); an existing file loses any
    group/other permission bits but never gains one (a store the user made read-only stays
    read-only, and writing to it is refused with one line)."""
    p = Path(path)
    if _is_memory(p):
        conn = sqlite3.connect(":memory:", isolation_level=None)
        _setup(conn, busy_wait)
        c = Connection(conn, None, writable=True, busy_wait=busy_wait)
        _migrate(c)
        return c
    if p.is_dir():
        raise StoreError(f"the store path {p} is a folder: [store] path must name a file")
    p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not p.exists():
        os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o600))
    else:
        _tighten(p)
        if not os.access(p, os.W_OK) or not os.access(p.parent, os.W_OK):
            raise read_only_error(str(p))
    # The WAL side files take the file's mode when created: keep them owner-only, and
    # writable again before SQLite opens them (a reader of a store the user had made
    # read-only leaves them 0400, and SQLite would fall back to a read-only index).
    for suffix in ("-wal", "-shm"):
        side = Path(f"{p}{suffix}")
        if side.exists() and stat.S_IMODE(side.stat().st_mode) != 0o600:
            os.chmod(side, 0o600)
    conn = sqlite3.connect(str(p), timeout=busy_wait, isolation_level=None)
    c = Connection(conn, p, writable=True, busy_wait=busy_wait)
    try:
        _setup(conn, busy_wait)
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # durable with WAL at commit boundaries
        _migrate(c)
    except sqlite3.OperationalError as e:
        conn.close()
        raise c._translate(e) from None
    for suffix in ("-wal", "-shm"):  # created just now, with the umask's mode
        side = Path(f"{p}{suffix}")
        if side.exists() and stat.S_IMODE(side.stat().st_mode) != 0o600:
            os.chmod(side, 0o600)
    return c


def _tighten(p: Path) -> None:
    mode = stat.S_IMODE(p.stat().st_mode)
    if mode & 0o077:
        os.chmod(p, mode & 0o700)


def _migrate(c: Connection) -> None:
    """Apply pending migrations under the write lock (two first opens at once take turns)."""
    if not pending_migrations(c):
        return
    from sqlite_utils import Database  # writers only: a reader starts faster without it

    db = Database(c.sql, execute_plugins=False)
    with c.write():
        migrations.migration_set().apply(db)


def pending_migrations(c: Connection) -> list[str]:
    """Names of the migrations this store has not had yet (a read)."""
    sql = c.sql
    if not sql.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (migrations.TABLE,)
    ).fetchone():
        return list(migrations.NAMES)
    done = {
        r[0]
        for r in sql.execute(
            f"SELECT name FROM {migrations.TABLE} WHERE migration_set = ?",
            (migrations.SET_NAME,),
        )
    }
    return [name for name in migrations.NAMES if name not in done]


def open_reader(path: Path | str, busy_wait: float = BUSY_WAIT) -> Connection:
    """Open the store at ``path`` for reading only; the file is never changed.

    A store that does not exist yet reads as an empty one (nothing is created). A store whose
    schema is older than this syncd's is refused with one line: readers never migrate."""
    p = Path(path)
    if _is_memory(p) or not p.exists():
        return _empty_reader(p, busy_wait)
    if p.is_dir():
        raise StoreError(f"the store path {p} is a folder: [store] path must name a file")
    try:
        c = _connect_ro(p, busy_wait)
    except sqlite3.DatabaseError as e:
        raise StoreError(f"the store {p} cannot be read: {e}") from None
    if not c.sql.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
        c.close()  # an empty file (created, never written): nothing stored yet
        return _empty_reader(p, busy_wait)
    if pending_migrations(c):
        c.close()
        raise StoreError(
            f"the store {p} was written by an older syncd: run `syncd sync` to upgrade it"
        )
    # One snapshot for the reader's whole life: every query sees the same committed state.
    c.sql.execute("BEGIN")
    c.sql.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()
    return c


def _connect_ro(p: Path, busy_wait: float) -> Connection:
    uri = "file:" + quote(str(p.resolve()))
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=busy_wait, isolation_level=None)
    try:
        _setup(conn, busy_wait)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return Connection(conn, p, writable=False, busy_wait=busy_wait)
    except sqlite3.OperationalError:
        conn.close()
    # SQLite could not open the WAL index (-shm): the folder is read-only.
    wal = Path(f"{p}-wal")
    if not wal.exists() or wal.stat().st_size == 0:
        # No write-ahead log to read: the file alone is the whole store, and nobody can write
        # to it while its folder is read-only (a writer would need to create the log).
        conn = sqlite3.connect(
            f"{uri}?mode=ro&immutable=1", uri=True, timeout=busy_wait, isolation_level=None
        )
        _setup(conn, busy_wait)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return Connection(conn, p, writable=False, busy_wait=busy_wait)
    # A log with content but no index (a crash, then the folder made read-only): read a
    # private copy of both, where SQLite can rebuild the index.
    tmp = tempfile.TemporaryDirectory(prefix="syncd-read-")
    copy = Path(tmp.name) / p.name
    shutil.copyfile(p, copy)
    shutil.copyfile(wal, Path(f"{copy}-wal"))
    conn = sqlite3.connect(str(copy), timeout=busy_wait, isolation_level=None)
    _setup(conn, busy_wait)
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return Connection(conn, p, writable=False, busy_wait=busy_wait, cleanup=tmp)


def _empty_reader(p: Path, busy_wait: float) -> Connection:
    """An empty store in memory, with the current schema: what a reader sees before the
    first sync created the file."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    _setup(conn, busy_wait)
    c = Connection(conn, None, writable=True, busy_wait=busy_wait)
    _migrate(c)
    c.writable = False
    c.path = None if _is_memory(p) else p
    return c
