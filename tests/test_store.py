"""The store: idempotent upserts by (source, source_id), one transaction per batch and its
cursor, full-sync sweeps, owner-only files, WAL, recorded migrations."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from builders import at
from conftest import Syncd

from syncd.models import Batch, Contact, Flag, Interaction, Participant, Skip
from syncd.store import Store
from syncd.store.migrations import NAMES


def email(
    sid: str, *to: str, day: str = "2026-03-01", scope: str = "INBOX", **kw: Any
) -> Interaction:
    return Interaction(
        source_id=sid,
        kind="email",
        occurred_at=at(day),
        participants=(
            Participant("ada@example.org", "from", "Ada"),
            *(Participant(a, "to") for a in to),
        ),
        subject=f"Subject {sid}",
        head_count=len(to),
        scope=scope,
        **kw,
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "state" / "syncd.db")
    s.ensure_source("mail", "mbox")
    yield s
    s.close()


def facts(store: Store) -> dict[str, Any]:
    """Everything a sync writes, minus bookkeeping (seq, timestamps, row ids)."""
    q = store.conn.execute
    return {
        "interactions": sorted(
            q(
                "SELECT source, source_id, kind, occurred_at, subject, flags, head_count, scope "
                "FROM interactions"
            ).fetchall()
        ),
        "participants": sorted(
            q(
                "SELECT i.source, i.source_id, p.address, p.role, p.name, p.response "
                "FROM participants p JOIN interactions i ON i.id = p.interaction_id"
            ).fetchall()
        ),
        "contacts": sorted(q("SELECT * FROM contacts").fetchall()),
        "skipped": sorted(q("SELECT source, location, reason FROM skipped").fetchall()),
        "cursors": q("SELECT name, cursor, account FROM sources ORDER BY name").fetchall(),
    }


def test_a_replayed_batch_changes_nothing(store: Store) -> None:
    batch = Batch(
        upserts=[email("a", "bob@x.example"), email("b", "carol@x.example", "dan@x.example")],
        contacts=[Contact("c1", "Bob", ("bob@x.example", "Bob@Home.example"))],
        skipped=[Skip("mail.mbox:offset 10", "no Date header")],
        cursor={"offset": 100},
        account="Ada@Example.org",
    )
    store.apply_batch("mail", batch)
    once = facts(store)
    store.apply_batch("mail", batch)
    store.apply_batch("mail", batch)
    assert facts(store) == once
    assert store.counts() == {"interactions": 2, "participants": 5, "contacts": 1, "skipped": 1}
    assert once["cursors"] == [("mail", '{"offset":100}', "ada@example.org")]
    assert once["contacts"] == [
        ("mail", "c1", "Bob", '["bob@home.example", "bob@x.example"]', None)
    ]


def test_upserts_are_keyed_by_source_and_source_id(store: Store) -> None:
    store.ensure_source("other", "imap")
    store.apply_batch("mail", Batch(upserts=[email("same", "bob@x.example")]))
    store.apply_batch("other", Batch(upserts=[email("same", "bob@x.example")]))
    assert store.counts()["interactions"] == 2
    # An update of one replaces its facts and participants; the other source's copy stays.
    changed = email("same", "carol@x.example", day="2026-04-01", flags=int(Flag.SENT))
    store.apply_batch("mail", Batch(upserts=[changed]))
    got = facts(store)
    assert [(i[0], i[3], i[5]) for i in got["interactions"]] == [
        ("mail", "2026-04-01T12:00:00+00:00", int(Flag.SENT)),
        ("other", "2026-03-01T12:00:00+00:00", 0),
    ]
    assert [(p[0], p[2]) for p in got["participants"] if p[3] == "to"] == [
        ("mail", "carol@x.example"),
        ("other", "bob@x.example"),
    ]


def test_the_same_source_id_twice_in_one_batch_keeps_the_last(store: Store) -> None:
    store.apply_batch(
        "mail", Batch(upserts=[email("a", "bob@x.example"), email("a", "eve@x.example")])
    )
    assert [p[2] for p in facts(store)["participants"] if p[3] == "to"] == ["eve@x.example"]


def test_a_failing_batch_leaves_no_trace_and_keeps_the_cursor(store: Store) -> None:
    store.apply_batch("mail", Batch(upserts=[email("a", "bob@x.example")], cursor={"n": 1}))
    before = facts(store)
    seq = store.source_state("mail").seq  # type: ignore[union-attr]
    broken = email("c", "carol@x.example")
    broken = replace(broken, participants=(*broken.participants, Participant(None, "to")))  # type: ignore[arg-type]
    bad = Batch(
        upserts=[email("b", "dan@x.example"), broken],
        deletions=["a"],
        skipped=[Skip("x", "y")],
        cursor={"n": 2},
    )
    with pytest.raises(sqlite3.IntegrityError):
        store.apply_batch("mail", bad)
    assert facts(store) == before
    state = store.source_state("mail")
    assert state is not None and (state.cursor, state.seq) == ({"n": 1}, seq)


def test_a_batch_without_a_cursor_keeps_the_stored_one(store: Store) -> None:
    store.apply_batch("mail", Batch(cursor={"n": 1}))
    store.apply_batch("mail", Batch(upserts=[email("a", "bob@x.example")]))
    assert store.source_state("mail").cursor == {"n": 1}  # type: ignore[union-attr]


def test_deletions_remove_the_interaction_and_its_participants(store: Store) -> None:
    store.apply_batch(
        "mail", Batch(upserts=[email("a", "bob@x.example"), email("b", "eve@x.example")])
    )
    res = store.apply_batch("mail", Batch(deletions=["a", "never-seen"]))
    assert res.deleted == 1
    got = facts(store)
    assert [i[1] for i in got["interactions"]] == ["b"]
    assert {p[1] for p in got["participants"]} == {"b"}


def test_a_scoped_deletion_removes_only_an_item_still_stored_under_that_scope(
    store: Store,
) -> None:
    # "a" moved from INBOX to Archive and the new folder reported first; "b" really went away.
    store.apply_batch(
        "mail",
        Batch(upserts=[email("a", "bob@x.example"), email("b", "eve@x.example")]),
    )
    store.apply_batch("mail", Batch(upserts=[email("a", "bob@x.example", scope="Archive")]))
    removal = Batch(
        scoped_deletions=[("INBOX", "a"), ("INBOX", "b"), ("INBOX", "never-seen")],
        cursor={"n": 3},
    )
    res = store.apply_batch("mail", removal)
    assert res.deleted == 1
    got = facts(store)
    assert [(i[1], i[7]) for i in got["interactions"]] == [("a", "Archive")]
    assert {p[1] for p in got["participants"]} == {"a"}
    # Replaying the batch (a crash before the next cursor) changes nothing.
    assert store.apply_batch("mail", removal).deleted == 0
    assert facts(store) == got
    assert store.source_state("mail").cursor == {"n": 3}  # type: ignore[union-attr]
    # Removed from the scope it is in, it goes.
    assert store.apply_batch("mail", Batch(scoped_deletions=[("Archive", "a")])).deleted == 1
    assert store.counts()["interactions"] == 0


def test_a_scoped_deletion_in_the_batch_that_moves_the_item_keeps_it(store: Store) -> None:
    store.apply_batch("mail", Batch(upserts=[email("a", "bob@x.example")]))
    store.apply_batch(
        "mail",
        Batch(
            upserts=[email("a", "bob@x.example", scope="Archive")],
            scoped_deletions=[("INBOX", "a")],
        ),
    )
    assert [(i[1], i[7]) for i in facts(store)["interactions"]] == [("a", "Archive")]


def test_a_full_sync_sweeps_what_it_did_not_see_again_in_its_scope(store: Store) -> None:
    old = [email(s, "bob@x.example", scope="INBOX") for s in ("a", "b", "c")]
    store.apply_batch("mail", Batch(upserts=[*old, email("s", "eve@x.example", scope="Sent")]))
    # A full resync of INBOX over two batches sees a and c again, and d; b vanished.
    r1 = store.apply_batch(
        "mail", Batch(upserts=[email("a", "bob@x.example")], full_sync_start=["INBOX"])
    )
    assert r1.swept == 0 and store.counts()["interactions"] == 4  # nothing swept mid-way
    r2 = store.apply_batch(
        "mail",
        Batch(
            upserts=[email("c", "bob@x.example"), email("d", "bob@x.example")],
            full_sync_end=["INBOX"],
        ),
    )
    assert r2.swept == 1
    assert [(i[1], i[7]) for i in facts(store)["interactions"]] == [
        ("a", "INBOX"), ("c", "INBOX"), ("d", "INBOX"), ("s", "Sent"),
    ]  # fmt: skip


def test_a_full_sync_interrupted_and_restarted_still_sweeps(store: Store) -> None:
    store.apply_batch("mail", Batch(upserts=[email(s, "bob@x.example") for s in "abc"]))
    store.apply_batch(
        "mail", Batch(upserts=[email("a", "bob@x.example")], full_sync_start=["INBOX"])
    )
    # ...crash: the end never came. The rerun starts the full sync again from the top.
    store.apply_batch(
        "mail", Batch(upserts=[email("a", "bob@x.example")], full_sync_start=["INBOX"])
    )
    store.apply_batch("mail", Batch(upserts=[email("c", "bob@x.example")], full_sync_end=["INBOX"]))
    assert [i[1] for i in facts(store)["interactions"]] == ["a", "c"]


def test_an_end_without_a_start_sweeps_nothing(store: Store) -> None:
    store.apply_batch("mail", Batch(upserts=[email(s, "bob@x.example") for s in "ab"]))
    res = store.apply_batch("mail", Batch(full_sync_end=["INBOX"]))
    assert res.swept == 0 and store.counts()["interactions"] == 2


def test_contacts_are_upserted_and_deleted_by_source_id(store: Store) -> None:
    store.apply_batch("mail", Batch(contacts=[Contact("c1", "Bob", ("bob@x.example",))]))
    store.apply_batch("mail", Batch(contacts=[Contact("c1", "Robert", ("bob@x.example",))]))
    assert store.contacts() == [Contact("c1", "Robert", ("bob@x.example",), None)]
    store.apply_batch("mail", Batch(contact_deletions=["c1"]))
    assert store.contacts() == []


def test_the_store_is_owner_only_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "syncd.db"
    s = Store.open(path)
    s.ensure_source("mail", "mbox")
    s.apply_batch("mail", Batch(upserts=[email("a", "bob@x.example")]))
    s.close()
    s = Store.open(path)  # the side files exist by now
    assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    for f in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if f.exists():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    s.close()


def test_a_loose_existing_file_is_tightened_to_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "syncd.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    Store.open(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_migrations_are_recorded_and_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "syncd.db"
    Store.open(path).close()
    Store.open(path).close()  # reopening applies nothing twice
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT migration_set, name FROM _sqlite_migrations ORDER BY applied_at, name"
        ).fetchall()
    expected = [("syncd", name) for name in NAMES]
    assert rows == expected
    assert rows[0] == ("syncd", "m001_initial")
    assert Store.open(path).pending_migrations() == []


def test_source_state_records_success_errors_and_reauth(store: Store) -> None:
    store.mark_attempt("mail")
    store.mark_error("mail", "connection refused")
    st = store.source_state("mail")
    assert st is not None and (st.last_error, st.auth_state, st.last_ok_at) == (
        "connection refused", "ok", None,
    )  # fmt: skip
    store.mark_error("mail", "token revoked", needs_reauth=True)
    assert store.source_state("mail").auth_state == "needs_reauth"  # type: ignore[union-attr]
    store.mark_ok("mail")
    st = store.source_state("mail")
    assert st is not None and (st.last_error, st.auth_state) == (None, "ok")
    assert st.last_ok_at is not None and st.last_attempt_at is not None
    store.apply_batch("mail", Batch(cursor={"n": 1}))
    store.reset_source("mail")
    assert store.source_state("mail").cursor is None  # type: ignore[union-attr]


def test_an_unknown_source_is_refused(store: Store) -> None:
    with pytest.raises(KeyError):
        store.apply_batch("nope", Batch())


def _dump(db: Path) -> dict[str, list[Any]]:
    """Every row of every table, byte for byte, except when each source was last tried."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
        out["sources"] = conn.execute(
            "SELECT name, type, cursor, account, seq, sweeps, last_error, auth_state FROM sources"
        ).fetchall()
    return out


