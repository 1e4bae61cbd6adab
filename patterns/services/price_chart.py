"""The data of a corpus' price chart with astro overlays: its market's daily candles, the
retrograde periods of chosen planets, new and full moons, and chosen aspects.

Overlays come from the astro encoder itself, not from the day index: retrograde periods from
the station search (``astro.retrograde_periods``), moon phases at their exact instants
(``astro.moon_phase_events``) and aspects from ``astro.compute_days``. A retrograde day is one
whose 00:00 UTC sky is retrograde (after the station retrograde, up to the station direct), as
the index and its filters count it. Markers fall on the first candle on or after their day, so
a full moon on a Saturday shows on Monday's bar of a weekday market.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from asterweb.errors import ApplicationError
from patterns.encoders import astro
from patterns.models import Corpus
from trading.marketdata.candles import SeriesKey
from trading.marketdata.selectors import candle_arrays

MOON_EVENTS = ("new", "full")


@dataclass(frozen=True)
class AspectSpan:
    """Days an aspect is within orb, and the day it is closest to exact."""

    aspect: str
    start: date
    end: date
    exact: date


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def corpus_candles(corpus: Corpus, start: date, end: date) -> tuple[list[date], list[dict]]:
    """Daily candles of the corpus market in [start, end], as chart bars keyed by day."""
    if not corpus.has_market:
        return [], []
    series = SeriesKey(corpus.market_exchange, corpus.market_symbol, corpus.market_type or "spot", "1d")
    arrays = candle_arrays(series=series, start=_utc_midnight(start), end=_utc_midnight(end + timedelta(days=1)))
    days = arrays.open_time.astype("datetime64[s]").astype("datetime64[D]").astype(date).tolist()
    bars = [
        {"time": day.isoformat(), "open": float(o), "high": float(h), "low": float(lo), "close": float(c)}
        for day, o, h, lo, c in zip(days, arrays.open, arrays.high, arrays.low, arrays.close, strict=True)
    ]
    return days, bars


def retrograde_spans(bodies: tuple[str, ...], start: date, end: date) -> dict[str, list[tuple[date, date]]]:
    """Each body's retrograde periods overlapping [start, end] (station retrograde, station direct)."""
    return {body: astro.retrograde_periods(body, start, end) for body in bodies}


def moon_events(start: date, end: date) -> list[tuple[datetime, str]]:
    """New and full moons from ``start`` 00:00 to ``end`` 24:00 UTC, at their exact instants."""
    found = astro.moon_phase_events(_utc_midnight(start), _utc_midnight(end + timedelta(days=1)))
    return [(instant, phase) for instant, phase in found if phase in MOON_EVENTS]


def aspect_spans(aspects: tuple[str, ...], start: date, end: date) -> list[AspectSpan]:
    """Runs of days (00:00 UTC) each aspect is within its default orb, with the closest day."""
    if not aspects:
        return []
    sky = astro.compute_days(start, end)
    days = sky.times.astype("datetime64[D]").astype(date).tolist()
    kinds = list(astro.ASPECTS)
    spans = []
    for name in aspects:
        first, kind, second = astro.aspect_name(*name.split("-")).split("-")
        strength = sky.aspect_strength[:, astro.BODY_PAIRS.index((first, second)), kinds.index(kind)]
        inside = np.concatenate([[False], strength > 0, [False]])
        edges = np.flatnonzero(np.diff(inside.astype(np.int8)))
        for begin, stop in zip(edges[::2], edges[1::2], strict=True):
            closest = begin + int(np.argmax(strength[begin:stop]))
            spans.append(AspectSpan(f"{first}-{kind}-{second}", days[begin], days[stop - 1], days[closest]))
    return sorted(spans, key=lambda span: (span.exact, span.aspect))


def _on_or_after(days: list[date], day: date) -> date | None:
    at = int(np.searchsorted(np.array(days, dtype="datetime64[D]"), np.datetime64(day, "D")))
    return days[at] if at < len(days) else None


def price_chart_data(
    corpus: Corpus,
    *,
    start: date,
    end: date,
    retrograde: tuple[str, ...] = (),
    aspects: tuple[str, ...] = (),
    moon: bool = True,
) -> dict:
    """Candles of the corpus market in [start, end] with the chosen overlays, ready to plot."""
    if not astro.MIN_DATE <= start <= end <= astro.MAX_DATE:
        raise ApplicationError(
            f"Choose days between {astro.MIN_DATE} and {astro.MAX_DATE}, the start before the end.",
            fields={"start": ["Out of range."]},
        )
    days, candles = corpus_candles(corpus, start, end)
    data: dict = {
        "symbol": corpus.market_symbol,
        "exchange": corpus.market_exchange,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "candles": candles,
        "retrograde": [],
        "markers": [],
        "aspects": [],
    }
    if not days:
        return data
    day_array = np.array(days, dtype="datetime64[D]")
    for body, periods in retrograde_spans(retrograde, start, end).items():
        inside = np.zeros(day_array.size, dtype=bool)
        for station_retrograde, station_direct in periods:
            inside |= (day_array > np.datetime64(station_retrograde)) & (day_array <= np.datetime64(station_direct))
        data["retrograde"].append(
            {
                "body": body,
                "periods": [{"start": a.isoformat(), "end": b.isoformat()} for a, b in periods],
                "days": [days[at].isoformat() for at in np.flatnonzero(inside)],
            }
        )
    markers = []
    if moon:
        for instant, phase in moon_events(start, end):
            bar = _on_or_after(days, instant.date())
            if bar is not None:
                markers.append(
                    {"time": bar.isoformat(), "kind": f"{phase}_moon", "text": phase.capitalize(), "at": instant}
                )
    for span in aspect_spans(aspects, start, end):
        data["aspects"].append(
            {"aspect": span.aspect, "start": span.start, "end": span.end, "exact": span.exact.isoformat()}
        )
        bar = _on_or_after(days, span.exact)
        if bar is not None:
            markers.append({"time": bar.isoformat(), "kind": "aspect", "text": span.aspect, "at": span.exact})
    data["markers"] = sorted(markers, key=lambda marker: (marker["time"], marker["kind"]))
    return data
