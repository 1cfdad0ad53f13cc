"""Gmail backfill against the fake Google server, with latency and the per-user quota enforced.

    python bench/bench_gmail.py [--messages 100000] [--sent-share 0.2] [--latency 0.03]
                                [--units 6000] [--scale 120]

The whole backfill of 100,000 messages takes about 5.5 hours of pure quota time at 6,000 units
per minute (messages.get costs 20), so the clock is scaled: with ``--scale 120`` a quota
"minute" lasts 0.5 real seconds, for the fake server's rolling window and for the connector's
bucket and sleeps alike (both read the same scaled clock). The per-request latency is *not*
scaled: 30 real milliseconds per HTTP request is, relative to the quota window, 120 times
heavier than in reality, so the quota share measured here is a lower bound.

Reported: the share of the quota used (units accepted / units the elapsed minutes allow), the
429s the server sent, when all SENT mail was in (share of the backfill time), and requests per
message (HTTP requests, and API calls as the quota counts them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fakes.google_harness import ME, make_source, write_token  # noqa: E402
from fakes.google_server import FakeGoogle  # noqa: E402

from connectors import google  # noqa: E402
from connectors.base import SourceContext  # noqa: E402
from syncd.secrets import SecretStore  # noqa: E402


class ScaledClock:
    """Scaled seconds: ``scale`` of them pass per real second."""

    def __init__(self, scale: float):
        self.scale = scale
        self.t0 = time.monotonic()

    def __call__(self) -> float:
        return (time.monotonic() - self.t0) * self.scale

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds / self.scale)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--sent-share", type=float, default=0.2)
    ap.add_argument("--latency", type=float, default=0.030, help="real seconds per request")
    ap.add_argument("--units", type=int, default=6000, help="quota units per user per minute")
    ap.add_argument("--scale", type=float, default=120.0, help="scaled seconds per real second")
    args = ap.parse_args()

    clock = ScaledClock(args.scale)
    now = datetime.now(UTC)
    every = int(1 / args.sent_share) if args.sent_share else 0
    with FakeGoogle(
        clock=clock, latency=args.latency, quota_units_per_minute=args.units, record=False
    ) as fake:
        box = fake.add_user(ME).mailbox
        for i in range(args.messages):
            sent = every and i % every == 0
            box.add(
                sender=ME if sent else f"person{i % 5000}@example.com",
                to=[f"person{i % 5000}@example.com"] if sent else [ME],
                when=now - timedelta(minutes=10 * i),
                labels=["SENT"] if sent else ["INBOX"],
                record=False,
            )
        n_sent = sum(1 for m in box.messages.values() if "SENT" in m.labels)
        tmp = Path(tempfile.mkdtemp(prefix="bench-gmail-"))
        source = make_source(
            fake,
            tmp,
            calendar=False,
            contacts=False,
            since="30y",
            quota_units_per_minute=args.units,
        )
        write_token(fake, source)
        ctx = SourceContext(
            "bench", tmp, SecretStore(tmp, use_keyring=False), sleep=clock.sleep, monotonic=clock
        )
        conn = google.open(source, ctx)
        stored: set[str] = set()
        sent_done_at = None
        start_real, start = time.monotonic(), clock()
        for batch in conn.fetch(None):
            stored.update(it.source_id for it in batch.upserts)
            cur = batch.cursor or {}
            bf = (cur.get("gmail") or {}).get("backfill") or {}
            if sent_done_at is None and bf.get("pass") == "all":
                sent_done_at = clock()
        elapsed = clock() - start
        real = time.monotonic() - start_real
        stats = conn.gmail_caller.stats if conn.gmail_caller else None
        minutes = elapsed / 60
        units = fake.units_accepted[ME]
        result = {
            "messages": args.messages,
            "sent_messages": n_sent,
            "stored": len(stored),
            "latency_s": args.latency,
            "quota_units_per_minute": args.units,
            "clock_scale": args.scale,
            "real_seconds": round(real, 1),
            "scaled_minutes": round(minutes, 1),
            "units_accepted": units,
            "quota_share_used": round(units / (minutes * args.units), 3),
            "throttled_429": fake.throttled,
            "sent_done_share": round((sent_done_at - start) / elapsed, 3) if sent_done_at else None,
            "http_requests_per_message": round(fake.http_requests / args.messages, 4),
            "api_calls_per_message": round(stats.calls / args.messages, 4) if stats else None,
            "retries": stats.retries if stats else None,
            "machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}, {platform.system()}",
        }
        print(json.dumps(result, indent=2))
        assert len(stored) == args.messages, "every message must be stored"


if __name__ == "__main__":
    main()
