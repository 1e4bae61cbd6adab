"""Django's Redis cache, for when Redis is unreachable (settings: ``asterweb.redis.cache_config``).

Every operation waits at most ``REDIS_TIMEOUT_SECONDS``, and none at all while this process pauses
an unreachable Redis (``asterweb.redis.redis_guard``). Then a read is a miss, a write is skipped
and ``add`` answers True ("go ahead", as if the key were free): allauth's rate limits, which lock
with ``add``, let requests through instead of refusing every login, and the few locks built on
``add`` elsewhere guard idempotent work. ``delete_or_raise`` is for callers that must know a
delete happened (sessions)."""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from asterweb.redis import RedisUnavailable, redis_guarded


class RedisCache(DjangoRedisCache):
    def _tolerant(self, call, fallback: Any) -> Any:
        try:
            return redis_guarded(self._servers[0], call)
        except RedisUnavailable:
            return fallback

    def get(self, key, default=None, version=None):
        return self._tolerant(lambda: super(RedisCache, self).get(key, default, version), default)

    def get_many(self, keys, version=None):
        return self._tolerant(lambda: super(RedisCache, self).get_many(keys, version), {})

    def has_key(self, key, version=None):
        return self._tolerant(lambda: super(RedisCache, self).has_key(key, version), False)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        self._tolerant(lambda: super(RedisCache, self).set(key, value, timeout, version), None)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._tolerant(lambda: super(RedisCache, self).set_many(data, timeout, version), list(data))

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._tolerant(lambda: super(RedisCache, self).add(key, value, timeout, version), True)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._tolerant(lambda: super(RedisCache, self).touch(key, timeout, version), False)

    def delete(self, key, version=None):
        return self._tolerant(lambda: super(RedisCache, self).delete(key, version), False)

    def delete_many(self, keys, version=None):
        self._tolerant(lambda: super(RedisCache, self).delete_many(keys, version), None)

    def clear(self):
        return self._tolerant(lambda: super(RedisCache, self).clear(), False)

    def incr(self, key, delta=1, version=None):
        return redis_guarded(self._servers[0], lambda: super(RedisCache, self).incr(key, delta, version))

    def delete_or_raise(self, key, version=None) -> bool:
        """``delete``, raising ``RedisUnavailable`` instead of pretending it happened."""
        return redis_guarded(self._servers[0], lambda: super(RedisCache, self).delete(key, version))
