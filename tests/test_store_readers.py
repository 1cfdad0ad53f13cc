"""Readers never write (issue 10): ``people``, ``digest``, ``explain`` and ``status`` open the
store read-only, leave the file as it was (even when the derived contacts are stale: they are
computed in memory), work on a store the user made read-only and while a sync writes, and
never make a writer fail."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from builders import Mail, write_mbox
from conftest import Syncd

from syncd.models import Batch, Interaction, Participant

ADA = "Ada Lovelace <ada@example.org>"
FRIENDS = [f"friend{i}@x.example" for i in range(12)]
AS_OF = "2026-06-30"
SYNCD = [sys.executable, "-c", "from syncd.cli import main; main()"]
STALE = "computed them in memory for this command; `syncd sync` will store them"


def correspondence(n: int, seed: int = 1) -> list[Mail]:
    """``n`` messages between Ada and a dozen friends over 2025 and early 2026."""
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        who = rng.choice(FRIENDS)
        when = start + timedelta(hours=rng.randrange(24 * 500))
        name = f"Friend {who.split('@')[0]}"
        if rng.random() < 0.5:
            out.append(Mail(ADA, [f"{name} <{who}>"], when, f"Note {i}"))
        else:
            out.append(Mail(f"{name} <{who}>", [ADA], when, f"Re: note {i}"))
    return out


def setup(syncd: Syncd, n: int = 300, batch_size: int | None = None, **sections: Any) -> None:
    mbox = syncd.root / "mail.mbox"
    if not mbox.exists():
        write_mbox(mbox, correspondence(n))
    source: dict[str, Any] = {"type": "mbox", "path": str(mbox)}
    if batch_size:
        source["batch_size"] = batch_size
    syncd.write_config({"mail": source}, **sections)


def synced(syncd: Syncd, n: int = 300, **sections: Any) -> None:
    setup(syncd, n, **sections)
    syncd.run("sync")
    gc.collect()  # the sync's connection closes (and checkpoints) now, not mid-test


def file_state(db: Path) -> tuple[Any, ...]:
    """The store's bytes, modification time and mode, and what its write-ahead log holds (a
    reader may create an empty log where none was: SQLite's WAL readers do)."""
    st = db.stat()
    wal = Path(f"{db}-wal")
    logged = wal.read_bytes() if wal.exists() else b""
    if logged:
        return (hashlib.sha256(db.read_bytes()).hexdigest(), st.st_mtime_ns, st.st_mode,
                hashlib.sha256(logged).hexdigest(), wal.stat().st_mtime_ns)  # fmt: skip
    return hashlib.sha256(db.read_bytes()).hexdigest(), st.st_mtime_ns, st.st_mode


@pytest.fixture
def watcher(syncd: Syncd) -> Iterator[sqlite3.Connection]:
    """A read-only connection held open: its ``data_version`` moves when anyone commits."""
    conn = sqlite3.connect(f"file:{syncd.store_path}?mode=ro", uri=True)
    yield conn
    conn.close()


def data_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA data_version").fetchone()[0]


READERS = [
    ("people", "--format", "json", "--as-of", AS_OF),
    ("people", "--all", "--as-of", AS_OF),
    ("people", "--suggest"),
    ("people", "--suggest", "--format", "json"),
    ("digest", "--format", "json", "--as-of", AS_OF),
    ("digest", "--format", "html", "--as-of", AS_OF),
    ("explain", "friend1@x.example", "--as-of", AS_OF),
    ("status", "--format", "json"),
]


