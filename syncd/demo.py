"""``syncd demo``: the whole job on built-in sample data, with no config and no network.

Writes a generated mailbox and calendar for a fictional user into a folder, a config that
points at them, syncs both into a store in the same folder, prints the digest and writes its
HTML version next to it. The folder stays, so the user can go on exploring with the printed
``syncd --config ... people`` / ``explain`` commands.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from syncd.config import load_config
from syncd.demo_data import write_demo_sources
from syncd.digest import build_digest
from syncd.progress import SyncProgress
from syncd.render import render_html, render_text
from syncd.store import Store
from syncd.sync import sync_all


def write_demo_config(folder: Path, now: datetime | None = None) -> Path:
    """Generate the sample sources in ``folder`` and a config for them; returns its path."""
    now = now or datetime.now(UTC)
    demo = write_demo_sources(folder, now.date())
    config = folder / "config.toml"
    config.write_text(
        "# Written by `syncd demo`: a fictional user's mailbox and calendar.\n"
        + demo.config_toml(folder / "syncd.db")
        + '\n[digest]\nmax_people = 7\nvia = "file"\n'
        + f"file_path = {json.dumps(str(folder / 'outbox'))}\n"
    )
    return config


def run_demo(out: Path | None, echo: Callable[[str], None] = print) -> Path:
    folder = Path(out) if out else Path(tempfile.mkdtemp(prefix="syncd-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    config_path = write_demo_config(folder, now)
    config = load_config(config_path)
    store = Store.open(config.store_path)
    echo(f"syncd demo: sample mailbox and calendar for {config.me.name} in {folder}")
    with SyncProgress() as progress:
        for result in sync_all(store, config, progress=progress.update):
            progress.finish(result)
    digest = build_digest(store, config, now)
    echo("")
    echo(render_text(digest))
    html_path = folder / "digest.html"
    html_path.write_text(render_html(digest), encoding="utf-8")
    echo("")
    echo(f"HTML digest: {html_path}")
    echo("Explore the same data:")
    echo(f"  syncd --config {config_path} people")
    if digest.people:
        echo(f'  syncd --config {config_path} explain "{digest.people[0].name}"')
    store.close()
    return html_path
