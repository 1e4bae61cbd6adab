"""The argument checks the analysis entry points share."""

from __future__ import annotations

from asterweb.errors import ApplicationError
from patterns.encoders.market import HORIZONS
from patterns.models import Corpus

K_MIN, K_MAX = 5, 200


def check_horizon_k(horizon: int, k: int) -> None:
    """Refuse a horizon the index has no forward returns for, or a k out of range."""
    if horizon not in HORIZONS:
        raise ApplicationError(
            f"Unknown horizon {horizon}; use one of {', '.join(map(str, HORIZONS))} bars.",
            fields={"horizon": [f"One of {', '.join(map(str, HORIZONS))}."]},
        )
    if not K_MIN <= k <= K_MAX:
        raise ApplicationError(f"k must be {K_MIN} to {K_MAX} analogs.", fields={"k": ["Out of range."]})


def require_market(corpus: Corpus) -> None:
    """Refuse a corpus without a market: it has no forward returns to analyse."""
    if not corpus.has_market:
        raise ApplicationError(
            f"The corpus “{corpus.name}” has no market attached, so there are no forward returns to analyse.",
            code="no_market",
        )
