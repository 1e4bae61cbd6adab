"""Top-10 headline search at scale (issue 5, bench part 3): pgvector HNSW as the product queries
it, beside an exact numpy scan and ChromaDB's in-process HNSW, in one run.

The data are real: the Reddit WorldNews headlines (the 73,573 distinct day+text rows the product
stores out of 73,607 read), embedded once by ``patterns.encoders.news`` and cached in
``.run/bench/`` as a float32 ``.npy`` keyed by the model's weights sha256 and the texts. Larger
sizes add perturbed copies of them (never uniform random vectors, which are pathological for
HNSW): copy = normalise(source + noise), cycling over the sources, where the noise is Gaussian
*with the covariance of the real vectors* (so copies vary along the directions real headlines
vary in, instead of in all 384 directions at once), scaled so that the median cosine of a copy
to its source equals the median cosine of a real headline to its nearest real neighbour
(calibrated at run time: 0.68 for this set). A copy is thus "another headline about the same
thing", and a 1M corpus is a denser version of the real one: for the queries below, 41 % of the
exact top-10 hits at 1M are copies, from ~7 different sources per top 10 (smaller noise crowds
the top 10 with near-duplicates of one source: at cosine 0.85, 76 % copies from ~3.6 sources;
larger noise leaves the copies out of every top 10). ``--copy-cosine`` sets another median
cosine; ``--noise isotropic`` spreads the same amount of noise over all 384 directions.

Queries (200 by default, never in the corpus): half are real crypto news titles
(``cryptonews.csv``, another domain than the corpus, as a user's free text is), half are Reddit
headlines cut to their first 60 % of words (a user typing part of a headline they remember),
each embedded by the product's encoder. Ground truth is the exact top 10 by inner product
(numpy, float32), and recall@10 is |returned ∩ exact| / 10 per query.

Cases at each size (``--size``, repeatable; ``real``/``73k``, ``250k``, ``1m``, any N):

- pgvector: the rows go into ``patterns_headline`` itself (same schema, constraints and index
  DDL as the migration: HNSW ``halfvec_ip_ops`` on ``vector::halfvec(384)``, m=16,
  ef_construction=100; float32 rows, the graph on their half-precision copies) of a bench database,
  loaded by binary COPY with the index dropped, then the index is built by the same DDL (timed;
  ``maintenance_work_mem`` raised for the session so the graph fits in memory, parallel workers
  as configured). Each query runs the product's statement in a transaction with
  ``SET LOCAL hnsw.ef_search`` and ``SET LOCAL hnsw.iterative_scan = 'relaxed_order'`` (as
  ``patterns.services.search.search_headlines_uncached``), timed from BEGIN to COMMIT on a warm
  connection, for ef_search 40, 100, 200 and 400, the settings interleaved query by query so a
  change of load on the machine hits them alike. Also shown: the shared buffers each query hits
  and reads (``EXPLAIN (ANALYZE, BUFFERS)``), and each query run twice in a row, the second run
  finding its pages in shared_buffers (the latency a shared_buffers holding the index gives).
  The product function itself is timed too (``search_headlines_uncached``, with its coded
  settings), with its text encoding swapped for a lookup of the same query vector, then whole
  (text → embedding → search). A selective filter on the same index: the product's date bounds
  (one year, ~12 % of the rows; one month, ~1 %) through the index with the iterative scan relaxed,
  strict, and off, against the exact top 10 inside the window; then the product function with
  those dates, which searches a window of at most ``PATTERNS_EXACT_SEARCH_LIMIT`` headlines
  exactly and larger ones through the index (relaxed).
- exact numpy scan: one matrix-vector product + argpartition per query over the float32 matrix.
- ChromaDB (``requirements/bench.txt``, installed by ``make bench`` only): an in-process
  ``EphemeralClient`` collection, inner-product space, max_neighbors 16, ef_construction 100,
  filled in batches (timed as its build), at ef_search 100 (``--chroma-ef-search``). One build
  serves one ef_search: ChromaDB 1.5.9 stores a later ``modify()`` of ef_search but a loaded
  index keeps the value it was built with (measured: recall did not move).

Memory: ``pg_relation_size`` of the index and the table, the PostgreSQL backend's RSS, and this
process' RSS (it holds the matrix and ChromaDB's index).

Build times: on these 2-core machines the 1M HNSW build takes minutes, for pgvector and for
ChromaDB alike (measured Nov 2026, m=16, ef_construction=100: pgvector 744 s with
maintenance_work_mem 4.9 GB and 2 parallel workers, ChromaDB 779 s; 250k: ~200 s); the whole
1M run takes ~45 minutes, most of it the two builds. ``--keep-db`` keeps the loaded, indexed
database so a second run measures the queries again without the build (``--no-chroma`` skips
ChromaDB's build).

    python -m bench patterns_search                          # the sizes in BENCH_SEARCH_SIZES (73k,250k,1m)
    python -m bench.patterns --part search --size 1m [--size 250k] [--queries 200] [--no-chroma]
        [--ef-search 40,100,200,400] [--m 16 --ef-construction 100] [--noise covariance|isotropic]
        [--keep-db] (keep the loaded database, and reuse it when the next run asks for the same data)
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import os
import re
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import numpy as np

from bench import Timing, human_duration, setup_django

TARGET_RECALL = 0.95
TARGET_P99 = 0.015  # seconds, at 1M
EF_SEARCH_VALUES = (40, 100, 200, 400)
DEFAULT_SIZES = os.environ.get("BENCH_SEARCH_SIZES", "73k,250k,1m")
QUERY_COUNT = 200
K = 10
DATABASE = "bench_patterns_search"
SEED = 5
PREFIX_SHARE = 0.6  # the typed-part-of-a-headline queries keep this share of the words
PRODUCT_ITERATIVE_SCAN = "relaxed_order"
CACHE_DIR = Path(__file__).resolve().parent.parent / ".run" / "bench"


def product_sql(*, window: bool = False) -> str:
    """The statement patterns.services.search.search_headlines_uncached runs: without date bounds
    (parameters: vector, corpus id, vector, limit), or with them (vector, corpus id, start, end,
    vector, limit)."""
    from patterns.services.search import headline_search_sql

    bounds = ["day >= %s", "day <= %s"] if window else []
    return headline_search_sql(["corpus_id = %s", "vector IS NOT NULL", *bounds])


def index_name() -> str:
    from patterns.models import HEADLINE_HNSW_INDEX

    return HEADLINE_HNSW_INDEX


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--size",
        action="append",
        default=None,
        help="corpus size: real (or 73k) = the real headlines only; 250k, 1m or any N (repeatable)",
    )
    parser.add_argument(
        "--queries", type=int, default=QUERY_COUNT, help="queries (half crypto titles, half cut headlines)"
    )
    parser.add_argument("--ef-search", default=",".join(map(str, EF_SEARCH_VALUES)), help="comma-separated values")
    parser.add_argument("--m", type=int, default=None, help="HNSW m for the pgvector index (default: the product's)")
    parser.add_argument(
        "--ef-construction", type=int, default=None, help="HNSW ef_construction (default: the product's)"
    )
    parser.add_argument("--noise", choices=("covariance", "isotropic"), default="covariance")
    parser.add_argument("--no-chroma", action="store_true", help="skip ChromaDB")
    parser.add_argument("--chroma-ef-search", type=int, default=100, help="ChromaDB's ef_search (one build each)")
    parser.add_argument(
        "--copy-cosine",
        type=float,
        default=None,
        help="median cosine(copy, source); default: the real set's median nearest-neighbour cosine",
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database (and reuse a matching one)")


# ---------------------------------------------------------------- sizes


def parse_size(text: str, real_count: int) -> int:
    """``real``/``73k`` → every real row; ``250k``, ``1m``, ``1_000_000`` → that many rows."""
    text = text.strip().lower().replace("_", "").replace(",", "")
    if text in ("real", "73k"):
        return real_count
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([km]?)", text)
    if not match:
        raise SystemExit(f"--size {text!r}: use real, 73k, 250k, 1m or a number of rows")
    value = float(match.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2)]
    return int(value)


# ---------------------------------------------------------------- the real headlines and their vectors


@dataclass(frozen=True)
class RealHeadlines:
    days: list
    texts: list[str]
    vectors: np.ndarray  # (n, 384) float32, unit rows
    embed_seconds: float | None  # None when read from the cache
    cache_path: Path


def real_headlines(data_dir: Path) -> RealHeadlines:
    """The distinct (day, text) Reddit rows in file order, with their embeddings (cached)."""
    from patterns.encoders import news
    from patterns.sources import read_reddit_news

    report = read_reddit_news(data_dir / "news" / "RedditNews.csv.zip")
    seen: set = set()
    days, texts = [], []
    for row in report.rows:
        if (row.day, row.text) not in seen:  # the product stores a headline once per day
            seen.add((row.day, row.text))
            days.append(row.day)
            texts.append(row.text)
    weights = news.model_info()["weights_sha256"]
    texts_sha = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    path = CACHE_DIR / f"reddit-{weights[:16]}-{texts_sha[:12]}.npy"
    if path.exists():
        vectors = np.load(path)
        if vectors.shape == (len(texts), news.EMBEDDING_DIM):
            return RealHeadlines(days, texts, vectors, None, path)
    started = time.perf_counter()
    vectors = news.encode(texts)
    seconds = time.perf_counter() - started
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp.npy")
    np.save(partial, vectors)
    partial.replace(path)
    return RealHeadlines(days, texts, vectors, seconds, path)


def crypto_titles(data_dir: Path) -> list[str]:
    from patterns.sources import read_crypto_news

    seen: dict[str, None] = {}
    for row in read_crypto_news(data_dir / "news" / "cryptonews.csv").rows:
        seen.setdefault(row.text, None)
    return list(seen)


def spread(items: list, count: int) -> list:
    """``count`` items evenly spread over ``items`` (deterministic)."""
    if count >= len(items):
        return list(items)
    return [items[int(index)] for index in np.linspace(0, len(items) - 1, count)]


@dataclass(frozen=True)
class Queries:
    texts: list[str]
    kinds: list[str]  # "crypto title" or "cut headline"
    vectors: np.ndarray


def make_queries(real: RealHeadlines, data_dir: Path, count: int) -> Queries:
    from patterns.encoders import news

    crypto = spread(crypto_titles(data_dir), count - count // 2)
    rng = np.random.default_rng(SEED + 1)
    cut = []
    for index in rng.choice(len(real.texts), size=4 * count, replace=False):
        words = real.texts[index].split()
        if len(words) >= 6:
            cut.append(" ".join(words[: max(3, round(len(words) * PREFIX_SHARE))]))
        if len(cut) == count // 2:
            break
    texts = crypto + cut
    kinds = ["crypto title"] * len(crypto) + ["cut headline"] * len(cut)
    return Queries(texts, kinds, news.encode(texts))


# ---------------------------------------------------------------- perturbed copies


@dataclass
class Perturber:
    """Makes copies of real vectors: normalise(source + scale * noise)."""

    real: np.ndarray
    kind: str  # "covariance" or "isotropic"
    scale: float = 0.0
    target_cosine: float = 0.0
    _mixing: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind == "covariance":
            centred = self.real.astype(np.float64) - self.real.mean(axis=0)
            eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred / (len(centred) - 1))
            self._mixing = (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))).T.astype(np.float32)
        else:
            self._mixing = np.eye(self.real.shape[1], dtype=np.float32) / np.sqrt(self.real.shape[1])

    def noise(self, count: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((count, self.real.shape[1]), dtype=np.float32) @ self._mixing

    def copies(self, sources: np.ndarray, rng: np.random.Generator, scale: float | None = None) -> np.ndarray:
        noisy = self.real[sources] + (self.scale if scale is None else scale) * self.noise(len(sources), rng)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        return noisy

    def calibrate(self, rng: np.random.Generator, target: float | None = None, sample: int = 2_000) -> None:
        """Pick ``scale`` so the median cosine(copy, source) equals ``target``, by default the
        median cosine of a real headline to its nearest other real headline."""
        rows = rng.choice(len(self.real), size=min(sample, len(self.real)), replace=False)
        if target is None:
            scores = self.real[rows] @ self.real.T
            scores[np.arange(len(rows)), rows] = -2.0
            target = float(np.median(scores.max(axis=1)))
        self.target_cosine = target
        noise = self.noise(len(rows), rng)
        low, high = 0.0, 10.0
        for _ in range(40):
            middle = (low + high) / 2
            noisy = self.real[rows] + middle * noise
            cosine = (noisy * self.real[rows]).sum(axis=1) / np.linalg.norm(noisy, axis=1)
            low, high = (middle, high) if np.median(cosine) > self.target_cosine else (low, middle)
        self.scale = (low + high) / 2


def corpus_matrix(real: RealHeadlines, size: int, perturber: Perturber) -> tuple[np.ndarray, np.ndarray]:
    """(size, 384) float32: the real rows first (a prefix of them below their count), then copies
    cycling over the sources; and each row's source index."""
    count = len(real.vectors)
    if size <= count:
        return real.vectors[:size].copy(), np.arange(size)
    sources = np.concatenate([np.arange(count), np.arange(size - count) % count])
    matrix = np.empty((size, real.vectors.shape[1]), dtype=np.float32)
    matrix[:count] = real.vectors
    rng = np.random.default_rng(SEED)
    for start in range(count, size, 100_000):
        stop = min(size, start + 100_000)
        matrix[start:stop] = perturber.copies(sources[start:stop], rng)
    return matrix, sources


