"""config.example.toml documents every key there is, and itself is a valid config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectors.base import COMMON_OPTIONS, TYPES, options_for
from syncd import config as cfg

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"


def documented_keys(section_header: str) -> set[str]:
    """Keys written as `key =` (active or commented out) below a section header."""
    text = EXAMPLE.read_text()
    start = re.search(rf"^{re.escape(section_header)}", text, re.M).start()
    nxt = re.search(r"^#? ?\[{1,2}[a-z]", text[start + len(section_header) :], re.M)
    body = text[start : start + len(section_header) + (nxt.start() if nxt else len(text))]
    return set(re.findall(r"^#?\s*([a-z_0-9]+)\s*=", body, re.M))


def test_example_config_parses(tmp_path: Path) -> None:
    conf = cfg.load_config(EXAMPLE)
    assert conf.me.emails == ("ada@example.org",)
    assert set(conf.sources) == {"archive", "calendar"}
    assert conf.rules == cfg.Rules()  # every rule is at its default


@pytest.mark.parametrize(
    ("header", "spec"),
    [
        ("[me]", cfg.ME_OPTIONS),
        ("[store]", cfg.STORE_OPTIONS),
        ("[rules]", cfg.RULES_OPTIONS),
        ("[digest]", cfg.DIGEST_OPTIONS),
        ("# [smtp]", cfg.SMTP_OPTIONS),
        ("# [[people]]", cfg.PEOPLE_OPTIONS),
    ],
)
def test_every_section_key_is_documented(header: str, spec: dict) -> None:
    missing = set(spec) - documented_keys(header)
    assert not missing, f"{header} keys missing from config.example.toml: {sorted(missing)}"


@pytest.mark.parametrize("type_name", sorted(TYPES))
def test_every_source_key_is_documented(type_name: str) -> None:
    text = EXAMPLE.read_text()
    m = re.search(rf'^#? ?type = "{type_name}"', text, re.M)
    assert m, f"no example source of type {type_name}"
    header = text.rfind("[sources.", 0, m.start())
    line_start = text.rfind("\n", 0, header) + 1
    keys = documented_keys(text[line_start : text.index("\n", header)])
    own = set(options_for(type_name)) - set(COMMON_OPTIONS)
    assert own - keys == set(), f"{type_name} keys missing from config.example.toml"


def test_common_source_keys_are_documented() -> None:
    text = EXAMPLE.read_text()
    for key in COMMON_OPTIONS:
        assert re.search(rf"^#\s+{key}\s+=", text, re.M), key
