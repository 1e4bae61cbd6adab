"""Missing periods in a run of open times: reported as ranges, never filled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from trading.marketdata.candles import from_epoch, timeframe_seconds

SATURDAY = 5  # weekday numbers as in datetime.weekday(): Monday is 0


@dataclass(frozen=True)
class Gap:
    """Open times ``start`` .. ``end`` (inclusive) are missing: ``missing`` periods."""

    start: datetime
    end: datetime
    missing: int

    def as_json(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "missing": self.missing}

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} .. {self.end:%Y-%m-%d %H:%M} UTC ({self.missing} missing)"


def _weekday(epoch: np.ndarray) -> np.ndarray:
    return (epoch // 86_400 + 3) % 7  # 1970-01-01 was a Thursday


def gaps_find(open_times: np.ndarray, *, timeframe: str, weekdays_only: bool = False) -> list[Gap]:
    """The gaps between the first and last of ``open_times`` (epoch seconds, any order, aligned).

    With ``weekdays_only`` (stock indexes), open times on Saturdays and Sundays are not expected,
    so a weekend is not a gap; a holiday still is (the table has no row for it).
    """
    step = timeframe_seconds(timeframe)
    times = np.unique(np.asarray(open_times, dtype=np.int64))
    if times.size < 2:
        return []
    breaks = np.flatnonzero(np.diff(times) > step)
    gaps = []
    for index in breaks:
        expected = np.arange(times[index] + step, times[index + 1], step, dtype=np.int64)
        if weekdays_only:
            expected = expected[_weekday(expected) < SATURDAY]
            if expected.size == 0:
                continue
        gaps.append(Gap(start=from_epoch(expected[0]), end=from_epoch(expected[-1]), missing=int(expected.size)))
    return gaps
