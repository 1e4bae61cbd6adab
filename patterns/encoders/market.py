"""Market encoder: the state of one daily price series on each day, from data available at
that day's close only (point-in-time), plus the forward returns that the analysis measures.

Features are scale-free so a crypto series and a stock index compare on the same footing:
returns and distances are divided by the series' own trailing volatility (sigma60, the standard
deviation of the last 60 daily log returns including the day's), then squashed with
``tanh(x / 2)`` into (-1, 1). The vector layout (``MARKET_FEATURES``, in order):

====================  =========================================================
``ret_1`` … ``ret_60``  log return over 1, 5, 20, 60 bars ÷ (sigma60 · √h)
``vol_regime``          log(sigma20 / sigma120): calm or turbulent against the recent past
``volume_z``            z-score of log(1 + volume) against the last 20 bars
``ma_20`` … ``ma_200``  log(close) minus its n-bar mean (a geometric moving average) ÷ (sigma60 · √n)
``drawdown``            log(close / highest close of the last 252 bars) ÷ (sigma60 · √252)
====================  =========================================================

A feature whose look-back is longer than the available history is 0 (neutral); a day with
fewer than ``MIN_HISTORY`` bars of history has no market vector at all. Each vector is
L2-normalised. Forward returns are simple returns ``close[t + h] / close[t] - 1`` over
``HORIZONS`` bars of the same series (trading days for an index, calendar days for crypto);
they are NaN where the series has not reached ``t + h`` yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

MARKET_FEATURES: tuple[str, ...] = (
    "ret_1",
    "ret_5",
    "ret_20",
    "ret_60",
    "vol_regime",
    "volume_z",
    "ma_20",
    "ma_50",
    "ma_200",
    "drawdown",
)
MARKET_DIM = len(MARKET_FEATURES)
HORIZONS: tuple[int, ...] = (1, 5, 20)
MIN_HISTORY = 60
_RETURN_LOOKBACKS = (1, 5, 20, 60)
_MA_LENGTHS = (20, 50, 200)
_DRAWDOWN_WINDOW = 252
_VOLUME_WINDOW = 20


@dataclass(frozen=True)
class MarketStates:
    """Per-bar market state of one series, oldest first."""

    days: np.ndarray  # datetime64[D]
    close: np.ndarray  # float64
    features: np.ndarray  # (n, MARKET_DIM) float64, before squashing; NaN before MIN_HISTORY
    vectors: np.ndarray  # (n, MARKET_DIM) float32, L2-normalised; NaN rows before MIN_HISTORY
    forward_returns: np.ndarray  # (n, len(HORIZONS)) float64, NaN past the series' end

    def __len__(self) -> int:
        return int(self.days.size)

    def has_vector(self) -> np.ndarray:
        return ~np.isnan(self.vectors[:, 0])

    def forward_return(self, horizon: int) -> np.ndarray:
        return self.forward_returns[:, HORIZONS.index(horizon)]


def _trailing(values: np.ndarray, window: int, reducer) -> np.ndarray:
    """``reducer`` over each trailing window ending at a bar (NaN before a full window)."""
    out = np.full(values.shape, np.nan)
    if values.size >= window:
        out[window - 1 :] = reducer(sliding_window_view(values, window), axis=1)
    return out


def _lagged_difference(values: np.ndarray, lag: int) -> np.ndarray:
    out = np.full(values.shape, np.nan)
    if values.size > lag:
        out[lag:] = values[lag:] - values[:-lag]
    return out


def _trailing_std(log_returns: np.ndarray, window: int) -> np.ndarray:
    return _trailing(log_returns, window, lambda view, axis: np.std(view, axis=axis, ddof=1))


def market_features(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Raw (unsquashed) features of each bar; row t uses bars 0..t only."""
    close = np.asarray(close, dtype=np.float64)
    volume = np.asarray(volume, dtype=np.float64)
    log_close = np.log(close)
    daily = np.concatenate([[np.nan], np.diff(log_close)])
    sigma60 = _trailing_std(daily, MIN_HISTORY)
    sigma20 = _trailing_std(daily, 20)
    sigma120 = _trailing_std(daily, 120)
    columns = [_lagged_difference(log_close, h) / (sigma60 * np.sqrt(h)) for h in _RETURN_LOOKBACKS]
    with np.errstate(divide="ignore", invalid="ignore"):
        columns.append(np.log(sigma20 / sigma120))
        log_volume = np.log1p(volume)
        volume_mean = _trailing(log_volume, _VOLUME_WINDOW, np.mean)
        volume_std = _trailing(log_volume, _VOLUME_WINDOW, lambda view, axis: np.std(view, axis=axis, ddof=1))
        columns.append(np.where(volume_std > 0, (log_volume - volume_mean) / volume_std, 0.0))
        for length in _MA_LENGTHS:
            log_average = _trailing(log_close, length, np.mean)
            columns.append((log_close - log_average) / (sigma60 * np.sqrt(length)))
        highest = _trailing(close, _DRAWDOWN_WINDOW, np.max)
        columns.append(np.log(close / highest) / (sigma60 * np.sqrt(_DRAWDOWN_WINDOW)))
    features = np.column_stack(columns)
    short_history = np.isnan(sigma60)
    features = np.where(np.isnan(features) | np.isinf(features), 0.0, features)
    features[short_history] = np.nan
    return features


def market_vectors(features: np.ndarray) -> np.ndarray:
    """Squash and L2-normalise feature rows; rows of NaN stay NaN."""
    squashed = np.tanh(features / 2.0)
    norms = np.linalg.norm(squashed, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        vectors = np.where(norms > 0, squashed / norms, 0.0)
    vectors[np.isnan(features[:, 0])] = np.nan
    return vectors.astype(np.float32)


def forward_returns(close: np.ndarray) -> np.ndarray:
    """Simple returns ``close[t + h] / close[t] - 1`` for each of ``HORIZONS``."""
    close = np.asarray(close, dtype=np.float64)
    out = np.full((close.size, len(HORIZONS)), np.nan)
    for column, horizon in enumerate(HORIZONS):
        if close.size > horizon:
            out[:-horizon, column] = close[horizon:] / close[:-horizon] - 1.0
    return out


def market_states(days: np.ndarray, close: np.ndarray, volume: np.ndarray) -> MarketStates:
    """Encode a daily series (oldest first, one bar per day, closed bars only)."""
    days = np.asarray(days).astype("datetime64[D]")
    if days.size and np.any(np.diff(days.astype(np.int64)) <= 0):
        raise ValueError("Market bars must be strictly increasing by day.")
    features = market_features(close, volume)
    return MarketStates(
        days=days,
        close=np.asarray(close, dtype=np.float64),
        features=features,
        vectors=market_vectors(features),
        forward_returns=forward_returns(close),
    )
