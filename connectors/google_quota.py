"""Quota and retries for the Google APIs: one caller per source, never two requests at once.

Gmail's quota is per user per minute in *units* (``messages.get`` costs 20 under the 2026
table, see api-facts.md §1.5), and a batch of n requests costs n requests. The
:class:`QuotaBucket` keeps our own spending under the budget so that throttling is the
exception, and :class:`Caller` retries what the server still refuses (429, 5xx, 403
rateLimitExceeded, malformed bodies, network errors) with the shared :class:`RetryPolicy`,
honouring Retry-After. When the attempts run out it raises RetriesExhaustedError; the
connector has not yet yielded a cursor past the failed work, so nothing is lost.

``BatchHttpRequest.execute`` has no retries of its own and hands per-part errors to the
callback (api-facts.md §1.6), so :meth:`Caller.batch` re-sends only the parts that failed.
"""

from __future__ import annotations

import collections
import json
import logging
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.retry import RETRYABLE_STATUS, RetryPolicy
from syncd.errors import NeedsReauthError, RetriesExhaustedError, SourceError

log = logging.getLogger(__name__)

# Units per call (api-facts.md §1.5, the 2026 table); overridable with `quota_costs`.
DEFAULT_GMAIL_COSTS: dict[str, int] = {
    "getProfile": 1,
    "labels.list": 1,
    "history.list": 2,
    "messages.list": 5,
    "messages.get": 20,
    "messages.send": 100,
}
DEFAULT_GMAIL_UNITS_PER_MINUTE = 6000
# Calendar counts requests: 600 per minute per user (api-facts.md §2.4).
DEFAULT_CALENDAR_REQUESTS_PER_MINUTE = 600

MIN_PARTS = 10  # the smallest batch sent early to use the quota that is free now
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "usageLimits"})


class QuotaBucket:
    """A per-user budget of ``units`` per ``window`` seconds.

    Each unit spent comes back to the bucket one window later (a sliding-window bucket), so
    the units spent in *any* window never exceed the budget: that satisfies a server that
    counts per rolling minute as well as one that refills a token bucket continuously.
    ``margin`` widens our window a little because the server counts on arrival, not when we
    send.
    """

    def __init__(
        self,
        units: int,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        window: float = 60.0,
        margin: float = 1.0,
    ):
        self.units = units
        self.window = window + margin
        self._clock = clock
        self._sleep = sleep
        self._spent: collections.deque[tuple[float, int]] = collections.deque()
        self._in_window = 0
        self.total_units = 0
        self.waited = 0.0

    def _expire(self, now: float) -> None:
        while self._spent and self._spent[0][0] <= now - self.window:
            self._in_window -= self._spent.popleft()[1]

    def available(self) -> int:
        """Units that could be spent right now without waiting."""
        self._expire(self._clock())
        return max(self.units - self._in_window, 0)

    def acquire(self, units: int) -> None:
        """Wait until ``units`` can be spent without exceeding the budget, then spend them."""
        # A single request larger than the whole budget waits for an empty window.
        need = min(units, self.units)
        while True:
            now = self._clock()
            self._expire(now)
            if self._in_window + need <= self.units:
                break
            # Wait until enough of the oldest spending has left the window.
            freed, wait_until = self._in_window, now
            for t, u in self._spent:
                freed -= u
                wait_until = t + self.window
                if freed + need <= self.units:
                    break
            delay = max(wait_until - now, 0.001)
            self.waited += delay
            self._sleep(delay)
        self._spent.append((self._clock(), units))
        self._in_window += units
        self.total_units += units


def error_reasons(exc: Any) -> set[str]:
    """The machine-readable reasons in a Google error body (errors[].reason, details[].reason)."""
    reasons: set[str] = set()
    try:
        data = json.loads(exc.content)
    except (ValueError, TypeError, AttributeError):
        return reasons
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return reasons
    if isinstance(err.get("status"), str):
        reasons.add(err["status"])
    for key in ("errors", "details"):
        for item in err.get(key) or ():
            if isinstance(item, dict) and isinstance(item.get("reason"), str):
                reasons.add(item["reason"])
    return reasons


def http_status(exc: Any) -> int:
    return int(getattr(getattr(exc, "resp", None), "status", 0) or 0)