def exact_top(matrix: np.ndarray, queries: np.ndarray, k: int = K) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k rows by inner product for every query (chunked over the matrix)."""
    best_rows = np.empty((len(queries), 0), dtype=np.int64)
    best_scores = np.empty((len(queries), 0), dtype=np.float32)
    for start in range(0, len(matrix), 200_000):
        scores = queries @ matrix[start : start + 200_000].T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        best_rows = np.hstack([best_rows, top + start])
        best_scores = np.hstack([best_scores, np.take_along_axis(scores, top, axis=1)])
        keep = np.argsort(-best_scores, axis=1, kind="stable")[:, :k]
        best_rows = np.take_along_axis(best_rows, keep, axis=1)
        best_scores = np.take_along_axis(best_scores, keep, axis=1)
    return best_rows, best_scores


def numpy_search(matrix: np.ndarray, query: np.ndarray, k: int = K) -> np.ndarray:
    scores = matrix @ query
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


def recall(found: list[int] | np.ndarray, truth: np.ndarray) -> float:
    return len(set(int(row) for row in found) & set(int(row) for row in truth)) / len(truth)


# ---------------------------------------------------------------- results


@dataclass
class Case:
    name: str
    seconds: list[float] = field(default_factory=list)
    recalls: list[float] = field(default_factory=list)
    build_seconds: float | None = None
    note: str = ""

    @property
    def timing(self) -> Timing:
        return Timing(self.name, self.seconds)

    @property
    def recall(self) -> float:
        return float(np.mean(self.recalls)) if self.recalls else float("nan")


def rss_bytes(pid: int | None = None) -> int:
    import psutil

    return psutil.Process(pid or os.getpid()).memory_info().rss


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def gib(value: float) -> str:
    return f"{value / 2**30:.2f} GiB" if value >= 2**30 else f"{value / 2**20:.0f} MiB"


def table(cases: list[Case], kinds: list[str]) -> list[str]:
    header = (
        f"{'case':<58}{'build':>9}{'p50':>10}{'p99':>10}{'recall@10':>11}{'min':>6}"
        f"{'crypto':>8}{'cut':>7}{'p99/15ms':>10}{'rec/0.95':>9}"
    )
    lines = [header, "-" * len(header)]
    crypto = np.array([kind == "crypto title" for kind in kinds])
    for case in cases:
        timing = case.timing
        recalls = np.array(case.recalls) if case.recalls else None
        build = f"{case.build_seconds:.1f} s" if case.build_seconds is not None else ""
        if recalls is not None and len(recalls) == len(kinds):
            by_kind = f"{recalls[crypto].mean():>8.3f}{recalls[~crypto].mean():>7.3f}"
            rec = f"{recalls.mean():.4f}{recalls.min():>6.1f}{by_kind}"
            ratio_recall = f"{recalls.mean() / TARGET_RECALL:>9.3f}"
        else:
            rec, ratio_recall = f"{'':>11}{'':>6}{'':>8}{'':>7}", f"{'':>9}"
        lines.append(
            f"{case.name:<58}{build:>9}{human_duration(timing.median):>10}{human_duration(timing.percentile(99)):>10}"
            f"{rec:>{11 + 6 + 8 + 7}}{TARGET_P99 / timing.percentile(99):>9.2f}x{ratio_recall}"
        )
        if case.note:
            lines.append(f"    {case.note}")
    return lines


# ---------------------------------------------------------------- PostgreSQL


@contextlib.contextmanager
def search_database(keep: bool) -> Iterator[str]:
    """A migrated database of our own (``bench_patterns_search``) on the configured server; dropped
    afterwards unless ``keep`` (then a later ``--keep-db`` run reuses it, migrating if needed)."""
    from django.db import connection

    original = connection.settings_dict["NAME"]
    connection.settings_dict["TEST"]["NAME"] = DATABASE
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=keep)
    try:
        yield name
    finally:
        if keep:
            connection.close()
            connection.settings_dict["NAME"] = original
        else:
            connection.creation.destroy_test_db(original, verbosity=0)


def index_definition(m: int | None, ef_construction: int | None) -> tuple[str, int, int]:
    """The product's HNSW DDL for ``patterns_headline`` (from the migrated database), with m and
    ef_construction substituted when given."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [index_name()])
        row = cursor.fetchone()
    if row is None:
        raise SystemExit(f"{index_name()} is not in the migrated database: has the model changed?")
    ddl = row[0]
    product_m = int(re.search(r"\bm='?(\d+)", ddl).group(1))
    product_ef = int(re.search(r"ef_construction='?(\d+)", ddl).group(1))
    if m is not None:
        ddl = re.sub(r"\bm='?\d+'?", f"m='{m}'", ddl)
    if ef_construction is not None:
        ddl = re.sub(r"ef_construction='?\d+'?", f"ef_construction='{ef_construction}'", ddl)
    return ddl, m or product_m, ef_construction or product_ef


