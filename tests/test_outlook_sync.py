"""The Outlook source against a fake Microsoft identity platform + Graph on 127.0.0.1.

Transport choice: msal refuses any authority that is not https (``authority.canonicalize``), so
the fake serves **https** with a trustme certificate and the tests point ``REQUESTS_CA_BUNDLE``
at its CA. We chose that over msal's ``http_client=`` injection because then nothing in the
connector is swapped out: the real msal and the real requests stack (TLS included) talk to the
fake exactly as they would to login.microsoftonline.com and graph.microsoft.com, configured
only through the ``authority`` and ``graph_endpoint`` keys, which also lets the CLI
integration test run a plain config file. (Note that ``REQUESTS_CA_BUNDLE`` overrides
``verify=`` in requests, so it is the one knob to turn.)
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fakes.ms_server import MiniStore, MsFake, event, message, occurrence, tls_pair

from connectors import outlook
from connectors.base import SourceConfig, SourceContext, options_for
from connectors.outlook_auth import authority_url
from syncd.errors import CursorExpiredError, NeedsReauthError, SourceError
from syncd.models import Contact, Flag, Interaction, Participant
from syncd.options import validate_table
from syncd.secrets import SecretStore
from syncd.store import Store

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
ME = "ada@contoso.example"


@pytest.fixture(scope="session")
def tls() -> tuple[Any, str]:
    return tls_pair()


@pytest.fixture
def fake(tls: tuple[Any, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[MsFake]:
    ctx, bundle = tls
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", bundle)
    f = MsFake(user=ME, client_ids=(CLIENT_ID,), tls=ctx).start()
    yield f
    f.stop()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def ctx(tmp_path: Path, sleeps: list[float]) -> SourceContext:
    return SourceContext(
        "work", tmp_path, SecretStore(tmp_path, use_keyring=False), sleep=sleeps.append
    )


def make_source(fake: MsFake, **overrides: Any) -> SourceConfig:
    table = {
        "type": "outlook",
        "client_id": CLIENT_ID,
        "authority": fake.authority("common"),
        "graph_endpoint": fake.graph_url,
        "since": "2020-01-01",
        **overrides,
    }
    problems: list[str] = []
    opts = validate_table(table, options_for("outlook"), "[sources.work]", problems)
    assert problems == []
    return SourceConfig("work", "outlook", opts)


def sign_in(fake: MsFake, source: SourceConfig, ctx: SourceContext) -> list[str]:
    """Run `syncd auth`'s device flow; the "user" approves the printed code at once."""
    printed: list[str] = []

    def echo(text: str) -> None:
        printed.append(text)
        m = re.search(r"enter the code (\w+)", text)
        if m:
            fake.approve(m.group(1))

    outlook.authenticate(source, ctx, echo)
    return printed


def seed(fake: MsFake) -> None:
    fake.add_message(
        "inbox",
        message(
            "m1",
            sender="Alice@Example.org",
            to=[ME],
            cc=["bob@example.org"],
            when="2026-03-01T10:00:00Z",
            subject="Lisbon",
        ),
    )
    fake.add_message(
        "inbox",
        message(
            "m2",
            sender="news@shop.example",
            to=[ME],
            classification="other",
            headers=[
                {"name": "List-Unsubscribe", "value": "<mailto:u@shop.example>"},
                {"name": "Date", "value": "Sun, 1 Mar 2026 11:00:00 +0000"},
            ],
        ),
    )
    fake.add_message(
        "sentitems",
        message("s1", sender=ME, to=["alice@example.org"], when="2026-03-02T09:30:00.1234567Z"),
    )
    fake.add_event(
        event(
            "e1",
            start="2026-10-01T09:00:00",
            end="2026-10-01T10:00:00",
            organizer=ME,
            attendees=[
                ("alice@example.org", "required", "accepted"),
                ("room1@contoso.example", "resource", "accepted"),
                ("bob@example.org", "optional", "tentativelyAccepted"),
            ],
            subject="Q3 planning",
        )
    )
    fake.add_master(
        event(
            "ser1",
            start="2026-09-01T08:00:00",
            end="2026-09-01T08:30:00",
            organizer="carol@example.org",
            attendees=[(ME, "required", "accepted"), ("carol@example.org", "required", "none")],
            subject="Weekly 1:1",
            type="seriesMaster",
        )
    )
    for n, day in enumerate(("2026-09-01", "2026-09-08")):
        fake.add_event(occurrence(f"o{n}", "ser1", start=f"{day}T08:00:00", end=f"{day}T08:30:00"))
    fake.add_event(
        event(
            "e2",
            start="2026-10-02T09:00:00",
            end="2026-10-02T10:00:00",
            organizer="dan@example.org",
            attendees=[(ME, "required", "declined")],
            responseStatus={"response": "declined"},
            isCancelled=True,
            showAs="free",
        )
    )
    fake.contacts.extend(
        [
            {
                "id": "c1",
                "displayName": "Alice Liddell",
                "emailAddresses": [
                    {"address": "Alice@Example.org"},
                    {"address": "alice@home.example"},
                ],
                "birthday": "1990-05-17T11:59:00Z",
            },
            {"id": "c2", "displayName": "Bob", "emailAddresses": [], "birthday": "1604-02-03"},
        ]
    )


