"""Data for the analysis page's charts: the aspect heatmap and the similarity timeline."""

from __future__ import annotations

from datetime import date

import numpy as np

from asterweb.errors import ApplicationError
from patterns.encoders.market import HORIZONS
from patterns.models import Corpus
from patterns.services.analysis.analogs import filter_mask, similarities
from patterns.services.analysis.checks import K_MIN, check_horizon_k
from patterns.services.analysis.matrix import CorpusMatrix, corpus_matrix
from patterns.services.search import _SLICES, SearchRequest, build_query_vector

MIN_HEATMAP_DAYS = 20


HEATMAP_NOTE = (
    "Each cell is one comparison, with no allowance for overlapping windows: with dozens of cells some will look "
    "large by chance alone. Test a cell that interests you with an analysis filtered on that aspect, and confirm "
    "it on other data."
)


def aspect_heatmap(corpus: Corpus, horizon: int | None = None, *, min_days: int = MIN_HEATMAP_DAYS) -> dict:
    """For each aspect on at least ``min_days`` days: mean forward return on its days minus the
    unconditional mean, with counts; columns are ``horizon`` or every horizon."""
    if horizon is not None:
        check_horizon_k(horizon, K_MIN)
    return aspect_heatmap_matrix(corpus_matrix(corpus), (horizon,) if horizon else HORIZONS, min_days=min_days)


def aspect_heatmap_matrix(matrix: CorpusMatrix, horizons: tuple[int, ...], *, min_days: int) -> dict:
    names = sorted({name for row in matrix.aspects for name in row})
    column = {name: at for at, name in enumerate(names)}
    incidence = np.zeros((len(matrix), len(names)), dtype=np.float64)
    rows = [day for day, aspects in enumerate(matrix.aspects) for _ in aspects]
    incidence[rows, [column[name] for aspects in matrix.aspects for name in aspects]] = 1.0
    baseline, cells = {}, {}
    for horizon in horizons:
        forward = matrix.forward_return(horizon)
        known = np.isfinite(forward)
        counts = incidence[known].sum(axis=0)
        sums = incidence[known].T @ forward[known]
        mean = float(forward[known].mean()) if known.any() else None
        baseline[str(horizon)] = mean
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / counts
        cells[horizon] = (counts, means, mean)
    out_rows = []
    for at, name in enumerate(names):
        row_cells = []
        for horizon in horizons:
            counts, means, mean = cells[horizon]
            enough = counts[at] >= min_days and mean is not None
            row_cells.append(
                {
                    "horizon": horizon,
                    "days": int(counts[at]),
                    "mean": float(means[at]) if enough else None,
                    "difference": float(means[at] - mean) if enough else None,
                }
            )
        if any(cell["days"] >= min_days for cell in row_cells):
            out_rows.append({"aspect": name, "cells": row_cells})
    return {
        "horizons": list(horizons),
        "min_days": min_days,
        "baseline_mean": baseline,
        "rows": out_rows,
        "notes": [HEATMAP_NOTE],
    }


def similarity_timeline(corpus: Corpus, request: SearchRequest) -> dict:
    """Every day's similarity to the query (for a chart), and whether it passes the filters."""
    matrix = corpus_matrix(corpus)
    query, active = build_query_vector(corpus, request)
    if query is None:
        raise ApplicationError(
            "A similarity timeline needs a text or a day to compare with.", fields={"text": ["Give a text or a day."]}
        )
    parts = {name: query[_SLICES[name]] / weight for name, weight in active.items()}
    scores = similarities(matrix, parts, request.weights)
    return {
        "days": matrix.days.astype(date).tolist(),
        "similarity": np.round(scores, 6).tolist(),
        "matches_filters": filter_mask(corpus, request, matrix).tolist(),
    }