def load_fingerprint(size: int, perturber: Perturber, ddl: str, real: RealHeadlines) -> str:
    key = f"{size}|{perturber.kind}|{perturber.scale:.6f}|{SEED}|{ddl}|{real.cache_path.name}"
    return "bench:" + hashlib.sha256(key.encode()).hexdigest()[:20]


def load_table(corpus_id: int, real: RealHeadlines, matrix: np.ndarray, sources: np.ndarray) -> tuple[float, int]:
    """Binary COPY of every row into ``patterns_headline`` (ids = row + 1); returns seconds, rows."""
    from django.db import connection
    from django.utils import timezone

    from patterns.services.vectors import copy_rows

    now = timezone.now()
    count = len(real.texts)

    def rows():
        for row in range(len(matrix)):
            source = int(sources[row])
            copy = row // count
            text = real.texts[source] if copy == 0 else f"{real.texts[source]} [copy {copy}]"
            yield (row + 1, corpus_id, real.days[source], text, "" if copy == 0 else "bench copy", matrix[row], now)

    started = time.perf_counter()
    copied = copy_rows(
        "patterns_headline",
        ("id", "corpus_id", "day", "text", "source", "vector", "added_at"),
        ("int8", "int8", "date", "text", "text", "vector", "timestamptz"),
        rows(),
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('patterns_headline', 'id'), %s)", [len(matrix)])
    return time.perf_counter() - started, copied