def test_readers_leave_the_store_file_as_it_was(syncd: Syncd) -> None:
    synced(syncd)
    before = file_state(syncd.store_path)
    with sqlite3.connect(f"file:{syncd.store_path}?mode=ro", uri=True) as watch:
        version = data_version(watch)
        for args in READERS:
            res = syncd.run(*args)
            assert STALE not in res.stderr
        proc = subprocess.run(
            [*SYNCD, "--config", str(syncd.config_path), "people", "--as-of", AS_OF],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        assert data_version(watch) == version
    assert file_state(syncd.store_path) == before


def test_after_a_rule_change_readers_compute_in_memory_what_the_next_sync_stores(
    syncd: Syncd,
) -> None:
    synced(syncd)
    original = syncd.json("people", "--all", "--as-of", AS_OF)
    # The user ignores two friends now: no re-sync is needed, but the stored contacts are stale.
    setup(syncd, rules={"ignore_addresses": ["friend3@x.example", "friend4@x.example"]})
    before = file_state(syncd.store_path)
    stale: dict[tuple[str, ...], str] = {}
    for args in READERS[:5]:
        res = syncd.run(*args)
        assert res.stderr.count(STALE) == 1, res.stderr  # said once, on stderr
        assert "the rules changed" in res.stderr
        stale[args] = res.stdout
    assert file_state(syncd.store_path) == before  # computed in memory, nothing written
    in_memory = json.loads(stale[READERS[0]])
    assert {"friend3@x.example", "friend4@x.example"} & {e for p in original for e in p["emails"]}
    assert not {"friend3@x.example", "friend4@x.example"} & {
        e for p in in_memory for e in p["emails"]
    }

    res = syncd.run("sync")
    assert "contacts: derived 300 interactions with the current rules" in res.stderr
    for args in READERS[:5]:
        res = syncd.run(*args)
        assert STALE not in res.stderr
        # The same answer, now from the store (but for when the sync just ran).
        assert _no_sync_time(res.stdout) == _no_sync_time(stale[args]), args


def _no_sync_time(text: str) -> str:
    return re.sub(r'"last_ok_at": "[^"]*"', '"last_ok_at": "..."', text)


def _interaction(sid: str, who: str, when: datetime) -> Interaction:
    return Interaction(
        sid,
        "email",
        when,
        (Participant("ada@example.org", "from", "Ada"), Participant(who, "to", "Newcomer")),
        subject="Hello",
        head_count=1,
    )


def test_contacts_an_older_syncd_left_underived_are_computed_by_readers(syncd: Syncd) -> None:
    synced(syncd)
    # An older syncd stored batches and left their contacts to the next reader.
    store = syncd.open_store()
    new = [
        _interaction(f"old{i}", "newcomer@x.example", datetime(2026, 3, 1 + i, tzinfo=UTC))
        for i in range(4)
    ] + [_interaction("old9", "friend2@x.example", datetime(2026, 6, 1, tzinfo=UTC))]
    store.apply_batch("mail", Batch(upserts=new))
    store.close()
    gc.collect()
    before = file_state(syncd.store_path)
    res = syncd.run("people", "--all", "--format", "json", "--as-of", AS_OF)
    assert "5 interactions have not been derived into contacts yet" in res.stderr
    assert STALE in res.stderr
    in_memory = json.loads(res.stdout)
    assert file_state(syncd.store_path) == before
    assert "newcomer@x.example" in {p["emails"][0] for p in in_memory}

    assert "contacts: derived 5 interactions" in syncd.run("sync").stderr
    res = syncd.run("people", "--all", "--format", "json", "--as-of", AS_OF)
    assert STALE not in res.stderr
    assert json.loads(res.stdout) == in_memory


def test_a_reader_of_a_store_not_created_yet_creates_nothing(syncd: Syncd) -> None:
    syncd.write_config(store={"path": str(syncd.root / "new" / "syncd.db")})
    res = syncd.run("people")
    assert "Nobody yet" in res.stdout
    syncd.run("status")
    syncd.run("digest", "--format", "json")
    assert not (syncd.root / "new").exists()


def test_a_reader_answers_at_once_while_a_writer_holds_the_lock(syncd: Syncd) -> None:
    synced(syncd)
    expected = syncd.json("people", "--as-of", AS_OF)
    writer = syncd.open_store()
    writer.conn.execute("BEGIN IMMEDIATE")
    writer.conn.execute("UPDATE sources SET last_error = 'busy' WHERE name = 'mail'")
    try:
        started = time.monotonic()
        res = subprocess.run(
            [*SYNCD, "--config", str(syncd.config_path), "people", "--format", "json",
             "--as-of", AS_OF],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout) == expected
        assert time.monotonic() - started < 15  # did not wait for the writer's lock
    finally:
        writer.conn.execute("ROLLBACK")
        writer.close()


def test_people_during_a_sync_in_progress_succeeds_and_the_sync_completes(
    syncd: Syncd,
) -> None:
    setup(syncd, 3000, batch_size=20)  # 150 transactions
    sync = subprocess.Popen(
        [*SYNCD, "--config", str(syncd.config_path), "sync"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    answers = []
    try:
        while sync.poll() is None:
            res = subprocess.run(
                [*SYNCD, "--config", str(syncd.config_path), "people", "--format", "json",
                 "--as-of", AS_OF],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert res.returncode == 0, res.stderr
            # Each batch brought its contacts in its own transaction: nothing was stale.
            assert STALE not in res.stderr
            answers.append(json.loads(res.stdout))
        _, err = sync.communicate(timeout=120)
    finally:
        if sync.poll() is None:
            sync.kill()
    assert sync.returncode == 0, err
    assert "mail: 3,000 new, 0 changed, 0 removed" in err
    assert answers, "the sync was over before a reader started: make it slower"
    final = syncd.json("people", "--as-of", AS_OF)
    assert len(final) == len(FRIENDS)
    assert all(len(a) <= len(final) for a in answers)


# ------------------------------------------------------------------ a read-only store
def unprivileged(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``args`` where file permissions apply: as root, without the capabilities that
    override them (root ignores a file's mode otherwise)."""
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root: needs setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
        args = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *args]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def _crash_after_one_more_batch(syncd: Syncd) -> None:
    """A writer that stores one more batch and dies before closing: its write-ahead log
    (and the log's index, -shm) stay beside the file."""
    script = f"""
import os
from pathlib import Path
from datetime import datetime, UTC
from syncd.models import Batch, Interaction, Participant
from syncd.rules import contact_rules
from syncd.config import load_config
from syncd.store import Store
config = load_config(Path({str(syncd.config_path)!r}))
store = Store.open(config.store_path)
store.conn.execute("PRAGMA wal_autocheckpoint = 0")
it = Interaction("late", "email", datetime(2026, 6, 20, 12, tzinfo=UTC),
    (Participant("ada@example.org", "from"), Participant("late@x.example", "to", "Late")),
    head_count=1)
store.apply_batch("mail", Batch(upserts=[it]), contact_rules(config))
os._exit(0)
"""
    subprocess.run([sys.executable, "-c", script], check=True)


@pytest.mark.parametrize("leftover", ["nothing", "a log and its index", "a log without index"])
def test_a_store_made_read_only_is_read_and_stays_read_only(syncd: Syncd, leftover: str) -> None:
    synced(syncd)
    db = syncd.store_path
    if leftover != "nothing":
        _crash_after_one_more_batch(syncd)
        assert Path(f"{db}-wal").stat().st_size > 0
    expected = syncd.json("people", "--as-of", AS_OF)
    assert ("late@x.example" in {p["emails"][0] for p in expected}) == (leftover != "nothing")
    if leftover == "nothing":  # a clean close leaves no log (the reader above made an empty one)
        assert Path(f"{db}-wal").stat().st_size == 0
        Path(f"{db}-wal").unlink()
        Path(f"{db}-shm").unlink()
    if leftover == "a log without index":
        Path(f"{db}-shm").unlink()
    files = [f for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if f.exists()]
    for f in files:
        f.chmod(0o400)
    syncd.root.chmod(0o500)
    try:
        before = file_state(db)
        cli = [*SYNCD, "--config", str(syncd.config_path)]
        res = unprivileged([*cli, "people", "--format", "json", "--as-of", AS_OF])
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout) == expected
        res = unprivileged([*cli, "status"])
        assert res.returncode == 0, res.stderr
        # A writer is refused with one line, and leaves the store read-only.
        res = unprivileged([*cli, "sync"])
        assert res.returncode == 1
        assert "is read-only" in res.stderr and "Traceback" not in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
        assert file_state(db) == before
        assert stat.S_IMODE(db.stat().st_mode) == 0o400
        assert stat.S_IMODE(syncd.root.stat().st_mode) == 0o500
    finally:
        syncd.root.chmod(0o700)
        for f in files:
            if f.exists():
                f.chmod(0o600)


def test_a_store_made_writable_again_syncs_after_readers_used_it_read_only(
    syncd: Syncd,
) -> None:
    synced(syncd)
    db = syncd.store_path
    for side in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        side.unlink(missing_ok=True)
    db.chmod(0o400)  # the folder stays writable: the reader makes the log's index
    cli = [*SYNCD, "--config", str(syncd.config_path)]
    res = unprivileged([*cli, "people", "--as-of", AS_OF])
    assert res.returncode == 0, res.stderr
    assert stat.S_IMODE(Path(f"{db}-shm").stat().st_mode) == 0o400  # SQLite copied the mode
    db.chmod(0o600)
    res = unprivileged([*cli, "sync"])
    assert res.returncode == 0, res.stderr
    shm = Path(f"{db}-shm")  # gone when the sync closed cleanly, else owner-only
    assert not shm.exists() or stat.S_IMODE(shm.stat().st_mode) == 0o600


def test_opening_to_write_never_loosens_a_read_only_store(syncd: Syncd) -> None:
    synced(syncd)
    syncd.store_path.chmod(0o400)
    try:
        syncd.open_store().close()
        assert stat.S_IMODE(syncd.store_path.stat().st_mode) == 0o400
    finally:
        syncd.store_path.chmod(0o600)


def test_syncd_run_rederives_after_a_rule_change(syncd: Syncd) -> None:
    from syncd.config import load_config
    from syncd.daemon import Daemon
    from syncd.relationships_reader import Relationships
    from syncd.store import Store

    synced(syncd)
    setup(syncd, rules={"ignore_addresses": ["friend3@x.example"]})
    config = load_config(syncd.config_path)
    store = syncd.open_store()
    Daemon(config=config, store=store, once=True).run()
    store.close()
    notices: list[str] = []
    reader = Store.open_reader(syncd.store_path, on_stale=notices.append)
    everyone = Relationships(reader, config).people(datetime(2026, 6, 30, tzinfo=UTC))
    assert notices == []  # stored with the new rules: nothing to compute in memory
    assert len(everyone) == len(FRIENDS) - 1
    assert "friend3@x.example" not in {e for p in everyone for e in p.emails}
