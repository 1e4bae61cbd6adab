"""Redis, and what the site does when it is unreachable.

Every client (this module's, the cache, sessions, the channel layer, the Celery broker) gives up
after ``REDIS_TIMEOUT_SECONDS``, connecting or waiting for an answer. After a failure, this process
skips that Redis for ``REDIS_RETRY_AFTER_SECONDS`` (``RedisUnavailable`` at once, no waiting), so a
Redis that accepts connections and never answers costs one timeout per process per pause instead
of one per operation, and every thread is not stuck behind it. What each caller does then is its
own documented choice (README, "When Redis or the database is unreachable").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

import redis
import structlog
from django.conf import settings

log = structlog.get_logger(__name__)
T = TypeVar("T")


class RedisUnavailable(Exception):
    """Redis did not answer (refused, timed out), now or moments ago in this process."""


# ---------------------------------------------------------------- configuration, from settings


def redis_connection_options(timeout_seconds: float) -> dict[str, Any]:
    """redis-py connection options: bounded connect and reply waits, dead connections noticed."""
    return {
        "socket_connect_timeout": timeout_seconds,
        "socket_timeout": timeout_seconds,
        "health_check_interval": 30,
        "retry_on_timeout": False,
    }


def cache_config(url: str, *, timeout_seconds: float, key_prefix: str) -> dict[str, Any]:
    """A ``CACHES`` entry: Django's Redis cache that answers a miss when Redis is unreachable."""
    return {
        "BACKEND": "asterweb.cache.RedisCache",
        "LOCATION": url,
        "KEY_PREFIX": key_prefix,
        "OPTIONS": redis_connection_options(timeout_seconds),
    }


def channel_layer_config(url: str, *, timeout_seconds: float) -> dict[str, Any]:
    """A ``CHANNEL_LAYERS`` entry whose connections have the same bounded waits."""
    host = {"address": url, "socket_connect_timeout": timeout_seconds, "socket_timeout": timeout_seconds}
    return {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [host]}}


def broker_transport_options(timeout_seconds: float) -> dict[str, Any]:
    """``CELERY_BROKER_TRANSPORT_OPTIONS`` for kombu's Redis transport."""
    return {
        "socket_connect_timeout": timeout_seconds,
        "socket_timeout": timeout_seconds,
        "retry_on_timeout": False,
        "max_retries": 1,
    }


# ---------------------------------------------------------------- the per-process pause

_paused_until: dict[str, float] = {}
_pause_lock = threading.Lock()


@contextmanager
def redis_guard(url: str) -> Iterator[None]:
    """Run Redis commands for the server at ``url``: any Redis error (and any call while this
    process pauses that server after one) is ``RedisUnavailable``."""
    if time.monotonic() < _paused_until.get(url, 0.0):
        raise RedisUnavailable(f"Redis was unreachable moments ago ({_where(url)}).")
    try:
        yield
    except redis.RedisError as error:
        _pause(url, error)
        raise RedisUnavailable(f"Redis is unreachable ({_where(url)}): {type(error).__name__}.") from error


def redis_guarded(url: str, call: Callable[[], T]) -> T:
    with redis_guard(url):
        return call()


def redis_pauses_clear() -> None:
    """Forget every pause (tests that end an outage)."""
    with _pause_lock:
        _paused_until.clear()


def _pause(url: str, error: Exception) -> None:
    with _pause_lock:
        first = time.monotonic() >= _paused_until.get(url, 0.0)
        _paused_until[url] = time.monotonic() + float(settings.REDIS_RETRY_AFTER_SECONDS)
    if first:  # once per pause, not once per request
        log.warning("redis.unavailable", redis=_where(url), error=type(error).__name__)


def _where(url: str) -> str:
    """host:port/db without the password a URL may carry."""
    return url.rsplit("@", 1)[-1]


# ---------------------------------------------------------------- this project's own client


@lru_cache(maxsize=4)
def _client(url: str, timeout_seconds: float) -> redis.Redis:
    return redis.Redis.from_url(url, **redis_connection_options(timeout_seconds))


def redis_client() -> redis.Redis:
    return _client(settings.REDIS_URL, float(settings.REDIS_TIMEOUT_SECONDS))


def counter_hit(key: str, *, ttl_seconds: int) -> int:
    """Increment a counter that expires ``ttl_seconds`` after its first hit; returns the new count.
    Raises ``RedisUnavailable``: the caller decides whether an uncounted hit is allowed."""

    def hit() -> int:
        with redis_client().pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, ttl_seconds, nx=True)
            count, _ = pipe.execute()
        return int(count)

    return redis_guarded(settings.REDIS_URL, hit)


def counter_read(key: str) -> int | None:
    """A counter's current value (0 when absent), or None when Redis is unreachable."""
    try:
        return int(redis_guarded(settings.REDIS_URL, lambda: redis_client().get(key)) or 0)
    except RedisUnavailable:
        return None


def redis_cache_get(key: str) -> bytes | None:
    """A cached value, or None when absent or when Redis is unreachable (a cache is optional)."""
    try:
        return redis_guarded(settings.REDIS_URL, lambda: redis_client().get(key))
    except RedisUnavailable:
        return None


def redis_cache_set(key: str, value: str | bytes, *, ttl_seconds: int) -> None:
    """Cache a value; skipped when Redis is unreachable."""
    try:
        redis_guarded(settings.REDIS_URL, lambda: redis_client().set(key, value, ex=ttl_seconds))
    except RedisUnavailable:
        pass
