"""Outlook under stress: throttling, the 4-in-flight cap, bad payloads, real-world JSON.

The fake and fixtures are the ones of test_outlook_sync.py (https fake, real msal + requests).
Retry sleeps go through ``ctx.sleep`` and are recorded, so nothing here really waits.
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_right
from pathlib import Path
from typing import Any

import pytest
from corpus import corpus_path
from fakes.ms_server import MiniStore, MsFake, event, message, occurrence
from test_outlook_sync import ME, ctx, fake, make_source, seed, sign_in, sleeps, tls

from connectors import outlook
from connectors.base import SourceContext
from connectors.outlook_calendar import event_to_interaction
from connectors.outlook_graph import GraphClient, RequestBudget
from connectors.outlook_mail import message_to_interaction
from connectors.retry import RetryPolicy
from syncd.errors import RetriesExhaustedError, SourceError
from syncd.models import Interaction, Skip
from syncd.secrets import SecretStore

__all__ = ["ctx", "fake", "sleeps", "tls"]  # fixtures shared with test_outlook_sync


def test_a_busy_mailbox_never_sees_more_than_four_requests_in_flight(
    fake: MsFake, ctx: Any
) -> None:
    # Five lanes (four folders + calendar) and a dozen series masters all want to go at once;
    # the fake answers 429 to a fifth concurrent request, as Outlook does.
    for folder in ("inbox", "sentitems", "archive", "junkemail"):
        for i in range(30):
            fake.add_message(folder, message(f"{folder}{i}", sender="a@example.org", to=[ME]))
    for m in range(12):
        fake.add_master(
            event(
                f"ser{m}",
                start="2026-09-01T08:00:00",
                end="2026-09-01T09:00:00",
                organizer=f"o{m}@example.org",
                attendees=[(ME, "required", "accepted")],
                type="seriesMaster",
            )
        )
        fake.add_event(
            occurrence(f"occ{m}", f"ser{m}", start="2026-09-02T08:00:00", end="2026-09-02T09:00:00")
        )
    fake.latency = 0.02
    fake.max_concurrent = 4
    source = make_source(
        fake, folders=["inbox", "sentitems", "archive", "junkemail"], page_size=10, contacts=False
    )
    sign_in(fake, source, ctx)

    store = MiniStore()
    store.sync(outlook.open(source, ctx))

    assert len(store.items) == 4 * 30 + 12
    assert fake.max_in_flight == 4  # parallel, and never beyond the cap
    assert fake.status_counts[429] == 0


def test_the_graph_client_caps_concurrency_across_threads(fake: MsFake) -> None:
    fake.latency = 0.05
    fake.access_tokens["t"] = float("inf")
    client = GraphClient(fake.graph_url, lambda force: "t", sleep=lambda s: None)
    threads = [threading.Thread(target=client.get, args=("me",)) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake.requests["me"] == 16
    assert fake.max_in_flight == 4


class FakeClock:
    """Time that passes only when someone sleeps; shared by the client's budget and the fake."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
            self.slept.append(seconds)


def test_the_request_budget_counts_a_request_until_a_window_after_its_answer() -> None:
    clock = FakeClock()
    budget = RequestBudget(2, 600.0, monotonic=clock.monotonic, sleep=clock.sleep)
    budget.acquire()
    clock.now += 700  # a very slow answer: still in flight, so it still counts
    budget.acquire()
    budget.release()  # answered at 1700
    clock.now += 10
    budget.release()  # answered at 1710
    budget.acquire()  # the window holds both answers: wait until the first leaves it
    assert clock.now == 1700 + 600 and clock.slept == [590]
    assert budget.waits == 1


