"""Column-packed blocks of sealed candle spans: the fast path of long ``candle_arrays`` reads.

Why: a row read costs PostgreSQL one to two microseconds per candle however it is sent (measured
with ``COPY ... TO '/dev/null'`` on 100,000 candles: the index scan alone ~0.25 µs per row and
every value through its type's send function ~0.1 µs more, fixed-width or NUMERIC alike), so
row reads top out near the server's COPY rate whatever the client does. A block holds
``BLOCK_PERIODS`` periods of one series as seven arrays in one ``bytea`` (``CandleBlock``): the
server sends a few large values instead of 700,000 small ones.

Rules that keep blocks equal to the rows (tests compare both on every path):
- Only *sealed* spans are packed: the span has ended (``block_end`` at or before the start of
  the period now forming) and every candle in it is closed. The forming edge of a live series
  is always read from rows.
- Writes delete the blocks they touch, in the writing transaction: ``candles_upsert`` those of
  each batch it inserts, and triggers on ``trading_candle`` those of any UPDATE, DELETE or
  TRUNCATE, whoever runs it (migration ``0005_candle_blocks``). Candles are inserted only by
  ``candles_upsert``.
- A block is built only while holding ``FOR KEY SHARE`` on the series' registry row, which
  ``candles_upsert`` locks ``FOR UPDATE`` for its whole transaction: a block is never packed
  from rows an uncommitted upsert is changing (its deletion of blocks would already have run,
  before the block existed). With the row locked by a writer, stored blocks are still read but
  none is built. Writers other than ``candles_upsert`` must take the same lock.
- Reads shorter than one block's span use rows only: no packing for a live bot's last bars.

Blocks are built on first read (the rows of a missing block's whole span are read, packed and
inserted with ``ON CONFLICT DO NOTHING``); values are the nearest float64 of the stored NUMERIC,
decoded by ``pgcopy`` exactly as the row path decodes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import psycopg
from django.db import connection, transaction
from django.utils import timezone

from asterweb.db import psycopg_connection
from trading.marketdata.candles import (
    CANDLE_ARRAY_FIELDS,
    PRICE_FIELDS,
    CandleArrays,
    SeriesKey,
    epoch_seconds,
    from_epoch,
    period_floor,
)

BLOCK_PERIODS = 4096  # 1m: ~2.8 days per block, 192 KiB; 1h: ~170 days; 1d: ~11 years
_LOCK_SERIES = """
SELECT 1 FROM trading_candleseries
WHERE exchange = %s AND symbol = %s AND market_type = %s AND timeframe = %s
FOR KEY SHARE SKIP LOCKED
"""
# Two index probes (an aggregate over the range would visit every row of it).
_RANGE_ROWS = """
FROM trading_candle
WHERE exchange = %(exchange)s AND symbol = %(symbol)s AND market_type = %(market_type)s
  AND timeframe = %(timeframe)s
  AND (%(start)s::timestamptz IS NULL OR open_time >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR open_time < %(end)s)
"""
_EXTENT = f"""
SELECT (SELECT extract(epoch FROM open_time)::int8 {_RANGE_ROWS} ORDER BY open_time LIMIT 1),
       (SELECT extract(epoch FROM open_time)::int8 {_RANGE_ROWS} ORDER BY open_time DESC LIMIT 1)
"""  # noqa: S608
_STORED = """
SELECT extract(epoch FROM block_start)::int8, row_count, payload FROM trading_candleblock
WHERE exchange = %s AND symbol = %s AND market_type = %s AND timeframe = %s
  AND block_start >= %s AND block_start < %s
