"""Account-level actions: the first organization on sign-up, preferences, sign-in
notices and deleting an account."""

from __future__ import annotations

from allauth.account.adapter import get_adapter
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest

from accounts.models import AuditEvent, Membership, Theme, User
from accounts.realtime import sockets_recheck_for_user
from accounts.request_context import current_request_meta
from accounts.roles import Role
from accounts.selectors import organization_owner_count
from accounts.services.api_keys import api_keys_lock_for_user
from accounts.services.audit import audit_record
from accounts.services.organizations import first_organization_name, organization_create, organization_delete
from asterweb.errors import ApplicationError, ConflictError


def user_signed_up(*, user: User) -> None:
    """Give a new user their first organization: not when they joined through an invitation, and
    never while sign-up is closed (an invitation that went stale during sign-up leaves them in none)."""
    audit_record(action="user.signed_up", actor=user, target=user)
    if settings.SIGNUP_OPEN and not Membership.objects.for_user(user).exists():
        organization_create(user=user, name=first_organization_name(user))


def user_set_theme(*, user: User, theme: str) -> User:
    if theme not in Theme.values:
        raise ApplicationError("Choose light, dark or system.", fields={"theme": ["Not a theme."]})
    if user.theme != theme:
        user.theme = theme
        user.save(update_fields=["theme"])
    return user


def user_signed_in(*, request: HttpRequest, user: User) -> None:
    """Audit a sign-in and email the user when it comes from a browser and address not seen before."""
    meta = current_request_meta()
    previous = AuditEvent.objects.for_user_history(user).filter(action="auth.login")
    first_ever = not previous.exists()
    known = meta is not None and previous.filter(ip=meta.ip, user_agent=meta.user_agent).exists()
    audit_record(action="auth.login", actor=user, target=user)
    if meta is not None and not first_ever and not known:
        get_adapter(request).send_notification_mail(
            "account/email/new_sign_in", user, {"ip": meta.ip, "user_agent": meta.user_agent}
        )


def sole_owned_organizations_with_others(*, user: User) -> list[str]:
    """Organizations the user is the last owner of while other members remain: they block deletion."""
    names = []
    for membership in Membership.objects.for_user(user).filter(role=Role.OWNER).select_related("organization"):
        organization = membership.organization
        if organization.is_deleted or organization_owner_count(organization=organization) > 1:
            continue
        if Membership.objects.for_org(organization).exclude(user=user).exists():
            names.append(organization.name)
    return names


@transaction.atomic
def user_delete(*, user: User) -> None:
    """Delete the account. Organizations where the user is the only member are scheduled for
    deletion; being last owner of an organization with other members blocks it. The audit
    log keeps the user's history (it never cascades)."""
    blocking = sole_owned_organizations_with_others(user=user)
    if blocking:
        raise ConflictError(
            "Transfer ownership first: you are the last owner of " + ", ".join(blocking) + ".",
            code="last_owner",
        )
    api_keys_lock_for_user(user=user)  # before any audit: the delete below cascades to them
    for membership in Membership.objects.for_user(user).select_related("organization"):
        organization = membership.organization
        alone = not Membership.objects.for_org(organization).exclude(user=user).exists()
        if alone and not organization.is_deleted:
            organization_delete(organization=organization, actor=user, confirm_slug=organization.slug)
    audit_record(action="user.deleted", actor=user, target=user, details={"email": user.email})
    sockets_recheck_for_user(user_id=user.pk)
    user.delete()
