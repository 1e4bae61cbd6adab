"""One error shape for the whole API: ``{"type", "code", "detail", "fields"}``.

Services raise ``ApplicationError``s; DRF raises its own exceptions; both become that
shape here. Anything else is a bug: it is not handled, so it stays a 500 (JSON under
``/api/``, logged and sent to Sentry).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.defaultfilters import filesizeformat
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from asterweb.errors import ApplicationError

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
}


def error_body(*, status: int, code: str, detail: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {
        "type": ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error"),
        "code": code,
        "detail": detail,
        "fields": fields or {},
    }


def _flatten(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation errors as ``{"field.sub": ["message", ...]}``."""
    if isinstance(errors, dict):
        flat: dict[str, list[str]] = {}
        for key, value in errors.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(errors, list) and errors and all(isinstance(item, (dict, list)) for item in errors):
        flat = {}
        for index, item in enumerate(errors):
            flat.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    messages = errors if isinstance(errors, list) else [errors]
    return {prefix or "non_field_errors": [str(message) for message in messages]}


def _validation_response(exc: exceptions.ValidationError) -> Response:
    fields = _flatten(exc.detail)
    general = fields.pop("non_field_errors", None)
    detail = " ".join(general) if general else "Some fields are not valid: " + ", ".join(sorted(fields)) + "."
    return Response(error_body(status=400, code="invalid", detail=detail, fields=fields), status=400)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        retry_after = getattr(exc, "retry_after", None)
        return Response(
            error_body(status=exc.status_code, code=exc.code, detail=exc.detail, fields=exc.fields),
            status=exc.status_code,
            headers={"Retry-After": str(retry_after)} if retry_after is not None else None,
        )
    if isinstance(exc, Http404):
        return Response(error_body(status=404, code="not_found", detail="Not found."), status=404)
    if isinstance(exc, DjangoPermissionDenied):
        detail = str(exc) or "You do not have permission to do this."
        return Response(error_body(status=403, code="permission_denied", detail=detail), status=403)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body(status=413, code="body_too_large", detail=body_too_large_detail()), 413)
    if isinstance(exc, exceptions.ValidationError):
        return _validation_response(exc)
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(int(exc.wait) + (exc.wait % 1 > 0))
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        return Response(
            error_body(status=exc.status_code, code=code, detail=str(exc.detail)),
            status=exc.status_code,
            headers=headers,
        )
    return None


def body_too_large_detail(limit: int | None = None) -> str:
    """What a person sees when a body (or an uploaded file in it) is over its limit."""
    files = f"files up to {filesizeformat(settings.UPLOAD_MAX_BYTES)}"
    if limit is None:
        return f"The request body or a file in it is too large ({files})."
    return f"The request body is larger than {limit} bytes ({filesizeformat(limit)}; {files})."


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def json_error(*, status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse(error_body(status=status, code=code, detail=detail), status=status)


# What an /api/ answer that Django (not DRF) made says, by status.
_GENERIC_ERRORS = {
    400: ("bad_request", "The request could not be understood."),
    403: ("permission_denied", "Permission denied."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "This method is not allowed here."),
    413: ("body_too_large", "The request body is too large."),
    500: ("server_error", "Something went wrong on our side; it was logged."),
}


def generic_json_error(*, status: int, detail: str = "") -> JsonResponse:
    """An /api/ error that Django made (no DRF exception behind it), in the one shape."""
    code, default_detail = _GENERIC_ERRORS.get(status, ("error", "The request failed."))
    return json_error(status=status, code=code, detail=detail or default_detail)


class ApiJsonErrorsMiddleware:
    """Under ``/api/`` every error is JSON in the one shape, whoever made it: with ``DEBUG``
    on, Django answers an unmatched URL (a non-integer id) or an unhandled exception with
    its HTML technical pages, which the error handlers (handler404/500) never see."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or not is_api_request(request):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        replaced = generic_json_error(status=response.status_code)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                replaced[header] = response[header]
        return replaced


class ErrorSerializer(serializers.Serializer):
    """The one error shape (documentation only)."""

    type = serializers.CharField(help_text="invalid_request_error, authentication_error, permission_error, ...")
    code = serializers.CharField(help_text="A stable, machine-readable reason, e.g. `scope_missing`.")
    detail = serializers.CharField(help_text="What went wrong, for a person.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text="Per-field messages (400)."
    )


_ERROR_DESCRIPTIONS = {
    400: "Invalid input: `fields` says which.",
    401: "Missing, invalid, expired or revoked credentials.",
    403: "The role or the key's scopes do not allow this (or the key's IP allow-list).",
    404: "No such object in this organization (or no such organization for you).",
    409: "Conflicts with the current state (or an Idempotency-Key reuse).",
    413: "The body is too large.",
    415: "Send `Content-Type: application/json`.",
    429: "Too many requests: wait `Retry-After` seconds.",
    502: "An exchange we depend on failed or could not be reached; retry later.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The documented error responses of an operation (401, 403, 404, 429 always apply)."""
    codes = sorted({401, 403, 404, 429, *statuses})
    return {code: OpenApiResponse(ErrorSerializer, description=_ERROR_DESCRIPTIONS[code]) for code in codes}


def schema_lists_bad_input(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: an operation that takes a query parameter or a
    body can answer 400 (a wrong type, a value out of range, a rule between fields), so its
    documented responses list that 400, even where the view forgot to."""
    bad_input = {
        "description": _ERROR_DESCRIPTIONS[400],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            takes_input = "requestBody" in operation or any(
                parameter.get("in") == "query" for parameter in operation.get("parameters", [])
            )
            if takes_input:
                operation["responses"].setdefault("400", bad_input)
    return result
