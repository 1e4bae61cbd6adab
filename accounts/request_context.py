"""Who is asking, from where: the client IP and user agent of the current request,
kept in a context variable so ``audit_record`` can stamp them without every caller
passing the request down."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class RequestMeta:
    ip: str | None
    user_agent: str


_current: ContextVar[RequestMeta | None] = ContextVar("request_meta", default=None)
_api_key_id: ContextVar[int | None] = ContextVar("api_key_id", default=None)


def current_request_meta() -> RequestMeta | None:
    return _current.get()


def bind_api_key(api_key_id: int | None) -> None:
    """Remember which API key the current request acts with (for the audit log)."""
    _api_key_id.set(api_key_id)


def current_api_key_id() -> int | None:
    return _api_key_id.get()


@lru_cache(maxsize=1)
def _trusted_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in settings.TRUSTED_PROXIES)


def _is_trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _trusted_networks())


def client_ip(request: HttpRequest) -> str | None:
    """The socket's peer, unless that peer is a trusted proxy: then the nearest
    address in X-Forwarded-For that is not itself a trusted proxy."""
    remote = request.META.get("REMOTE_ADDR") or None
    if remote is None or not _is_trusted(remote):
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    for address in reversed(forwarded):
        if not _is_trusted(address):
            try:
                return str(ipaddress.ip_address(address))
            except ValueError:
                return remote
    return remote


def request_meta(request: HttpRequest) -> RequestMeta:
    return RequestMeta(ip=client_ip(request), user_agent=request.headers.get("User-Agent", "")[:512])


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current.set(request_meta(request))
        key_token = _api_key_id.set(None)
        try:
            return self.get_response(request)
        finally:
            _api_key_id.reset(key_token)
            _current.reset(token)
