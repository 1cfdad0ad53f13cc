"""What counts as contact (DESIGN.md "What counts as contact"), proven end to end.

A fictional user, Ada, has a hand-made mailbox and calendar in which every person stands for
one rule, so the right answer for each is known in advance. Everything goes through the public
seams: files on disk, a config file, `syncd sync`, `syncd people --format json`, `syncd digest
--format json` and `syncd explain`.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from builders import Event, Mail, at, write_ics, write_mbox
from click.testing import CliRunner
from conftest import Syncd, toml_dumps

from syncd.cli import cli

HAS_ICS = importlib.util.find_spec("connectors.ics") is not None
needs_ics = pytest.mark.skipif(not HAS_ICS, reason="connectors/ics.py has not landed yet")

AS_OF = "2026-06-30"
ADA = "Ada Lovelace <ada@example.org>"
ALIAS = "Ada L. <ada.lovelace@gmail.com>"


def world_mail() -> list[Mail]:
    """Ada's mailbox. Rules in the world config: max_recipients = 3, max_meeting_size = 4."""
    inbound = [
        # (sender, extra headers): bulk and automated mail never counts.
        ("Gina <gina@lists.example>", [("List-Id", "<club.lists.example>")]),
        ("Hank <hank@shop.example>", [("List-Unsubscribe", "<mailto:u@shop.example>")]),
        ("Ivy <ivy@bulk.example>", [("Precedence", "bulk")]),
        ("Jack <jack@bulk.example>", [("Precedence", "list")]),
        ("Kate <kate@bulk.example>", [("Precedence", "junk")]),
        ("Liam <liam@auto.example>", [("Auto-Submitted", "auto-generated")]),
        ("Lou <lou@auto.example>", [("Auto-Submitted", "auto-replied")]),
        ("Noah <noah@bounce.example>", [("Return-Path", "<>")]),
        ("Olive <olive@promo.example>", [("X-Gmail-Labels", "Inbox,Category Promotions")]),
        ("Paul <paul@promo.example>", [("X-Gmail-Labels", "Category Social,Unread")]),
        ("Quinn <quinn@promo.example>", [("X-Gmail-Labels", "Category Updates")]),
        ("Rosa <rosa@promo.example>", [("X-Gmail-Labels", "Category Forums")]),
        ("Sam <sam@spam.example>", [("X-Gmail-Labels", "Spam")]),
        ("Tom <tom@trash.example>", [("X-Gmail-Labels", "Trash,Opened")]),
        ("Service <no-reply@service.example>", []),
        ("GitHub <notifications@code.example>", []),
        # Personal mail: counts (the Auto-Submitted "no" and ordinary labels are personal).
        ("Mia <mia@auto.example>", [("Auto-Submitted", "no")]),
        ("Uli <uli@labels.example>", [("X-Gmail-Labels", "Inbox,Important,Opened")]),
    ]
    mails = [
        Mail(s, [ADA], at("2026-02-10"), f"Note {i}", headers=h) for i, (s, h) in enumerate(inbound)
    ]
    mails += [
        # Ada writes: To, Cc and Bcc all count, the address case does not matter.
        Mail(ADA, ["Bob Stone <Bob@Friends.Example>"], at("2026-03-02"), "The Lisbon conference"),
        Mail(
            ADA,
            ["Dan <dan@friends.example>"],
            at("2026-03-03"),
            "Dinner",
            cc=["carol@friends.example"],
        ),
        Mail(ADA, [ALIAS], at("2026-03-04"), "Plans", bcc=["Erin <erin@friends.example>"]),
        # Up to max_recipients (3) counts; beyond is a crowd.
        Mail(
            ADA,
            ["t1@three.example", "t2@three.example"],
            at("2026-03-05"),
            "Three",
            cc=["t3@three.example"],
        ),
        Mail(ADA, [f"q{i}@four.example" for i in range(1, 5)], at("2026-03-06"), "Four"),
        # Sent from an alias: still the user.
        Mail(ALIAS, ["Fay <fay@alias.example>"], at("2026-03-07"), "From my other address"),
        # Mail to herself only: nobody.
        Mail(ADA, [ALIAS], at("2026-03-08"), "Note to self"),
        # A draft never went out.
        Mail(
            ADA,
            ["tina@drafts.example"],
            at("2026-03-09"),
            "Unsent",
            headers=[("X-Gmail-Labels", "Drafts")],
        ),
        # The digest itself, even when sent to an address not listed as the user's.
        Mail(
            ADA,
            ["ada.at.work@office.example"],
            at("2026-03-10"),
            "Your week",
            headers=[("X-Syncd-Digest", "2026-W11"), ("Auto-Submitted", "auto-generated")],
        ),
        # Ignored by config.
        Mail(ADA, ["boss@ignored.example"], at("2026-03-11"), "Report"),
        Mail(
            ADA,
            ["pat@ignored-domain.example", "lee@mail.ignored-domain.example"],
            at("2026-03-12"),
            "Hi",
        ),
        # A crowd writing to Ada is not personal.
        Mail(
            "Victor <victor@crowd.example>",
            [ADA, "a@crowd.example", "b@crowd.example", "c@crowd.example"],
            at("2026-03-13"),
            "All hands",
        ),
        # [[people]] merges Heidi's two addresses.
        Mail(ADA, ["Heidi <heidi@work.example>"], at("2026-04-01"), "Work thing"),
        Mail(ADA, ["Heidi K <heidi.personal@home.example>"], at("2026-04-15"), "Weekend"),
        # Awaiting reply: Frank wrote recently; Gail too long ago; Hector got an answer.
        Mail("Frank <frank@inbound.example>", [ADA], at("2026-06-25"), "Quick question"),
        Mail("Gail <gail@old.example>", [ADA], at("2026-05-01"), "Long ago"),
        Mail(
            "Hector <hector@replied.example>", [ADA], at("2026-06-20"), "Lunch?", message_id="h1@x"
        ),
        Mail(
            ADA,
            ["Hector <hector@replied.example>"],
            at("2026-06-22"),
            "Re: Lunch?",
            in_reply_to="h1@x",
        ),
    ]
    return mails


