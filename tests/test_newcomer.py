"""What a newcomer trips on (issue 15): states and wording that contradicted each other or the
user, each driven through the real CLI with the wording asserted where it was the defect."""

from __future__ import annotations

import re
import stat
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from builders import Event, Mail, at, write_ics, write_mbox
from conftest import Syncd
from test_daemon_process import CLI

ADA = "Ada Lovelace <ada@example.org>"
ALAN = "Alan Turing <alan@bletchley.example>"
ONCE = "Olive Once <olive@once.example>"


def today() -> date:
    return datetime.now(UTC).date()  # the fixtures' [me] timezone is UTC


@pytest.fixture
def friends(syncd: Syncd) -> Syncd:
    """Alan: weekly in January and February (a rhythm of 7 days is inferred), then silence;
    Olive: written to on one day only. Both are overdue today."""
    mails = [Mail(ADA, [ALAN], at("2026-01-05") + timedelta(days=7 * i), "Tea") for i in range(8)]
    mails.append(Mail(ADA, [ONCE], at("2026-02-01"), "Nice to meet you"))
    write_mbox(syncd.root / "mail.mbox", mails)
    syncd.write_config({"mail": {"type": "mbox", "path": str(syncd.root / "mail.mbox")}})
    syncd.run("sync")
    return syncd


def status_column(syncd: Syncd) -> dict[str, str]:
    """people's STATUS column by address."""
    out = syncd.run("people").stdout.splitlines()
    rows = {}
    for line in out[1:]:
        m = re.match(r"^.+?\s{2,}(\S+@\S+)\s{2,}\S+\s{2,}.+?\s{2,}(.+)$", line)
        assert m, line
        rows[m.group(1)] = m.group(2)
    return rows


# ------------------------------------------------------------------------- people's STATUS
def test_a_snoozed_person_shows_snoozed_until_not_overdue(friends: Syncd) -> None:
    assert status_column(friends)["alan@bletchley.example"].startswith("overdue ")
    friends.run("snooze", "Alan Turing", "30d")
    friends.run("mute", "olive@once.example")
    until = (today() + timedelta(days=30)).isoformat()
    assert status_column(friends) == {
        "alan@bletchley.example": f"snoozed until {until}",
        "olive@once.example": "muted",
    }
    js = {p["emails"][0]: p for p in friends.json("people")}
    assert js["alan@bletchley.example"]["snoozed_until"] == until
    friends.run("snooze", "Alan Turing", "--undo")
    assert status_column(friends)["alan@bletchley.example"].startswith("overdue ")


# ------------------------------------------------------------------------- rhythm --clear
def test_rhythm_clear_says_what_the_rhythm_will_be(friends: Syncd) -> None:
    friends.run("rhythm", "alan", "30d")
    out = friends.run("rhythm", "alan", "--clear").stdout
    assert out == (
        "Alan Turing <alan@bletchley.example>: rhythm no longer pinned; "
        "now every 7 days, inferred from your history.\n"
    )
    friends.run("rhythm", "olive", "14d")
    out = friends.run("rhythm", "olive", "--clear").stdout
    assert out == (
        "Olive Once <olive@once.example>: rhythm no longer pinned; now every 60 days, "
        "the default ([rules] default_rhythm): too few contact days to infer one.\n"
    )


def test_rhythm_clear_names_the_config_pin_that_still_holds(friends: Syncd) -> None:
    friends.write_config(
        {"mail": {"type": "mbox", "path": str(friends.root / "mail.mbox")}},
        people=[{"emails": ["alan@bletchley.example"], "every": "90d"}],
    )
    out = friends.run("rhythm", "alan", "--clear").stdout
    assert "the config's [[people]] entry still pins every 90 days" in out


def test_rhythm_of_one_day_is_not_one_days(friends: Syncd) -> None:
    out = friends.run("rhythm", "alan", "1d").stdout
    assert out.endswith("rhythm pinned to every day.\n")


