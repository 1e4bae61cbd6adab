"""The candle store's two bulk paths, each beside a Django reference, in one run.

- import: ``candles_upsert`` (COPY into a staging table, one classifying join, one INSERT ... SELECT)
  stores 1,000,000 synthetic 1-minute candles into an empty series, then the same million again
  (all duplicates: the re-import path). The reference is the ORM's ``bulk_create`` of 100,000
  model instances (plain INSERTs, no duplicate or conflict detection), beside our upsert of
  the same 100,000 into another empty series.
- range read: ``candle_arrays`` reads a 100,000-candle range of the million three ways:
  - from packed blocks (``trading.marketdata.blocks``: sealed spans of 4,096 candles stored as
    arrays in one bytea each), the path every read after the first takes;
  - the first read, blocks absent: it reads the rows of the whole blocks the range touches,
    packs and stores them (the blocks are deleted before each of these runs);
  - the row path alone (binary COPY of the NUMERIC values, received by a low-level loop and
    decoded by vectorized numpy, ``trading.marketdata.pgcopy``), which ranges shorter than a
    block and spans not yet sealed take.
  References: the row path before ``pgcopy`` (binary COPY of ``::float8`` casts through
  psycopg's ``Copy`` iteration, fixed-width rows read in place), the ORM's ``values_list``
  converted to numpy arrays, and ``cursor.fetchall`` of the float8 casts into a record array.
  The server's share of the row paths is shown apart: each query's COPY written to /dev/null by
  PostgreSQL itself.

The candles are built before the clock starts (their generation is reported apart); the reads
are the median of several runs after a warm-up. Everything runs in a separate, freshly created
database (``bench.bench_database``, dropped afterwards) under the exchange id ``bench``.

    python -m bench candles            # BENCH_CANDLES_N=1000000, BENCH_CANDLES_RANGE=100000
"""

from __future__ import annotations

import importlib.util
import os
import platform
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench import bench_database, measure, setup_django

