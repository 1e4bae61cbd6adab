"""Sessions in the database, cached in Redis (``SESSION_ENGINE = "asterweb.sessions"``).

While Redis is unreachable, sessions are read from and written to the database alone (the
cache answers a miss and skips writes). Ending a session is the exception: its cached copy must
go first, or it would come back from the cache once Redis does, so signing out (or ending a
session from the sessions page) answers 503 until Redis answers again. A new key at sign-in
(``cycle_key``) may leave the old, anonymous key's copy behind: that copy grants nothing."""

from __future__ import annotations

from django.contrib.sessions.backends.cached_db import SessionStore as CachedDbStore
from django.contrib.sessions.backends.db import SessionStore as DbStore

from asterweb.errors import ServiceUnavailableError
from asterweb.redis import RedisUnavailable


class SessionStore(CachedDbStore):
    def delete(self, session_key: str | None = None) -> None:
        key = session_key if session_key is not None else self.session_key
        if key is None:
            return
        try:
            self._cache.delete_or_raise(self.cache_key_prefix + key)
        except RedisUnavailable as error:
            raise ServiceUnavailableError(
                "Signing out needs the session cache, which is not answering. Nothing was changed: "
                "try again in a minute."
            ) from error
        DbStore.delete(self, session_key)

    def cycle_key(self) -> None:
        data, key = self._session, self.session_key
        self.create()
        self._session_cache = data
        if key:
            super().delete(key)  # the tolerant delete: see the module docstring
