"""Query results straight into numpy arrays, through PostgreSQL's binary COPY, without a Python
object per value or a kept one per row (libpq hands over each row as a buffer, copied at once
into one bytearray).

Where the time went before (``bench/candles.py``, 100,000 candles): PostgreSQL's ``numeric::float8``
cast formats each value as text and parses it back (``numeric_out`` + ``strtod``), and that cast was
half of the server's work; psycopg's ``Copy`` iteration then spent ~1 µs of Python per row in its
generator and wait machinery. So values now leave PostgreSQL as binary NUMERIC, untouched, and are
decoded here with vectorized numpy; rows are received by a short loop over psycopg's low-level
``PGconn`` (one C call per row, no generator).

The binary COPY stream: a header (11-byte signature, int32 flags, int32 extension length and
extension), then per row an int16 field count and per field an int32 length and the value, all
big-endian; then an int16 -1. PostgreSQL sends each row as one CopyData message (the header rides
with the first), so the message lengths give every row's start, and each field's offset follows
from the ones before it: fixed for fixed-width types, ``8 + 2 * ndigits`` for a NUMERIC.

NUMERIC values are decoded exactly. A NUMERIC is a sign and base-10,000 digits ``d`` with a
``weight``: ``value = ±M * 10**e`` with ``M`` the digits read as one integer and
``e = 4 * (weight - ndigits + 1)``. When ``M < 2**53`` and ``|e| <= 22``, both ``M`` and ``10**|e|``
are exact doubles, so one IEEE multiplication or division gives the correctly rounded result, the
same double as ``float(Decimal(...))`` and as PostgreSQL's cast (Clinger's fast path, which
``strtod`` takes too). Any other value (about 16 significant digits or more) is converted with
Python's exact integer arithmetic, one at a time; it is rare in market data.
"""

from __future__ import annotations

import selectors
from collections.abc import Sequence
from enum import Enum

import numpy as np
import psycopg
from django.db import connection
from psycopg import pq

from asterweb.db import psycopg_connection

POSTGRES_EPOCH = 946_684_800  # 2000-01-01 in Unix seconds: binary timestamps count µs from it
SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_PADDING = bytes(16)  # lets the last row's fields be read as whole 8-byte words
_POWERS_OF_TEN = 10.0 ** np.arange(23)  # exactly representable up to 10**22
_EXACT_LIMIT = 2**53
_NEGATIVE, _NAN, _PLUS_INFINITY, _MINUS_INFINITY = 0x4000, 0xC000, 0xD000, 0xF000


class Column(Enum):
    """A column's PostgreSQL type and the numpy array it becomes. Columns must be NOT NULL."""

    TIMESTAMPTZ = "timestamptz"  # int64 Unix seconds (whole seconds: sub-second parts are floored)
    BOOL = "bool"  # bool
    INT8 = "int8"  # int64
    FLOAT8 = "float8"  # float64
    NUMERIC = "numeric"  # float64, the nearest double to the exact value


_FIXED_WIDTH = {Column.TIMESTAMPTZ: 8, Column.BOOL: 1, Column.INT8: 8, Column.FLOAT8: 8}


def query_columns(sql: str, params: dict | Sequence, columns: Sequence[Column]) -> list[np.ndarray]:
    """The rows of ``sql`` (which selects ``columns``, in order) as one array per column."""
    data, lengths = _copy_out(sql, params)
    return _decode(data, lengths, list(columns))


# --- receiving ---------------------------------------------------------------------------------


def _copy_out(sql: str, params: dict | Sequence) -> tuple[bytearray, list[int]]:
    """The binary COPY stream of ``sql`` and the length of each CopyData message in it."""
    with psycopg_connection() as raw:
        query = connection.ops.compose_sql(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)", params)
        pgconn = raw.pgconn
        try:
            pgconn.send_query(query.encode())
            _next_result(pgconn, pq.ExecStatus.COPY_OUT)
            received = _receive(pgconn)
            _next_result(pgconn, pq.ExecStatus.COMMAND_OK)
        except _ServerError as error:
            raise error.cause from None  # the connection is idle again: usable, like after any failed query
        except BaseException:
            connection.close()  # stopped half-way: the connection is still in COPY state
            raise
    return received