def world_calendar() -> list[Event]:
    ada = "ada@example.org"
    return [
        # Ada attends Uma's meeting: the organizer counts.
        Event(
            "m-uma",
            at("2026-05-10"),
            "Coffee",
            organizer="uma@meet.example",
            attendees=[(ada, "ACCEPTED")],
        ),
        Event(
            "m-vera",
            at("2026-05-11"),
            "Cancelled",
            organizer=ada,
            attendees=[("vera@cancel.example", "ACCEPTED")],
            status="CANCELLED",
        ),
        Event(
            "m-wendy",
            at("2026-05-12"),
            "Declined by Ada",
            organizer="wendy@declined.example",
            attendees=[(ada, "DECLINED")],
        ),
        Event(
            "m-yara",
            at("2026-05-13"),
            "Xavier declined",
            organizer=ada,
            attendees=[("yara@meet.example", "ACCEPTED"), ("xavier@meet.example", "DECLINED")],
        ),
        # max_meeting_size = 4: four people count, five do not.
        Event(
            "m-fit",
            at("2026-05-15"),
            "Four of us",
            organizer=ada,
            attendees=[(f"fit{i}@meet.example", "ACCEPTED") for i in range(1, 4)],
        ),
        Event(
            "m-big",
            at("2026-05-14"),
            "Five of us",
            organizer=ada,
            attendees=[(f"big{i}@meet.example", "ACCEPTED") for i in range(1, 5)],
        ),
        Event(
            "m-tess",
            at("2026-05-16"),
            "Free time",
            organizer=ada,
            attendees=[("tess@free.example", "ACCEPTED")],
            transparent=True,
        ),
        # The future is "upcoming", never contact.
        Event(
            "m-zed",
            at("2026-07-15"),
            "Next month",
            organizer=ada,
            attendees=[("zed@future.example", "ACCEPTED")],
        ),
        # Weekly on Mondays from 4 May, ten times, without 18 May.
        Event(
            "m-rex",
            at("2026-05-04", 9),
            "Weekly sync",
            organizer=ada,
            attendees=[("rex@weekly.example", "ACCEPTED")],
            rrule="FREQ=WEEKLY;COUNT=10",
            exdates=[at("2026-05-18", 9)],
        ),
    ]


