"""Pattern-search benchmarks, one part per stage, each beside a reference in the same run.

- ``astro``: ``patterns.encoders.astro.compute_days`` over its whole range (1900-01-01 ..
  2050-12-31, 55,152 days: positions, speeds, signs, moon phase and all 55 x 5 aspects), against
  the 10,000 days/s target, beside the same computation done one day at a time (a Python loop of
  ``compute([day])`` over a sample of days spread over the range, extrapolated to the whole range);
  the two must give the same numbers. ``feature_vector`` over the range is timed too.
- ``news``: the news encoder (``bench/patterns_news.py``): headlines/s and single-query latency.
- ``search``: top-10 headline search at 73k/250k/1M rows, pgvector HNSW beside an exact numpy scan
  and ChromaDB, p50/p99 and recall@10 (``bench/patterns_search.py``).
- ``api``: the search API end to end under concurrent load through gunicorn, beside the cheapest
  endpoint of the same stack (``bench/patterns_api.py``).

Each part's options follow ``--part`` (e.g. ``--size 1m`` for search, ``--clients 8,16`` for api,
``--limit`` for news); ``--help`` lists them all.

    python -m bench.patterns                       # every part, in order
    python -m bench.patterns --part astro          # BENCH_ASTRO_RUNS=3, BENCH_ASTRO_LOOP_DAYS=200
    python -m bench.patterns --part search --size 1m --no-chroma
    python -m bench.patterns --part api --clients 8,16

``make bench`` (``python -m bench``) runs every module of bench/ by its ``main()``: there this
module runs the astro part only, since ``patterns_news``, ``patterns_search`` and
``patterns_api`` run as modules of their own (the search part at BENCH_SEARCH_SIZES, by default
73k, 250k and 1m: the 1M HNSW builds take minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
from collections.abc import Callable
from importlib.metadata import version

from bench import measure

PART_NAMES = ("astro", "news", "search", "api")
ASTRO_TARGET = 10_000  # days/s
ASTRO_RUNS = int(os.environ.get("BENCH_ASTRO_RUNS", "3"))
ASTRO_LOOP_DAYS = int(os.environ.get("BENCH_ASTRO_LOOP_DAYS", "200"))


def _context() -> str:
    return f"python {platform.python_version()}, {os.cpu_count()} cores, load average (1 min) {os.getloadavg()[0]:.2f}"


def astro_part() -> list[str]:
    import numpy as np

    from patterns.encoders import astro

    lines = []
    started = time.perf_counter()
    astro.compute_days(astro.MIN_DATE, astro.MIN_DATE)  # loads DE421 and the timescale once
    lines.append(
        f"first call (loads DE421 from skyfield-data, not counted below): {time.perf_counter() - started:.2f} s"
    )

    whole = measure(
        "compute_days, whole range",
        lambda: astro.compute_days(astro.MIN_DATE, astro.MAX_DATE),
        n=ASTRO_RUNS,
    )
    cpu_started = time.process_time()
    arrays = astro.compute_days(astro.MIN_DATE, astro.MAX_DATE)
    cpu_seconds = time.process_time() - cpu_started
    days = len(arrays)
    vectors = measure("feature_vector, whole range", lambda: astro.feature_vector(arrays), n=ASTRO_RUNS)

    # The same computation one day at a time, on days spread evenly over the range.
    rows = np.linspace(0, days - 1, ASTRO_LOOP_DAYS).astype(int)
    sample = arrays.times[rows]

    def loop() -> list[astro.AstroArrays]:
        return [astro.compute(sample[index : index + 1]) for index in range(len(sample))]

    looped = loop()  # warm-up, and the results to compare
    for row, single in zip(rows, looped, strict=True):
        assert np.allclose(single.longitude[0], arrays.longitude[row], rtol=0, atol=1e-9)
        assert np.allclose(single.speed[0], arrays.speed[row], rtol=0, atol=1e-9)
        assert np.allclose(single.aspect_strength[0], arrays.aspect_strength[row], rtol=0, atol=1e-5)
    per_day = measure(f"compute, one day per call ({ASTRO_LOOP_DAYS} days)", loop, n=1)

    vectorised_rate = days / whole.median
    loop_rate = ASTRO_LOOP_DAYS / per_day.median
    loop_whole_range = days / loop_rate
    lines.append(
        f"{_context()}; skyfield {version('skyfield')}, numpy {np.__version__}; "
        f"{days:,} days {astro.MIN_DATE} .. {astro.MAX_DATE}"
    )
    lines.append("")
    table = [
        (f"compute_days, whole range (median of {ASTRO_RUNS})", whole.median, vectorised_rate),
        (f"reference: compute() per day, {ASTRO_LOOP_DAYS} days, extrapolated", loop_whole_range, loop_rate),
        (f"feature_vector, whole range (median of {ASTRO_RUNS})", vectors.median, days / vectors.median),
    ]
    lines.append(f"{'case':<58}{'seconds':>10}{'days/s':>12}")
    for case, seconds, rate in table:
        lines.append(f"{case:<58}{seconds:>10.2f}{rate:>12,.0f}")
    lines.append(
        f"CPU time of one whole-range compute_days: {cpu_seconds:.2f} s ({days / cpu_seconds:,.0f} days per CPU-second;"
        " wall-clock figures include waiting for a core on a busy machine)"
    )
    lines.append("")
    lines.append(f"vectorised vs per-day loop: {vectorised_rate / loop_rate:,.0f}x faster (same results)")
    verdict = "met" if vectorised_rate >= ASTRO_TARGET else "MISSED"
    lines.append(
        f"target compute_days >= {ASTRO_TARGET:,} days/s: {verdict} "
        f"({vectorised_rate:,.0f} days/s = {vectorised_rate / ASTRO_TARGET:.2f}x the target)"
    )
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        lines.append("note: the machine was busy (load above its core count): other work shared the cores.")
    return lines


PARTS: dict[str, tuple[str, Callable[[], list[str]]]] = {
    "astro": ("Astro encoder: the sky for every day 1900-2050 (higher days/s is better)", astro_part),
}
# Parts that live in modules of their own: (title, module). Each has add_arguments(parser) and run(args).
MODULE_PARTS: dict[str, tuple[str, str]] = {
    "news": ("News encoder: headlines/s and single-query latency", "bench.patterns_news"),
    "search": (
        "Headline vector search: pgvector HNSW, exact numpy, ChromaDB (p50/p99, recall@10)",
        "bench.patterns_search",
    ),
    "api": ("Search API end to end under concurrent load, beside the stack's ceiling", "bench.patterns_api"),
}


def main(argv: list[str] | None = None) -> int:
    """Run the parts named by ``--part`` (every part by default). ``python -m bench`` calls this
    with no arguments (``argv`` None): then only the parts written in this file run, because the
    others are modules of bench/ that ``python -m bench`` runs on their own."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.patterns", description=__doc__.splitlines()[0], conflict_handler="resolve"
    )
    parser.add_argument("--part", choices=PART_NAMES, action="append", help="repeatable; default: every part")
    modules = {name: importlib.import_module(module) for name, (_, module) in MODULE_PARTS.items()}
    for name, module in modules.items():
        group = parser.add_argument_group(f"--part {name}")
        module.add_arguments(group)
    args = parser.parse_args(argv if argv is not None else [])
    chosen = args.part or (list(PARTS) if argv is None else list(PART_NAMES))
    for index, name in enumerate(chosen):
        if index:
            print()
        if name in MODULE_PARTS:
            print(f"--- {name}: {MODULE_PARTS[name][0]}", flush=True)
            modules[name].run(args)
            continue
        title, run = PARTS[name]
        print(f"--- {name}: {title}", flush=True)
        for line in run():
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