def is_retryable(exc: Any) -> bool:
    status = http_status(exc)
    if status in RETRYABLE_STATUS:
        return True
    return status == 403 and bool(error_reasons(exc) & RATE_LIMIT_REASONS)


def retry_after(exc: Any) -> str | None:
    resp = getattr(exc, "resp", None)
    return resp.get("retry-after") if resp is not None else None


@dataclass
class CallStats:
    requests: int = 0  # HTTP requests sent (a batch is one)
    calls: int = 0  # API calls made (a batch of n is n)
    throttled: int = 0  # 429 / rate-limit answers, batch parts included
    retries: int = 0
    by_method: dict[str, int] = field(default_factory=collections.Counter)


class Caller:
    """Executes googleapiclient requests for one source: quota first, then retries."""

    def __init__(
        self,
        source_name: str,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], None],
        bucket: QuotaBucket | None = None,
        costs: Mapping[str, int] | None = None,
        after_call: Callable[[], None] | None = None,
        rng: random.Random | None = None,
        retry_server_errors: bool = True,
    ):
        self.source_name = source_name
        # False for calls that must not run twice (sending): only throttling is retried.
        self.retry_server_errors = retry_server_errors
        self.policy = policy
        self.bucket = bucket
        self.costs = dict(costs or {})
        self._sleep = sleep
        self._after_call = after_call or (lambda: None)
        self._rng = rng or random.Random()
        self.stats = CallStats()

    def _spend(self, method: str, n: int = 1, *, charge: bool = True) -> None:
        self.stats.calls += n
        self.stats.by_method[method] += n
        if charge:
            self._charge(method, n)

    def _parts_that_fit(self, method: str, n: int) -> int:
        """How many of ``n`` parts to send now: all, or as many as the quota allows right
        now (at least ``MIN_PARTS``), so that a batch never waits for room it does not need
        while the window has room for most of it. Without this, 50-part batches of 1,000
        units in a 6,000-unit minute leave a sixth of the quota unused once any other call
        took a few units."""
        if self.bucket is None:
            return n
        fit = self.bucket.available() // max(self.costs.get(method, 1), 1)
        return n if fit >= n else max(fit, min(n, MIN_PARTS))

    def _charge(self, method: str, n: int) -> None:
        if self.bucket is not None:
            self.bucket.acquire(self.costs.get(method, 1) * n)

    def _backoff(self, method: str, attempt: int, why: str, after: str | None = None) -> None:
        if attempt + 1 >= self.policy.attempts:
            raise RetriesExhaustedError(
                f"{self.source_name}: Google kept refusing {method} ({why}) after "
                f"{self.policy.attempts} attempts; will try again next sync"
            )
        delay = self.policy.delay(attempt, after, self._rng)
        log.info("%s: %s failed (%s); retrying in %.1fs", self.source_name, method, why, delay)
        self.stats.retries += 1
        self._sleep(delay)

    def reauth_error(self, exc: Exception) -> NeedsReauthError:
        return NeedsReauthError(
            f"{self.source_name}: Google refused the stored sign-in ({exc}); "
            f"run `syncd auth {self.source_name}`"
        )

    def call(self, request: Any, method: str) -> dict[str, Any]:
        """Execute one request; returns its JSON object. Non-retryable HttpErrors propagate."""
        from google.auth.exceptions import RefreshError, TransportError
        from googleapiclient.errors import HttpError
        from httplib2 import HttpLib2Error

        attempt = 0
        while True:
            self._spend(method)
            self.stats.requests += 1
            try:
                result = request.execute()
            except HttpError as e:
                throttled = http_status(e) in (403, 429)
                if not is_retryable(e) or not (throttled or self.retry_server_errors):
                    if http_status(e) == 401:
                        raise self.reauth_error(e) from e
                    raise
                self.stats.throttled += throttled
                self._backoff(method, attempt, f"HTTP {http_status(e)}", retry_after(e))
            except RefreshError as e:
                if "invalid_grant" in str(e) or not getattr(e, "retryable", False):
                    raise self.reauth_error(e) from e
                self._backoff(method, attempt, f"token refresh: {e}")
            except (TransportError, HttpLib2Error, OSError, TimeoutError) as e:
                if not self.retry_server_errors:
                    raise SourceError(f"{self.source_name}: {method}: network: {e}") from e
                self._backoff(method, attempt, f"network: {e}")
            else:
                # JsonModel returns the raw text when the body is not JSON (truncated).
                if isinstance(result, dict):
                    return result
                if not self.retry_server_errors:
                    raise SourceError(f"{self.source_name}: {method}: malformed answer")
                self._backoff(method, attempt, "malformed JSON")
            finally:
                self._after_call()
            attempt += 1

    def batch(
        self,
        requests: Mapping[str, Any],
        method: str,
        batch_uri: str,
    ) -> tuple[dict[str, dict[str, Any]], dict[str, Exception]]:
        """Run ``requests`` (keyed by an id) as one batch, re-sending failed parts.

        Returns (results, failures): failures are parts refused for good (404, 400...).
        """
        from google.auth.exceptions import RefreshError, TransportError
        from googleapiclient.errors import BatchError, HttpError
        from googleapiclient.http import BatchHttpRequest
        from httplib2 import HttpLib2Error

        pending = dict(requests)
        results: dict[str, dict[str, Any]] = {}
        failures: dict[str, Exception] = {}
        attempt = 0
        after: list[str] = []  # Retry-After values seen in this round
        why: list[str] = []  # what went wrong in this round
        while pending:
            after.clear()
            why.clear()

            def on_part(rid: str, response: Any, exc: Exception | None) -> None:
                if exc is None and isinstance(response, dict):
                    results[rid] = response
                    del pending[rid]
                elif exc is None:
                    why.append("malformed JSON part")
                elif is_retryable(exc):
                    self.stats.throttled += http_status(exc) in (403, 429)
                    why.append(f"part HTTP {http_status(exc)}")
                    if ra := retry_after(exc):
                        after.append(ra)
                else:
                    failures[rid] = exc
                    del pending[rid]

            before = len(pending)
            now = list(pending)[: self._parts_that_fit(method, before)]
            self._spend(method, len(now), charge=False)
            self.stats.requests += 1
            batch = BatchHttpRequest(callback=on_part, batch_uri=batch_uri)
            for rid in now:
                batch.add(pending[rid], request_id=rid)
            # Charge the quota when the batch leaves, after the (slow) serialization.
            http = _ChargedHttp(pending[now[0]].http, self._charge, method, len(now))
            try:
                batch.execute(http=http)
            except HttpError as e:
                if not is_retryable(e):
                    if http_status(e) == 401:
                        raise self.reauth_error(e) from e
                    raise SourceError(f"{self.source_name}: batch refused: {e}") from e
                self.stats.throttled += http_status(e) in (403, 429)
                why.append(f"HTTP {http_status(e)}")
                if ra := retry_after(e):
                    after.append(ra)
            except RefreshError as e:
                if "invalid_grant" in str(e) or not getattr(e, "retryable", False):
                    raise self.reauth_error(e) from e
                why.append(f"token refresh: {e}")
            except (BatchError, KeyError, ValueError, TransportError, HttpLib2Error, OSError) as e:
                # A cut or malformed multipart answer: keep what the callback already got.
                why.append(f"bad batch response: {type(e).__name__}")
            finally:
                self._after_call()
            if any(
                http_status(f) == 401 for f in failures.values()
            ):  # the library already refreshed once and re-sent: the grant is gone
                raise self.reauth_error(next(iter(failures.values())))
            if not pending:
                break
            if not set(now) & set(pending):
                continue  # this round all went through; the rest was held back for quota
            # Progress resets the count: every round either shrinks `pending` or counts.
            attempt = 0 if len(pending) < before else attempt
            # Honour the longest Retry-After any part asked for.
            longest = max(after, key=lambda a: float(a) if a.isdigit() else 0.0, default=None)
            self._backoff(method, attempt, ", ".join(sorted(set(why))) or "retry", longest)
            attempt += 1
        return results, failures


class _ChargedHttp:
    """The request's own http, spending quota at the moment the batch is sent."""

    def __init__(self, inner: Any, charge: Callable[[str, int], None], method: str, n: int):
        self._inner, self._charge, self._method, self._n = inner, charge, method, n
        # googleapiclient looks for the credentials here (to refresh them before sending).
        self.credentials = getattr(inner, "credentials", None)

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self._charge(self._method, self._n)
        return self._inner.request(*args, **kwargs)


def chunks(items: Iterable[str], size: int) -> Iterable[list[str]]:
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
