"""The IMAP connector against a real Dovecot on 127.0.0.1 (see tests/servers/dovecot.py).

127.0.0.1 offers CONDSTORE/QRESYNC; 127.0.0.3 is the same server advertising neither, so both
ways of finding deletions run against real IMAP; 127.0.0.2 serves a certificate from a CA the
connector does not trust.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, date, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any

import pytest
from corpus import corpus_path
from imapclient import IMAPClient

from connectors import imap
from connectors.base import SourceConfig, SourceContext
from connectors.email_headers import interaction_from_headers
from syncd.errors import NeedsReauthError, SourceError, UserError
from syncd.models import Batch, Flag
from syncd.options import Since
from syncd.secrets import SecretStore
from tests.servers.dovecot import DOVECOT, Dovecot, ImapUser
from tests.servers.net import Proxy

pytest_plugins = ["tests.servers.fixtures"]  # the session's real servers

LKML = ("mail", "notmuch", "lkml", "cur")  # in the corpus: real messages to serve
PASSWORD_ENV = "SYNCD_TEST_IMAP_PASSWORD"

pytestmark = [
    pytest.mark.skipif(DOVECOT is None, reason="dovecot is not installed (apt dovecot-imapd)"),
]


@pytest.fixture
def user(dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> ImapUser:
    u = dovecot.add_user()
    monkeypatch.setenv(PASSWORD_ENV, u.password)
    return u


@pytest.fixture
def mailbox(dovecot: Dovecot, user: ImapUser):
    """A second, ordinary IMAP session: how mail arrives, is deleted or is flagged."""
    client = IMAPClient(dovecot.host, dovecot.port, ssl=False)
    client.login(user.name, user.password)
    yield client
    with contextlib.suppress(Exception):  # some tests log out themselves
        client.logout()


def lkml(n: int, start: int = 0) -> list[bytes]:
    """Real messages from the corpus (the test skips without it)."""
    __tracebackhide__ = True  # a skip is reported at the test's line
    return [p.read_bytes() for p in sorted(corpus_path(*LKML).iterdir())[start : start + n]]


def source(dovecot: Dovecot, user: ImapUser, **options: Any) -> SourceConfig:
    opts: dict[str, Any] = {
        "host": dovecot.host,
        "port": dovecot.port,
        "security": "none",
        "username": user.name,
        "password_env": PASSWORD_ENV,
        "chunk_size": 500,
    }
    opts.update(options)
    return SourceConfig("mail", "imap", opts)


def context(tmp_path: Path, sleeps: list[float] | None = None) -> SourceContext:
    return SourceContext(
        name="mail",
        state_dir=tmp_path,
        secrets=SecretStore(tmp_path, use_keyring=False),
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
    )


def sync(src: SourceConfig, tmp_path: Path, cursor: dict | None = None) -> list[Batch]:
    return list(imap.open(src, context(tmp_path)).fetch(cursor))


def upserts(batches: list[Batch]) -> dict[str, Any]:
    return {i.source_id: i for b in batches for i in b.upserts}


def expected(raw: bytes, source_id: str, scope: str, flags: int = 0):
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    return interaction_from_headers(headers, source_id=source_id, scope=scope, flags=flags)


def append(client: IMAPClient, folder: str, messages: list[bytes]) -> list[int]:
    uids = []
    for m in messages:
        resp = client.append(folder, m)
        uids.append(int(re.search(rb"APPENDUID \d+ (\d+)", resp).group(1)))
    return uids


def uidvalidity(client: IMAPClient, folder: str) -> int:
    return client.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"]


# ---------------------------------------------------------------------------- backfill
def test_backfill_reads_inbox_and_sent_as_interactions(dovecot, user, mailbox, tmp_path):
    inbox, sent, trash = lkml(4), lkml(2, 10), lkml(1, 20)
    inbox_uids = append(mailbox, "INBOX", inbox)
    sent_uids = append(mailbox, "Sent", sent)
    append(mailbox, "Trash", trash)

    batches = sync(source(dovecot, user), tmp_path)

    uv_in, uv_sent = uidvalidity(mailbox, "INBOX"), uidvalidity(mailbox, "Sent")
    want = {}
    for raw, uid in zip(inbox, inbox_uids, strict=True):
        sid = f"INBOX/{uv_in}/{uid}"
        want[sid] = expected(raw, sid, "INBOX")
    for raw, uid in zip(sent, sent_uids, strict=True):
        sid = f"Sent/{uv_sent}/{uid}"
        want[sid] = expected(raw, sid, "Sent", Flag.SENT)
    assert upserts(batches) == want  # whole records; Trash is not read by default
    assert [s for b in batches for s in b.full_sync_start] == ["INBOX", "Sent"]
    assert [s for b in batches for s in b.full_sync_end] == ["INBOX", "Sent"]
    assert batches[-1].cursor["folders"]["INBOX"] == {
        "uidvalidity": uv_in,
        "uidnext": inbox_uids[-1] + 1,
        "messages": 4,
        "highestmodseq": batches[-1].cursor["folders"]["INBOX"]["highestmodseq"],
        "last_uid": inbox_uids[-1],
        "known": [[inbox_uids[0], inbox_uids[-1]]],
        "flagged": {},
        "full": False,
    }
    assert all(b.account == user.name for b in batches)


def test_backfill_fetches_no_body_and_leaves_mail_unread(dovecot, user, mailbox, tmp_path):
    messages = lkml(3, 30)
    uids = append(mailbox, "INBOX", messages)
    proxy = Proxy((dovecot.host, dovecot.port))
    proxy.record = True
    try:
        sync(source(dovecot, user, port=proxy.port), tmp_path)
    finally:
        proxy.close()

    wire = bytes(proxy.recorded)
    for raw in messages:
        body = raw.split(b"\n\n", 1)[1].strip().splitlines()
        longest = max(body, key=len)
        assert len(longest) > 20 and longest not in wire
    assert b"Subject:" in wire
    mailbox.select_folder("INBOX", readonly=True)
    flags = mailbox.get_flags(uids)
    assert all(b"\\Seen" not in f for f in flags.values())
    # Dovecot's own account of the session: headers read, not one body.
    logout = [
        line
        for line in dovecot.log().splitlines()
        if f"imap({user.name})" in line and "hdr_count" in line
    ]
    assert logout and all("body_count=0 body_bytes=0" in line for line in logout)


def test_since_limits_the_first_sync_by_arrival_date(dovecot, user, mailbox, tmp_path):
    old, new = lkml(2, 40)
    mailbox.append("INBOX", old, msg_time=datetime(2015, 3, 1, tzinfo=UTC))
    (new_uid,) = append(mailbox, "INBOX", [new])
    src = source(dovecot, user, folders=["INBOX"], since=Since(at=date(2020, 1, 1)))

    batches = sync(src, tmp_path)

    assert list(upserts(batches)) == [f"INBOX/{uidvalidity(mailbox, 'INBOX')}/{new_uid}"]
    assert batches[-1].cursor["folders"]["INBOX"]["last_uid"] == new_uid


def test_message_without_date_takes_the_arrival_time(dovecot, user, mailbox, tmp_path):
    raw = b"From: Ann <ann@example.org>\r\nTo: me@test.example\r\nSubject: no date\r\n\r\nhi\r\n"
    arrived = datetime(2023, 5, 6, 7, 8, 9, tzinfo=UTC)
    mailbox.append("INBOX", raw, msg_time=arrived)

    (item,) = upserts(sync(source(dovecot, user, folders=["INBOX"]), tmp_path)).values()

    assert item.occurred_at == arrived
    assert [p.address for p in item.participants] == ["ann@example.org", "me@test.example"]


def test_every_corpus_message_is_an_interaction_or_a_counted_skip(dovecot, user, tmp_path):
    files = [
        p
        for p in sorted(corpus_path("mail").rglob("*"))
        if p.is_file()
        and "address-lists" not in p.parts
        and p.suffix not in (".md", ".mbox")
        and not p.name.endswith(".mbox.txt")
        and p.name != "README.corpora"
    ]
    client = IMAPClient(dovecot.host, dovecot.port, ssl=False)
    client.login(user.name, user.password)
    client.multiappend("INBOX", [p.read_bytes() for p in files])
    client.logout()

    batches = sync(source(dovecot, user, folders=["INBOX"], chunk_size=100), tmp_path)

    done = len(upserts(batches)) + sum(len(b.skipped) for b in batches)
    assert done == len(files) > 300
    assert all(s.reason for b in batches for s in b.skipped)


def test_missing_configured_folder_is_reported_as_a_skip(dovecot, user, tmp_path):
    batches = sync(source(dovecot, user, folders=["INBOX", "Nope"]), tmp_path)
    assert [(s.where, s.reason) for b in batches for s in b.skipped] == [
        ("folder Nope", "no such folder on the server")
    ]


# ------------------------------------------------------------------------- incremental
def test_nothing_new_means_no_batch_and_no_folder_opened(dovecot, user, mailbox, tmp_path):
    append(mailbox, "INBOX", lkml(2))
    cursor = sync(source(dovecot, user), tmp_path)[-1].cursor
    proxy = Proxy((dovecot.host, dovecot.port))
    proxy.record = True
    try:
        again = sync(source(dovecot, user, port=proxy.port), tmp_path, cursor)
    finally:
        proxy.close()
    assert again == []
    assert b"EXAMINE" not in bytes(proxy.recorded_up) and b"STATUS" in bytes(proxy.recorded_up)


@pytest.mark.parametrize("server", ["qresync", "basic"])
def test_incremental_sync_adds_new_mail_and_deletes_expunged(
    server, dovecot, user, mailbox, tmp_path
):
    host = dovecot.host if server == "qresync" else dovecot.basic_host
    src = source(dovecot, user, host=host, folders=["INBOX"])
    uids = append(mailbox, "INBOX", lkml(5, 50))
    cursor = sync(src, tmp_path)[-1].cursor
    uv = uidvalidity(mailbox, "INBOX")

    mailbox.select_folder("INBOX")
    mailbox.delete_messages([uids[1], uids[3]])
    mailbox.expunge()
    new_uids = append(mailbox, "INBOX", lkml(2, 60))
    batches = sync(src, tmp_path, cursor)

    assert sorted(upserts(batches)) == sorted(f"INBOX/{uv}/{u}" for u in new_uids)
    assert sorted(d for b in batches for d in b.deletions) == sorted(
        f"INBOX/{uv}/{u}" for u in (uids[1], uids[3])
    )
    assert not any(b.full_sync_start or b.full_sync_end for b in batches)
    state = batches[-1].cursor["folders"]["INBOX"]
    assert state["known"] == [[uids[0], uids[0]], [uids[2], uids[2]], [uids[4], new_uids[-1]]]
    assert sync(src, tmp_path, batches[-1].cursor) == []


def test_flag_change_rereads_the_message_with_condstore(dovecot, user, mailbox, tmp_path):
    src = source(dovecot, user, folders=["INBOX"])
    uids = append(mailbox, "INBOX", lkml(3, 70))
    cursor = sync(src, tmp_path)[-1].cursor
    uv = uidvalidity(mailbox, "INBOX")

    mailbox.select_folder("INBOX")
    mailbox.add_flags([uids[0]], [b"$Junk"])
    mailbox.add_flags([uids[1]], [b"\\Seen"])  # not a fact we keep: no re-read
    (batch,) = sync(src, tmp_path, cursor)
    assert [(i.source_id, Flag(i.flags) & Flag.SPAM) for i in batch.upserts] == [
        (f"INBOX/{uv}/{uids[0]}", Flag.SPAM)
    ]
    assert batch.cursor["folders"]["INBOX"]["flagged"] == {str(uids[0]): int(Flag.SPAM)}

    mailbox.remove_flags([uids[0]], [b"$Junk"])
    (batch,) = sync(src, tmp_path, batch.cursor)
    assert [(i.source_id, Flag(i.flags) & Flag.SPAM) for i in batch.upserts] == [
        (f"INBOX/{uv}/{uids[0]}", Flag(0))
    ]
    assert batch.cursor["folders"]["INBOX"]["flagged"] == {}


def test_uidvalidity_change_resyncs_that_folder_once(dovecot, user, mailbox, tmp_path):
    src = source(dovecot, user)
    inbox_uids = append(mailbox, "INBOX", lkml(3, 80))
    append(mailbox, "Sent", lkml(1, 90))
    cursor = sync(src, tmp_path)[-1].cursor
    mailbox.logout()
    dovecot.doveadm("mailbox", "update", "-u", user.name, "--uid-validity", "4242", "INBOX")

    batches = sync(src, tmp_path, cursor)

    assert sorted(upserts(batches)) == sorted(f"INBOX/4242/{u}" for u in inbox_uids)
    assert [s for b in batches for s in b.full_sync_start] == ["INBOX"]
    assert [s for b in batches for s in b.full_sync_end] == ["INBOX"]
    assert batches[-1].cursor["folders"]["INBOX"]["uidvalidity"] == 4242
    assert sync(src, tmp_path, batches[-1].cursor) == []  # once, not in a loop


# -------------------------------------------------------------------- dropped connections
def test_dropped_connection_mid_backfill_reconnects_and_loses_nothing(
    dovecot, user, mailbox, tmp_path
):
    uids = append(mailbox, "INBOX", lkml(10, 100))
    proxy = Proxy((dovecot.host, dovecot.port))
    sleeps: list[float] = []
    src = source(dovecot, user, port=proxy.port, folders=["INBOX"], chunk_size=3)
    try:
        batches = []
        for batch in imap.open(src, context(tmp_path, sleeps)).fetch(None):
            batches.append(batch)
            if len(batches) == 1:
                proxy.drop_connections()
    finally:
        proxy.close()

    uv = uidvalidity(mailbox, "INBOX")
    ids = [i.source_id for b in batches for i in b.upserts]
    assert ids == [f"INBOX/{uv}/{u}" for u in uids]  # each once, in order
    assert len(sleeps) == 1
    assert [s for b in batches for s in b.full_sync_start] == ["INBOX"]
    assert [s for b in batches for s in b.full_sync_end] == ["INBOX"]
    clean = sync(source(dovecot, user, folders=["INBOX"]), tmp_path)
    assert batches[-1].cursor == clean[-1].cursor


def test_lost_connection_raises_and_next_sync_resumes_from_last_batch(
    dovecot, user, mailbox, tmp_path
):
    uids = append(mailbox, "INBOX", lkml(10, 120))
    proxy = Proxy((dovecot.host, dovecot.port))
    src = source(dovecot, user, port=proxy.port, folders=["INBOX"], chunk_size=4, reconnects=0)
    stored: list[Batch] = []
    with pytest.raises(SourceError, match="connection lost"):
        for batch in imap.open(src, context(tmp_path)).fetch(None):
            stored.append(batch)
            proxy.drop_connections()
    proxy.close()
    assert len(stored) == 1

    rest = sync(source(dovecot, user, folders=["INBOX"]), tmp_path, stored[-1].cursor)

    uv = uidvalidity(mailbox, "INBOX")
    ids = [i.source_id for b in stored + rest for i in b.upserts]
    assert ids == [f"INBOX/{uv}/{u}" for u in uids]
    # The resumed pass ends the sweep bracket that the first one started, and only once.
    assert [s for b in stored + rest for s in b.full_sync_start] == ["INBOX"]
    assert [s for b in rest for s in b.full_sync_end] == ["INBOX"]


# ----------------------------------------------------------------------- login and TLS
def test_wrong_password_needs_reauth(dovecot, user, tmp_path, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "not the password")
    # Dovecot slows down later logins from an address that failed one: fail from another.
    proxy = Proxy((dovecot.host, dovecot.port), source_ip="127.0.0.9")
    try:
        with pytest.raises(NeedsReauthError, match=rf"login as {re.escape(user.name)} refused"):
            sync(source(dovecot, user, port=proxy.port), tmp_path)
    finally:
        proxy.close()


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_verified_tls_with_the_configured_ca(security, dovecot, user, mailbox, tmp_path):
    append(mailbox, "INBOX", lkml(1, 140))
    port = dovecot.ssl_port if security == "tls" else dovecot.port
    src = source(dovecot, user, security=security, port=port, ca_file=dovecot.pki.ca_file)
    assert len(upserts(sync(src, tmp_path))) == 1


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_untrusted_certificate_is_refused(security, dovecot, user, tmp_path):
    port = dovecot.ssl_port if security == "tls" else dovecot.port
    src = source(
        dovecot,
        user,
        host=dovecot.rogue_host,
        security=security,
        port=port,
        ca_file=dovecot.pki.ca_file,
    )
    with pytest.raises(SourceError, match=r"127\.0\.0\.2:\d+: certificate verify failed"):
        sync(src, tmp_path)


def test_system_trust_store_refuses_the_test_ca(dovecot, user, tmp_path):
    src = source(dovecot, user, security="tls", port=dovecot.ssl_port)
    with pytest.raises(SourceError, match="certificate verify failed"):
        sync(src, tmp_path)


def test_plain_imap_is_refused_to_a_remote_host(tmp_path):
    src = SourceConfig("mail", "imap", {"host": "192.0.2.1", "security": "none", "username": "ann"})
    with pytest.raises(UserError, match=r"\[sources.mail\] security: 'none'"):
        imap.open(src, context(tmp_path))


def test_certificate_error_is_not_retried(dovecot, user, tmp_path):
    sleeps: list[float] = []
    src = source(dovecot, user, security="tls", port=dovecot.ssl_port, host=dovecot.rogue_host)
    with pytest.raises(SourceError):
        list(imap.open(src, context(tmp_path, sleeps)).fetch(None))
    assert sleeps == []