def build_index(ddl: str, size: int) -> tuple[float, str, int]:
    """Run the index DDL with enough maintenance_work_mem for the graph; returns (seconds, the
    settings used, parallel workers configured)."""
    from django.db import connection

    memory_mb = max(1024, int(size * 4.5 / 1024) + 512)  # ~4.5 KB per 384-d row with m=16, with room
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {index_name()}")
        cursor.execute(f"SET maintenance_work_mem = '{memory_mb}MB'")
        cursor.execute("SHOW max_parallel_maintenance_workers")
        workers = int(cursor.fetchone()[0])
        started = time.perf_counter()
        cursor.execute(ddl)
        seconds = time.perf_counter() - started
        cursor.execute("RESET maintenance_work_mem")
        cursor.execute("VACUUM (ANALYZE) patterns_headline")
    return seconds, f"maintenance_work_mem {memory_mb} MB, max_parallel_maintenance_workers {workers}", workers


def pg_search(corpus_id: int, vector: np.ndarray, ef_search: int, mode: str = PRODUCT_ITERATIVE_SCAN) -> list[tuple]:
    """The product's headline query (search_headlines_uncached) at a chosen ef_search."""
    from django.db import connection, transaction

    from patterns.services.vectors import fetch_vectors

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL hnsw.ef_search = %s", [ef_search])
            cursor.execute(f"SET LOCAL hnsw.iterative_scan = '{mode}'")
        return fetch_vectors(product_sql(), [vector, corpus_id, vector, K])