WORLD_RULES = {
    "max_recipients": 3,
    "max_meeting_size": 4,
    "ignore_addresses": ["boss@ignored.example"],
    "ignore_domains": ["ignored-domain.example"],
}
WORLD_PEOPLE = [
    {"name": "Heidi Klum", "emails": ["heidi@work.example", "heidi.personal@home.example"]}
]


def world_config(root: Path, rules: dict[str, Any] | None = None) -> dict[str, Any]:
    sources: dict[str, Any] = {"mail": {"type": "mbox", "path": str(root / "mail.mbox")}}
    if HAS_ICS:
        sources["calendar"] = {"type": "ics", "path": str(root / "calendar.ics")}
    return {
        "me": {
            "name": "Ada Lovelace",
            "emails": ["ada@example.org", "ada.lovelace@gmail.com"],
            "timezone": "Europe/London",
        },
        "store": {"path": str(root / "syncd.db")},
        "sources": sources,
        "rules": {**WORLD_RULES, **(rules or {})},
        "people": WORLD_PEOPLE,
    }


class World:
    def __init__(self, root: Path):
        self.root = root
        self.config = root / "config.toml"

    def write_config(self, rules: dict[str, Any] | None = None) -> None:
        self.config.write_text(toml_dumps(world_config(self.root, rules)))

    def run(self, *args: str) -> str:
        r = CliRunner().invoke(cli, ["--config", str(self.config), *args], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return r.stdout

    def people(self, *extra: str, as_of: str = AS_OF) -> list[dict[str, Any]]:
        return json.loads(self.run("people", "--format", "json", "--as-of", as_of, *extra))

    def by_email(self, *extra: str, as_of: str = AS_OF) -> dict[str, dict[str, Any]]:
        return {e: p for p in self.people(*extra, as_of=as_of) for e in p["emails"]}

    def digest(self, as_of: str = AS_OF) -> dict[str, Any]:
        return json.loads(self.run("digest", "--format", "json", "--as-of", as_of))

    def explain(self, who: str, as_of: str = AS_OF) -> str:
        return self.run("explain", who, "--as-of", as_of)


def make_world(root: Path) -> World:
    write_mbox(root / "mail.mbox", world_mail())
    write_ics(root / "calendar.ics", world_calendar())
    w = World(root)
    w.write_config()
    w.run("sync")
    return w


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("world")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_STATE_HOME", str(root / "state"))
        mp.setenv("XDG_DATA_HOME", str(root / "data"))
        mp.delenv("SYNCD_CONFIG", raising=False)
        yield make_world(root)


TRACKED_BY_MAIL = {
    ("bob@friends.example",): "2026-03-02",
    ("dan@friends.example",): "2026-03-03",
    ("carol@friends.example",): "2026-03-03",
    ("erin@friends.example",): "2026-03-04",
    ("t1@three.example",): "2026-03-05",
    ("t2@three.example",): "2026-03-05",
    ("t3@three.example",): "2026-03-05",
    ("fay@alias.example",): "2026-03-07",
    ("heidi.personal@home.example", "heidi@work.example"): "2026-04-15",
    ("hector@replied.example",): "2026-06-22",
}
TRACKED_BY_MEETING = {
    ("uma@meet.example",): "2026-05-10",
    ("yara@meet.example",): "2026-05-13",
    ("fit1@meet.example",): "2026-05-15",
    ("fit2@meet.example",): "2026-05-15",
    ("fit3@meet.example",): "2026-05-15",
    ("rex@weekly.example",): "2026-06-29",
}
# People who only wrote to Ada, personally: not relationships, but contact all the same.
INBOUND_ONLY = {
    ("mia@auto.example",): "2026-02-10",
    ("uli@labels.example",): "2026-02-10",
    ("gail@old.example",): "2026-05-01",
    ("frank@inbound.example",): "2026-06-25",
}


def _last_days(people: list[dict[str, Any]]) -> dict[tuple[str, ...], str]:
    return {tuple(p["emails"]): p["last_contact"][:10] for p in people}


def test_mail_counts_exactly_as_the_rules_say(world: World) -> None:
    tracked = _last_days(world.people())
    expected = dict(TRACKED_BY_MAIL)
    if HAS_ICS:
        expected.update(TRACKED_BY_MEETING)
    assert tracked == expected


def test_people_who_only_wrote_personally_are_contact_but_not_tracked(world: World) -> None:
    everyone = world.people("--all")
    untracked = {tuple(p["emails"]): p for p in everyone if not p["tracked"]}
    assert _last_days(list(untracked.values())) == INBOUND_ONLY
    assert all(p["overdue"] is False for p in untracked.values())
    # --all adds them and only them: bulk, automated, crowd, spam never make anyone appear.
    assert {tuple(p["emails"]) for p in everyone if p["tracked"]} == {
        tuple(p["emails"]) for p in world.people()
    }


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("gina@lists.example", "mailing-list mail (List-Id)"),
        ("hank@shop.example", "bulk mail (List-Unsubscribe or Precedence)"),
        ("ivy@bulk.example", "bulk mail"),
        ("jack@bulk.example", "bulk mail"),
        ("kate@bulk.example", "bulk mail"),
        ("liam@auto.example", "automated mail"),
        ("lou@auto.example", "an automatic reply"),
        ("noah@bounce.example", "automated mail (Auto-Submitted, null Return-Path or a report)"),
        ("olive@promo.example", "promotions/social/updates/forums"),
        ("paul@promo.example", "promotions/social/updates/forums"),
        ("quinn@promo.example", "promotions/social/updates/forums"),
        ("rosa@promo.example", "promotions/social/updates/forums"),
        ("sam@spam.example", "in spam"),
        ("tom@trash.example", "in trash"),
        ("no-reply@service.example", "a no-reply or automated address"),
        ("notifications@code.example", "a no-reply or automated address"),
        ("victor@crowd.example", "sent to 4 recipients (more than max_recipients = 3)"),
        ("q1@four.example", "sent to 4 recipients (more than max_recipients = 3)"),
        ("tina@drafts.example", "a draft"),
        ("ada.at.work@office.example", "a syncd digest"),
        ("boss@ignored.example", "ignored by [rules] ignore_addresses"),
        ("pat@ignored-domain.example", "ignored by [rules] ignore_domains"),
        ("lee@mail.ignored-domain.example", "ignored by [rules] ignore_domains"),
    ],
)
def test_what_does_not_count_is_explained(world: World, address: str, reason: str) -> None:
    text = world.explain(address)
    assert f"{address}: no interaction counts as contact." in text
    lines = [line.strip() for line in text.splitlines()]
    verdicts = [line for line in lines if line.startswith("not contact:")]
    assert len(verdicts) == 1, text
    assert reason in verdicts[0]
    assert address not in world.by_email("--all")


