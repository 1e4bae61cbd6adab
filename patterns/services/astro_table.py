"""The stored astro table: computed once per day (vectorised), then every encoder call is a
lookup. ``astro_table_ensure`` fills whatever part of a range is missing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from django.db import connection, transaction

from patterns.encoders import astro
from patterns.services.vectors import copy_rows, fetch_vectors

_CHUNK_DAYS = 10_000
_LOCK_KEY = 71_004  # advisory lock of astro table writes
_COLUMNS = (
    "day",
    "longitude",
    "speed",
    "sign",
    "retrograde",
    "moon_phase_angle",
    "moon_phase",
    "aspects",
    "aspects_applying",
    "vector",
)
_TYPES = ("date", "float8[]", "float8[]", "int2[]", "varchar[]", "float8", "int2", "varchar[]", "varchar[]", "vector")


def _rows(arrays: astro.AstroArrays):
    if len(arrays.times) == 0:
        return
    vectors = astro.feature_vector(arrays)
    days = arrays.times.astype("datetime64[D]").astype(date)
    bodies = np.array(astro.BODIES)
    pair_names = _pair_aspect_names()
    strength = arrays.aspect_strength.reshape(len(days), -1)
    applying = arrays.aspect_applying.reshape(len(days), -1)
    for row, day in enumerate(days):
        present = strength[row] > 0
        yield (
            day,
            arrays.longitude[row].tolist(),
            arrays.speed[row].tolist(),
            arrays.sign[row].astype(int).tolist(),
            bodies[arrays.retrograde[row]].tolist(),
            float(arrays.moon_phase_angle[row]),
            int(arrays.moon_phase[row]),
            pair_names[present].tolist(),
            pair_names[present & applying[row]].tolist(),
            vectors[row],
        )


def _pair_aspect_names() -> np.ndarray:
    """Names in ``aspect_strength.reshape(n, -1)`` column order (pair-major, then aspect)."""
    return np.array(
        [astro.aspect_name(first, aspect, second) for first, second in astro.BODY_PAIRS for aspect in astro.ASPECTS]
    )


def _missing_spans(start: date, end: date) -> list[tuple[date, date]]:
    """Inclusive spans of days in [start, end] that the table does not hold yet."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT d::date FROM generate_series(%s::date, %s::date, interval '1 day') AS d "
            "WHERE NOT EXISTS (SELECT 1 FROM patterns_astroday a WHERE a.day = d::date) ORDER BY 1",
            [start, end],
        )
        missing = [row[0] for row in cursor.fetchall()]
    spans: list[tuple[date, date]] = []
    for day in missing:
        if spans and spans[-1][1] + timedelta(days=1) == day:
            spans[-1] = (spans[-1][0], day)
        else:
            spans.append((day, day))
    return spans


def astro_table_ensure(start: date, end: date) -> int:
    """Compute and store every missing day in ``[start, end]``; returns days added. Concurrent
    callers (an indexing run and the table fill) serialise on an advisory lock, so a day is
    never inserted twice; the common case, nothing missing, takes no lock."""
    start = max(start, astro.MIN_DATE)
    end = min(end, astro.MAX_DATE)
    if start > end or not _missing_spans(start, end):
        return 0
    added = 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        for span_start, span_end in _missing_spans(start, end):
            chunk_start = span_start
            while chunk_start <= span_end:
                chunk_end = min(span_end, chunk_start + timedelta(days=_CHUNK_DAYS - 1))
                arrays = astro.compute_days(chunk_start, chunk_end)
                added += copy_rows("patterns_astroday", _COLUMNS, _TYPES, _rows(arrays))
                chunk_start = chunk_end + timedelta(days=1)
    return added


@dataclass(frozen=True)
class AstroTable:
    """Stored astro rows of a day range, as arrays aligned with ``days``."""

    days: np.ndarray  # datetime64[D]
    vectors: np.ndarray  # (n, ASTRO_DIM) float32
    retrograde: list[list[str]]
    moon_phase: np.ndarray  # int16
    signs: np.ndarray  # (n, len(BODIES)) int16
    aspects: list[list[str]]

    def rows_for(self, days: np.ndarray) -> np.ndarray:
        """Row index of each of ``days`` (all must be in the table)."""
        positions = np.searchsorted(self.days, np.asarray(days).astype("datetime64[D]"))
        return positions


def astro_table_read(start: date, end: date) -> AstroTable:
    """Every day in ``[start, end]`` (computed first where missing), as arrays."""
    astro_table_ensure(start, end)
    rows = fetch_vectors(
        "SELECT day, vector, retrograde, moon_phase, sign, aspects FROM patterns_astroday "
        "WHERE day BETWEEN %s AND %s ORDER BY day",
        [start, end],
    )
    return AstroTable(
        days=np.array([row[0] for row in rows], dtype="datetime64[D]"),
        vectors=np.array([row[1].to_numpy() for row in rows], dtype=np.float32).reshape(len(rows), astro.ASTRO_DIM),
        retrograde=[row[2] for row in rows],
        moon_phase=np.array([row[3] for row in rows], dtype=np.int16),
        signs=np.array([row[4] for row in rows], dtype=np.int16).reshape(len(rows), len(astro.BODIES)),
        aspects=[row[5] for row in rows],
    )


def astro_table_coverage() -> tuple[date | None, date | None, int]:
    """First day, last day and number of days stored."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(day), max(day), count(*) FROM patterns_astroday")
        first, last, count = cursor.fetchone()
    return first, last, count
