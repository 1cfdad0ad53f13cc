"""The fixed CLI contract of DESIGN.md: JSON shapes of `people` and `digest`, --help for
every command, bad config -> one clear message naming file and key with exit status 2, and
reproducible --as-of."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import pytest
from builders import Mail, at, write_mbox
from click.testing import CliRunner
from conftest import Syncd

from syncd.cli import cli

ADA = "Ada Lovelace <ada@example.org>"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def synced(syncd: Syncd) -> Syncd:
    mbox = write_mbox(
        syncd.root / "mail.mbox",
        [
            Mail(ADA, ["Grace Hopper <Grace.Hopper@Navy.Example>"], at("2026-01-05"), "Lisbon"),
            Mail(ADA, ["grace.hopper@navy.example"], at("2026-01-20"), "Re: Lisbon"),
            Mail(ADA, ["=?utf-8?q?Jos=C3=A9?= <JOSE@example.ES>"], at("2026-06-29"), "Hola"),
            Mail("Mary <mary@x.example>", [ADA], at("2026-06-28", 9), "Tea?"),
        ],
    )
    syncd.write_config(
        {"mail": {"type": "mbox", "path": str(mbox)}}, me={"timezone": "Europe/London"}
    )
    syncd.run("sync")
    return syncd


def _iso(value: Any) -> datetime:
    assert isinstance(value, str)
    dt = datetime.fromisoformat(value)
    assert dt.tzinfo is not None, f"{value} has no UTC offset"
    return dt


# ------------------------------------------------------------------------------- JSON shapes


def test_people_json_is_a_list_of_the_contract_fields(synced: Syncd) -> None:
    people = synced.json("people", "--as-of", "2026-06-30")
    assert isinstance(people, list)
    assert [p["emails"] for p in people] == [["grace.hopper@navy.example"], ["jose@example.es"]]
    for p in people:
        assert {"name", "emails", "last_contact", "rhythm_days", "overdue"} <= set(p)
        assert isinstance(p["name"], str) and p["name"]
        assert all(isinstance(e, str) and e == e.lower() for e in p["emails"])
        assert isinstance(p["rhythm_days"], int) and p["rhythm_days"] > 0
        assert isinstance(p["overdue"], bool)
    grace, jose = people
    assert (grace["name"], _iso(grace["last_contact"]), grace["overdue"]) == (
        "Grace Hopper",
        at("2026-01-20"),
        True,
    )
    assert (jose["name"], _iso(jose["last_contact"]), jose["overdue"]) == (
        "José",
        at("2026-06-29"),
        False,
    )


def test_digest_json_is_an_object_with_people_and_awaiting_reply(synced: Syncd) -> None:
    d = synced.json("digest", "--as-of", "2026-06-30")
    assert isinstance(d, dict)
    assert [(p["name"], p["emails"], _iso(p["last_contact"])) for p in d["people"]] == [
        ("Grace Hopper", ["grace.hopper@navy.example"], at("2026-01-20"))
    ]
    assert [(a["name"], a["email"], a["subject"]) for a in d["awaiting_reply"]] == [
        ("Mary", "mary@x.example", "Tea?")
    ]


def test_an_empty_digest_still_has_both_lists(syncd: Syncd) -> None:
    syncd.write_config({})
    d = syncd.json("digest", "--as-of", "2026-06-30")
    assert (d["people"], d["awaiting_reply"]) == ([], [])
    assert syncd.json("people", "--as-of", "2026-06-30") == []


# ------------------------------------------------------------------------------- --as-of


def test_as_of_makes_output_reproducible(synced: Syncd) -> None:
    for args in (
        ("people", "--format", "json"),
        ("people",),
        ("digest", "--format", "json"),
        ("digest", "--format", "text"),
        ("explain", "grace.hopper@navy.example"),
    ):
        first = synced.run(*args, "--as-of", "2026-06-30").stdout
        assert first == synced.run(*args, "--as-of", "2026-06-30").stdout
    # ...and every judgment moves with it.
    early = {p["emails"][0]: p for p in synced.json("people", "--as-of", "2026-02-01")}
    assert set(early) == {"grace.hopper@navy.example"}
    grace = early["grace.hopper@navy.example"]
    assert (grace["days_since"], grace["overdue"]) == (12, False)


def test_as_of_reads_dates_and_times_in_the_users_zone(synced: Syncd) -> None:
    # Mary wrote at 09:00 UTC on 28 June = 10:00 in London (BST).
    def awaiting(as_of: str) -> list[str]:
        return [a["email"] for a in synced.json("digest", "--as-of", as_of)["awaiting_reply"]]

    assert awaiting("2026-06-28T09:59") == []
    assert awaiting("2026-06-28T10:01") == ["mary@x.example"]
    assert awaiting("2026-06-28T09:30:00+00:00") == ["mary@x.example"]
    assert awaiting("2026-06-27") == []  # a date is the end of that day


def test_a_bad_as_of_is_a_user_error(synced: Syncd) -> None:
    r = synced.run("people", "--as-of", "last tuesday", expect=2)
    assert "--as-of" in r.stderr and "last tuesday" in r.stderr
    assert "Traceback" not in r.output


# ------------------------------------------------------------------------------- --help


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, cmd in sorted(group.commands.items()):
        yield (*path, name)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*path, name))


ALL_COMMANDS = list(_commands(cli))


def test_the_contract_commands_exist() -> None:
    assert {("sync",), ("people",), ("digest",), ("explain",), ("status",)} <= set(ALL_COMMANDS)


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    r = CliRunner().invoke(cli, [*path, "--help"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"Usage: cli {' '.join(path)}")
    cmd: click.Command = cli
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
    assert cmd.help and len(cmd.help.split()) >= 4, f"{path}: no real help text"
    assert cmd.help.split("\n")[0].strip() in " ".join(r.stdout.split())
    for param in cmd.params:
        # A choice (--format [text|json]) documents itself in the usage line.
        if isinstance(param, click.Option) and not isinstance(param.type, click.Choice):
            assert param.help, f"syncd {' '.join(path)} {param.opts[0]}: no help text"


def test_top_level_help_lists_every_command() -> None:
    r = CliRunner().invoke(cli, ["--help"], catch_exceptions=False)
    assert r.exit_code == 0
    for name in cli.commands:
        assert f"  {name} " in r.stdout


# ------------------------------------------------------------------------------- bad config


def _bad(syncd: Syncd, text: str, *args: str) -> str:
    syncd.config_path.write_text(text)
    r = syncd.run(*(args or ("people",)), expect=2)
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    assert str(syncd.config_path) in r.stderr
    return r.stderr


@pytest.mark.parametrize("command", [("sync",), ("people",), ("digest",), ("status",)])
def test_an_unknown_key_names_the_file_and_key(syncd: Syncd, command: tuple[str, ...]) -> None:
    err = _bad(syncd, '[me]\nemails = ["ada@example.org"]\nemial = "x"\n', *command)
    assert "[me]" in err and "'emial'" in err
    assert err.count("\n") == 1  # one line


def test_a_wrong_type_names_the_key_and_what_was_expected(syncd: Syncd) -> None:
    err = _bad(syncd, '[rules]\nmax_recipients = "ten"\n')
    assert "[rules] max_recipients: expected an integer, got a string" in err


def test_several_problems_are_reported_at_once(syncd: Syncd) -> None:
    err = _bad(
        syncd,
        "[me]\nemails = 3\n[rules]\nslack = true\nfoo = 1\n"
        '[sources.mail]\ntype = "mbox"\n[sources.cal]\ntype = "outlook-ish"\n[bogus]\n',
    )
    assert "6 problems:" in err
    for needle in (
        "[me] emails",
        "[rules] slack",
        "'foo'",
        "[sources.mail]: missing required key 'path'",
        "[sources.cal] type",
        "unknown section [bogus]",
    ):
        assert needle in err, needle


def test_a_missing_config_file_is_named(syncd: Syncd) -> None:
    r = syncd.run("people", expect=2)
    assert str(syncd.config_path) in r.stderr and "not found" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_toml_syntax_error_is_named(syncd: Syncd) -> None:
    err = _bad(syncd, "[me\nemails = [\n")
    assert "TOML" in err


def test_bad_config_in_a_real_process_exits_2_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[store]\npath = 42\n[digest]\nmax_people = 0\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_STATE_HOME": str(tmp_path / "state")}
    r = subprocess.run(
        [sys.executable, "-m", "syncd", "--config", str(config), "digest"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert r.returncode == 2
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    assert str(config) in r.stderr
    assert "[store] path" in r.stderr and "[digest] max_people" in r.stderr