ORDER BY block_start
"""
_INSERT = """
INSERT INTO trading_candleblock
    (exchange, symbol, market_type, timeframe, block_start, block_end, row_count, payload, built_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
"""

RowReader = Callable[[int | None, int | None], CandleArrays]  # [start, end) in epoch seconds


@dataclass(frozen=True)
class _Layout:
    """Block arithmetic of one series: block ``k`` spans ``[start(k), start(k + 1))``."""

    origin: int
    span: int  # seconds

    def index(self, epoch: int) -> int:
        return (epoch - self.origin) // self.span

    def start(self, index: int) -> int:
        return self.origin + index * self.span


def range_arrays(
    series: SeriesKey, start: int | None, end: int | None, read_rows: RowReader, *, now: int | None = None
) -> CandleArrays:
    """The candles of ``series`` with ``start <= open_time < end`` (epoch seconds, None for
    unbounded), from stored blocks where they exist, building the missing sealed ones, and from
    ``read_rows`` elsewhere. Equal, array for array, to ``read_rows(start, end)``."""
    layout = _Layout(series.origin, series.step * BLOCK_PERIODS)
    key = [series.exchange, series.symbol, series.market_type, series.timeframe]
    with transaction.atomic(), connection.cursor() as cursor:
        since, until = (None if value is None else from_epoch(value) for value in (start, end))
        cursor.execute(_EXTENT, {**series.filter(), "start": since, "end": until})
        first, last = cursor.fetchone()
        if first is None or last + series.step - first < layout.span:
            return read_rows(start, end)
        now_epoch = epoch_seconds(timezone.now()) if now is None else now
        sealed_before = period_floor(now_epoch, series.timeframe)  # the forming period's start
        indexes = range(layout.index(first), layout.index(last) + 1)
        stored = _stored_blocks(key, layout, indexes)
        # The lock writes the series row (and takes a transaction id): only when there is a block
        # to pack. Rows are read after it, so what is packed cannot be mid-upsert.
        missing = [index for index in indexes if index not in stored and layout.start(index + 1) <= sealed_before]
        if missing:
            cursor.execute(_LOCK_SERIES, key)
        may_build = bool(missing) and cursor.fetchone() is not None
        pieces, built = [], []
        for run in _runs(indexes, stored):
            if isinstance(run, CandleArrays):
                pieces.append(run)
                continue
            rows = read_rows(layout.start(run.start), layout.start(run.stop))
            pieces.append(rows)
            if may_build:
                built += _pack(rows, layout, run, sealed_before)
        if built:
            cursor.cursor.executemany(_INSERT, [[*key, *block, timezone.now()] for block in built])
    return _concatenate(pieces, start, end)


def _runs(indexes: range, stored: dict[int, CandleArrays]) -> list[CandleArrays | range]:
    """``indexes`` in order as stored blocks and ranges of consecutive missing ones."""
    runs: list[CandleArrays | range] = []
    missing_from = None
    for index in indexes:
        if index in stored:
            if missing_from is not None:
                runs.append(range(missing_from, index))
                missing_from = None
            runs.append(stored[index])
        elif missing_from is None:
            missing_from = index
    if missing_from is not None:
        runs.append(range(missing_from, indexes.stop))
    return runs


def _stored_blocks(key: list, layout: _Layout, indexes: range) -> dict[int, CandleArrays]:
    # Binary results hand each payload over as is (Django's client-side cursor would decode hex).
    with psycopg_connection() as raw, psycopg.Cursor(raw) as cursor:
        bounds = [from_epoch(layout.start(indexes.start)), from_epoch(layout.start(indexes.stop))]
        cursor.execute(_STORED, [*key, *bounds], binary=True)
        rows = cursor.fetchall()
    return {layout.index(block_start): _unpack(payload, count) for block_start, count, payload in rows}


def _pack(rows: CandleArrays, layout: _Layout, indexes: range, sealed_before: int) -> list[tuple]:
    """(block_start, block_end, row_count, payload) of each sealed, all-closed block in ``rows``."""
    blocks = []
    edges = np.searchsorted(rows.open_time, [layout.start(index) for index in (*indexes, indexes.stop)])
    for position, index in enumerate(indexes):
        block_end = layout.start(index + 1)
        if block_end > sealed_before:
            break
        part = slice(edges[position], edges[position + 1])
        if not rows.is_closed[part].all():
            continue
        prices = (getattr(rows, name)[part].astype("<f8") for name in PRICE_FIELDS)
        columns = [rows.open_time[part].astype("<i8"), *prices]
        payload = b"".join(column.tobytes() for column in columns)
        blocks.append((from_epoch(layout.start(index)), from_epoch(block_end), len(columns[0]), payload))
    return blocks


def _unpack(payload: bytes, count: int) -> CandleArrays:
    size = count * 8
    if len(payload) != 6 * size:
        raise ValueError(f"A candle block of {count} rows holds {len(payload)} bytes, not {6 * size}.")
    open_time = np.frombuffer(payload, dtype="<i8", count=count)
    floats = {
        name: np.frombuffer(payload, dtype="<f8", count=count, offset=size * (position + 1))
        for position, name in enumerate(PRICE_FIELDS)
    }
    return CandleArrays(open_time=open_time, is_closed=np.ones(count, dtype=bool), **floats)


def _concatenate(pieces: list[CandleArrays], start: int | None, end: int | None) -> CandleArrays:
    """The pieces (in time order) trimmed to ``[start, end)`` and joined: one copy of each value."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name in CANDLE_ARRAY_FIELDS}
    for piece in pieces:
        times = piece.open_time
        first = 0 if start is None else int(np.searchsorted(times, start))
        stop = len(times) if end is None else int(np.searchsorted(times, end))
        for name in CANDLE_ARRAY_FIELDS:
            parts[name].append(getattr(piece, name)[first:stop])
    return CandleArrays(**{name: np.concatenate(arrays) for name, arrays in parts.items()})
