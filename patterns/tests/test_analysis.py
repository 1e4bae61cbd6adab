"""patterns.services.analysis on synthetic arrays with known answers (no database).

Expected values come from the construction of the data or from arithmetic done by hand in the
comments, never from running the code under test."""

from __future__ import annotations

import math
from datetime import date, timedelta
from itertools import combinations

import numpy as np
import pytest

from asterweb.errors import ApplicationError
from patterns.encoders.market import HORIZONS
from patterns.models import Corpus
from patterns.services.analysis import (
    analog_days,
    analog_signal,
    analog_signal_matrix,
    analyse_matrix,
    annualised_sharpe,
    aspect_heatmap_matrix,
    bootstrap_interval,
    corpus_matrix_build,
    long_short_returns,
    permutation_p_value,
    signal_confidence,
    spaced_random_sets,
    spearman,
    walk_forward_matrix,
)
from patterns.services.search import Weights

START = date(2001, 1, 1)
MARKET_ONLY = Weights(astro=0, news=0, market=1)


def _unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    rows = rng.normal(size=(n, dim))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _forward_from_closes(has_close: np.ndarray, closes: np.ndarray) -> np.ndarray:
    """Forward returns over h bars, written as the definition: close h bars later / close - 1."""
    forward = np.full((has_close.size, len(HORIZONS)), np.nan)
    bar_rows = np.flatnonzero(has_close)
    for position, row in enumerate(bar_rows):
        for column, horizon in enumerate(HORIZONS):
            if position + horizon < bar_rows.size:
                forward[row, column] = closes[position + horizon] / closes[position] - 1
    return forward


def _world(n: int, *, seed: int, weekends: bool = False, dim: int = 6, forward: np.ndarray | None = None):
    """A corpus of ``n`` calendar days with random astro and market vectors and a random-walk
    market; with ``weekends`` there is no bar on Saturdays and Sundays."""
    rng = np.random.default_rng(seed)
    days = np.datetime64(START) + np.arange(n)
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday: 0 = Monday
    has_close = weekday < 5 if weekends else np.ones(n, bool)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, size=int(has_close.sum()))))
    return corpus_matrix_build(
        days=days,
        vectors={"astro": _unit_rows(rng, n, dim), "market": _unit_rows(rng, n, dim)},
        forward=_forward_from_closes(has_close, closes) if forward is None else forward,
        has_close=has_close,
    )


def _window_end_by_walking(matrix, row: int, horizon: int) -> np.datetime64 | None:
    """The day of the ``horizon``-th bar after ``row``, found by walking the calendar."""
    seen = 0
    for later in range(row + 1, len(matrix)):
        if matrix.bar[later] >= 0:
            seen += 1
            if seen == horizon:
                return matrix.days[later]
    return None


# ---------------------------------------------------------------- point-in-time and spacing


def test_no_analog_ever_has_a_forward_window_reaching_past_the_analysed_day():
    matrix = _world(700, seed=1, weekends=True)
    rng = np.random.default_rng(2)
    checked = 0
    for _ in range(150):
        row = int(rng.integers(0, len(matrix)))
        horizon = int(rng.choice(HORIZONS))
        target = matrix.days[row]
        analogs = analog_days(matrix, matrix.day_parts(row), Weights(), target, horizon, 20)
        for analog in analogs:
            end = _window_end_by_walking(matrix, analog.index, horizon)
            assert end is not None and end <= target, (analog, horizon, target)
            checked += 1
        # The first analog is the most similar day whose window had ended (found by brute force).
        allowed = [
            other
            for other in range(len(matrix))
            if np.isfinite(matrix.forward_return(horizon)[other])
            and (end := _window_end_by_walking(matrix, other, horizon)) is not None
            and end <= target
        ]
        if allowed:
            query = matrix.day_parts(row)
            score = {
                other: (
                    float(matrix.vectors["astro"][other] @ query["astro"])
                    + float(matrix.vectors["market"][other] @ query["market"])
                )
                / 2
                for other in allowed
            }
            assert analogs[0].day == matrix.days[max(score, key=score.get)].astype(date)
        else:
            assert analogs == []
    assert checked > 1000