def test_device_flow_then_first_sync_reads_mail_calendar_and_contacts(
    fake: MsFake, ctx: SourceContext, tmp_path: Path
) -> None:
    seed(fake)
    cache = tmp_path / "cache" / "msal.json"
    source = make_source(fake, token_cache_file=str(cache))
    printed = sign_in(fake, source, ctx)
    assert any("https://microsoft.com/devicelogin" in p for p in printed)
    assert any(f"Signed in as {ME}" in p for p in printed)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert '"RefreshToken"' in cache.read_text()
    # Least privilege: no Mail.Send unless the digest goes through this account.
    assert fake.granted_scopes == {"User.Read", "Mail.ReadBasic", "Calendars.Read", "Contacts.Read"}

    store = MiniStore()
    store.sync(outlook.open(source, ctx))

    assert store.account == ME
    assert store.items["msg:m1"] == Interaction(
        source_id="msg:m1",
        kind="email",
        occurred_at=datetime(2026, 3, 1, 10, tzinfo=UTC),
        participants=(
            Participant("alice@example.org", "from", "Alice"),
            Participant(ME, "to", "Ada"),
            Participant("bob@example.org", "cc", "Bob"),
        ),
        subject="Lisbon",
        thread_id="conv-m1",
        message_id="m1@mail.example",
        flags=0,
        head_count=2,
        scope="inbox",
    )
    assert store.items["msg:m2"].flags == Flag.CATEGORY | Flag.BULK
    sent = store.items["msg:s1"]
    assert sent.flags == Flag.SENT
    assert sent.occurred_at == datetime(2026, 3, 2, 9, 30, 0, 123456, tzinfo=UTC)
    assert store.items["event:e1"] == Interaction(
        source_id="event:e1",
        kind="meeting",
        occurred_at=datetime(2026, 10, 1, 9, tzinfo=UTC),
        ends_at=datetime(2026, 10, 1, 10, tzinfo=UTC),
        participants=(
            Participant(ME, "organizer", "ada", "accepted"),
            Participant("alice@example.org", "attendee", "Alice", "accepted"),
            Participant("bob@example.org", "attendee", "Bob", "tentative"),
        ),
        subject="Q3 planning",
        flags=0,
        head_count=3,  # the room is not a person
        scope="calendar",
    )
    # Occurrences borrow the series master's attendees and subject; the master is read once.
    for oid, day in (("o0", 1), ("o1", 8)):
        occ = store.items[f"event:{oid}"]
        assert occ.subject == "Weekly 1:1"
        assert occ.thread_id == "ser1"
        assert occ.occurred_at == datetime(2026, 9, day, 8, tzinfo=UTC)
        assert [p.address for p in occ.participants] == ["carol@example.org", ME]
    assert fake.requests["master"] == 1
    assert store.items["event:e2"].flags == Flag.CANCELLED | Flag.DECLINED | Flag.NOT_MEETING
    assert "event:ser1" not in store.items
    assert store.contacts == {
        "contact:c1": Contact(
            "contact:c1",
            "Alice Liddell",
            ("alice@example.org", "alice@home.example"),
            date(1990, 5, 17),
        ),
        "contact:c2": Contact("contact:c2", "Bob", (), date(1900, 2, 3)),
    }
    # Metadata only, immutable ids, paged.
    assert fake.selects_seen and all("body" not in s.lower() for s in fake.selects_seen)
    assert all('IdType="ImmutableId"' in p for p in fake.prefer_seen)
    assert any("odata.maxpagesize=200" in p for p in fake.prefer_seen)
    assert store.skipped == []