FILTER_WINDOWS = (("one year", "2012-01-01", "2012-12-31"), ("one month", "2012-06-01", "2012-06-30"))


def pg_search_window(corpus_id: int, vector: np.ndarray, window: tuple[str, str], ef_search: int, mode: str):
    """The product's headline query with its date bounds (start/end), at a chosen scan mode."""
    from django.db import connection, transaction

    from patterns.services.vectors import fetch_vectors

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL hnsw.ef_search = %s", [ef_search])
            cursor.execute(f"SET LOCAL hnsw.iterative_scan = '{mode}'")
        return fetch_vectors(product_sql(window=True), [vector, corpus_id, *window, vector, K])


def window_plan(corpus_id: int, vector: np.ndarray, window: tuple[str, str], mode: str) -> str:
    from django.db import connection, transaction

    from patterns.services.vectors import fetch_vectors

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL hnsw.iterative_scan = '{mode}'")
        rows = fetch_vectors("EXPLAIN " + product_sql(window=True), [vector, corpus_id, *window, vector, K])
    plan = " ".join(row[0] for row in rows)
    if index_name() in plan:
        return "HNSW index scan + filter"
    return "exact: " + ("an index on day, then sort" if "Index" in plan else "sequential scan, then sort")


def filtered_cases(
    corpus_id: int, matrix: np.ndarray, row_days: np.ndarray, queries: Queries, ef_search: int
) -> list[Case]:
    """Date-bounded searches (a selective filter on the one HNSW index): recall against the exact
    top 10 inside the window, with pgvector's iterative scan relaxed (the product), strict, off."""
    cases = []
    for label, start, end in FILTER_WINDOWS:
        inside = np.flatnonzero((row_days >= np.datetime64(start)) & (row_days <= np.datetime64(end)))
        if len(inside) <= K:
            continue
        truth, _ = exact_top(matrix[inside], queries.vectors)
        truth = inside[truth]
        for mode in ("relaxed_order", "strict_order", "off"):
            case = Case(f"pgvector {label} window ({len(inside) / len(matrix):.1%}), scan {mode}")
            short = 0
            for vector, expected in zip(queries.vectors, truth, strict=True):
                started = time.perf_counter_ns()
                rows = pg_search_window(corpus_id, vector, (start, end), ef_search, mode)
                case.seconds.append((time.perf_counter_ns() - started) / 1e9)
                case.recalls.append(recall([row[0] - 1 for row in rows], expected))
                short += len(rows) < K
            plan = window_plan(corpus_id, queries.vectors[0], (start, end), mode)
            case.note = f"ef_search={ef_search}, plan: {plan}" + (
                f"; {short} of {len(truth)} queries got fewer than {K} rows" if short else ""
            )
            cases.append(case)
        cases.append(product_window_case(corpus_id, queries, truth, label, (start, end)))
    return cases


def product_window_case(corpus_id: int, queries: Queries, truth: np.ndarray, label: str, window: tuple[str, str]):
    """``search_headlines_uncached`` with the window's dates, the query vector given: exact when the
    window holds at most PATTERNS_EXACT_SEARCH_LIMIT headlines, else the index (as coded)."""
    from datetime import date

    from patterns.encoders import news
    from patterns.models import Corpus
    from patterns.services import search

    corpus = Corpus.all_objects.get(pk=corpus_id)
    start, end = (date.fromisoformat(value) for value in window)
    by_text = dict(zip(queries.texts, queries.vectors, strict=True))
    case = Case(f"product search_headlines_uncached, {label} window")
    methods = set()
    with mock.patch.object(news, "encode_one", lambda text: by_text[text]):
        for text, expected in zip(queries.texts, truth, strict=True):
            started = time.perf_counter_ns()
            answer = search.search_headlines_uncached(corpus, text, start=start, end=end)
            case.seconds.append((time.perf_counter_ns() - started) / 1e9)
            case.recalls.append(recall([hit["id"] - 1 for hit in answer["results"]], expected))
            methods.add(answer["method"])
    case.note = f"method as coded: {', '.join(sorted(methods))}"
    return case