def test_the_users_own_addresses_are_never_a_person(world: World) -> None:
    everyone = world.by_email("--all")
    assert "ada@example.org" not in everyone
    assert "ada.lovelace@gmail.com" not in everyone
    text = world.explain("ada.lovelace@gmail.com")
    assert "This address is never a person: your own address." in text
    assert "+ " not in text  # no interaction with it is contact


def test_people_entries_merge_two_addresses_into_one_person(world: World) -> None:
    heidi = world.by_email()["heidi@work.example"]
    assert heidi["name"] == "Heidi Klum"
    assert heidi["emails"] == ["heidi.personal@home.example", "heidi@work.example"]
    assert heidi["contact_days"] == 2
    assert heidi["last_contact"] == "2026-04-15T12:00:00+00:00"
    text = world.explain("Heidi Klum")
    assert "Heidi Klum <heidi.personal@home.example, heidi@work.example>" in text
    assert text.count("contact: you wrote to them") == 2


def test_awaiting_reply_lists_recent_unanswered_personal_mail_only(world: World) -> None:
    awaiting = world.digest()["awaiting_reply"]
    assert [(a["email"], a["subject"], a["days_waiting"]) for a in awaiting] == [
        ("frank@inbound.example", "Quick question", 5)
    ]
    # Gail's mail is older than the window; as of a few days after it, she was waiting.
    early = world.digest("2026-05-03")["awaiting_reply"]
    assert [a["email"] for a in early] == ["gail@old.example"]
    # Hector was waiting between his mail and Ada's reply, and no longer after it.
    mid = world.digest("2026-06-21")["awaiting_reply"]
    assert [a["email"] for a in mid] == ["hector@replied.example"]


