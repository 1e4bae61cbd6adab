"""Honest analysis of analog days ("fuzzy backtesting") over a corpus' day index.

A corpus is loaded into numpy once per (corpus, version) and kept in a small per-process LRU
(``matrix``); everything else is matrix products over those arrays: choosing analogs
(``analogs``), analysing a query against its baseline (``query``), the signal strategies call
and its walk-forward evaluation (``forecast``), and chart data (``charts``).

Rules every function in this package keeps:

- **Similarity** is the one search uses: the weighted sum of per-component cosines divided by
  the sum of the weights in play (components the query has, weighted above 0).
- **Horizons count bars** of the corpus market (days with a close), so a weekend never makes
  a 5-day window shorter. Day A's forward window at horizon h ends on the day of bar(A) + h.
- **Point-in-time**: analysing day D, an analog A is admitted only when its forward window has
  ended by D (end day <= D), so its outcome was known on D. A query with neither a day nor an
  ``as_of`` date describes the whole of history and predicts nothing; it has no cut-off.
- **Spacing**: analogs are chosen greedily by similarity, skipping any closer than ``min_gap``
  bars (default: the horizon) to one already chosen, so their return windows do not overlap
  and neighbouring days do not count as independent evidence.
- **The null**: random analog sets of the same size with the same spacing, drawn uniformly
  from all days of the same period with a known forward return (the unconditional pool the
  analogs are compared with; filters are part of the query whose information is tested).
  The p-value is two-sided: twice the smaller tail, counting the observed set itself.
"""

from patterns.services.analysis.analogs import analog_days
from patterns.services.analysis.charts import aspect_heatmap, aspect_heatmap_matrix, similarity_timeline
from patterns.services.analysis.checks import K_MAX, K_MIN
from patterns.services.analysis.forecast import (
    analog_signal,
    analog_signal_matrix,
    annualised_sharpe,
    long_short_returns,
    walk_forward,
    walk_forward_matrix,
)
from patterns.services.analysis.matrix import corpus_matrix, corpus_matrix_build
from patterns.services.analysis.query import HISTOGRAM_BINS, analyse, analyse_matrix
from patterns.services.analysis.statistics import (
    bootstrap_interval,
    permutation_p_value,
    signal_confidence,
    spaced_random_sets,
    spearman,
)

__all__ = [
    "HISTOGRAM_BINS",
    "K_MAX",
    "K_MIN",
    "analog_days",
    "analog_signal",
    "analog_signal_matrix",
    "analyse",
    "analyse_matrix",
    "annualised_sharpe",
    "aspect_heatmap",
    "aspect_heatmap_matrix",
    "bootstrap_interval",
    "corpus_matrix",
    "corpus_matrix_build",
    "long_short_returns",
    "permutation_p_value",
    "signal_confidence",
    "similarity_timeline",
    "spaced_random_sets",
    "spearman",
    "walk_forward",
    "walk_forward_matrix",
]
