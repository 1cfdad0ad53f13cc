"""The CalDAV connector against a real Radicale over verified TLS (tests/servers/radicale.py).

Calendar objects come from ../shared/corpus (khal, ical4j, Exchange); what the connector makes
of them is compared with what the ``.ics`` rules (connectors.calendar_events) make of the same
bytes, so both sources follow one set of attendee/PARTSTAT/STATUS rules.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import caldav as caldav_lib
import corpus
import icalendar
import pytest

from connectors import caldav
from connectors.base import SourceConfig, SourceContext
from connectors.calendar_events import interactions_from_calendar, parse_calendar
from syncd.errors import NeedsReauthError, SourceError, UserError
from syncd.models import Batch, Interaction
from syncd.options import Since
from syncd.secrets import SecretStore
from syncd.store import Store
from tests.servers.net import Proxy
from tests.servers.radicale import DavUser, Radicale

pytest_plugins = ["tests.servers.fixtures"]  # the session's real servers

CORPUS = corpus.CORPUS / "ics"
PASSWORD_ENV = "SYNCD_TEST_CALDAV_PASSWORD"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
SINCE = Since(at=date(2009, 1, 1))


def normalized(data: bytes) -> bytes:
    """What a calendar app would store: Radicale's parser refuses some folds khal's test
    files use, so events go through icalendar first (and are compared in that form)."""
    return icalendar.Calendar.from_ical(data).to_ical()


def corpus_event(*parts: str) -> bytes:
    p = CORPUS.joinpath(*parts)
    return normalized(p.read_bytes()) if p.is_file() else b""


PARTSTAT = corpus_event("khal", "event_dt_partstat.ics")
RECURRING = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//syncd tests//EN\r\nBEGIN:VEVENT\r\n"
    b"UID:weekly-1\r\nDTSTAMP:20240101T000000Z\r\nSUMMARY:Weekly sync\r\n"
    b"DTSTART;TZID=Europe/Berlin:20240304T100000\r\nDTEND;TZID=Europe/Berlin:20240304T103000\r\n"
    b"RRULE:FREQ=WEEKLY;COUNT=10\r\nEXDATE;TZID=Europe/Berlin:20240311T100000\r\n"
    b"ORGANIZER;CN=Boss:mailto:boss@example.org\r\n"
    b"ATTENDEE;PARTSTAT=ACCEPTED;CN=Ann:mailto:Ann@Example.org\r\n"
    b"ATTENDEE;PARTSTAT=DECLINED:mailto:bob@example.org\r\nEND:VEVENT\r\n"
    b"BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20240101T000000Z\r\nSUMMARY:Weekly sync\r\n"
    b"RECURRENCE-ID;TZID=Europe/Berlin:20240318T100000\r\nSTATUS:CANCELLED\r\n"
    b"DTSTART;TZID=Europe/Berlin:20240318T100000\r\nDTEND;TZID=Europe/Berlin:20240318T103000\r\n"
    b"ORGANIZER;CN=Boss:mailto:boss@example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
EXCHANGE = corpus_event("derived", "notmuch-exchange2010-invite-atlantic-standard-time.ics")
TODO = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//syncd tests//EN\r
BEGIN:VTODO\r
UID:todo-1\r
SUMMARY:Not a meeting\r
END:VTODO\r
END:VCALENDAR\r
"""


@pytest.fixture
def user(radicale: Radicale, monkeypatch: pytest.MonkeyPatch) -> DavUser:
    u = radicale.add_user()
    monkeypatch.setenv(PASSWORD_ENV, u.password)
    return u


@pytest.fixture
def dav(radicale: Radicale, user: DavUser):
    """The user's own calendar app: makes calendars and puts events."""
    client = caldav_lib.DAVClient(
        radicale.url,
        username=user.name,
        password=user.password,
        ssl_verify_cert=str(radicale.pki.ca_file),
    )
    yield client
    client.close()


_names = itertools.count()


def make_calendar(dav: Any, name: str, components: tuple[str, ...] = ("VEVENT",)) -> Any:
    cal_id = f"{name.lower()}{next(_names)}"
    return dav.principal().make_calendar(
        name=name, cal_id=cal_id, supported_calendar_component_set=list(components)
    )


def put(dav: Any, cal: Any, name: str, data: bytes) -> str:
    url = f"{str(cal.url).rstrip('/')}/{name}"
    resp = dav.put(url, data.decode(), {"Content-Type": "text/calendar; charset=utf-8"})
    assert resp.status in (201, 204), (name, resp.status, resp.raw)
    return urlsplit(url).path


def source(radicale: Radicale, user: DavUser, **options: Any) -> SourceConfig:
    opts: dict[str, Any] = {
        "url": radicale.url,
        "username": user.name,
        "password_env": PASSWORD_ENV,
        "ca_file": radicale.pki.ca_file,
        "since": SINCE,
        "horizon": timedelta(days=90),
    }
    opts.update(options)
    return SourceConfig("cal", "caldav", opts)


