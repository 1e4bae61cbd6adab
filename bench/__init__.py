"""Benchmarks (``make bench`` runs ``python -m bench``): each module compares our code with a
reference side by side in one run and prints ratios (ARCHITECTURE.md rule 9). Tests never
assert wall-clock times; these numbers are for people.

Each module has a ``main()`` that sets Django up itself (``setup_django``), measures, and prints.
Benchmarks that need tables run in ``bench_database()``: a fresh, fully migrated database beside
the configured one, dropped afterwards, so a run never touches (or depends on the migration
state of) the development data.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

DEFAULT_SETTINGS = "asterweb.settings.dev"


def setup_django() -> None:
    """Configure Django (dev settings unless DJANGO_SETTINGS_MODULE says otherwise) once."""
    import django
    from django.apps import apps

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEFAULT_SETTINGS)
    if not apps.ready:
        django.setup()


@contextmanager
def bench_database() -> Iterator[str]:
    """Create and migrate ``bench_<database name>`` on the configured server, use it, drop it."""
    from django.db import connection

    original = connection.settings_dict["NAME"]
    connection.settings_dict["TEST"]["NAME"] = f"bench_{original}"
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield name
    finally:
        connection.creation.destroy_test_db(original, verbosity=0)


@dataclass(frozen=True)
class Timing:
    """Per-call durations of one case, in seconds."""

    name: str
    samples: list[float]

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def percentile(self, p: int) -> float:
        """The p-th percentile (nearest rank), so p99 of 10,000 calls is the 9,900th fastest."""
        ordered = sorted(self.samples)
        rank = max(1, -(-p * len(ordered) // 100))  # ceil(p * n / 100)
        return ordered[rank - 1]


def measure(name: str, call: Callable[[], object], *, n: int, warmup: int = 0) -> Timing:
    """Time ``n`` calls one by one (after ``warmup`` untimed calls)."""
    for _ in range(warmup):
        call()
    gc.collect()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        call()
        samples.append((clock() - start) / 1e9)
    return Timing(name=name, samples=samples)


def human_duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def timing_table(timings: list[Timing]) -> str:
    """A plain-text table: case, n, median, p90, p99."""
    header = ("case", "n", "median", "p90", "p99")
    rows = [
        (
            t.name,
            f"{t.n:,}",
            human_duration(t.median),
            human_duration(t.percentile(90)),
            human_duration(t.percentile(99)),
        )
        for t in timings
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for index, row in enumerate([header, *rows]):
        cells = [row[0].ljust(widths[0]), *(cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))]
        lines.append("  ".join(cells))
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)
