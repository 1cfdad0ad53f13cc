"""Derivation by writers (issues 10 and 14): a batch's contacts are derived in the batch's own
transaction and the stored summaries stay exact; a rule change is re-derived by the next writer
in chunks that survive a kill; writers take the lock up front and wait their turn."""

from __future__ import annotations

import math
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from syncd.config import Rules
from syncd.errors import StoreBusyError, StoreError
from syncd.models import (
    Batch,
    ContactRow,
    Flag,
    Interaction,
    Participant,
    StoredInteraction,
)
from syncd.rules import RuleSet
from syncd.store import Store
from syncd.store.migrations import migration_set

ME = "ada@example.org"
PEOPLE = ["p1@x.example", "p2@x.example", "p3@x.example", "news@x.example"]
START = datetime(2026, 1, 1, tzinfo=UTC)


def rules_for(accounts: frozenset[str]) -> RuleSet:
    return RuleSet(Rules(max_recipients=2), {ME, *accounts}, "Europe/Lisbon")


def other_rules(accounts: frozenset[str]) -> RuleSet:
    return RuleSet(Rules(ignore_addresses=("p2@x.example",)), {ME, *accounts}, "Europe/Lisbon")


def mail(sid: str, day: int, *, sent: bool, who: tuple[str, ...], hour: int = 12) -> Interaction:
    when = START + timedelta(days=day, hours=hour)
    if sent:
        parts = (Participant(ME, "from", "Ada"), *(Participant(w, "to", w[:2]) for w in who))
    else:
        parts = (Participant(who[0], "from", who[0][:2].upper()), Participant(ME, "to"))
    flags = int(Flag.SENT) if sent else 0
    return Interaction(sid, "email", when, parts, subject=sid, flags=flags, head_count=len(who))


def meeting(sid: str, day: int, who: tuple[str, ...]) -> Interaction:
    parts = (
        Participant(ME, "organizer"),
        *(Participant(w, "attendee", None, "accepted") for w in who),
    )
    return Interaction(sid, "meeting", START + timedelta(days=day, hours=9), parts,
                       subject=sid, head_count=len(parts))  # fmt: skip


def store_in(tmp_path: Path | None = None) -> Store:
    s = Store.open(tmp_path / "syncd.db" if tmp_path else ":memory:")
    s.ensure_source("mail", "mbox")
    return s


def derived_tables(store: Store) -> dict[str, Any]:
    q = store.conn.execute
    return {
        "log": sorted(q("SELECT * FROM contact_log").fetchall()),
        "names": sorted(q("SELECT * FROM address_names").fetchall()),
        "summary": sorted(q("SELECT * FROM address_summary").fetchall()),
        "queue": q("SELECT count(*) FROM contact_queue").fetchone()[0],
        "dirty": q("SELECT count(*) FROM summary_dirty").fetchone()[0],
    }


def assert_exact(store: Store, rules: RuleSet | None = None) -> None:
    """The derived tables are what deriving every stored interaction from scratch gives."""
    rules = rules or rules_for(frozenset())
    q = store.conn.execute
    ids = [r[0] for r in q("SELECT id FROM interactions ORDER BY id")]
    fresh = sorted(_row(r) for r in rules.derive(store.load_interactions(ids)))
    assert sorted(q("SELECT * FROM contact_log").fetchall()) == fresh
    names: dict[tuple[str, str], int] = {}
    for r in fresh:
        if r[7]:
            names[(r[1], r[7])] = names.get((r[1], r[7]), 0) + 1
    assert dict(((a, n), c) for a, n, c in q("SELECT * FROM address_names")) == names
    stored = {s.address: s for s in store.derived.summaries()}
    addresses = sorted({r[1] for r in fresh})
    recomputed = {s.address: s for s in store.derived.summaries_until(addresses, 2**40)}
    assert stored.keys() == recomputed.keys()
    for a, s in stored.items():
        r = recomputed[a]
        assert math.isclose(s.wsum, r.wsum, rel_tol=1e-12), a
        assert s.__class__(**{**_fields(s), "wsum": r.wsum}) == r, a
    assert q("SELECT count(*) FROM contact_queue").fetchone()[0] == 0
    assert q("SELECT count(*) FROM summary_dirty").fetchone()[0] == 0


def _fields(s: Any) -> dict[str, Any]:
    return {f: getattr(s, f) for f in s.__slots__}


def _row(r: ContactRow) -> tuple[Any, ...]:
    return (r.interaction_id, r.address, r.ts, r.day, r.kind, r.dir, r.weight, r.name)


