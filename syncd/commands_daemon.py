"""Commands of the background side: ``run`` (the daemon in the foreground) and ``service``
(install it as a systemd user unit or launchd agent)."""

from __future__ import annotations

import os

import click

from syncd.cli_state import AppState, pass_state
from syncd.config import default_config_path
from syncd.errors import UserError


# ---------------------------------------------------------------------------------- run
@click.command()
@click.option("--once", is_flag=True, help="One round: sync every source, send a due digest, exit.")
@click.pass_context
def run(ctx: click.Context, once: bool) -> None:
    """Run in the foreground: sync on each source's interval, send the digest on schedule.

    Stops cleanly on SIGTERM or Ctrl-C (after the current batch); SIGHUP reloads the config.
    A second instance for the same store refuses to start (exit status 1).
    """
    from syncd.daemon import Daemon
    from syncd.locks import acquire_lock
    from syncd.logsetup import configure_logging

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
    from syncd.locks import running_pid
    from syncd.service import manager

    for line in manager(kind).status():
        click.echo(line)
    try:
        store_path = state.config.store_path
    except UserError:
        return
    pid = running_pid(store_path)
    click.echo(f"syncd run: {'running, pid ' + str(pid) if pid else 'not running'}")


COMMANDS = (run, service)
