"""The command line: parse, call, translate errors. No logic of its own.

This module holds the ``cli`` group and ``main`` (the ``syncd`` entry point) and adds the
commands, which live in modules by theme (syncd.commands_*); those import syncd.cli_state,
never this module. Every error syncd raises on purpose (syncd.errors) becomes one line on
stderr and its exit status (2 for bad config or input); anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from syncd import (
    __version__,
    commands_daemon,
    commands_digest,
    commands_people,
    commands_setup,
    commands_sync,
)
from syncd.cli_state import AppState
from syncd.errors import SyncdError

log = logging.getLogger("syncd")


class SyncdGroup(click.Group):
    """Turns syncd's own errors into one line on stderr and their exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SyncdError as e:
            click.echo(f"syncd: {e}", err=True)
            ctx.exit(getattr(e, "exit_code", 1))


@click.group(cls=SyncdGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="SYNCD_CONFIG",
    help="Config file (default: the platform's config dir, or $SYNCD_CONFIG).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(__version__, prog_name="syncd")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, verbose: int) -> None:
    """syncd: keep in touch with the people who matter.

    Reads mail and calendar metadata (never bodies) from your sources and tells you, once a
    week, whom you are losing touch with.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    ctx.obj = AppState(config_path)


def main() -> None:
    cli(prog_name="syncd")


for _command in (
    *commands_setup.COMMANDS,
    *commands_sync.COMMANDS,
    *commands_people.COMMANDS,
    *commands_digest.COMMANDS,
    *commands_daemon.COMMANDS,
):
    cli.add_command(_command)