# ------------------------------------------------------------------ in the batch's transaction
def test_a_batch_and_the_contacts_it_brings_are_written_in_one_transaction() -> None:
    store = store_in()
    store.apply_batch(
        "mail",
        Batch(upserts=[mail("a", 1, sent=True, who=("p1@x.example",))], cursor={"n": 1}),
        rules_for,
    )
    assert_exact(store)
    assert derived_tables(store)["log"] != []
    before = derived_tables(store)
    broken = mail("c", 2, sent=True, who=("p2@x.example",))
    broken = Interaction(**{**_fields(broken), "participants": (Participant(None, "to"),)})  # type: ignore[arg-type]
    bad = Batch(upserts=[mail("b", 3, sent=True, who=("p3@x.example",)), broken], cursor={"n": 2})
    with pytest.raises(sqlite3.IntegrityError):
        store.apply_batch("mail", bad, rules_for)
    assert derived_tables(store) == before
    assert store.source_state("mail").cursor == {"n": 1}  # type: ignore[union-attr]


def test_a_replayed_or_resynced_batch_rewrites_no_derived_row() -> None:
    store = store_in()
    batch = Batch(upserts=[mail(f"m{i}", i, sent=True, who=("p1@x.example",)) for i in range(5)])
    store.apply_batch("mail", batch, rules_for)
    changes = store.conn.total_changes
    store.apply_batch("mail", batch, rules_for)
    # Read again as stored: only each interaction's seq moves on (for a full sync's sweep),
    # and the source's row. Participants, contact_log, names and summaries are not touched.
    assert store.conn.total_changes - changes == 5 + 1
    assert_exact(store)


def test_a_new_account_in_a_batch_rederives_with_the_new_rules() -> None:
    store = store_in()
    # Mail from ada.work@ counts as contact from someone until the source says it is Ada's.
    work = Interaction("w", "email", START, (Participant("ada.work@x.example", "from"),
                       Participant("p1@x.example", "to")), head_count=1)  # fmt: skip
    store.apply_batch("mail", Batch(upserts=[work]), rules_for)
    assert {s.address for s in store.derived.summaries()} == {"ada.work@x.example"}
    store.apply_batch("mail", Batch(account="ada.work@x.example"), rules_for)
    # Everything is queued for re-derivation with the new rules; the next writer does it.
    assert derived_tables(store)["queue"] == 1
    store.bring_derived_up_to_date(rules_for)
    assert {s.address for s in store.derived.summaries()} == {"p1@x.example"}
    assert_exact(store, rules_for(frozenset({"ada.work@x.example"})))


