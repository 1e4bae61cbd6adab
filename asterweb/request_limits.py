"""Bounded request bodies, everywhere (not only under ``/api/``).

Three layers, each refusing before anything unbounded is read or stored:

- ``RequestBodyLimitMiddleware`` refuses a body whose ``Content-Length`` is over the view's
  limit with a 413, before any middleware (CSRF reads ``request.POST``) or view parses it.
  Under WSGI nothing past ``Content-Length`` is ever read, and a body without one reads as
  empty, so this bounds what is spooled. A view that takes file uploads declares it with
  ``@accepts_upload`` (or ``accepts_upload = True`` on an API view class).
- ``UploadSizeLimitHandler`` (first in ``FILE_UPLOAD_HANDLERS``) stops spooling a file the
  moment it passes ``UPLOAD_MAX_BYTES`` (a chunked ASGI body has no length to check first).
- ``body_limited_asgi`` stops reading an ASGI HTTP body past the largest limit.

The proxy in ``deploy/Caddyfile`` caps bodies too, just above the largest limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat

from asterweb.api_errors import body_too_large_detail, is_api_request, json_error

# Room for the multipart framing and the form's other fields around an uploaded file.
UPLOAD_FORM_OVERHEAD_BYTES = 64 * 1024


def accepts_upload(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view as taking a file upload: its body may reach the upload cap."""
    view.accepts_upload = True
    return view


def upload_limit_text() -> str:
    """The upload cap for people, e.g. "10.0 MB" (help texts and messages read this)."""
    return filesizeformat(settings.UPLOAD_MAX_BYTES)


def upload_body_limit() -> int:
    """The largest body a view that takes uploads accepts."""
    return settings.UPLOAD_MAX_BYTES + UPLOAD_FORM_OVERHEAD_BYTES


def body_limit_for(request: HttpRequest, view: Callable[..., Any]) -> int:
    """The largest body this request may send to this view, in bytes."""
    view_class = getattr(view, "cls", None)
    if getattr(view, "accepts_upload", False) or getattr(view_class, "accepts_upload", False):
        return upload_body_limit()
    if is_api_request(request):
        return settings.API_MAX_BODY_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def body_too_large_response(request: HttpRequest, *, limit: int | None = None) -> HttpResponse:
    detail = body_too_large_detail(limit)
    if is_api_request(request):
        return json_error(status=413, code="body_too_large", detail=detail)
    context = {"detail": detail, "upload_limit": upload_limit_text()}
    return render(request, "errors/413.html", context, status=413)


class RequestBodyLimitMiddleware:
    """Refuse, by ``Content-Length`` and before anything reads it, a body over the view's limit.

    Runs in ``process_view`` (the limit depends on the view), so it must come before
    ``CsrfViewMiddleware`` in ``MIDDLEWARE``: CSRF's ``process_view`` parses POST bodies."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Checked here, before any inner middleware (the metrics one reads it as a number).
        if declared_length(request) is None:
            if is_api_request(request):
                return json_error(status=400, code="invalid_content_length", detail="Content-Length is not a number.")
            return HttpResponse("Content-Length is not a number.", status=400, content_type="text/plain")
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: tuple, kwargs: dict
    ) -> HttpResponse | None:
        limit = body_limit_for(request, view)
        if declared_length(request) > limit:
            return body_too_large_response(request, limit=limit)
        return None


def declared_length(request: HttpRequest) -> int | None:
    """The request's Content-Length (0 when absent), or None when it is not a number."""
    raw = request.META.get("CONTENT_LENGTH") or "0"
    return int(raw) if raw.isascii() and raw.isdigit() else None


class UploadSizeLimitHandler(FileUploadHandler):
    """Stop spooling an uploaded file once it passes ``UPLOAD_MAX_BYTES``: the request fails
    with ``RequestDataTooBig`` (a 413, see ``asterweb.views.error_400`` and the API's handler)."""

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > settings.UPLOAD_MAX_BYTES:
            raise RequestDataTooBig(f"An uploaded file is larger than {settings.UPLOAD_MAX_BYTES} bytes.")
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


def body_limited_asgi(app: ASGIApp) -> ASGIApp:
    """Wrap an ASGI HTTP app so that it never reads (Django spools it all to a temporary file
    first) more than the largest body any view accepts; past it, the client gets a 413."""

    async def limited(scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        ceiling = max(upload_body_limit(), settings.API_MAX_BODY_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"0")
        if not declared.isdigit():
            return await _send_plain(send, 400, b"Content-Length is not a number.")
        if int(declared) > ceiling:
            return await _send_plain(send, 413, f"The request body is larger than {ceiling} bytes.".encode())
        received, refused, started = 0, False, False

        async def counting_receive() -> dict:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > ceiling:
                    refused = True
                    return {"type": "http.disconnect"}  # Django stops reading and answers nothing
            return message

        async def watching_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        await app(scope, counting_receive, watching_send)
        if refused and not started:
            await _send_plain(send, 413, f"The request body is larger than {ceiling} bytes.".encode())
        return None

    return limited


async def _send_plain(send: Callable[[dict], Awaitable[None]], status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
