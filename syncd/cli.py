"""The command line: parse, call, translate errors. No logic of its own.

Every error syncd raises on purpose (syncd.errors) becomes one line on stderr and its exit
status (2 for bad config or input); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

import click

from syncd import __version__
from syncd.config import Config, default_config_path, load_config
from syncd.errors import SyncdError, UserError
from syncd.store import Store

log = logging.getLogger("syncd")
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
    """Pass the command's AppState first (click.make_pass_decorator). A def rather than the
    bare decorator so that its type is explicit: syncd.commands_daemon imports it from here
    while this module imports that one, and mypy cannot infer a type across the cycle."""
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


# ---------------------------------------------------------------------------------- sync
@cli.command()
@click.argument("sources", nargs=-1)
@click.option("--full", is_flag=True, help="Forget the stored cursors first: a full resync.")
@pass_state
def sync(state: AppState, sources: tuple[str, ...], full: bool) -> None:
    """Fetch what is new from each source (all enabled ones by default)."""
    from syncd.progress import SyncProgress
    from syncd.rules import contact_rules
    from syncd.sync import sync_all

    config = state.config
    store = state.store()
    if full:
        for name in sources or config.sources:
            store.reset_source(name)
    derive = contact_rules(config)
    with SyncProgress() as progress:
        # Contacts derived with other rules (a config change, a new syncd) are redone first.
        progress.derived_done(store.bring_derived_up_to_date(derive, progress.derived))
        results = sync_all(store, config, sources or None, progress=progress.update)
        for r in results:
            progress.finish(r)
        progress.derived_done(store.bring_derived_up_to_date(derive, progress.derived))
    failed = [r for r in results if not r.ok]
    if failed:
        lines = "; ".join(f"{r.source}: {r.error}" for r in failed)
        click.echo(f"syncd: {len(failed)} of {len(results)} sources failed: {lines}", err=True)
        sys.exit(1)


# ---------------------------------------------------------------------------------- people
@cli.group(invoke_without_command=True)
@as_of_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--all", "show_all", is_flag=True, help="Also list people who only wrote to you.")
@click.pass_context
def people(ctx: click.Context, as_of: str | None, fmt: str, show_all: bool) -> None:
    """List the people you are in touch with: last contact, rhythm, overdue."""
    if ctx.invoked_subcommand is not None:
        return
    from syncd.relationships import Relationships

    state: AppState = ctx.obj
    config = state.config
    when = parse_as_of(as_of, config.me.timezone)
    model = Relationships(state.reader(), config)
    found = model.people(when, include_untracked=show_all)
    found.sort(key=lambda p: (not p.overdue, -p.score, -(p.last_ts or 0), p.name.lower()))
    if fmt == "json":
        click.echo(json.dumps([p.as_json() for p in found], indent=2, ensure_ascii=False))
        return
    if not found:
        click.echo("Nobody yet: run `syncd sync` first, or check your [me] emails.")
        return
    rows = [("NAME", "EMAIL", "LAST CONTACT", "RHYTHM", "STATUS")]
    for p in found:
        last = p.last_contact.date().isoformat() if p.last_contact else "never"
        if p.muted:
            status = "muted"
        elif p.overdue:
            status = f"overdue {p.overdue_days}d"
        elif not p.tracked:
            status = "wrote to you"
        else:
            status = "ok"
        rhythm = f"{p.rhythm_days}d" + (
            "" if p.rhythm_source == "inferred" else f" ({p.rhythm_source})"
        )
        rows.append((p.name, p.emails[0], last, rhythm, status))
    widths = [min(max(len(r[i]) for r in rows), 40) for i in range(5)]
    for r in rows:
        click.echo("  ".join(c[:40].ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


@people.command("merge")
@click.argument("addresses", nargs=-1, required=True)
@pass_state
def people_merge(state: AppState, addresses: tuple[str, ...]) -> None:
    """Merge ADDRESSES (two or more) into one person."""
    from syncd.settings import merge_addresses

    if len(addresses) < 2:
        raise UserError("people merge: give at least two addresses")
    key = merge_addresses(state.store(), addresses)
    click.echo(f"Merged {len(addresses)} addresses into one person ({key}).")


# ---------------------------------------------------------------------------------- digest
@cli.command()
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


# ---------------------------------------------------------------------------------- explain
@cli.command()
@click.argument("person")
@as_of_option
@click.option("--limit", type=int, default=0, help="Show only the newest N interactions.")
@pass_state
def explain(state: AppState, person: str, as_of: str | None, limit: int) -> None:
    """Why PERSON (a name or address) is listed, or missing: every interaction and its verdict."""
    from syncd.explain import explain_person

    config = state.config
    when = parse_as_of(as_of, config.me.timezone)
    click.echo(explain_person(state.reader(), config, person, when, limit=limit or None))


# ---------------------------------------------------------------------------------- demo
@cli.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for the demo's files (default: a new temporary folder).",
)
def demo(out: Path | None) -> None:
    """Run the whole job on built-in sample data: sync, people, digest. No config needed."""
    from syncd.demo import run_demo

    run_demo(out, echo=click.echo)


# ---------------------------------------------------------------------------------- init
@cli.command()
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@pass_state
def init(state: AppState, force: bool) -> None:
    """Write a commented config file to start from."""
    from importlib.resources import files

    path = state.config_path or default_config_path()
    if path.exists() and not force:
        raise UserError(f"{path}: already exists (use --force to overwrite)")
    text = files("syncd").joinpath("templates/config.example.toml").read_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    click.echo(f"Wrote {path}: set [me] and your sources, then run `syncd sync`.")


# ---------------------------------------------------------------------------------- auth
@cli.command()
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


# ---------------------------------------------------------------------------------- status
@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@pass_state
def status(state: AppState, fmt: str) -> None:
    """Each source's state: last success, errors, re-auth needed; next sync and digest."""
    from syncd.daemon import schedule_status, status_lines
    from syncd.digest import source_health

    config = state.config
    store = state.reader()
    health = source_health(store, config)
    sched = schedule_status(store, config)
    if fmt == "json":
        out = [
            {
                "name": h.name,
                "type": h.type,
                "state": h.state,
                "last_ok_at": h.last_ok_at.isoformat() if h.last_ok_at else None,
                "last_error": h.last_error,
                "fix": h.fix,
                "skipped": store.skipped_count(h.name),
            }
            for h in health
        ]
        click.echo(json.dumps({"sources": out, **sched.as_json()}, indent=2))
        return
    for h in health:
        last = h.last_ok_at.strftime("%Y-%m-%d %H:%M UTC") if h.last_ok_at else "never"
        line = f"{h.name} ({h.type}): {h.state.replace('_', ' ')}; last success {last}"
        skipped = store.skipped_count(h.name)
        if skipped:
            line += f"; {skipped} items skipped"
        click.echo(line)
        if h.last_error:
            click.echo(f"    error: {h.last_error}")
        if h.fix and h.state != "ok":
            click.echo(f"    fix: {h.fix}")
    for line in status_lines(sched, config.me.timezone):
        click.echo(line)


def main() -> None:
    cli(prog_name="syncd")


# Commands of the background side (syncd.commands_daemon): run, service, snooze, mute, rhythm.
from syncd.commands_daemon import COMMANDS as _DAEMON_COMMANDS  # noqa: E402

for _command in _DAEMON_COMMANDS:
    cli.add_command(_command)
