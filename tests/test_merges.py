"""One person, one set of addresses (issue 15): `syncd people merge` refuses what makes no sense
and says when nothing changed; `syncd people unmerge` splits an address back out, whoever made
the merge, and names what it cannot undo; stored merges of an older syncd keep working."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from builders import Mail, at, write_mbox
from conftest import Syncd

from syncd.errors import StoreError
from syncd.models import MERGE_CLI, MERGE_DIGEST_ACTION, MERGE_UNMERGE, Batch, Contact
from syncd.store import Store

ADA = "Ada Lovelace <ada@example.org>"
FIXTURE = Path(__file__).parent / "data" / "store-before-merge-records.db"


def _setup(syncd: Syncd, mails: list[Mail] | None = None, **sections: Any) -> None:
    mails = mails or [
        Mail(ADA, ["Bob <bob@work.example>"], at("2026-03-01")),
        Mail(ADA, ["Bob <bob@home.example>"], at("2026-03-05")),
        Mail("Bob <bob@phone.example>", [ADA], at("2026-03-09")),
        Mail(ADA, ["Grace Hopper <grace@navy.example>"], at("2026-03-02")),
    ]
    mbox = write_mbox(syncd.root / "mail.mbox", mails)
    syncd.write_config({"mail": {"type": "mbox", "path": str(mbox)}}, **sections)
    syncd.run("sync")


def _groups(syncd: Syncd) -> list[list[str]]:
    """Each person's addresses, sorted."""
    people = syncd.json("people", "--as-of", "2026-06-30", "--all")
    return sorted(sorted(p["emails"]) for p in people)


def _stored_merges(syncd: Syncd) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    store = Store.open_reader(syncd.store_path)
    try:
        return [(r.origin, r.addresses, r.split) for r in store.people.merges()]
    finally:
        store.close()


def _today(tz: str = "UTC") -> str:
    return datetime.now(UTC).astimezone(ZoneInfo(tz)).date().isoformat()


# ---------------------------------------------------------------------------------- merge
def test_merge_refuses_the_users_own_addresses_with_one_line(syncd: Syncd) -> None:
    _setup(syncd)
    store = syncd.open_store()
    store.ensure_source("work", "google")
    store.apply_batch("work", Batch(account="Ada@Work.example"))  # the source's own account
    store.close()
    r = syncd.run("people", "merge", "ADA@example.org", "bob@work.example", expect=2)
    assert r.stderr == (
        "syncd: people merge: ada@example.org is your own address ([me] emails): "
        "it never joins a person\n"
    )
    r = syncd.run("people", "merge", "bob@home.example", "ada@work.example", expect=2)
    assert r.stderr == (
        "syncd: people merge: ada@work.example is your own address (the account of source "
        "`work`): it never joins a person\n"
    )
    assert _stored_merges(syncd) == []


def test_merge_refuses_addresses_that_appear_nowhere(syncd: Syncd) -> None:
    _setup(syncd, people=[{"name": "Heidi", "emails": ["heidi@config.example"]}])
    r = syncd.run("people", "merge", "bob@work.example", "bob@wrok.example", expect=2)
    assert r.stderr == (
        "syncd: people merge: bob@wrok.example appears in no interaction, address-book contact "
        "or [[people]] entry: check the spelling (`syncd people --all` lists everyone syncd "
        "knows)\n"
    )
    r = syncd.run("people", "merge", "x@nowhere.example", "y@nowhere.example", expect=2)
    assert "x@nowhere.example and y@nowhere.example appear in no interaction" in r.stderr
    assert _stored_merges(syncd) == []
    # An address only in the address book or only in a [[people]] entry is known.
    store = syncd.open_store()
    store.ensure_source("book", "vcard")
    store.apply_batch("book", Batch(contacts=[Contact("c1", "Bob", ("bob@book.example",))]))
    store.close()
    syncd.run("people", "merge", "bob@work.example", "bob@book.example", "heidi@config.example")
    assert [m[1] for m in _stored_merges(syncd)] == [
        ("bob@book.example", "bob@work.example", "heidi@config.example")
    ]