def test_a_friday_analog_of_a_sunday_needs_the_monday_close():
    # With a weekend gap the 1-bar window of a Friday ends on Monday: not known on Sunday.
    matrix = _world(60, seed=3, weekends=True)
    sunday = next(row for row in range(30, 60) if matrix.bar[row] < 0 and matrix.bar[row - 1] < 0)
    friday, monday = sunday - 2, sunday + 1
    days = {a.day for a in analog_days(matrix, matrix.day_parts(sunday), Weights(), matrix.days[sunday], 1, 200, 1)}
    assert matrix.days[friday].astype(date) not in days
    assert matrix.days[friday - 1].astype(date) in days  # Thursday's window ended on Friday
    days_monday = {
        a.day for a in analog_days(matrix, matrix.day_parts(monday), Weights(), matrix.days[monday], 1, 200, 1)
    }
    assert matrix.days[friday].astype(date) in days_monday


def _fan(n: int = 120, centre: int = 50):
    """Similarity falls with distance from ``centre``: day i is at angle 0.01·|i - centre|."""
    angle = 0.01 * np.abs(np.arange(n) - centre)
    market = np.column_stack([np.cos(angle), np.sin(angle)]).astype(np.float32)
    forward = np.tile(np.arange(n, dtype=float)[:, None] / 1000, (1, len(HORIZONS)))
    forward[-5:] = np.nan  # the last days have no outcome yet
    return corpus_matrix_build(
        days=np.datetime64(START) + np.arange(n),
        vectors={"market": market},
        forward=forward,
        has_close=np.ones(n, bool),
    )


def test_analogs_are_chosen_by_similarity_at_least_min_gap_bars_apart():
    matrix = _fan()
    query = {"market": np.array([1.0, 0.0], np.float32)}
    picked = analog_days(matrix, query, MARKET_ONLY, None, 5, 5)
    # Greedy by similarity: 50 first; 45 and 55 tie (the earlier day first); then 40 and 60.
    assert [(a.day - START).days for a in picked] == [50, 45, 55, 40, 60]
    assert [round(a.similarity, 6) for a in picked] == [
        1.0,
        round(math.cos(0.05), 6),
        round(math.cos(0.05), 6),
        round(math.cos(0.1), 6),
        round(math.cos(0.1), 6),
    ]
    assert picked[0].forward_return == pytest.approx(0.050)
    wide = analog_days(matrix, query, MARKET_ONLY, None, 1, 4, min_gap=20)
    assert [(a.day - START).days for a in wide] == [50, 30, 70, 10]


@pytest.mark.parametrize("horizon", HORIZONS)
def test_spacing_holds_for_every_pair_of_analogs(horizon):
    matrix = _world(900, seed=4, weekends=True)
    for row in (300, 500, 899):
        analogs = analog_days(matrix, matrix.day_parts(row), Weights(), matrix.days[row], horizon, 30)
        bars = [int(matrix.bar[a.index]) for a in analogs]
        assert all(abs(a - b) >= horizon for a, b in combinations(bars, 2))


def test_a_filter_only_query_takes_the_most_recent_eligible_days():
    matrix = _fan()
    allowed = np.zeros(len(matrix), bool)
    allowed[[3, 10, 11, 40, 90, 118]] = True  # 118 has no 5-bar outcome (n = 120)
    picked = analog_days(matrix, {}, Weights(), None, 5, 5, allowed=allowed)
    # Most recent first, 5 bars apart: 90, 40, 11 (10 is too close to 11), 3.
    assert [(a.day - START).days for a in picked] == [90, 40, 11, 3]
    assert all(a.similarity is None for a in picked)


# ---------------------------------------------------------------- the null and its p-value


def test_spaced_random_sets_are_uniform_over_all_spaced_sets():
    # Pairs in range(7) at least 3 apart: (0,3..6) (1,4..6) (2,5..6) (3,6) = 10 sets.
    sets = spaced_random_sets(np.random.default_rng(5), 7, 2, 3, 20_000)
    assert (np.diff(sets, axis=1) >= 3).all() and sets.min() >= 0 and sets.max() <= 6
    found, counts = np.unique(sets, axis=0, return_counts=True)
    assert len(found) == 10
    assert np.abs(counts / 20_000 - 0.1).max() < 0.015  # sd 0.0021 per set


