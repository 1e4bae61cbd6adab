"""Declaring the minimum role an organization view needs (rule 2: views declare, the
middleware enforces before the view runs)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlencode

from allauth.account.decorators import reauthentication_required
from allauth.core.exceptions import ReauthenticationRequired
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from accounts.roles import Role

View = TypeVar("View", bound=Callable[..., Any])


def org_view(min_role: Role, *, allow_without_2fa: bool = False) -> Callable[[View], View]:
    """Mark a view under ``/o/<org_slug>/`` with the least role that may open it.

    ``allow_without_2fa`` lets members of an organization that requires 2FA reach
    the view before enrolling (only "leave organization" needs it).
    """

    def mark(view: View) -> View:
        view.org_min_role = Role(min_role)  # type: ignore[attr-defined]
        view.org_allow_without_2fa = allow_without_2fa  # type: ignore[attr-defined]
        return view

    return mark


def declared_min_role(view: Callable[..., Any]) -> Role | None:
    """The role a view declared, looking through class-based views and decorators."""
    for candidate in (view, getattr(view, "view_class", None), getattr(view, "cls", None)):
        role = getattr(candidate, "org_min_role", None)
        if role is not None:
            return role
    return None


def allows_without_2fa(view: Callable[..., Any]) -> bool:
    return any(
        getattr(candidate, "org_allow_without_2fa", False)
        for candidate in (view, getattr(view, "view_class", None), getattr(view, "cls", None))
    )


def reauthentication_before_post(view: View) -> View:
    """Sensitive actions: a POST needs a recent password (or 2FA) confirmation.

    Unlike allauth's decorator, the POST is not replayed after confirming (allauth replays it
    by calling the view directly, outside the middleware that resolves the organization and
    checks the role); the person is sent back to the page to submit again.
    """
    checked = reauthentication_required(view, allow_get=True)

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return checked(request, *args, **kwargs)
        except ReauthenticationRequired:
            messages.info(request, "Confirm it is you, then submit again.")
            return redirect(f"{reverse('account_reauthenticate')}?{urlencode({'next': request.get_full_path()})}")

    return wrapper  # type: ignore[return-value]


def require_recent_reauthentication(request: HttpRequest) -> None:
    """For API calls made with the browser session: sensitive writes need a recent password
    (or 2FA) confirmation, as the pages do. API-key calls are authorised by the key's scopes."""
    from allauth.account.internal.flows.reauthentication import did_recently_reauthenticate
    from rest_framework.exceptions import PermissionDenied

    if not did_recently_reauthenticate(request):
        raise PermissionDenied(
            "Confirm your password first (open any sensitive page, or /accounts/reauthenticate/).",
            "reauthentication_required",
        )