class _ServerError(Exception):
    def __init__(self, cause: psycopg.Error) -> None:
        self.cause = cause


def _receive(pgconn: pq.abc.PGconn) -> tuple[bytearray, list[int]]:
    """Read CopyData messages until the COPY ends, as psycopg does but without a generator and
    a wait per row: take every complete message libpq holds, then wait for the socket."""
    data, lengths = bytearray(), []
    add, get, consume = lengths.append, pgconn.get_copy_data, pgconn.consume_input
    with selectors.DefaultSelector() as selector:
        selector.register(pgconn.socket, selectors.EVENT_READ)
        while True:
            size, message = get(1)
            if size > 0:
                data += message
                add(size)
            elif size == 0:  # no complete message yet
                selector.select()
                consume()
            else:  # -1: the COPY is over (the next result says whether it succeeded)
                data += _PADDING
                return data, lengths


def _next_result(pgconn: pq.abc.PGconn, wanted: pq.ExecStatus) -> None:
    """Wait for the next result and raise ``_ServerError`` unless it has the ``wanted`` status.
    Once the command is over, read its remaining results so the connection is idle again."""
    result = pgconn.get_result()
    if wanted == pq.ExecStatus.COPY_OUT and result is not None and result.status == wanted:
        return
    while pgconn.get_result() is not None:
        pass
    if result is not None and result.status == wanted:
        return
    if result is None or result.status != pq.ExecStatus.FATAL_ERROR:
        status = result.status.name if result is not None else "nothing"
        raise _ServerError(psycopg.OperationalError(f"PostgreSQL answered COPY with {status}."))
    sqlstate = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
    message = (result.error_message or b"").decode(errors="replace").strip()
    try:
        error_type = psycopg.errors.lookup(sqlstate)
    except KeyError:
        error_type = psycopg.DatabaseError
    raise _ServerError(error_type(message))


# --- decoding ----------------------------------------------------------------------------------


def _words(data: bytearray, dtype: str) -> np.ndarray:
    """A read-only view of ``dtype`` (big-endian) starting at *every* byte offset of ``data``, so
    a field at any offset is one gather away (unaligned reads are fine on every platform numpy
    supports)."""
    kind = np.dtype(dtype)
    return np.ndarray((len(data) - kind.itemsize + 1,), dtype=kind, buffer=data, strides=(1,))


def _decode(data: bytearray, lengths: list[int], columns: list[Column]) -> list[np.ndarray]:
    """The columns of the rows in ``data``: the COPY stream of ``lengths`` messages, then ``_PADDING``."""
    sizes = np.asarray(lengths, dtype=np.int64)
    ends = np.cumsum(sizes)
    total = int(ends[-1]) if ends.size else 0
    if total < 21 or len(data) != total + len(_PADDING) or not data.startswith(SIGNATURE):
        raise ValueError("Not a PostgreSQL binary COPY stream.")
    if data[total - 2 : total] != b"\xff\xff":
        raise ValueError("The binary COPY stream does not end with its trailer.")
    header = 19 + int.from_bytes(data[15:19], "big")
    starts = ends - sizes
    # Rows are the messages between the header and the trailer; the header comes with the first.
    rows = slice(1 if lengths[0] == header else 0, len(lengths) - 1)
    starts, ends = starts[rows], ends[rows]
    if starts.size:
        starts[0] = max(int(starts[0]), header)
    int16, int64 = _words(data, ">i2"), _words(data, ">i8")
    if (int16[starts] != len(columns)).any():
        raise ValueError(f"Binary COPY rows do not have {len(columns)} fields.")
    position = starts + 2
    arrays = []
    mismatch = "Binary COPY rows do not match the expected column types (a NULL, or another type?)."
    try:
        for column in columns:
            array, width = _column(data, int64, position, column)
            arrays.append(array)
            position += 4 + width
    except IndexError as error:  # a misread length sent a field past the end
        raise ValueError(mismatch) from error
    if (position != ends).any():
        raise ValueError(mismatch)
    return arrays