def test_second_sync_fetches_only_changes(fake: MsFake, ctx: SourceContext) -> None:
    seed(fake)
    source = make_source(fake)
    sign_in(fake, source, ctx)
    store = MiniStore()
    store.sync(outlook.open(source, ctx))
    before = dict(fake.requests)

    fake.add_message("inbox", message("m3", sender="eve@example.org", to=[ME]))
    fake.remove_message("inbox", "m2")
    fake.remove_event("e2")
    batches = store.sync(outlook.open(source, ctx))

    upserts = [i.source_id for b in batches for i in b.upserts]
    assert upserts == ["msg:m3"]
    # A removal from a folder only deletes what is still filed there; events are just deleted.
    assert [d for b in batches for d in b.deletions] == ["event:e2"]
    assert [d for b in batches for d in b.scoped_deletions] == [("inbox", "msg:m2")]
    assert "msg:m2" not in store.items and "event:e2" not in store.items
    # One request per lane (inbox, sentitems, calendar); no /me, contacts or master re-reads.
    after = dict(fake.requests)
    assert after["delta"] - before["delta"] == 2
    assert after["calendar"] - before["calendar"] == 1
    assert after.get("me") == before.get("me") == 1
    assert after["contacts"] == before["contacts"]
    assert not any(b.full_sync_start or b.full_sync_end for b in batches)

    # And a third sync with nothing new changes nothing.
    batches = store.sync(outlook.open(source, ctx))
    assert [i for b in batches for i in b.upserts] == []
    assert [d for b in batches for d in b.deletions + b.scoped_deletions] == []


def test_expired_delta_token_restarts_that_folder_once_without_duplicates(
    fake: MsFake, ctx: SourceContext
) -> None:
    seed(fake)
    source = make_source(fake, page_size=10)
    sign_in(fake, source, ctx)
    store = MiniStore()
    store.sync(outlook.open(source, ctx))
    # While our token was stale, m1 vanished and m4 arrived; the restart must sweep m1.
    fake.expire_folder("inbox")
    fake.remove_message("inbox", "m1")
    fake.add_message("inbox", message("m4", sender="eve@example.org", to=[ME]))

    batches = store.sync(outlook.open(source, ctx))

    assert [b.full_sync_start for b in batches if b.full_sync_start] == [["inbox"]]
    assert [b.full_sync_end for b in batches if b.full_sync_end] == [["inbox"]]
    assert [s for _, p, s in fake.log if s == 410] == [410]
    assert sorted(k for k in store.items if k.startswith("msg:")) == ["msg:m2", "msg:m4", "msg:s1"]
    inbox_upserts = [i.source_id for b in batches for i in b.upserts if i.scope == "inbox"]
    assert sorted(inbox_upserts) == ["msg:m2", "msg:m4"]  # each once


def test_token_expiring_mid_round_on_a_next_link_restarts_the_folder(
    fake: MsFake, ctx: SourceContext
) -> None:
    for i in range(35):
        fake.add_message("inbox", message(f"m{i:02d}", sender="a@example.org", to=[ME]))
    source = make_source(fake, page_size=10, calendar=False, contacts=False)
    sign_in(fake, source, ctx)
    fake.expire_folder("inbox", after_pages=2)  # the third page's nextLink is already stale

    store = MiniStore()
    batches = store.sync(outlook.open(source, ctx))

    assert [s for _, _, s in fake.log].count(410) == 1
    starts = [b.full_sync_start for b in batches if b.full_sync_start]
    assert starts == [["inbox"], ["sentitems"], ["inbox"]] or sorted(starts) == sorted(
        [["inbox"], ["sentitems"], ["inbox"]]
    )
    assert len([k for k in store.items if k.startswith("msg:m")]) == 35
    # The cursor ends on a deltaLink for both folders.
    assert all(lane["done"] for lane in store.cursor["lanes"].values())


