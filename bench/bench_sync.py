"""Benchmark: `syncd sync` end to end (connector + store + cursor), then the no-op re-sync.

Usage: python bench/bench_sync.py [--messages 100000] [--path FILE.mbox]

Generates an mbox with bench_mbox's generator (unless --path is given), writes a config with
that file as an mbox source, and times, as real subprocesses of the installed `syncd`:
1. the first `syncd sync` (full import into the store), and its peak RSS;
2. `syncd people --format json` right after (which derives contacts for the new mail);
3. a second `syncd sync` with nothing new (best of 5), checking that the store did not change.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_mbox import generate, machine


def run(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - t


def store_digest(db: Path) -> str:
    """A hash of the facts and the cursor, to show that a no-op sync changed nothing."""
    conn = sqlite3.connect(db)
    h = hashlib.sha256()
    for table, order in (
        ("interactions", "id"),
        ("participants", "interaction_id, address, role"),
        ("sources", "name"),
    ):
        cols = "*" if table != "sources" else "name, cursor, account, sweeps"
        for row in conn.execute(f"SELECT {cols} FROM {table} ORDER BY {order}"):
            h.update(repr(row).encode())
    conn.close()
    return h.hexdigest()[:16]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--path", type=Path)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="syncd-bench-sync-"))
    mbox = args.path or folder / "mail.mbox"
    if not args.path:
        generate(mbox, args.messages)
    size_mb = mbox.stat().st_size / 1e6
    db = folder / "syncd.db"
    config = folder / "config.toml"
    config.write_text(
        '[me]\nname = "Bench"\nemails = ["ada@example.org"]\ntimezone = "UTC"\n'
        f'[store]\npath = "{db}"\n[sources.mail]\ntype = "mbox"\npath = "{mbox}"\n'
    )
    env = {**os.environ, "SYNCD_CONFIG": str(config)}
    syncd = shutil.which("syncd") or "syncd"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    first = run([syncd, "sync"], env)
    peak_mb = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    n = sqlite3.connect(db).execute("SELECT count(*) FROM interactions").fetchone()[0]
    people = run([syncd, "people", "--format", "json"], env)
    digest_before = store_digest(db)
    noop = min(run([syncd, "sync"], env) for _ in range(5))
    unchanged = store_digest(db) == digest_before
    baseline = min(run([syncd, "--help"], env) for _ in range(5))
    print(f"machine: {machine()}")
    print(f"data: {mbox.name}, {size_mb:,.0f} MB, {n:,} interactions stored")
    print(
        f"first `syncd sync`: {first:.1f} s, {n / first:,.0f} messages/s, peak RSS {peak_mb:.0f} MB"
    )
    print(f"first `syncd people` after it (derives contacts): {people:.1f} s")
    print(
        f"second `syncd sync` (nothing new): {noop * 1000:.0f} ms (best of 5); "
        f"store unchanged: {unchanged}"
    )
    print(f"`syncd --help` (process start and imports only): {baseline * 1000:.0f} ms")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