def test_a_second_sync_with_nothing_new_changes_nothing(syncd: Syncd) -> None:
    from builders import Event, Mail, write_ics, write_mbox

    ada = "ada@example.org"
    mbox = write_mbox(
        syncd.root / "mail.mbox",
        [Mail(ada, [f"p{i}@x.example"], at(f"2026-03-{i + 1:02d}"), f"S{i}") for i in range(5)]
        + [Mail("eve@x.example", [ada], at("2026-03-09"), "Hi")],
    )
    ics = write_ics(
        syncd.root / "cal.ics",
        [
            Event("one", at("2026-03-10"), organizer=ada, attendees=[("q@x.example", "ACCEPTED")]),
            Event("weekly", at("2026-03-02"), organizer=ada, rrule="FREQ=WEEKLY;COUNT=4",
                  attendees=[("r@x.example", "ACCEPTED")]),
        ],
    )  # fmt: skip
    syncd.write_config(
        {"mail": {"type": "mbox", "path": str(mbox)}, "cal": {"type": "ics", "path": str(ics)}}
    )
    syncd.run("sync")
    syncd.run("people", "--as-of", "2026-06-30")  # derive contacts too
    first = _dump(syncd.store_path)
    assert len(first["interactions"]) == 6 + 1 + 4
    assert all(cursor for _, _, cursor, *_ in first["sources"])

    second = syncd.run("sync")
    syncd.run("people", "--as-of", "2026-06-30")
    assert _dump(syncd.store_path) == first
    assert "0 new, 0 changed, 0 removed" in second.stderr