def test_the_p_value_counts_both_tails():
    null = np.arange(1, 100, dtype=float)  # 99 draws
    # 5 or fewer: 5 draws (1..5) plus the observed → 6/100 below; twice that is 0.12.
    assert permutation_p_value(5.0, null) == pytest.approx(0.12)
    assert permutation_p_value(95.0, null) == pytest.approx(0.12)
    assert permutation_p_value(1000.0, null) == pytest.approx(0.02)
    assert permutation_p_value(50.0, null) == 1.0


@pytest.mark.parametrize(
    "days,k",
    [
        (500, 20),
        # Tight: 25 analogs 5 bars apart need 121 of the 155 days with an outcome. A null that
        # ignored the spacing would be far too wide here (p-values piling up near 1).
        (160, 25),
    ],
)
def test_p_values_on_pure_noise_are_uniform(days, k):
    # A random query on a random-walk market: the analogs carry no information.
    p_values = []
    for trial in range(200):
        matrix = _world(days, seed=1000 + trial)
        query = {"market": _unit_rows(np.random.default_rng(trial), 1, 6)[0]}
        result = analyse_matrix(matrix, query, MARKET_ONLY, target_day=None, horizon=5, k=k, draws=1000, seed=trial)
        p_values.append(result.p_value)
    p_values = np.array(p_values)
    # Binomial(200, 0.05): mean 10, sd 3.1; accept 2..20 (beyond about ±3 sd).
    assert 2 <= (p_values < 0.05).sum() <= 20
    assert 0.42 <= p_values.mean() <= 0.58  # uniform: 0.5, sd of the mean of 200 is 0.02
    assert 70 <= (p_values < 0.5).sum() <= 130


def _planted(n: int, *, seed: int, strength: float):
    """Forward returns that follow the first market feature: strength · x0 + noise(1%)."""
    rng = np.random.default_rng(seed)
    market = _unit_rows(rng, n, 6)
    forward = np.tile((strength * market[:, 0] + rng.normal(0, 0.01, n))[:, None], (1, len(HORIZONS)))
    forward[-20:] = np.nan
    return corpus_matrix_build(
        days=np.datetime64(START) + np.arange(n),
        vectors={"market": market},
        forward=forward,
        has_close=np.ones(n, bool),
    )


def test_a_planted_signal_gets_a_small_p_value_and_a_clear_difference():
    matrix = _planted(1500, seed=6, strength=0.03)
    query = {"market": np.eye(6, dtype=np.float32)[0]}
    result = analyse_matrix(matrix, query, MARKET_ONLY, target_day=None, horizon=5, k=30)
    assert len(result.analogs) == 30
    assert result.p_value < 0.01
    # Analogs of e0 have x0 near 1: their mean return is near 0.03, the baseline's near 0.
    assert result.analog_stats["mean"] > 0.015
    assert result.difference_of_means == pytest.approx(result.analog_stats["mean"] - result.baseline_stats["mean"])
    low, high = result.ci95
    assert low < result.analog_stats["mean"] < high and low > 0
    assert sum(result.histogram["analog_counts"]) == 30
    assert sum(result.histogram["baseline_counts"]) == result.baseline_stats["n"] == 1480


def test_the_baseline_is_the_period_the_analogs_could_come_from():
    matrix = _world(400, seed=7)
    target = matrix.days[250].astype(date)
    result = analyse_matrix(matrix, matrix.day_parts(250), Weights(), target_day=target, horizon=20, k=5)
    # Eligible: bars whose 20-bar window ended by day 250, i.e. days 0..230.
    assert result.baseline_from == START and result.baseline_to == START + timedelta(days=230)
    assert result.baseline_stats["n"] == 231 == result.eligible_days
    assert any("Small sample" in note for note in result.notes)
    assert any("20 queries" in note for note in result.notes)