def test_a_token_that_expires_again_after_the_restart_gives_up_without_looping(
    fake: MsFake, ctx: SourceContext
) -> None:
    seed(fake)
    source = make_source(fake, calendar=False, contacts=False, folders=["inbox"])
    sign_in(fake, source, ctx)
    store = MiniStore()
    store.sync(outlook.open(source, ctx))
    fake.expire_folder("inbox")  # the stored deltaLink answers 410 ...
    # ... and so does the fresh round that replaces it (Graph says 400 resyncRequired here).
    fake.can("messages/delta?$select", 400, {"error": {"code": "resyncRequired"}}, times=5)
    saved, seen = store.cursor, len(fake.log)

    with pytest.raises(CursorExpiredError, match="expired again"):
        store.sync(outlook.open(source, ctx))
    assert store.cursor == saved
    assert [s for _, _, s in fake.log[seen:]] == [410, 400]


def test_revoked_grant_raises_needs_reauth_with_a_clear_message(
    fake: MsFake, ctx: SourceContext
) -> None:
    seed(fake)
    source = make_source(fake)
    sign_in(fake, source, ctx)
    fake.revoke()

    with pytest.raises(NeedsReauthError) as err:
        MiniStore().sync(outlook.open(source, ctx))
    assert "invalid_grant" in str(err.value)
    assert "AADSTS50173" in str(err.value)


def test_a_source_never_signed_in_needs_auth(fake: MsFake, ctx: SourceContext) -> None:
    with pytest.raises(NeedsReauthError, match="not signed in"):
        MiniStore().sync(outlook.open(make_source(fake), ctx))


def test_expired_access_token_is_refreshed_and_the_cache_saved(
    fake: MsFake, ctx: SourceContext, tmp_path: Path
) -> None:
    seed(fake)
    source = make_source(fake)
    sign_in(fake, source, ctx)
    saved = (tmp_path / "secrets" / "outlook-work.json").read_text()
    fake.expire_access_tokens()
    tokens_before = fake.requests["token"]

    store = MiniStore()
    store.sync(outlook.open(source, ctx))

    assert "msg:m1" in store.items
    assert fake.requests["token"] == tokens_before + 1  # one refresh, shared by all lanes
    assert (tmp_path / "secrets" / "outlook-work.json").read_text() != saved


def test_since_limits_the_backfill(fake: MsFake, ctx: SourceContext) -> None:
    fake.add_message(
        "inbox", message("old", sender="a@example.org", to=[ME], when="2019-05-01T00:00:00Z")
    )
    fake.add_message(
        "inbox", message("new", sender="a@example.org", to=[ME], when="2021-05-01T00:00:00Z")
    )
    source = make_source(fake, calendar=False, contacts=False)
    sign_in(fake, source, ctx)
    store = MiniStore()
    store.sync(outlook.open(source, ctx))
    assert sorted(store.items) == ["msg:new"]
    assert store.cursor["since"] == "2020-01-01T00:00:00+00:00"


def test_a_message_moved_between_synced_folders_is_kept(fake: MsFake, ctx: SourceContext) -> None:
    seed(fake)
    source = make_source(fake, folders=["inbox", "archive"], calendar=False, contacts=False)
    sign_in(fake, source, ctx)
    store = MiniStore()
    store.sync(outlook.open(source, ctx))
    fake.move_message("m1", "inbox", "archive")

    batches = store.sync(outlook.open(source, ctx))

    assert [d for b in batches for d in b.scoped_deletions] == [("inbox", "msg:m1")]
    assert [i.source_id for b in batches for i in b.upserts] == ["msg:m1"]
    assert store.items["msg:m1"].scope == "archive"


_MAIL_ONLY: dict[str, Any] = {"calendar": False, "contacts": False}


def _sync_into(store: Store, connector: outlook.OutlookConnector) -> None:
    """The engine's loop, on the real store: each batch and its cursor in one transaction."""
    state = store.source_state("work")
    for batch in connector.fetch(state.cursor if state else None):
        store.apply_batch("work", batch)


