"""CLI commands of the background side: ``run``, ``service``, and the per-person settings
``snooze``, ``mute``/``unmute`` and ``rhythm`` (kept in the store, honoured by the digest).

Registered on the ``cli`` group at the bottom of syncd.cli.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import click

from syncd.cli import AppState, pass_state
from syncd.config import Config, default_config_path
from syncd.errors import UserError
from syncd.options import OptionValueError, days
from syncd.store import Store


# ---------------------------------------------------------------------------------- run
@click.command()
@click.option("--once", is_flag=True, help="One round: sync every source, send a due digest, exit.")
@click.pass_context
def run(ctx: click.Context, once: bool) -> None:
    """Run in the foreground: sync on each source's interval, send the digest on schedule.

    Stops cleanly on SIGTERM or Ctrl-C (after the current batch); SIGHUP reloads the config.
    A second instance for the same store refuses to start (exit status 1).
    """
    from syncd.daemon import Daemon, acquire_lock, configure_logging

    state: AppState = ctx.obj
    verbose = (ctx.parent.params.get("verbose") if ctx.parent else 0) or 0
    configure_logging(verbose)
    config = state.config
    fd = acquire_lock(config.store_path)
    try:
        daemon = Daemon(
            config=config,
            store=state.store(),
            config_path=(state.config_path or default_config_path()).resolve(),
            once=once,
        )
        daemon.install_signal_handlers()
        ctx.exit(daemon.run())
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------- service
@click.group()
def service() -> None:
    """Install syncd as a background service (systemd user unit, or launchd agent on macOS)."""


_kind = click.option(
    "--kind",
    type=click.Choice(["systemd", "launchd"]),
    help="Service manager (default: launchd on macOS, systemd elsewhere).",
)


@service.command("install")
@_kind
@click.option("--no-start", is_flag=True, help="Only write the file; do not start it.")
@click.option("--print", "print_only", is_flag=True, help="Print the unit/plist; write nothing.")
@pass_state
def service_install(state: AppState, kind: str | None, no_start: bool, print_only: bool) -> None:
    """Write and start the service, with this config file's absolute path baked in."""
    from syncd.service import manager

    path = (state.config_path or default_config_path()).resolve()
    _ = state.config  # refuse to install a service that could not start
    m = manager(kind)
    if print_only:
        click.echo(m.render(path), nl=False)
        return
    m.install(path, start=not no_start, echo=click.echo)


@service.command("uninstall")
@_kind
def service_uninstall(kind: str | None) -> None:
    """Stop the service and remove its file."""
    from syncd.service import manager

    manager(kind).uninstall(click.echo)


@service.command("status")
@_kind
@pass_state
def service_status(state: AppState, kind: str | None) -> None:
    """Whether the service is installed and running."""
    from syncd.daemon import running_pid
    from syncd.service import manager

    for line in manager(kind).status():
        click.echo(line)
    try:
        store_path = state.config.store_path
    except UserError:
        return
    pid = running_pid(store_path)
    click.echo(f"syncd run: {'running, pid ' + str(pid) if pid else 'not running'}")


# ---------------------------------------------------------------------------------- people
def _today(config: Config) -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(config.me.timezone)).date()


def resolve_person(store: Store, config: Config, query: str) -> tuple[str, str]:
    """(key address, display label) of the one person ``query`` (a name or address) means."""
    from syncd.relationships import Relationships

    q = query.strip()
    p = Relationships(store, config).find_one(q, datetime.now(UTC))
    if p:
        return p.key, f"{p.name} <{p.emails[0]}>"
    if "@" in q and " " not in q:  # someone not seen yet: keep the setting for later
        return q.lower(), q.lower()
    raise UserError(f"nobody matches {query!r} (give a name from `syncd people`, or an address)")


def _span(value: str, what: str) -> int:
    try:
        return days(value)
    except OptionValueError as e:
        raise UserError(f"{what}: {e} (e.g. 30d, 6w)") from None


@click.command()
@click.argument("person")
@click.argument("span", required=False)
@click.option("--until", "until_s", metavar="DATE", help="Snooze until this date (YYYY-MM-DD).")
@click.option("--undo", is_flag=True, help="End the snooze now.")
@pass_state
def snooze(state: AppState, person: str, span: str | None, until_s: str | None, undo: bool) -> None:
    """Keep PERSON out of the digest for SPAN (e.g. 30d, 6w) or --until a date."""
    from syncd.settings import snooze as set_snooze

    config, store = state.config, state.store()
    key, label = resolve_person(store, config, person)
    if undo:
        set_snooze(store, key, None)
        click.echo(f"{label}: no longer snoozed.")
        return
    if until_s and span:
        raise UserError("give either SPAN or --until, not both")
    if until_s:
        try:
            until = date.fromisoformat(until_s)
        except ValueError:
            raise UserError(
                f"--until: expected a date such as 2026-12-01, got {until_s!r}"
            ) from None
    elif span:
        until = _today(config) + timedelta(days=_span(span, "SPAN"))
    else:
        raise UserError("how long? e.g. `syncd snooze PERSON 30d` or --until 2026-12-01")
    if until <= _today(config):
        raise UserError(f"{until.isoformat()} is not in the future")
    set_snooze(store, key, until)
    click.echo(f"Snoozed {label} until {until.isoformat()}: not in a digest before then.")


@click.command()
@click.argument("person")
@click.option("--undo", is_flag=True, help="Unmute.")
@pass_state
def mute(state: AppState, person: str, undo: bool) -> None:
    """Never list PERSON in the digest (undo with --undo or `syncd unmute`)."""
    _mute(state, person, not undo)


@click.command()
@click.argument("person")
@pass_state
def unmute(state: AppState, person: str) -> None:
    """List PERSON in the digest again when overdue."""
    _mute(state, person, False)


def _mute(state: AppState, person: str, muted: bool) -> None:
    from syncd.settings import mute as set_mute

    config, store = state.config, state.store()
    key, label = resolve_person(store, config, person)
    set_mute(store, key, muted)
    if muted:
        click.echo(f"Muted {label}: never listed in the digest (undo: syncd unmute {key}).")
        return
    click.echo(f"Unmuted {label}.")
    if any(e.mute and key in e.emails for e in config.people):
        click.echo(f"Note: the config's [[people]] entry for {key} still sets mute = true.")


@click.command()
@click.argument("person")
@click.argument("span", required=False)
@click.option("--clear", is_flag=True, help="Forget the pinned rhythm (infer it again).")
@pass_state
def rhythm(state: AppState, person: str, span: str | None, clear: bool) -> None:
    """Pin how often you want to be in touch with PERSON (e.g. 14d, 3w)."""
    from syncd.settings import set_rhythm

    config, store = state.config, state.store()
    key, label = resolve_person(store, config, person)
    if clear:
        set_rhythm(store, key, None)
        click.echo(f"{label}: rhythm no longer pinned; inferred from your history again.")
        return
    if not span:
        raise UserError("how often? e.g. `syncd rhythm PERSON 14d` (or --clear)")
    n = _span(span, "SPAN")
    set_rhythm(store, key, n)
    click.echo(f"{label}: rhythm pinned to every {n} days.")
    if any(e.every and key in e.emails for e in config.people):
        click.echo(f"Note: the config's [[people]] entry for {key} pins `every`, which wins.")


COMMANDS = (run, service, snooze, mute, unmute, rhythm)
