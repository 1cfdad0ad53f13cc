"""Google Contacts (People API) through the real client against the fake server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from fakes.google_harness import ME, connector
from fakes.google_server import FakeClock, FakeGoogle, MiniStore
from fakes.google_state import ALL_SCOPES, OTHER_CONTACTS_READONLY, person

from syncd.models import Contact


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock):
    with FakeGoogle(clock=clock) as f:
        user = f.add_user(ME)
        user.contacts.put(
            person(
                "people/c1",
                "Heidi Klum",
                ["Heidi@Work.example", "heidi.personal@home.example"],
                {"month": 6, "day": 1},
            )
        )
        user.contacts.put(
            person("people/c2", "Bob", ["bob@example.com"], {"year": 1980, "month": 2, "day": 29})
        )
        user.other_contacts.put(person("otherContacts/c9", "Stranger", ["s@example.com"]))
        yield f


def contacts_only(fake, tmp_path, clock, **raw):
    return connector(fake, tmp_path, clock, mail=False, calendar=False, **raw)


def test_contacts_bring_names_all_addresses_and_birthdays(fake, tmp_path, clock):
    store = MiniStore()
    store.sync(contacts_only(fake, tmp_path, clock))
    assert store.contacts == {
        "people/c1": Contact(
            "people/c1",
            "Heidi Klum",
            ("heidi@work.example", "heidi.personal@home.example"),
            date(1900, 6, 1),
        ),
        "people/c2": Contact("people/c2", "Bob", ("bob@example.com",), date(1980, 2, 29)),
        "otherContacts/c9": Contact("otherContacts/c9", "Stranger", ("s@example.com",), None),
    }
    calls = {r.path: r.query for r in fake.requests}
    assert calls["/v1/people/me/connections"]["personFields"] == [
        "names,emailAddresses,birthdays,metadata"
    ]
    assert calls["/v1/otherContacts"]["readMask"] == ["names,emailAddresses,metadata"]


def test_changes_arrive_by_sync_token_including_deletions(fake, tmp_path, clock):
    conn = contacts_only(fake, tmp_path, clock)
    store = MiniStore()
    store.sync(conn)
    book = fake.users[ME].contacts
    book.delete("people/c2")
    book.put(person("people/c3", "Carol", ["carol@example.com"]))
    batches = store.sync(conn)
    assert sorted(store.contacts) == ["otherContacts/c9", "people/c1", "people/c3"]
    assert [c.source_id for b in batches for c in b.contacts] == ["people/c3"]
    last = [r for r in fake.requests if r.path.endswith("/connections")][-1]
    assert "syncToken" in last.query


def test_an_expired_sync_token_leads_to_one_full_sync(fake, tmp_path, clock):
    conn = contacts_only(fake, tmp_path, clock)
    store = MiniStore()
    store.sync(conn)
    fake.users[ME].contacts.expire_tokens()
    store.sync(conn)
    statuses = [r.status for r in fake.requests if r.path.endswith("/connections")]
    assert statuses == [200, 400, 200]
    assert conn.parts["contacts"].full_syncs == 1  # the resync (its first sync was a new part)
    assert len(store.contacts) == 3


def test_a_full_sync_happens_at_least_every_six_days(fake, tmp_path, clock):
    conn = contacts_only(fake, tmp_path, clock)
    store = MiniStore()
    store.sync(conn)
    old = (datetime.now(UTC) - timedelta(days=6, minutes=1)).isoformat()
    store.cursor["people"]["connections"]["full_sync_at"] = old
    store.sync(conn)
    last = [r for r in fake.requests if r.path.endswith("/connections")][-1]
    assert "syncToken" not in last.query
    other = [r for r in fake.requests if r.path.endswith("/otherContacts")][-1]
    assert "syncToken" in other.query  # that one is still fresh


def test_other_contacts_are_off_without_their_scope(fake, tmp_path, clock, caplog):
    scopes = tuple(s for s in ALL_SCOPES if s != OTHER_CONTACTS_READONLY)
    store = MiniStore()
    store.sync(contacts_only(fake, tmp_path, clock, scopes=scopes))
    assert sorted(store.contacts) == ["people/c1", "people/c2"]
    assert not [r for r in fake.requests if r.path.endswith("/otherContacts")]
    assert "names from 'Other contacts' are off" in caplog.text
