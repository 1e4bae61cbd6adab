"""A backing service that is not answering is a 503 with Retry-After, never a bare 500.

``ServiceUnavailableError`` (raised where a service decided nothing else is possible, e.g. ending
a session without the session cache), ``RedisUnavailable`` and Redis' own errors, and the
database's connection-level errors (``OperationalError``: refused, timed out, terminated, the web
statement timeout) become a 503 page, or the API's JSON error shape under ``/api/``. They are
logged as warnings; real bugs stay 500s."""

from __future__ import annotations

from collections.abc import Callable

import redis
import structlog
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from asterweb.api_errors import is_api_request, json_error
from asterweb.errors import ServiceUnavailableError
from asterweb.redis import RedisUnavailable

log = structlog.get_logger(__name__)

OUTAGES = (ServiceUnavailableError, RedisUnavailable, redis.RedisError, OperationalError, InterfaceError)
GENERIC_DETAIL = "A service this page needs is not answering right now. Nothing was changed: try again in a minute."


class OutageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OUTAGES):
            return None
        return outage_response(request, exception)


def outage_response(request: HttpRequest, exception: Exception) -> HttpResponse:
    log.warning("request.service_unavailable", error=type(exception).__name__)
    if isinstance(exception, ServiceUnavailableError):
        detail, retry_after = exception.detail, exception.retry_after
    else:
        detail, retry_after = GENERIC_DETAIL, ServiceUnavailableError.retry_after
    if is_api_request(request):
        response = json_error(status=503, code=ServiceUnavailableError.code, detail=detail)
    else:
        # Without the request, like the 500 page: the session or the database may be what failed.
        context = {"code": 503, "heading": "Temporarily unavailable", "detail": detail}
        page = render_to_string("errors/500.html", context)
        response = HttpResponse(page, status=503)
    response["Retry-After"] = str(retry_after)
    return response
