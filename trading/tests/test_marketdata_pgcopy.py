"""trading.marketdata.pgcopy: query results into numpy through binary COPY. NUMERIC values must
become the nearest double, which Python's ``float(Decimal(text))`` computes independently."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from django.db import DataError, ProgrammingError, connection, transaction

from trading.marketdata.pgcopy import Column, query_columns

pytestmark = pytest.mark.django_db

NUMERICS = [
    "0",
    "1",
    "-1",
    "0.5",
    "-0.000001",
    "40000.01",
    "40999.99",
    "0.1",
    "0.000000000001",  # 1e-12, the store's smallest step
    "123.456789012345",
    "99999999.99999999",
    "1e22",
    "1e23",  # beyond the exactly representable powers of ten: the exact path
    "9007199254740993",  # 2**53 + 1: not a double, rounds to even
    "123456789012345678.123456789012",  # 30 digits, NUMERIC(30, 12) at its widest
    "0.30000000000000004440892098500626",
    "-7.000000000000000000000000000001",
    "1234567890123456789012345678901234567890",
]

_VALUES_SQL = """
SELECT value::numeric FROM unnest(%(values)s::text[]) WITH ORDINALITY AS given(value, position) ORDER BY position
"""


def test_numeric_values_become_the_nearest_double():
    (values,) = query_columns(_VALUES_SQL, {"values": NUMERICS}, [Column.NUMERIC])

    assert values.dtype == np.float64
    assert values.tolist() == [float(Decimal(text)) for text in NUMERICS]


def test_numeric_special_values():
    (values,) = query_columns(_VALUES_SQL, {"values": ["NaN", "Infinity", "-Infinity", "2"]}, [Column.NUMERIC])

    assert math.isnan(values[0]) and values[1:].tolist() == [math.inf, -math.inf, 2.0]


def test_every_column_type_in_one_row_layout():
    sql = """
    SELECT t, t > '2024-01-01 12:00'::timestamptz, n::int8, (n * 0.25)::float8, (n / 8.0)::numeric(20, 6)
    FROM generate_series(1, 50000) AS n,
         LATERAL (SELECT '2024-01-01 00:00:00.999999+00'::timestamptz + n * interval '1 second' AS t) AS times
    ORDER BY n
    """
    times, later, integers, floats, numerics = query_columns(
        sql, {}, [Column.TIMESTAMPTZ, Column.BOOL, Column.INT8, Column.FLOAT8, Column.NUMERIC]
    )

    n = np.arange(1, 50_001)
    start = 1_704_067_200  # 2024-01-01T00:00:00Z
    assert times.tolist() == (start + n).tolist()  # the .999999 s is floored away
    assert later.tolist() == (start + n + 0.999999 > start + 12 * 3600).tolist()
    assert integers.dtype == np.int64 and integers.tolist() == n.tolist()
    assert floats.tolist() == (n * 0.25).tolist()
    assert numerics.tolist() == [float(Decimal(int(i)) / 8) for i in n]  # n / 8 has at most 3 decimals


def test_an_empty_result_gives_empty_arrays():
    times, values = query_columns("SELECT now(), 1::numeric WHERE false", {}, [Column.TIMESTAMPTZ, Column.NUMERIC])

    assert (times.size, times.dtype, values.size, values.dtype) == (0, np.int64, 0, np.float64)


def test_a_null_or_a_wrong_type_is_refused_not_misread():
    with pytest.raises(ValueError, match="expected column types"):
        query_columns("SELECT 1::numeric, NULL::int8", {}, [Column.NUMERIC, Column.INT8])
    with pytest.raises(ValueError, match="expected column types"):
        query_columns("SELECT 1::int4", {}, [Column.INT8])
    with pytest.raises(ValueError, match="2 fields"):
        query_columns("SELECT 1::int8", {}, [Column.INT8, Column.INT8])


def test_a_server_error_is_raised_and_the_connection_stays_usable():
    with pytest.raises(ProgrammingError, match="no_such_column"), transaction.atomic():
        query_columns("SELECT no_such_column FROM trading_candle", {}, [Column.NUMERIC])
    with pytest.raises(DataError, match="division by zero"), transaction.atomic():
        query_columns("SELECT (1 / (n - 3))::numeric FROM generate_series(1, 5) AS n", {}, [Column.NUMERIC])

    with connection.cursor() as cursor:
        cursor.execute("SELECT 41 + 1")
        assert cursor.fetchone() == (42,)
    (values,) = query_columns("SELECT 2.5::numeric", {}, [Column.NUMERIC])
    assert values.tolist() == [2.5]


def test_a_null_numeric_amid_other_columns_is_refused():
    with pytest.raises(ValueError, match="expected column types"):
        query_columns(
            "SELECT n::numeric, CASE WHEN n = 2 THEN NULL ELSE 1.5 END::numeric, n::int8 FROM generate_series(1, 3) n",
            {},
            [Column.NUMERIC, Column.NUMERIC, Column.INT8],
        )