# ------------------------------------------------------------------------- snooze hints
def _dates(text: str) -> list[date]:
    return [date.fromisoformat(d) for d in re.findall(r"\d{4}-\d\d-\d\d", text)]


def test_snooze_hints_never_suggest_a_date_in_the_past(friends: Syncd) -> None:
    ahead = (today() + timedelta(days=30)).isoformat()
    res = friends.run("snooze", "alan", expect=2)
    assert f"or --until {ahead}" in res.stderr
    res = friends.run("snooze", "alan", "--until", "next week", expect=2)
    assert f"expected a date such as {ahead}, got 'next week'" in res.stderr
    res = friends.run("snooze", "alan", "--until", "2020-01-01", expect=2)
    assert "2020-01-01 is not in the future" in res.stderr
    assert f"today is {today().isoformat()}; e.g. --until {ahead}" in res.stderr
    # Every date offered as an example lies ahead.
    for args in (("alan",), ("alan", "--until", "x"), ("alan", "--until", "2020-01-01")):
        text = friends.run("snooze", *args, expect=2).stderr.replace("2020-01-01", "")
        assert _dates(text) and all(d > today() for d in _dates(text) if d != today())


# ------------------------------------------------------------------------- explain wording
def test_explain_counts_one_contact_day_in_the_singular(friends: Syncd) -> None:
    out = friends.run("explain", "olive").stdout
    assert "; 1 contact day in all." in out
    assert "1 contact days" not in out
    assert "; 8 contact days in all." in friends.run("explain", "alan").stdout


# ------------------------------------------------------------------------- digest wording
def test_one_contact_day_is_not_regular_touch(friends: Syncd) -> None:
    friends.run("mute", "alan")  # Olive alone is listed
    text = " ".join(friends.run("digest").stdout.split())  # unwrapped
    assert "1 person you have been in touch with has slipped out of sight." in text
    assert "regular touch" not in text
    friends.run("unmute", "alan")
    friends.run("mute", "olive")  # Alan alone: eight weeks in a row
    text = " ".join(friends.run("digest").stdout.split())
    assert "1 person you were in regular touch with has slipped out of sight." in text


def test_write_to_button_cuts_a_huge_display_name_like_the_name(syncd: Syncd) -> None:
    huge = "Z" * 10_000
    write_mbox(
        syncd.root / "mail.mbox",
        [Mail(ADA, [f'"{huge} Smith" <z@long.example>'], at("2026-01-05"), "Hi")],
    )
    syncd.write_config({"mail": {"type": "mbox", "path": str(syncd.root / "mail.mbox")}})
    syncd.run("sync")
    html = syncd.run("digest", "--format", "html").stdout
    text = syncd.run("digest").stdout
    for out in (html, text):
        assert "Z" * 100 not in out
        write_to = re.search(r"Write to ([^\s:]+)", out)
        assert write_to and write_to.group(1).startswith("Z" * 70)
        assert len(write_to.group(1)) <= 80 and write_to.group(1).endswith("…")


