"""Commands that set syncd up: ``init`` (a commented config), ``auth`` (sign in to a
source once) and ``demo`` (the whole job on built-in sample data)."""

from __future__ import annotations

from pathlib import Path

import click

from syncd.cli_state import AppState, pass_state
from syncd.config import default_config_path
from syncd.errors import UserError


# ---------------------------------------------------------------------------------- init
@click.command()
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@pass_state
def init(state: AppState, force: bool) -> None:
    """Write a commented config file to start from."""
    from importlib.resources import files

    path = state.config_path or default_config_path()
    if path.exists() and not force:
        raise UserError(f"{path}: already exists (use --force to overwrite)")
    from syncd.secrets import write_private

    text = files("syncd").joinpath("templates/config.example.toml").read_text()
    # Owner-only (0600, in a new folder 0700): the config may name a password command.
    write_private(path, text)
    click.echo(
        f"Wrote {path} (readable by you only): set [me] and your sources, then run `syncd sync`."
    )


# ---------------------------------------------------------------------------------- auth
@click.command()
@click.argument("source")
@pass_state
def auth(state: AppState, source: str) -> None:
    """Sign in to SOURCE once (browser for Google, device code for Microsoft)."""
    from connectors.base import load
    from syncd.sync import make_context

    config = state.config
    if source not in config.sources:
        raise UserError(f"unknown source {source!r} (configured: {', '.join(config.sources)})")
    src = config.sources[source]
    module = load(src.type)
    if not hasattr(module, "authenticate"):
        raise UserError(f"source {source!r} ({src.type}) needs no sign-in")
    module.authenticate(src, make_context(config, src), click.echo)
    store = state.store()
    store.ensure_source(source, src.type)
    store.mark_signed_in(source)
    click.echo(f"{source}: signed in. Next: syncd sync {source}")


# ---------------------------------------------------------------------------------- demo
@click.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for the demo's files (default: a new temporary folder).",
)
def demo(out: Path | None) -> None:
    """Run the whole job on built-in sample data: sync, people, digest. No config needed."""
    from syncd.demo import run_demo

    run_demo(out, echo=click.echo)


COMMANDS = (init, auth, demo)
