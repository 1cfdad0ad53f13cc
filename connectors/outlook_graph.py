"""A small Microsoft Graph HTTP client: one per mailbox, throttled the way Outlook requires.

Outlook's service limits are evaluated per app and mailbox: 10,000 requests per 10 minutes and
**4 concurrent requests** (api-facts §10). Every request goes through one semaphore of 4, held
only while the request is on the wire (never while sleeping), so threads that fetch folders and
series masters in parallel can never exceed the cap. Every request (retries included) also
draws from a sliding-window budget (``RequestBudget``, ``requests_per_10_minutes``, shared by
all lanes of the client), so that a long backfill paces itself instead of running into 429s.
429/503 are retried after ``Retry-After``;
other 5xx, network errors and unparseable JSON pages after a jittered backoff
(connectors/retry.py). When the attempts run out the caller sees RetriesExhaustedError and its
cursor stays where it was.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin

import requests

from connectors.retry import RETRYABLE_STATUS, RetryPolicy
from syncd.errors import CursorExpiredError, NeedsReauthError, RetriesExhaustedError, SourceError

log = logging.getLogger(__name__)

GRAPH_ENDPOINT = "https://graph.microsoft.com/v1.0"
MAX_CONCURRENT = 4  # Outlook: "4 concurrent requests" per app and mailbox
REQUEST_LIMIT = 10_000  # Outlook: 10,000 requests per 10 minutes per app and mailbox
REQUEST_WINDOW = 600.0  # seconds
DEFAULT_REQUEST_BUDGET = 9_000  # our default: headroom for other apps' clocks and latencies
TIMEOUT = (15, 120)  # connect, read (seconds): big delta pages can take a while
# Graph error codes that mean "this delta token is gone, start the round again" (errors.md;
# Exchange answers 410 SyncStateNotFound, documented as syncStateNotFound / resyncRequired).
EXPIRED_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})


class DeltaExpiredError(CursorExpiredError):
    """A deltaLink or nextLink was refused: the round must restart from scratch."""


class GraphError(SourceError):
    """Graph refused a request for a reason retrying cannot fix (400, 403, 404...)."""

    def __init__(self, message: str, status: int, code: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code


def _error_code(resp: requests.Response) -> tuple[str, str]:
    try:
        err = resp.json().get("error", {})
    except (ValueError, AttributeError):
        return "", resp.text[:200]
    if not isinstance(err, dict):
        return str(err), ""
    return str(err.get("code", "")), str(err.get("message", ""))


class RequestBudget:
    """At most ``limit`` requests in any ``window`` seconds, shared by every thread of a client.

    The server counts a request when it arrives, which we cannot see: a request counts here from
    the moment it is sent until ``window`` seconds after its answer came back (never earlier than
    its arrival), and one still in flight always counts. So whatever the latencies, the server
    never sees more than ``limit`` of ours in its window. Waiting for the oldest answer to leave
    the window goes through the injected ``sleep`` (a fake clock in tests).
    """

    def __init__(
        self,
        limit: int,
        window: float = REQUEST_WINDOW,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if limit < 1:
            raise ValueError("a request budget needs at least one request per window")
        self.limit = limit
        self.window = window
        self._monotonic = monotonic
        self._sleep = sleep
        self._answered: deque[float] = deque()  # answer times, oldest first
        self._in_flight = 0
        self._cond = threading.Condition()
        self.waits = 0  # how often a request had to wait (for the benchmark)

    def acquire(self) -> None:
        """Block until one more request fits in the window, then count it as in flight."""
        waited = False
        while True:
            with self._cond:
                now = self._monotonic()
                while self._answered and self._answered[0] <= now - self.window:
                    self._answered.popleft()
                if self._in_flight + len(self._answered) < self.limit:
                    self._in_flight += 1
                    self.waits += waited
                    return
                waited = True
                if not self._answered:  # the whole budget is on the wire: wait for an answer
                    self._cond.wait(0.05)
                    continue
                delay = self._answered[0] + self.window - now
            self._sleep(delay)  # not holding the lock: other threads may answer meanwhile

    def __enter__(self) -> RequestBudget:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """The request was answered (or failed): it leaves the window ``window`` from now."""
        with self._cond:
            self._in_flight -= 1
            self._answered.append(self._monotonic())  # under the lock: stays sorted
            self._cond.notify()


class GraphClient:
    """GET/POST against one Graph endpoint for one mailbox.

    ``token(force)`` returns a bearer token (``force`` after a 401 asks for a fresh one); it is
    called from several threads.
    """

    def __init__(
        self,
        base_url: str,
        token: Callable[[bool], str],
        *,
        sleep: Callable[[float], None],
        policy: RetryPolicy | None = None,
        max_concurrent: int = MAX_CONCURRENT,
        session: requests.Session | None = None,
        immutable_ids: bool = True,
        budget: RequestBudget | None = None,
    ):
        self.base_url = base_url.rstrip("/") + "/"
        self._token = token
        self._sleep = sleep
        self.policy = policy or RetryPolicy()
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._session = session or requests.Session()
        self._immutable_ids = immutable_ids
        self.budget = budget
        self.stats: Counter[str] = Counter()  # requests, throttled, retries (for the benchmark)
        self._stats_lock = threading.Lock()

    def url(self, path_or_url: str) -> str:
        # nextLink / deltaLink are absolute and must be followed verbatim (paging.md).
        if path_or_url.startswith(("https://", "http://")):
            return path_or_url
        return urljoin(self.base_url, path_or_url.lstrip("/"))

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] += 1

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: dict[str, Any] | None = None,
        prefer: tuple[str, ...] = (),
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        expect_json: bool = True,
        valid: Callable[[Any], bool] | None = None,
    ) -> Any:
        """One request with retries. Returns the decoded JSON (or None without a body).

        ``valid`` checks the decoded JSON: a page that fails it is retried like a truncated one.
        """
        url = self.url(path_or_url)
        prefs = list(prefer)
        if self._immutable_ids:
            prefs.insert(0, 'IdType="ImmutableId"')
        forced_refresh = False
        last = "no attempt made"
        for attempt in range(self.policy.attempts):
            hdrs = {"Authorization": f"Bearer {self._token(forced_refresh)}", **(headers or {})}
            if prefs:
                hdrs["Prefer"] = ", ".join(prefs)
            retry_after: str | None = None
            try:
                # The budget before a slot: never hold one of the 4 slots while waiting.
                with self.budget or contextlib.nullcontext(), self._slots:
                    self._count("requests")
                    resp = self._session.request(
                        method, url, params=params, headers=hdrs, data=data, timeout=TIMEOUT
                    )
            except (requests.ConnectionError, requests.Timeout) as e:
                last = f"network error: {e}"
            else:
                status = resp.status_code
                if status in (200, 201, 202, 204):
                    if not expect_json or not resp.content:
                        return None
                    try:
                        decoded = resp.json()
                    except ValueError:
                        # A truncated or garbage page: Graph's gateways do this under load.
                        last = f"unparseable JSON from {method} {url.split('?')[0]}"
                    else:
                        if valid is None or valid(decoded):
                            return decoded
                        last = f"a malformed page from {method} {url.split('?')[0]}"
                else:
                    code, message = _error_code(resp)
                    if status == 410 or code.lower() in EXPIRED_CODES:
                        raise DeltaExpiredError(f"delta token expired ({status} {code})")
                    if status == 401:
                        if forced_refresh:
                            raise NeedsReauthError(
                                f"Microsoft Graph refused the access token ({code or 401}); "
                                "sign in again"
                            )
                        forced_refresh = True
                        continue
                    if status not in RETRYABLE_STATUS:
                        text = f"Microsoft Graph {method} {url.split('?')[0]}: {status} {code}"
                        text = f"{text}: {message}" if message else text
                        if status == 403:
                            text += (
                                " (a permission is missing: check your app registration's API "
                                "permissions, then sign in again with `syncd auth`)"
                            )
                        raise GraphError(text, status, code)
                    if status in (429, 503):
                        retry_after = resp.headers.get("Retry-After")
                    if status == 429:
                        self._count("throttled")
                    last = f"{status} {code}".strip()
            if attempt + 1 < self.policy.attempts:
                self._count("retries")
                delay = self.policy.delay(attempt, retry_after)
                log.debug("graph %s %s: %s; retrying in %.2fs", method, url, last, delay)
                self._sleep(delay)
        raise RetriesExhaustedError(
            f"Microsoft Graph kept failing after {self.policy.attempts} attempts ({last}); "
            "will try again next sync"
        )

    def get(self, path_or_url: str, **kw: Any) -> Any:
        return self.request("GET", path_or_url, **kw)

    def pages(
        self,
        path_or_url: str,
        *,
        params: dict[str, Any] | None = None,
        prefer: tuple[str, ...] = (),
    ) -> Iterator[dict[str, Any]]:
        """Each page of a collection, following @odata.nextLink verbatim."""
        page = self.get(path_or_url, params=params, prefer=prefer)
        while True:
            if not isinstance(page, dict):
                raise RetriesExhaustedError("Microsoft Graph returned a page that is not an object")
            yield page
            link = page.get("@odata.nextLink")
            if not link:
                return
            page = self.get(link, prefer=prefer)
