"""The market encoder: point-in-time features, scale-free, forward returns by hand."""

from __future__ import annotations

import numpy as np
import pytest

from patterns.encoders import market


def _series(n: int = 400, seed: int = 3, scale: float = 0.02) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    days = np.arange(np.datetime64("2020-01-01"), np.datetime64("2020-01-01") + n)
    close = 100 * np.exp(np.cumsum(rng.normal(0, scale, n)))
    volume = rng.lognormal(10, 0.3, n)
    return days, close, volume


def test_features_use_only_data_up_to_each_day():
    days, close, volume = _series()
    full = market.market_states(days, close, volume)
    for cut in (60, 61, 150, 399):
        truncated = market.market_states(days[: cut + 1], close[: cut + 1], volume[: cut + 1])
        np.testing.assert_allclose(truncated.features[cut], full.features[cut], rtol=1e-12)
        np.testing.assert_allclose(truncated.vectors[cut], full.vectors[cut], rtol=1e-6)


def test_no_vector_before_sixty_bars_of_history_and_unit_vectors_after():
    days, close, volume = _series()
    states = market.market_states(days, close, volume)
    assert not states.has_vector()[: market.MIN_HISTORY].any()
    assert states.has_vector()[market.MIN_HISTORY :].all()
    norms = np.linalg.norm(states.vectors[market.MIN_HISTORY :], axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-6)


def test_features_are_scale_free_between_calm_and_wild_series():
    days, calm, volume = _series(scale=0.01)
    wild = 100 * np.exp(np.log(calm / 100) * 4)  # the same path, four times the log moves
    calm_states = market.market_states(days, calm, volume)
    wild_states = market.market_states(days, wild, volume)
    np.testing.assert_allclose(calm_states.vectors[300:], wild_states.vectors[300:], atol=1e-5)


def test_forward_returns_by_hand():
    close = np.array([100.0, 110.0, 99.0, 120.0, 90.0, 100.0, 105.0])
    forward = market.forward_returns(close)
    assert forward[0, 0] == pytest.approx(0.10)
    assert forward[1, 0] == pytest.approx(-0.10)
    assert forward[0, 1] == pytest.approx(100.0 / 100.0 - 1)
    assert forward[1, 1] == pytest.approx(105.0 / 110.0 - 1)
    assert np.isnan(forward[2, 1]) and np.isnan(forward[-1, 0])
    assert np.isnan(forward[:, 2]).all()


def test_return_feature_by_hand():
    days, close, volume = _series(n=80)
    states = market.market_states(days, close, volume)
    log_returns = np.diff(np.log(close))
    sigma = np.std(log_returns[19:79], ddof=1)  # the 60 daily returns ending at bar 79
    expected = np.log(close[79] / close[78]) / sigma
    assert states.features[79, market.MARKET_FEATURES.index("ret_1")] == pytest.approx(expected, rel=1e-9)


def test_unordered_days_are_refused():
    days, close, volume = _series(n=10)
    with pytest.raises(ValueError, match="strictly increasing"):
        market.market_states(days[::-1], close, volume)
