"""IMAP backfill benchmark: syncd's header-only fetch against a naive whole-message fetch.

Starts a real Dovecot on 127.0.0.1 (tests/servers/dovecot.py), fills one INBOX with N
messages cycled from ../shared/corpus (written straight into the Maildir, then indexed by
Dovecot before any timing), and measures on loopback:

- syncd: ``connectors.imap`` backfill (``BODY.PEEK[HEADER.FIELDS (...)]`` in chunks of 500,
  each message normalized into an Interaction);
- naive: ``UID FETCH ... BODY.PEEK[]`` in chunks of 500, each whole message parsed with
  ``email.message_from_bytes`` and normalized the same way.

Bytes are counted by a TCP proxy between client and server (server -> client), in a second run
of each mode so that the proxy's own cost does not enter the timings.

    python bench/bench_imap.py [--messages 50000] [--max-size 262144]
"""

from __future__ import annotations

import argparse
import email
import os
import platform
import sys
import tempfile
import time
from email.policy import compat32
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imapclient import IMAPClient  # noqa: E402

from connectors import imap  # noqa: E402
from connectors.base import SourceConfig, SourceContext  # noqa: E402
from connectors.email_headers import HeaderError, interaction_from_headers  # noqa: E402
from syncd.secrets import SecretStore  # noqa: E402
from tests.servers.dovecot import Dovecot  # noqa: E402
from tests.servers.net import Proxy  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "mail"
PASSWORD_ENV = "SYNCD_BENCH_IMAP_PASSWORD"


def corpus_messages(max_size: int) -> list[bytes]:
    out = []
    for p in sorted(CORPUS.rglob("*")):
        if not p.is_file() or "address-lists" in p.parts or p.suffix in (".md", ".mbox"):
            continue
        if p.name.endswith(".mbox.txt") or p.name == "README.corpora":
            continue
        data = p.read_bytes()
        if len(data) <= max_size:
            out.append(data.replace(b"\r\n", b"\n"))
    return out


def fill_maildir(server: Dovecot, user_name: str, n: int, messages: list[bytes]) -> int:
    home = server.run / "home" / user_name / "Maildir"
    for d in ("cur", "new", "tmp"):
        (home / d).mkdir(parents=True, exist_ok=True)
    total = 0
    cur = home / "cur"
    for i in range(n):
        data = messages[i % len(messages)]
        total += len(data)
        (cur / f"{1_600_000_000 + i}.M{i}P1.bench:2,").write_bytes(data)
    for root, dirs, files in os.walk(home):
        for name in dirs + files:
            os.chown(os.path.join(root, name), server.uid, server.gid)
    os.chown(home, server.uid, server.gid)
    return total


def syncd_backfill(server: Dovecot, user, port: int, tmp: Path) -> tuple[int, int]:
    src = SourceConfig(
        "bench",
        "imap",
        {
            "host": server.host,
            "port": port,
            "security": "none",
            "username": user.name,
            "password_env": PASSWORD_ENV,
            "folders": ["INBOX"],
            "chunk_size": 500,
        },
    )
    ctx = SourceContext("bench", tmp, SecretStore(tmp, use_keyring=False))
    upserts = skipped = 0
    for batch in imap.open(src, ctx).fetch(None):
        upserts += len(batch.upserts)
        skipped += len(batch.skipped)
    return upserts, skipped


def naive_backfill(server: Dovecot, user, port: int) -> tuple[int, int]:
    client = IMAPClient(server.host, port, ssl=False)
    client.login(user.name, user.password)
    client.select_folder("INBOX", readonly=True)
    uids = sorted(client.search(["ALL"]))
    made = failed = 0
    for i in range(0, len(uids), 500):
        chunk = uids[i : i + 500]
        for uid, item in client.fetch(chunk, ["BODY.PEEK[]"]).items():
            msg = email.message_from_bytes(item[b"BODY[]"], policy=compat32)
            try:
                interaction_from_headers(msg, source_id=str(uid), scope="INBOX")
                made += 1
            except HeaderError:
                failed += 1
    client.logout()
    return made, failed


def timed(fn, *args):
    t = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t, result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--max-size", type=int, default=256 * 1024)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    messages = corpus_messages(args.max_size)
    server = Dovecot(users=2)
    try:
        user = server.add_user()
        os.environ[PASSWORD_ENV] = user.password
        stored = fill_maildir(server, user.name, args.messages, messages)
        # Let Dovecot index the folder before anything is timed.
        t_index, _ = timed(_index, server, user)
        tmp = Path(tempfile.mkdtemp())
        results: dict[str, list[float]] = {"syncd": [], "naive": []}
        counts = {}
        for _ in range(args.rounds):
            dt, counts["syncd"] = timed(syncd_backfill, server, user, server.port, tmp)
            results["syncd"].append(dt)
            dt, counts["naive"] = timed(naive_backfill, server, user, server.port)
            results["naive"].append(dt)
        wire = {}
        for mode in ("syncd", "naive"):
            proxy = Proxy((server.host, server.port))
            if mode == "syncd":
                syncd_backfill(server, user, proxy.port, tmp)
            else:
                naive_backfill(server, user, proxy.port)
            wire[mode] = proxy.bytes_down
            proxy.close()
    finally:
        server.stop()

    n = args.messages
    print(f"# {n} messages ({stored / n:.0f} bytes average on disk, {len(messages)} distinct")
    print(f"# corpus messages <= {args.max_size} bytes); Dovecot indexing took {t_index:.1f} s")
    print(f"# {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs")
    print("| mode | run times (s) | messages/s (best) | bytes received per message | result |")
    print("|---|---|---|---|---|")
    for mode in ("syncd", "naive"):
        times = results[mode]
        best = min(times)
        runs = ", ".join(f"{t:.1f}" for t in times)
        print(
            f"| {mode} | {runs} | {n / best:,.0f} | {wire[mode] / n:,.0f} | "
            f"{counts[mode][0]} interactions, {counts[mode][1]} skipped |"
        )


def _index(server: Dovecot, user) -> None:
    client = IMAPClient(server.host, server.port, ssl=False, timeout=600)
    client.login(user.name, user.password)
    client.select_folder("INBOX", readonly=True)
    client.logout()


if __name__ == "__main__":
    main()
