"""Likely duplicates (issue 15): one name on two people is suggested as a merge, with the command
that accepts it; never the user's own, list or automated addresses, never a pair already one
person or split apart by the user, never a merge on a name alone without the user's word.

The decisions are pure functions (syncd.merging), tested here without a database; the CLI
tests check the wording and that `people` hints at them in its table, never in its JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from builders import Mail, at, write_mbox
from conftest import Syncd

from syncd.config import PersonEntry
from syncd.identity import Identities
from syncd.merging import (
    Join,
    NameUse,
    Suggestion,
    normalise_name,
    oldest_first,
    refuse_merge,
    suggest_merges,
    what_still_joins,
)
from syncd.models import Batch, BookEntry, Contact, MergeRecord

ADA = "Ada Lovelace <ada@example.org>"


# ====================================================================== pure functions
def test_names_compare_without_case_accents_order_or_punctuation() -> None:
    assert normalise_name("José Núñez") == normalise_name("JOSE NUNEZ") == "jose nunez"
    assert normalise_name("Hopper, Grace") == normalise_name("grace hopper") == "grace hopper"
    assert normalise_name('"Søren Kierkegaard"') == "soren kierkegaard"
    assert normalise_name("Łukasz Żółw") == "lukasz zolw"
    assert normalise_name("Jean-Luc O'Brien") == "jean luc obrien"
    assert normalise_name("Straße") == normalise_name("STRASSE")
    assert normalise_name("Smith, John, Jr.") == "smith john jr"  # two commas: no reordering
    assert normalise_name("  ") == ""


def _no_reason(address: str) -> str | None:
    return None


def _suggest(
    names: dict[str, dict[str, int]],
    book: list[BookEntry] | None = None,
    declared: list[PersonEntry] | None = None,
    ids: Identities | None = None,
    excluded: Any = _no_reason,
    merges: list[MergeRecord] | None = None,
) -> list[tuple[tuple[str, str], str, str]]:
    found = suggest_merges(names, book or [], declared or [], ids or Identities(), excluded,
                           merges or [])  # fmt: skip
    return [(s.addresses, s.name, s.kind) for s in found]


def test_one_name_on_two_people_is_suggested_once_strongest_reason_first() -> None:
    names = {
        "grace@navy.example": {"Grace Hopper": 5},
        "g.hopper@navy.example": {"Hopper, Grace": 1},
        "jose@a.example": {"José Núñez": 2},
        "jnunez@b.example": {"Jose Nunez": 1, "J. Nunez": 1},
        "alan@a.example": {"Alan Turing": 1},
    }
    book = [BookEntry("phone", Contact("c1", "Alan Turing", ("alan@bletchley.example",)))]
    assert _suggest(names, book) == [
        (("alan@a.example", "alan@bletchley.example"), "Alan Turing", "address book"),
        (("g.hopper@navy.example", "grace@navy.example"), "Grace Hopper", "same domain"),
        (("jnunez@b.example", "jose@a.example"), "José Núñez", "same name"),
    ]


def test_a_people_entry_name_is_a_name_too() -> None:
    declared = [PersonEntry("Grace Hopper", ("grace@navy.example",))]
    assert _suggest({"gh@cobol.example": {"Grace Hopper": 1}}, declared=declared) == [
        (("gh@cobol.example", "grace@navy.example"), "Grace Hopper", "config")
    ]


def test_no_suggestion_for_excluded_merged_or_split_apart_addresses() -> None:
    names = {"grace@navy.example": {"Grace Hopper": 1}, "gh@cobol.example": {"Grace Hopper": 1}}
    # The user's own, automated or list addresses: whatever the rules say is no person.
    assert _suggest(names, excluded=lambda a: "your own address" if "cobol" in a else None) == []
    # Already one person.
    ids = Identities()
    ids.merge(["grace@navy.example", "gh@cobol.example"])
    assert _suggest(names, ids=ids) == []
    # Split apart by `syncd people unmerge`: the user said they are two.
    split = MergeRecord(1, "cli", None, ("grace@navy.example",), ("gh@cobol.example",))
    assert _suggest(names, merges=[split]) == []
    assert len(_suggest(names)) == 1


def test_a_one_word_name_is_no_evidence_unless_the_user_wrote_it_down() -> None:
    names = {"alex@a.example": {"Alex": 3}, "alex@b.example": {"ALEX": 1}}
    assert _suggest(names) == []
    book = [BookEntry("phone", Contact("c1", "Alex", ("alex@b.example",)))]
    assert _suggest(names, book) == [(("alex@a.example", "alex@b.example"), "Alex", "address book")]
    assert _suggest({"x@a.example": {"x@a.example": 1}, "x@b.example": {"x@a.example": 1}}) == []


def test_the_address_in_contact_first_comes_first() -> None:
    s = Suggestion(("new@x.example", "old@x.example"), "N N", "same domain",
                   (NameUse("new@x.example", "N N", "mail"),))  # fmt: skip
    first = {"old@x.example": datetime(2020, 1, 1, tzinfo=UTC),
             "new@x.example": datetime(2026, 1, 1, tzinfo=UTC)}  # fmt: skip
    assert oldest_first(s, first).command == "syncd people merge old@x.example new@x.example"
    assert oldest_first(s, {}).addresses == s.addresses


def test_merge_is_refused_for_own_and_unknown_addresses() -> None:
    own = {"me@x.example": "[me] emails"}
    assert refuse_merge(["a@x.example", "b@x.example"], own, ["a@x.example", "b@x.example"]) is None
    assert refuse_merge(["me@x.example", "b@x.example"], own, ["b@x.example"]) == (
        "me@x.example is your own address ([me] emails): it never joins a person"
    )
    assert "a@x.example appears in no interaction" in (
        refuse_merge(["a@x.example", "b@x.example"], own, ["b@x.example"]) or ""
    )


def test_what_still_joins_names_people_entries_and_contacts_never_the_user() -> None:
    declared = [PersonEntry("Bob", ("Bob@A.example", "bob@b.example")), PersonEntry(None, ())]
    book = [
        BookEntry("phone", Contact("c1", "Bob", ("bob@a.example", "me@x.example"))),
        BookEntry("google", Contact("c2", None, ("bob@a.example", "bob@c.example"))),
        BookEntry("google", Contact("c3", "Bob", ("bob@a.example",))),
    ]
    assert what_still_joins("bob@a.example", declared, book, ["me@x.example"]) == [
        Join("Bob", ("bob@b.example",)),
        Join(None, ("bob@c.example",), "google"),
    ]
    assert what_still_joins("bob@z.example", declared, book) == []


# ====================================================================== the CLI
def _setup(syncd: Syncd, mails: list[Mail], **sections: Any) -> None:
    mbox = write_mbox(syncd.root / "mail.mbox", mails)
    syncd.write_config({"mail": {"type": "mbox", "path": str(mbox)}}, **sections)
    syncd.run("sync")


def test_suggest_finds_one_name_with_accents_or_last_name_first(syncd: Syncd) -> None:
    _setup(
        syncd,
        [
            Mail(ADA, ["Grace Hopper <grace@navy.example>"], at("2026-01-05")),
            Mail(ADA, ["Grace Hopper <grace@navy.example>"], at("2026-02-05")),
            Mail('"Hopper, Grace" <g.hopper@navy.example>', [ADA], at("2026-03-05")),
            Mail(ADA, ["José Núñez <jose@a.example>"], at("2026-01-06")),
            Mail(ADA, ["JOSE NUNEZ <jnunez@b.example>"], at("2026-03-06")),
        ],
    )
    r = syncd.run("people", "--suggest")
    assert r.stdout == (
        "2 possible duplicates (syncd merges nobody on a name alone: run a command to accept "
        "one)\n"
        "\n"
        "Grace Hopper: grace@navy.example and g.hopper@navy.example, same name at navy.example\n"
        '  grace@navy.example: "Grace Hopper" in mail, first contact 2026-01-05\n'
        '  g.hopper@navy.example: "Hopper, Grace" in mail, first contact 2026-03-05\n'
        "  syncd people merge grace@navy.example g.hopper@navy.example\n"
        "\n"
        "José Núñez: jose@a.example and jnunez@b.example, same name\n"
        '  jose@a.example: "José Núñez" in mail, first contact 2026-01-06\n'
        '  jnunez@b.example: "JOSE NUNEZ" in mail, first contact 2026-03-06\n'
        "  syncd people merge jose@a.example jnunez@b.example\n"
    )
    assert syncd.json("people", "--suggest") == [
        {
            "addresses": ["grace@navy.example", "g.hopper@navy.example"],
            "name": "Grace Hopper",
            "reason": "same domain",
            "command": "syncd people merge grace@navy.example g.hopper@navy.example",
        },
        {
            "addresses": ["jose@a.example", "jnunez@b.example"],
            "name": "José Núñez",
            "reason": "same name",
            "command": "syncd people merge jose@a.example jnunez@b.example",
        },
    ]
    # The table says so in one line at the end; its JSON stays a plain list of people.
    table = syncd.run("people", "--as-of", "2026-06-30", "--all").stdout.splitlines()
    assert table[-1] == "2 possible duplicates: see `syncd people --suggest`"
    assert not any("duplicate" in line for line in table[:-1])
    listed = json.loads(syncd.run("people", "--as-of", "2026-06-30", "--format", "json").stdout)
    assert isinstance(listed, list) and all("emails" in p for p in listed)
    # Accepted, the suggestion goes away, and so does the hint.
    syncd.run("people", "merge", "grace@navy.example", "g.hopper@navy.example")
    syncd.run("people", "merge", "jose@a.example", "jnunez@b.example")
    assert syncd.run("people", "--suggest").stdout == (
        "No likely duplicates: no name is shared by two people.\n"
    )
    assert "duplicate" not in syncd.run("people", "--as-of", "2026-06-30").stdout
    # Split apart again by the user: not suggested again.
    syncd.run("people", "unmerge", "jnunez@b.example")
    assert syncd.json("people", "--suggest") == []


def test_suggest_names_an_address_book_contact(syncd: Syncd) -> None:
    _setup(syncd, [Mail(ADA, ["Alan Turing <alan@cam.example>"], at("2026-03-01"))])
    store = syncd.open_store()
    store.ensure_source("phone", "vcard")
    store.apply_batch(
        "phone", Batch(contacts=[Contact("c1", "Turing, Alan", ("alan@bletchley.example",))])
    )
    store.close()
    r = syncd.run("people", "--suggest")
    assert r.stdout.splitlines()[2:] == [
        "Alan Turing: alan@cam.example and alan@bletchley.example, same name in your address book",
        '  alan@cam.example: "Alan Turing" in mail, first contact 2026-03-01',
        '  alan@bletchley.example: "Turing, Alan" in the contact of source `phone`',
        "  syncd people merge alan@cam.example alan@bletchley.example",
    ]


def test_suggest_never_offers_own_list_or_automated_addresses(syncd: Syncd) -> None:
    _setup(
        syncd,
        [
            Mail(ADA, ["Grace Hopper <grace@navy.example>"], at("2026-03-01")),
            # A list that writes as the poster; a service that writes as whoever commented.
            Mail(
                "Grace Hopper <dev@lists.example>",
                [ADA],
                at("2026-03-02"),
                headers=[("List-Id", "<dev.lists.example>")],
            ),
            Mail("Grace Hopper <comments-noreply@docs.example>", [ADA], at("2026-03-03")),
            # The user's own address under the user's name, and someone else under it.
            Mail(ADA, ["Ada Lovelace <ada.l@elsewhere.example>"], at("2026-03-04")),
            Mail(ADA, ["Bob <bob@a.example>"], at("2026-03-05")),
            Mail(ADA, ["Bob <bob@b.example>"], at("2026-03-06")),
        ],
        people=[{"name": "Ada Lovelace", "emails": ["ada.lovelace@gmail.com"]}],
    )
    store = syncd.open_store()
    store.ensure_source("book", "google")
    store.apply_batch(
        "book",
        Batch(
            contacts=[
                Contact("other/1", "Grace Hopper", ("comments-noreply@docs.example",)),
                Contact("me", "Ada Lovelace", ("ada@example.org",)),
            ]
        ),
    )
    store.close()
    assert syncd.json("people", "--suggest") == []
    assert "duplicate" not in syncd.run("people", "--as-of", "2026-06-30", "--all").stdout