def test_merge_says_when_nothing_changed(syncd: Syncd) -> None:
    _setup(syncd, people=[{"name": "Bob", "emails": ["bob@work.example", "bob@phone.example"]}])
    r = syncd.run("people", "merge", "bob@work.example", "bob@home.example")
    assert r.stdout == (
        "Merged 2 addresses into one person: bob@home.example and bob@work.example. "
        "Undo with `syncd people unmerge ADDRESS`.\n"
    )
    assert _groups(syncd) == [
        ["bob@home.example", "bob@phone.example", "bob@work.example"],
        ["grace@navy.example"],
    ]
    for pair in (
        ("BOB@home.example", "bob@work.example"),
        ("bob@phone.example", "bob@home.example"),  # joined through the [[people]] entry
    ):
        r = syncd.run("people", "merge", *pair)
        assert r.stdout.endswith("are already one person: nothing changed.\n"), r.stdout
    assert len(_stored_merges(syncd)) == 1  # nothing written
    r = syncd.run("people", "merge", "bob@work.example", "Bob@Work.example", expect=2)
    assert "give at least two addresses" in r.stderr


# ---------------------------------------------------------------------------------- unmerge
def test_unmerge_splits_an_address_out_of_a_cli_merge_and_the_rest_stays(syncd: Syncd) -> None:
    _setup(syncd, me={"timezone": "Pacific/Kiritimati"})  # UTC+14: the date is the user's
    syncd.run("people", "merge", "bob@work.example", "bob@home.example", "bob@phone.example")
    r = syncd.run("people", "unmerge", "Bob@Home.example")
    assert r.stdout == (
        "Split bob@home.example out of its person:\n"
        "  undid the merge with bob@phone.example and bob@work.example, made with "
        f"`syncd people merge` on {_today('Pacific/Kiritimati')}\n"
    )
    assert _groups(syncd) == [
        ["bob@home.example"],
        ["bob@phone.example", "bob@work.example"],
        ["grace@navy.example"],
    ]
    r = syncd.run("people", "unmerge", "bob@home.example")
    assert r.stdout == "bob@home.example is not merged with any other address: nothing changed.\n"
    # Merged again, it is one person again.
    syncd.run("people", "merge", "bob@home.example", "bob@work.example")
    assert _groups(syncd)[0] == ["bob@home.example", "bob@phone.example", "bob@work.example"]


def test_unmerge_undoes_a_merge_a_digest_action_made(syncd: Syncd) -> None:
    _setup(syncd, me={"timezone": "Europe/Berlin"})
    store = syncd.open_store()  # as the digest's "Same person" link will (issue 13)
    store.people.merge(
        ["grace@navy.example", "bob@work.example"],
        MERGE_DIGEST_ACTION,
        at=datetime(2026, 4, 1, 22, 30, tzinfo=UTC),  # 2 April in Berlin
        note="action-1@example.org",
    )
    store.close()
    assert ["bob@work.example", "grace@navy.example"] in _groups(syncd)
    r = syncd.run("people", "unmerge", "grace@navy.example")
    assert r.stdout == (
        "Split grace@navy.example out of its person:\n"
        '  undid the merge with bob@work.example, made with a "Same person" link of a '
        "digest on 2026-04-02\n"
    )
    assert ["grace@navy.example"] in _groups(syncd)


def test_unmerge_of_the_address_that_joined_two_merges_keeps_the_rest_together(
    syncd: Syncd,
) -> None:
    _setup(syncd)
    syncd.run("people", "merge", "bob@work.example", "bob@home.example")
    store = syncd.open_store()
    store.people.merge(["bob@home.example", "bob@phone.example"], MERGE_DIGEST_ACTION)
    store.close()
    r = syncd.run("people", "unmerge", "bob@home.example")
    assert r.stdout == (
        "Split bob@home.example out of its person:\n"
        "  undid the merge with bob@work.example, made with `syncd people merge` on "
        f"{_today()}\n"
        '  undid the merge with bob@phone.example, made with a "Same person" link of a '
        f"digest on {_today()}\n"
        "  bob@phone.example and bob@work.example stay one person.\n"
    )
    assert _groups(syncd)[:2] == [["bob@home.example"], ["bob@phone.example", "bob@work.example"]]
    assert _stored_merges(syncd)[-1] == (
        MERGE_UNMERGE, ("bob@phone.example", "bob@work.example"), ()
    )  # fmt: skip
    r = syncd.run("people", "unmerge", "bob@phone.example")
    assert "kept together by an earlier `syncd people unmerge`" in r.stdout
    assert _groups(syncd) == [[a] for a in sorted(
        ["bob@home.example", "bob@phone.example", "bob@work.example", "grace@navy.example"]
    )]  # fmt: skip


