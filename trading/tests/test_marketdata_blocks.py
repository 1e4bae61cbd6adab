"""trading.marketdata.blocks: packed blocks give exactly the arrays the rows give, are built only
for sealed, all-closed spans, and disappear with any write that touches them."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from trading.marketdata import blocks
from trading.marketdata.candles import CANDLE_ARRAY_FIELDS, CandleArrays, epoch_seconds
from trading.marketdata.selectors import _ARRAYS_SQL, arrays_from_query, candle_arrays
from trading.marketdata.services import candles_upsert
from trading.models import Candle as StoredCandle
from trading.models import CandleBlock
from trading.tests.test_marketdata_selectors import SERIES, STEP, T0, random_candles

PERIODS = 32  # periods per block here (T0 falls on a block boundary), so 2,000 candles make 63 blocks
COUNT = 2_000
GAPS = {5, 6, 7, *range(300, 420), 1_999}  # blocks 10-12 (candles 320-415) have none at all


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(blocks, "BLOCK_PERIODS", PERIODS)


def rows_read(start: datetime | None = None, end: datetime | None = None) -> CandleArrays:
    """The reference: the same range read from the rows only."""
    return arrays_from_query(_ARRAYS_SQL, {**SERIES.filter(), "start": start, "end": end})


def assert_same(arrays: CandleArrays, expected: CandleArrays) -> None:
    for name in CANDLE_ARRAY_FIELDS:
        got, want = getattr(arrays, name), getattr(expected, name)
        assert got.dtype == want.dtype and np.array_equal(got, want), name


def closed_candles(count: int = COUNT) -> list:
    return [replace(candle, is_closed=True) for candle in random_candles(count, skip=GAPS)]


def stored_blocks() -> dict[datetime, int]:
    return dict(CandleBlock.objects.filter(**SERIES.filter()).values_list("block_start", "row_count"))


def test_blocks_give_the_row_values_for_every_range(db):
    candles_upsert(series=SERIES, candles=closed_candles(), source="test")
    rng = random.Random(3)
    ranges = [(None, None), (T0 + 10 * STEP, None), (None, T0 + 1_500 * STEP)]
    ranges += [
        (T0 + first * STEP, T0 + (first + rng.randint(0, 900)) * STEP)
        for first in (rng.randint(-50, COUNT) for _ in range(25))
    ]
    assert not stored_blocks()

    for start, end in ranges:
        expected = rows_read(start, end)
        assert_same(candle_arrays(series=SERIES, start=start, end=end), expected)  # builds what is missing
        assert_same(candle_arrays(series=SERIES, start=start, end=end), expected)  # now from blocks

    built = stored_blocks()
    # Every block of the series was read whole at some point, the empty ones too.
    assert len(built) == COUNT // PERIODS + 1
    assert built[T0 + 10 * PERIODS * STEP] == 0
    assert sum(built.values()) == COUNT - len(GAPS)


def test_a_read_with_nothing_to_pack_takes_no_lock(db):
    candles_upsert(series=SERIES, candles=closed_candles(), source="test")
    candle_arrays(series=SERIES)  # packs every block

    with CaptureQueriesContext(connection) as queries:
        assert_same(candle_arrays(series=SERIES), rows_read())

    assert not [query["sql"] for query in queries if "FOR KEY SHARE" in query["sql"]]


def test_ranges_shorter_than_a_block_read_rows_only(db):
    candles_upsert(series=SERIES, candles=closed_candles(), source="test")

    arrays = candle_arrays(series=SERIES, start=T0, end=T0 + (PERIODS - 1) * STEP)

    assert len(arrays) == PERIODS - 1 - 3  # three of the gaps fall inside
    assert not stored_blocks()


def test_spans_with_a_forming_candle_or_not_yet_ended_are_not_packed(db):
    candles = closed_candles()
    candles[100] = replace(candles[100], is_closed=False)  # stored as forming, in block 3
    candles_upsert(series=SERIES, candles=candles, source="test")
    now = epoch_seconds(T0 + 10 * PERIODS * STEP + 5 * STEP)  # block 10 is forming

    arrays = blocks.range_arrays(SERIES, None, None, lambda start, end: _rows_epoch(start, end), now=now)

    assert_same(arrays, rows_read())
    assert sorted(stored_blocks()) == [T0 + index * PERIODS * STEP for index in range(10) if index != 3]


def _rows_epoch(start: int | None, end: int | None) -> CandleArrays:
    moment = (None if value is None else datetime.fromtimestamp(value, UTC) for value in (start, end))
    return rows_read(*moment)


def test_every_kind_of_write_drops_the_blocks_it_touches(db):
    candles_upsert(series=SERIES, candles=closed_candles(), source="test")
    candle_arrays(series=SERIES)
    before = stored_blocks()
    block_0, block_4, block_8 = (T0 + index * PERIODS * STEP for index in (0, 4, 8))

    # An upsert filling a gap of block 0, an ORM update in block 4 and an ORM delete in block 8.
    candles_upsert(series=SERIES, candles=[replace(random_candles(6)[5], is_closed=True)], source="test")
    StoredCandle.objects.filter(**SERIES.filter(), open_time=T0 + 130 * STEP).update(volume=123)
    StoredCandle.objects.filter(**SERIES.filter(), open_time=T0 + 260 * STEP).delete()

    assert set(before) - set(stored_blocks()) == {block_0, block_4, block_8}
    arrays = candle_arrays(series=SERIES)
    assert_same(arrays, rows_read())
    assert T0.timestamp() + 5 * STEP.total_seconds() in arrays.open_time
    assert arrays.volume[arrays.open_time == (T0 + 130 * STEP).timestamp()].tolist() == [123.0]
    assert stored_blocks() == {**before, block_0: before[block_0] + 1, block_8: before[block_8] - 1}


def test_truncating_the_candles_drops_every_block(db):
    candles_upsert(series=SERIES, candles=closed_candles(), source="test")
    candle_arrays(series=SERIES)
    assert stored_blocks()

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE trading_candle")

    assert not stored_blocks()
    assert len(candle_arrays(series=SERIES)) == 0


@pytest.mark.django_db(transaction=True)
def test_no_block_is_built_while_a_writer_holds_the_series():
    candles_upsert(series=SERIES, candles=closed_candles(), source="test")
    settings = connection.settings_dict
    writer = psycopg.connect(
        dbname=settings["NAME"], host=settings["HOST"], port=settings["PORT"] or None, user=settings["USER"]
    )
    try:
        writer.execute(
            "SELECT 1 FROM trading_candleseries WHERE exchange = %s AND symbol = %s FOR UPDATE",
            [SERIES.exchange, SERIES.symbol],
        )
        assert_same(candle_arrays(series=SERIES), rows_read())
        assert not stored_blocks()
    finally:
        writer.rollback()
        writer.close()

    assert_same(candle_arrays(series=SERIES), rows_read())
    assert len(stored_blocks()) == COUNT // PERIODS + 1


def test_a_damaged_block_is_an_error_not_wrong_data(db):
    candles_upsert(series=SERIES, candles=closed_candles(), source="test")
    candle_arrays(series=SERIES)
    CandleBlock.objects.filter(**SERIES.filter(), block_start=T0).update(row_count=7)

    with pytest.raises(ValueError, match="block of 7 rows"):
        candle_arrays(series=SERIES)
