"""The psycopg connection under Django's, for the few queries that need psycopg itself (binary
results, server-side binding, COPY, one prepared lookup per API request).

Django runs two things around each of its own cursors that a bare ``connection.connection`` skips:
the health check (``CONN_HEALTH_CHECKS``: a connection the server ended, e.g. by a restart, is
replaced before the request's first query) and its error wrapping (a failed query is a Django
``DatabaseError`` and marks the connection, so it is dropped at the end of the request). Without
them a restart made every request on a kept-alive connection fail until ``DB_CONN_MAX_AGE``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections


@contextmanager
def psycopg_connection(using: str = DEFAULT_DB_ALIAS) -> Iterator[psycopg.Connection]:
    """Django's checked, connected psycopg connection; database errors inside arrive as Django's."""
    wrapper = connections[using]
    wrapper.close_if_health_check_failed()
    wrapper.ensure_connection()
    with wrapper.wrap_database_errors:
        yield wrapper.connection
