"""Server-drawn figures (plain SVG and table classes: nothing inline for the CSP to block) and
the data the browser's time-series charts read through ``json_script``."""

from __future__ import annotations

import math
from datetime import date

HISTOGRAM_WIDTH, HISTOGRAM_HEIGHT = 640, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 12, 12, 36
HEATMAP_TOP_ROWS = 30
_HEAT_LEVELS = 3


def _percent(value: float) -> str:
    return f"{value * 100:+.1f}%" if value else "0%"


def histogram_figure(histogram: dict, analog_mean: float | None, baseline_mean: float | None) -> dict:
    """Bars of the share of analogs and of baseline days in each forward-return bin."""
    edges = histogram["edges"]
    analog, baseline = histogram["analog_counts"], histogram["baseline_counts"]
    analog_total, baseline_total = max(1, sum(analog)), max(1, sum(baseline))
    shares = [(a / analog_total, b / baseline_total) for a, b in zip(analog, baseline, strict=True)]
    top = max((max(pair) for pair in shares), default=0) or 1
    plot_width = HISTOGRAM_WIDTH - _LEFT - _RIGHT
    plot_height = HISTOGRAM_HEIGHT - _TOP - _BOTTOM
    low, high = edges[0], edges[-1]
    bin_width = plot_width / len(shares)

    def x_of(value: float) -> float:
        return round(_LEFT + (value - low) / (high - low) * plot_width, 2)

    def bar(share: float) -> tuple[float, float]:
        height = round(share / top * plot_height, 2)
        return round(_TOP + plot_height - height, 2), height

    bins = []
    for index, (analog_share, baseline_share) in enumerate(shares):
        left = _LEFT + index * bin_width
        baseline_y, baseline_height = bar(baseline_share)
        analog_y, analog_height = bar(analog_share)
        bins.append(
            {
                "baseline": {"x": round(left + 1, 2), "y": baseline_y, "height": baseline_height},
                "analog": {"x": round(left + bin_width / 2, 2), "y": analog_y, "height": analog_height},
                "width": round(bin_width / 2 - 1, 2),
                "title": f"{_percent(edges[index])} to {_percent(edges[index + 1])}: "
                f"{analog[index]} analog{'s' if analog[index] != 1 else ''} ({analog_share:.0%}), "
                f"{baseline[index]} baseline day{'s' if baseline[index] != 1 else ''} ({baseline_share:.0%})",
            }
        )
    step = max(1, len(edges) // 5)
    ticks = [{"x": x_of(edges[at]), "label": _percent(edges[at])} for at in range(0, len(edges), step)]
    lines = []
    for name, value in (("baseline", baseline_mean), ("analog", analog_mean)):
        if value is not None and low <= value <= high:
            lines.append({"kind": name, "x": x_of(value), "label": f"{name} mean {_percent(value)}"})
    if low < 0 < high:
        lines.append({"kind": "zero", "x": x_of(0.0), "label": "0%"})
    return {
        "width": HISTOGRAM_WIDTH,
        "height": HISTOGRAM_HEIGHT,
        "axis_y": _TOP + plot_height,
        "left": _LEFT,
        "right": HISTOGRAM_WIDTH - _RIGHT,
        "top": _TOP,
        "label_y": HISTOGRAM_HEIGHT - 12,
        "top_share": f"{top:.0%}",
        "bins": bins,
        "ticks": ticks,
        "lines": lines,
    }


def heatmap_table(heatmap: dict) -> dict:
    """Rows of aspects (largest departure from the baseline first), each cell with a colour class."""
    horizons = heatmap["horizons"]
    differences = [cell["difference"] for row in heatmap["rows"] for cell in row["cells"]]
    scale = max((abs(value) for value in differences if value is not None), default=0.0)
    rows = []
    for row in heatmap["rows"]:
        cells = []
        for cell in row["cells"]:
            difference = cell["difference"]
            if difference is None or scale == 0:
                css = "heat-none"
            else:
                level = max(1, math.ceil(abs(difference) / scale * _HEAT_LEVELS))
                css = f"heat-{'pos' if difference > 0 else 'neg'}-{level}"
            cells.append({**cell, "css": css})
        strongest = max((abs(cell["difference"]) for cell in cells if cell["difference"] is not None), default=0.0)
        rows.append({"aspect": row["aspect"], "cells": cells, "strongest": strongest})
    rows.sort(key=lambda row: (-row["strongest"], row["aspect"]))
    return {
        "horizons": horizons,
        "baseline": [heatmap["baseline_mean"].get(str(horizon)) for horizon in horizons],
        "min_days": heatmap["min_days"],
        "top": rows[:HEATMAP_TOP_ROWS],
        "rest": rows[HEATMAP_TOP_ROWS:],
        "count": len(rows),
        "notes": heatmap.get("notes", []),
    }


def timeline_series(timeline: dict, analogs: list[dict]) -> dict:
    """Every day's similarity, and the chosen analogs as markers, for the timeline chart."""
    return {
        "points": [
            {"time": day.isoformat() if isinstance(day, date) else day, "value": value}
            for day, value in zip(timeline["days"], timeline["similarity"], strict=True)
            if value is not None
        ],
        "filtered_out": sum(1 for passes in timeline["matches_filters"] if not passes),
        "analogs": sorted(
            (item["day"].isoformat() if isinstance(item["day"], date) else item["day"]) for item in analogs
        ),
    }


def equity_series(equity: list[dict]) -> dict:
    """The walk-forward equity curves, one list of points per curve."""
    return {
        name: [{"time": point["day"].isoformat(), "value": point[name]} for point in equity]
        for name in ("analog", "random_median", "buy_and_hold")
    }