def uses_index(corpus_id: int, vector: np.ndarray) -> bool:
    from patterns.services.vectors import fetch_vectors

    plan = fetch_vectors("EXPLAIN " + product_sql(), [vector, corpus_id, vector, K])
    return any(index_name() in row[0] for row in plan)


def buffer_counts(corpus_id: int, vectors: np.ndarray, ef_search: int) -> tuple[float, float]:
    """Mean shared-buffer hits and reads per query (EXPLAIN ANALYZE, BUFFERS) at ``ef_search``."""
    from django.db import connection, transaction

    from patterns.services.vectors import fetch_vectors

    hits, reads = [], []
    for vector in vectors:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL hnsw.ef_search = %s", [ef_search])
                cursor.execute(f"SET LOCAL hnsw.iterative_scan = '{PRODUCT_ITERATIVE_SCAN}'")
            plan = fetch_vectors(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + product_sql(), [vector, corpus_id, vector, K]
            )
        top = plan[0][0][0]["Plan"]
        hits.append(top.get("Shared Hit Blocks", 0))
        reads.append(top.get("Shared Read Blocks", 0))
    return float(np.mean(hits)), float(np.mean(reads))


def relation_sizes() -> tuple[int, int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_relation_size(%s::regclass), pg_table_size('patterns_headline'), pg_backend_pid()",
            [index_name()],
        )
        return cursor.fetchone()


# ---------------------------------------------------------------- ChromaDB


def chroma_cases(matrix: np.ndarray, queries: Queries, truth: np.ndarray, ef_search: int) -> tuple[list[Case], str]:
    """Build a ChromaDB in-process HNSW collection (ip, max_neighbors 16, ef_construction 100) and
    query it. ChromaDB 1.5.9 reads ef_search when it loads the index: ``modify()`` changes the
    stored configuration but not a loaded index (measured), so one build serves one ef_search."""
    try:
        import chromadb
        from chromadb.config import Settings
    except ImportError:
        return [], "ChromaDB is not installed: pip install -r requirements/bench.txt -c requirements/dev.txt"
    before = rss_bytes()
    client = chromadb.EphemeralClient(settings=Settings(anonymized_telemetry=False, allow_reset=True))
    client.reset()
    collection = client.create_collection(
        name="bench_headlines",
        embedding_function=None,
        configuration={"hnsw": {"space": "ip", "max_neighbors": 16, "ef_construction": 100, "ef_search": ef_search}},
    )
    batch = client.get_max_batch_size()
    started = time.perf_counter()
    for start in range(0, len(matrix), batch):
        stop = min(len(matrix), start + batch)
        collection.add(ids=[str(row) for row in range(start, stop)], embeddings=matrix[start:stop])
    added = time.perf_counter() - started
    started = time.perf_counter()
    collection.query(query_embeddings=[queries.vectors[0]], n_results=K, include=[])  # anything deferred
    first = time.perf_counter() - started
    grown = rss_bytes() - before
    case = Case(f"ChromaDB {chromadb.__version__} HNSW m=16 efc=100 ef_search={ef_search}")
    for vector in queries.vectors[:10]:
        collection.query(query_embeddings=[vector], n_results=K, include=[])
    for vector, expected in zip(queries.vectors, truth, strict=True):
        started = time.perf_counter_ns()
        result = collection.query(query_embeddings=[vector], n_results=K, include=[])
        case.seconds.append((time.perf_counter_ns() - started) / 1e9)
        case.recalls.append(recall([int(row) for row in result["ids"][0]], expected))
    case.build_seconds = added + first
    note = (
        f"ChromaDB build: add() of {len(matrix):,} vectors in batches of {batch:,} {added:.1f} s, first query"
        f" {first:.2f} s; this process grew by {gib(grown)} while ChromaDB built its index"
    )
    client.reset()
    del collection, client
    gc.collect()
    return [case], note


# ---------------------------------------------------------------- one size


