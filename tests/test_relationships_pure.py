"""The judging maths of syncd.relationships, on plain values: no store, no database."""

from __future__ import annotations

import math
from datetime import date

import pytest

from syncd.config import PersonEntry, Rules
from syncd.models import AddressSummary, Contact, PersonSettings, decay_to
from syncd.relationships import (
    Group,
    balance,
    identities,
    infer_rhythm,
    judge_group,
    merged_recent_days,
    month_labels,
    monthly_counts,
    overdue_by,
    person_settings,
    rank_key,
    tie_strength,
    urgency,
)
from syncd.rules import EPOCH

RULES = Rules(default_rhythm=60, min_rhythm=7, max_rhythm=365, slack=0.25, forget_after=1095)


def day(iso: str) -> int:
    return (date.fromisoformat(iso) - EPOCH).days


def summary(address: str, **kw: object) -> AddressSummary:
    base: dict[str, object] = dict(
        address=address, days=1, last_ts=0, n_out=0, n_in=0, n_meet=0, wsum=0.0,
        last_in_ts=0, last_mine_ts=0, recent=(),
    )  # fmt: skip
    return AddressSummary(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("days", "pinned", "expected"),
    [
        ([50, 40, 30, 20], None, (10, "inferred")),
        ([100, 99, 98], None, (7, "inferred")),  # bounded by min_rhythm
        ([2000, 1000, 0], None, (365, "inferred")),  # and by max_rhythm
        ([50, 40], None, (60, "default")),  # two days are not a rhythm yet
        ([50, 40, 30, 20], 14, (14, "pinned")),
    ],
)
def test_rhythm_is_pinned_or_the_bounded_median_gap_or_the_default(
    days: list[int], pinned: int | None, expected: tuple[int, str]
) -> None:
    assert infer_rhythm(days, pinned, RULES) == expected


def test_balance_rewards_two_way_contact() -> None:
    assert balance(5, 3, 2) == 1.0
    assert balance(10, 0, 0) == 0.6
    assert balance(4, 1, 1) == pytest.approx(0.6 + 0.4 * 2 / 4)
    assert balance(0, 0, 3) == 0.8  # only meetings
    assert balance(0, 5, 0) == 0.5  # only their mail
    assert tie_strength(4.0, 5, 5, 0) == 2.0


def test_overdue_means_past_the_rhythm_plus_slack() -> None:
    assert overdue_by(12, 10, 0.25) is None  # threshold 12.5
    assert overdue_by(13, 10, 0.25) == 1
    assert overdue_by(40, 10, 0.25) == 28
    assert urgency(2.0, 30, 10) == 6.0
    assert urgency(2.0, 300, 10) == 12.0  # at most six rhythms


def test_a_group_is_judged_from_its_summaries() -> None:
    as_of = day("2026-06-30")
    ts = (day("2026-05-01") * 86400) + 43200
    a = summary("bob@home.example", days=4, last_ts=ts, n_out=3, n_in=1, wsum=2.0,
                last_in_ts=ts - 86400, last_mine_ts=ts, recent=(day("2026-05-01"),))  # fmt: skip
    b = summary("bob@work.example", days=2, last_ts=ts - 86400 * 30, n_meet=2, wsum=2.0)
    decay = decay_to(ts)
    g = Group("bob@home.example", ["bob@home.example", "bob@work.example"], [a, b],
              [day("2026-05-01"), day("2026-04-20"), day("2026-04-10")], 6)  # fmt: skip
    p = judge_group(g, PersonSettings(muted=True), "Bob", None, decay, as_of, day("2026-05-01"),
                    RULES)  # fmt: skip
    assert (p.rhythm_days, p.rhythm_source) == (10, "inferred")
    assert p.days_since == 60 and p.overdue and p.overdue_days == 48
    assert (p.n_out, p.n_in, p.n_meet, p.contact_days) == (3, 1, 2, 6)
    assert p.strength == pytest.approx(math.sqrt(4.0 * decay) * 1.0)
    assert p.score == pytest.approx(p.strength * 6.0)
    assert p.muted and p.tracked and not p.forgotten
    assert (p.last_in_ts, p.last_mine_ts) == (ts - 86400, ts)


def test_people_who_only_wrote_are_not_tracked_nor_overdue() -> None:
    s = summary("eve@x.example", n_in=5, last_ts=0, wsum=1.0, recent=(1, 2, 3))
    p = judge_group(Group("eve@x.example", ["eve@x.example"], [s], [3, 2, 1], 3),
                    PersonSettings(), "Eve", None, 1.0, 1000, 0, RULES)  # fmt: skip
    assert not p.tracked and not p.overdue and p.score == 0.0 and p.forgotten is False


def test_identities_merge_declared_people_address_book_and_cli_merges() -> None:
    ids = identities(
        ["me@x.example"],
        [PersonEntry("Heidi", ("heidi@work.example", "heidi@home.example"))],
        [Contact("c1", "Bob", ("bob@a.example", "bob@b.example", "me@x.example"))],
        [("carol@c.example", "carol@d.example")],
    )
    assert ids.find("heidi@work.example") == ids.find("heidi@home.example")
    assert ids.find("bob@b.example") == "bob@a.example"
    assert ids.find("carol@d.example") == ids.find("carol@c.example")
    assert ids.find("me@x.example") == "me@x.example"  # never merged into anyone


def test_config_people_settings_win_over_stored_ones_field_by_field() -> None:
    ids = identities([], [PersonEntry("Heidi", ("h@x.example",), every=30)], [], {})
    stored = {"h@x.example": PersonSettings("heidi", 7, False, date(2026, 7, 1), None)}
    got = person_settings(stored, [PersonEntry("Heidi", ("h@x.example",), every=30)], ids)
    assert got == {"h@x.example": PersonSettings("Heidi", 30, False, date(2026, 7, 1), None)}


def test_recent_days_of_several_addresses_merge_newest_first() -> None:
    assert merged_recent_days([(9, 5, 1), (9, 7)]) == [9, 7, 5, 1]
    assert len(merged_recent_days([range(100, 0, -1)])) == 13


def test_monthly_counts_cover_twelve_months_ending_with_the_as_of_month() -> None:
    labels = month_labels(date(2026, 2, 10), 12)
    assert labels[0] == (2025, 3) and labels[-1] == (2026, 2)
    counts = monthly_counts([day("2026-02-01"), day("2026-02-03"), day("2025-03-31")], labels)
    assert counts[0] == ("2025-03", 1) and counts[-1] == ("2026-02", 2)
    assert sum(n for _, n in counts) == 3


def test_ranking_puts_the_most_urgent_first() -> None:
    a = judge_group(
        Group("a@x", ["a@x"], [summary("a@x", n_out=1, wsum=1.0)], [], 1),
        PersonSettings(), "A", None, 1.0, 200, 0, RULES,
    )  # fmt: skip
    b = judge_group(
        Group("b@x", ["b@x"], [summary("b@x", n_out=1, wsum=4.0)], [], 1),
        PersonSettings(), "B", None, 1.0, 200, 0, RULES,
    )  # fmt: skip
    assert sorted([a, b], key=rank_key) == [b, a]
