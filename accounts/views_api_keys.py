"""HTML pages for a member's API keys under ``/o/<org_slug>/api-keys/``. Thin: parse the form,
call accounts.services.api_keys, render.

A new or rotated key is rendered straight into the POST's response and never stored anywhere
(not in the session, not in a message): a reload or a later visit cannot show it again. That
response is marked ``no-store`` so the browser does not keep it either.
"""

from __future__ import annotations

from allauth.account.decorators import reauthentication_required
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from accounts import selectors
from accounts.access import org_view, reauthentication_before_post, session_passed_second_factor
from accounts.forms import form_add_application_error
from accounts.forms_api_keys import ApiKeyCreateForm
from accounts.models import ApiKey
from accounts.roles import Role
from accounts.services import api_keys as services
from asterweb.errors import ApplicationError


def _api_key(request: HttpRequest, key_id: int) -> ApiKey:
    """A key the member may see (their own; any member's for an admin), else 404."""
    keys = selectors.api_keys_visible_to(organization=request.organization, membership=request.membership)
    return get_object_or_404(keys, pk=key_id)


def _render_issued(request: HttpRequest, issued: services.IssuedKey, *, rotated: bool) -> HttpResponse:
    context = {
        "api_key": issued.api_key,
        "secret": issued.secret,
        "rotated": rotated,
        "grace_hours": settings.API_KEY_ROTATION_GRACE_HOURS,
    }
    response = render(request, "accounts/api_key_issued.html", context)
    add_never_cache_headers(response)
    return response


def _with_status(keys: list[ApiKey]) -> list[ApiKey]:
    """Mark what a row shows beyond the columns: scopes the owner's role no longer covers
    (the key cannot use them) and whether a rotated-out secret still works."""
    now = timezone.now()
    for key in keys:
        allowed = services.ROLE_SCOPES[Role(key.owner_role)] if key.owner_role else frozenset()
        key.scopes_beyond_role = [scope for scope in key.scopes if scope not in allowed]
        key.in_rotation_grace = bool(key.previous_secret_valid_until and key.previous_secret_valid_until > now)
    return keys


@org_view(Role.VIEWER)
def api_key_list(request: HttpRequest) -> HttpResponse:
    keys = selectors.api_keys_visible_to(organization=request.organization, membership=request.membership)
    context = {"api_keys": _with_status(list(keys)), "grace_hours": settings.API_KEY_ROTATION_GRACE_HOURS}
    return render(request, "accounts/api_keys.html", context)


@org_view(Role.VIEWER)
@reauthentication_before_post
@reauthentication_required  # on GET too: ask for the password before the form, so nothing typed is lost
def api_key_create(request: HttpRequest) -> HttpResponse:
    grantable = services.ROLE_SCOPES[Role(request.membership.role)]
    form = ApiKeyCreateForm(request.POST or None, grantable_scopes=grantable)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                issued = services.api_key_create(
                    organization=request.organization,
                    membership=request.membership,
                    created_with_second_factor=session_passed_second_factor(session=request.session, user=request.user),
                    **form.cleaned_data,
                )
            except ApplicationError as error:
                form_add_application_error(form, error)
                if error.status_code == 403:  # a scope beyond the role (a forged form): say why at the top
                    form.add_error(None, error.detail)
                status = error.status_code
            else:
                return _render_issued(request, issued, rotated=False)
        else:
            status = 400
    return render(request, "accounts/api_key_create.html", {"form": form}, status=status)


@org_view(Role.VIEWER)
def api_key_rotate(request: HttpRequest, key_id: int) -> HttpResponse:
    # Which key, and whether it is the member's, is settled before asking for the password:
    # another organization's id is a 404 and someone else's key a 403, never a sign-in prompt.
    api_key = _api_key(request, key_id)
    if api_key.user_id != request.user.pk:
        raise PermissionDenied("Only the key's owner can rotate it.")
    return _rotate(request, api_key=api_key)


@reauthentication_before_post
def _rotate(request: HttpRequest, *, api_key: ApiKey) -> HttpResponse:
    if request.method == "POST":
        try:
            issued = services.api_key_rotate(
                organization=request.organization, membership=request.membership, api_key=api_key
            )
        except ApplicationError as error:
            messages.error(request, error.detail)
            return redirect("api_key_list", request.organization.slug)
        return _render_issued(request, issued, rotated=True)
    context = {"api_key": api_key, "grace_hours": settings.API_KEY_ROTATION_GRACE_HOURS}
    return render(request, "accounts/api_key_rotate.html", context)


@org_view(Role.VIEWER)
@require_POST
def api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    api_key = _api_key(request, key_id)
    try:
        services.api_key_revoke(organization=request.organization, membership=request.membership, api_key=api_key)
    except ApplicationError as error:
        if error.status_code == 403:
            raise PermissionDenied(error.detail) from error
        messages.error(request, error.detail)
    else:
        owner = "" if api_key.user_id == request.user.pk else f" of {api_key.user.email}"
        messages.success(request, f"Revoked the key “{api_key.name}”{owner}: it no longer works.")
    return redirect("api_key_list", request.organization.slug)