ops = st.lists(
    st.tuples(
        st.sampled_from(["mail", "mail", "meeting", "delete", "replay", "sweep"]),
        st.integers(0, 12),  # source id
        st.integers(0, 60),  # day
        st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=3, unique=True),
        st.booleans(),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_stored_summaries_stay_exact_through_any_sequence_of_batches(
    steps: list[tuple[str, int, int, list[str], bool]],
) -> None:
    store = store_in()
    last = Batch()
    for kind, n, day, who, sent in steps:
        sid = f"i{n}"
        if kind == "mail":
            last = Batch(upserts=[mail(sid, day, sent=sent, who=tuple(who), hour=n)])
        elif kind == "meeting":
            last = Batch(upserts=[meeting(sid, day, tuple(who))])
        elif kind == "delete":
            last = Batch(deletions=[sid])
        elif kind == "sweep":  # a full resync that sees only this one again
            store.apply_batch("mail", Batch(full_sync_start=[""]), rules_for)
            item = mail(sid, day, sent=sent, who=tuple(who))
            last = Batch(upserts=[item], full_sync_end=[""])
        store.apply_batch("mail", last, rules_for)
        assert_exact(store)


# ------------------------------------------------------------------ re-derivation
def _many(n: int) -> Batch:
    return Batch(
        upserts=[
            mail(f"m{i}", i % 300, sent=i % 3 != 0, who=(PEOPLE[i % 3],), hour=i % 24)
            for i in range(n)
        ]
    )


def test_a_rule_change_is_rederived_in_chunks_by_the_next_writer(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    store.apply_batch("mail", _many(120), rules_for)
    seen: list[tuple[int, int]] = []
    derived = store.derived.bring_up_to_date(
        other_rules(frozenset()), lambda d, t: seen.append((d, t)), chunk=50
    )
    assert derived == 120 and seen == [(50, 120), (100, 120), (120, 120)]
    assert_exact(store, other_rules(frozenset()))
    assert "p2@x.example" not in {s.address for s in store.derived.summaries()}
    assert store.bring_derived_up_to_date(other_rules) == 0  # nothing left to do


def test_a_rederivation_told_to_stop_resumes_where_it_stopped(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    store.apply_batch("mail", _many(120))  # queued, as an older syncd left them
    calls = []
    done = store.derived.bring_up_to_date(
        rules_for(frozenset()), lambda d, t: calls.append(d), lambda: len(calls) >= 1, chunk=50
    )
    assert done == 50 and derived_tables(store)["queue"] == 70
    assert store.bring_derived_up_to_date(rules_for) == 70
    assert_exact(store)


KILLED = """
import os, signal, sys
from syncd.store import Store
sys.path.insert(0, {tests!r})
from test_store_derived import rules_for
store = Store.open({db!r})
real = rules_for(frozenset())
class Dies:
    calls = 0
    def fingerprint(self):
        return real.fingerprint()
    def derive(self, items):
        Dies.calls += 1
        rows = real.derive(items)
        if Dies.calls == 4:  # in the middle of the fourth chunk's transaction
            os.kill(os.getpid(), signal.SIGKILL)
        return rows
store.derived.bring_up_to_date(Dies(), chunk=100)
"""


def test_a_rederivation_killed_mid_chunk_resumes_and_ends_as_a_clean_one(tmp_path: Path) -> None:
    db = tmp_path / "syncd.db"
    store = store_in(tmp_path)
    store.apply_batch("mail", _many(550))
    store.close()
    tests = str(Path(__file__).parent)
    proc = subprocess.run([sys.executable, "-c", KILLED.format(db=str(db), tests=tests)])
    assert proc.returncode == -signal.SIGKILL
    store = Store.open(db)
    assert derived_tables(store)["queue"] == 250  # three chunks committed, the fourth not
    assert store.bring_derived_up_to_date(rules_for) == 250
    assert_exact(store)
    clean = store_in()
    clean.apply_batch("mail", _many(550), rules_for)
    ours, theirs = derived_tables(store), derived_tables(clean)
    assert ours["log"] == theirs["log"] and ours["names"] == theirs["names"]
    assert [r[:6] + r[7:] for r in ours["summary"]] == [r[:6] + r[7:] for r in theirs["summary"]]


def test_a_writer_refreshes_stale_contacts_before_reading_them(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    store.apply_batch("mail", _many(30))  # queued
    store.derived.prepare(rules_for(frozenset()))
    assert_exact(store)


# ------------------------------------------------------------------ writers wait their turn
def _hold_lock(db: Path, seconds: float, held: threading.Event) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    held.set()
    time.sleep(seconds)
    conn.execute("ROLLBACK")
    conn.close()


def test_a_writer_waits_for_the_lock_then_gives_up_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "syncd.db"
    store_in(tmp_path).close()
    held = threading.Event()
    holder = threading.Thread(target=_hold_lock, args=(db, 1.5, held))
    holder.start()
    held.wait()
    impatient = Store.open(db, busy_wait=0.3)
    started = time.monotonic()
    with pytest.raises(StoreBusyError) as e:
        impatient.mark_ok("mail")
    assert time.monotonic() - started >= 0.25
    assert str(e.value) == (
        f"the store {db} is busy: another syncd process kept it locked for over 0.3 s; "
        "nothing was written, try again later"
    )
    assert impatient.source_state("mail").last_ok_at is None  # type: ignore[union-attr]
    # Within its wait, a writer takes its turn once the lock is free.
    patient = Store.open(db, busy_wait=10)
    patient.mark_ok("mail")
    assert patient.source_state("mail").last_ok_at is not None  # type: ignore[union-attr]
    holder.join()


def test_a_reader_refuses_an_older_schema_and_a_writer_upgrades_it(tmp_path: Path) -> None:
    db = tmp_path / "syncd.db"
    old = Database(str(db))
    old.execute("PRAGMA journal_mode = WAL")
    migration_set().apply(old, stop_before="m002_address_summary")
    old.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match=r"older syncd: run `syncd sync` to upgrade it"):
        Store.open_reader(db)
    assert db.read_bytes() == before
    Store.open(db).close()
    reader = Store.open_reader(db)
    assert reader.pending_migrations() == [] and reader.counts()["interactions"] == 0


def test_a_reader_cannot_write(tmp_path: Path) -> None:
    store_in(tmp_path).close()
    reader = Store.open_reader(tmp_path / "syncd.db")
    with pytest.raises(StoreError, match="opened for reading only"):
        reader.mark_ok("mail")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.conn.execute("UPDATE sources SET last_error = 'x'")


def test_stored_interactions_read_back_as_the_rules_see_them() -> None:
    store = store_in()
    it = mail("a", 3, sent=True, who=("p2@x.example", "p1@x.example"))
    store.apply_batch("mail", Batch(upserts=[it]), rules_for)
    [back] = store.load_interactions([1])
    assert back == StoredInteraction(
        1, "mail", "a", "email", it.occurred_at, "a", None, None, None, int(Flag.SENT), 2,
        (Participant(ME, "from", "Ada"), Participant("p1@x.example", "to", "p1"),
         Participant("p2@x.example", "to", "p2")),
    )  # fmt: skip
