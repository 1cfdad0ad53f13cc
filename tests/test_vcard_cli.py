"""End to end through the CLI: a phone's contact export (vcard source) beside a mail archive
(mbox source). The card joins two addresses into one person, names them, and brings the
birthday into the digest."""

from __future__ import annotations

import re
from datetime import datetime

from builders import Mail, at, write_mbox
from conftest import Syncd
from vcard_builders import Person, android_v21, apple_v3, vcf_file

ADA = "Ada Lovelace <ada@example.org>"
GRACE = Person(
    "Grace",
    "Hopper",
    ["grace@navy.example", "Grace.Hopper@Cobol.example"],
    birthday=(7, 9),  # year-less, as Apple writes it: BDAY;X-APPLE-OMIT-YEAR=1604
    photo=True,
)
AS_OF = "2026-07-01"


def test_vcard_and_mbox_make_one_person_named_by_the_card_with_the_birthday(syncd: Syncd):
    mbox = write_mbox(
        syncd.root / "mail.mbox",
        [
            Mail(ADA, ["G. Hopper <grace@navy.example>"], at("2026-03-02"), "Lisbon"),
            Mail("Hopper <grace.hopper@cobol.example>", [ADA], at("2026-03-03"), "Re: Lisbon"),
            Mail(ADA, ["grace.hopper@cobol.example"], at("2026-05-20"), "COBOL"),
        ],
    )
    contacts = syncd.root / "Contacts"
    contacts.mkdir()
    (contacts / "iphone.vcf").write_bytes(
        vcf_file([apple_v3(GRACE), apple_v3(Person("Door", "Bell", []))], bom=True)
    )
    (contacts / "android.vcf").write_bytes(
        vcf_file([android_v21(Person("Émile", "Zola", ["emile@zola.example"]))])
    )
    syncd.write_config(
        {
            "mail": {"type": "mbox", "path": str(mbox)},
            "phone": {"type": "vcard", "path": str(contacts)},
        }
    )

    first = syncd.run("sync").stderr
    assert re.search(r"^mail: 3 new, 0 changed, 0 removed$", first, re.M), first
    assert re.search(
        r"^phone: 0 new, 0 changed, 0 removed, 2 contacts, 1 ignored \(no email address\)$",
        first,
        re.M,
    ), first

    (grace,) = syncd.json("people", "--as-of", AS_OF)
    assert grace["name"] == "Grace Hopper"  # from the card, not "G. Hopper" or "Hopper"
    assert sorted(grace["emails"]) == ["grace.hopper@cobol.example", "grace@navy.example"]
    assert datetime.fromisoformat(grace["last_contact"]) == at("2026-05-20")

    digest = syncd.json("digest", "--as-of", AS_OF)
    assert [(b["name"], b["on"], b["in_days"]) for b in digest["birthdays"]] == [
        ("Grace Hopper", "2026-07-09", 8)
    ]
    assert syncd.json("digest", "--as-of", "2026-05-01")["birthdays"] == []  # 69 days ahead

    again = syncd.run("sync").stderr
    assert re.search(r"^phone: 0 new, 0 changed, 0 removed$", again, re.M), again
    assert syncd.json("people", "--as-of", AS_OF) == [grace]

    # The card loses its second address: the next sync reads the file again, and the
    # person splits back into what the mail alone says.
    (contacts / "iphone.vcf").write_bytes(
        vcf_file([apple_v3(Person("Grace", "Hopper", ["grace@navy.example"], (7, 9)))])
    )
    syncd.run("sync")
    people = syncd.json("people", "--as-of", AS_OF)
    assert sorted(p["emails"][0] for p in people) == [
        "grace.hopper@cobol.example",
        "grace@navy.example",
    ]