def test_no_eligible_day_is_a_clear_error():
    matrix = _world(100, seed=8)
    with pytest.raises(ApplicationError, match="No day can serve as an analog"):
        analyse_matrix(matrix, matrix.day_parts(3), Weights(), target_day=matrix.days[3].astype(date), horizon=5, k=5)


def test_the_bootstrap_interval_matches_the_normal_one_on_a_large_sample():
    values = np.random.default_rng(9).normal(0.01, 0.02, 400)
    low, high = bootstrap_interval(values, np.random.default_rng(10))
    half = 1.96 * values.std(ddof=1) / math.sqrt(values.size)  # ≈ 0.00196
    assert low == pytest.approx(values.mean() - half, abs=0.2 * half)
    assert high == pytest.approx(values.mean() + half, abs=0.2 * half)
    assert bootstrap_interval(values[:1], np.random.default_rng(0)) is None


# ---------------------------------------------------------------- the signal


def test_signal_confidence_is_erf_of_the_t_statistic():
    # mean 0.02, sd 0.0141421 (ddof 1), n 2: t = 0.02 / (0.0141421 / 1.41421) = 2; erf(2/√2) = 0.954500
    assert signal_confidence(np.array([0.01, 0.03])) == pytest.approx(0.954500, abs=1e-6)
    assert signal_confidence(np.array([0.01])) == 0.0
    assert signal_confidence(np.array([0.01, -0.01])) == 0.0


def test_a_day_without_the_weighted_components_gets_no_signal():
    matrix = _world(300, seed=13)
    news_only = Weights(astro=0, news=1, market=0)  # these days have no news
    found = analog_signal_matrix(matrix, 250, horizon=5, k=10, weights=news_only)
    assert found.expected_return is None and found.confidence == 0.0 and found.analogs_used == []
    with pytest.raises(ApplicationError) as raised:
        walk_forward_matrix(
            matrix,
            START + timedelta(days=100),
            START + timedelta(days=200),
            horizon=5,
            k=5,
            weights=Weights(astro=0, news=0, market=0),
            fee_bps=10,
            baseline_runs=5,
            seed=0,
        )
    assert "weights" in raised.value.fields


def test_the_signal_is_refused_for_another_market():
    corpus = Corpus(name="btc", market_symbol="BTC/USDT", market_exchange="binance")
    with pytest.raises(ApplicationError, match="forecasts BTC/USDT, not ETH/USDT") as raised:
        analog_signal(corpus, "ETH/USDT", date(2020, 1, 1))
    assert "symbol" in raised.value.fields
    with pytest.raises(ApplicationError, match="no market"):
        analog_signal(Corpus(name="news only"), "BTC/USDT", date(2020, 1, 1))


# ---------------------------------------------------------------- walk-forward


def test_long_short_returns_and_sharpe_by_hand():
    signal = np.array([0.01, -0.02, 0.03, 0.0])
    realized = np.array([0.02, 0.01, -0.01, 0.05])
    # positions 1, -1, 1, 0; turnover 1, 2, 2, 1; fee 10 bps per unit
    # gross 0.02, -0.01, -0.01, 0 → net 0.019, -0.012, -0.012, -0.001
    net = long_short_returns(signal, realized, 10)
    assert net == pytest.approx([0.019, -0.012, -0.012, -0.001])
    # mean -0.0015; deviations 0.0205, -0.0105, -0.0105, 0.0005; sum of squares 0.000641;
    # sd = sqrt(0.000641 / 3) = 0.0146173; per period -0.102618; times sqrt(73) = -0.876767
    assert annualised_sharpe(net, 73) == pytest.approx(-0.876767, abs=1e-6)
    assert annualised_sharpe(np.array([0.01]), 73) is None
    flat = long_short_returns(np.array([np.nan, 0.02]), np.array([0.05, 0.01]), 10)
    assert flat == pytest.approx([0.0, 0.01 - 0.001])  # no signal: flat, no fee


