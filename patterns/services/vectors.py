"""Moving vectors between numpy and PostgreSQL in bulk: binary COPY with pgvector's psycopg
dumpers, never a Python string per vector."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from asterweb.db import psycopg_connection


@contextmanager
def vector_connection() -> Iterator[psycopg.Connection]:
    """The psycopg connection under Django's (health-checked, errors wrapped: asterweb.db), with
    pgvector's types registered once per connection."""
    with psycopg_connection() as raw:
        if not getattr(raw, "_asterai_vector_registered", False):
            register_vector(raw)
            raw._asterai_vector_registered = True
        yield raw


def copy_rows(table: str, columns: Sequence[str], types: Sequence[str], rows: Iterable[Sequence]) -> int:
    """``COPY table (columns) FROM STDIN (FORMAT BINARY)``; vectors may be numpy arrays."""
    count = 0
    column_list = ", ".join(columns)
    with vector_connection() as raw, raw.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({column_list}) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(list(types))
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def fetch_vectors(sql: str, params: Sequence | dict = ()) -> list[tuple]:
    """Run ``sql`` returning rows whose vector columns arrive as pgvector ``Vector`` objects.

    Parameters are bound by the server and values travel in binary both ways: Django's
    connections bind on the client, which writes each query vector out as decimal text for the
    server to parse back (measured ~1 ms of a search's time per vector), and text results would
    make every returned vector a string to parse."""
    with vector_connection() as raw, psycopg.Cursor(raw) as cursor:
        cursor.execute(sql, params, binary=True)
        return cursor.fetchall()


def as_matrix(vectors: Sequence[np.ndarray | None], dim: int) -> np.ndarray:
    """Stack vectors into a float32 matrix; missing ones become zero rows."""
    matrix = np.zeros((len(vectors), dim), dtype=np.float32)
    for index, vector in enumerate(vectors):
        if vector is not None:
            matrix[index] = vector
    return matrix
