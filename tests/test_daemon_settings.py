"""`syncd snooze / mute / unmute / rhythm PERSON`: kept in the store, honoured by the digest,
PERSON given by name or by any of their addresses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from builders import Mail, at, write_mbox
from conftest import Syncd

from syncd.store import Store

ADA = "Ada Lovelace <ada@example.org>"
AS_OF = "2026-06-30"


@pytest.fixture
def friends(syncd: Syncd) -> Syncd:
    mails = []
    for i in range(6):  # weekly in January and February, then silence: both overdue
        when = at("2026-01-05") + timedelta(days=7 * i)
        mails.append(Mail(ADA, ["Grace Hopper <grace@navy.example>"], when, "Re: COBOL"))
        mails.append(Mail(ADA, ["Grace Brewster <gb@home.example>"], when, "Lunch"))
        mails.append(Mail(ADA, ["Alan Turing <alan@bletchley.example>"], when, "Tea"))
    write_mbox(syncd.root / "mail.mbox", mails)
    syncd.write_config({"mail": {"type": "mbox", "path": str(syncd.root / "mail.mbox")}})
    syncd.run("sync")
    return syncd


def listed(syncd: Syncd) -> list[str]:
    d = syncd.json("digest", "--as-of", AS_OF)
    return sorted(p["emails"][0] for p in d["people"])


def people_row(syncd: Syncd, key: str) -> tuple[object, ...] | None:
    store = Store.open(syncd.store_path)
    try:
        return store.conn.execute(
            "SELECT rhythm_days, muted, snoozed_until FROM people WHERE key = ?", (key,)
        ).fetchone()
    finally:
        store.close()


def test_snooze_hides_a_person_until_the_date_and_undo_brings_them_back(friends: Syncd) -> None:
    everyone = ["alan@bletchley.example", "gb@home.example", "grace@navy.example"]
    assert listed(friends) == everyone
    out = friends.run("snooze", "alan@bletchley.example", "3000d").stdout
    assert out.startswith("Snoozed Alan Turing <alan@bletchley.example> until ")
    assert listed(friends) == everyone[1:]
    friends.run("snooze", "Alan Turing", "--undo")
    assert people_row(friends, "alan@bletchley.example") == (None, 0, None)
    assert listed(friends) == everyone


def test_snooze_until_a_date_is_honoured_by_the_digest(friends: Syncd) -> None:
    friends.run("snooze", "alan", "--until", "2099-01-01")
    assert "alan@bletchley.example" not in listed(friends)
    assert people_row(friends, "alan@bletchley.example") == (None, 0, "2099-01-01")


def test_mute_by_name_and_unmute(friends: Syncd) -> None:
    out = friends.run("mute", "Grace Hopper").stdout
    assert "Muted Grace Hopper <grace@navy.example>" in out
    assert listed(friends) == ["alan@bletchley.example", "gb@home.example"]
    friends.run("unmute", "grace@navy.example")
    assert "grace@navy.example" in listed(friends)
    friends.run("mute", "grace@navy.example")
    friends.run("mute", "grace@navy.example", "--undo")
    assert "grace@navy.example" in listed(friends)


def test_rhythm_pins_how_often(friends: Syncd) -> None:
    out = friends.run("rhythm", "alan@bletchley.example", "365d").stdout
    assert "pinned to every 365 days" in out
    assert "alan@bletchley.example" not in listed(friends)
    people = {p["emails"][0]: p for p in friends.json("people", "--as-of", AS_OF)}
    assert people["alan@bletchley.example"]["rhythm_days"] == 365
    friends.run("rhythm", "alan@bletchley.example", "--clear")
    assert "alan@bletchley.example" in listed(friends)


def test_settings_follow_merged_addresses(friends: Syncd) -> None:
    friends.run("people", "merge", "grace@navy.example", "gb@home.example")
    friends.run("mute", "gb@home.example")  # any address of the person
    assert listed(friends) == ["alan@bletchley.example"]


def test_ambiguous_or_unknown_person_is_a_clear_error(friends: Syncd) -> None:
    res = friends.run("mute", "grace", expect=2)
    assert "matches 2 people" in res.stderr and "Grace Hopper" in res.stderr
    res = friends.run("snooze", "nobody at all", "30d", expect=2)
    assert "nobody matches" in res.stderr
    res = friends.run("snooze", "alan", "soon", expect=2)
    assert "SPAN" in res.stderr
    # An address not seen yet is fine: the setting waits for them.
    friends.run("mute", "new.friend@x.example")
    assert people_row(friends, "new.friend@x.example") == (None, 1, None)