def run_size(
    size: int,
    real: RealHeadlines,
    queries: Queries,
    perturber: Perturber,
    args: argparse.Namespace,
    ef_values: list[int],
) -> dict:
    from django.db import connection

    from patterns.encoders import news
    from patterns.models import Corpus
    from patterns.services import search

    def emit(line: str = "") -> None:
        print(line, flush=True)

    real_rows = min(size, len(real.vectors))
    emit(f"\n=== size {size:,}: {real_rows:,} real headlines + {max(0, size - real_rows):,} perturbed copies")
    started = time.perf_counter()
    matrix, sources = corpus_matrix(real, size, perturber)
    emit(f"corpus matrix built in {time.perf_counter() - started:.1f} s ({gib(matrix.nbytes)} float32)")

    started = time.perf_counter()
    truth, truth_scores = exact_top(matrix, queries.vectors)
    emit(
        f"ground truth (exact top {K}, numpy) in {time.perf_counter() - started:.1f} s; among the exact top 10s,"
        f" {(truth >= len(real.vectors)).mean():.0%} are copies (the corpus holds {1 - real_rows / size:.0%});"
        f" median cosine of the 1st / 10th hit {np.median(truth_scores[:, 0]):.3f}"
        f" / {np.median(truth_scores[:, -1]):.3f}"
    )

    cases: list[Case] = []
    # Exact numpy scan, one query at a time (BLAS may use both cores).
    exact = Case("exact numpy scan (float32 matvec + argpartition)")
    for vector in queries.vectors[:10]:
        numpy_search(matrix, vector)
    for vector, expected in zip(queries.vectors, truth, strict=True):
        started = time.perf_counter_ns()
        found = numpy_search(matrix, vector)
        exact.seconds.append((time.perf_counter_ns() - started) / 1e9)
        exact.recalls.append(recall(found, expected))
    cases.append(exact)

    pg_notes: list[str] = []
    with search_database(args.keep_db):
        ddl, m, ef_construction = index_definition(args.m, args.ef_construction)
        fingerprint = load_fingerprint(size, perturber, ddl, real)
        corpus = Corpus.all_objects.filter(organization=None, slug="bench-search").first()
        reuse = corpus is not None and corpus.description == fingerprint
        if corpus is not None and not reuse:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP INDEX IF EXISTS {index_name()}")
                cursor.execute("TRUNCATE patterns_headline")
            corpus.delete()
        if reuse:
            build_seconds = None
            pg_notes.append("reused the kept database (--keep-db): load and build not measured this run")
        else:
            corpus = Corpus.all_objects.create(
                organization=None, slug="bench-search", name="bench: headline search", description=fingerprint
            )
            with connection.cursor() as cursor:
                cursor.execute(f"DROP INDEX IF EXISTS {index_name()}")
            copy_seconds, copied = load_table(corpus.pk, real, matrix, sources)
            emit(f"binary COPY of {copied:,} rows into patterns_headline (index dropped): {copy_seconds:.1f} s")
            emit(f"building the HNSW index (m={m}, ef_construction={ef_construction}) ...")
            build_seconds, build_settings, _ = build_index(ddl, size)
            emit(f"HNSW build: {build_seconds:.1f} s ({build_settings})")
            pg_notes.append(f"HNSW build {build_seconds:.1f} s with {build_settings}; COPY {copy_seconds:.1f} s")
        index_size, table_size, backend = relation_sizes()
        if not uses_index(corpus.pk, queries.vectors[0]):
            pg_notes.append("WARNING: the planner did not choose the HNSW index for the product's query")

        # Warm the index pages and the connection, then interleave the settings query by query.
        pg_cases = {ef: Case(f"pgvector HNSW m={m} efc={ef_construction} ef_search={ef}") for ef in ef_values}
        for vector in queries.vectors:
            pg_search(corpus.pk, vector, max(ef_values))
        for vector, expected in zip(queries.vectors, truth, strict=True):
            for ef, case in pg_cases.items():
                started = time.perf_counter_ns()
                rows = pg_search(corpus.pk, vector, ef)
                case.seconds.append((time.perf_counter_ns() - started) / 1e9)
                case.recalls.append(recall([row[0] - 1 for row in rows], expected))
        first = pg_cases[ef_values[0]]
        first.build_seconds = build_seconds
        cases.extend(pg_cases.values())

        # Where the time goes: buffers per query, and each query run twice in a row so the second
        # run finds its pages in shared_buffers (what a shared_buffers holding the index gives).
        for ef in ef_values:
            hot = Case(f"pgvector ef_search={ef}, same query again (hot buffers)")
            for vector, expected in zip(queries.vectors, truth, strict=True):
                pg_search(corpus.pk, vector, ef)
                started = time.perf_counter_ns()
                rows = pg_search(corpus.pk, vector, ef)
                hot.seconds.append((time.perf_counter_ns() - started) / 1e9)
                hot.recalls.append(recall([row[0] - 1 for row in rows], expected))
            cases.append(hot)
        hits, reads = buffer_counts(corpus.pk, queries.vectors[::10], 100)
        row_days = np.array(real.days, dtype="datetime64[D]")[sources]
        filtered = filtered_cases(corpus.pk, matrix, row_days, queries, 100)
        with connection.cursor() as cursor:
            cursor.execute("SHOW shared_buffers")
            shared_buffers = cursor.fetchone()[0]
        pg_notes.append(
            f"buffers per query at ef_search=100 (first run, {len(queries.vectors[::10])} queries): {hits:,.0f} hit +"
            f" {reads:,.0f} read from outside shared_buffers ({shared_buffers}), each a copy from the OS page cache"
        )

        # The product function as coded, with the query vector looked up instead of encoded, then whole.
        by_text = dict(zip(queries.texts, queries.vectors, strict=True))
        product = Case("product search_headlines_uncached, vector given")
        with mock.patch.object(news, "encode_one", lambda text: by_text[text]):
            search.search_headlines_uncached(corpus, queries.texts[0])
            for text, expected in zip(queries.texts, truth, strict=True):
                started = time.perf_counter_ns()
                hits = search.search_headlines_uncached(corpus, text)["results"]
                product.seconds.append((time.perf_counter_ns() - started) / 1e9)
                product.recalls.append(recall([hit["id"] - 1 for hit in hits], expected))
        whole = Case("product search_headlines_uncached, text → embedding → search")
        for text in queries.texts:
            started = time.perf_counter_ns()
            search.search_headlines_uncached(corpus, text)
            whole.seconds.append((time.perf_counter_ns() - started) / 1e9)
        product.note = "ef_search and iterative scan as coded in patterns/services/search.py"
        cases.extend([product, whole, *filtered])
        backend_rss = rss_bytes(backend)

    chroma_note = ""
    if not args.no_chroma:
        emit("building the ChromaDB collection ...")
        chroma, chroma_note = chroma_cases(matrix, queries, truth, args.chroma_ef_search)
        cases.extend(chroma)

    emit("")
    for line in table(cases, queries.kinds):
        emit(line)
    for note in pg_notes:
        emit(f"pgvector: {note}")
    if chroma_note:
        emit(chroma_note)
    emit(
        f"memory: HNSW index {gib(index_size)} (pg_relation_size), table {gib(table_size)} (pg_table_size);"
        f" PostgreSQL backend RSS {gib(backend_rss)}; this process RSS {gib(rss_bytes())}"
        f" (peak {gib(peak_rss_bytes())},"
        f" the float32 matrix is {gib(matrix.nbytes)})"
    )
    del matrix
    gc.collect()
    return {"size": size, "cases": cases}


