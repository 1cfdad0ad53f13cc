"""Benchmark: `people` and `digest` on a store of 1,000,000 interactions and 10,000 people.

Usage: python bench/bench_model.py [--interactions N] [--people N] [--db PATH] [--repeat N]

Builds (or reuses, with --db) a store of generated interactions through the real store API,
derives contacts once (timed separately: it happens after a sync or a rule change), then
times the warm `people` and `digest` computations, each several times, and prints medians.
Also times the two CLI commands end to end in a subprocess (process start included).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from syncd.config import parse_config
from syncd.digest import build_digest
from syncd.models import Batch, Flag, Interaction, Participant
from syncd.relationships_reader import Relationships
from syncd.rules import contact_rules
from syncd.store import Store

ME = "me@example.org"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def generate(store: Store, n_interactions: int, n_people: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    people = [f"person{i}@example{i % 97}.com" for i in range(n_people)]
    # A few close ties, many loose ones: Zipf-like popularity.
    weights = [1.0 / (i + 1) ** 0.8 for i in range(n_people)]
    store.ensure_source("bench", "mbox")
    batch: list[Interaction] = []
    start = NOW - timedelta(days=5 * 365)
    span = int((NOW - start).total_seconds())
    for i in range(n_interactions):
        when = start + timedelta(seconds=rng.randrange(span))
        r = rng.random()
        if r < 0.12:  # meetings
            n = rng.choice((1, 1, 2, 3, 5, 20))
            who = rng.choices(people, weights, k=n)
            parts = [Participant(ME, "organizer")] + [
                Participant(a, "attendee", None, "accepted") for a in who
            ]
            item = Interaction(
                f"m{i}", "meeting", when, tuple(parts), f"Meeting {i}", head_count=len(parts)
            )
        else:
            flags = 0
            if r < 0.45:  # the user's own mail
                frm = ME
                to = rng.choices(people, weights, k=rng.choice((1, 1, 1, 2, 3)))
                flags = Flag.SENT
            else:
                frm = rng.choices(people, weights)[0]
                to = [ME]
                if r > 0.8:
                    flags = Flag.BULK | Flag.LIST
            parts = [Participant(frm, "from", f"Name {frm[:8]}")] + [
                Participant(a, "to") for a in to
            ]
            item = Interaction(
                f"e{i}",
                "email",
                when,
                tuple(parts),
                f"Subject {i}",
                message_id=f"{i}@bench",
                flags=flags,
                head_count=len(to),
            )
        batch.append(item)
        if len(batch) >= 5000:
            store.apply_batch("bench", Batch(upserts=batch, cursor={"n": i}))
            batch = []
    if batch:
        store.apply_batch("bench", Batch(upserts=batch, cursor={"n": n_interactions}))


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--interactions", type=int, default=1_000_000)
    ap.add_argument("--people", type=int, default=10_000)
    ap.add_argument("--db", type=Path)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="syncd-bench-"))
    db = args.db or folder / "bench.db"
    fresh = not db.exists()
    store = Store.open(db)
    if fresh:
        t = time.perf_counter()
        generate(store, args.interactions, args.people)
        print(f"generated {args.interactions:,} interactions in {time.perf_counter() - t:.1f} s")
    config_path = folder / "config.toml"
    config_path.write_text(
        f'[me]\nname = "Bench"\nemails = ["{ME}"]\ntimezone = "UTC"\n'
        f'[store]\npath = "{db}"\n[sources.bench]\ntype = "mbox"\npath = "/nonexistent"\n'
    )
    config = parse_config(
        {
            "me": {"name": "Bench", "emails": [ME], "timezone": "UTC"},
            "store": {"path": str(db)},
        },
        config_path,
    )
    t = time.perf_counter()
    derived = store.bring_derived_up_to_date(contact_rules(config))
    print(f"derived contacts for {derived:,} interactions in {time.perf_counter() - t:.1f} s")
    model = Relationships(store, config)
    counts = store.counts()
    n_log = store.derived.row_count()
    print(
        f"store: {counts['interactions']:,} interactions, {counts['participants']:,} "
        f"participants, {n_log:,} contact rows"
    )

    people_times = timed(lambda: model.people(NOW), args.repeat)
    n_people = len(model.people(NOW))
    digest_times = timed(lambda: build_digest(store, config, NOW), args.repeat)

    env = {**os.environ, "SYNCD_CONFIG": str(config_path)}
    cli = [shutil.which("syncd") or "syncd"]
    cli_people = timed(
        lambda: subprocess.run(
            [*cli, "people", "--format", "json", "--as-of", "2026-11-23"],
            env=env,
            check=True,
            capture_output=True,
        ),
        3,
    )
    cli_digest = timed(
        lambda: subprocess.run(
            [*cli, "digest", "--format", "json", "--as-of", "2026-11-23"],
            env=env,
            check=True,
            capture_output=True,
        ),
        3,
    )
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    print(f"machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}")
    print(
        f"people (in-process, warm): median {statistics.median(people_times) * 1000:.0f} ms "
        f"over {args.repeat} runs; {n_people:,} tracked people"
    )
    print(f"digest (in-process, warm): median {statistics.median(digest_times) * 1000:.0f} ms")
    print(
        f"`syncd people --format json` (subprocess): median "
        f"{statistics.median(cli_people) * 1000:.0f} ms"
    )
    print(
        f"`syncd digest --format json` (subprocess): median "
        f"{statistics.median(cli_digest) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
