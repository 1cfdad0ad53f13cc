"""What every command shares: the AppState (the config and store, loaded on first use) that
the ``cli`` group puts on the click context, and the ``--as-of`` option.

Command modules (syncd.commands_*) import this module; syncd.cli imports them and adds their
commands to the group, so that no command module imports syncd.cli.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

import click

from syncd.config import Config, default_config_path, load_config
from syncd.errors import UserError
from syncd.store import Store

P = ParamSpec("P")
R = TypeVar("R")


class AppState:
    def __init__(self, config_path: Path | None):
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path or default_config_path())
        return self._config

    def store(self) -> Store:
        return Store.open(self.config.store_path)

    def reader(self) -> Store:
        """The store opened read-only: for commands that never write (people, digest,
        explain, status)."""
        return Store.open_reader(
            self.config.store_path, on_stale=lambda m: click.echo(f"syncd: {m}", err=True)
        )


_pass_app_state = click.make_pass_decorator(AppState)


def pass_state(f: Callable[Concatenate[AppState, P], R]) -> Callable[P, R]:
    """Pass the command's AppState first (click.make_pass_decorator), typed for mypy."""
    return _pass_app_state(f)


def parse_as_of(value: str | None, timezone: str) -> datetime:
    """``--as-of``: a date means the end of that day in the user's zone; a naive datetime is
    read in the user's zone; nothing means now."""
    if not value:
        return datetime.now(UTC)
    tz = ZoneInfo(timezone)
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return datetime.combine(d, time(23, 59, 59), tz).astimezone(UTC)
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(
            f"--as-of: expected a date (2026-11-23) or a date and time, got {value!r}"
        ) from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=tz)).astimezone(UTC)


def as_of_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--as-of",
        metavar="DATE",
        help="Judge as of this date (YYYY-MM-DD, end of day) or date-time, instead of now.",
    )(f)
