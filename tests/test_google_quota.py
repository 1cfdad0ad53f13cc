"""The Gmail quota bucket: never over budget in any window, close to it over time."""

from __future__ import annotations

import random

from fakes.google_server import FakeClock

from connectors.google_quota import QuotaBucket


def spend(bucket: QuotaBucket, clock: FakeClock, costs: list[int]) -> list[tuple[float, int]]:
    log = []
    for cost in costs:
        bucket.acquire(cost)
        log.append((clock.now, cost))
        clock.now += 0.03  # request latency
    return log


def test_units_spent_in_any_window_never_exceed_the_budget():
    clock = FakeClock()
    bucket = QuotaBucket(6000, clock=clock, sleep=clock.sleep, margin=0.0)
    rng = random.Random(7)
    log = spend(bucket, clock, [rng.choice([5, 20 * 50, 2, 20 * 13]) for _ in range(800)])
    for i, (t, _) in enumerate(log):
        window = sum(c for s, c in log[i:] if s < t + 60.0)
        assert window <= 6000


def test_the_budget_is_used_almost_fully_over_time():
    clock = FakeClock()
    bucket = QuotaBucket(6000, clock=clock, sleep=clock.sleep)
    log = spend(bucket, clock, [1000] * 600)  # 600 batches of 50 gets
    minutes = (log[-1][0] - log[0][0]) / 60
    assert bucket.total_units / ((minutes + 1) * 6000) >= 0.95


def test_a_request_larger_than_the_budget_waits_for_an_empty_window():
    clock = FakeClock()
    bucket = QuotaBucket(100, clock=clock, sleep=clock.sleep, margin=0.0)
    bucket.acquire(60)
    start = clock.now
    bucket.acquire(500)
    assert clock.now - start >= 60.0
