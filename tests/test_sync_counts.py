"""`syncd sync` and `syncd run` count what really changed (issue 15): a mail client that rewrites
its mbox into a new file, or a `touch`, makes syncd read every message again, and those read
exactly as stored are no news. The store tells inserted, changed and unchanged apart."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from builders import Mail, at, write_mbox
from conftest import Syncd

from syncd.models import Batch, Contact, Interaction, Participant
from syncd.store import Store

ADA = "Ada Lovelace <ada@example.org>"
CLI = [sys.executable, "-c", "from syncd.cli import main; main()"]


def _mails(n: int, **changed_cc: str) -> list[Mail]:
    """n messages with fixed Message-IDs (so a rewritten file holds the same messages)."""
    return [
        Mail(
            ADA,
            [f"p{i}@x.example"],
            at(f"2026-03-{i + 1:02d}"),
            f"Note {i}",
            cc=[changed_cc[f"m{i}"]] if f"m{i}" in changed_cc else [],
            message_id=f"m{i}@test.example",
        )
        for i in range(n)
    ]


def _rewrite(path: Path, mails: list[Mail]) -> None:
    """As mail clients save a folder: a new file renamed over the old one (a new inode)."""
    tmp = path.with_suffix(".tmp")
    write_mbox(tmp, mails)
    os.replace(tmp, path)


def _summary(syncd: Syncd) -> str:
    err = syncd.run("sync").stderr
    lines = [line for line in err.splitlines() if line.startswith("mail: ")]
    assert len(lines) == 1, err
    return lines[0]


def test_sync_counts_new_changed_and_unchanged_messages_of_a_rewritten_mbox(
    syncd: Syncd,
) -> None:
    mbox = write_mbox(syncd.root / "mail.mbox", _mails(5))
    syncd.write_config({"mail": {"type": "mbox", "path": str(mbox)}})
    assert _summary(syncd) == "mail: 5 new, 0 changed, 0 removed"

    _rewrite(mbox, _mails(6))  # one new message; the client wrote the whole file anew
    assert _summary(syncd) == "mail: 1 new, 0 changed, 0 removed, 5 read again unchanged"

    os.utime(mbox, ns=(10**18, 10**18))  # `touch`: read again, nothing new
    assert _summary(syncd) == "mail: 0 new, 0 changed, 0 removed, 6 read again unchanged"

    _rewrite(mbox, _mails(6, m2="carol@x.example"))  # one message gained a Cc
    assert _summary(syncd) == "mail: 0 new, 1 changed, 0 removed, 5 read again unchanged"
    people = {p["emails"][0] for p in syncd.json("people", "--as-of", "2026-06-30")}
    assert "carol@x.example" in people  # the change reached the derived contacts

    _rewrite(mbox, _mails(6, m2="carol@x.example")[1:])  # the first one deleted
    assert _summary(syncd) == "mail: 0 new, 0 changed, 1 removed, 5 read again unchanged"

    assert _summary(syncd) == "mail: 0 new, 0 changed, 0 removed"  # nothing read at all


def _run_once(syncd: Syncd, *flags: str) -> list[str]:
    """`syncd run --once` as a real process; its log lines about the mail source."""
    done = subprocess.run(
        [*CLI, *flags, "--config", str(syncd.config_path), "run", "--once"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
        env={k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"},
    )
    assert done.returncode == 0, done.stderr
    return [line for line in done.stderr.splitlines() if line.startswith("mail: synced")]


def test_run_logs_only_the_new_message_of_a_rewritten_mbox(syncd: Syncd) -> None:
    mbox = write_mbox(syncd.root / "mail.mbox", _mails(5))
    syncd.write_config(
        {"mail": {"type": "mbox", "path": str(mbox)}},
        digest={"via": "file", "file_path": str(syncd.root / "out")},
    )
    first = _run_once(syncd)
    assert len(first) == 1 and re.fullmatch(
        r"mail: synced in \d+\.\ds: 5 new, 0 changed, 0 deleted, 0 skipped", first[0]
    ), first

    _rewrite(mbox, _mails(6))
    again = _run_once(syncd)
    assert len(again) == 1 and re.fullmatch(
        r"mail: synced in \d+\.\ds: 1 new, 0 changed, 0 deleted, 0 skipped "
        r"\(5 read again unchanged\)",
        again[0],
    ), again

    # A touched file is read again and nothing changed: no news at the default level...
    os.utime(mbox, ns=(10**18, 10**18))
    assert _run_once(syncd) == []
    # ...and at debug level, the line says so.
    os.utime(mbox, ns=(2 * 10**18, 2 * 10**18))
    (debug,) = _run_once(syncd, "-vv")
    assert debug.endswith(": 0 new, 0 changed, 0 deleted, 0 skipped (6 read again unchanged)")


def _mail(sid: str, subject: str, *who: str) -> Interaction:
    return Interaction(
        sid,
        "email",
        at("2026-03-01"),
        (Participant("ada@example.org", "from"), *(Participant(a, "to", "N") for a in who)),
        subject=subject,
        head_count=len(who),
        flags=1,
    )


def test_apply_batch_tells_inserted_changed_and_unchanged_apart(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "syncd.db")
    store.ensure_source("mail", "mbox")
    one = _mail("a", "Hi", "p@x.example")
    r = store.apply_batch("mail", Batch(upserts=[one, _mail("b", "Yo", "q@x.example")]))
    assert (r.inserted, r.changed, r.unchanged, r.upserted) == (2, 0, 0, 2)
    # Same facts (participants in another order too) are unchanged; a new subject, a name
    # or a participant more is a change.
    again = [
        _mail("a", "Hi", "p@x.example"),
        _mail("b", "Yo, again", "q@x.example"),
        _mail("c", "New", "r@x.example"),
    ]
    r = store.apply_batch("mail", Batch(upserts=again))
    assert (r.inserted, r.changed, r.unchanged) == (1, 1, 1)
    renamed = Interaction(
        "a", "email", one.occurred_at,
        (Participant("p@x.example", "to", "Pat"), Participant("ada@example.org", "from")),
        subject="Hi", head_count=1, flags=1,
    )  # fmt: skip
    r = store.apply_batch("mail", Batch(upserts=[renamed]))
    assert (r.inserted, r.changed, r.unchanged) == (0, 1, 0)
    r = store.apply_batch("mail", Batch(upserts=[renamed]))
    assert (r.inserted, r.changed, r.unchanged) == (0, 0, 1)
    # Address-book entries likewise: only new or changed ones count as contacts.
    grace = Contact("c1", "Grace Hopper", ("grace@navy.example",))
    r = store.apply_batch("mail", Batch(contacts=[grace]))
    assert (r.contacts, r.contacts_unchanged) == (1, 0)
    r = store.apply_batch("mail", Batch(contacts=[grace]))
    assert (r.contacts, r.contacts_unchanged) == (0, 1)
    r = store.apply_batch("mail", Batch(contacts=[Contact("c1", "Grace B. Hopper", grace.emails)]))
    assert (r.contacts, r.contacts_unchanged) == (1, 0)
    store.close()
