"""Rhythm, overdue, ranking and the digest's choices (DESIGN.md "Rhythm and overdue").

Each test writes a small mailbox whose contact days are chosen so that the right answer is
known, syncs it through the CLI and reads `people` / `digest` as JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any

import pytest
from builders import Mail, append_mbox, at, write_mbox
from conftest import Syncd

from syncd.settings import snooze

ADA = "Ada Lovelace <ada@example.org>"


def days_before(end: str, gaps: Sequence[int]) -> list[str]:
    """Contact days ending on ``end`` whose successive gaps are ``gaps`` (oldest first)."""
    d = date.fromisoformat(end)
    out = [d]
    for g in reversed(gaps):
        d -= timedelta(days=g)
        out.append(d)
    return [x.isoformat() for x in reversed(out)]


def wrote_to(address: str, days: Iterable[str], *, cc: Sequence[str] = ()) -> list[Mail]:
    return [Mail(ADA, [address], at(d), f"Note {d}", cc=cc) for d in days]


def setup(syncd: Syncd, mails: list[Mail], **sections: Any) -> None:
    mbox = write_mbox(syncd.root / "mail.mbox", mails)
    syncd.write_config({"mail": {"type": "mbox", "path": str(mbox)}}, **sections)
    syncd.run("sync")


def people(syncd: Syncd, as_of: str, *extra: str) -> dict[str, dict[str, Any]]:
    return {p["emails"][0]: p for p in syncd.json("people", "--as-of", as_of, *extra)}


def digest(syncd: Syncd, as_of: str) -> dict[str, Any]:
    return syncd.json("digest", "--as-of", as_of)


def rhythm(p: dict[str, Any]) -> tuple[int, str]:
    return p["rhythm_days"], p["rhythm_source"]


# ------------------------------------------------------------------------------- rhythm


def test_rhythm_is_the_median_gap_between_distinct_contact_days(syncd: Syncd) -> None:
    mails = wrote_to("med@x.example", days_before("2026-06-01", [10, 10, 30, 10]))
    # Several mails on one day are one contact day.
    mails += [Mail(ADA, ["med@x.example"], at("2026-06-01", 15), "Again")]
    mails += [Mail("med@x.example", [ADA], at("2026-06-01", 18), "Re: Again")]
    setup(syncd, mails)
    med = people(syncd, "2026-06-02")["med@x.example"]
    assert rhythm(med) == (10, "inferred")
    assert med["contact_days"] == 5


def test_rhythm_uses_recent_contacts_only(syncd: Syncd) -> None:
    # Long ago every 40 days, lately every 9: the last 13 contact days (12 gaps) decide.
    gaps = [40] * 10 + [9] * 12
    setup(syncd, wrote_to("now@x.example", days_before("2026-06-01", gaps)))
    assert rhythm(people(syncd, "2026-06-02")["now@x.example"]) == (9, "inferred")
    # As of a date before the change of pace, the old rhythm holds.
    assert rhythm(people(syncd, "2025-07-01")["now@x.example"]) == (40, "inferred")


def test_inferred_rhythm_is_bounded_by_min_and_max(syncd: Syncd) -> None:
    mails = wrote_to("often@x.example", days_before("2026-06-01", [1, 2, 1, 2, 1]))
    mails += wrote_to("rarely@x.example", days_before("2026-06-01", [500, 400]))
    setup(syncd, mails)
    got = people(syncd, "2026-06-02")
    assert rhythm(got["often@x.example"]) == (7, "inferred")  # default min_rhythm
    assert rhythm(got["rarely@x.example"]) == (365, "inferred")  # default max_rhythm

    syncd.write_config(
        {"mail": {"type": "mbox", "path": str(syncd.root / "mail.mbox")}},
        rules={"min_rhythm": "2w", "max_rhythm": "200d"},
    )
    got = people(syncd, "2026-06-02")
    assert rhythm(got["often@x.example"]) == (14, "inferred")
    assert rhythm(got["rarely@x.example"]) == (200, "inferred")


def test_too_little_history_gets_the_default_rhythm(syncd: Syncd) -> None:
    setup(syncd, wrote_to("new@x.example", ["2026-05-01", "2026-05-20"]))
    assert rhythm(people(syncd, "2026-06-01")["new@x.example"]) == (60, "default")
    syncd.write_config(
        {"mail": {"type": "mbox", "path": str(syncd.root / "mail.mbox")}},
        rules={"default_rhythm": "45d"},
    )
    assert rhythm(people(syncd, "2026-06-01")["new@x.example"]) == (45, "default")


def test_a_pinned_rhythm_wins_over_history(syncd: Syncd) -> None:
    setup(
        syncd,
        wrote_to("pin@x.example", days_before("2026-06-01", [10, 10, 10, 10])),
        people=[{"name": "Pinned Pat", "emails": ["pin@x.example"], "every": "30d"}],
    )
    pat = people(syncd, "2026-06-02")["pin@x.example"]
    assert (pat["name"], *rhythm(pat)) == ("Pinned Pat", 30, "pinned")


# ------------------------------------------------------------------------------- overdue


def test_overdue_once_days_since_contact_exceed_rhythm_plus_slack(syncd: Syncd) -> None:
    # Rhythm 20 (pinned), slack 0.25: overdue after 25 days without contact.
    setup(
        syncd,
        wrote_to("due@x.example", ["2026-05-01", "2026-06-01"]),
        people=[{"emails": ["due@x.example"], "every": "20d"}],
    )
    on_time = people(syncd, "2026-06-26")["due@x.example"]
    assert (on_time["days_since"], on_time["overdue"], on_time["overdue_days"]) == (25, False, 0)
    late = people(syncd, "2026-06-27")["due@x.example"]
    assert (late["days_since"], late["overdue"], late["overdue_days"]) == (26, True, 1)
    assert people(syncd, "2026-07-06")["due@x.example"]["overdue_days"] == 10

    syncd.write_config(
        {"mail": {"type": "mbox", "path": str(syncd.root / "mail.mbox")}},
        people=[{"emails": ["due@x.example"], "every": "20d"}],
        rules={"slack": 0.5},
    )
    assert people(syncd, "2026-07-01")["due@x.example"]["overdue"] is False  # 30 days: not past
    assert people(syncd, "2026-07-02")["due@x.example"]["overdue"] is True


def test_a_reply_from_them_is_contact_too(syncd: Syncd) -> None:
    mails = wrote_to("two@x.example", ["2026-05-01"])
    mails += [Mail("two@x.example", [ADA], at("2026-06-01"), "Re: Note")]
    setup(syncd, mails)
    two = people(syncd, "2026-06-10")["two@x.example"]
    assert two["last_contact"] == "2026-06-01T12:00:00+00:00"
    assert two["days_since"] == 9


# ------------------------------------------------------------------------------- ranking


def test_digest_ranks_by_tie_strength_times_overdueness(syncd: Syncd) -> None:
    pinned = [
        {"emails": [a], "every": "10d"}
        for a in ("late@x.example", "later@x.example", "strong@x.example", "weak@x.example")
    ]
    mails = []
    # Same history, one further past due: the more overdue ranks first.
    mails += wrote_to("late@x.example", days_before("2026-05-20", [10, 10, 10]))
    mails += wrote_to("later@x.example", days_before("2026-05-05", [10, 10, 10]))
    # Same last contact and rhythm: the stronger tie (more contact days, two-way) first.
    strong_days = days_before("2026-05-20", [10] * 9)
    mails += wrote_to("strong@x.example", strong_days)
    mails += [Mail("strong@x.example", [ADA], at(d, 16), "Re") for d in strong_days]
    mails += wrote_to("weak@x.example", days_before("2026-05-20", [10]))
    # Not overdue: never in the digest, whatever the tie.
    mails += wrote_to("fine@x.example", days_before("2026-06-28", [3] * 20))
    setup(syncd, mails, people=pinned)

    d = digest(syncd, "2026-06-30")
    order = [p["emails"][0] for p in d["people"]]
    assert order.index("later@x.example") < order.index("late@x.example")
    assert order.index("strong@x.example") < order.index("weak@x.example")
    assert "fine@x.example" not in order
    assert d["overdue_total"] == 4
    scores = [p["score"] for p in d["people"]]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
    # people --format json lists the overdue first, in the same order.
    listed = [p["emails"][0] for p in syncd.json("people", "--as-of", "2026-06-30")]
    assert listed[:4] == order


def test_small_groups_count_more_than_big_ones(syncd: Syncd) -> None:
    group = ["g1@x.example", "g2@x.example"]
    mails = wrote_to("solo@x.example", ["2026-03-01", "2026-03-10", "2026-03-20"])
    mails += wrote_to("member@x.example", ["2026-03-01", "2026-03-10", "2026-03-20"], cc=group)
    setup(syncd, mails)
    got = people(syncd, "2026-06-30")
    assert got["solo@x.example"]["score"] > got["member@x.example"]["score"] > 0
    order = [p["emails"][0] for p in digest(syncd, "2026-06-30")["people"]]
    assert order[0] == "solo@x.example"


def test_digest_lists_at_most_max_people_the_strongest_first(syncd: Syncd) -> None:
    mails = []
    for i, n in enumerate((2, 3, 4, 5)):  # more contact days, stronger tie
        mails += wrote_to(f"p{i}@x.example", [f"2026-02-{d:02d}" for d in range(1, n + 1)])
    setup(syncd, mails, digest={"max_people": 2})
    d = digest(syncd, "2026-06-30")
    assert [p["emails"] for p in d["people"]] == [["p3@x.example"], ["p2@x.example"]]
    assert d["overdue_total"] == 4


# ------------------------------------------------------------------------------- mute, snooze


def test_muted_people_never_appear_in_the_digest(syncd: Syncd) -> None:
    mails = wrote_to("hush@x.example", ["2026-01-05", "2026-01-10"])
    mails += wrote_to("loud@x.example", ["2026-01-05", "2026-01-10"])
    # Both wrote recently without a reply: only the unmuted one is awaiting a reply.
    mails += [Mail(f"{n}@x.example", [ADA], at("2026-06-28"), "Hello?") for n in ("hush", "loud")]
    mails += wrote_to("old@x.example", ["2026-01-05"])
    setup(syncd, mails, people=[{"emails": ["hush@x.example"], "mute": True}])
    d = digest(syncd, "2026-04-30")
    assert [p["emails"] for p in d["people"]] == [["loud@x.example"], ["old@x.example"]]
    d = digest(syncd, "2026-06-30")
    assert [a["email"] for a in d["awaiting_reply"]] == ["loud@x.example"]
    hush = people(syncd, "2026-04-30")["hush@x.example"]
    assert (hush["muted"], hush["overdue"]) == (True, True)  # listed by `people`, marked muted


def test_snoozed_people_reappear_after_the_snooze(syncd: Syncd) -> None:
    setup(syncd, wrote_to("nap@x.example", ["2026-01-05", "2026-01-10"]))
    assert [p["emails"] for p in digest(syncd, "2026-05-01")["people"]] == [["nap@x.example"]]
    store = syncd.open_store()
    snooze(store, "Nap@X.example", date(2026, 5, 20))
    store.close()
    assert digest(syncd, "2026-05-01")["people"] == []
    assert digest(syncd, "2026-05-19")["people"] == []
    assert [p["emails"] for p in digest(syncd, "2026-05-20")["people"]] == [["nap@x.example"]]
    assert people(syncd, "2026-05-01")["nap@x.example"]["snoozed_until"] == "2026-05-20"


def test_people_out_of_touch_beyond_forget_after_are_no_longer_suggested(syncd: Syncd) -> None:
    setup(syncd, wrote_to("gone@x.example", ["2020-01-05", "2020-01-10"]))
    assert digest(syncd, "2022-12-01")["people"] != []
    assert digest(syncd, "2023-02-01")["people"] == []  # more than 1095 days


# ------------------------------------------------------------------------------- the digest


def test_the_digest_itself_never_counts_as_contact(syncd: Syncd) -> None:
    """A real digest message (built by syncd.mime) lands in the archive: nothing changes."""
    from syncd.config import load_config
    from syncd.digest import build_digest

    build_message = pytest.importorskip("syncd.mime").build_message

    setup(
        syncd,
        wrote_to("kept@x.example", ["2026-01-05"]),
        digest={"to": "ada.inbox@elsewhere.example", "via": "file"},
    )
    before = syncd.json("people", "--as-of", "2026-06-30", "--all")
    config = load_config(syncd.config_path)
    store = syncd.open_store()
    d = build_digest(store, config, at("2026-06-29"))
    store.close()
    msg = build_message(d, config, now=at("2026-06-29"))
    raw = msg.as_bytes().replace(b"\r\n", b"\n")
    with (syncd.root / "mail.mbox").open("ab") as f:
        f.write(b"From ada@example.org Mon Jun 29 12:00:00 2026\n" + raw + b"\n")
    syncd.run("sync")
    assert syncd.json("people", "--as-of", "2026-06-30", "--all") == before
    assert "a syncd digest" in syncd.run("explain", "ada.inbox@elsewhere.example").stdout


def test_new_mail_after_a_sync_moves_last_contact(syncd: Syncd) -> None:
    setup(syncd, wrote_to("later@x.example", ["2026-01-05", "2026-01-10"]))
    assert people(syncd, "2026-06-30")["later@x.example"]["overdue"] is True
    append_mbox(syncd.root / "mail.mbox", wrote_to("later@x.example", ["2026-06-20"]))
    syncd.run("sync")
    got = people(syncd, "2026-06-30")["later@x.example"]
    assert (got["last_contact"], got["overdue"]) == ("2026-06-20T12:00:00+00:00", False)
    assert digest(syncd, "2026-06-30")["people"] == []


def test_bulk_mail_from_a_friend_does_not_await_a_reply(syncd: Syncd) -> None:
    mails = wrote_to("pal@x.example", ["2026-06-01"])
    mails += [
        Mail("pal@x.example", [ADA], at("2026-06-25"), "My newsletter",
             headers=[("List-Unsubscribe", "<mailto:u@x.example>")]),
        Mail("pal@x.example", [ADA, "b@x.example", "c@x.example", "d@x.example"],
             at("2026-06-26"), "Party!", cc=[f"e{i}@x.example" for i in range(9)]),
    ]  # fmt: skip
    setup(syncd, mails)
    assert digest(syncd, "2026-06-30")["awaiting_reply"] == []
    mails.append(Mail("pal@x.example", [ADA], at("2026-06-27"), "Just you and me"))
    setup(syncd, mails)
    awaiting = digest(syncd, "2026-06-30")["awaiting_reply"]
    assert [(a["email"], a["subject"]) for a in awaiting] == [("pal@x.example", "Just you and me")]


def test_a_sources_own_account_address_is_the_user_too(syncd: Syncd) -> None:
    """Mail sent from the address a source reports as its account (not listed in [me])."""
    from syncd.models import Batch

    work = "Ada <ada@work.example>"
    setup(
        syncd,
        [
            Mail(work, ["colleague@work.example"], at("2026-03-01"), "Report"),
            Mail("colleague@work.example", [work], at("2026-03-02"), "Re: Report"),
        ],
    )
    # Unknown, ada@work.example looks like a stranger writing to the colleague.
    before = syncd.json("people", "--as-of", "2026-06-30", "--all")
    assert {p["emails"][0] for p in before} == {"ada@work.example", "colleague@work.example"}
    assert not any(p["tracked"] for p in before)
    store = syncd.open_store()
    store.apply_batch("mail", Batch(account="Ada@Work.example"))
    store.close()
    after = syncd.json("people", "--as-of", "2026-06-30", "--all")
    assert [(p["emails"], p["tracked"], p["contact_days"]) for p in after] == [
        (["colleague@work.example"], True, 2)
    ]


def test_snooze_and_mute_from_the_command_line(syncd: Syncd) -> None:
    """`syncd snooze` / `mute` work on today's digest (they refuse dates in the past)."""
    from datetime import UTC, datetime

    today = datetime.now(UTC).date()
    setup(syncd, wrote_to("nap@x.example", [str(today - timedelta(days=n)) for n in (200, 190)]))
    until = today + timedelta(days=10)

    def listed(as_of: date) -> bool:
        return bool(digest(syncd, as_of.isoformat())["people"])

    assert listed(today)
    syncd.run("snooze", "nap@x.example", "--until", until.isoformat())
    assert not listed(today) and not listed(until - timedelta(days=1))
    assert listed(until)
    syncd.run("snooze", "nap@x.example", "--undo")
    assert listed(today)
    syncd.run("mute", "nap@x.example")
    assert not listed(today) and not listed(until)
    syncd.run("unmute", "nap@x.example")
    assert listed(today)
