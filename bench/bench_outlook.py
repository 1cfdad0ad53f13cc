"""Outlook backfill benchmark: N messages from the fake Graph, with Outlook's limits enforced.

    python bench/bench_outlook.py                      # 100,000 messages, pages of 200
    python bench/bench_outlook.py --page-size 10       # Graph's default page: 10x the requests

The fake (tests/fakes/ms_server.py, https with a throwaway CA, driven through the real msal,
requests and connector) enforces the Outlook limits per mailbox: a 5th concurrent request is
answered 429, and so is any request beyond 10,000 in 10 minutes (Retry-After = the time until
the window frees up). Each Graph request costs a latency of ``--latency`` seconds plus
``--per-item`` seconds per item returned, to mimic a real delta page.

Scaled clock: to keep a run short, the latency is multiplied by ``--scale`` (default 0.1) and
the fake's 10-minute window, the connector's request budget (``requests_per_10_minutes``) and
its sleeps (Retry-After, budget waits) all run on one simulated clock (wall time / scale); the
reported "simulated" times divide wall time by the same factor. Our own CPU time is not scaled,
so the simulated figures are pessimistic for us.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fakes.ms_server import MsFake, message, tls_pair  # noqa: E402

from connectors import outlook  # noqa: E402
from connectors.base import SourceConfig, SourceContext, options_for  # noqa: E402
from syncd.options import validate_table  # noqa: E402
from syncd.secrets import SecretStore  # noqa: E402

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
ME = "ada@contoso.example"


def populate(fake: MsFake, total: int) -> dict[str, int]:
    split = {"inbox": 0.7, "sentitems": 0.2, "archive": 0.1}
    sizes = {f: int(total * share) for f, share in split.items()}
    sizes["inbox"] += total - sum(sizes.values())
    n = 0
    for folder, size in sizes.items():
        coll = fake.folders[folder]
        for _ in range(size):
            peer = f"person{n % 2000}@example.org"
            sender, to = (ME, [peer]) if folder == "sentitems" else (peer, [ME])
            day = 1 + n % 28
            coll.put(
                message(
                    f"AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A{n:09d}",
                    sender=sender,
                    to=to,
                    cc=[f"person{(n * 7) % 2000}@example.org"] if n % 3 == 0 else None,
                    when=f"2025-{1 + n % 12:02d}-{day:02d}T10:{n % 60:02d}:00Z",
                    subject=f"Re: thread {n % 5000}",
                )
            )
            n += 1
    return sizes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--page-size", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.25, help="seconds per request")
    ap.add_argument("--per-item", type=float, default=0.001, help="seconds per item returned")
    ap.add_argument("--scale", type=float, default=0.1, help="clock scale (1 = real time)")
    ap.add_argument(
        "--budget", type=int, default=None, help="requests_per_10_minutes (default: the option's)"
    )
    args = ap.parse_args()

    tls, bundle = tls_pair()
    os.environ["REQUESTS_CA_BUNDLE"] = bundle
    fake = MsFake(user=ME, client_ids=(CLIENT_ID,), tls=tls).start()
    t0 = time.perf_counter()
    sizes = populate(fake, args.messages)
    print(f"fake mailbox: {sizes} ({time.perf_counter() - t0:.1f}s to build)")
    fake.auto_approve = True
    fake.max_concurrent = 4

    def simulated_clock() -> float:
        return time.monotonic() / args.scale

    def simulated_sleep(seconds: float) -> None:
        time.sleep(seconds * args.scale)

    fake.clock = simulated_clock
    fake.window_limit = (10_000, 600.0)  # simulated seconds, like the Retry-After it sends
    fake.latency = args.latency * args.scale
    fake.latency_per_item = args.per_item * args.scale

    with tempfile.TemporaryDirectory() as tmp:
        problems: list[str] = []
        opts = validate_table(
            {
                "type": "outlook",
                "client_id": CLIENT_ID,
                "authority": fake.authority(),
                "graph_endpoint": fake.graph_url,
                "since": "2020-01-01",
                "folders": list(sizes),
                "calendar": False,
                "contacts": False,
                "page_size": args.page_size,
                **({} if args.budget is None else {"requests_per_10_minutes": args.budget}),
            },
            options_for("outlook"),
            "[sources.bench]",
            problems,
        )
        assert not problems, problems
        source = SourceConfig("bench", "outlook", opts)
        ctx = SourceContext(
            "bench",
            Path(tmp),
            SecretStore(Path(tmp), use_keyring=False),
            sleep=simulated_sleep,
            monotonic=simulated_clock,
        )
        outlook.authenticate(source, ctx, lambda text: None)
        fake.requests.clear()
        fake.status_counts.clear()
        fake.max_in_flight = 0

        connector = outlook.open(source, ctx)
        upserts = skipped = batches = 0
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        for batch in connector.fetch(None):
            batches += 1
            upserts += len(batch.upserts)
            skipped += len(batch.skipped)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0

    fake.stop()
    requests_made = connector.client.stats["requests"]
    simulated = wall / args.scale
    print(f"python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} cpus")
    print(
        f"messages={upserts} skipped={skipped} batches={batches} page_size={args.page_size} "
        f"latency={args.latency}s+{args.per_item}s/item scale={args.scale}"
    )
    print(f"graph requests={requests_made} ({requests_made / max(upserts, 1):.4f} per message)")
    budget = connector.client.budget
    print(
        f"429s received={connector.client.stats['throttled']} max in flight={fake.max_in_flight} "
        f"budget={budget.limit if budget else None}/10min waits={budget.waits if budget else 0}"
    )
    print(f"wall={wall:.1f}s cpu(all threads, incl. fake server)={cpu:.1f}s")
    print(f"simulated time={simulated:.0f}s -> {upserts / simulated:,.0f} messages/s")
    print(f"peak RSS={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