def test_spearman_by_hand_with_ties():
    # y ranks 1, 2, 3.5, 5, 3.5 against 1..5: Σdxdy = 8, Σdx² = 10, Σdy² = 9.5 → 8 / √95
    assert spearman(np.arange(1.0, 6.0), np.array([5.0, 6, 7, 8, 7])) == pytest.approx(8 / math.sqrt(95))
    assert spearman(np.array([1.0, 2, 3]), np.array([1.0, 1, 1])) is None


def test_walk_forward_on_a_planted_signal_beats_the_random_baseline():
    matrix = _planted(1400, seed=11, strength=0.02)
    result = walk_forward_matrix(
        matrix,
        START + timedelta(days=600),
        START + timedelta(days=1350),
        horizon=5,
        k=20,
        weights=MARKET_ONLY,
        fee_bps=10,
        baseline_runs=20,
        seed=0,
    )
    assert len(result.days) == 151  # days 600, 605, …, 1350
    # Signal sd ≈ 0.02 · 0.41 against noise 0.01: a perfect forecaster's IC would be about 0.6.
    assert result.strategy["information_coefficient"] > 0.3
    assert result.strategy["hit_rate"] > 0.6
    assert result.strategy["sharpe"] > result.baseline["sharpe_mean"] + 3 * result.baseline["sharpe_std"]
    assert result.baseline["share_of_runs_beaten"] == 1.0
    assert len(result.equity["analog"]) == len(result.equity["random_median"]) == 151
    assert result.equity["analog"][-1] > result.equity["random_median"][-1]


def test_walk_forward_on_noise_does_not_beat_the_random_baseline():
    beaten, coefficients = [], []
    for world in range(12):
        matrix = _world(900, seed=200 + world)
        result = walk_forward_matrix(
            matrix,
            START + timedelta(days=300),
            START + timedelta(days=870),
            horizon=5,
            k=20,
            weights=Weights(),
            fee_bps=10,
            baseline_runs=20,
            seed=world,
        )
        beaten.append(result.baseline["share_of_runs_beaten"])
        coefficients.append(result.strategy["information_coefficient"])
    # 115 periods per world: the IC's sd under no skill is about 1/√115 = 0.093.
    assert abs(np.mean(coefficients)) < 3 * 0.093 / math.sqrt(12)
    assert 0.2 <= np.mean(beaten) <= 0.8


def test_walk_forward_needs_at_least_two_periods():
    matrix = _world(200, seed=12)
    with pytest.raises(ApplicationError, match="widen it") as raised:
        walk_forward_matrix(
            matrix,
            START + timedelta(days=100),
            START + timedelta(days=103),
            horizon=5,
            k=5,
            weights=Weights(),
            fee_bps=10,
            baseline_runs=5,
            seed=0,
        )
    assert "end" in raised.value.fields


# ---------------------------------------------------------------- aspect heatmap


def test_aspect_heatmap_by_hand():
    forward = np.array([0.01, 0.03, -0.02, 0.04, 0.00, np.nan])
    aspects = (("a",), ("a", "b"), ("b",), ("a",), (), ("a", "b"))
    matrix = corpus_matrix_build(
        days=np.datetime64(START) + np.arange(6),
        vectors={"astro": np.eye(6, dtype=np.float32)},
        forward=np.tile(forward[:, None], (1, 3)),
        has_close=np.ones(6, bool),
        aspects=aspects,
    )
    heat = aspect_heatmap_matrix(matrix, (1,), min_days=2)
    # unconditional mean of the five known: 0.06 / 5 = 0.012
    assert heat["baseline_mean"]["1"] == pytest.approx(0.012)
    rows = {row["aspect"]: row["cells"][0] for row in heat["rows"]}
    # a: days 0, 1, 3 (5 has no return): mean 0.08 / 3; b: days 1, 2: mean 0.005
    assert rows["a"]["days"] == 3 and rows["a"]["difference"] == pytest.approx(0.08 / 3 - 0.012)
    assert rows["b"]["days"] == 2 and rows["b"]["difference"] == pytest.approx(0.005 - 0.012)
    thin = aspect_heatmap_matrix(matrix, (1,), min_days=3)
    assert [row["aspect"] for row in thin["rows"]] == ["a"]
