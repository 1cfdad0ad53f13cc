"""Shared set-up for the Google connector tests: a fake server, a source, a context."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from connectors import google
from connectors.base import SourceConfig, SourceContext, options_for
from fakes.google_server import FakeClock, FakeGoogle
from fakes.google_state import ALL_SCOPES
from syncd.options import validate_table
from syncd.secrets import SecretStore

ME = "ada@example.org"


def make_source(
    fake: FakeGoogle, tmp_path: Path, name: str = "personal", **raw: Any
) -> SourceConfig:
    """A google source pointed at ``fake``, its token in ``tmp_path/<name>.json``."""
    table = {"type": "google", "api_endpoint": fake.url, **raw}
    table.setdefault("token_file", str(tmp_path / f"{name}.json"))
    problems: list[str] = []
    options = validate_table(table, options_for("google"), f"[sources.{name}]", problems)
    assert not problems, problems
    return SourceConfig(name, "google", options)


def write_token(
    fake: FakeGoogle, source: SourceConfig, scopes: tuple[str, ...] = ALL_SCOPES
) -> dict:
    info = fake.token_json(ME, scopes)
    Path(source["token_file"]).write_text(json.dumps(info))
    return info


def make_ctx(tmp_path: Path, clock: FakeClock, name: str = "personal") -> SourceContext:
    return SourceContext(
        name=name,
        state_dir=tmp_path,
        secrets=SecretStore(tmp_path, use_keyring=False),
        me_emails=(ME,),
        timezone="Europe/London",
        sleep=clock.sleep,
        monotonic=clock,
    )


def connector(
    fake: FakeGoogle,
    tmp_path: Path,
    clock: FakeClock,
    scopes: tuple[str, ...] = ALL_SCOPES,
    **raw: Any,
) -> google.GoogleConnector:
    source = make_source(fake, tmp_path, **raw)
    if not Path(source["token_file"]).exists():
        write_token(fake, source, scopes)
    return google.open(source, make_ctx(tmp_path, clock))