@needs_ics
def test_meetings_count_only_when_they_happened_and_everyone_came(world: World) -> None:
    everyone = world.by_email("--all")
    for address in (
        "vera@cancel.example",
        "wendy@declined.example",
        "xavier@meet.example",
        "tess@free.example",
        "zed@future.example",
    ):
        assert address not in everyone, address
    assert not any(a.startswith("big") for a in everyone)
    for address, reason in (
        ("vera@cancel.example", "the meeting was cancelled"),
        ("wendy@declined.example", "you declined"),
        ("xavier@meet.example", "they declined"),
        ("big1@meet.example", "5 attendees (more than max_meeting_size = 4)"),
        ("tess@free.example", "not a meeting"),
    ):
        assert reason in world.explain(address), address


@needs_ics
def test_a_future_meeting_is_upcoming_and_counts_once_it_happened(world: World) -> None:
    assert "zed@future.example" not in world.by_email("--all")
    assert "not yet: upcoming meeting" in world.explain("zed@future.example")
    later = world.by_email(as_of="2026-07-31")["zed@future.example"]
    assert later["last_contact"] == "2026-07-15T12:00:00+00:00"
    assert later["tracked"] is True


@needs_ics
def test_a_recurring_meeting_counts_at_each_past_occurrence(world: World) -> None:
    rex = world.by_email()["rex@weekly.example"]
    # 4 May to 29 June weekly is 9 Mondays; 18 May is excluded; 6 July has not happened yet.
    assert rex["contact_days"] == 8
    assert rex["last_contact"] == "2026-06-29T09:00:00+00:00"
    assert (rex["rhythm_days"], rex["rhythm_source"]) == (7, "inferred")
    assert world.by_email(as_of="2026-07-31")["rex@weekly.example"]["contact_days"] == 9


def _facts(db: Path) -> list[list[Any]]:
    queries = (
        "SELECT * FROM interactions ORDER BY id",
        "SELECT * FROM participants ORDER BY interaction_id, address, role",
        "SELECT name, cursor, seq FROM sources ORDER BY name",
    )
    with sqlite3.connect(db) as conn:
        return [conn.execute(q).fetchall() for q in queries]


def test_changing_a_rule_changes_the_result_without_a_resync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    w = make_world(tmp_path)
    before = set(w.by_email())
    assert "q1@four.example" not in before and "pat@ignored-domain.example" not in before
    facts = _facts(tmp_path / "syncd.db")

    w.write_config(
        {"max_recipients": 4, "ignore_domains": [], "ignore_addresses": ["bob@friends.example"]}
    )
    after = set(w.by_email())
    assert after - before == {
        "q1@four.example",
        "q2@four.example",
        "q3@four.example",
        "q4@four.example",
        "pat@ignored-domain.example",
        "lee@mail.ignored-domain.example",
        "boss@ignored.example",
    }
    assert before - after == {"bob@friends.example"}
    assert "victor@crowd.example" in w.by_email("--all")  # four recipients: no longer a crowd

    # Back to the original rules: back to the original answer. No sync ran in between.
    w.write_config()
    assert set(w.by_email()) == before
    assert _facts(tmp_path / "syncd.db") == facts  # the stored facts never changed


