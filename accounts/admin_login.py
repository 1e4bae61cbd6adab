"""The admin's door. Support staff sign in through allauth's login (its rate limits and its 2FA
stage), never Django's stock password form, and the admin opens only to a session that passed a
second factor: staff without one are sent to enrol TOTP, staff who signed in without it (or
before these records existed) to enter a code."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from allauth.account.decorators import secure_admin_login
from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.access import session_passed_second_factor


def _next_url(request: HttpRequest) -> str:
    candidate = request.GET.get("next", "")
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("admin:index")


def _after_allauth_login(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
    """Reached by active staff only (``secure_admin_login`` sends everyone else to allauth's login
    or refuses them). Django's own login form is never shown nor accepted."""
    next_url = _next_url(request)
    if session_passed_second_factor(session=request.session, user=request.user):
        return redirect(next_url)
    if not is_mfa_enabled(request.user):
        messages.warning(request, "The admin needs two-factor authentication: set it up to continue.")
        return redirect("mfa_activate_totp")
    messages.warning(request, "The admin needs two-factor authentication: enter a code from your authenticator app.")
    return redirect(f"{reverse('mfa_reauthenticate')}?{urlencode({'next': next_url})}")


def admin_site_secure(site: AdminSite) -> None:
    """Route ``site``'s login through allauth and let in only staff whose session passed a second factor."""
    stock_has_permission = site.has_permission

    def has_permission(request: HttpRequest) -> bool:
        return stock_has_permission(request) and session_passed_second_factor(
            session=request.session, user=request.user
        )

    site.has_permission = has_permission  # type: ignore[method-assign]
    site.login = secure_admin_login(_after_allauth_login)  # type: ignore[method-assign]
