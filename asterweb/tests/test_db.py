"""Queries that go to psycopg directly (API-key lookup, vector fetch, binary COPY) get what Django's
own cursors get: a health check after the database restarted, and errors wrapped so the broken
connection is dropped at the end of the request instead of failing every request for
``DB_CONN_MAX_AGE``. The restart is real: the backend is terminated from a second connection."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import OperationalError, close_old_connections, connection, connections
from django.urls import reverse

from accounts.tests.api_helpers import issue_key, key_client
from patterns.services.vectors import copy_rows, fetch_vectors

pytestmark = pytest.mark.django_db(transaction=True)


def terminate_backend() -> None:
    """What a database restart does to this process' connection: the server ends it."""
    pid = connection.connection.info.backend_pid
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            assert cursor.fetchone() == (True,)
    finally:
        other.close()


def test_api_key_requests_work_again_after_the_database_restarts(team):
    issued = issue_key(team.org, team.viewer)
    client = key_client(issued)
    url = reverse("organization-detail", kwargs={"org_slug": team.org.slug})
    assert client.get(url).status_code == 200
    terminate_backend()
    for _ in range(2):
        close_old_connections()  # what every request's start does (the test client skips it)
        assert client.get(url).status_code == 200


def test_a_vector_fetch_after_a_restart_reconnects():
    fetch_vectors("SELECT '[1,2,3]'::vector")
    terminate_backend()
    close_old_connections()
    (row,) = fetch_vectors("SELECT '[1,2,3]'::vector")
    assert np.array_equal(row[0].to_numpy(), [1, 2, 3])


@pytest.fixture
def vector_table():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE test_restart_vectors (v vector(3))")
    yield "test_restart_vectors"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE test_restart_vectors")


def test_a_vector_copy_after_a_restart_reconnects(vector_table):
    copy_rows(vector_table, ["v"], ["vector"], [[np.array([1, 2, 3], dtype=np.float32)]])
    terminate_backend()
    close_old_connections()
    assert copy_rows(vector_table, ["v"], ["vector"], [[np.array([4, 5, 6], dtype=np.float32)]]) == 1
    assert len(fetch_vectors(f"SELECT v FROM {vector_table}")) == 2


def test_a_connection_lost_mid_request_is_a_django_error_and_dropped_at_the_request_end():
    fetch_vectors("SELECT 1")
    terminate_backend()  # between two queries of one request: no health check runs in between
    with pytest.raises(OperationalError):
        fetch_vectors("SELECT 1")
    close_old_connections()  # the request's end: the failed connection is not kept
    assert fetch_vectors("SELECT 1") == [(1,)]


def probe_connection(**changes):
    """A second connection with the test database's settings, changed."""
    from django.db.backends.postgresql.base import DatabaseWrapper

    return DatabaseWrapper({**connection.settings_dict, **changes}, connection.alias)


def test_web_connections_cancel_a_statement_past_the_statement_timeout(monkeypatch):
    from asterweb.settings import base

    monkeypatch.setattr(base, "DB_STATEMENT_TIMEOUT_SECONDS", 1)  # what the web servers set (30 by default)
    probe = probe_connection(OPTIONS=base.database_config(connection.settings_dict)["OPTIONS"])
    try:
        with probe.cursor() as cursor, pytest.raises(OperationalError, match="statement timeout"):
            cursor.execute("SELECT pg_sleep(5)")
    finally:
        probe.close()


def test_connecting_to_a_database_that_never_answers_gives_up():
    import socket

    from asterweb.settings import base

    with socket.socket() as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(1)  # accepts at the TCP level, never speaks PostgreSQL
        options = {**connection.settings_dict.get("OPTIONS", {}), "connect_timeout": 2}  # libpq's minimum
        probe = probe_connection(HOST="127.0.0.1", PORT=blackhole.getsockname()[1], OPTIONS=options)
        with pytest.raises(OperationalError):
            probe.ensure_connection()
    assert base.database_config({})["OPTIONS"]["connect_timeout"] == base.DB_CONNECT_TIMEOUT_SECONDS > 0
