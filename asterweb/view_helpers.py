"""Small helpers shared by the HTML views of every app."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from asterweb.errors import ApplicationError


def action_then_redirect(request: HttpRequest, action: Callable[[], object], success: str, to: str) -> HttpResponse:
    """Run a service for a POST button: its refusal or ``success`` becomes a message, then back to ``to``."""
    try:
        action()
    except ApplicationError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, success)
    return redirect(to)
