"""Who may do what: the minimum role an organization view declares (rule 2: views declare,
the middleware enforces before the view runs), recent reauthentication for sensitive
actions, and the one gate for organizations that require two-factor authentication."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

from allauth.account.authentication import get_authentication_records
from allauth.account.decorators import reauthentication_required
from allauth.account.internal.flows.reauthentication import did_recently_reauthenticate
from allauth.core.exceptions import ReauthenticationRequired
from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from accounts.roles import Role

if TYPE_CHECKING:
    from accounts.models import ApiKey, Organization, User

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
            return redirect_to_reauthenticate(request)

    return wrapper  # type: ignore[return-value]


def recently_reauthenticated(request: HttpRequest) -> bool:
    """Whether this session confirmed its password (or 2FA) within ACCOUNT_REAUTHENTICATION_TIMEOUT."""
    return did_recently_reauthenticate(request)


def redirect_to_reauthenticate(request: HttpRequest) -> HttpResponse:
    """To the password confirmation, then back to this page (to submit again: nothing is replayed)."""
    messages.info(request, "Confirm it is you, then submit again.")
    return redirect(f"{reverse('account_reauthenticate')}?{urlencode({'next': request.get_full_path()})}")


def require_recent_reauthentication(request: HttpRequest) -> None:
    """For API calls made with the browser session: sensitive writes need a recent password
    (or 2FA) confirmation, as the pages do. API-key calls are authorised by the key's scopes."""
    from rest_framework.exceptions import PermissionDenied

    if not did_recently_reauthenticate(request):
        raise PermissionDenied(
            "Confirm your password first (open any sensitive page, or /accounts/reauthenticate/).",
            "reauthentication_required",
        )


# --- "this organization requires 2FA": one gate for pages, the API and websockets ----------


class SecondFactorNeed(StrEnum):
    """What a caller lacks to act in an organization that requires two-factor authentication."""

    ENROL = "enrol"  # the account has no second factor
    CONFIRM = "confirm"  # it has one, but this login (or the session a key was made from) did not pass it


def session_passed_second_factor(*, session: SessionBase | None, user: User) -> bool:
    """Whether this login, not merely the account, passed a second factor: allauth records
    method "mfa" in the session at the 2FA stage of login and at a 2FA reauthentication.
    A session without records (the old admin form, ``force_login``, sessions older than
    the records) has not."""
    if session is None:
        return False
    records = get_authentication_records(SimpleNamespace(session=session), user)
    return any(record.get("method") == "mfa" for record in records)


def organization_second_factor_need(
    *, organization: Organization, user: User, session: SessionBase | None = None, api_key: ApiKey | None = None
) -> SecondFactorNeed | None:
    """None when the organization lets this caller in; else what is missing. Where the
    organization requires 2FA, the account must have a second factor and the browser session
    must have passed it; an API key must have been created from a session that passed it."""
    if not organization.require_2fa:
        return None
    if not is_mfa_enabled(user):
        return SecondFactorNeed.ENROL
    if api_key is not None:
        passed = api_key.created_with_second_factor
    else:
        passed = session_passed_second_factor(session=session, user=user)
    return None if passed else SecondFactorNeed.CONFIRM
