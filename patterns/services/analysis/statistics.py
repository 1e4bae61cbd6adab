"""The statistics analysis and walk-forward share: spaced random sets, p-values, intervals,
rank correlation and the confidence of a signal."""

from __future__ import annotations

import math

import numpy as np

BOOTSTRAP_DRAWS = 2000
SMALL_SAMPLE = 30


def spaced_random_sets(rng: np.random.Generator, length: int, size: int, gap: int, draws: int) -> np.ndarray:
    """``draws`` uniformly random sets of ``size`` positions in ``range(length)`` whose members
    are at least ``gap`` apart, as a sorted (draws, size) int array.

    A spaced set p_1 < … < p_m maps one-to-one to a plain set q_i = p_i - (i - 1)(gap - 1) of
    m distinct values in range(length - (m - 1)(gap - 1)); plain sets come from Floyd's
    algorithm, vectorised over draws.
    """
    gap = max(1, gap)
    slots = length - (size - 1) * (gap - 1)
    if size < 1 or slots < size:
        raise ValueError(f"cannot place {size} positions {gap} apart in {length}")
    chosen = np.empty((draws, size), dtype=np.int64)
    for column, upper in enumerate(range(slots - size, slots)):
        pick = rng.integers(0, upper + 1, size=draws)
        taken = (chosen[:, :column] == pick[:, None]).any(axis=1)
        chosen[:, column] = np.where(taken, upper, pick)
    chosen.sort(axis=1)
    return chosen + np.arange(size) * (gap - 1)


def permutation_p_value(observed: float, null: np.ndarray) -> float:
    """Two-sided: twice the smaller tail share (the observed set counts as one draw), at most 1."""
    below = (1 + np.count_nonzero(null <= observed)) / (1 + null.size)
    above = (1 + np.count_nonzero(null >= observed)) / (1 + null.size)
    return float(min(1.0, 2 * min(below, above)))


def bootstrap_interval(
    values: np.ndarray, rng: np.random.Generator, draws: int = BOOTSTRAP_DRAWS
) -> tuple[float, float] | None:
    """Percentile bootstrap 95% interval of the mean (None under two values)."""
    if values.size < 2:
        return None
    means = values[rng.integers(0, values.size, size=(draws, values.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None when undefined."""
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        return None
    rx, ry = _ranks(x[keep]), _ranks(y[keep])
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size)
    ranks[order] = np.arange(1, values.size + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return np.bincount(inverse, weights=ranks)[inverse] / counts[inverse]


def signal_confidence(returns: np.ndarray) -> float:
    """1 minus the two-sided normal p-value of the analogs' mean return against zero:
    erf(|t| / √2) with t = mean / (sd / √n). 0 means no evidence of a direction, near 1 means
    the analogs agree strongly. Spaced analogs do not share return windows, so treating them
    as independent is less wrong than it would be for neighbouring days; it is still a guide,
    not a probability of being right."""
    if returns.size < 2:
        return 0.0
    spread = returns.std(ddof=1)
    if spread == 0:
        return 1.0 if returns.mean() != 0 else 0.0
    t = returns.mean() / (spread / math.sqrt(returns.size))
    return float(math.erf(abs(t) / math.sqrt(2)))