def test_a_long_backfill_paces_itself_under_the_request_budget(
    fake: MsFake, tmp_path: Path
) -> None:
    folders = ["inbox", "sentitems", "archive"]
    for folder in folders:
        for i in range(150):
            fake.add_message(folder, message(f"{folder}{i}", sender="a@example.org", to=[ME]))
    clock = FakeClock()
    fake.clock = clock.monotonic
    fake.window_limit = (20, 600.0)  # Outlook's rule, scaled down: 429 beyond 20 in 10 minutes
    ctx = SourceContext(
        "work",
        tmp_path,
        SecretStore(tmp_path, use_keyring=False),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    source = make_source(
        fake, folders=folders, page_size=10, calendar=False, requests_per_10_minutes=20
    )
    sign_in(fake, source, ctx)

    store = MiniStore()
    store.sync(outlook.open(source, ctx))

    assert len(store.items) == 3 * 150
    assert fake.status_counts[429] == 0
    arrivals = sorted(fake.arrivals)
    assert len(arrivals) == 3 * 15 + 2  # pages, /me and contacts: over two windows' worth
    busiest = max(bisect_right(arrivals, t) - bisect_right(arrivals, t - 600) for t in arrivals)
    assert busiest <= 20
    assert clock.slept and clock.now - 1000 >= 2 * 600


def test_429_retry_after_is_honoured(fake: MsFake, ctx: Any, sleeps: list[float]) -> None:
    seed(fake)
    source = make_source(fake, calendar=False, contacts=False, folders=["inbox"])
    sign_in(fake, source, ctx)
    fake.throttle(3, retry_after="2.5")

    store = MiniStore()
    store.sync(outlook.open(source, ctx))

    assert sleeps == [2.5, 2.5, 2.5]
    assert fake.status_counts[429] == 3
    assert {"msg:m1", "msg:m2"} <= store.items.keys()


def test_server_errors_without_retry_after_back_off_with_jitter(
    fake: MsFake, ctx: Any, sleeps: list[float]
) -> None:
    seed(fake)
    source = make_source(fake, calendar=False, contacts=False, folders=["inbox"])
    sign_in(fake, source, ctx)
    fake.can("/mailFolders/inbox/", 502, "<html>Bad gateway</html>", times=3)

    store = MiniStore()
    store.sync(outlook.open(source, ctx))

    assert len(sleeps) == 3
    assert all(0 <= s <= 2**n for n, s in enumerate(sleeps))
    assert "msg:m1" in store.items


def test_throttling_that_outlasts_the_retries_keeps_the_cursor(
    fake: MsFake, ctx: Any, sleeps: list[float]
) -> None:
    seed(fake)
    source = make_source(fake, calendar=False, contacts=False, folders=["inbox"])
    sign_in(fake, source, ctx)
    store = MiniStore()
    store.sync(outlook.open(source, ctx))
    saved = store.cursor
    fake.add_message("inbox", message("m9", sender="z@example.org", to=[ME]))
    fake.throttle(100, retry_after="30")

    with pytest.raises(RetriesExhaustedError, match="429"):
        store.sync(outlook.open(source, ctx))

    assert store.cursor == saved
    assert len(sleeps) == RetryPolicy().attempts - 1
    assert "msg:m9" not in store.items


def test_a_garbage_page_is_retried(fake: MsFake, ctx: Any, sleeps: list[float]) -> None:
    seed(fake)
    source = make_source(fake, calendar=False, contacts=False, folders=["inbox"])
    sign_in(fake, source, ctx)
    fake.can("/mailFolders/inbox/", 200, '{"value": [{"id": "m1", "from": {"emailAd', times=1)

    store = MiniStore()
    store.sync(outlook.open(source, ctx))

    assert len(sleeps) == 1
    assert {"msg:m1", "msg:m2"} <= store.items.keys()


def test_a_well_formed_page_of_the_wrong_shape_is_retried(
    fake: MsFake, ctx: Any, sleeps: list[float]
) -> None:
    seed(fake)
    source = make_source(fake, calendar=False, contacts=False, folders=["inbox"])
    sign_in(fake, source, ctx)
    fake.can("/mailFolders/inbox/", 200, {"value": "oops"}, times=1)
    fake.can("/mailFolders/inbox/", 200, {"value": []}, times=1)  # no nextLink, no deltaLink

    store = MiniStore()
    store.sync(outlook.open(source, ctx))

    assert len(sleeps) == 2
    assert {"msg:m1", "msg:m2"} <= store.items.keys()


def test_garbage_pages_forever_exhaust_the_retries(fake: MsFake, ctx: Any) -> None:
    seed(fake)
    source = make_source(fake, calendar=False, contacts=False, folders=["inbox"])
    sign_in(fake, source, ctx)
    fake.can("/mailFolders/inbox/", 200, "<html>gateway timeout</html>", times=100)

    with pytest.raises(RetriesExhaustedError, match="unparseable JSON"):
        MiniStore().sync(outlook.open(source, ctx))


def test_one_bad_item_is_skipped_and_the_rest_kept(fake: MsFake, ctx: Any) -> None:
    seed(fake)
    no_dates = message("bad1", sender="a@example.org", to=[ME])
    del no_dates["sentDateTime"], no_dates["receivedDateTime"]
    no_sender = message("bad2", sender="a@example.org", to=[ME])
    del no_sender["from"], no_sender["sender"]
    fake.add_message("inbox", no_dates)
    fake.add_message("inbox", no_sender)
    bad_event = event(
        "bad3", start="2026-13-45T00:00:00", end="y", organizer="o@example.org", attendees=[]
    )
    fake.add_event(bad_event)
    fake.add_event(
        occurrence("orphan", "gone", start="2026-09-03T08:00:00", end="2026-09-03T09:00:00")
    )
    source = make_source(fake, contacts=False)
    sign_in(fake, source, ctx)

    store = MiniStore()
    store.sync(outlook.open(source, ctx))

    reasons = sorted((s.where.split()[-1], s.reason) for s in store.skipped)
    assert reasons == [
        ("bad1", "no usable sentDateTime or receivedDateTime"),
        ("bad2", "no sender address"),
        ("bad3", "unusable start: month must be in 1..12"),
        ("orphan", "series master gone not found"),
    ]
    assert {"msg:m1", "msg:m2", "msg:s1", "event:e1", "event:o0"} <= store.items.keys()


def test_a_mailbox_that_refuses_internet_headers_is_read_without_them(
    fake: MsFake, ctx: Any
) -> None:
    seed(fake)
    source = make_source(fake, calendar=False, contacts=False, folders=["inbox"])
    sign_in(fake, source, ctx)
    fake.can(
        "internetMessageHeaders",
        400,
        {"error": {"code": "ErrorInvalidProperty", "message": "internetMessageHeaders"}},
    )

    store = MiniStore()
    store.sync(outlook.open(source, ctx))

    assert "msg:m1" in store.items
    assert store.cursor["no_headers"] is True
    assert "internetMessageHeaders" not in fake.selects_seen[-1]


def test_a_missing_permission_is_reported_without_retrying(
    fake: MsFake, ctx: Any, sleeps: list[float]
) -> None:
    seed(fake)
    source = make_source(fake, calendar=False, contacts=False, folders=["inbox"])
    sign_in(fake, source, ctx)
    fake.can("/mailFolders/inbox/", 403, {"error": {"code": "ErrorAccessDenied", "message": "no"}})

    with pytest.raises(SourceError, match=r"403 ErrorAccessDenied: no \(a permission is missing"):
        MiniStore().sync(outlook.open(source, ctx))
    assert sleeps == []


def _corpus_bodies() -> list[tuple[str, Any]]:
    root = corpus_path("api-samples", "msgraph")
    out: list[tuple[str, Any]] = []
    for f in sorted(root.glob("*.json")):
        data = json.loads(f.read_text())
        if "mocks" in data:
            out += [(m["request"]["url"], m["response"].get("body")) for m in data["mocks"]]
        else:
            out.append((f.name, data))
    return out


def test_real_graph_payloads_never_crash_the_parsers() -> None:
    made = 0
    for where, body in _corpus_bodies():
        if not isinstance(body, dict):
            continue
        items = body["value"] if isinstance(body.get("value"), list) else [body]
        for item in items:
            if "event" in where.lower() or "calendar" in where.lower():
                result = event_to_interaction(item, master=item)
            else:
                result = message_to_interaction(item, "inbox")
            assert result is None or isinstance(result, Interaction | Skip)
            made += isinstance(result, Interaction)
    assert made >= 10
