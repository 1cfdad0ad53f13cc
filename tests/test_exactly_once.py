"""One digest per period, whatever happens: the real `syncd run` process is SIGKILLed between
"pending" and "sent" (and right after the server took the message), restarted, and the digests
that reach a real SMTP server on 127.0.0.1 are counted by Message-ID."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from builders import Mail, at, write_mbox
from conftest import Syncd
from smtp_sink import SmtpSink, pki_in
from test_daemon_process import CLI, log_text, start, wait_for

from syncd import sendlog
from syncd.delivery import CRASH_ENV
from syncd.digest import period_of
from syncd.schedule import META_SINCE
from syncd.store import Store

ADA = "Ada Lovelace <ada@example.org>"
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    with SmtpSink(pki_in(tmp_path_factory.mktemp("pki")), "none") as sink:
        yield sink


@pytest.fixture
def setup(syncd: Syncd, server: SmtpSink) -> tuple[Syncd, str]:
    """A store whose daemon has run for months, with an overdue friend, and a schedule whose
    latest slot (today 00:00 UTC) has passed: the digest of this week is due."""
    weekly = [at("2026-01-05") + timedelta(days=7 * i) for i in range(6)]
    write_mbox(syncd.root / "mail.mbox", [Mail(ADA, ["Bob <bob@x.example>"], w) for w in weekly])
    now = datetime.now(UTC)
    syncd.write_config(
        {"mail": {"type": "mbox", "path": str(syncd.root / "mail.mbox"), "interval": "1h"}},
        digest={"via": "smtp", "schedule": f"{DAYS[now.weekday()]} 00:00"},
        smtp=server.smtp_table(),
    )
    store = Store.open(syncd.store_path)
    store.set_meta(META_SINCE, "2020-01-01T00:00:00+00:00")
    store.close()
    return syncd, period_of(now, "UTC")


def run_until_killed(syncd: Syncd, point: str) -> None:
    proc = start(syncd, env={CRASH_ENV: point})
    try:
        assert proc.wait(timeout=30) == -9, log_text(syncd)
    finally:
        if proc.poll() is None:
            proc.kill()


def run_until_sent(syncd: Syncd, period: str) -> None:
    proc = start(syncd)
    try:
        wait_for("the digest to be sent", lambda: state(syncd, period) == "sent", 30)
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def state(syncd: Syncd, period: str) -> str | None:
    store = Store.open(syncd.store_path)
    try:
        row = sendlog.get(store, period)
        return row.state if row else None
    finally:
        store.close()


def ids(server: SmtpSink) -> list[str]:
    return [str(m["Message-ID"]) for m in server.messages]


def test_crashes_around_the_send_still_deliver_one_digest_per_period(
    setup: tuple[Syncd, str], server: SmtpSink
) -> None:
    syncd, period = setup
    run_until_killed(syncd, "after-pending")  # recorded, never handed to the server
    assert server.messages == [] and state(syncd, period) == "pending"

    run_until_killed(syncd, "after-send")  # the server has it; "sent" was never written
    assert len(server.messages) == 1 and state(syncd, period) == "pending"

    run_until_sent(syncd, period)  # resent as stored: same Message-ID, clients show one
    assert len(server.messages) == 2 and len(set(ids(server))) == 1

    proc = start(syncd, "--once")  # a restart in the same week sends nothing
    assert proc.wait(timeout=30) == 0
    out = syncd.run("digest", "--send").stdout  # nor does a manual --send
    assert "already sent" in out
    assert len(server.messages) == 2 and len(set(ids(server))) == 1

    assert {m["X-Syncd-Digest"] for m in server.messages} == {period}
    assert all(m["Auto-Submitted"] == "auto-generated" for m in server.messages)
    assert "Bob" in server.messages[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    log = log_text(syncd)
    assert "Resent the digest left in doubt" in log

    syncd.run("digest", "--send", "--force")  # only --force sends another
    assert len(set(ids(server))) == 2


def test_two_senders_at_once_send_one_digest(setup: tuple[Syncd, str], server: SmtpSink) -> None:
    syncd, period = setup
    syncd.run("sync")
    procs: list[Any] = [
        subprocess.Popen(
            [*CLI, "--config", str(syncd.config_path), "digest", "--send"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert sum("Sent the digest" in o for o in outs) == 1
    assert sum("already sent" in o for o in outs) == 2
    assert len(server.messages) == 1 and state(syncd, period) == "sent"
