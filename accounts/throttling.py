"""Request rates per API key and per signed-in user, counted in Redis so every process
shares them (fixed one-minute-style windows: one INCR per request). While Redis is unreachable
requests are let through uncounted."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from accounts.models import ApiKey, Organization
from accounts.request_context import client_ip
from asterweb.redis import RedisUnavailable, counter_hit

_DURATIONS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"600/min"`` → (600, 60)."""
    count, _, period = rate.partition("/")
    return int(count), _DURATIONS[period.strip().lower()]


def api_rate_for(*, organization: Organization | None, api_key: ApiKey | None) -> str:
    """The one place request rates come from. Billing will answer per plan; a default now."""
    return settings.API_RATE_PER_KEY if api_key is not None else settings.API_RATE_PER_USER


class CredentialRateThrottle(BaseThrottle):
    """Counts requests per API key, else per user, else per client IP."""

    def allow_request(self, request: Any, view: Any) -> bool:
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        user = request.user
        if api_key is not None:
            identity = f"key:{api_key.pk}"
        elif user is not None and user.is_authenticated:
            identity = f"user:{user.pk}"
        else:
            identity = f"ip:{client_ip(request._request)}"
        limit, duration = parse_rate(
            api_rate_for(organization=api_key.organization if api_key else None, api_key=api_key)
        )
        now = time.time()
        window = int(now // duration)
        self._wait = (window + 1) * duration - now
        try:
            count = counter_hit(f"asterai:throttle:{identity}:{duration}:{window}", ttl_seconds=duration + 1)
        except RedisUnavailable:
            return True  # fail open: while Redis is unreachable requests are not counted (README)
        return count <= limit

    def wait(self) -> float:
        return self._wait
