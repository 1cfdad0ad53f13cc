"""``syncd digest``: show this week's digest, or send it once."""

from __future__ import annotations

import json

import click

from syncd.cli_state import AppState, as_of_option, parse_as_of, pass_state
from syncd.errors import UserError


# ---------------------------------------------------------------------------------- digest
@click.command()
@as_of_option
@click.option("--format", "fmt", type=click.Choice(["text", "html", "json"]), default="text")
@click.option("--send", is_flag=True, help="Send it (once per week; a repeat sends nothing).")
@click.option("--force", is_flag=True, help="With --send: send again even if already sent.")
@pass_state
def digest(state: AppState, as_of: str | None, fmt: str, send: bool, force: bool) -> None:
    """Show this week's digest (or send it with --send)."""
    from syncd.digest import build_digest
    from syncd.digest_model import digest_to_json
    from syncd.render import render_html, render_text

    if force and not send:
        raise UserError("--force only makes sense with --send")
    config = state.config
    store = state.store() if send else state.reader()
    when = parse_as_of(as_of, config.me.timezone)
    d = build_digest(store, config, when)
    if send:
        from syncd.delivery import send_digest

        outcome = send_digest(store, config, d, force=force)
        click.echo(outcome)
        return
    if fmt == "json":
        click.echo(json.dumps(digest_to_json(d), indent=2, ensure_ascii=False))
    elif fmt == "html":
        click.echo(render_html(d))
    else:
        click.echo(render_text(d))


COMMANDS = (digest,)
