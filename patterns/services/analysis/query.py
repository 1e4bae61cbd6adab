"""Analysing a query: its analogs' forward returns against the unconditional baseline of the
same period, with a spacing-aware permutation p-value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from asterweb.errors import ApplicationError
from patterns.models import Corpus
from patterns.services.analysis.analogs import Analog, analog_days, eligible_mask, filter_mask
from patterns.services.analysis.checks import check_horizon_k, require_market
from patterns.services.analysis.matrix import CorpusMatrix, corpus_matrix
from patterns.services.analysis.statistics import (
    SMALL_SAMPLE,
    bootstrap_interval,
    permutation_p_value,
    spaced_random_sets,
)
from patterns.services.search import _SLICES, SearchRequest, Weights, build_query_vector

PERMUTATION_DRAWS = 2000
HISTOGRAM_BINS = 20


@dataclass(frozen=True)
class Analysis:
    horizon: int
    k: int
    as_of: date | None
    analogs: list[Analog]
    eligible_days: int
    analog_stats: dict
    baseline_stats: dict
    baseline_from: date
    baseline_to: date
    difference_of_means: float | None
    p_value: float | None
    permutation_draws: int
    ci95: tuple[float, float] | None
    histogram: dict
    notes: list[str]

    def as_dict(self) -> dict:
        return {
            "horizon": self.horizon,
            "k": self.k,
            "as_of": self.as_of,
            "analogs": [
                {"day": item.day, "similarity": item.similarity, "forward_return": item.forward_return}
                for item in self.analogs
            ],
            "eligible_days": self.eligible_days,
            "analog_stats": self.analog_stats,
            "baseline_stats": {**self.baseline_stats, "period_from": self.baseline_from, "period_to": self.baseline_to},
            "difference_of_means": self.difference_of_means,
            "p_value": self.p_value,
            "permutation_draws": self.permutation_draws,
            "ci95": None if self.ci95 is None else {"low": self.ci95[0], "high": self.ci95[1]},
            "histogram": self.histogram,
            "notes": self.notes,
        }


def analyse(
    corpus: Corpus, request: SearchRequest, horizon: int = 5, k: int = 20, as_of: date | None = None
) -> Analysis:
    """k analogs of a text/date/filter query and their forward returns against the
    unconditional distribution of the same period, with a spacing-aware permutation p-value."""
    check_horizon_k(horizon, k)
    require_market(corpus)
    matrix = corpus_matrix(corpus)
    first, last = matrix.days[0].astype(date), matrix.days[-1].astype(date)
    if as_of is not None and not first <= as_of <= last:
        raise ApplicationError(
            f"as_of {as_of} is outside this corpus ({first} to {last}).", fields={"as_of": ["Outside the corpus."]}
        )
    if as_of is not None and request.day is not None and as_of < request.day:
        raise ApplicationError(
            "as_of is before the query day, whose own data was not known yet.",
            fields={"as_of": ["On or after the query day."]},
        )
    query, active = build_query_vector(corpus, request)
    parts = {name: query[_SLICES[name]] / weight for name, weight in active.items()} if query is not None else {}
    return analyse_matrix(
        matrix,
        parts,
        request.weights,
        target_day=as_of or request.day,
        horizon=horizon,
        k=k,
        allowed=filter_mask(corpus, request, matrix),
        as_of=as_of,
    )


def analyse_matrix(
    matrix: CorpusMatrix,
    query_vector_parts: dict[str, np.ndarray | None],
    weights: Weights,
    *,
    target_day: date | None,
    horizon: int,
    k: int,
    allowed: np.ndarray | None = None,
    as_of: date | None = None,
    draws: int = PERMUTATION_DRAWS,
    seed: int = 0,
) -> Analysis:
    """``analyse`` on arrays (no database)."""
    pool = eligible_mask(matrix, horizon, target_day)
    if allowed is not None:
        pool &= allowed
    if not pool.any():
        cutoff = f" whose {horizon}-bar window ended by {target_day}" if target_day else ""
        raise ApplicationError(
            f"No day can serve as an analog: analogs need a forward return{cutoff} and must match the filters.",
            code="no_analogs",
        )
    analogs = analog_days(matrix, query_vector_parts, weights, target_day, horizon, k, allowed=allowed)
    forward = matrix.forward_return(horizon)
    eligible = np.flatnonzero(pool)
    period = np.zeros(len(matrix), bool)
    period[eligible[0] : eligible[-1] + 1] = True
    baseline_index = np.flatnonzero(period & np.isfinite(forward))  # consecutive bars: see corpus_matrix_build
    baseline = forward[baseline_index]
    returns = np.array([item.forward_return for item in analogs])
    rng = np.random.default_rng(seed)
    null = baseline[spaced_random_sets(rng, baseline.size, returns.size, horizon, draws)].mean(axis=1)
    analog_stats, baseline_stats = _summary(returns), _summary(baseline)
    p_value = permutation_p_value(float(returns.mean()), null)
    return Analysis(
        horizon=horizon,
        k=k,
        as_of=as_of,
        analogs=analogs,
        eligible_days=int(pool.sum()),
        analog_stats=analog_stats,
        baseline_stats=baseline_stats,
        baseline_from=matrix.days[baseline_index[0]].astype(date),
        baseline_to=matrix.days[baseline_index[-1]].astype(date),
        difference_of_means=analog_stats["mean"] - baseline_stats["mean"],
        p_value=p_value,
        permutation_draws=draws,
        ci95=bootstrap_interval(returns, rng),
        histogram=_histogram(returns, baseline),
        notes=_analysis_notes(len(analogs), k, horizon, p_value, target_day),
    )


def _summary(values: np.ndarray) -> dict:
    return {
        "n": int(values.size),
        "mean": float(values.mean()) if values.size else None,
        "median": float(np.median(values)) if values.size else None,
        "hit_rate": float((values > 0).mean()) if values.size else None,
        "std": float(values.std(ddof=1)) if values.size > 1 else None,
    }


def _histogram(analogs: np.ndarray, baseline: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict:
    both = np.concatenate([analogs, baseline])
    low, high = float(both.min()), float(both.max())
    if low == high:
        low, high = low - 0.005, high + 0.005
    edges = np.linspace(low, high, bins + 1)
    return {
        "edges": edges.tolist(),
        "analog_counts": np.histogram(analogs, edges)[0].tolist(),
        "baseline_counts": np.histogram(baseline, edges)[0].tolist(),
    }


def _analysis_notes(n: int, k: int, horizon: int, p_value: float, target_day: date | None) -> list[str]:
    notes = []
    if n < k:
        notes.append(f"Only {n} of the {k} analogs asked for could be found {horizon} bars apart in the eligible days.")
    if n < SMALL_SAMPLE:
        notes.append(
            f"Small sample: {n} analogs. Under 30, one or two unusual days can move the mean a lot; read the "
            "interval, not the point estimate."
        )
    notes.append(
        f"Forward returns over {horizon} bars overlap for days fewer than {horizon} bars apart. Analogs are kept "
        f"at least {horizon} bars apart, and the p-value compares them with random sets spaced the same way, so "
        "overlap does not inflate it; the baseline histogram still counts overlapping windows."
    )
    notes.append(
        f"The p-value ({p_value:.3f}) is the chance that a random set of the same size from the same period "
        "differs from the baseline at least this much. Multiple testing: if you try 20 queries, about one will "
        "look significant at 5% by chance alone; a pattern found by searching needs confirming on other data, "
        "e.g. the walk-forward evaluation."
    )
    if target_day is None:
        notes.append("No day or as_of date was given: analogs come from all of history, so this describes the past.")
    else:
        notes.append(f"Point-in-time: only analogs whose {horizon}-bar outcome was known by {target_day} are used.")
    return notes
