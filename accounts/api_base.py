"""The one base for organization-scoped API views (ARCHITECTURE.md rule 2).

Before any handler runs, ``initial`` authenticates the caller, resolves the organization
from ``/api/v1/orgs/<org_slug>/``, finds the caller's membership (an API key only works in
its own organization), and checks the action's minimum role and scope against the
caller's *effective* scopes (the key's scopes within the owner's current role). A
foreign or unknown organization is a 404; too low a role or scope is a 403.

Subclasses cannot bypass this: defining ``initial``, ``dispatch``, ``get_queryset`` or
``check_permissions`` raises at class creation. They declare ``model`` (queries start
from ``model.objects.for_org(organization)``), may narrow it in ``refine_queryset``,
and declare ``required_roles`` (and ``required_scopes`` for writes) per action.
"""

from __future__ import annotations

from typing import Any, ClassVar

import structlog
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, QuerySet
from django.http import Http404
from rest_framework import exceptions, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import (
    SecondFactorNeed,
    organization_second_factor_need,
    require_recent_reauthentication,
    session_passed_second_factor,
)
from accounts.idempotency import idempotency_key_from, idempotent_response, request_fingerprint
from accounts.models import ApiKey, Membership, Organization, Scope
from accounts.request_context import bind_api_key
from accounts.roles import Role, role_at_least
from accounts.selectors import membership_for_slug
from accounts.services.api_keys import effective_scopes

