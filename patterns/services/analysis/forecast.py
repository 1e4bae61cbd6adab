"""The analog signal strategies call, and its walk-forward evaluation against realized returns
and a random-analog baseline."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np

from asterweb.errors import ApplicationError
from patterns.models import Corpus
from patterns.services.analysis.analogs import analog_days, eligible_mask
from patterns.services.analysis.checks import check_horizon_k, require_market
from patterns.services.analysis.matrix import CorpusMatrix, corpus_matrix
from patterns.services.analysis.statistics import SMALL_SAMPLE, signal_confidence, spaced_random_sets, spearman
from patterns.services.search import COMPONENTS, Weights


@dataclass(frozen=True)
class AnalogSignal:
    expected_return: float | None  # mean forward return of the analogs; None when there are none
    confidence: float  # signal_confidence(): in [0, 1]
    analogs_used: list[tuple[date, float, float]]  # (day, similarity, forward return)


def analog_signal(
    corpus: Corpus, symbol: str, day: date, *, horizon: int = 5, k: int = 20, weights: Weights | None = None
) -> AnalogSignal:
    """The analog forecast for ``day`` (its own stored vectors as the query), point-in-time."""
    if not corpus.has_market or symbol != corpus.market_symbol:
        market = corpus.market_symbol or "no market"
        raise ApplicationError(
            f"This corpus forecasts {market}, not {symbol}.",
            code="wrong_symbol",
            fields={"symbol": ["Not this corpus' market."]},
        )
    check_horizon_k(horizon, k)
    weights = weights or Weights()
    _require_some_weight(weights)
    matrix = corpus_matrix(corpus)
    index = _day_index(matrix, day, "day")
    return analog_signal_matrix(matrix, index, horizon=horizon, k=k, weights=weights)


def _day_index(matrix: CorpusMatrix, day: date, field_name: str) -> int:
    index = matrix.index_of(day)
    if index is None:
        first, last = matrix.days[0].astype(date), matrix.days[-1].astype(date)
        raise ApplicationError(
            f"{day} is not a day of this corpus ({first} to {last}).", fields={field_name: ["Not in this corpus."]}
        )
    return index


def _require_some_weight(weights: Weights) -> None:
    if not any(getattr(weights, name) > 0 for name in COMPONENTS):
        raise ApplicationError(
            "Every component is weighted 0: raise a weight above 0.", fields={"weights": ["At least one above 0."]}
        )


def analog_signal_matrix(matrix: CorpusMatrix, index: int, *, horizon: int, k: int, weights: Weights) -> AnalogSignal:
    """``analog_signal`` for row ``index`` of the arrays; no analogs when the day has none of
    the weighted components (never a fallback to merely recent days)."""
    parts = matrix.day_parts(index)
    if not any(parts[name] is not None and getattr(weights, name) > 0 for name in COMPONENTS):
        return AnalogSignal(expected_return=None, confidence=0.0, analogs_used=[])
    analogs = analog_days(matrix, parts, weights, matrix.days[index], horizon, k)
    returns = np.array([item.forward_return for item in analogs])
    return AnalogSignal(
        expected_return=float(returns.mean()) if returns.size else None,
        confidence=signal_confidence(returns),
        analogs_used=[(item.day, item.similarity, item.forward_return) for item in analogs],
    )


# ---------------------------------------------------------------- walk-forward evaluation


def long_short_returns(signal: np.ndarray, realized: np.ndarray, fee_bps: float) -> np.ndarray:
    """Per-period returns of position = sign(signal) (flat without a signal), minus
    ``fee_bps`` on each unit of position change (entering costs 1, flipping costs 2)."""
    position = np.sign(np.nan_to_num(signal, nan=0.0))
    turnover = np.abs(np.diff(position, prepend=0.0))
    return position * realized - turnover * fee_bps / 10_000


def annualised_sharpe(returns: np.ndarray, periods_per_year: float) -> float | None:
    """mean / sd (ddof 1) * √(periods per year); None when undefined."""
    if returns.size < 2 or returns.std(ddof=1) == 0:
        return None
    return float(returns.mean() / returns.std(ddof=1) * math.sqrt(periods_per_year))


def _hit_rate(signal: np.ndarray, realized: np.ndarray) -> float | None:
    called = np.isfinite(signal) & (signal != 0)
    return float((np.sign(signal[called]) == np.sign(realized[called])).mean()) if called.any() else None


@dataclass(frozen=True)
class WalkForward:
    horizon: int
    k: int
    fee_bps: float
    days: list[date]
    signal: np.ndarray
    realized: np.ndarray
    strategy: dict
    baseline: dict
    equity: dict[str, list[float]]
    notes: list[str]

    def as_dict(self) -> dict:
        return {
            "horizon": self.horizon,
            "k": self.k,
            "fee_bps": self.fee_bps,
            "periods": len(self.days),
            "strategy": self.strategy,
            "baseline": self.baseline,
            "equity": [
                {"day": day, **{name: curve[row] for name, curve in self.equity.items()}}
                for row, day in enumerate(self.days)
            ],
            "notes": self.notes,
        }


def walk_forward(
    corpus: Corpus,
    start: date,
    end: date,
    *,
    horizon: int = 5,
    k: int = 20,
    weights: Weights | None = None,
    fee_bps: float = 10,
    baseline_runs: int = 20,
    seed: int = 0,
) -> WalkForward:
    """Evaluate the analog signal every ``horizon`` bars in [start, end] against realized
    returns and against a random-analog baseline."""
    check_horizon_k(horizon, k)
    require_market(corpus)
    matrix = corpus_matrix(corpus)
    first, last = matrix.days[0].astype(date), matrix.days[-1].astype(date)
    for name, value in (("start", start), ("end", end)):
        if not first <= value <= last:
            raise ApplicationError(
                f"{name} {value} is outside this corpus ({first} to {last}).", fields={name: ["Outside the corpus."]}
            )
    if start > end:
        raise ApplicationError("The start date is after the end date.", fields={"start": ["After the end."]})
    return walk_forward_matrix(
        matrix,
        start,
        end,
        horizon=horizon,
        k=k,
        weights=weights or Weights(),
        fee_bps=fee_bps,
        baseline_runs=baseline_runs,
        seed=seed,
    )


def walk_forward_matrix(
    matrix: CorpusMatrix,
    start: date,
    end: date,
    *,
    horizon: int,
    k: int,
    weights: Weights,
    fee_bps: float,
    baseline_runs: int,
    seed: int,
) -> WalkForward:
    """``walk_forward`` on arrays (no database)."""
    _require_some_weight(weights)
    forward = matrix.forward_return(horizon)
    lower, upper = np.datetime64(start, "D"), np.datetime64(end, "D")
    candidates = np.flatnonzero(
        (matrix.bar >= 0) & (matrix.days >= lower) & (matrix.days <= upper) & np.isfinite(forward)
    )
    evaluated = candidates[::horizon]  # consecutive bars, so every horizon-th: windows abut, never overlap
    if evaluated.size < 2:
        raise ApplicationError(
            f"The period holds {evaluated.size} evaluation day(s) with a known {horizon}-bar outcome; widen it.",
            fields={"end": ["Too short a period."]},
        )
    rng = np.random.default_rng(seed)
    realized = forward[evaluated]
    signal = np.full(evaluated.size, np.nan)
    random_signal = np.full((baseline_runs, evaluated.size), np.nan)
    for row, index in enumerate(evaluated.tolist()):
        found = analog_signal_matrix(matrix, index, horizon=horizon, k=k, weights=weights)
        if found.expected_return is None:
            continue
        signal[row] = found.expected_return
        pool = np.flatnonzero(eligible_mask(matrix, horizon, matrix.days[index]))  # consecutive bars from the first
        sets = spaced_random_sets(rng, pool.size, len(found.analogs_used), horizon, baseline_runs)
        random_signal[:, row] = forward[pool[sets]].mean(axis=1)
    per_year = matrix.bars_per_year() / horizon
    strategy = _strategy_metrics(signal, realized, fee_bps, per_year)
    runs = [_strategy_metrics(random_signal[run], realized, fee_bps, per_year) for run in range(baseline_runs)]
    random_equity = np.array([np.cumprod(1 + long_short_returns(sig, realized, fee_bps)) for sig in random_signal])
    return WalkForward(
        horizon=horizon,
        k=k,
        fee_bps=fee_bps,
        days=[matrix.days[index].astype(date) for index in evaluated],
        signal=signal,
        realized=realized,
        strategy=strategy,
        baseline=_baseline_metrics(runs, strategy, baseline_runs),
        equity={
            "analog": np.cumprod(1 + long_short_returns(signal, realized, fee_bps)).tolist(),
            "random_median": np.median(random_equity, axis=0).tolist(),
            "buy_and_hold": np.cumprod(1 + realized).tolist(),
        },
        notes=_walk_forward_notes(int(np.isfinite(signal).sum()), evaluated.size, horizon, fee_bps),
    )


def _strategy_metrics(signal: np.ndarray, realized: np.ndarray, fee_bps: float, per_year: float) -> dict:
    returns = long_short_returns(signal, realized, fee_bps)
    return {
        "signals": int(np.isfinite(signal).sum()),
        "hit_rate": _hit_rate(signal, realized),
        "information_coefficient": spearman(signal, realized),
        "sharpe": annualised_sharpe(returns, per_year),
        "total_return": float(np.prod(1 + returns) - 1),
    }


def _mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    known = np.array([value for value in values if value is not None])
    if not known.size:
        return None, None
    return float(known.mean()), float(known.std(ddof=1)) if known.size > 1 else None


def _baseline_metrics(runs: list[dict], strategy: dict, count: int) -> dict:
    out: dict = {"runs": count}
    for name in ("hit_rate", "information_coefficient", "sharpe", "total_return"):
        out[f"{name}_mean"], out[f"{name}_std"] = _mean_std([run[name] for run in runs])
    sharpes = [run["sharpe"] for run in runs if run["sharpe"] is not None]
    out["share_of_runs_beaten"] = (
        float(np.mean([strategy["sharpe"] > value for value in sharpes]))
        if strategy["sharpe"] is not None and sharpes
        else None
    )
    return out


def _walk_forward_notes(with_signal: int, periods: int, horizon: int, fee_bps: float) -> list[str]:
    notes = [
        f"{periods} non-overlapping {horizon}-bar periods; the position is the sign of the analogs' mean return, "
        f"and {fee_bps:g} bps is charged per unit of position change (a flip from long to short pays twice).",
        "The baseline draws random analogs from the same point-in-time pool, spaced the same way: a strategy that "
        "does not beat most baseline runs has shown no skill, whatever its own Sharpe.",
    ]
    if with_signal < periods:
        notes.append(f"{periods - with_signal} period(s) had no eligible analog yet and stayed flat.")
    if periods < SMALL_SAMPLE:
        notes.append(f"Only {periods} periods: Sharpe and hit rate are very noisy; evaluate a longer period.")
    return notes