def test_unmerge_names_the_people_entry_it_cannot_undo(syncd: Syncd) -> None:
    _setup(syncd, people=[{"name": "Bob", "emails": ["bob@work.example", "bob@home.example"]}])
    r = syncd.run("people", "unmerge", "bob@home.example", expect=2)
    assert r.stderr == (
        "syncd: people unmerge: syncd stored no merge of bob@home.example, so there is nothing "
        'it can undo: the [[people]] entry "Bob" in '
        f"{syncd.config_path} lists it with bob@work.example: remove bob@home.example there\n"
    )
    assert ["bob@home.example", "bob@work.example"] in _groups(syncd)


def test_unmerge_names_the_address_book_contact_it_cannot_undo(syncd: Syncd) -> None:
    _setup(syncd)
    store = syncd.open_store()
    store.ensure_source("phone", "vcard")
    both = Contact("c1", "Bob Builder", ("bob@work.example", "Bob@Phone.example"))
    store.apply_batch("phone", Batch(contacts=[both]))
    store.close()
    r = syncd.run("people", "unmerge", "bob@phone.example", expect=2)
    assert r.stderr == (
        "syncd: people unmerge: syncd stored no merge of bob@phone.example, so there is "
        'nothing it can undo: the address-book contact "Bob Builder" of source `phone` lists '
        "it with bob@work.example: edit the contact in that address book\n"
    )
    # A merge of its own is undone, and the contact that still joins them is named.
    syncd.run("people", "merge", "bob@phone.example", "bob@home.example")
    r = syncd.run("people", "unmerge", "bob@phone.example")
    assert r.stdout.splitlines() == [
        "Split bob@phone.example out of its person:",
        f"  undid the merge with bob@home.example, made with `syncd people merge` on {_today()}",
        "bob@phone.example is still one person with bob@work.example, which syncd cannot "
        'undo: the address-book contact "Bob Builder" of source `phone` lists it with '
        "bob@work.example: edit the contact in that address book.",
    ]
    assert _groups(syncd)[:2] == [["bob@home.example"], ["bob@phone.example", "bob@work.example"]]


# ---------------------------------------------------------------------------------- migration
def test_merges_stored_by_an_older_syncd_carry_over_and_can_be_undone(syncd: Syncd) -> None:
    """tests/data/store-before-merge-records.db was written by syncd before merge records
    (see tests/data/make_store_before_merge_records.py): two merges in `addresses`."""
    shutil.copyfile(FIXTURE, syncd.store_path)
    syncd.write_config()
    with pytest.raises(StoreError, match="older syncd"):
        Store.open_reader(syncd.store_path)  # readers never migrate
    syncd.run("sync")  # a writer migrates
    with sqlite3.connect(syncd.store_path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "addresses" not in tables and {"merges", "merge_members"} <= tables
    assert _stored_merges(syncd) == [
        (MERGE_CLI, ("bob@home.example", "bob@phone.example", "bob@work.example"), ()),
        (MERGE_CLI, ("grace.h@home.example", "grace@navy.example"), ()),
    ]
    assert _groups(syncd) == [
        ["alan@bletchley.example"],
        ["bob@home.example", "bob@phone.example", "bob@work.example"],
        ["grace.h@home.example", "grace@navy.example"],
    ]
    r = syncd.run("people", "unmerge", "grace@navy.example")
    assert r.stdout == (
        "Split grace@navy.example out of its person:\n"
        "  undid the merge with grace.h@home.example, made with `syncd people merge` "
        "(by an older syncd, which kept no date)\n"
    )
    assert ["grace@navy.example"] in _groups(syncd)
