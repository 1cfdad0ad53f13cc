"""`syncd demo`: the main job on built-in data, end to end through the real CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncd.cli import cli


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(cli, ["demo", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_demo_prints_a_digest_and_writes_its_html(demo: tuple[Path, str]) -> None:
    out, text = demo
    assert "SLIPPING OUT OF SIGHT" in text
    assert "WAITING ON YOUR REPLY" in text
    # The printed path is the HTML digest, and it names the same people as the text.
    html_path = Path(re.search(r"HTML digest: (\S+)", text).group(1))
    html = html_path.read_text()
    assert html.lstrip().lower().startswith("<!doctype html")

    config = out / "config.toml"
    runner = CliRunner()
    digest = json.loads(
        runner.invoke(
            cli, ["--config", str(config), "digest", "--format", "json"], catch_exceptions=False
        ).output
    )
    names = [p["name"] for p in digest["people"]]
    assert 1 <= len(names) <= 7
    for name in names:
        assert name in text
        assert name.replace("&", "&amp;") in html
    # Newsletters, no-reply senders and the user's own aliases never appear as people.
    people = json.loads(
        runner.invoke(
            cli,
            ["--config", str(config), "people", "--all", "--format", "json"],
            catch_exceptions=False,
        ).output
    )
    emails = {e for p in people for e in p["emails"]}
    assert not any(re.match(r"(no-?reply|notifications?|newsletter)@", e) for e in emails)
    assert not emails & {"ada@example.org"}
    assert digest["awaiting_reply"], "the demo cast includes someone waiting on a reply"


def test_demo_explain_hint_works(demo: tuple[Path, str]) -> None:
    out, text = demo
    hint = re.search(r'explain "([^"]+)"', text)
    assert hint
    explained = CliRunner().invoke(
        cli,
        ["--config", str(out / "config.toml"), "explain", hint.group(1)],
        catch_exceptions=False,
    )
    assert explained.exit_code == 0
    assert "Overdue by" in explained.output
    assert "In this week's digest: #1 of" in explained.output