# ---------------------------------------------------------------- the part


def run(args: argparse.Namespace) -> None:
    setup_django()
    from django.conf import settings

    print(
        f"load average {' / '.join(f'{value:.2f}' for value in os.getloadavg())} on {os.cpu_count()} cores"
        " (the numbers below include whatever else the machine was doing)",
        flush=True,
    )
    data_dir = Path(settings.SHARED_DATA_DIR)
    ef_values = [int(value) for value in str(args.ef_search).split(",") if value.strip()]
    started = time.perf_counter()
    real = real_headlines(data_dir)
    how = (
        f"embedded in {real.embed_seconds:.1f} s ({len(real.texts) / real.embed_seconds:,.0f}/s), cached"
        if real.embed_seconds is not None
        else "read from the cache"
    )
    print(
        f"{len(real.texts):,} distinct Reddit headlines: {how} ({real.cache_path.name});"
        f" {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    sizes = [parse_size(text, len(real.texts)) for text in (args.size or DEFAULT_SIZES.split(","))]
    queries = make_queries(real, data_dir, args.queries)
    perturber = Perturber(real.vectors, args.noise)
    perturber.calibrate(np.random.default_rng(SEED + 2), args.copy_cosine)
    print(
        f"{len(queries.texts)} queries: {queries.kinds.count('crypto title')} crypto news titles,"
        f" {queries.kinds.count('cut headline')} Reddit headlines cut to their first {PREFIX_SHARE:.0%} of words",
        flush=True,
    )
    if max(sizes) > len(real.texts):
        print(
            f"copies: {perturber.kind} Gaussian noise, scale {perturber.scale:.4f}, calibrated so the median"
            f" cosine(copy, source) = {perturber.target_cosine:.3f}"
            + (
                " (set by --copy-cosine)"
                if args.copy_cosine
                else ", the median cosine of a real headline to its nearest real neighbour"
            ),
            flush=True,
        )
    summary = []
    for size in sizes:
        result = run_size(size, real, queries, perturber, args, ef_values)
        summary.append(result)
    print("\nsummary (p99 target 15 ms and recall@10 target 0.95 apply at 1M):")
    for result in summary:
        pg = [case for case in result["cases"] if case.name.startswith("pgvector HNSW")]
        meeting = [case for case in pg if case.recall >= TARGET_RECALL and case.timing.percentile(99) <= TARGET_P99]
        best = min(meeting, key=lambda case: case.timing.percentile(99)) if meeting else None
        verdict = (
            f"met by {best.name.split()[-1]} (recall {best.recall:.3f},"
            f" p99 {human_duration(best.timing.percentile(99))})"
            if best
            else "MISSED by every ef_search tried"
        )
        product = next(case for case in result["cases"] if case.name.endswith("vector given"))
        print(
            f"  {result['size']:>9,} rows: product settings recall {product.recall:.3f}, p99"
            f" {human_duration(product.timing.percentile(99))}; targets {verdict}"
        )


def main() -> None:
    """``python -m bench patterns_search``: every size in BENCH_SEARCH_SIZES with the defaults."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    run(parser.parse_args([]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    run(parser.parse_args())