@pytest.mark.parametrize("first", ["archive", "inbox"])
def test_a_move_whose_two_halves_arrive_in_different_syncs_keeps_the_message(
    fake: MsFake, ctx: SourceContext, tmp_path: Path, first: str
) -> None:
    # The removal from inbox and the addition to archive reach us in separate syncs (here by
    # syncing one folder at a time; in life, a round interrupted or a move between two
    # folders' rounds), in either order. Only a real deletion may delete.
    seed(fake)
    both = make_source(fake, folders=["inbox", "archive"], calendar=False, contacts=False)
    sign_in(fake, both, ctx)
    store = Store.open(tmp_path / "syncd.db")
    store.ensure_source("work", "outlook")
    _sync_into(store, outlook.open(both, ctx))
    fake.move_message("m1", "inbox", "archive")
    fake.remove_message("inbox", "m2")
    second = "inbox" if first == "archive" else "archive"

    _sync_into(store, outlook.open(make_source(fake, folders=[first], **_MAIL_ONLY), ctx))
    _sync_into(store, outlook.open(make_source(fake, folders=[second], **_MAIL_ONLY), ctx))

    def stored() -> dict[str, str]:
        return dict(store.conn.execute("SELECT source_id, scope FROM interactions"))

    assert stored() == {"msg:m1": "archive"}
    # A real deletion still deletes.
    fake.remove_message("archive", "m1")
    _sync_into(store, outlook.open(both, ctx))
    assert stored() == {}
    store.close()


def test_calendar_window_rolls_forward_with_a_fresh_round(fake: MsFake, ctx: SourceContext) -> None:
    seed(fake)
    source = make_source(fake, mail=False, contacts=False)
    sign_in(fake, source, ctx)
    store = MiniStore()
    store.sync(outlook.open(source, ctx))
    window = store.cursor["lanes"]["calendar"]["window"]
    # Pretend the round started long ago: its window ends far behind today's horizon.
    store.cursor["lanes"]["calendar"]["window"] = [window[0], "2026-01-01T00:00:00Z"]
    fake.remove_event("e2")
    requests_before = len(fake.log)

    batches = store.sync(outlook.open(source, ctx))

    assert [b.full_sync_start for b in batches if b.full_sync_start] == [["calendar"]]
    assert [b.full_sync_end for b in batches if b.full_sync_end] == [["calendar"]]
    new_round = [p for _, p, _ in fake.log[requests_before:] if "startDateTime" in p]
    assert len(new_round) == 1
    assert store.cursor["lanes"]["calendar"]["window"] == window
    assert "event:e2" not in store.items and "event:o1" in store.items


def test_replaying_changes_from_an_older_cursor_is_harmless(
    fake: MsFake, ctx: SourceContext
) -> None:
    seed(fake)
    source = make_source(fake)
    sign_in(fake, source, ctx)
    store = MiniStore()
    store.sync(outlook.open(source, ctx))
    older = store.cursor
    fake.add_message("inbox", message("m3", sender="eve@example.org", to=[ME]))
    fake.remove_message("inbox", "m2")
    store.sync(outlook.open(source, ctx))
    after = dict(store.items)

    store.cursor = older  # as if the last batches had not been stored: the same changes again
    batches = store.sync(outlook.open(source, ctx))

    assert [i.source_id for b in batches for i in b.upserts] == ["msg:m3"]
    assert store.items == after


def test_an_unknown_client_id_is_reported_when_signing_in(fake: MsFake, ctx: SourceContext) -> None:
    source = make_source(fake, client_id="99999999-0000-0000-0000-000000000000")
    with pytest.raises(SourceError, match="AADSTS700016"):
        sign_in(fake, source, ctx)


def test_authority_names_expand_to_microsoft_urls() -> None:
    assert authority_url("common") == "https://login.microsoftonline.com/common"
    assert authority_url("consumers") == "https://login.microsoftonline.com/consumers"
    assert authority_url("contoso.onmicrosoft.com/") == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com"
    )
    assert (
        authority_url("https://login.microsoftonline.us/x") == "https://login.microsoftonline.us/x"
    )
    with pytest.raises(ValueError, match="https"):
        authority_url("http://127.0.0.1:9/common")
