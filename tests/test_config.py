"""Config loading: defaults, typed values, and every problem of a file listed at once."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import toml_dumps

from syncd.config import Rules, default_config_path, load_config, parse_config
from syncd.errors import ConfigError

MINIMAL: dict[str, Any] = {"me": {"emails": ["Ada@Example.org"], "timezone": "UTC"}}


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_config(data, Path("/x/config.toml"))
    assert e.value.path == "/x/config.toml"
    return e.value.problems


def test_a_minimal_config_gets_the_documented_defaults(isolated_home: Path) -> None:
    c = parse_config(MINIMAL)
    assert c.me.emails == ("ada@example.org",)
    assert c.rules == Rules()
    r = c.rules
    assert (r.max_recipients, r.max_meeting_size, r.default_rhythm, r.slack) == (10, 12, 60, 0.25)
    assert (r.min_rhythm, r.max_rhythm, r.awaiting_reply_days) == (7, 365, 21)
    assert c.digest.max_people == 7
    assert c.digest.via == "smtp"
    assert c.digest.schedule == (0, 8, 0)  # monday 08:00
    assert c.digest_to == "ada@example.org"
    assert c.sources == {} and c.people == () and c.smtp is None
    assert c.store_path == isolated_home / "data" / "syncd" / "syncd.db"


def test_the_timezone_defaults_to_the_systems(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert parse_config({"me": {"emails": ["a@b.example"]}}).me.timezone == "Asia/Tokyo"


def test_the_config_path_defaults_to_syncd_config_or_the_platform_dir(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert default_config_path() == isolated_home / "config" / "syncd" / "config.toml"
    monkeypatch.setenv("SYNCD_CONFIG", "/etc/elsewhere.toml")
    assert default_config_path() == Path("/etc/elsewhere.toml")


def test_values_are_typed_and_normalized() -> None:
    c = parse_config(
        {
            "me": {"name": "Ada", "emails": ["ADA@example.org", "ada@example.org", "a2@x.example"],
                   "timezone": "Europe/London"},
            "rules": {"default_rhythm": "6w", "min_rhythm": 3, "max_rhythm": "1y", "slack": 1,
                      "ignore_domains": "news.example"},
            "digest": {"schedule": "Fri 17:30", "max_people": 3, "to": "Me@Home.example"},
            "people": [{"name": "Heidi", "emails": ["Heidi@Work.example"], "every": "2w",
                        "birthday": "--12-10"}],
            "sources": {"mail": {"type": "mbox", "path": "/m.mbox", "enabled": False,
                                 "interval": "1h"}},
        }
    )  # fmt: skip
    assert c.me.emails == ("ada@example.org", "a2@x.example")  # lowercased, deduplicated
    assert (c.rules.default_rhythm, c.rules.min_rhythm, c.rules.max_rhythm) == (42, 3, 365)
    assert (c.rules.slack, c.rules.ignore_domains) == (1.0, ("news.example",))
    assert (c.digest.schedule, c.digest.max_people, c.digest_to) == (
        (4, 17, 30),
        3,
        "me@home.example",
    )
    heidi = c.people[0]
    assert (heidi.emails, heidi.every, heidi.birthday) == (
        ("heidi@work.example",),
        14,
        date(1900, 12, 10),
    )
    mail = c.sources["mail"]
    assert (mail.type, mail["path"], mail["enabled"]) == ("mbox", "/m.mbox", False)
    assert mail["interval"].total_seconds() == 3600  # fmt: skip


def test_every_problem_is_listed_at_once() -> None:
    found = problems(
        {
            "me": {"emails": ["not-an-address"], "timezone": "Mars/Olympus", "nick": "A"},
            "rules": {"max_recipients": 0, "slack": "lots", "min_rhythm": "400d"},
            "digest": {"schedule": "someday", "via": "pigeon", "max_people": 51},
            "people": [
                {"name": "A", "emails": ["a@x.example"], "every": "soon"},
                {"name": "B", "emails": ["A@x.example"], "mute": "yes"},
            ],
            "sources": {"m": {"type": "mbox"}, "q": {"path": "x"}, "z": {"type": "zip"}},
            "extras": {},
        }
    )
    expected = [
        "unknown section [extras]",
        "[me] emails: 'not-an-address' is not an email address",
        "[me] timezone: unknown time zone 'Mars/Olympus'",
        "[me]: unknown key 'nick'",
        "[rules] max_recipients: must be at least 1, got 0",
        "[rules] slack: expected a number, got a string",
        "[rules] min_rhythm: must not exceed max_rhythm",
        "[digest] schedule: expected a weekday and a 24-hour time",
        "[digest] max_people: must be at most 50, got 51",
        "[digest] via: 'pigeon' is neither smtp, file, nor the name of a source",
        "[[people]] #1 (A) every: expected a span",
        "[[people]] #2 (B) mute: expected true or false",
        "[[people]] #2 (B) emails: a@x.example is already listed in [[people]] #1",
        "[sources.m]: missing required key 'path'",
        "[sources.q]: missing required key 'type'",
        "[sources.z] type: must be one of mbox, ics, google, outlook, imap, caldav, vcard; "
        "got 'zip'",
    ]
    for needle in expected:
        assert sum(needle in p for p in found) == 1, (needle, found)
    assert len(found) == len(expected), found


def test_rhythm_bounds_must_be_in_order() -> None:
    found = problems({**MINIMAL, "rules": {"min_rhythm": "60d", "max_rhythm": "30d"}})
    assert found == ["[rules] min_rhythm: must not exceed max_rhythm"]


def test_unknown_source_option_lists_the_known_ones() -> None:
    found = problems({**MINIMAL, "sources": {"m": {"type": "mbox", "path": "x", "folder": "y"}}})
    assert len(found) == 1
    assert "[sources.m]: unknown key 'folder'" in found[0]
    assert "path" in found[0] and "enabled" in found[0] and "interval" in found[0]


def test_people_must_be_an_array_of_tables() -> None:
    found = problems({**MINIMAL, "people": {"name": "x"}})
    assert found == ["[[people]] must be an array of tables ([[people]], not [people])"]


def test_digest_via_must_name_a_google_or_outlook_source() -> None:
    found = problems(
        {**MINIMAL, "sources": {"m": {"type": "mbox", "path": "x"}}, "digest": {"via": "m"}}
    )
    assert found == ["[digest] via: source 'm' is mbox, not google or outlook"]


def test_smtp_port_follows_the_security_mode() -> None:
    for security, port in (("starttls", 587), ("tls", 465), ("none", 25)):
        c = parse_config({**MINIMAL, "smtp": {"host": "mail.example", "security": security}})
        assert c.smtp is not None and (c.smtp.port, c.smtp.security) == (port, security)
    found = problems({**MINIMAL, "smtp": {"host": "h", "security": "ssl", "port": 70000}})
    assert len(found) == 2 and all(p.startswith("[smtp] ") for p in found)


def test_load_config_names_the_file_for_unreadable_input(tmp_path: Path) -> None:
    cases = {
        "missing.toml": None,
        "binary.toml": b'[me]\nname = "\xff\xfe"\n',
        "syntax.toml": b"[me\n",
        "folder.toml": "dir",
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content == "dir":
            path.mkdir()
        elif content is not None:
            path.write_bytes(content)
        with pytest.raises(ConfigError) as e:
            load_config(path)
        assert str(e.value).startswith(f"{path}: "), str(e.value)
        assert len(e.value.problems) == 1


def test_load_config_reads_a_written_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml_dumps({**MINIMAL, "store": {"path": str(tmp_path / "s.db")}}))
    c = load_config(path)
    assert (c.path, c.store_path, c.me.emails) == (path, tmp_path / "s.db", ("ada@example.org",))