def context(tmp_path: Path, sleeps: list[float] | None = None) -> SourceContext:
    return SourceContext(
        name="cal",
        state_dir=tmp_path,
        secrets=SecretStore(tmp_path, use_keyring=False),
        timezone="Europe/Berlin",
        sleep=(sleeps if sleeps is not None else []).append,  # reconnect back-off: no waiting
    )


def sync(
    src: SourceConfig, tmp_path: Path, cursor: dict | None = None, now: datetime = NOW
) -> list[Batch]:
    conn = caldav.open(src, context(tmp_path))
    conn.now = lambda: now
    return list(conn.fetch(cursor))


def expected(data: bytes, href: str, now: datetime = NOW) -> set[Interaction]:
    cal = parse_calendar(data, href)
    return {
        i
        for i in interactions_from_calendar(
            cal,
            scope=href,
            window_start=SINCE.start(),
            window_end=now + timedelta(days=90),
            timezone="Europe/Berlin",
            id_prefix=f"{href}#",
        )
        if isinstance(i, Interaction)
    }


def upserts(batches: list[Batch]) -> set[Interaction]:
    return {i for b in batches for i in b.upserts}


def stored_ids(store: Store) -> set[str]:
    rows = store.conn.execute("SELECT source_id FROM interactions WHERE source = 'cal'")
    return {r[0] for r in rows}


def apply(store: Store, batches: list[Batch]) -> None:
    for b in batches:
        store.apply_batch("cal", b)


@pytest.fixture
def store(tmp_path: Path):
    s = Store.open(tmp_path / "syncd.db")
    s.ensure_source("cal", "caldav")
    yield s
    s.close()


# ---------------------------------------------------------------------------- backfill
@corpus.needs_corpus("ics")
def test_backfill_reads_every_event_calendar_with_the_ics_rules(radicale, user, dav, tmp_path):
    work, home = make_calendar(dav, "Work"), make_calendar(dav, "Home")
    tasks = make_calendar(dav, "Tasks", ("VTODO",))
    h1 = put(dav, work, "partstat.ics", PARTSTAT)
    h2 = put(dav, work, "exchange.ics", EXCHANGE)
    h3 = put(dav, home, "weekly.ics", RECURRING)
    put(dav, tasks, "todo.ics", TODO)

    batches = sync(source(radicale, user), tmp_path)

    want = expected(PARTSTAT, h1) | expected(EXCHANGE, h2) | expected(RECURRING, h3)
    assert len(want) > 10  # the weekly series is expanded into its occurrences
    assert upserts(batches) == want
    assert {p.response for i in want for p in i.participants} >= {"accepted", "declined"}
    cursor = batches[-1].cursor
    assert sorted(cursor["calendars"]) == sorted([str(work.url), str(home.url)])
    assert cursor["calendars"][str(work.url)]["sync_token"]
    assert sorted(cursor["calendars"][str(work.url)]["etags"]) == sorted([h1, h2])
    assert sync(source(radicale, user), tmp_path, cursor) == []  # nothing new, nothing done


@corpus.needs_corpus("ics")
def test_calendars_option_limits_the_sync(radicale, user, dav, tmp_path):
    work, home = make_calendar(dav, "Work"), make_calendar(dav, "Home")
    h1 = put(dav, work, "a.ics", PARTSTAT)
    put(dav, home, "b.ics", RECURRING)
    batches = sync(source(radicale, user, calendars=["Work"]), tmp_path)
    assert upserts(batches) == expected(PARTSTAT, h1)


@corpus.needs_corpus("ics")
def test_every_corpus_calendar_the_server_accepts_is_read_without_a_crash(
    radicale, user, dav, tmp_path
):
    cal = make_calendar(dav, "Corpus")
    accepted = set()
    files = sorted((CORPUS / "khal").glob("*.ics")) + sorted((CORPUS / "derived").glob("*.ics"))
    for n, p in enumerate(files):
        url = f"{str(cal.url).rstrip('/')}/{n}.ics"
        data = p.read_bytes().decode("utf-8", "replace")
        if dav.put(url, data, {"Content-Type": "text/calendar"}).status in (201, 204):
            accepted.add(urlsplit(url).path)
    assert len(accepted) > 10

    batches = sync(source(radicale, user), tmp_path)

    # The server picks the objects with an event in the window; each is read in its own
    # bracket, as interactions or counted skips.
    objects = {h for b in batches for h in b.full_sync_start}
    assert len(objects) > 5 and objects <= accepted
    assert {i.scope for i in upserts(batches)} <= objects
    assert all(s.where in objects and s.reason for b in batches for s in b.skipped)


