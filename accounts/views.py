"""HTML views for accounts and organizations. Thin: parse the form, call a service, render."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.access import org_view, reauthentication_before_post, recently_reauthenticated, redirect_to_reauthenticate
from accounts.forms import (
    AccountDeleteForm,
    AuditFilterForm,
    InvitationForm,
    OrganizationCreateForm,
    OrganizationDeleteForm,
    OrganizationSettingsForm,
    OwnershipTransferForm,
    RoleForm,
    ThemeForm,
    form_add_application_error,
)
from accounts.invitation_session import remember_invitation_token
from accounts.models import Invitation, Membership
from accounts.roles import Role
from accounts.services.api_keys import api_keys_active_count, api_keys_revoke_for_user
from asterweb.errors import ApplicationError, NotFoundError
from asterweb.view_helpers import action_then_redirect

AUDIT_PAGE_SIZE = 50


def _org_url(request: HttpRequest, name: str, *args: object) -> str:
    return reverse(name, args=[request.organization.slug, *args])


# --- account-level pages -------------------------------------------------------------


@login_required
def app_home(request: HttpRequest) -> HttpResponse:
    """Send a signed-in user to the organization they used last (or their first one)."""
    memberships = list(selectors.memberships_of_user(user=request.user))
    if not memberships:
        return redirect("organization_list")
    preferred = next(
        (m for m in memberships if m.organization_id == request.user.default_organization_id), memberships[0]
    )
    return redirect("org_dashboard", preferred.organization.slug)


@login_required
def organization_list(request: HttpRequest) -> HttpResponse:
    form = OrganizationCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organization = services.organization_create(user=request.user, name=form.cleaned_data["name"])
        except ApplicationError as error:
            form_add_application_error(form, error)
        else:
            messages.success(request, f"Created {organization.name}.")
            return redirect("org_dashboard", organization.slug)
    memberships = selectors.memberships_of_user(user=request.user)
    return render(request, "accounts/organization_list.html", {"memberships": memberships, "form": form})


@login_required
def account_security(request: HttpRequest) -> HttpResponse:
    events = selectors.audit_events_for_user(user=request.user)
    context = {"events": events, "active_api_keys": api_keys_active_count(user=request.user)}
    return render(request, "accounts/security.html", context)


@login_required
@reauthentication_before_post
def account_api_keys_revoke_all(request: HttpRequest) -> HttpResponse:
    """Revoke every API key the user holds, in every organization (after a suspected compromise).
    A GET (back from the password prompt) returns to the security page to submit again."""
    if request.method != "POST":
        return redirect("account_security")
    count = api_keys_revoke_for_user(user=request.user, reason="revoked_by_user")
    messages.success(request, f"Revoked all your API keys ({count}): programs using them stop working now.")
    return redirect("account_security")


@login_required
@reauthentication_before_post
def account_delete(request: HttpRequest) -> HttpResponse:
    form = AccountDeleteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_delete(user=request.user)
        except ApplicationError as error:
            form_add_application_error(form, error)
        else:
            logout(request)
            messages.success(request, "Your account was deleted.")
            return redirect("landing")
    blocking = services.users.sole_owned_organizations_with_others(user=request.user)
    return render(request, "accounts/account_delete.html", {"form": form, "blocking": blocking})


@login_required
@require_POST
def session_end(request: HttpRequest, session_id: int) -> HttpResponse:
    """End one of the user's sessions from the sessions page (allauth's list at /accounts/sessions/)."""
    try:
        ended = services.user_session_end(user=request.user, session_id=session_id)
    except NotFoundError as error:
        raise Http404(error.detail) from error
    if ended.session_key == request.session.session_key:
        logout(request)
        return redirect("account_login")
    messages.success(request, "That session is signed out.")
    return redirect("usersessions_list")


@login_required
@require_POST
def theme_set(request: HttpRequest) -> HttpResponse:
    form = ThemeForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Choose light, dark or system.", status=400)
    services.user_set_theme(user=request.user, theme=form.cleaned_data["theme"])
    if request.htmx:
        return HttpResponse(status=204)
    back = request.headers.get("Referer", "")
    if back and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)
    return redirect("app_home")


# --- invitations (reached from the emailed link) ---------------------------------------


def invitation_detail(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = services.invitation_from_token(token)
    except services.InvitationInvalid as error:
        return render(request, "accounts/invitation_invalid.html", {"reason": error.detail}, status=404)
    if not request.user.is_authenticated:
        # Signing up from this page joins the organization instead of creating one, and
        # the invited address counts as verified (AccountAdapter.is_email_verified): the
        # link proves the person reads that mailbox.
        remember_invitation_token(request, token)
    return render(request, "accounts/invitation_detail.html", {"invitation": invitation, "token": token})


@login_required
@require_POST
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    try:
        membership = services.invitation_accept(token=token, user=request.user)
    except services.InvitationInvalid as error:
        return render(request, "accounts/invitation_invalid.html", {"reason": error.detail}, status=404)
    except ApplicationError as error:
        messages.error(request, error.detail)
        return redirect("invitation_detail", token)
    messages.success(request, f"Welcome to {membership.organization.name}.")
    return redirect("org_dashboard", membership.organization.slug)


@require_POST
def invitation_decline(request: HttpRequest, token: str) -> HttpResponse:
    user = request.user if request.user.is_authenticated else None
    try:
        invitation = services.invitation_decline(token=token, user=user)
    except services.InvitationInvalid as error:
        return render(request, "accounts/invitation_invalid.html", {"reason": error.detail}, status=404)
    messages.info(request, f"You declined the invitation to {invitation.organization.name}.")
    return redirect("app_home" if user else "landing")


# --- organization pages ---------------------------------------------------------------


@org_view(Role.VIEWER)
def org_dashboard(request: HttpRequest) -> HttpResponse:
    organization = request.organization
    context = {
        "member_count": selectors.organization_members(organization=organization).count(),
        "pending_invitations": selectors.invitations_pending(organization=organization).count(),
        "recent_events": (
            selectors.audit_events_for_org(organization=organization)[:8]
            if request.membership.role in (Role.ADMIN, Role.OWNER)
            else []
        ),
    }
    return render(request, "accounts/org_dashboard.html", context)


@org_view(Role.ADMIN)
def org_settings(request: HttpRequest) -> HttpResponse:
    organization = request.organization
    initial = {"name": organization.name, "require_2fa": organization.require_2fa}
    form = OrganizationSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        lowers_2fa = organization.require_2fa and not form.cleaned_data["require_2fa"]
        if lowers_2fa and not recently_reauthenticated(request):
            return redirect_to_reauthenticate(request)
        try:
            services.organization_update(
                organization=organization,
                actor=request.user,
                name=form.cleaned_data["name"],
                require_2fa=form.cleaned_data["require_2fa"],
            )
        except ApplicationError as error:
            form_add_application_error(form, error)
        else:
            messages.success(request, "Settings saved.")
            return redirect("org_settings", organization.slug)
    return render(
        request,
        "accounts/org_settings.html",
        {"form": form, "grace_days": settings.ORGANIZATION_DELETION_GRACE_DAYS},
    )


def _render_members(request: HttpRequest, invitation_form: InvitationForm, status: int = 200) -> HttpResponse:
    organization = request.organization
    context = {
        "members": selectors.organization_members(organization=organization),
        "invitations": selectors.invitations_pending(organization=organization),
        "invitation_form": invitation_form,
        "roles": Role.choices,
    }
    return render(request, "accounts/org_members.html", context, status=status)


@org_view(Role.VIEWER)
def org_members(request: HttpRequest) -> HttpResponse:
    return _render_members(request, InvitationForm())


def _member(request: HttpRequest, member_id: int) -> Membership:
    return get_object_or_404(Membership.objects.for_org(request.organization).select_related("user"), pk=member_id)


def _invitation(request: HttpRequest, invitation_id: int) -> Invitation:
    return get_object_or_404(Invitation.objects.for_org(request.organization), pk=invitation_id)


def _members_action(request: HttpRequest, action: Callable[[], object], success: str) -> HttpResponse:
    """Run a member/invitation service, report the outcome as a message, back to the members page."""
    return action_then_redirect(request, action, success, reverse("org_members", args=[request.organization.slug]))


@org_view(Role.ADMIN)
@require_POST
def member_role(request: HttpRequest, member_id: int) -> HttpResponse:
    membership = _member(request, member_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
        return redirect("org_members", request.organization.slug)
    role = Role(form.cleaned_data["role"])
    return _members_action(
        request,
        lambda: services.membership_change_role(
            organization=request.organization, actor_membership=request.membership, membership=membership, role=role
        ),
        f"{membership.user.email} is now {role.label.lower()}.",
    )


@org_view(Role.ADMIN)
@require_POST
def member_remove(request: HttpRequest, member_id: int) -> HttpResponse:
    membership = _member(request, member_id)
    return _members_action(
        request,
        lambda: services.membership_remove(
            organization=request.organization, actor_membership=request.membership, membership=membership
        ),
        f"Removed {membership.user.email}.",
    )


@org_view(Role.VIEWER, allow_without_2fa=True)
def org_leave(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            services.membership_leave(organization=request.organization, membership=request.membership)
        except ApplicationError as error:
            messages.error(request, error.detail)
        else:
            messages.success(request, f"You left {request.organization.name}.")
            return redirect("app_home")
    return render(request, "accounts/org_leave.html")


@org_view(Role.ADMIN)
@require_POST
def invitation_create(request: HttpRequest) -> HttpResponse:
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            invitation = services.invitation_create(
                organization=request.organization,
                actor_membership=request.membership,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
            )
        except ApplicationError as error:
            if error.status_code == 403:
                raise PermissionDenied(error.detail) from error
            form_add_application_error(form, error)
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            return redirect("org_members", request.organization.slug)
    return _render_members(request, form, status=400)


@org_view(Role.ADMIN)
@require_POST
def invitation_resend(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = _invitation(request, invitation_id)
    return _members_action(
        request,
        lambda: services.invitation_resend(
            organization=request.organization, actor_membership=request.membership, invitation=invitation
        ),
        f"Sent a new invitation link to {invitation.email}.",
    )


@org_view(Role.ADMIN)
@require_POST
def invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = _invitation(request, invitation_id)
    return _members_action(
        request,
        lambda: services.invitation_revoke(
            organization=request.organization, actor_membership=request.membership, invitation=invitation
        ),
        f"Revoked the invitation to {invitation.email}.",
    )


@org_view(Role.OWNER)
@reauthentication_before_post
def org_transfer(request: HttpRequest) -> HttpResponse:
    candidates = [
        (m.pk, f"{m.user.email} ({m.get_role_display()})")
        for m in selectors.organization_members(organization=request.organization)
        if m.pk != request.membership.pk
    ]
    form = OwnershipTransferForm(request.POST or None, candidates=candidates)
    if request.method == "POST" and form.is_valid():
        new_owner = _member(request, form.cleaned_data["member"])
        try:
            services.ownership_transfer(
                organization=request.organization, actor_membership=request.membership, new_owner=new_owner
            )
        except ApplicationError as error:
            form_add_application_error(form, error)
        else:
            messages.success(request, f"{new_owner.user.email} now owns {request.organization.name}.")
            return redirect("org_members", request.organization.slug)
    return render(request, "accounts/org_transfer.html", {"form": form, "has_candidates": bool(candidates)})


@org_view(Role.OWNER)
@reauthentication_before_post
def org_delete(request: HttpRequest) -> HttpResponse:
    form = OrganizationDeleteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organization = services.organization_delete(
                organization=request.organization, actor=request.user, confirm_slug=form.cleaned_data["confirm"]
            )
        except ApplicationError as error:
            form_add_application_error(form, error)
        else:
            messages.success(
                request,
                f"{organization.name} was deleted. Its data is kept until "
                f"{organization.purge_after:%Y-%m-%d}; contact support to restore it before then.",
            )
            return redirect("app_home")
    return render(
        request,
        "accounts/org_delete.html",
        {"form": form, "grace_days": settings.ORGANIZATION_DELETION_GRACE_DAYS},
    )


def _audit_events(request: HttpRequest, form: AuditFilterForm):
    data = form.cleaned_data if form.is_valid() else {}
    since, until = data.get("since"), data.get("until")
    return selectors.audit_events_for_org(
        organization=request.organization,
        action=data.get("action", ""),
        actor=data.get("actor", ""),
        since=datetime.combine(since, time.min, tzinfo=UTC) if since else None,
        until=datetime.combine(until, time.min, tzinfo=UTC) + timedelta(days=1) if until else None,
    )


@org_view(Role.ADMIN)
def org_audit(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    events = _audit_events(request, form)
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "actions": selectors.audit_actions_for_org(organization=request.organization),
    }
    return render(request, "accounts/org_audit.html", context, status=400 if form.errors else 200)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_safe(value: str) -> str:
    """Neutralise spreadsheet formulas in user-controlled cells (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


AUDIT_CSV_COLUMNS = ["time", "action", "actor", "target_type", "target_id", "target", "ip", "user_agent", "details"]


@org_view(Role.ADMIN)
def org_audit_export(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        return HttpResponse("Invalid filter: " + form.errors.as_text(), status=400, content_type="text/plain")
    events = _audit_events(request, form)
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(AUDIT_CSV_COLUMNS)
        for event in events.iterator(chunk_size=1000):
            yield writer.writerow(
                _csv_safe(value)
                for value in (
                    event.created_at.isoformat(),
                    event.action,
                    event.actor_label,
                    event.target_type,
                    event.target_id,
                    event.target_label,
                    event.ip_for_tenant or "",
                    event.user_agent_for_tenant,
                    json.dumps(event.details, sort_keys=True),
                )
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{request.organization.slug}-{stamp}.csv"'
    services.audit_record(
        action="audit.exported",
        organization=request.organization,
        actor=request.user,
        details={key: str(value) for key, value in request.GET.items()},
    )
    return response