N = int(os.environ.get("BENCH_CANDLES_N", "1000000"))
RANGE = min(int(os.environ.get("BENCH_CANDLES_RANGE", "100000")), N // 2)
REFERENCE_N = min(N, 100_000)
IMPORT_TARGET = 100_000  # rows/s (issue 4)
READ_TARGET = 1_000_000
START = datetime(2020, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def synthetic_candles(count: int, *, seed: int = 4) -> list:
    """A random walk of 1-minute candles with 2-decimal prices and 6-decimal volumes, from START."""
    from trading.exchanges.base import Candle

    rng = random.Random(seed)
    cents = [Decimal(value) / 100 for value in range(4_000_000, 4_100_000)]  # 40,000.00 .. 40,999.99
    volumes = [Decimal(value) / 1_000_000 for value in range(1, 50_001)]
    candles, level = [], 50_000
    for index in range(count):
        level = min(max(level + rng.randint(-40, 40), 200), 99_700)
        closing = level + rng.randint(-100, 100)
        high = cents[max(level, closing) + rng.randint(0, 60)]
        low = cents[min(level, closing) - rng.randint(0, 60)]
        candles.append(
            Candle(START + index * MINUTE, cents[level], high, low, cents[closing], volumes[rng.randrange(50_000)])
        )
    return candles


def _has_migrations(app: str) -> bool:
    return importlib.util.find_spec(f"{app}.migrations") is not None


@contextmanager
def candle_database() -> Iterator[None]:
    """``bench_database``; while ``trading`` has no migrations yet, every table is built straight
    from the models (as ``pytest --nomigrations`` does), since half-migrated apps cannot be mixed."""
    from django.apps import apps
    from django.conf import settings

    if _has_migrations("trading"):
        with bench_database():
            yield
        return
    saved = settings.MIGRATION_MODULES
    settings.MIGRATION_MODULES = {config.label: None for config in apps.get_app_configs()}
    try:
        with bench_database():
            yield
    finally:
        settings.MIGRATION_MODULES = saved


def interleaved(first, second, *, n: int):
    """Time two calls alternately, ``n`` times each after a warm-up: (first's, second's) timings."""
    from bench import Timing

    first(), second()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(n):
        for call, into in ((first, samples[0]), (second, samples[1])):
            start = time.perf_counter()
            call()
            into.append(time.perf_counter() - start)
    return Timing("first", samples[0]), Timing("second", samples[1])


def first_reads(call, *, n: int):
    """Time ``call`` ``n`` times, each with no candle block stored yet: the first read's cost."""
    from bench import Timing
    from trading.models import CandleBlock

    samples = []
    for _ in range(n):
        CandleBlock.objects.filter(exchange="bench").delete()
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return Timing("first read", samples)


def equal_arrays(first, second) -> bool:
    import numpy as np

    from trading.marketdata.candles import CANDLE_ARRAY_FIELDS

    return all(np.array_equal(getattr(first, name), getattr(second, name)) for name in CANDLE_ARRAY_FIELDS)


def timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def orm_bulk_create(series, candles) -> None:
    from trading.models import Candle

    now = datetime.now(UTC)
    Candle.objects.bulk_create(
        (
            Candle(
                **series.filter(),
                open_time=c.open_time,
                open=c.open,
                high=c.high,
                low=c.low,
                close=c.close,
                volume=c.volume,
                is_closed=c.is_closed,
                source="bench",
                ingested_at=now,
            )
            for c in candles
        ),
        batch_size=5_000,
    )


def orm_values_list(series, start, end):
    import numpy as np

    from trading.models import Candle

    rows = list(
        Candle.objects.filter(**series.filter(), open_time__gte=start, open_time__lt=end)
        .order_by("open_time")
        .values_list("open_time", "open", "high", "low", "close", "volume")
    )
    return np.array([int(row[0].timestamp()) for row in rows], dtype=np.int64), np.array(
        [[float(value) for value in row[1:]] for row in rows], dtype=np.float64
    )


def fetchall_float8(series, start, end):
    import numpy as np
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT extract(epoch FROM open_time)::int8, open::float8, high::float8, low::float8, close::float8,"
            " volume::float8 FROM trading_candle WHERE exchange = %s AND symbol = %s AND market_type = %s"
            " AND timeframe = %s AND open_time >= %s AND open_time < %s ORDER BY open_time",
            [series.exchange, series.symbol, series.market_type, series.timeframe, start, end],
        )
        kinds = [("open_time", "i8"), *((name, "f8") for name in ("open", "high", "low", "close", "volume"))]
        return np.array(cursor.fetchall(), dtype=kinds)


_FLOAT8_COPY = (
    "SELECT open_time, open::float8, high::float8, low::float8, close::float8, volume::float8, is_closed"
    " FROM trading_candle WHERE exchange = %(exchange)s AND symbol = %(symbol)s AND market_type = %(market_type)s"
    " AND timeframe = %(timeframe)s AND open_time >= %(start)s AND open_time < %(end)s ORDER BY open_time"
)


def previous_candle_arrays(series, start, end):
    """The read path before this benchmark's change, kept as its reference: PostgreSQL casts each
    NUMERIC to float8 (through text), psycopg's ``Copy`` yields the rows one by one, and numpy
    reads the fixed-width rows in place."""
    import numpy as np
    from django.db import connection

    fields = [("count", ">i2"), ("t_length", ">i4"), ("open_time", ">i8")]
    for name in ("open", "high", "low", "close", "volume"):
        fields += [(f"{name}_length", ">i4"), (name, ">f8")]
    fields += [("is_closed_length", ">i4"), ("is_closed", "?")]
    params = {**series.filter(), "start": start, "end": end}
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY ({_FLOAT8_COPY}) TO STDOUT (FORMAT BINARY)", params) as copy:
            data = bytearray()
            for block in copy:
                data += block
    body = memoryview(data)[19 + int.from_bytes(data[15:19], "big") : len(data) - 2]
    rows = np.frombuffer(body, dtype=np.dtype(fields))
    return rows["open_time"] // 1_000_000 + 946_684_800, {
        name: rows[name].astype(np.float64) for name in ("open", "high", "low", "close", "volume")
    }


def server_only(sql: str, params: dict):
    """PostgreSQL's own share of a COPY: the same rows written to /dev/null by the server."""
    from django.db import connection

    def call() -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"COPY ({sql}) TO '/dev/null' (FORMAT BINARY)", params)

    return call


