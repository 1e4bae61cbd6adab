"""Structured JSON logging: every line carries the request id, user id and organization id,
and nothing secret (passwords, tokens, keys, secret-bearing URL paths) is ever written."""

from __future__ import annotations

import logging.config
import re
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from django.http import HttpRequest, HttpResponse

REDACTED = "[redacted]"
_SENSITIVE_KEY = re.compile(
    r"pass(word)?|secret|token|api[_-]?key|authorization|cookie|session|csrf|private[_-]?key|otp|signature|credential",
    re.IGNORECASE,
)
# URL paths that carry a secret in the path itself, and bearer credentials in free text.
_SECRET_IN_TEXT = [
    (re.compile(r"(/accounts/password/reset/key/)[^/\s'\"?]+"), r"\1" + REDACTED),
    (re.compile(r"(/accounts/confirm-email/)[^/\s'\"?]+"), r"\1" + REDACTED),
    (re.compile(r"(/invitations/)[^/\s'\"?]+"), r"\1" + REDACTED),
    (re.compile(r"(Bearer\s+)\S+", re.IGNORECASE), r"\1" + REDACTED),
    # An API key's visible prefix (ak_live_<10>) may be logged; the secret after it may not.
    (re.compile(r"\b(ak_(?:live|test)_[A-Za-z0-9]{10}_)[A-Za-z0-9]+"), r"\1" + REDACTED),
    (re.compile(r"\b(whsec_)[A-Za-z0-9_-]+"), r"\1" + REDACTED),
    (re.compile(r"\b(0x)[0-9a-fA-F]{64}\b"), r"\1" + REDACTED),  # EVM private keys
]
# Identifiers of secrets are not secrets: api_key_id, key_prefix.
_NOT_SECRET_SUFFIXES = ("_id", "_prefix")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def scrub_text(text: str) -> str:
    """Replace secrets that may appear inside free text (URLs, exception messages)."""
    for pattern, replacement in _SECRET_IN_TEXT:
        text = pattern.sub(replacement, text)
    return text


def _scrub(value: Any, key: str = "") -> Any:
    if key and key != "event" and _SENSITIVE_KEY.search(key) and not key.endswith(_NOT_SECRET_SUFFIXES):
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: _scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def redact_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: drop values of secret-named keys and scrub secrets out of text."""
    return {key: _scrub(value, key) for key, value in event_dict.items()}


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of writing (not at configuration)."""

    def __init__(self) -> None:
        super().__init__(stream=sys.stderr)

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(*, level: str = "INFO", json: bool = True) -> None:
    """Route structlog and the standard library's loggers (Django, Celery) through one pipeline."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        # Redact before the record leaves structlog, so no other handler (Sentry's breadcrumbs,
        # pytest's capture) ever holds a secret.
        processors=[*shared, redact_secrets, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "structured": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "foreign_pre_chain": shared,
                    "processors": [
                        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        redact_secrets,
                        renderer,
                    ],
                }
            },
            "handlers": {"console": {"class": "asterweb.logging.StderrHandler", "formatter": "structured"}},
            "root": {"handlers": ["console"], "level": level},
            "loggers": {
                "django.server": {"level": "WARNING"},
                "django.db.backends": {"level": "WARNING"},
            },
        }
    )


log = structlog.get_logger("asterweb.request")


class RequestLogMiddleware:
    """Binds request_id/user_id to every log line of the request and logs one summary line.

    The summary logs the URL *route* (``o/<slug:org_slug>/``), never the raw path, so
    tokens that live in paths cannot leak.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        structlog.contextvars.clear_contextvars()
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            match = getattr(request, "resolver_match", None)
            log.info(
                "request",
                method=request.method,
                route=match.route if match else None,
                status=response.status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            return response
        finally:
            structlog.contextvars.clear_contextvars()

    def process_view(self, request: HttpRequest, *_args: Any, **_kwargs: Any) -> None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            structlog.contextvars.bind_contextvars(user_id=user.pk)
