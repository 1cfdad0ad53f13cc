"""Retry policy shared by the HTTP connectors (Google, Microsoft Graph).

Full-jitter exponential backoff (``random(0, min(cap, base * 2**attempt))``), except that a
server's ``Retry-After`` is honoured when it gives one. When the attempts run out the caller
raises RetriesExhaustedError and keeps its cursor unchanged.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    base: float = 1.0
    cap: float = 64.0
    max_retry_after: float = 300.0  # never sleep longer than this on a server's say-so

    def delay(
        self, attempt: int, retry_after: str | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        parsed = parse_retry_after(retry_after)
        if parsed is not None:
            return min(parsed, self.max_retry_after)
        r = rng or random
        return r.uniform(0, min(self.cap, self.base * 2**attempt))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
