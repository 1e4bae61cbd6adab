"""Typed application errors raised by services. Views turn them into form errors or
messages; the API (one exception handler) turns them into ``{type, code, detail, fields}``."""

from __future__ import annotations


class ApplicationError(Exception):
    """A request that cannot be carried out as asked; the message is for the person who asked."""

    status_code = 400
    code = "invalid"

    def __init__(self, detail: str, *, code: str | None = None, fields: dict[str, list[str]] | None = None):
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.fields = fields or {}


class PermissionDeniedError(ApplicationError):
    status_code = 403
    code = "permission_denied"


class NotFoundError(ApplicationError):
    status_code = 404
    code = "not_found"


class ConflictError(ApplicationError):
    status_code = 409
    code = "conflict"


class UpstreamError(ApplicationError):
    """A service we depend on (an exchange) failed or could not be reached; retrying later may work."""

    status_code = 502
    code = "upstream_unavailable"


class LimitExceeded(ConflictError):
    """An action would take a quota (a plan's entitlement, or the deployment's setting until
    billing answers) past what is allowed; ``limit`` names which, ``allowed`` says how much."""

    code = "limit_exceeded"

    def __init__(self, detail: str, *, limit: str, allowed: int):
        super().__init__(detail)
        self.limit = limit
        self.allowed = allowed


class RateLimited(ApplicationError):
    """Too many of one action in a time window; ``retry_after`` is the seconds until it is allowed again."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int, fields: dict[str, list[str]] | None = None):
        super().__init__(detail, fields=fields)
        self.retry_after = retry_after


class ServiceUnavailableError(ApplicationError):
    """Something the request needs (Redis, the database) is not answering; nothing was changed,
    and the same request later will work. Pages and the API answer 503 with Retry-After."""

    status_code = 503
    code = "service_unavailable"
    retry_after = 30