def _column(
    data: bytearray, int64: np.ndarray, position: np.ndarray, column: Column
) -> tuple[np.ndarray, np.ndarray | int]:
    """One field of every row, at ``position`` (its length word): the values and the field widths."""
    value_at = position + 4
    if column is Column.NUMERIC:
        return _numeric(data, int64, value_at)
    width = _FIXED_WIDTH[column]
    if column is Column.BOOL:
        return np.frombuffer(data, dtype=np.uint8)[value_at] != 0, width
    if column is Column.FLOAT8:
        return _words(data, ">f8")[value_at].astype(np.float64), width
    values = int64[value_at].astype(np.int64)
    if column is Column.TIMESTAMPTZ:
        values = values // 1_000_000 + POSTGRES_EPOCH
    return values, width


def _numeric(data: bytearray, int64: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NUMERIC fields at ``at``: int16 ndigits, weight, sign, dscale, then ndigits base-10,000
    digits. Read as two 8-byte words: the header and the first four digits."""
    head = int64[at].astype(np.int64)
    ndigits = head >> 48
    weight = (head << 16) >> 48  # the second int16, sign-extended
    sign = (head >> 16) & 0xFFFF
    # The first four digits, with the words past ``ndigits`` (the next field's bytes) shifted out:
    # left is the integer M written in base 65,536, rewritten in base 10,000 below. (A digit is
    # below 10,000, so the word's top bit is 0 and the arithmetic shift brings in zeros.)
    packed = int64[at + 8].astype(np.int64) >> np.clip(64 - 16 * ndigits, 0, 63)
    mantissa = packed & 0xFFFF
    for place, scale in ((16, 10_000), (32, 100_000_000), (48, 1_000_000_000_000)):
        mantissa += ((packed >> place) & 0xFFFF) * scale
    mantissa[ndigits == 0] = 0  # zero has no digits: the word read was the next field's
    exponent = 4 * (weight - ndigits + 1)
    values = mantissa.astype(np.float64)
    np.divide(values, _POWERS_OF_TEN[np.clip(-exponent, 0, 22)], out=values)
    scaled_up = exponent > 0
    if scaled_up.any():
        np.multiply(values, _POWERS_OF_TEN[np.clip(exponent, 0, 22)], out=values, where=scaled_up)
    negative = sign == _NEGATIVE
    np.negative(values, out=values, where=negative)
    slow = (ndigits > 4) | (mantissa >= _EXACT_LIMIT) | (np.abs(exponent) > 22) | ~(negative | (sign == 0))
    for row in np.flatnonzero(slow).tolist():
        values[row] = _numeric_exact(data, int(at[row]))
    return values, 8 + 2 * ndigits


def _numeric_exact(data: bytearray, at: int) -> float:
    """One NUMERIC as the nearest double, by exact integer arithmetic (int / int and int -> float
    round correctly in Python), or a special value."""
    ndigits, weight, sign = (int.from_bytes(data[at + i : at + i + 2], "big", signed=True) for i in (0, 2, 4))
    sign &= 0xFFFF
    special = {_NAN: float("nan"), _PLUS_INFINITY: float("inf"), _MINUS_INFINITY: float("-inf")}
    if sign in special:
        return special[sign]
    mantissa = 0
    for index in range(ndigits):
        mantissa = mantissa * 10_000 + int.from_bytes(data[at + 8 + 2 * index : at + 10 + 2 * index], "big")
    exponent = 4 * (weight - ndigits + 1)
    value = float(mantissa * 10**exponent) if exponent >= 0 else mantissa / 10**-exponent
    return -value if sign == _NEGATIVE else value