def test_default_limits_are_ten_recipients_and_twelve_attendees(syncd: Syncd) -> None:
    ten = [f"p{i}@ten.example" for i in range(10)]
    eleven = [f"p{i}@eleven.example" for i in range(11)]
    mbox = write_mbox(
        syncd.root / "mail.mbox",
        [
            Mail(ADA, ten[:5], at("2026-03-01"), "Ten", cc=ten[5:8], bcc=ten[8:]),
            Mail(ADA, eleven[:5], at("2026-03-02"), "Eleven", cc=eleven[5:8], bcc=eleven[8:]),
        ],
    )
    sources: dict[str, Any] = {"mail": {"type": "mbox", "path": str(mbox)}}
    if HAS_ICS:
        twelve = [(f"m{i}@twelve.example", "ACCEPTED") for i in range(11)]
        thirteen = [(f"m{i}@thirteen.example", "ACCEPTED") for i in range(12)]
        ics = write_ics(
            syncd.root / "cal.ics",
            [
                Event("twelve", at("2026-03-03"), organizer="ada@example.org", attendees=twelve),
                Event(
                    "thirteen", at("2026-03-04"), organizer="ada@example.org", attendees=thirteen
                ),
            ],
        )
        sources["calendar"] = {"type": "ics", "path": str(ics)}
    syncd.write_config(sources)
    syncd.run("sync")
    emails = {e for p in syncd.json("people", "--as-of", AS_OF, "--all") for e in p["emails"]}
    expected = set(ten) | ({a for a, _ in twelve} if HAS_ICS else set())
    assert emails == expected


def test_the_users_automatic_replies_and_bulk_sends_are_not_writing(syncd: Syncd) -> None:
    """Ada's vacation responder answering Frank is not Ada writing to Frank: he stays
    untracked and still awaits her reply. Her own newsletter (List-Unsubscribe) is bulk."""
    mbox = write_mbox(
        syncd.root / "mail.mbox",
        [
            Mail("Frank <frank@inbound.example>", [ADA], at("2026-06-25"), "Question"),
            Mail(ADA, ["frank@inbound.example"], at("2026-06-25", 13), "Out of office",
                 headers=[("Auto-Submitted", "auto-replied")]),
            Mail(ADA, ["reader@news.example"], at("2026-06-26"), "My newsletter",
                 headers=[("List-Unsubscribe", "<mailto:unsub@example.org>")]),
            Mail(ADA, ["friend@x.example"], at("2026-06-26"), "A real note"),
        ],
    )  # fmt: skip
    syncd.write_config({"mail": {"type": "mbox", "path": str(mbox)}})
    syncd.run("sync")
    tracked = [p["emails"] for p in syncd.json("people", "--as-of", AS_OF)]
    assert tracked == [["friend@x.example"]]
    awaiting = syncd.json("digest", "--as-of", AS_OF)["awaiting_reply"]
    assert [a["email"] for a in awaiting] == ["frank@inbound.example"]
    text = syncd.run("explain", "frank@inbound.example", "--as-of", AS_OF).stdout
    assert "not contact: an automatic reply" in text


@needs_ics
def test_a_meeting_the_user_is_not_part_of_is_not_contact(syncd: Syncd) -> None:
    """A shared or subscribed calendar holds other people's meetings: Ada met nobody."""
    ics = write_ics(
        syncd.root / "team.ics",
        [
            Event("theirs", at("2026-06-01"), "Bob and Carol", organizer="bob@team.example",
                  attendees=[("carol@team.example", "ACCEPTED")]),
            Event("ours", at("2026-06-02"), "Bob and Ada", organizer="bob@team.example",
                  attendees=[("ada.lovelace@gmail.com", "ACCEPTED")]),
        ],
    )  # fmt: skip
    syncd.write_config({"cal": {"type": "ics", "path": str(ics)}})
    syncd.run("sync")
    people = syncd.json("people", "--as-of", AS_OF, "--all")
    assert [(p["emails"], p["last_contact"]) for p in people] == [
        (["bob@team.example"], "2026-06-02T12:00:00+00:00")
    ]
    text = syncd.run("explain", "carol@team.example", "--as-of", AS_OF).stdout
    assert "not contact: you were not at this meeting" in text
