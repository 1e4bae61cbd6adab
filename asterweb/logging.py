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
    # Values of secret-named query parameters: ?token=..., &signature=..., a bare "key=..." string.
    (
        re.compile(
            r"(^|[?&;])([^=&\s?#]*(?:token|secret|signature|pass|key|otp|session|credential)[^=&\s]*=)[^&#\s'\"]+", re.I
        ),
        r"\1\2" + REDACTED,
    ),
]
# Identifiers of secrets are not secrets: api_key_id, key_prefix.
_NOT_SECRET_SUFFIXES = ("_id", "_prefix")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def scrub_text(text: str) -> str:
    """Replace secrets that may appear inside free text (URLs, exception messages)."""
    for pattern, replacement in _SECRET_IN_TEXT:
        text = pattern.sub(replacement, text)
    return text


def _is_secret_key(key: str) -> bool:
    return bool(_SENSITIVE_KEY.search(key)) and not key.endswith(_NOT_SECRET_SUFFIXES)


def _scrub(value: Any, key: str = "") -> Any:
    if key and key != "event" and _is_secret_key(key):
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


# Sentry sends each frame's local variables. These names hold a secret without saying so: the key
# being checked (``raw_key``, ``credential``, the ``header`` it came in, a URL's ``key``), and the
# decrypted text of stored credentials (``text``, ``plaintext``).
_SECRET_LOCALS = frozenset({"raw_key", "key", "credential", "header", "text", "plaintext"})
_SHORTEST_TRACKED_SECRET = 6


def scrub_event(event: dict[str, Any], _hint: Any = None) -> dict[str, Any]:
    """Sentry's ``before_send`` (and ``before_send_transaction``): the logs' redaction over the
    whole event (request URL, query string, headers, exception messages, breadcrumbs, frame
    locals), and outbound URLs cut to their host. A local redacted in one frame (by its name)
    is redacted wherever its value shows up again: library frames it was passed to call it
    ``s`` or ``data``."""
    found: set[str] = set()
    for frame in _frames(event):
        if isinstance(frame.get("vars"), dict):
            frame["vars"] = _redact_locals(frame["vars"], found)
    scrubbed = _scrub(event)
    if found:
        scrubbed = _replace_everywhere(scrubbed, sorted(found, key=len, reverse=True))
    for crumb in (scrubbed.get("breadcrumbs") or {}).get("values") or []:
        _outbound_host_only(crumb)
    for span in scrubbed.get("spans") or []:
        _outbound_host_only(span)
    return scrubbed


def _redact_locals(value: Any, found: set[str]) -> Any:
    if isinstance(value, dict):
        redacted = {}
        for name, item in value.items():
            if name in _SECRET_LOCALS or _is_secret_key(str(name)):
                _collect_strings(item, found)
                redacted[name] = REDACTED
            else:
                redacted[name] = _redact_locals(item, found)
        return redacted
    if isinstance(value, list):
        return [_redact_locals(item, found) for item in value]
    return value


def _collect_strings(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _collect_strings(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect_strings(item, found)
    elif isinstance(value, str):
        text = value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"" else value
        if len(text) >= _SHORTEST_TRACKED_SECRET and text != REDACTED:
            found.add(text)


def _replace_everywhere(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        return {name: _replace_everywhere(item, secrets) for name, item in value.items()}
    if isinstance(value, list):
        return [_replace_everywhere(item, secrets) for item in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
    return value


def scrub_breadcrumb(crumb: dict[str, Any], _hint: Any = None) -> dict[str, Any]:
    """Sentry's ``before_breadcrumb``: as ``scrub_event``, when the breadcrumb is recorded."""
    return _outbound_host_only(_scrub(crumb))


def _frames(event: dict[str, Any]) -> list[dict[str, Any]]:
    frames = []
    for part in ("exception", "threads"):
        for value in (event.get(part) or {}).get("values") or []:
            frames.extend((value.get("stacktrace") or {}).get("frames") or [])
    return frames


_URL = re.compile(r"\b([a-z][a-z0-9+.-]*://[^/\s?#'\"]+)[^\s'\"]*", re.IGNORECASE)


def _outbound_host_only(item: dict[str, Any]) -> dict[str, Any]:
    """An outgoing HTTP call (breadcrumb or span) keeps its URL's scheme and host only: a path can
    be the secret itself (Slack-style webhook URLs), a query its signature."""
    if item.get("type") != "http" and not str(item.get("op") or "").startswith("http.client"):
        return item
    data = item.get("data")
    if isinstance(data, dict):
        for name in ("http.query", "http.fragment"):
            data.pop(name, None)
        if isinstance(data.get("url"), str):
            data["url"] = _URL.sub(r"\1/", data["url"])
    if isinstance(item.get("description"), str):
        item["description"] = _URL.sub(r"\1/", item["description"])
    return item


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
