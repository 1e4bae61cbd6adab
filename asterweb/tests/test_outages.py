"""When Redis is unreachable the site keeps answering, in bounded time, in the documented degraded
way (README, "When Redis or the database is unreachable"): pages, sign-in and the API work (sessions
from the database, rate limits and throttles fail open); signing out is a clear 503 until Redis is
back; live events are dropped. Two kinds of outage, both real sockets: a refused connection (a
closed port) and a blackholed Redis (a server that accepts and never answers, or never accepts
once its backlog is full).

The deadline is a hang check, not a speed claim: without timeouts a blackholed Redis holds a
request for minutes."""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from accounts.realtime import organization_broadcast
from accounts.tests.api_helpers import issue_key, key_client
from accounts.tests.factories import PASSWORD
from asterweb.redis import cache_config, channel_layer_config, redis_pauses_clear

TIMEOUT = 0.5  # REDIS_TIMEOUT_SECONDS for these tests
DEADLINE = 10.0  # seconds: far beyond a few timeouts, far below a hang


class Hang(BaseException):
    """Not an Exception (nor TimeoutError, which socket code turns into its own errors): no
    error handling on the way can swallow it."""


@contextmanager
def deadline(seconds: float = DEADLINE) -> Iterator[None]:
    def expired(_signum, _frame):
        raise Hang(f"no answer within {seconds} s: the request hangs on Redis")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def refused_redis() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"  # nothing listens there any more


@contextmanager
def blackholed_redis() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)  # never accept(): the first connections wait for a reply, later ones for accept
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


@pytest.fixture(params=["refused", "blackholed"])
def redis_outage(request):
    """Enter with ``with redis_outage():``; everything Redis-backed points at the dead server."""

    @contextmanager
    def outage() -> Iterator[None]:
        dead = refused_redis if request.param == "refused" else blackholed_redis
        with dead() as url:
            redis_pauses_clear()
            try:
                with override_settings(
                    REDIS_URL=url,
                    REDIS_TIMEOUT_SECONDS=TIMEOUT,
                    CACHES={"default": cache_config(url, timeout_seconds=TIMEOUT, key_prefix="outage")},
                    CHANNEL_LAYERS={"default": channel_layer_config(url, timeout_seconds=TIMEOUT)},
                ):
                    with deadline():
                        yield
            finally:
                redis_pauses_clear()

    return outage


def dashboard(team) -> str:
    return reverse("org_dashboard", args=[team.org.slug])


@pytest.mark.django_db
def test_pages_of_a_signed_in_member_answer(team, client_for, redis_outage):
    client = client_for(team.viewer)  # signed in while Redis was up
    with redis_outage():
        assert client.get(dashboard(team)).status_code == 200  # the session comes from the database
        assert Client().get(reverse("account_login")).status_code == 200


@pytest.mark.django_db
def test_signing_in_works_and_rate_limits_fail_open(team, redis_outage):
    client = Client()
    with redis_outage():
        response = client.post(reverse("account_login"), {"login": team.viewer.email, "password": PASSWORD})
        assert response.status_code == 302
        assert client.get(dashboard(team)).status_code == 200


@pytest.mark.django_db
@override_settings(API_RATE_PER_KEY="1/min")
def test_api_key_requests_answer_and_throttles_fail_open(team, redis_outage):
    client = key_client(issue_key(team.org, team.viewer))
    url = reverse("organization-detail", kwargs={"org_slug": team.org.slug})
    with redis_outage():
        # Two requests under a one-a-minute rate: not counted while Redis is unreachable.
        assert [client.get(url).status_code for _ in range(2)] == [200, 200]


@pytest.mark.django_db
def test_signing_out_is_a_503_until_redis_answers_and_the_session_survives(team, client_for, redis_outage):
    client = client_for(team.viewer)
    with redis_outage():
        response = client.post(reverse("account_logout"))
        assert response.status_code == 503
        assert response["Retry-After"]
        assert "Signing out needs the session cache" in response.content.decode()
        assert client.get(dashboard(team)).status_code == 200  # nothing was changed
    assert client.post(reverse("account_logout")).status_code == 302  # Redis is back
    assert client.get(dashboard(team)).status_code == 302  # to the login page: signed out


@pytest.mark.parametrize(
    ("path", "content_type"), [("/api/v1/orgs/x/", "application/json"), ("/o/x/", "text/html; charset=utf-8")]
)
def test_an_outage_error_from_a_view_is_a_503_not_a_500(path, content_type):
    """What no degraded behaviour covers (e.g. the database refusing connections) is a 503 with
    Retry-After: the API's error shape under /api/, a page elsewhere."""
    from django.db import OperationalError
    from django.test import RequestFactory

    from asterweb.outages import OutageMiddleware

    middleware = OutageMiddleware(lambda request: None)
    request = RequestFactory().get(path)
    response = middleware.process_exception(request, OperationalError("connection refused"))
    assert (response.status_code, response["Content-Type"]) == (503, content_type)
    assert int(response["Retry-After"]) > 0
    if content_type == "application/json":
        assert json.loads(response.content)["code"] == "service_unavailable"
    assert middleware.process_exception(request, ValueError("a bug")) is None  # bugs stay 500s


@pytest.mark.django_db
def test_live_events_are_dropped_instead_of_failing_the_action(team, redis_outage):
    with redis_outage():
        organization_broadcast(organization=team.org, event_type="test.event", data={"n": 1}, sequence=1)


@pytest.mark.django_db
def test_readiness_names_redis(redis_outage):
    with redis_outage():
        response = Client().get("/readyz")
    assert response.status_code == 503
    assert "redis" in response.json()["failed"]


def test_a_paused_redis_is_not_tried_again_at_once(redis_outage, monkeypatch):
    """After one failure the process leaves that Redis alone for REDIS_RETRY_AFTER_SECONDS:
    a blackholed Redis costs one timeout per pause, not one per operation."""
    from django.core.cache import cache
    from redis.connection import AbstractConnection

    attempts = []
    connect = AbstractConnection.connect

    def counted(self, *args, **kwargs):
        attempts.append(1)
        return connect(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "connect", counted)
    with redis_outage():
        assert cache.get("anything", "missing") == "missing"
        tried = len(attempts)
        assert tried >= 1
        for _ in range(20):
            assert cache.get("anything", "missing") == "missing"
            cache.set("anything", 1)
        assert len(attempts) == tried
