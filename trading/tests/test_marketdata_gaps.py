"""trading.marketdata.gaps.gaps_find on runs of open times written out by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from trading.marketdata.gaps import Gap, gaps_find


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_no_gap_in_a_complete_run_in_any_order():
    times = [epoch(f"2024-05-01 {hour:02d}:00") for hour in (3, 0, 2, 1)]

    assert gaps_find(np.array(times), timeframe="1h") == []


def test_each_break_is_one_gap_with_its_first_and_last_missing_time():
    times = [epoch(t) for t in ("2024-05-01 00:00", "2024-05-01 01:00", "2024-05-01 05:00", "2024-05-01 07:00")]

    assert gaps_find(np.array(times), timeframe="1h") == [
        Gap(at("2024-05-01 02:00"), at("2024-05-01 04:00"), 3),
        Gap(at("2024-05-01 06:00"), at("2024-05-01 06:00"), 1),
    ]


def test_weekends_are_not_gaps_on_a_weekdays_calendar_but_holidays_are():
    # Friday 2024-03-22, then Monday 25, Tuesday 26; Wednesday 27 missing (a holiday); Thursday 28.
    days = [epoch(d) for d in ("2024-03-22 00:00", "2024-03-25 00:00", "2024-03-26 00:00", "2024-03-28 00:00")]

    assert gaps_find(np.array(days), timeframe="1d", weekdays_only=True) == [
        Gap(at("2024-03-27 00:00"), at("2024-03-27 00:00"), 1)
    ]
    assert gaps_find(np.array(days), timeframe="1d") == [
        Gap(at("2024-03-23 00:00"), at("2024-03-24 00:00"), 2),
        Gap(at("2024-03-27 00:00"), at("2024-03-27 00:00"), 1),
    ]


def test_a_gap_spanning_a_weekend_counts_only_its_weekdays():
    # Thursday 2024-03-21, then Tuesday 26: Friday 22 and Monday 25 are missing.
    days = [epoch("2024-03-21 00:00"), epoch("2024-03-26 00:00")]

    assert gaps_find(np.array(days), timeframe="1d", weekdays_only=True) == [
        Gap(at("2024-03-22 00:00"), at("2024-03-25 00:00"), 2)
    ]
    assert str(gaps_find(np.array(days), timeframe="1d")[0]) == "2024-03-22 00:00 .. 2024-03-25 00:00 UTC (4 missing)"