# ------------------------------------------------------------------------- status and run
def test_status_and_run_agree_on_the_first_digest(friends: Syncd) -> None:
    outbox = friends.root / "out"
    friends.write_config(
        {"mail": {"type": "mbox", "path": str(friends.root / "mail.mbox")}},
        digest={"via": "file", "file_path": str(outbox)},
    )
    before = friends.run("status").stdout
    line = next(x for x in before.splitlines() if "digest:" in x and "last" not in x)
    assert "due now" not in line
    assert line.startswith("first digest: ")
    assert line.endswith(
        ", if `syncd run` is running by then (slots before its first start are not sent)"
    )
    js = friends.json("status")
    assert js["first_digest"] is True and js["next_digest"] is not None
    assert js["daemon_first_started"] is None
    # `syncd run` agrees: the slot that passed before its first start is not sent.
    subprocess.run(
        [*CLI, "--config", str(friends.config_path), "run", "--once"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert not list(outbox.glob("*.eml")) if outbox.exists() else True
    after = friends.json("status")
    assert (after["next_digest_period"], after["next_digest"]) == (
        js["next_digest_period"],
        js["next_digest"],
    )
    assert after["first_digest"] is True and after["daemon_first_started"] is not None
    text = friends.run("status").stdout
    assert f"first digest: {js['next_digest_period']}, " in text
    assert "if `syncd run` is running by then" not in text


def test_status_and_a_repeated_send_show_times_in_the_users_zone(friends: Syncd) -> None:
    friends.write_config(
        {"mail": {"type": "mbox", "path": str(friends.root / "mail.mbox")}},
        me={"timezone": "Pacific/Honolulu"},
        digest={"via": "file", "file_path": str(friends.root / "out")},
    )
    friends.run("sync")
    assert re.search(
        r"mail \(mbox\): ok; last success \d{4}-\d\d-\d\d \d\d:\d\d HST",
        friends.run("status").stdout,
    )
    friends.run("digest", "--send")
    again = friends.run("digest", "--send").stdout
    assert re.search(r"already sent \(\d{4}-\d\d-\d\d \d\d:\d\d HST, ", again), again
    assert "UTC" not in again


# ------------------------------------------------------------------------- since look-back
def test_sync_says_how_many_meetings_were_older_than_since(syncd: Syncd) -> None:
    old = [
        Event(
            f"old-{i}",
            at(f"2010-0{i + 1}-10"),
            organizer="ada@example.org",
            attendees=[("bob@x.example", "ACCEPTED")],
        )
        for i in range(3)
    ]
    ended = Event(
        "ended-series",
        at("2011-01-03"),
        organizer="ada@example.org",
        attendees=[("bob@x.example", "ACCEPTED")],
        rrule="FREQ=WEEKLY;COUNT=5",
    )
    ongoing = Event(
        "ongoing",
        at("2015-01-05"),
        organizer="ada@example.org",
        attendees=[("bob@x.example", "ACCEPTED")],
        rrule="FREQ=YEARLY",
    )
    recent = Event(
        "recent",
        at("2026-03-10"),
        organizer="ada@example.org",
        attendees=[("bob@x.example", "ACCEPTED")],
    )
    write_ics(syncd.root / "cal.ics", [*old, ended, ongoing, recent])
    syncd.write_config({"cal": {"type": "ics", "path": str(syncd.root / "cal.ics")}})
    res = syncd.run("sync")
    # The default look-back is 10 years: the three 2010 meetings and the 2011 series are
    # left out; the yearly series goes on into the window and is read.
    start = (datetime.now(UTC) - timedelta(days=3652)).date()
    m = re.search(
        r"^cal: \d+ new, 0 changed, 0 removed, 4 ignored \(older than `since`, before "
        r"(\d{4}-\d\d-\d\d); set `since` in \[sources\.cal\] to read them\)$",
        res.stderr,
        re.M,
    )
    assert m, res.stderr
    assert abs((date.fromisoformat(m.group(1)) - start).days) <= 3
    assert "older than" not in syncd.run("sync").stderr  # unchanged file: nothing read
    syncd.write_config(
        {"cal": {"type": "ics", "path": str(syncd.root / "cal.ics"), "since": "2000-01-01"}}
    )
    assert "older than" not in syncd.run("sync", "--full").stderr


# ------------------------------------------------------------------------- init
def test_init_writes_the_config_owner_only(tmp_path: Path, isolated_home: Path) -> None:
    path = tmp_path / "fresh" / "syncd" / "config.toml"
    from click.testing import CliRunner

    from syncd.cli import cli

    res = CliRunner().invoke(cli, ["--config", str(path), "init"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "readable by you only" in res.output
    path.chmod(0o644)  # an old, world-readable config is tightened on --force
    res = CliRunner().invoke(cli, ["--config", str(path), "init", "--force"])
    assert res.exit_code == 0 and stat.S_IMODE(path.stat().st_mode) == 0o600
