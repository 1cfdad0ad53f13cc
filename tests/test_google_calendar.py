"""Google Calendar through the real client against the fake server, plus corpus samples."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from corpus import corpus_path
from fakes.google_harness import ME, connector
from fakes.google_server import FakeClock, FakeGoogle, MiniStore
from fakes.google_state import event

from connectors.google_calendar import EVENT_FIELDS, choose_calendars, normalize_event
from syncd.models import Flag, Participant

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock):
    with FakeGoogle(clock=clock) as f:
        user = f.add_user(ME)
        user.add_calendar(ME, "Ada", primary=True)
        yield f


def cal(fake: FakeGoogle, cid: str = ME):
    return fake.users[ME].calendars[cid]


def meeting(eid: str, days_ago: float = 1, **kw):
    start = NOW - timedelta(days=days_ago)
    kw.setdefault(
        "attendees",
        [
            {"email": ME, "self": True, "responseStatus": "accepted"},
            {"email": "Bob@Example.com", "displayName": "Bob", "responseStatus": "accepted"},
        ],
    )
    return event(eid, start, start + timedelta(hours=1), organizer=kw.pop("organizer", ME), **kw)


def calendar_only(fake, tmp_path, clock, **raw):
    return connector(fake, tmp_path, clock, mail=False, contacts=False, **raw)


def test_events_are_synced_then_only_changes_arrive_by_sync_token(fake, tmp_path, clock):
    for i in range(7):
        cal(fake).put(meeting(f"e{i}", days_ago=i + 1))
    conn = calendar_only(fake, tmp_path, clock)
    store = MiniStore()
    store.sync(conn)
    assert len(store.interactions) == 7
    first_list = next(r for r in fake.requests if r.path.endswith("/events"))
    assert first_list.query["singleEvents"] == ["true"]
    assert first_list.query["fields"] == [EVENT_FIELDS]
    assert "timeMin" in first_list.query

    cal(fake).put(meeting("new", days_ago=0.5))
    cal(fake).cancel("e3")
    batches = store.sync(conn)
    last_list = [r for r in fake.requests if r.path.endswith("/events")][-1]
    assert "syncToken" in last_list.query and "timeMin" not in last_list.query
    assert [it.source_id for b in batches for it in b.upserts] == [f"gcal:{ME}/new"]
    assert f"gcal:{ME}/e3" not in store.interactions
    assert len(store.interactions) == 7


def test_a_meeting_keeps_who_took_part_and_how_they_answered(fake, tmp_path, clock):
    cal(fake).put(
        meeting(
            "m1",
            organizer="carol@example.com",
            attendees=[
                {"email": "carol@example.com", "organizer": True, "responseStatus": "accepted"},
                {"email": ME, "self": True, "responseStatus": "tentative"},
                {"email": "dan@example.com", "responseStatus": "declined"},
                {"email": "room-1@resource.calendar.google.com", "resource": True},
            ],
            summary="Q3 planning",
        )
    )
    store = MiniStore()
    store.sync(calendar_only(fake, tmp_path, clock))
    it = store.interactions[f"gcal:{ME}/m1"]
    assert it.participants == (
        Participant("carol@example.com", "organizer", None, "accepted"),
        Participant(ME, "attendee", None, "tentative"),
        Participant("dan@example.com", "attendee", None, "declined"),
    )
    assert it.head_count == 3  # the room is not a person
    assert it.subject == "Q3 planning" and it.kind == "meeting" and it.scope == f"gcal:{ME}"
    assert it.flags == 0
    assert it.ends_at - it.occurred_at == timedelta(hours=1)


def test_declined_by_me_and_status_blocks_are_flagged(fake, tmp_path, clock):
    declined = [
        {"email": ME, "self": True, "responseStatus": "declined"},
        {"email": "bob@example.com", "responseStatus": "accepted"},
    ]
    cal(fake).put(meeting("declined", attendees=declined, organizer="bob@example.com"))
    for kind in ("focusTime", "outOfOffice", "workingLocation"):
        cal(fake).put(meeting(kind, eventType=kind, attendees=[]))
    cal(fake).put(meeting("free", transparency="transparent"))
    store = MiniStore()
    store.sync(calendar_only(fake, tmp_path, clock))
    flags = {sid.rsplit("/", 1)[1]: it.flags for sid, it in store.interactions.items()}
    assert flags == {
        "declined": Flag.DECLINED,
        "focusTime": Flag.NOT_MEETING,
        "outOfOffice": Flag.NOT_MEETING,
        "workingLocation": Flag.NOT_MEETING,
        "free": Flag.NOT_MEETING,
    }


def test_all_day_events_start_at_local_midnight():
    item = {
        "id": "bday",
        "start": {"date": "2024-07-01"},
        "end": {"date": "2024-07-02"},
        "eventType": "birthday",
    }
    it = normalize_event(item, ME, ZoneInfo("Europe/London"))
    assert it.occurred_at == datetime(2024, 6, 30, 23, 0, tzinfo=UTC)
    assert it.flags == Flag.ALL_DAY | Flag.NOT_MEETING


def test_an_expired_sync_token_resyncs_that_calendar_only(fake, tmp_path, clock):
    fake.users[ME].add_calendar("team@example.com", "Team", access_role="writer")
    for i in range(3):
        cal(fake).put(meeting(f"p{i}"))
        cal(fake, "team@example.com").put(meeting(f"t{i}"))
    conn = calendar_only(fake, tmp_path, clock)
    store = MiniStore()
    store.sync(conn)
    assert len(store.interactions) == 6
    # While our token was stale, t0 was deleted outright (no cancelled stub) and t9 added.
    team = cal(fake, "team@example.com")
    del team.events["t0"]
    team.put(meeting("t9"))
    team.expire_tokens()
    batches = store.sync(conn)
    assert [b.full_sync_start for b in batches if b.full_sync_start] == [["gcal:team@example.com"]]
    assert [b.full_sync_end for b in batches if b.full_sync_end] == [["gcal:team@example.com"]]
    assert "gcal:team@example.com/t0" not in store.interactions  # swept
    assert "gcal:team@example.com/t9" in store.interactions
    assert len(store.interactions) == 6
    assert conn.parts["calendar"].resyncs == 1
    statuses = [r.status for r in fake.requests if "team" in r.path]
    assert statuses == [200, 410, 200]


def test_pages_are_followed_to_the_sync_token(fake, tmp_path, clock):
    fake.max_page = 5
    for i in range(12):
        cal(fake).put(meeting(f"e{i}"))
    store = MiniStore()
    batches = store.sync(calendar_only(fake, tmp_path, clock))
    assert len(store.interactions) == 12
    # Only the last page carries a cursor: the sync token comes with it.
    assert [b.cursor is not None for b in batches] == [False, False, True]


def test_holiday_birthday_and_subscribed_calendars_are_skipped_by_default():
    entries = [
        {"id": ME, "primary": True, "accessRole": "owner"},
        {"id": "en.uk#holiday@group.v.calendar.google.com", "accessRole": "reader"},
        {"id": "addressbook#contacts@group.v.calendar.google.com", "accessRole": "reader"},
        {"id": "boss@example.com", "summary": "Boss", "accessRole": "reader"},
        {"id": "team@example.com", "summary": "Team", "accessRole": "writer"},
    ]
    ids = lambda chosen: [c["id"] for c in chosen]  # noqa: E731
    assert ids(choose_calendars(entries, (), ())) == [ME, "team@example.com"]
    assert ids(choose_calendars(entries, ("Boss",), ("Team",))) == [ME, "boss@example.com"]
    assert ids(choose_calendars(entries, (), ("primary",))) == ["team@example.com"]


def test_a_calendar_that_leaves_the_list_is_swept(fake, tmp_path, clock):
    fake.users[ME].add_calendar("team@example.com", "Team", access_role="writer")
    cal(fake, "team@example.com").put(meeting("t1"))
    cal(fake).put(meeting("p1"))
    store = MiniStore()
    store.sync(calendar_only(fake, tmp_path, clock))
    assert len(store.interactions) == 2
    store.sync(calendar_only(fake, tmp_path, clock, calendars_exclude=["Team"]))
    assert list(store.interactions) == [f"gcal:{ME}/p1"]
    assert "team@example.com" not in store.cursor["calendar"]["calendars"]


def test_corpus_events_from_libkgapi_normalize():
    folder = corpus_path("api-samples", "google-calendar", "libkgapi")
    items = []
    for name in ("events_fetch_page1_response.txt", "events_fetch_page2_response.txt"):
        body = (folder / name).read_text().split("\n\n", 1)[1]
        items += json.loads(body)["items"]
    for name in ("event1.json", "event2.json"):
        items.append(json.loads((folder / name).read_text()))
    out = [normalize_event(item, "MockAccount", ZoneInfo("Europe/Prague")) for item in items]
    first = out[0]
    assert first.occurred_at == datetime(2018, 4, 1, 8, 30, tzinfo=UTC)
    assert first.participants[0] == Participant("konqui@kde.test", "organizer", "Konqui", None)
    assert {p.address for p in first.participants} == {
        "konqui@kde.test",
        "attendee1@kde.test",
        "attendee2@kde.test",
    }
    allday = out[1]
    assert allday.flags & Flag.ALL_DAY
    assert allday.occurred_at == datetime(2018, 4, 19, 22, 0, tzinfo=UTC)


def test_a_calendar_that_vanishes_between_list_and_events_is_swept(fake, tmp_path, clock):
    from fakes.google_server import Fault

    fake.users[ME].add_calendar("team@example.com", "Team", access_role="writer")
    cal(fake, "team@example.com").put(meeting("t1"))
    cal(fake).put(meeting("p1"))
    conn = calendar_only(fake, tmp_path, clock)
    store = MiniStore()
    store.sync(conn)
    fake.faults.append(Fault("team%40example.com/events", status=404, reason="notFound"))
    store.sync(conn)
    assert list(store.interactions) == [f"gcal:{ME}/p1"]
    assert "team@example.com" not in store.cursor["calendar"]["calendars"]
