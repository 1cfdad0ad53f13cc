"""Benchmark: mbox ingest by connectors.mbox versus a naive ``mailbox.mbox`` loop.

Usage::

    python bench/bench_mbox.py [--messages 100000] [--path FILE.mbox] [--keep]

Generates an mbox of realistic messages (Received chains, DKIM, list headers, encoded
names, replies, bodies of a few KB, some multipart with a small attachment) unless ``--path``
names an existing file, then measures, each in its own subprocess so that peak RSS is clean:

- ``ours``: ``MboxConnector.fetch(None)`` iterated to the end, counting upserts, then the
  re-sync of the unchanged file (the cursor from the full ingest; best of 5);
- ``naive``: ``for msg in mailbox.mbox(path)`` reading From, To and Date.

Prints messages/s, peak RSS (MB, VmHWM of the child) and the ratio, as Markdown (best of
``--repeat`` runs of each, alternated).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Heidi", "José", "Zoë", "Łukasz"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Klum", "Müller", "Øster"]
DOMAINS = ["example.org", "example.com", "mail.example.net", "corp.example", "lists.example.org"]
_TEXT = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which "
    "but have an they you were her she there one all we can their has been if more when will "
    "would who so no meeting lisbon conference plans draft report quarterly budget review"
)
WORDS = _TEXT.split()
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _people(rng: random.Random, n: int) -> list[str]:
    out = []
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        addr = f"{first.lower()[:3]}.{last.lower()[:4]}{i}@{rng.choice(DOMAINS)}".encode(
            "ascii", "ignore"
        ).decode()
        name = f"{first} {last}"
        if not name.isascii():
            b64 = base64.b64encode(name.encode()).decode()
            out.append(f"=?UTF-8?B?{b64}?= <{addr}>")
        elif rng.random() < 0.3:
            out.append(f'"{last}, {first}" <{addr}>')
        else:
            out.append(f"{name} <{addr}>")
    return out


def _paragraphs(rng: random.Random, n: int) -> list[str]:
    paras = []
    for _ in range(n):
        lines = []
        for _ in range(rng.randint(2, 8)):
            lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 14))))
        paras.append("\n".join(lines))
    # Body lines that start with "From " are escaped in a well-formed mbox.
    paras.append(">From the desk of the editor: a quoted line\nthat mboxrd writers escape.")
    return paras


def generate(path: Path, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    people = _people(rng, 3000)
    paras = _paragraphs(rng, 300)
    attachment = base64.encodebytes(rng.randbytes(3000)).decode()
    t = 1_400_000_000
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for i in range(count):
            t += rng.randint(30, 1200)
            tm = time.gmtime(t)
            day, mon = DAYS[tm.tm_wday], MONTHS[tm.tm_mon - 1]
            hms = f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}"
            sender = rng.choice(people)
            envelope = sender.rsplit("<", 1)[1][:-1]
            h = [f"From {envelope} {day} {mon} {tm.tm_mday:2d} {hms} {tm.tm_year}"]
            if rng.random() < 0.5:
                h.append(f"X-GM-THRID: {rng.getrandbits(60)}")
                h.append("X-Gmail-Labels: " + rng.choice(["Inbox", "Sent", "Inbox,Unread", "Spam"]))
            for hop in range(rng.randint(2, 6)):
                h.append(
                    f"Received: from mx{hop}.example.net (mx{hop}.example.net"
                    f" [10.0.{hop}.{i % 250}])"
                    f"\n\tby mail.example.org with ESMTPS id {rng.getrandbits(40):x}\n\tfor "
                    f"<me@example.org>; {day}, {tm.tm_mday} {mon} {tm.tm_year} {hms} +0000"
                )
            if rng.random() < 0.6:
                sig = base64.b64encode(rng.randbytes(180)).decode()
                h.append(
                    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com;"
                    "\n        s=2016; h=mime-version:from:date:message-id:subject:to;"
                    f"\n        b={sig[:70]}\n        {sig[70:]}"
                )
            h.append(f"Date: {day}, {tm.tm_mday} {mon} {tm.tm_year} {hms} +0000")
            h.append(f"From: {sender}")
            to = rng.sample(people, rng.choice([1, 1, 1, 2, 3, 5, 12]))
            h.append("To: " + ",\n    ".join(to))
            if rng.random() < 0.3:
                h.append("Cc: " + ", ".join(rng.sample(people, rng.randint(1, 4))))
            h.append(f"Message-ID: <{i}.{rng.getrandbits(32):x}@bench.example>")
            if i and rng.random() < 0.4:
                ref = rng.randint(max(0, i - 500), i - 1)
                h.append(f"In-Reply-To: <{ref}.0@bench.example>")
                h.append(f"References: <{ref}.0@bench.example>")
            subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9)))
            h.append(f"Subject: {'Re: ' if rng.random() < 0.4 else ''}{subject}")
            if rng.random() < 0.2:
                h.append("List-Id: Bench list <bench.lists.example.org>")
                h.append("List-Unsubscribe: <mailto:leave@lists.example.org>")
                h.append("Precedence: list")
            h.append("MIME-Version: 1.0")
            text = "\n\n".join(rng.choice(paras) for _ in range(rng.randint(2, 10)))
            kind = rng.random()
            if kind < 0.7:
                h.append('Content-Type: text/plain; charset="utf-8"')
                body = text
            else:
                b = f"b{i:x}"
                h.append(f'Content-Type: multipart/mixed; boundary="{b}"')
                parts = [f'--{b}\nContent-Type: text/plain; charset="utf-8"\n\n{text}']
                parts.append(f"--{b}\nContent-Type: text/html\n\n<p>{text[:800]}</p>")
                if kind < 0.8:
                    parts.append(
                        f"--{b}\nContent-Type: application/octet-stream; name=a.bin\n"
                        f"Content-Transfer-Encoding: base64\n\n{attachment}"
                    )
                body = "\n".join(parts) + f"\n--{b}--"
            f.write("\n".join(h))
            f.write("\n\n")
            f.write(body)
            f.write("\n\n")


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_ours(path: str) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from connectors.mbox import MboxConnector

    conn = MboxConnector(path)
    c0 = time.process_time()
    t0 = time.perf_counter()
    count = skipped = 0
    cursor = None
    for batch in conn.fetch(None):
        count += len(batch.upserts)
        skipped += len(batch.skipped)
        cursor = batch.cursor or cursor
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    resync = []
    for _ in range(5):
        t1 = time.perf_counter()
        n = sum(len(b.upserts) for b in conn.fetch(cursor))
        resync.append(time.perf_counter() - t1)
        assert n == 0, "an unchanged file must yield no upserts"
    return {
        "messages": count,
        "skipped": skipped,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": _peak_rss_mb(),
        "resync_ms": min(resync) * 1000,
    }


def measure_naive(path: str) -> dict[str, float]:
    import mailbox

    c0 = time.process_time()
    t0 = time.perf_counter()
    count = 0
    for msg in mailbox.mbox(path, create=False):
        _ = (msg["From"], msg["To"], msg["Date"])
        count += 1
    return {
        "messages": count,
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
        "peak_rss_mb": _peak_rss_mb(),
    }


def run_child(kind: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--path", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def machine() -> str:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"nproc {os.cpu_count()}, CPU {cpu}, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--path", type=Path, help="an existing mbox to measure, or where to write one")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each; the best is reported")
    ap.add_argument("--keep", action="store_true", help="keep the generated file")
    ap.add_argument("--child", choices=["ours", "naive"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        fn = measure_ours if args.child == "ours" else measure_naive
        print(json.dumps(fn(str(args.path))))
        return

    tmp = None
    path = args.path
    if path is None or not path.exists():
        if path is None:
            if args.keep:
                path = Path(tempfile.mkdtemp(prefix="bench-mbox-")) / "bench.mbox"
            else:
                tmp = tempfile.TemporaryDirectory(prefix="bench-mbox-")
                path = Path(tmp.name) / "bench.mbox"
        t0 = time.perf_counter()
        generate(path, args.messages)
        print(f"generated {args.messages} messages in {time.perf_counter() - t0:.1f}s", flush=True)
    size_mb = path.stat().st_size / 1e6
    # Best of --repeat runs each, alternating, so that a busy machine penalises both alike.
    runs: dict[str, list[dict[str, float]]] = {"ours": [], "naive": []}
    for _ in range(args.repeat):
        for kind in ("ours", "naive"):
            runs[kind].append(run_child(kind, path))
    ours = min(runs["ours"], key=lambda r: r["seconds"])
    naive = min(runs["naive"], key=lambda r: r["seconds"])

    def rate(r: dict[str, float], key: str) -> float:
        return r["messages"] / r[key]

    print(
        f"\nData: {path.name}, {ours['messages'] + ours['skipped']:.0f} messages, {size_mb:.0f} MB"
    )
    print(f"Machine: {machine()}\n")
    print(
        "| run | messages | wall s | messages/s (wall) | CPU s | messages/s (CPU) | peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in (("connectors.mbox (ours)", ours), ("naive mailbox.mbox loop", naive)):
        print(
            f"| {name} | {r['messages']:.0f} | {r['seconds']:.1f} | {rate(r, 'seconds'):,.0f} "
            f"| {r['cpu_seconds']:.1f} | {rate(r, 'cpu_seconds'):,.0f} | {r['peak_rss_mb']:.0f} |"
        )
    wall = rate(ours, "seconds") / rate(naive, "seconds")
    cpu = rate(ours, "cpu_seconds") / rate(naive, "cpu_seconds")
    print(f"\nSpeed-up: {wall:.1f}x (wall), {cpu:.1f}x (CPU time).")
    print(f"Re-sync of the unchanged file: {ours['resync_ms']:.2f} ms.")
    if tmp is not None:
        tmp.cleanup()
    elif args.keep:
        print(f"kept {path}")


if __name__ == "__main__":
    main()