# ------------------------------------------------------------------------- incremental
@pytest.mark.parametrize("mode", ["sync-collection", "ctag-etag"])
@corpus.needs_corpus("ics")
def test_incremental_reads_changes_and_sweeps_what_vanished(
    mode, radicale, user, dav, tmp_path, store
):
    cal = make_calendar(dav, "Work")
    h1 = put(dav, cal, "partstat.ics", PARTSTAT)
    h2 = put(dav, cal, "weekly.ics", RECURRING)
    h3 = put(dav, cal, "exchange.ics", EXCHANGE)

    def run(cursor):
        conn = caldav.open(source(radicale, user), context(tmp_path))
        conn.now = lambda: NOW
        if mode == "ctag-etag":  # play a server without RFC 6578: Radicale minus one report
            props = conn._props
            conn._props = lambda url: {**props(url), "sync_collection": False}
        return list(conn.fetch(cursor))

    first = run(None)
    apply(store, first)
    before = expected(PARTSTAT, h1) | expected(RECURRING, h2) | expected(EXCHANGE, h3)
    assert stored_ids(store) == {i.source_id for i in before}

    # The series loses all but its first occurrences, one event goes, one arrives.
    shortened = RECURRING.replace(b"COUNT=10", b"COUNT=2")
    assert shortened != RECURRING
    put(dav, cal, "weekly.ics", shortened)
    dav.delete(f"{str(cal.url).rstrip('/')}/exchange.ics")
    other = PARTSTAT.replace(b"UID:V042", b"UID:NEW042")
    h4 = put(dav, cal, "new.ics", other)
    second = run(first[-1].cursor)
    apply(store, second)

    changed = expected(shortened, h2) | expected(other, h4)
    assert upserts(second) == changed  # the untouched event is not read again
    assert stored_ids(store) == {i.source_id for i in changed | expected(PARTSTAT, h1)}
    assert run(second[-1].cursor) == []


@corpus.needs_corpus("ics")
def test_expired_sync_token_triggers_one_full_pass(radicale, user, dav, tmp_path, store):
    cal = make_calendar(dav, "Work")
    h1 = put(dav, cal, "partstat.ics", PARTSTAT)
    first = sync(source(radicale, user), tmp_path)
    apply(store, first)
    cursor = first[-1].cursor
    cursor["calendars"][str(cal.url)]["sync_token"] = "http://radicale.org/ns/sync/" + "0" * 64
    cursor["calendars"][str(cal.url)]["etags"]["/gone/old.ics"] = '"x"'

    again = sync(source(radicale, user), tmp_path, cursor)
    apply(store, again)

    assert upserts(again) == expected(PARTSTAT, h1)
    assert "/gone/old.ics" in {h for b in again for h in b.full_sync_end}
    assert stored_ids(store) == {i.source_id for i in expected(PARTSTAT, h1)}
    assert sync(source(radicale, user), tmp_path, again[-1].cursor) == []


def test_occurrences_entering_the_window_are_read_after_half_the_horizon(
    radicale, user, dav, tmp_path
):
    cal = make_calendar(dav, "Work")
    daily = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:daily-1\r\n"
        b"DTSTART:20240101T090000Z\r\nDTEND:20240101T093000Z\r\nRRULE:FREQ=DAILY\r\n"
        b"SUMMARY:Stand-up\r\nORGANIZER:mailto:boss@example.org\r\n"
        b"ATTENDEE;PARTSTAT=ACCEPTED:mailto:ann@example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    href = put(dav, cal, "daily.ics", daily)
    first = sync(source(radicale, user), tmp_path)
    later = NOW + timedelta(days=50)
    again = sync(source(radicale, user), tmp_path, first[-1].cursor, now=later)
    assert upserts(again) == expected(daily, href, later)
    assert max(i.occurred_at for i in upserts(again)) > max(i.occurred_at for i in upserts(first))


# ------------------------------------------------------------------ dropped connections
def meeting(n: int) -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//syncd tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:m{n}\r\nDTSTAMP:20240101T000000Z\r\nSUMMARY:Meeting {n}\r\n"
        f"DTSTART:202403{n + 1:02d}T100000Z\r\nDTEND:202403{n + 1:02d}T110000Z\r\n"
        "ORGANIZER:mailto:me@example.org\r\n"
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:p{n}@example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


@pytest.fixture
def proxy(radicale: Radicale):
    p = Proxy(("127.0.0.1", radicale.port))
    yield p
    p.close()


def read_hrefs(batches: list[Batch]) -> list[str]:
    """Objects read (each is re-read inside its own bracket), in order, repeats kept."""
    return [h for b in batches for h in b.full_sync_start if h in set(b.full_sync_end)]