ORG_URL_KWARG = "org_slug"
_SEALED = ("initial", "dispatch", "get_queryset", "check_permissions", "perform_authentication")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class OrganizationScopedMixin:
    """Mixed into APIView/GenericViewSet; see the module docstring."""

    model: ClassVar[type[Model] | None] = None
    required_roles: ClassVar[dict[str, Role]] = {}
    required_scopes: ClassVar[dict[str, Scope]] = {}
    # Actions whose POST creates something and therefore honours Idempotency-Key: a viewset's
    # "create" by default; an OrganizationAPIView whose POST creates declares ("post",).
    idempotent_actions: ClassVar[tuple[str, ...]] = ("create",)
    # Response fields holding a secret shown once: never stored, null in a replay.
    idempotency_secret_fields: ClassVar[tuple[str, ...]] = ()
    # Sorting: only fields that order rows stably (the cursor paginates on them); widen per view with care.
    ordering_fields: ClassVar[list[str]] = ["created_at"]

    organization: Organization
    membership: Membership
    api_key: ApiKey | None
    scopes: frozenset[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        overridden = [name for name in _SEALED if name in vars(cls) and cls.__module__ != __name__]
        if overridden:
            raise TypeError(
                f"{cls.__name__} overrides {', '.join(overridden)}: organization scoping cannot be bypassed; "
                "declare `model` and use refine_queryset() instead."
            )

    # --- what a request may do -------------------------------------------------------

    def action_name(self, request: Request) -> str:
        """The viewset action, else the HTTP method (HEAD counts as GET; OPTIONS only
        describes the endpoint, so it needs what the weakest read needs)."""
        action = getattr(self, "action", None)
        if action:
            return action
        method = request.method.lower()
        return {"head": "get"}.get(method, method)

    def required_role(self, action: str) -> Role:
        if action in ("options", "metadata"):
            return Role.VIEWER
        try:
            return self.required_roles[action]
        except KeyError:
            raise ImproperlyConfigured(f"{type(self).__name__} declares no required role for {action!r}") from None

    def required_scope(self, action: str, method: str) -> Scope:
        if action in self.required_scopes:
            return self.required_scopes[action]
        if method in SAFE_METHODS:
            return Scope.READ
        raise ImproperlyConfigured(f"{type(self).__name__} declares no required scope for {action!r}")

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication, IsAuthenticated, throttles
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise exceptions.MethodNotAllowed(request.method)
        action = self.action_name(request)
        min_role, scope = self.required_role(action), self.required_scope(action, request.method)
        self._resolve_organization(request, slug=kwargs.get(ORG_URL_KWARG, ""))
        if not role_at_least(self.membership.role, min_role):
            raise exceptions.PermissionDenied(
                f"This needs the {min_role.label.lower()} role or higher in {self.organization.name}.", "role_too_low"
            )
        if scope not in self.scopes:
            granted = ", ".join(sorted(self.scopes)) or "none"
            raise exceptions.PermissionDenied(
                f"This needs the “{scope}” scope; this request has: {granted}.", "scope_missing"
            )

    def _resolve_organization(self, request: Request, *, slug: str) -> None:
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        membership = membership_for_slug(user=request.user, slug=slug, api_key=api_key)
        if membership is None:
            raise Http404
        organization = membership.organization
        session = None if api_key is not None else getattr(request._request, "session", None)
        need = organization_second_factor_need(
            organization=organization, user=membership.user, session=session, api_key=api_key
        )
        if need is not None:
            detail = _second_factor_refusal(organization, need, api_key)
            raise exceptions.PermissionDenied(detail, "two_factor_required")
        self.organization, self.membership, self.api_key = organization, membership, api_key
        self.scopes = effective_scopes(api_key_scopes=api_key.scopes if api_key else None, role=membership.role)
        request.organization = organization
        bind_api_key(api_key.pk if api_key else None)
        structlog.contextvars.bind_contextvars(org_id=organization.pk, api_key_id=api_key.pk if api_key else None)

    def require_reauthentication_for_session(self) -> None:
        """Sensitive writes (minting keys or secrets, adding credentials) made with the browser
        session need a recent password confirmation, as the pages do; API keys are authorised
        by their scopes."""
        if self.api_key is None:
            require_recent_reauthentication(self.request._request)

    def require_reauthenticated_browser_session(self, *, action: str) -> None:
        """Actions no API key may take, whatever its scopes (lowering a security setting, pointing
        past deliveries at a new URL): a browser session that recently confirmed its password."""
        if self.api_key is not None:
            raise exceptions.PermissionDenied(
                f"{action} needs a browser session that recently confirmed its password; "
                "API keys cannot do it, whatever their scopes.",
                "browser_session_required",
            )
        require_recent_reauthentication(self.request._request)

    def credential_passed_second_factor(self) -> bool:
        """Whether this request's credential passed a second factor: the session's login did,
        or the key was created from a session (or a key) that had."""
        if self.api_key is not None:
            return self.api_key.created_with_second_factor
        return session_passed_second_factor(session=self.request._request.session, user=self.request.user)

    # --- rows the request may touch ---------------------------------------------------

    def get_queryset(self) -> QuerySet:
        if self.model is None:
            raise ImproperlyConfigured(f"{type(self).__name__} has no model")
        if getattr(self, "swagger_fake_view", False):  # schema generation only reads .model
            return self.model.objects.none()
        return self.refine_queryset(self.model.objects.for_org(self.organization))

    def refine_queryset(self, queryset: QuerySet) -> QuerySet:
        """Narrow (filter, select_related, order) the organization's rows; never widen them."""
        return queryset

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        context["organization"] = getattr(self, "organization", None)
        return context

    # --- idempotency ------------------------------------------------------------------

    def credential_id(self) -> str:
        return f"key:{self.api_key.pk}" if self.api_key is not None else f"user:{self.request.user.pk}"

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        """DRF's dispatch, with the handler wrapped for Idempotency-Key on creating POSTs."""
        self.args, self.kwargs = args, kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            self.initial(request, *args, **kwargs)
            method = request.method.lower()
            handler = (
                getattr(self, method, self.http_method_not_allowed)
                if method in self.http_method_names
                else self.http_method_not_allowed
            )
            key = idempotency_key_from(request.headers) if request.method == "POST" else None
            if key is not None and self.action_name(request) in self.idempotent_actions:
                response = idempotent_response(
                    organization=self.organization,
                    credential=self.credential_id(),
                    key=key,
                    fingerprint=request_fingerprint(method="POST", path=request.get_full_path(), body=request.body),
                    run=lambda: self._handle(handler, request, *args, **kwargs),
                    secret_fields=self.idempotency_secret_fields,
                )
            else:
                response = handler(request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - DRF's contract: handle_exception re-raises what it cannot map
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    def _handle(self, handler: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Run the handler; expected errors become responses (stored like any 4xx), bugs propagate."""
        try:
            return handler(request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - handle_exception re-raises anything unexpected
            return self.handle_exception(exc)


def _second_factor_refusal(organization: Organization, need: SecondFactorNeed, api_key: ApiKey | None) -> str:
    prefix = f"{organization.name} requires two-factor authentication: "
    if need is SecondFactorNeed.ENROL:
        return prefix + "enable it in your account first."
    if api_key is not None:
        return prefix + (
            "this key was not created from a session that passed it; "
            "sign in with your second factor and create a new key."
        )
    return prefix + (
        "this session did not pass it; sign in again with your second factor "
        "(or confirm a code at /accounts/2fa/reauthenticate/)."
    )


class OrganizationAPIView(OrganizationScopedMixin, APIView):
    """An organization-scoped endpoint that is not a model collection."""


class OrganizationViewSet(OrganizationScopedMixin, viewsets.GenericViewSet):
    """An organization-scoped collection of ``model`` rows."""
