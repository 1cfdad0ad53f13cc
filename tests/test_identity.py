"""Who is who: addresses normalized and merged into people, and each person's display name."""

from __future__ import annotations

from typing import Any

from builders import Mail, at, write_mbox
from conftest import Syncd

from syncd.identity import Identities
from syncd.models import Batch, Contact

ADA = "Ada Lovelace <ada@example.org>"


def test_merges_are_transitive_and_keyed_by_the_smallest_address() -> None:
    ids = Identities(me=["ada@example.org"])
    ids.merge(["c@x.example", "d@x.example"])
    ids.merge(["B@X.example", "c@x.example"])
    ids.merge(["e@x.example"])  # alone: nothing to merge
    assert {a: ids.find(a) for a in ("b@x.example", "c@x.example", "d@x.example")} == {
        "b@x.example": "b@x.example",
        "c@x.example": "b@x.example",
        "d@x.example": "b@x.example",
    }
    assert ids.find("e@x.example") == "e@x.example"
    assert ids.groups() == {"b@x.example": ["b@x.example", "c@x.example", "d@x.example"]}


def test_the_users_own_addresses_never_join_a_person() -> None:
    ids = Identities(me=["ada@example.org"])
    ids.merge(["ada@example.org", "bob@x.example", "robert@x.example"])
    assert ids.find("ada@example.org") == "ada@example.org"
    assert ids.groups() == {"bob@x.example": ["bob@x.example", "robert@x.example"]}


def _setup(syncd: Syncd, mails: list[Mail], **sections: Any) -> None:
    mbox = write_mbox(syncd.root / "mail.mbox", mails)
    syncd.write_config({"mail": {"type": "mbox", "path": str(mbox)}}, **sections)
    syncd.run("sync")


def _people(syncd: Syncd) -> list[tuple[str, list[str], int]]:
    return sorted(
        (p["name"], p["emails"], p["contact_days"])
        for p in syncd.json("people", "--as-of", "2026-06-30", "--all")
    )


def test_people_merge_joins_addresses_into_one_person(syncd: Syncd) -> None:
    _setup(
        syncd,
        [
            Mail(ADA, ["Bob <bob@work.example>"], at("2026-03-01")),
            Mail(ADA, ["Bob <bob@home.example>"], at("2026-03-05")),
            Mail("Bob <Bob@Phone.example>", [ADA], at("2026-03-09")),
        ],
    )
    assert len(_people(syncd)) == 3
    r = syncd.run("people", "merge", "BOB@work.example", "bob@home.example", "bob@phone.example")
    assert "Merged 3 addresses" in r.stdout
    # One person; the address last in use comes first (a reply goes there).
    assert _people(syncd) == [
        ("Bob", ["bob@phone.example", "bob@home.example", "bob@work.example"], 3)
    ]
    r = syncd.run("people", "merge", "bob@work.example", expect=2)
    assert "at least two addresses" in r.stderr


def test_address_book_contacts_merge_addresses_and_name_the_person(syncd: Syncd) -> None:
    _setup(
        syncd,
        [
            Mail(ADA, ["G <grace@navy.example>"], at("2026-03-01")),
            Mail(ADA, ["grace.h@home.example"], at("2026-03-02")),
        ],
    )
    store = syncd.open_store()
    store.ensure_source("contacts", "google")
    grace = Contact("c1", "Grace Hopper", ("Grace@Navy.example", "grace.h@home.example"))
    store.apply_batch("contacts", Batch(contacts=[grace]))
    store.close()
    assert _people(syncd) == [("Grace Hopper", ["grace.h@home.example", "grace@navy.example"], 2)]


def test_the_name_is_the_most_frequent_one_seen_and_config_names_win(syncd: Syncd) -> None:
    mails = [Mail(ADA, ["Kate <kate@x.example>"], at(f"2026-03-0{d}")) for d in (1, 2, 3)]
    mails += [Mail("Katherine Johnson <kate@x.example>", [ADA], at("2026-03-04"))]
    mails += [Mail(ADA, ["nameless@x.example"], at("2026-03-05"))]
    # RFC 2047 encoded names are decoded.
    mails += [Mail(ADA, ["=?utf-8?b?TWHFgmdvcnphdGE=?= <gosia@x.example>"], at("2026-03-06"))]
    _setup(syncd, mails)
    assert _people(syncd) == [
        ("Kate", ["kate@x.example"], 4),
        ("Małgorzata", ["gosia@x.example"], 1),
        ("nameless", ["nameless@x.example"], 1),  # no name seen: the address's local part
    ]
    syncd.write_config(
        {"mail": {"type": "mbox", "path": str(syncd.root / "mail.mbox")}},
        people=[{"name": "Katherine Johnson", "emails": ["kate@x.example"]}],
    )
    assert _people(syncd)[0] == ("Katherine Johnson", ["kate@x.example"], 4)


def test_a_people_entry_never_merges_the_user_in(syncd: Syncd) -> None:
    _setup(
        syncd,
        [Mail(ADA, ["bob@x.example"], at("2026-03-01"))],
        people=[{"name": "Bob", "emails": ["bob@x.example", "ada@example.org"]}],
    )
    assert _people(syncd) == [("Bob", ["bob@x.example"], 1)]
