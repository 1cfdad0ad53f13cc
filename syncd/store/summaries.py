"""Per-address summaries of contact rows (``address_summary``): computed from the rows, or
grown from a stored summary by rows an address gained, with the same result."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from syncd.models import RECENT_DAYS, SUMMARY_T0, SUMMARY_TAU, AddressSummary, ContactRow
from syncd.store.connection import marks

LOG_COLUMNS = "interaction_id, address, ts, day, kind, dir, weight, name"
SUMMARY_COLUMNS = (
    "address, days, last_ts, n_out, n_in, n_meet, wsum, last_in_ts, last_mine_ts, recent"
)
# Per address: distinct days, last ts, #out, #in, #meet, decayed weight sum, last ts of their
# personal mail, last ts of the user's mail or a meeting.
_AGGREGATES = """
    SELECT address, count(DISTINCT day), max(ts),
           sum(dir = 'out'), sum(dir = 'in'), sum(dir = 'meet'),
           sum(weight * exp((ts - {t0}) / {tau})),
           max(CASE WHEN dir = 'in' THEN ts ELSE 0 END),
           max(CASE WHEN dir != 'in' THEN ts ELSE 0 END)
    FROM contact_log WHERE {where} GROUP BY address
""".replace("{t0}", str(SUMMARY_T0)).replace("{tau}", repr(SUMMARY_TAU))
_RECENT = """
    SELECT address, day FROM (
        SELECT address, day, row_number() OVER (PARTITION BY address ORDER BY day DESC) AS rn
        FROM (SELECT DISTINCT address, day FROM contact_log WHERE {where})
    ) WHERE rn <= ? ORDER BY address, day DESC
"""


def log_row(r: ContactRow) -> tuple[Any, ...]:
    return (r.interaction_id, r.address, r.ts, r.day, r.kind, r.dir, r.weight, r.name)


def read_summaries(
    sql: sqlite3.Connection, query: str, args: Sequence[Any]
) -> Iterator[AddressSummary]:
    """The summaries a query over ``address_summary`` (SUMMARY_COLUMNS) returns."""
    for (
        a,
        days,
        last,
        n_out,
        n_in,
        n_meet,
        wsum,
        last_in,
        last_mine,
        recent,
    ) in sql.execute(query, args):
        yield AddressSummary(
            a, days, last, n_out, n_in, n_meet, wsum, last_in, last_mine,
            tuple(json.loads(recent)),
        )  # fmt: skip


def summaries_from_log(
    sql: sqlite3.Connection, addresses: Sequence[str] | None, until_ts: int | None
) -> list[AddressSummary]:
    """Summaries computed from contact_log: of ``addresses`` (None: all), up to
    ``until_ts`` (None: all time)."""
    where: list[str] = []
    args: list[Any] = []
    if addresses is not None:
        where.append(f"address IN ({marks(len(addresses))})")
        args.extend(addresses)
    if until_ts is not None:
        where.append("ts <= ?")
        args.append(until_ts)
    cond = " AND ".join(where) or "1"
    recent: dict[str, list[int]] = {}
    for address, day in sql.execute(_RECENT.format(where=cond), (*args, RECENT_DAYS)):
        recent.setdefault(address, []).append(day)
    return [
        AddressSummary(a, days, last, n_out, n_in, n_meet, wsum, last_in, last_mine,
                       tuple(recent.get(a, ())))
        for a, days, last, n_out, n_in, n_meet, wsum, last_in, last_mine in sql.execute(
            _AGGREGATES.format(where=cond), args
        )
    ]  # fmt: skip


def grow(
    s: AddressSummary | None,
    address: str,
    rows: Sequence[tuple[Any, ...]],
    had_day: Callable[[int], bool],
) -> AddressSummary:
    """The summary of ``address`` (stored as ``s``, None if it had none) after gaining
    ``rows`` (contact_log rows as tuples); ``had_day`` says whether it had a contact on a
    given day before them."""
    recent = s.recent if s else ()
    # A day is new unless the address already had a contact on it. The stored summary knows
    # its newest RECENT_DAYS days: when it has fewer, those are all of them; a day newer than
    # all of them is new; only an older one needs a look (had_day).
    complete = len(recent) < RECENT_DAYS
    new_days = set()
    for day in {r[3] for r in rows}:
        if day in recent:
            continue
        if complete or (recent and day > recent[0]) or not had_day(day):
            new_days.add(day)
    wsum = s.wsum if s else 0.0
    for r in rows:
        wsum += r[6] * growth(r[2])
    return AddressSummary(
        address=address,
        days=(s.days if s else 0) + len(new_days),
        last_ts=max([s.last_ts if s else 0, *(r[2] for r in rows)]),
        n_out=(s.n_out if s else 0) + sum(r[5] == "out" for r in rows),
        n_in=(s.n_in if s else 0) + sum(r[5] == "in" for r in rows),
        n_meet=(s.n_meet if s else 0) + sum(r[5] == "meet" for r in rows),
        wsum=wsum,
        last_in_ts=max([s.last_in_ts if s else 0, *(r[2] for r in rows if r[5] == "in")]),
        last_mine_ts=max([s.last_mine_ts if s else 0, *(r[2] for r in rows if r[5] != "in")]),
        recent=tuple(sorted(set(recent) | new_days, reverse=True)[:RECENT_DAYS]),
    )


def growth(ts: int) -> float:
    """What a contact at ``ts`` adds to a stored weight sum, per unit of weight."""
    return math.exp((ts - SUMMARY_T0) / SUMMARY_TAU)


def summary_values(s: AddressSummary) -> tuple[Any, ...]:
    return (
        s.address, s.days, s.last_ts, s.n_out, s.n_in, s.n_meet, s.wsum, s.last_in_ts,
        s.last_mine_ts, json.dumps(list(s.recent)),
    )  # fmt: skip
