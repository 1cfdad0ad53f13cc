"""People declared in [[people]] are listed even before any contact, with their settings."""

from __future__ import annotations

from tests.builders import Mail, at, write_mbox
from tests.conftest import Syncd


def test_declared_person_without_contact_is_listed_as_never(syncd: Syncd) -> None:
    mbox = write_mbox(
        syncd.root / "mail.mbox",
        [Mail("Ada <ada@example.org>", ["Grace <grace@navy.example>"], at("2026-10-01"))],
    )
    syncd.write_config(
        {"mail": {"type": "mbox", "path": str(mbox)}},
        people=[
            {
                "name": "Heidi Klum",
                "emails": ["heidi@work.example", "heidi@home.example"],
                "every": "30d",
                "birthday": "1973-12-01",
            }
        ],
    )
    syncd.run("sync")
    people = {p["name"]: p for p in syncd.json("people", "--as-of", "2026-11-25")}
    assert set(people) == {"Grace", "Heidi Klum"}
    heidi = people["Heidi Klum"]
    assert heidi["emails"] == ["heidi@work.example", "heidi@home.example"]
    assert heidi["last_contact"] is None
    assert (heidi["rhythm_days"], heidi["rhythm_source"]) == (30, "pinned")
    assert heidi["overdue"] is False  # nothing to be overdue from yet
    # Her birthday still reaches the digest, though she never appears among the overdue.
    digest = syncd.json("digest", "--as-of", "2026-11-25")
    assert [b["name"] for b in digest["birthdays"]] == ["Heidi Klum"]
    assert "Heidi Klum" not in [p["name"] for p in digest["people"]]
    table = syncd.run("people", "--as-of", "2026-11-25").stdout
    assert "heidi@work.example  never" in table
    assert "No contact yet." in syncd.run("explain", "Heidi").stdout


def test_declared_person_with_contact_is_listed_once(syncd: Syncd) -> None:
    mbox = write_mbox(
        syncd.root / "mail.mbox",
        [Mail("Ada <ada@example.org>", ["heidi@home.example"], at("2026-10-01"))],
    )
    syncd.write_config(
        {"mail": {"type": "mbox", "path": str(mbox)}},
        people=[{"name": "Heidi Klum", "emails": ["heidi@work.example", "heidi@home.example"]}],
    )
    syncd.run("sync")
    people = syncd.json("people", "--as-of", "2026-11-25")
    assert [(p["name"], p["last_contact"]) for p in people] == [
        ("Heidi Klum", "2026-10-01T12:00:00+00:00")
    ]
