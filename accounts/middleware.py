"""Resolves the organization and the caller's membership once for every ``/o/<org_slug>/`` URL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import structlog
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from rest_framework.views import APIView

from accounts.access import SecondFactorNeed, allows_without_2fa, declared_min_role, organization_second_factor_need
from accounts.models import Organization
from accounts.roles import role_at_least
from accounts.selectors import membership_for_slug

ORG_URL_KWARG = "org_slug"


def _is_api_view(view: Callable[..., Any]) -> bool:
    view_class = getattr(view, "cls", None)
    return isinstance(view_class, type) and issubclass(view_class, APIView)


class OrganizationMiddleware:
    """Sets ``request.organization`` and ``request.membership`` and enforces the view's
    declared minimum role. A missing or foreign organization is a 404 (never confirm it
    exists); a role below the minimum is a 403; an undeclared view is a server bug."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.organization = None  # type: ignore[attr-defined]
        request.membership = None  # type: ignore[attr-defined]
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: tuple, kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        if ORG_URL_KWARG not in kwargs or _is_api_view(view):
            return None  # API views resolve the organization themselves (accounts.api_base)
        min_role = declared_min_role(view)
        if min_role is None:
            raise ImproperlyConfigured(
                f"{view.__module__}.{view.__name__} is an organization view without org_view(min_role=...)"
            )
        slug = kwargs.pop(ORG_URL_KWARG)
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        membership = membership_for_slug(user=request.user, slug=slug)
        if membership is None:
            raise Http404("No such organization.")
        organization: Organization = membership.organization
        request.organization = organization  # type: ignore[attr-defined]
        request.membership = membership  # type: ignore[attr-defined]
        structlog.contextvars.bind_contextvars(org_id=organization.pk)
        if not allows_without_2fa(view):
            need = organization_second_factor_need(
                organization=organization, user=request.user, session=request.session
            )
            if need is not None:
                return _second_factor_redirect(request, organization, need)
        if not role_at_least(membership.role, min_role):
            raise PermissionDenied(f"This needs the {min_role.label.lower()} role or higher.")
        if request.user.default_organization_id != organization.pk:
            request.user.default_organization = organization
            request.user.save(update_fields=["default_organization"])
        return None


def _second_factor_redirect(request: HttpRequest, organization: Organization, need: SecondFactorNeed) -> HttpResponse:
    """To enrolment when the account has no second factor, else to enter a code for this session."""
    if need is SecondFactorNeed.ENROL:
        messages.warning(request, f"{organization.name} requires two-factor authentication. Set it up to continue.")
        return redirect("mfa_activate_totp")
    messages.warning(
        request,
        f"{organization.name} requires two-factor authentication: "
        "enter a code from your authenticator app to continue.",
    )
    back = request.get_full_path() if request.method == "GET" else reverse("org_dashboard", args=[organization.slug])
    return redirect(f"{reverse('mfa_reauthenticate')}?{urlencode({'next': back})}")
