"""Site-wide pages: landing and the friendly error pages."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from asterweb.api_errors import generic_json_error, is_api_request
from asterweb.request_limits import body_too_large_response


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "landing.html")


# Under /api/ every error is JSON in the API's error shape, even outside DRF views.


def error_400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):  # over DATA_UPLOAD_MAX_MEMORY_SIZE or UPLOAD_MAX_BYTES
        return body_too_large_response(request)
    if is_api_request(request):
        return generic_json_error(status=400)
    return render(request, "errors/400.html", status=400)


def error_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    reason = str(exception) if exception and str(exception) else ""
    if is_api_request(request):
        return generic_json_error(status=403, detail=reason)
    return render(request, "errors/403.html", {"reason": reason}, status=403)


def error_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return generic_json_error(status=404)
    return render(request, "errors/404.html", status=404)


def error_500(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        return generic_json_error(status=500)
    # Rendered without the request: the failure may be in the database or a context processor.
    return HttpResponse(render_to_string("errors/500.html"), status=500)
