"""Commands about the sources: ``sync`` (fetch what is new) and ``status`` (each source's
state, and the background side's schedule)."""

from __future__ import annotations

import json
import sys

import click

from syncd.cli_state import AppState, pass_state


# ---------------------------------------------------------------------------------- sync
@click.command()
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


# ---------------------------------------------------------------------------------- status
@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@pass_state
def status(state: AppState, fmt: str) -> None:
    """Each source's state: last success, errors, re-auth needed; next sync and digest."""
    from syncd.digest import source_health
    from syncd.status import schedule_status, status_json, status_text

    config = state.config
    store = state.reader()
    health = source_health(store, config)
    skipped = {h.name: store.skipped_count(h.name) for h in health}
    sched = schedule_status(store, config)
    if fmt == "json":
        click.echo(json.dumps(status_json(health, skipped, sched), indent=2))
        return
    for line in status_text(health, skipped, sched, config.me.timezone):
        click.echo(line)


COMMANDS = (sync, status)
