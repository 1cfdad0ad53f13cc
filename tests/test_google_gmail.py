"""Gmail through the real google-api-python-client against the fake Google server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fakes.google_harness import ME, connector, make_source
from fakes.google_server import FakeClock, FakeGoogle, Fault, MiniStore

from connectors.google_gmail import MESSAGE_FIELDS
from syncd.errors import NeedsReauthError, RetriesExhaustedError
from syncd.models import Flag

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock):
    with FakeGoogle(clock=clock) as f:
        f.add_user(ME)
        yield f


def mailbox(fake: FakeGoogle):
    return fake.users[ME].mailbox


def fill(fake: FakeGoogle, received: int, sent: int, start_days: int = 0) -> None:
    box = mailbox(fake)
    for i in range(received):
        box.add(sender=f"in{i}@example.com", to=ME, when=NOW - timedelta(days=start_days + i))
    for i in range(sent):
        box.add(
            sender=ME,
            to=[f"out{i}@example.com"],
            when=NOW - timedelta(days=start_days + i, hours=2),
            labels=["SENT"],
        )


def mail_only(fake: FakeGoogle, tmp_path: Path, clock: FakeClock, **raw):
    return connector(fake, tmp_path, clock, calendar=False, contacts=False, **raw)


def test_backfill_then_incremental_sees_exactly_the_new_mail(fake, tmp_path, clock):
    fill(fake, received=70, sent=30)
    conn = mail_only(fake, tmp_path, clock)
    store = MiniStore()
    store.sync(conn)
    assert len(store.interactions) == 100
    assert store.account == ME
    assert store.cursor["gmail"]["history_id"] == str(mailbox(fake).history_id)
    gets_after_backfill = len(fake.gmail_requests("/messages/"))
    assert gets_after_backfill == 100  # each message fetched once: SENT not fetched twice

    new_in = mailbox(fake).add(sender="new@example.com", to=ME, when=NOW)
    new_out = mailbox(fake).add(sender=ME, to="friend@example.com", when=NOW, labels=["SENT"])
    batches = store.sync(conn)

    upserted = {it.source_id for b in batches for it in b.upserts}
    assert upserted == {f"gmail:{new_in}", f"gmail:{new_out}"}
    assert len(fake.gmail_requests("/messages/")) == gets_after_backfill + 2
    assert store.interactions[f"gmail:{new_out}"].flags & Flag.SENT
    assert len(store.interactions) == 102


def test_sent_mail_is_stored_before_any_received_mail(fake, tmp_path, clock):
    fill(fake, received=120, sent=60)
    store = MiniStore()
    batches = store.sync(mail_only(fake, tmp_path, clock))
    order = [bool(it.flags & Flag.SENT) for b in batches for it in b.upserts]
    assert order == [True] * 60 + [False] * 120
    lists = [r.query.get("labelIds") for r in fake.gmail_requests() if r.path.endswith("/messages")]
    assert lists[0] == ["SENT"] and lists[-1] is None


def test_nothing_new_costs_one_history_call_and_yields_no_batch(fake, tmp_path, clock):
    fill(fake, received=5, sent=5)
    conn = mail_only(fake, tmp_path, clock)
    store = MiniStore()
    store.sync(conn)
    before = len(fake.requests)
    assert store.sync(conn) == []
    assert [r.path for r in fake.requests[before:]] == ["/gmail/v1/users/me/history"]


def test_expired_history_id_leads_to_exactly_one_full_resync_without_duplicates(
    fake, tmp_path, clock
):
    fill(fake, received=60, sent=20)
    conn = mail_only(fake, tmp_path, clock)
    store = MiniStore()
    store.sync(conn)
    box = mailbox(fake)
    vanished = next(iter(box.messages))
    box.delete(vanished)
    arrived = box.add(sender="late@example.com", to=ME, when=NOW)
    box.expire_history()

    batches = store.sync(conn)

    history_calls = [r for r in fake.gmail_requests("/history")]
    assert [r.status for r in history_calls] == [404]  # one try, then the resync
    assert sum(1 for r in fake.gmail_requests() if r.path.endswith("/profile")) == 2
    assert batches[0].full_sync_start == ["gmail"] and batches[-1].full_sync_end == ["gmail"]
    assert sum(len(b.full_sync_start) for b in batches) == 1
    ids = [it.source_id for b in batches for it in b.upserts]
    assert len(ids) == len(set(ids)) == 80  # 80 - 1 vanished + 1 arrived
    assert f"gmail:{vanished}" not in store.interactions  # swept
    assert f"gmail:{arrived}" in store.interactions
    assert len(store.interactions) == 80
    assert conn.parts["mail"].resyncs == 1
    # The next sync is incremental again.
    assert store.sync(conn) == []


def test_message_moved_to_spam_gets_the_spam_flag(fake, tmp_path, clock):
    fill(fake, received=3, sent=0)
    conn = mail_only(fake, tmp_path, clock)
    store = MiniStore()
    store.sync(conn)
    mid = next(iter(mailbox(fake).messages))
    assert not store.interactions[f"gmail:{mid}"].flags & Flag.SPAM
    mailbox(fake).relabel(mid, add=["SPAM"], remove=["INBOX"])
    mailbox(fake).relabel(next(reversed(mailbox(fake).messages)), add=["STARRED"])
    store.sync(conn)
    assert store.interactions[f"gmail:{mid}"].flags & Flag.SPAM
    # STARRED changes no fact: only the SPAM move was re-fetched.
    assert len(fake.gmail_requests("/messages/")) == 4


def test_deleted_and_trashed_messages_are_removed_or_flagged(fake, tmp_path, clock):
    fill(fake, received=3, sent=0)
    conn = mail_only(fake, tmp_path, clock)
    store = MiniStore()
    store.sync(conn)
    first, second, _ = list(mailbox(fake).messages)
    mailbox(fake).relabel(first, add=["TRASH"])
    mailbox(fake).delete(second)
    store.sync(conn)
    assert store.interactions[f"gmail:{first}"].flags & Flag.TRASH
    assert f"gmail:{second}" not in store.interactions
    assert len(store.interactions) == 2


def test_a_batch_of_50_with_three_429_parts_ends_with_all_50_stored(fake, tmp_path, clock):
    fill(fake, received=50, sent=0)
    fake.faults.append(Fault("/messages/", status=429, times=3, in_batch=True))
    store = MiniStore()
    store.sync(mail_only(fake, tmp_path, clock))
    assert len(store.interactions) == 50
    gets = fake.gmail_requests("/messages/")
    assert sum(r.status == 429 for r in gets) == 3
    assert len(gets) == 53  # only the three refused parts were sent again
    assert clock.slept, "a retry waits before going again"


def test_metadata_requests_never_carry_q_or_format_full(fake, tmp_path, clock):
    fill(fake, received=30, sent=10)
    conn = mail_only(fake, tmp_path, clock)
    store = MiniStore()
    store.sync(conn)
    mailbox(fake).add(sender="x@example.com", to=ME, when=NOW)
    store.sync(conn)
    requests = fake.gmail_requests()
    assert requests and all("q" not in r.query for r in requests)
    gets = [r for r in requests if "/messages/" in r.path]
    assert len(gets) == 41
    for r in gets:
        assert r.query["format"] == ["metadata"]
        assert r.query["fields"] == [MESSAGE_FIELDS]
        assert "snippet" not in r.query["fields"][0]
        assert "From" in r.query["metadataHeaders"] and "Date" in r.query["metadataHeaders"]
    assert all(r.status == 200 for r in requests)


def test_only_requested_headers_are_fetched_and_kept(fake, tmp_path, clock):
    mid = mailbox(fake).add(
        sender="Bob <Bob@Example.COM>",
        to=[ME],
        cc=["carol@example.com"],
        when=NOW,
        subject="=?utf-8?q?caf=C3=A9?=",
        extra=[("List-Id", "<list.example.com>")],
    )
    store = MiniStore()
    store.sync(mail_only(fake, tmp_path, clock))
    it = store.interactions[f"gmail:{mid}"]
    assert it.subject == "café"
    assert {(p.address, p.role) for p in it.participants} == {
        ("bob@example.com", "from"),
        (ME, "to"),
        ("carol@example.com", "cc"),
    }
    assert it.flags & Flag.LIST
    assert it.head_count == 2
    assert it.thread_id == mailbox(fake).messages[mid].thread_id
    assert it.occurred_at == NOW


def test_labels_become_flags(fake, tmp_path, clock):
    box = mailbox(fake)
    ids = {
        label: box.add(sender="a@example.com", to=ME, when=NOW, labels=["INBOX", label])
        for label in ("CATEGORY_PROMOTIONS", "CATEGORY_PERSONAL", "CHAT", "IMPORTANT")
    }
    store = MiniStore()
    store.sync(mail_only(fake, tmp_path, clock))
    flags = {label: store.interactions[f"gmail:{mid}"].flags for label, mid in ids.items()}
    assert flags == {
        "CATEGORY_PROMOTIONS": Flag.CATEGORY,
        "CATEGORY_PERSONAL": 0,
        "CHAT": Flag.CHAT,
        "IMPORTANT": 0,
    }


def test_a_broken_date_header_falls_back_to_gmails_internal_date(fake, tmp_path, clock):
    when = NOW - timedelta(days=3)
    box = mailbox(fake)
    broken = box.add(sender="a@example.com", to=ME, when=when, date_header="not a date")
    missing = box.add(sender="b@example.com", to=ME, when=when, date_header="")
    store = MiniStore()
    store.sync(mail_only(fake, tmp_path, clock))
    assert store.interactions[f"gmail:{broken}"].occurred_at == when
    assert store.interactions[f"gmail:{missing}"].occurred_at == when
    assert store.skipped == []


def test_since_stops_the_backfill_soon_after_the_cutoff(fake, tmp_path, clock):
    # 300 messages one day apart; since = 100 days: the listing stops a chunk or two later.
    fill(fake, received=300, sent=0)
    store = MiniStore()
    store.sync(mail_only(fake, tmp_path, clock, since="100d"))
    gets = len(fake.gmail_requests("/messages/"))
    assert 100 <= gets <= 200
    assert all(
        it.occurred_at >= NOW - timedelta(days=101)
        for it in list(store.interactions.values())[:100]
    )
    assert store.cursor["gmail"]["backfill"] is None


def test_server_errors_are_retried_and_retry_after_is_honoured(fake, tmp_path, clock):
    fill(fake, received=10, sent=0)
    fake.faults += [
        Fault("/profile", status=503, retry_after="7"),
        Fault("/messages", status=500, in_batch=False, when=lambda r: r.path.endswith("s")),
        Fault("/batch", status=429),  # never matches: the outer batch path is not an API path
    ]
    store = MiniStore()
    store.sync(mail_only(fake, tmp_path, clock))
    assert len(store.interactions) == 10
    assert 7 in clock.slept


def test_truncated_json_is_retried(fake, tmp_path, clock):
    fill(fake, received=10, sent=0)
    fake.faults += [
        Fault("/profile", truncate=True),
        Fault("/messages/", truncate=True, in_batch=True, times=2),
    ]
    store = MiniStore()
    store.sync(mail_only(fake, tmp_path, clock))
    assert len(store.interactions) == 10
    assert store.skipped == []


def test_throttling_that_outlasts_the_retries_stops_cleanly_and_keeps_the_cursor(
    fake, tmp_path, clock
):
    fill(fake, received=10, sent=0)
    conn = mail_only(fake, tmp_path, clock, max_attempts=3)
    store = MiniStore()
    store.sync(conn)
    cursor = json.dumps(store.cursor, sort_keys=True)
    mailbox(fake).add(sender="x@example.com", to=ME, when=NOW)
    fake.faults.append(Fault("/history", status=429, times=100))
    with pytest.raises(RetriesExhaustedError, match=r"history\.list"):
        store.sync(conn)
    assert json.dumps(store.cursor, sort_keys=True) == cursor
    assert len(fake.gmail_requests("/history")) == 3
    fake.faults.clear()
    store.sync(conn)
    assert len(store.interactions) == 11


def test_revoked_refresh_token_raises_needs_reauth(fake, tmp_path, clock):
    fill(fake, received=3, sent=0)
    conn = mail_only(fake, tmp_path, clock)
    store = MiniStore()
    store.sync(conn)
    fake.revoke()
    with pytest.raises(NeedsReauthError, match="syncd auth personal"):
        store.sync(conn)


def test_refreshed_token_is_written_back_and_its_token_uri_kept(fake, tmp_path, clock):
    fill(fake, received=3, sent=0)
    conn = mail_only(fake, tmp_path, clock)
    MiniStore().sync(conn)
    token_file = Path(make_source(fake, tmp_path)["token_file"])
    saved = json.loads(token_file.read_text())
    assert saved["token"] in fake.access_tokens
    assert saved["token_uri"] == fake.url + "token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    # An access token the server no longer accepts: refreshed once, then saved again.
    fake.expire_access_tokens()
    store = MiniStore()
    store.sync(mail_only(fake, tmp_path, clock))
    assert json.loads(token_file.read_text())["token"] != saved["token"]
    assert len(store.interactions) == 3


def test_quota_bucket_keeps_under_the_servers_limit(tmp_path):
    clock = FakeClock()
    with FakeGoogle(clock=clock, quota_units_per_minute=1200) as fake:
        fake.add_user(ME)
        fill(fake, received=150, sent=0)
        store = MiniStore()
        conn = mail_only(fake, tmp_path, clock, quota_units_per_minute=1200, batch_size=25)
        store.sync(conn)
        assert len(store.interactions) == 150
        assert fake.throttled == 0
        # 150 gets x 20 units + lists and profile: about three minutes of quota.
        assert fake.units_accepted[ME] >= 3000
        assert clock.now - 1000.0 >= 120


def test_an_access_token_that_expires_mid_backfill_is_refreshed_and_the_batch_resent(
    fake, tmp_path, clock
):
    fill(fake, received=120, sent=0)

    def expire(rec) -> bool:
        fake.expire_access_tokens()
        return False  # no fault: only pull the rug

    fake.faults.append(Fault("/messages", in_batch=False, when=expire, times=1000))
    store = MiniStore()
    store.sync(mail_only(fake, tmp_path, clock))
    assert len(store.interactions) == 120
    assert fake.token_requests >= 2
    assert store.skipped == []