def test_dropped_connection_mid_pass_resumes_after_the_last_stored_batch(
    radicale, user, dav, tmp_path, store, proxy
):
    cal = make_calendar(dav, "Work")
    events = {put(dav, cal, f"m{n}.ics", meeting(n)): meeting(n) for n in range(10)}
    via_proxy = source(radicale, user, url=f"https://127.0.0.1:{proxy.port}/", chunk_size=3)

    src = SourceConfig("cal", "caldav", {**via_proxy.options, "reconnects": 0})
    conn = caldav.open(src, context(tmp_path))
    conn.now = lambda: NOW
    gen = conn.fetch(None)
    first = next(gen)
    apply(store, [first])
    (state,) = first.cursor["calendars"].values()
    assert len(read_hrefs([first])) == 3 and len(state["pending"]) == 7
    proxy.cut_next_requests()
    with pytest.raises(SourceError, match=r"connection lost .*gave up after 0 reconnects"):
        next(gen)

    # Meanwhile a new meeting arrives; the next sync reads the 7 left and the new one only.
    new_href = put(dav, cal, "m10.ics", meeting(10))
    events[new_href] = meeting(10)
    again = sync(via_proxy, tmp_path, first.cursor)
    apply(store, again)

    assert sorted(read_hrefs(again)) == sorted(set(events) - set(read_hrefs([first])))
    want = set().union(*(expected(data, href) for href, data in events.items()))
    assert stored_ids(store) == {i.source_id for i in want}
    assert sync(via_proxy, tmp_path, again[-1].cursor) == []


def test_dropped_connection_is_retried_within_one_sync_without_rereading(
    radicale, user, dav, tmp_path, store, proxy
):
    cal = make_calendar(dav, "Work")
    events = {put(dav, cal, f"m{n}.ics", meeting(n)): meeting(n) for n in range(10)}
    src = source(radicale, user, url=f"https://127.0.0.1:{proxy.port}/", chunk_size=3)
    conn = caldav.open(src, context(tmp_path, sleeps := []))
    conn.now = lambda: NOW
    batches = []
    for batch in conn.fetch(None):
        apply(store, [batch])
        batches.append(batch)
        if len(batches) == 2:
            proxy.cut_next_requests()  # the third multiget goes unanswered

    assert len(sleeps) == 1  # one reconnect
    assert sorted(read_hrefs(batches)) == sorted(events)  # every object read exactly once
    want = set().union(*(expected(data, href) for href, data in events.items()))
    assert stored_ids(store) == {i.source_id for i in want}
    (state,) = batches[-1].cursor["calendars"].values()
    assert "pending" not in state and sorted(state["etags"]) == sorted(events)


def test_calendar_deleted_while_a_pass_was_cut_short_is_swept_entirely(
    radicale, user, dav, tmp_path, store
):
    cal = make_calendar(dav, "Work")
    for n in range(5):
        put(dav, cal, f"m{n}.ics", meeting(n))
    src = source(radicale, user, chunk_size=2)
    first = sync(src, tmp_path)
    apply(store, first)
    assert len(stored_ids(store)) == 5
    cursor = first[-1].cursor
    (state,) = cursor["calendars"].values()
    state["sync_token"] = "http://radicale.org/ns/sync/" + "0" * 64  # forces a full pass

    conn = caldav.open(src, context(tmp_path))
    conn.now = lambda: NOW
    gen = conn.fetch(cursor)
    cut = next(gen)  # the process dies after storing one batch of the full pass
    gen.close()
    apply(store, [cut])
    (state,) = cut.cursor["calendars"].values()
    assert len(state["etags"]) == 2 and len(state["pending"]) == 3

    cal.delete()
    gone = sync(src, tmp_path, cut.cursor)
    apply(store, gone)
    assert stored_ids(store) == set() and gone[-1].cursor["calendars"] == {}


# ----------------------------------------------------------------------- login and TLS
def test_wrong_password_needs_reauth(radicale, user, tmp_path, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "not the password")
    with pytest.raises(NeedsReauthError, match=f"login as {user.name} refused"):
        sync(source(radicale, user), tmp_path)


def test_certificate_from_an_untrusted_ca_is_refused(radicale, user, tmp_path):
    src = source(radicale, user, ca_file=radicale.pki.rogue_ca_file)
    with pytest.raises(SourceError, match=r"127\.0\.0\.1:\d+: certificate verify failed"):
        sync(src, tmp_path)


def test_plain_http_is_refused_to_a_remote_host(tmp_path):
    src = SourceConfig("cal", "caldav", {"url": "http://192.0.2.1/dav/", "username": "ann"})
    with pytest.raises(UserError, match=r"\[sources.cal\] url: plain http"):
        caldav.open(src, context(tmp_path))


def test_the_connector_module_imports_the_caldav_library():
    assert caldav.__name__ == "connectors.caldav"
    assert hasattr(caldav_lib, "DAVClient") and caldav_lib.__name__ == "caldav"
