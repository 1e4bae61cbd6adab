"""A shared Redis client for counters that need Redis' own atomic commands (INCR + EXPIRE)."""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2, health_check_interval=30)


def redis_client() -> redis.Redis:
    return _client(settings.REDIS_URL)


def counter_hit(key: str, *, ttl_seconds: int) -> int:
    """Increment a counter that expires ``ttl_seconds`` after its first hit; returns the new count."""
    with redis_client().pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, ttl_seconds, nx=True)
        count, _ = pipe.execute()
    return int(count)