def run() -> list[str]:
    setup_django()
    import numpy as np
    from django.db import DatabaseError, connection

    from trading.marketdata.candles import SeriesKey
    from trading.marketdata.selectors import _ARRAYS_SQL, arrays_from_query, candle_arrays
    from trading.marketdata.services import candles_upsert
    from trading.models import CandleBlock

    lines = []
    generation, candles = timed(lambda: synthetic_candles(N))
    lines.append(f"generated {N:,} candles in {generation:.1f} s (not counted below)")
    main = SeriesKey("bench", "BTC/USDT", "spot", "1m")
    ours_100k = SeriesKey("bench", "ETH/USDT", "spot", "1m")
    orm_100k = SeriesKey("bench", "SOL/USDT", "spot", "1m")
    with candle_database():
        try:
            first, result = timed(lambda: candles_upsert(series=main, candles=candles, source="bench"))
            assert result.inserted == N, result
            again, result = timed(lambda: candles_upsert(series=main, candles=candles, source="bench"))
            assert result.duplicate == N, result
            ours, _ = timed(lambda: candles_upsert(series=ours_100k, candles=candles[:REFERENCE_N], source="bench"))
            orm, _ = timed(lambda: orm_bulk_create(orm_100k, candles[:REFERENCE_N]))

            start = START + (N // 2) * MINUTE
            end = start + RANGE * MINUTE
            params = {**main.filter(), "start": start, "end": end}
            arrays = candle_arrays(series=main, start=start, end=end)  # packs the blocks
            block_count = CandleBlock.objects.filter(exchange="bench").count()
            assert block_count and equal_arrays(candle_arrays(series=main, start=start, end=end), arrays)
            assert equal_arrays(arrays_from_query(_ARRAYS_SQL, params), arrays)
            times, values = orm_values_list(main, start, end)
            assert len(arrays) == RANGE and np.array_equal(arrays.open_time, times)
            assert np.array_equal(arrays.close, values[:, 3])
            previous_times, previous = previous_candle_arrays(main, start, end)
            assert np.array_equal(arrays.open_time, previous_times)
            assert all(np.array_equal(getattr(arrays, name), previous[name]) for name in previous)
            # Paths compared alternate, so a change of load on the machine affects both alike.
            read, rows_read = interleaved(
                lambda: candle_arrays(series=main, start=start, end=end),
                lambda: arrays_from_query(_ARRAYS_SQL, params),
                n=9,
            )
            first_read = first_reads(lambda: candle_arrays(series=main, start=start, end=end), n=5)
            previous_read = measure("previous", lambda: previous_candle_arrays(main, start, end), n=5, warmup=1)
            try:
                server, previous_server = interleaved(
                    server_only(_ARRAYS_SQL, params), server_only(_FLOAT8_COPY, params), n=9
                )
            except DatabaseError:  # writing server files needs pg_write_server_files
                server = previous_server = None
            orm_read = measure("values_list", lambda: orm_values_list(main, start, end), n=3, warmup=1)
            fetch = measure("fetchall", lambda: fetchall_float8(main, start, end), n=5, warmup=1)
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('server_version'), current_setting('shared_buffers')")
                postgres, shared_buffers = cursor.fetchone()
        finally:
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM trading_candle WHERE exchange = 'bench'")
                cursor.execute("DELETE FROM trading_candleblock WHERE exchange = 'bench'")
                cursor.execute("DELETE FROM trading_candleseries WHERE exchange = 'bench'")

    def rate(rows: int, seconds: float) -> float:
        return rows / seconds

    rows = [
        ("import", f"candles_upsert, {N:,} new", N, first, None),
        ("import", f"candles_upsert, the same {N:,} again (duplicates)", N, again, None),
        ("import", f"candles_upsert, {REFERENCE_N:,} new", REFERENCE_N, ours, orm),
        ("import", f"reference: ORM bulk_create, {REFERENCE_N:,}", REFERENCE_N, orm, None),
        ("read", f"candle_arrays, {RANGE:,}-candle range, packed blocks", RANGE, read.median, orm_read.median),
        ("read", f"candle_arrays, first read (packs {block_count} blocks)", RANGE, first_read.median, orm_read.median),
        ("read", "row path: binary COPY of NUMERIC, numpy decode", RANGE, rows_read.median, orm_read.median),
        ("read", "  PostgreSQL alone: its COPY to /dev/null", RANGE, server and server.median, None),
        ("read", "reference: row path before pgcopy (float8 casts)", RANGE, previous_read.median, orm_read.median),
        ("read", "  PostgreSQL alone: its COPY to /dev/null", RANGE, server and previous_server.median, None),
        ("read", "reference: ORM values_list -> numpy (median)", RANGE, orm_read.median, None),
        ("read", "reference: fetchall of float8 casts -> numpy (median)", RANGE, fetch.median, None),
    ]
    lines.append(
        f"python {platform.python_version()}, PostgreSQL {postgres} (shared_buffers {shared_buffers}), "
        f"{os.cpu_count()} cores, load average (1 min) at the end {os.getloadavg()[0]:.2f}"
    )
    lines.append("")
    lines.append(f"{'path':<7}{'case':<56}{'seconds':>9}{'rows/s':>13}{'vs reference':>14}")
    for kind, case, count, seconds, reference in rows:
        if seconds is None:
            continue
        ratio = f"{reference / seconds:>13.1f}x" if reference else ""
        lines.append(f"{kind:<7}{case:<56}{seconds:>9.2f}{rate(count, seconds):>13,.0f}{ratio}")
    lines.append("")
    lines.append(
        f"read: packed blocks vs the row path = {rows_read.median / read.median:.1f}x; "
        f"row path vs float8 casts = {previous_read.median / rows_read.median:.2f}x; "
        f"vs fetchall of float8 casts = {fetch.median / read.median:.1f}x (all medians)"
    )
    lines.append(
        f"read: fastest runs: packed blocks {RANGE / min(read.samples):,.0f} rows/s, "
        f"row path {RANGE / min(rows_read.samples):,.0f} rows/s"
    )
    import_rate, read_rate = rate(N, first), rate(RANGE, read.median)
    for label, value, target in (("import", import_rate, IMPORT_TARGET), ("range read", read_rate, READ_TARGET)):
        verdict = "met" if value >= target else "MISSED"
        lines.append(f"target {label} >= {target:,} rows/s: {verdict} ({value:,.0f} rows/s)")
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        lines.append("note: the machine was busy (load above its core count): other work shared the two cores.")
    return lines


def main() -> None:
    print("Candle store: bulk import and range reads (higher rows/s is better)")
    for line in run():
        print(line)


if __name__ == "__main__":
    main()
